# PCMA ablation: the same chain from the optical base with full fine-tuning instead of the
# modality-gated LoRA -- every weight trains and optical is replayed (the demo until
# 2026-12-07). Compare the optical cells: full fine-tuning moves the optical model too.
#   python tools/train.py configs/ablations/eov_tiny_pcma_full_ft.py --work-dir work_dirs/full_ft
_base_ = ['../eov_tiny_pcma.py']
model = dict(modality_lora=None)
load_from_partial = None    # the base loads strictly
stages = [
    # the new input adapters learn at twice the LR of the pretrained parts
    dict(type='ImagingPhysicsStage', iters=900, lr=8e-4, trainable=['*'],
         lr_mult={'adapters': 2.0},
         mixture={'sar/*': 1.0, 'infrared/*': 1.0, 'multispectral/*': 2.0, 'optical/*': 0.5}),
    dict(type='JointStage', iters=1250, lr=4e-4,
         mixture={'optical/*': 1.5, 'temporal/*': 2.0, 'video/*': 2.0,
                  'multispectral/*': 1.5, '*/*': 1.0}),
]
