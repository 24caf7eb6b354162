# Adapter ablation: the PCMA chain with the EarthDial-style pseudo-RGB adapter for the
# multispectral entry (12 bands -> four 3-band pseudo-RGB images through the RGB ViT)
# instead of the wavelength-aware patch embedding. Compare the multispectral cells,
# in particular the */nonvisible subsets (questions answerable only from NIR/SWIR).
#   python tools/train.py configs/ablations/eov_tiny_pcma_pseudo_rgb.py --work-dir work_dirs/pseudo_rgb
_base_ = ['../eov_tiny_pcma.py']
modalities = dict(multispectral=dict(adapter=dict(_delete_=True, type='pseudo_rgb_groups')))
