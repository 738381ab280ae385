"""mim_det heads (mmpretrain ``MODELS``)."""
from .lomar_head import LoMaRHead

__all__ = ['LoMaRHead']
