# The tiny Earth-OneVision adapted by PCMA (progressive cross-modality adaptation) from the
# tiny pretrained optical base -- the main job of `make demo`:
#   python -m eov.datasets.synth data/eov_synth_v2 --train 0 --test-per-cell 50 --seed 0 \
#       --choice-answer option
#   python tools/train.py configs/eov_tiny_pcma.py --work-dir work_dirs/demo --cfg-options demo_seed=0
#   python tools/test.py configs/eov_tiny_pcma.py work_dirs/demo/final.pth --work-dir work_dirs/demo
# As in the paper, PCMA starts from pretrained parts: weights/eov_tiny_base (model card
# beside it; `make base` reproduces it) is the tiny model trained at length on optical
# records only. Everything beyond optical is learnt here: the imaging-physics stage adds
# SAR / infrared / multispectral, the joint stage temporal, video and fusion (the physics
# modalities replayed). Training records are built on the fly from `demo_seed`
# (SynthV2Dataset: no training split on disk, a new record every draw); the test split is
# the balanced file `make demo` writes with the same seed.
# The base stays frozen: every linear layer of the ViT, the aligner and the LM gains a
# rank-32 update that acts only on samples of the new modalities (modality-gated LoRA,
# eov/models/lora.py), so an optical sample runs the base bit for bit -- nothing optical is
# forgotten and optical is not replayed -- while one model learns every other sensor.
# Measured against fine-tuning every weight (configs/ablations/eov_tiny_pcma_full.py;
# docs/benchmarks.md): all 19 optical cells kept exactly instead of 10-12, optical grounding
# 0.82 / 0.68 instead of 0.62 / 0.48, multispectral classification 0.90 instead of 0.62
# (seed 0), in 14.6 instead of 13.0 minutes.
# Each stage is a plugin (STAGES): what trains (glob patterns over parameter names), the
# data mixture (weights over modality/task sources, the first matching pattern counts),
# its length, LR and start weights ('previous' stage by default). Stage folders:
# WORK/<i>_<name>/; final weights WORK/final.pth. Ablations: configs/ablations/ (every
# weight fine-tuned, one stage from the base, the chain from scratch, the pseudo-RGB
# multispectral adapter).
_base_ = ['eov_tiny_multitask.py']
demo_seed = 0
load_from = 'weights/eov_tiny_base/model.safetensors'
# the base has no LoRA weights: exactly those start at their zero update, the rest loads
# strictly
load_from_partial = dict(_delete_=True, allow_missing=['*.lora_A', '*.lora_B'],
                         allow_unexpected=False, allow_mismatched=False, min_matched_fraction=0.5)
model = dict(modality_lora=dict(rank=32, alpha=32, frozen_modalities=('optical',)))
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

# what trains: the new input adapters and the LoRA updates (the base itself never)
lora_trainable = ['adapters.*', '*.lora_*']
stages = [
    # (1) imaging physics: SAR / infrared / multispectral; multispectral, the widest gap
    # (13 bands, half of them outside the visible), is drawn twice as often. LoRA learns
    # at a higher LR than full fine-tuning (seed-7 tuning, docs/benchmarks.md)
    dict(type='ImagingPhysicsStage', iters=900, lr=3e-3, trainable='${lora_trainable}',
         mixture={'sar/*': 1.0, 'infrared/*': 1.0, 'multispectral/*': 2.0}),
    # (2) joint: every new modality; temporal / video (new here) drawn twice, multispectral
    # one and a half times as often as the rest
    dict(type='JointStage', iters=1250, lr=1.5e-3, trainable='${lora_trainable}',
         mixture={'temporal/*': 2.0, 'video/*': 2.0, 'multispectral/*': 1.5,
                  'sar/*': 1.0, 'infrared/*': 1.0, 'fusion/*': 1.0}),
]
