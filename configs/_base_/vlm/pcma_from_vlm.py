# PCMA from an imported open VLM, whatever its family (configs/vlm/<family>_pcma.py set
# `vlm_dir` and `image_size`): optical is already aligned by the source, so the chain first
# trains only the new modality adapters, then the imaging-physics and joint stages of the
# demo chain.
# `model.from_pretrained` takes the imported model's architecture, tokenizer and serializer
# (the data pipeline tokenizes as the model does); `modalities` adds every sensor entry, whose
# adapters are new (`load_from_partial` lets them start untrained). `image_size` is the side
# the imported optical entry was given (a fixed-size tower's own; Qwen-VL: --image-size of the
# converter); SynthV2 records are resized to it.
_base_ = ['../../eov_tiny_pcma.py']
# the eov export the converter wrote (a local directory)
vlm_dir = 'work_dirs/vlm'
image_size = 448
model = dict(_delete_=True, from_pretrained='${vlm_dir}', modalities='${modalities}')
load_from = '${vlm_dir}/model.safetensors'
load_from_partial = dict(_delete_=True, allow_missing=['adapters.*'])
stages = [
    # (1) the new sensors' input adapters alone, against the frozen aligned VLM
    dict(type='AlignmentStage', name='adapters', iters=300, lr=1e-3, trainable=['adapters.*'],
         mixture={'sar/*': 1.0, 'infrared/*': 1.0, 'multispectral/*': 2.0, 'temporal/*': 1.0,
                  'video/*': 1.0, 'fusion/*': 1.0}),
    # (2) imaging physics and (3) joint, as in the demo chain, at LRs for a pretrained VLM
    dict(type='ImagingPhysicsStage', iters=900, lr=2e-5, trainable=['*'],
         lr_mult={'adapters': 10.0},
         mixture={'sar/*': 1.0, 'infrared/*': 1.0, 'multispectral/*': 2.0, 'optical/*': 0.5}),
    dict(type='JointStage', iters=1250, lr=1e-5,
         mixture={'optical/*': 1.5, 'temporal/*': 2.0, 'video/*': 2.0,
                  'multispectral/*': 1.5, '*/*': 1.0}),
]
