# The full-size (~1.9B) Earth-OneVision trained by the PCMA chain of the paper, on every
# modality entry and task (EOV-Synth v2 layout; point data_root at your own records):
#   torchrun --nproc-per-node 8 tools/train.py configs/eov_2b_pcma.py --launcher pytorch
# Stages (each a fresh run starting from the previous stage's final weights):
#   (1) alignment  -- aligner + input adapters only; optical captions and classification
#   (2) viewpoint  -- + the LM; every optical task (natural -> overhead viewpoint gap)
#   (3) physics    -- + SAR / infrared / multispectral adapters and data, optical replayed
#   (4) joint      -- everything (the ViT at a tenth of the LR), temporal, video and fusion
#                     added, all earlier data replayed
# With local pretrained weights (see configs/_base_/models/eov_2b.py) the ViT stays frozen
# until the joint stage. Iteration counts are for a real corpus; scale them to yours.
_base_ = [
    '_base_/default_runtime.py',
    '_base_/models/eov_2b.py',
    '_base_/modalities/all.py',
    '_base_/datasets/eov_synth_v2.py',
    '_base_/schedules/tiny_cpu.py',
]
model = dict(max_new_tokens=256)
train_dataloader = dict(batch_size=8, collate_fn=dict(max_tokens=8192))
optim_wrapper = dict(optimizer=dict(lr=2e-5, weight_decay=0.0))
stages = [
    dict(type='AlignmentStage', iters=2000, lr=1e-3),
    dict(type='ViewpointStage', iters=4000, lr=2e-5),
    dict(type='ImagingPhysicsStage', iters=4000, lr=2e-5),
    dict(type='JointStage', iters=6000, lr=1e-5, lr_mult={'vision': 0.1}),
]
