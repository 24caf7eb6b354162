"""Models: vision backbone, FGVLA aligners, language model, attention backends."""
from .attention import AttentionBackend, EagerAttention, SDPAAttention
from .earth_one_vision import EarthOneVision
from .hf_vision import HFVisionTower, QwenVLVisionTower
from .vision import TimmViT

__all__ = ['AttentionBackend', 'EagerAttention', 'EarthOneVision', 'HFVisionTower',
           'QwenVLVisionTower', 'SDPAAttention', 'TimmViT']
