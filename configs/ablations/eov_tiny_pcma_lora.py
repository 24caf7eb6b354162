# PCMA variant: the optical base frozen, the new modalities learnt by modality-gated LoRA
# (eov/models/lora.py): every linear layer of the ViT, aligner and LM gains a rank-32 update
# that acts only on samples of the new modalities, so an optical sample runs the base bit for
# bit -- no forgetting by construction -- and optical is not replayed. Measured against the
# demo's full fine-tuning (docs/benchmarks.md): every optical cell kept exactly (optical
# grounding 0.82 / 0.68 on seed 0 against 0.62 / 0.48), but fewer cells learned (64 / 66 / 69
# vs 70 / 67 / 75 of 80 on seeds 0 / 1 / 2) in more time (16.4 vs 13.0 min).
#   python tools/train.py configs/ablations/eov_tiny_pcma_lora.py --work-dir work_dirs/lora
_base_ = ['../eov_tiny_pcma.py']
model = dict(modality_lora=dict(rank=32, alpha=32, frozen_modalities=('optical',)))
# the base has no LoRA weights: exactly those start at their zero update, the rest loads
# strictly
load_from_partial = dict(_delete_=True, allow_missing=['*.lora_A', '*.lora_B'],
                         allow_unexpected=False, allow_mismatched=False, min_matched_fraction=0.5)
# LoRA learns at a higher LR than full fine-tuning (seed-7 tuning, docs/benchmarks.md)
lora_trainable = ['adapters.*', '*.lora_*']
stages = [
    dict(type='ImagingPhysicsStage', iters=900, lr=3e-3, trainable='${lora_trainable}',
         mixture={'sar/*': 1.0, 'infrared/*': 1.0, 'multispectral/*': 2.0}),
    dict(type='JointStage', iters=1250, lr=1.5e-3, trainable='${lora_trainable}',
         mixture={'temporal/*': 2.0, 'video/*': 2.0, 'multispectral/*': 1.5,
                  'sar/*': 1.0, 'infrared/*': 1.0, 'fusion/*': 1.0}),
]
