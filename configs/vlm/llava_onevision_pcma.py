# PCMA from an imported LLaVA-OneVision (configs/_base_/vlm/pcma_from_vlm.py: the new sensors'
# adapters alone, then imaging physics, then joint):
#   python tools/model_converters/hf_vlm_to_eov.py /models/llava-onevision-qwen2-0.5b-ov-hf work_dirs/llava_onevision
#   python tools/train.py configs/vlm/llava_onevision_pcma.py --work-dir work_dirs/llava_onevision_pcma \
#       --cfg-options vlm_dir=work_dirs/llava_onevision
_base_ = ['../_base_/vlm/pcma_from_vlm.py']
vlm_dir = 'work_dirs/llava_onevision'
image_size = 384
