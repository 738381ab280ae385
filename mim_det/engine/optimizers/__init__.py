"""Optimizer wrapper constructors for fine-tuning (registered in the mmdet and mmseg scopes)."""
from .layer_decay_optim_wrapper_constructor import ViTLayerDecayOptimWrapperConstructor

__all__ = ['ViTLayerDecayOptimWrapperConstructor']
