"""mim_det backbones: the ViT skeleton every encoder extends. The downstream ``PlainViT``
(mmdet/mmseg/mmpretrain) is imported by :mod:`mim_det.downstream`."""
from .base_vit import ViTBase

__all__ = ['ViTBase']
