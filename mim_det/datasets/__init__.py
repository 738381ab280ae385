"""Datasets and the deterministic embedded-data generator (``tools/generate_data.py``).

The mmdet transform ``PadKeepImgShape`` is a downstream part (:mod:`mim_det.downstream`)."""
from . import transforms  # noqa: F401  (registers the pretraining transforms)
from .synthetic import (CATEGORIES, generate_ade, generate_classification, generate_coco,
                        generate_default_data, generate_pretrain_images)

__all__ = ['CATEGORIES', 'generate_ade', 'generate_classification', 'generate_coco',
           'generate_default_data', 'generate_pretrain_images']
