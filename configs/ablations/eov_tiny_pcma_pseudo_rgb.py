# Adapter ablation: the PCMA chain with the EarthDial-style pseudo-RGB adapter for the
# multispectral entry (12 bands -> four 3-band pseudo-RGB images through the RGB ViT)
# instead of the wavelength-aware patch embedding. Compare the multispectral cells,
# in particular the */nonvisible subsets (questions answerable only from NIR/SWIR).
#   python tools/train.py configs/ablations/eov_tiny_pcma_pseudo_rgb.py --work-dir work_dirs/pseudo_rgb
_base_ = ['../eov_tiny_pcma.py']
modalities = dict(multispectral=dict(adapter=dict(_delete_=True, type='pseudo_rgb_groups')))
# the base holds the (untrained) wavelength-aware adapter this model has no use for: leave
# those weights out; the LoRA updates start at zero as in the demo
load_from_partial = dict(_delete_=True, allow_missing=['*.lora_A', '*.lora_B'],
                         allow_mismatched=False, allow_unexpected=True, min_matched_fraction=0.5)
