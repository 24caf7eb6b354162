# PCMA from an imported InternVL (configs/_base_/vlm/pcma_from_vlm.py: the new sensors'
# adapters alone, then imaging physics, then joint):
#   python tools/model_converters/hf_vlm_to_eov.py /models/InternVL3-1B-hf work_dirs/internvl
#   python tools/train.py configs/vlm/internvl_pcma.py --work-dir work_dirs/internvl_pcma \
#       --cfg-options vlm_dir=work_dirs/internvl
_base_ = ['../_base_/vlm/pcma_from_vlm.py']
vlm_dir = 'work_dirs/internvl'
image_size = 448
