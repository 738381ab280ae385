"""Where mim_det's components are registered, and the list of them.

The rule: a component registers in the registry of the upstream toolbox whose runner builds it,
so configs keep the ``default_scope`` users know and work both with ``tools/train.py`` and with
the toolbox's own train script (via ``custom_imports = dict(imports=['mim_det'])``):

========================================  ===================================================
what                                      registry
========================================  ===================================================
pretraining algorithms, their backbones,  ``mmpretrain.registry`` (``MODELS``, ...)
necks, heads, losses, pretraining data
detection backbones/necks/heads, the      ``mmdet.registry`` (``MODELS``, ``HOOKS``, ...)
detection optimizer constructor
segmentation backbones/necks/heads,       ``mmseg.registry``
segmentation optimizer constructor
runner-level parts used by every scope    ``mmengine.registry`` (the root; every scope's
(hooks, file backends)                    registries fall back to it)
========================================  ===================================================

:data:`COMPONENTS` lists every registration; ``tests/test_registry.py`` checks that each entry
resolves in its scope and that no mim_det class is registered anywhere without an entry here.
"""
from typing import List, NamedTuple


class Component(NamedTuple):
    scope: str  # 'mmengine', 'mmpretrain', 'mmdet' or 'mmseg'
    registry: str  # attribute name in ``<scope>.registry``, e.g. 'MODELS'
    name: str  # the ``type=`` string used in configs
    module: str  # the mim_det module that defines and registers it


COMPONENTS: List[Component] = [
    Component('mmengine', 'HOOKS', 'RNGStateHook', 'mim_det.engine.hooks.rng_state_hook'),
    # LoMaR pretraining (mmpretrain scope)
    Component('mmpretrain', 'MODELS', 'LoMaR', 'mim_det.models.algorithms.lomar'),
    Component('mmpretrain', 'MODELS', 'LoMaRViT', 'mim_det.models.backbones.lomar_vit'),
    Component('mmpretrain', 'MODELS', 'LoMaRHead', 'mim_det.models.heads.lomar_head'),
    Component('mmpretrain', 'MODELS', 'WindowSampler', 'mim_det.models.utils.window_sampler'),
    # downstream backbone: the same class in the detection and the segmentation scope
    Component('mmdet', 'MODELS', 'PlainViT', 'mim_det.models.backbones.plain_vit'),
    Component('mmseg', 'MODELS', 'PlainViT', 'mim_det.models.backbones.plain_vit'),
    # ViTDet parts
    Component('mmdet', 'MODELS', 'SimpleFeaturePyramid',
              'mim_det.models.necks.simple_feature_pyramid'),
    Component('mmengine', 'HOOKS', 'Fp16CompressionHook',
              'mim_det.engine.hooks.fp16_compression_hook'),
    Component('mmdet', 'TRANSFORMS', 'PadKeepImgShape',
              'mim_det.datasets.transforms.pad_keep_img_shape'),
    # layer-wise lr decay for fine-tuning, the same class in both downstream scopes
    Component('mmdet', 'OPTIM_WRAPPER_CONSTRUCTORS', 'ViTLayerDecayOptimWrapperConstructor',
              'mim_det.engine.optimizers.layer_decay_optim_wrapper_constructor'),
    Component('mmseg', 'OPTIM_WRAPPER_CONSTRUCTORS', 'ViTLayerDecayOptimWrapperConstructor',
              'mim_det.engine.optimizers.layer_decay_optim_wrapper_constructor'),
]
