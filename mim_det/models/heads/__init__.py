"""mim_det heads (see mim_det.registry for where each registers)."""
from .lomar_head import LoMaRHead

__all__ = ['LoMaRHead']
