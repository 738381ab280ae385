"""mim_det backbones (see mim_det.registry for where each registers)."""
from .lomar_vit import LoMaRViT
from .plain_vit import PlainViT

__all__ = ['LoMaRViT', 'PlainViT']
