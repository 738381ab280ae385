"""Layer-wise learning-rate decay for detectors and segmentors with a plain-ViT backbone.

Li et al., "Exploring Plain Vision Transformer Backbones for Object Detection" (ECCV 2022),
Appendix A.2 (following BEiT/MAE fine-tuning): the lr of ViT block i is scaled by
``rate ** (num_layers - i)`` (0.7 for ViTDet ViT-B), the patch embedding and position embedding
by ``rate ** (num_layers + 1)``, and the neck and heads train at the base lr.

mmpretrain's :class:`LearningRateDecayOptimWrapperConstructor` implements the rule and the
weight-decay options but asks the *model* for ``get_layer_depth``, which mmdet detectors and
mmseg segmentors do not have; mmseg's own ``LayerDecayOptimizerConstructor`` dispatches on the
backbone's class name instead. This subclass asks ``model.backbone`` and gives every parameter
outside the backbone the last depth, and prints one table of the resulting groups.
"""
from collections import OrderedDict
from typing import Callable, List, Optional, Tuple

from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMDET_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.logging import MMLogger
from mmengine.model import is_model_wrapper
from mmpretrain.engine.optimizers import LearningRateDecayOptimWrapperConstructor
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMSEG_OPTIM_WRAPPER_CONSTRUCTORS
from torch import nn

BACKBONE_PREFIX = 'backbone.'


