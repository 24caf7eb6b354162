# The tiny multitask model with a Hugging Face SigLIP vision tower (`HFVisionTower`) in place
# of the timm ViT: the tower is built by `transformers` and runs its own modules; eov reads
# layers 2 and 4 for FGVLA. Image and patch size come from the tower's config.
# A real tower is a local directory (`save_pretrained` layout, never downloaded; `path`
# takes precedence over `config`):
#   python tools/train.py configs/towers/eov_tiny_siglip.py --cfg-options \
#       model.vision.path=/models/siglip-so400m-patch14-384 \
#       image_size=378 model.vision.out_indices=[-2]
# (SigLIP, SigLIP-2 and CLIP towers, alone or as the vision half of a two-tower
# checkpoint; the modalities' image_size must be a multiple of the tower's patch size).
# The random tiny tower below keeps the config runnable anywhere.
_base_ = ['../eov_tiny_multitask.py']
model = dict(vision=dict(
    _delete_=True, type='HFVisionTower', out_indices=(1, 3),
    config=dict(model_type='siglip_vision_model', image_size='${image_size}',
                patch_size='${patch_size}', hidden_size=128, intermediate_size=512,
                num_hidden_layers=4, num_attention_heads=4)))
