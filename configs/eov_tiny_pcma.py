# The tiny Earth-OneVision trained by PCMA (progressive cross-modality adaptation) on
# EOV-Synth v2 -- the main job of `make demo`:
#   python -m eov.datasets.synth data/eov_synth_v2
#   python tools/train.py configs/eov_tiny_pcma.py --work-dir work_dirs/demo
#   python tools/test.py configs/eov_tiny_pcma.py work_dirs/demo/final.pth --work-dir work_dirs/demo
# Each stage is a plugin (STAGES): what trains (glob patterns over parameter names), the
# data mixture (weights over modality/task sources), its length, LR and start weights
# ('previous' stage by default). Stage folders: WORK/<i>_<name>/; final weights WORK/final.pth.
# `--stage NAME` runs one stage, `--resume` continues at the right stage and iteration.
_base_ = ['eov_tiny_multitask.py']

stages = [
    # (1) alignment: aligner + input adapters only, optical captions and classification
    dict(type='AlignmentStage', iters=100, lr=2e-3),
    # (2) viewpoint: + the LM, every optical task. The tiny ViT starts from random
    # weights, so it trains here too (a pretrained ViT would stay frozen: eov_2b_pcma.py).
    dict(type='ViewpointStage', iters=450, lr=1e-3,
         trainable=['aligner.*', 'adapters.optical.*', 'lm.*', 'vision.*']),
    # (3) imaging physics: + SAR / infrared / multispectral adapters and data, optical replayed
    dict(type='ImagingPhysicsStage', iters=350, lr=1e-3,
         trainable=['aligner.*', 'adapters.*', 'lm.*', 'vision.*'],
         mixture={'sar/*': 1.0, 'infrared/*': 1.0, 'multispectral/*': 1.0, 'optical/*': 0.6}),
    # (4) joint: everything, temporal / video / fusion added, the earlier data replayed
    dict(type='JointStage', iters=450, lr=8e-4),
]
