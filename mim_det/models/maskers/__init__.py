"""Maskers: what a MIM method hides, as reusable components (mmpretrain ``MODELS``)."""
from .window_sampler import WindowSample, WindowSampler

__all__ = ['WindowSample', 'WindowSampler']
