"""mim_det backbones (see mim_det.registry for where each registers)."""
from .lomar_vit import LoMaRViT

__all__ = ['LoMaRViT']
