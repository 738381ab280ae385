"""Datasets and the deterministic embedded-data generator (``tools/generate_data.py``)."""
from . import transforms  # noqa: F401  (registers PadKeepImgShape)
from .synthetic import (CATEGORIES, generate_ade, generate_coco, generate_default_data,
                        generate_pretrain_images)

__all__ = ['CATEGORIES', 'generate_ade', 'generate_coco', 'generate_default_data',
           'generate_pretrain_images']
