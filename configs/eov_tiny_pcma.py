# The tiny Earth-OneVision adapted by PCMA (progressive cross-modality adaptation) from the
# tiny pretrained optical base -- the main job of `make demo`:
#   python -m eov.datasets.synth data/eov_synth_v2 --train 0 --test-per-cell 50 --seed 0 \
#       --choice-answer option
#   python tools/train.py configs/eov_tiny_pcma.py --work-dir work_dirs/demo --cfg-options demo_seed=0
#   python tools/test.py configs/eov_tiny_pcma.py work_dirs/demo/final.pth --work-dir work_dirs/demo
# As in the paper, PCMA starts from pretrained parts: weights/eov_tiny_base (model card
# beside it; `make base` reproduces it) is the tiny model trained at length on optical
# records only. Everything beyond optical is learnt here: the imaging-physics stage adds
# SAR / infrared / multispectral (optical replayed), the joint stage temporal, video and
# fusion (everything replayed). Training records are built on the fly from `demo_seed`
# (SynthV2Dataset: no training split on disk, a new record every draw); the test split is
# the balanced file `make demo` writes with the same seed.
# Each stage is a plugin (STAGES): what trains (glob patterns over parameter names), the
# data mixture (weights over modality/task sources), its length, LR and start weights
# ('previous' stage by default). Stage folders: WORK/<i>_<name>/; final weights WORK/final.pth.
# Ablations: configs/ablations/ (one stage from the base, the chain from scratch, the
# pseudo-RGB multispectral adapter).
_base_ = ['eov_tiny_multitask.py']
demo_seed = 0
load_from = 'weights/eov_tiny_base/model.safetensors'
# multiple-choice questions are answered with the option's text, which the choice head
# maps back to its letter for scoring: the tiny model names what it sees far sooner than it
# learns to bind option text to a letter (seed-7 tuning: 70 vs 65 of 80 cells learned; with
# letters it answered one letter for nearly every question). The test split is written in
# the same style (Makefile: DEMO_CHOICE_ANSWER).
choice_answer = 'option'
# temporal and video frames reach the LM as the first frame and each later frame's
# difference to it (Siamese change encoding; the adapters have no extra weights): what
# moved or changed is in the tokens themselves (seed-7 tuning: video counting 0.34 -> 0.64)
modalities = dict(
    temporal=dict(adapter=dict(type='temporal', difference=True, frame_adapter=dict(type='rgb'))),
    video=dict(adapter=dict(type='temporal', difference=True, frame_adapter=dict(type='rgb'))))
train_dataloader = dict(
    dataset=dict(_delete_=True, type='SynthV2Dataset', seed='${demo_seed}', length=200000,
                 choice_answer='${choice_answer}', modalities='${modalities}',
                 pipeline='${train_pipeline}'))

stages = [
    # (1) imaging physics: SAR / infrared / multispectral join the optical base (replayed);
    # the new input adapters learn at twice the LR of the pretrained parts; multispectral,
    # the widest gap (13 bands, half of them outside the visible), is drawn twice as often
    dict(type='ImagingPhysicsStage', iters=900, lr=8e-4, trainable=['*'],
         lr_mult={'adapters': 2.0},
         mixture={'sar/*': 1.0, 'infrared/*': 1.0, 'multispectral/*': 2.0, 'optical/*': 0.5}),
    # (2) joint: everything; temporal / video (new here) drawn twice, multispectral and
    # optical one and a half times as often as the rest
    dict(type='JointStage', iters=1250, lr=4e-4,
         mixture={'optical/*': 1.5, 'temporal/*': 2.0, 'video/*': 2.0,
                  'multispectral/*': 1.5, '*/*': 1.0}),
]
