"""Datasets and the deterministic embedded-data generator (``tools/generate_data.py``).

The mmdet transform ``PadKeepImgShape`` is a downstream part (:mod:`mim_det.downstream`)."""
from . import transforms  # noqa: F401  (registers the pretraining transforms)
from .subset import FractionSubset, subset_indices
from .synthetic import (CATEGORIES, generate_ade, generate_classification, generate_coco,
                        generate_default_data, generate_pretrain_images)

__all__ = ['FractionSubset', 'subset_indices', 'CATEGORIES', 'generate_ade',
           'generate_classification', 'generate_coco', 'generate_default_data',
           'generate_pretrain_images']
