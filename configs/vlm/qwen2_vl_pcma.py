# PCMA from an imported Qwen2-VL (configs/_base_/vlm/pcma_from_vlm.py: the new sensors'
# adapters alone, then imaging physics, then joint):
#   python tools/model_converters/hf_vlm_to_eov.py /models/Qwen2-VL-2B-Instruct work_dirs/qwen2_vl \
#       --image-size 448
#   python tools/train.py configs/vlm/qwen2_vl_pcma.py --work-dir work_dirs/qwen2_vl_pcma \
#       --cfg-options vlm_dir=work_dirs/qwen2_vl
_base_ = ['../_base_/vlm/pcma_from_vlm.py']
vlm_dir = 'work_dirs/qwen2_vl'
image_size = 448
