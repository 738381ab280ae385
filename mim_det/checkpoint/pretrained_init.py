"""``init_cfg=dict(type='Pretrained', checkpoint=...)`` for mmdet's and mmseg's own backbones
(ResNet), through mim_det's loader and its report.

mmengine's ``PretrainedInit`` cannot read a mim_det export (``.safetensors``) and reports a
partial load only as mmengine's list of missing / unexpected keys. mim_det's ViTs load their
checkpoints themselves (:meth:`~mim_det.models.backbones.ViTBase.init_weights`); the toolboxes'
ResNets call whatever ``Pretrained`` resolves to in the default scope. So
:class:`Pretrained` (a ``PretrainedInit``) is registered in the mmdet and mmseg
``WEIGHT_INITIALIZERS`` -- child registries, which take precedence in their own scope only, and
a type name mmengine keeps applying last, after every other initialiser (its special case for
``'Pretrained'``). It sends a local file going into a ResNet, or any ``.safetensors`` export, to
:func:`~mim_det.checkpoint.load_backbone_checkpoint`; anything else (URLs such as
``torchvision://resnet50``, other modules) goes to mmengine's ``PretrainedInit`` unchanged.
Importing :mod:`mim_det.downstream` imports this module, which registers it.
"""
from mmdet.registry import WEIGHT_INITIALIZERS as MMDET_INITIALIZERS
from mmengine.model.weight_init import PretrainedInit, update_init_info
from mmseg.registry import WEIGHT_INITIALIZERS as MMSEG_INITIALIZERS

from .loader import is_resnet, load_backbone_checkpoint


@MMDET_INITIALIZERS.register_module()
@MMSEG_INITIALIZERS.register_module()
class Pretrained(PretrainedInit):
    """mmengine's ``PretrainedInit`` (same arguments), with mim_det's loader for backbones."""

    def __call__(self, module):
        local = '://' not in self.checkpoint
        if self.checkpoint.endswith('.safetensors') or (local and is_resnet(module)):
            load_backbone_checkpoint(module, self.checkpoint, prefix=self.prefix)
            if hasattr(module, '_params_init_info'):
                update_init_info(module, init_info=self._get_init_info())
            return
        super().__call__(module)
