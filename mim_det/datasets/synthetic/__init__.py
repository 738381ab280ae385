"""Deterministic generator of the embedded default data (synthetic cluttered shape scenes).

Four formats from one scene renderer: an image folder for pretraining (mmpretrain; its
image-level labels, the largest object's category, serve supervised baselines), a labelled
one-object-per-image folder for classification (mmpretrain),
COCO instance segmentation (mmdet, pycocotools) and ADE20k semantic segmentation (mmseg). The
same seed gives byte-identical files. See :func:`generate_default_data`.
"""
from .categories import CATEGORIES, CATEGORY_NAMES, NUM_CATEGORIES
from .scene import Scene, SceneInstance, render_background, render_scene
from .writers import (GENERATOR_VERSION, PRETRAIN_LABELED_LIST, generate_ade,
                      generate_classification, generate_coco, generate_default_data,
                      generate_pretrain_images, image_rng, largest_object_label, mask_to_coco)

__all__ = [
    'CATEGORIES', 'CATEGORY_NAMES', 'NUM_CATEGORIES', 'GENERATOR_VERSION', 'Scene',
    'SceneInstance', 'render_background', 'render_scene', 'generate_default_data',
    'generate_pretrain_images', 'generate_coco', 'generate_ade', 'generate_classification',
    'image_rng', 'mask_to_coco', 'largest_object_label', 'PRETRAIN_LABELED_LIST',
]
