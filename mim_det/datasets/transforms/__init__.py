"""Data transforms (see mim_det.registry for where each registers)."""
from .pad_keep_img_shape import PadKeepImgShape

__all__ = ['PadKeepImgShape']
