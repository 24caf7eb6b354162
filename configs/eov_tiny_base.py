# The tiny pretrained base (the analog of the paper's pretrained vision encoder + LM):
# the tiny EarthOneVision of eov_tiny_multitask.py trained at length on OPTICAL records
# only -- EOV-Synth v2 of its own seed, built on the fly -- so it never sees SAR,
# infrared, multispectral, temporal, video or fusion data, nor a demo test split.
# `make demo` starts PCMA from its weights (weights/eov_tiny_base/, model card beside them);
# `make base` reproduces them:
#   python -m eov.datasets.synth data/eov_synth_base --modalities optical \
#       --train 0 --test-per-cell 50 --seed 1000           # its own test split
#   python tools/train.py configs/eov_tiny_base.py --work-dir work_dirs/base
#   python tools/test.py configs/eov_tiny_base.py work_dirs/base/final.pth --work-dir work_dirs/base
_base_ = ['eov_tiny_multitask.py']
# generation seed of the base's data (the demo uses seeds 0, 1, 2)
base_seed = 1000
data_root = 'data/eov_synth_base'
base_iters = 24000
train_dataloader = dict(
    dataset=dict(_delete_=True, type='SynthV2Dataset', seed='${base_seed}', entries=['optical'],
                 length=200000, modalities='${modalities}', pipeline='${train_pipeline}'))
stages = [
    # everything trains on every optical task; boxes and counts weigh more
    dict(type='ViewpointStage', name='optical', iters='${base_iters}', lr=1e-3, trainable=['*'],
         mixture={'optical/grounding': 3.0, 'optical/detection': 3.0, 'optical/vqa': 2.5,
                  'optical/*': 1.0}),
]
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(interval=4000, max_keep_ckpts=2))
