"""The detection and segmentation parts of mim_det (mmdet, mmseg and, for classification
fine-tuning, mmpretrain scopes). Importing this registers them; downstream configs name it in
``custom_imports`` (``configs/_base_/default_runtime_{det,seg}.py``), so pretraining never needs
mmdet or mmseg imported.

==================================  ==================================================
component                           registries
==================================  ==================================================
``PlainViT`` (backbone)             mmdet, mmseg, mmpretrain ``MODELS``
``SimpleFeaturePyramid`` (neck)     mmdet ``MODELS``
``PadKeepImgShape`` (transform)     mmdet ``TRANSFORMS``
``CocoDataset`` (checked, replaces  mmdet ``DATASETS``: counts / refuses bad annotations
mmdet's)
``BaseSegDataset``,                 mmseg ``DATASETS``, with ``CheckLabelMap`` in mmseg
``ADE20KDataset`` (checked,         ``TRANSFORMS``: label maps of the wrong size or classes
replace mmseg's)
``ViTLayerDecayOptimWrapper-        mmdet, mmseg ``OPTIM_WRAPPER_CONSTRUCTORS``
Constructor``
``Pretrained`` (weight init)        mmdet, mmseg ``WEIGHT_INITIALIZERS``: their ResNets
                                    load mim_det exports through the shared loader
==================================  ==================================================
"""
import mim_det  # noqa: F401  (the core: engine fixes, pretraining components)

from .checkpoint.pretrained_init import Pretrained
from .datasets.seg_datasets import CheckedADE20KDataset, CheckedSegDataset, CheckLabelMap
from .datasets.coco_dataset import BadAnnotationError, CheckedCocoDataset
from .datasets.transforms.pad_keep_img_shape import PadKeepImgShape
from .engine.optimizers.layer_decay_optim_wrapper_constructor import \
    ViTLayerDecayOptimWrapperConstructor
from .models.backbones.plain_vit import PlainViT
from .models.necks.simple_feature_pyramid import SimpleFeaturePyramid

__all__ = ['BadAnnotationError', 'CheckedADE20KDataset', 'CheckedCocoDataset', 'CheckedSegDataset',
           'CheckLabelMap',
           'PadKeepImgShape', 'Pretrained', 'ViTLayerDecayOptimWrapperConstructor',
           'PlainViT', 'SimpleFeaturePyramid']