# one class for both toolboxes, so detection and segmentation configs name it in their own default
# scope (mmseg's LayerDecayOptimizerConstructor would dispatch on the backbone's class name)
@MMDET_OPTIM_WRAPPER_CONSTRUCTORS.register_module()
@MMSEG_OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class ViTLayerDecayOptimWrapperConstructor(LearningRateDecayOptimWrapperConstructor):
    """Layer-wise lr decay over ``model.backbone`` of a detector or segmentor (ViTDet recipe).

    Every parameter gets its own group with ``lr = base_lr * layer_decay_rate ** (num_layers + 1
    - depth)``, where ``depth`` comes from ``model.backbone.get_layer_depth(name, 'backbone.')``
    (mim_det ``PlainViT``: 0 for ``patch_embed`` / ``pos_embed``, i + 1 for block i) for names
    under ``backbone.``, and is ``num_layers + 1`` (lr scale 1) for everything else.

    ``paramwise_cfg`` keys are mmpretrain's: ``layer_decay_rate`` (required here, so that a
    config that forgot it does not silently train without decay), ``norm_decay_mult``,
    ``bias_decay_mult``, ``flat_decay_mult`` (the ViTDet configs use 0: no decay on norms and
    biases) and ``custom_keys`` of ``{substring: dict(decay_mult=...)}`` (``pos_embed``,
    ``rel_pos_h``, ``rel_pos_w``, ``rpe_k`` at 0). ``lr_mult`` in ``custom_keys`` is rejected: the
    layer rule would overwrite it.

    The model may be wrapped (DDP, ``MMDistributedDataParallel``); its ``.module`` is used.

    Example::

        optim_wrapper = dict(
            type='AmpOptimWrapper',
            optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.1),
            constructor='ViTLayerDecayOptimWrapperConstructor',
            paramwise_cfg=dict(
                layer_decay_rate=0.7, flat_decay_mult=0.,
                custom_keys={'pos_embed': dict(decay_mult=0.), 'rel_pos_h': dict(decay_mult=0.),
                             'rel_pos_w': dict(decay_mult=0.), 'rpe_k': dict(decay_mult=0.)}))
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None):
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        if 'layer_decay_rate' not in self.paramwise_cfg:
            # mmengine builds a plain optimizer when paramwise_cfg is empty, and mmpretrain
            # defaults the rate to 1: either way no decay, without a word.
            raise ValueError(f'{type(self).__name__}: set paramwise_cfg.layer_decay_rate '
                             f'(0.7 for ViTDet, 0.65 for UperNet)')
        if self.base_lr is None or self.base_wd is None:
            raise ValueError(f'{type(self).__name__}: optimizer.lr and optimizer.weight_decay '
                             f'must be set in the config (the groups are computed from them)')
        for key, cfg in self.paramwise_cfg.get('custom_keys', {}).items():
            if 'lr_mult' in cfg:
                raise ValueError(f'{type(self).__name__}: custom_keys[{key!r}] has lr_mult, '
                                 f'which the layer-wise lr would overwrite; use decay_mult only')

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   get_layer_depth: Optional[Callable] = None,
                   **kwargs) -> None:
        """Append one group per trainable parameter of ``module`` to ``params``.

        The top-level call (model, no prefix) resolves the backbone's depth function and logs
        the table; the recursion over sub-modules is mmpretrain's.
        """
        if get_layer_depth is not None or prefix:
            super().add_params(params, module, prefix, get_layer_depth, **kwargs)
            return
        if is_model_wrapper(module):
            module = module.module
        get_layer_depth, num_layers = self._backbone_layer_depth(module)
        super().add_params(params, module, prefix, get_layer_depth, **kwargs)
        MMLogger.get_current_instance().info(self.format_param_groups(params, num_layers))

    def _backbone_layer_depth(self, model: nn.Module) -> Tuple[Callable, int]:
        """``name -> (depth, num_layers + 2)`` for every parameter name of ``model``."""
        backbone = getattr(model, 'backbone', None)
        if backbone is None or not callable(getattr(backbone, 'get_layer_depth', None)):
            raise NotImplementedError(
                f'{type(self).__name__} needs model.backbone.get_layer_depth(param_name, '
                f'prefix) (mim_det PlainViT and mmpretrain ViTs have it), but '
                f'{type(model).__name__}.backbone is {type(backbone).__name__}. Use '
                f'mmengine\'s DefaultOptimWrapperConstructor for models without layer decay.')

        def get_layer_depth(param_name: str) -> Tuple[int, int]:
            depth, max_depth = backbone.get_layer_depth(param_name, BACKBONE_PREFIX)
            if not param_name.startswith(BACKBONE_PREFIX):
                depth = max_depth - 1  # neck and heads: scale rate ** 0 = 1
            return depth, max_depth

        return get_layer_depth, get_layer_depth(BACKBONE_PREFIX)[1] - 2

    def format_param_groups(self, params: List[dict], num_layers: int,
                            max_examples: int = 3) -> str:
        """One table row per (layer id, weight decay) with its lr, sizes and example names."""
        rows: 'OrderedDict[tuple, dict]' = OrderedDict()
        for group in sorted(params, key=lambda g: (g['layer_id'], -g['weight_decay'])):
            key = (group['layer_id'], group['lr_scale'], group['lr'], group['weight_decay'])
            row = rows.setdefault(key, dict(tensors=0, numel=0, names=[]))
            row['tensors'] += len(group['params'])
            row['numel'] += sum(p.numel() for p in group['params'])
            row['names'].append(group['param_name'])
        header = ('layer', 'lr_scale', 'lr', 'weight_decay', 'tensors', 'params', 'examples')
        lines = [(str(layer), f'{scale:.4g}', f'{lr:.4g}', f'{wd:.4g}', str(row['tensors']),
                  str(row['numel']),
                  ', '.join(row['names'][:max_examples]) +
                  (', ...' if len(row['names']) > max_examples else ''))
                 for (layer, scale, lr, wd), row in rows.items()]
        widths = [max(len(r[i]) for r in [header] + lines) for i in range(len(header) - 1)]

        def fmt(cells):
            return '  '.join(c.rjust(w) for c, w in zip(cells, widths)) + '  ' + cells[-1]

        rate = self.paramwise_cfg['layer_decay_rate']
        first = params[0]
        return '\n'.join([
            f'{type(self).__name__}: layer_decay_rate={rate}, backbone blocks={num_layers}, '
            f'lr = base_lr * {rate} ** ({num_layers + 1} - layer) with layer 0 = patch/position '
            f'embedding, i + 1 = block i, {num_layers + 1} = everything else (neck, heads); '
            f'{len(params)} parameter groups:',
            fmt(header), *[fmt(line) for line in lines],
            f'Note: the "lr" in training logs is that of the FIRST parameter group '
            f'({first["param_name"]}, layer {first["layer_id"]}, lr_scale '
            f'{first["lr_scale"]:.4g}), not an average; schedulers scale every group alike.'
        ])

