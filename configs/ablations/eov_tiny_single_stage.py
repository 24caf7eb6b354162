# PCMA ablation: the same start (the optical base), the same modality-gated LoRA and total
# iterations as eov_tiny_pcma.py in ONE stage where every new modality and task is mixed
# from the first iteration (equal weights).
#   python tools/train.py configs/ablations/eov_tiny_single_stage.py --work-dir work_dirs/single
_base_ = ['../eov_tiny_pcma.py']
stages = [dict(type='Stage', name='single', trainable='${lora_trainable}', iters=2150, lr=3e-3,
               mixture={'sar/*': 1.0, 'infrared/*': 1.0, 'multispectral/*': 1.0,
                        'temporal/*': 1.0, 'video/*': 1.0, 'fusion/*': 1.0})]
