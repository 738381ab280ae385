"""mim_det pretraining methods, one file each: the algorithm and its pretraining-only backbone
(mmpretrain's ``selfsup/<method>.py`` layout)."""
from .lomar import LoMaR, LoMaRViT

__all__ = ['LoMaR', 'LoMaRViT']
