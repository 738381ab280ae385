"""mim_det necks (see mim_det.registry for where each registers)."""
from .simple_feature_pyramid import SimpleFeaturePyramid

__all__ = ['SimpleFeaturePyramid']
