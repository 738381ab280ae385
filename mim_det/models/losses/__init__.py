"""Losses mim_det adds to mmpretrain's (registered in its ``MODELS``)."""
from .vit_perceptual_loss import ViTPerceptualLoss, feature_distance

__all__ = ['ViTPerceptualLoss', 'feature_distance']
