# PCMA ablation: the demo's chain with EVERY weight fine-tuned (no LoRA; the demo's chain
# until 2026-12-08): the base's ViT, aligner and LM train with the new adapters, optical is
# replayed in both stages. It learns about as many cells (70 / 67 / 75 of 80 on seeds
# 0 / 1 / 2) but forgets: 6-9 of the 19 optical cells end more than 0.05 below the base
# (optical grounding 0.82 / 0.68 -> 0.62 / 0.48 on seed 0), whatever the LR or the replay
# (docs/benchmarks.md).
#   python tools/train.py configs/ablations/eov_tiny_pcma_full.py --work-dir work_dirs/full
_base_ = ['../eov_tiny_pcma.py']
model = dict(modality_lora=None)
load_from_partial = None
stages = [
    # (1) imaging physics: SAR / infrared / multispectral join the optical base (replayed);
    # the new input adapters learn at twice the LR of the pretrained parts; multispectral
    # drawn twice as often
    dict(type='ImagingPhysicsStage', iters=900, lr=8e-4, trainable=['*'],
         lr_mult={'adapters': 2.0},
         mixture={'sar/*': 1.0, 'infrared/*': 1.0, 'multispectral/*': 2.0, 'optical/*': 0.5}),
    # (2) joint: everything; temporal / video (new here) drawn twice, multispectral and
    # optical one and a half times as often as the rest
    dict(type='JointStage', iters=1250, lr=4e-4,
         mixture={'optical/*': 1.5, 'temporal/*': 2.0, 'video/*': 2.0,
                  'multispectral/*': 1.5, '*/*': 1.0}),
]
