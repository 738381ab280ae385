"""mim_det pretraining algorithms (see mim_det.registry for where each registers)."""
from .lomar import LoMaR

__all__ = ['LoMaR']
