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
``ViTLayerDecayOptimWrapper-        mmdet, mmseg ``OPTIM_WRAPPER_CONSTRUCTORS``
Constructor``
``Pretrained`` (weight init)        mmdet, mmseg ``WEIGHT_INITIALIZERS``: their ResNets
                                    load mim_det exports through the shared loader
==================================  ==================================================
"""
import mim_det  # noqa: F401  (the core: engine fixes, pretraining components)

from .checkpoint.pretrained_init import Pretrained
from .datasets.transforms.pad_keep_img_shape import PadKeepImgShape
from .engine.optimizers.layer_decay_optim_wrapper_constructor import \
    ViTLayerDecayOptimWrapperConstructor
from .models.backbones.plain_vit import PlainViT
from .models.necks.simple_feature_pyramid import SimpleFeaturePyramid

__all__ = ['PadKeepImgShape', 'Pretrained', 'ViTLayerDecayOptimWrapperConstructor',
           'PlainViT', 'SimpleFeaturePyramid']
