# The seven modality entries of EOV-Synth v2 (at the model's `image_size`, the ViT's
# img_size). Each entry is named by its key and typed by `type`; the model builds one
# input adapter per entry and takes its visual-token count from it.
modalities = dict(
    optical=dict(type='optical', image_size='${image_size}'),
    # Sentinel-1 VV+VH, linear power in the files -> dB, clipped to [-25, 0]
    sar=dict(type='sar', image_size='${image_size}'),
    # 8-bit thermal frames
    infrared=dict(type='infrared', image_size='${image_size}'),
    # Sentinel-2 L2A, 12 bands; the wavelength-aware patch embedding reads every band
    multispectral=dict(type='multispectral', sensor='sentinel2_l2a', image_size='${image_size}',
                       adapter=dict(type='wavelength_patch_embed')),
    # 2-6 dated optical acquisitions, subsampled / padded to 4 frames
    temporal=dict(type='temporal', num_frames=4, image_size='${image_size}',
                  frame=dict(type='optical')),
    # 4 frames sampled uniformly from a clip (decoded with OpenCV)
    video=dict(type='video', num_frames=4, image_size='${image_size}'),
    # co-registered optical + SAR of one scene
    fusion=dict(type='fusion', image_size='${image_size}',
                members=dict(optical=dict(type='optical'), sar=dict(type='sar'))),
)
