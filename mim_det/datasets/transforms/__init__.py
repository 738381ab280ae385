"""Data transforms (see mim_det.registry for where each registers).

The pretraining transforms (mmpretrain scope) are imported here; the mmdet transform
``PadKeepImgShape`` is a downstream part, imported by :mod:`mim_det.downstream` from its module
so pretraining never imports mmdet."""
from .checked_loading import CheckedLoadImageFromFile, UnreadableImageError
from .siamese_masks import (HighPassFilter, SiameseMask, draw_siamese_mask, fill_masked,
                            focal_masks, grid_masks, high_pass)

__all__ = ['CheckedLoadImageFromFile', 'UnreadableImageError', 'HighPassFilter', 'SiameseMask', 'draw_siamese_mask', 'fill_masked', 'focal_masks',
           'grid_masks', 'high_pass']
