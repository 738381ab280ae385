"""PlainViT: the ViT that detection (ViTDet), segmentation (UperNet) and classification
fine-tune, in the mmdet, mmseg and mmpretrain scopes.

Li et al., "Exploring Plain Vision Transformer Backbones for Object Detection" (ECCV 2022): a
plain, non-hierarchical ViT whose blocks attend inside 14 x 14 windows except a few evenly spaced
global blocks (2, 5, 8, 11 of ViT-B), with no final norm, giving one stride-16 map that a simple
feature pyramid turns into multi-scale features. The defaults are that recipe; everything else is
:class:`ViTBase` configuration:

* ViTDet: ``use_abs_pos`` from the pretraining grid (cls slot dropped when loading, resized on
  the fly), ``rel_pos_cfgs=[dict(type='DecomposedRelPos')]``, LoMaR adding its pretrained
  ``dict(type='ContextualRPE', ...)`` tables;
* the BEiT/MAE UperNet protocol (mmseg ``MAE``): ``with_cls_token=True``, global attention,
  ``rel_pos_cfgs=[dict(type='RelPosBiasTable')]`` (zero-init, per head), layer scale 1.0 and a
  trainable position table at the fine-tuning grid (``abs_pos_grid='finetune'``), outputs of
  blocks 4, 6, 8, 12;
* classification fine-tuning (MAE/LoMaR recipe): cls token, global attention,
  ``out_type='avg_featmap'``;
* linear probing: the same with ``frozen_stages=num_layers`` (mmpretrain's
  ``VisionTransformer`` option: embedding, tokens, blocks and norms frozen and kept in eval
  mode), so only the head trains.

Nothing here is pretraining-only (no mask token), so DDP with ``find_unused_parameters=False``
trains it.
"""
from typing import Sequence, Union

from mmdet.registry import MODELS as MMDET_MODELS
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmseg.registry import MODELS as MMSEG_MODELS
from torch import nn

from .base_vit import ViTBase


def _freeze(module) -> None:
    module.eval()
    for param in module.parameters():
        param.requires_grad = False


@MMDET_MODELS.register_module()
@MMSEG_MODELS.register_module()
@MMPRETRAIN_MODELS.register_module()
class PlainViT(ViTBase):
    """Downstream plain ViT; arguments as :class:`ViTBase`, defaults as ViTDet's ViT-B at 1024.

    Shapes: input (B, 3, H, W) with any H, W (zero-padded to a multiple of p); with
    ``out_type='featmap'`` a tuple with one (B, D, ceil(H / p), ceil(W / p)) map per
    ``out_indices`` entry (the cls token, if any, dropped).

    ``frozen_stages``: as mmpretrain's ``VisionTransformer``: ``k > 0`` freezes the patch
    embedding, the cls token, the position tables and blocks 1..k (``requires_grad=False``,
    eval mode, kept by :meth:`train`); ``k = num_layers`` also the final norm and the pooled
    feature norm (``ln2``, which then normalises without learned scale or shift). ``-1``:
    nothing frozen.
    """
    linear_init = 'trunc_normal'  # ViTDet / timm initialisation for from-scratch runs

    def __init__(self,
                 arch: Union[str, dict] = 'b',
                 img_size: int = 1024,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 with_cls_token: bool = False,
                 use_abs_pos: bool = True,
                 pretrain_img_size: int = 224,
                 abs_pos_grid: str = 'pretrain',
                 rel_pos_cfgs: Sequence[dict] = (),
                 window_size: int = 14,
                 global_attn_indexes: Sequence[int] = (2, 5, 8, 11),
                 layer_scale_init_value: float = 0.,
                 out_indices: Union[int, Sequence[int]] = -1,
                 out_type: str = 'featmap',
                 final_norm: bool = False,
                 drop_path_rate: float = 0.1,
                 frozen_stages: int = -1,
                 **kwargs):
        super().__init__(
            arch=arch, img_size=img_size, patch_size=patch_size, in_channels=in_channels,
            with_cls_token=with_cls_token, use_abs_pos=use_abs_pos,
            pretrain_img_size=pretrain_img_size, abs_pos_grid=abs_pos_grid,
            rel_pos_cfgs=rel_pos_cfgs, window_size=window_size,
            global_attn_indexes=global_attn_indexes,
            layer_scale_init_value=layer_scale_init_value, out_indices=out_indices,
            out_type=out_type, final_norm=final_norm, drop_path_rate=drop_path_rate, **kwargs)
        if not -1 <= frozen_stages <= self.num_layers:
            raise ValueError(f'PlainViT: frozen_stages={frozen_stages}; use -1 (none) to '
                             f'{self.num_layers} (every block and the norms)')
        self.frozen_stages = int(frozen_stages)
        self._freeze_stages()

    def _freeze_stages(self):
        if self.frozen_stages <= 0:
            return
        _freeze(self.patch_embed)
        _freeze(self.drop_after_pos)
        for name in ('cls_token', 'pos_embed'):
            if isinstance(getattr(self, name, None), nn.Parameter):
                getattr(self, name).requires_grad = False
        if self.shared_rel_pos_name is not None:  # input to every block, so it goes with them
            _freeze(getattr(self, self.shared_rel_pos_name))
        for layer in self.layers[:self.frozen_stages]:
            _freeze(layer)
        if self.frozen_stages == self.num_layers:
            for name in ('ln1', 'ln2'):
                if hasattr(self, name):
                    _freeze(getattr(self, name))

    def train(self, mode: bool = True):
        """Train mode except for the frozen parts, which stay in eval mode (no dropout or drop
        path in features that are not trained)."""
        super().train(mode)
        self._freeze_stages()
        return self
