# PCMA ablation: the same start (the frozen optical base, modality-gated LoRA), data and
# total iterations as eov_tiny_pcma.py in ONE stage where every new modality and task is
# mixed from the start (the joint stage's weights) -- no imaging-physics stage first.
#   python tools/train.py configs/ablations/eov_tiny_single_stage.py --work-dir work_dirs/single
_base_ = ['../eov_tiny_pcma.py']
stages = [dict(type='Stage', name='single', trainable='${lora_trainable}', iters=2150, lr=2e-3,
               mixture={'temporal/*': 2.0, 'video/*': 2.0, 'multispectral/*': 1.5,
                        'sar/*': 1.0, 'infrared/*': 1.0, 'fusion/*': 1.0})]
