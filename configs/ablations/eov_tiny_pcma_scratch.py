# PCMA ablation: the chain WITHOUT the pretrained base -- random weights, every weight
# trained (no LoRA: there is nothing pretrained to keep), the paper's four stages
# (alignment -> viewpoint -> imaging physics -> joint) in the same total iterations as
# eov_tiny_pcma.py (before the base existed, this was `make demo`).
#   python tools/train.py configs/ablations/eov_tiny_pcma_scratch.py --work-dir work_dirs/scratch
_base_ = ['eov_tiny_pcma_full.py']
load_from = None
stages = [
    dict(type='AlignmentStage', iters=150, lr=2e-3),
    # the ViT starts from random weights, so it trains from the viewpoint stage on
    dict(type='ViewpointStage', iters=650, lr=1e-3,
         trainable=['aligner.*', 'adapters.optical.*', 'lm.*', 'vision.*']),
    dict(type='ImagingPhysicsStage', iters=650, lr=1e-3,
         trainable=['aligner.*', 'adapters.*', 'lm.*', 'vision.*'],
         mixture={'sar/*': 1.0, 'infrared/*': 1.0, 'multispectral/*': 2.0, 'optical/*': 0.5}),
    dict(type='JointStage', iters=700, lr=8e-4,
         mixture={'optical/*': 1.5, 'temporal/*': 2.0, 'video/*': 2.0,
                  'multispectral/*': 1.5, '*/*': 1.0}),
]
