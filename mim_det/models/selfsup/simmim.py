"""SimMIM on a plain ViT (Xie et al., "SimMIM: A Simple Framework for Masked Image Modeling",
CVPR 2022): the pretraining backbone mmpretrain 1.2 lacks (it has SimMIM for Swin only).

The algorithm, decoder, head, loss and mask generator are mmpretrain's: ``SimMIM`` (backbone ->
neck -> head), ``SimMIMLinearDecoder`` (1x1 conv to p^2 * 3 + PixelShuffle(p)), ``SimMIMHead``
with ``PixelReconstructionLoss(criterion='L1', channel=3)`` and the ``SimMIMMaskGenerator``
transform (random 32-px cells at ratio 0.6, upsampled to the patch grid, packed by
``PackInputs`` as ``data_sample.mask``). What is added here:

* :class:`SimMIMViT` -- the encoder of microsoft/SimMIM ``models/simmim.py``
  (``VisionTransformerForSimMIM``) with the ViT-B/16 settings of
  ``configs/vit_base__800ep/simmim_pretrain__vit_base__img224__800ep.yaml``: no absolute
  position (``USE_APE: False``), ONE relative position bias table shared by all blocks
  (``USE_SHARED_RPB: True``, BEiT style: ((2 * 14 - 1)^2 + 3, heads) at 224 / 16), layer scale
  0.1 (``INIT_VALUES``), qkv bias, drop path 0.1 (``DROP_PATH_RATE``), LayerNorm eps 1e-6, final
  norm; the learned mask token replaces masked patch embeddings right after the patch
  embedding, before the cls token; the encoder sees every token.
* :func:`reconstruct` -- images, mask -> the decoder's pixels, for visualisation.

Downstream models fine-tune the same weights as ``PlainViT``: the loader copies the shared table
into every block's ``RelPosBiasTable`` (see :mod:`mim_det.checkpoint.loader`).
"""
import math
from typing import Dict, Optional, Tuple, Union

import torch
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.registry import MODELS
from torch import nn

from ..backbones.base_vit import ViTBase

#: BEiT/SimMIM's shared relative position bias (``USE_SHARED_RPB: True``)
SHARED_RPB = dict(type='RelPosBiasTable')


@MODELS.register_module()
class SimMIMViT(ViTBase):
    """SimMIM's ViT encoder: cls token, no absolute position, one relative position bias
    table shared by all blocks, layer scale, final LayerNorm, the learned mask token.

    Args:
        arch, img_size, patch_size, drop_path_rate, layer_scale_init_value, qkv_bias,
            norm_cfg, final_norm, init_cfg, ...: as :class:`ViTBase`; the defaults are the
            official ViT-B/16 config (drop path 0.1, layer scale 0.1, qkv bias, eps 1e-6).
        shared_rel_pos_cfg: the shared table (``USE_SHARED_RPB``); ``None`` with
            ``use_abs_pos=True`` gives the ``USE_APE`` variant.
        out_type: ``'featmap'``: the patch tokens (cls dropped) as a (B, D, H/p, W/p) map, what
            ``SimMIMLinearDecoder`` reads.

    ``forward(x, mask=None)``: images (B, C, H, W) and a 0/1 mask (B, H/p, W/p) on the patch
    grid (1 = masked) -> a tuple with the (B, D, H/p, W/p) map; ``mask=None`` encodes the
    images without masking (mmpretrain ``SimMIM.extract_feat``).
    """
    linear_init = 'trunc_normal'  # official ``_init_weights``: trunc_normal_(std=.02)

    def __init__(self, arch: Union[str, dict] = 'b', img_size: int = 224,
                 patch_size: int = 16, use_abs_pos: bool = False,
                 shared_rel_pos_cfg: Optional[dict] = SHARED_RPB,
                 layer_scale_init_value: float = 0.1, drop_path_rate: float = 0.1,
                 final_norm: bool = True, out_type: str = 'featmap', **kwargs):
        super().__init__(arch=arch, img_size=img_size, patch_size=patch_size,
                         with_cls_token=True, use_abs_pos=use_abs_pos,
                         shared_rel_pos_cfg=shared_rel_pos_cfg,
                         layer_scale_init_value=layer_scale_init_value,
                         drop_path_rate=drop_path_rate, final_norm=final_norm,
                         out_type=out_type, **kwargs)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))

    def init_from_scratch(self):
        """The official initialisation (BEiT's): Linear and patch-projection weights
        trunc-normal(0.02) with zero bias, unit LayerNorms, the cls token trunc-normal(0.02),
        the output projections of attention and MLP of block l (1-based) divided by
        sqrt(2 l) (``fix_init_weight``), the mask token trunc-normal(0.02) truncated at +-0.02
        (``trunc_normal_(tensor, std=.02, a=-std, b=std)``), relative position tables zero."""
        super().init_from_scratch()
        proj = self.patch_embed.projection
        trunc_normal_(proj.weight, std=.02)
        if proj.bias is not None:
            nn.init.zeros_(proj.bias)
        trunc_normal_(self.cls_token, std=.02)
        for depth, layer in enumerate(self.layers, start=1):
            for linear in (layer.attn.proj, layer.ffn.layers[1]):
                linear.weight.data.div_(math.sqrt(2.0 * depth))
        trunc_normal_(self.mask_token, mean=0., std=.02, a=-.02, b=.02)

    def mask_tokens(self, tokens: torch.Tensor, mask: torch.Tensor,
                    grid_hw: Tuple[int, int]) -> torch.Tensor:
        """``x * (1 - w) + mask_token * w``: patch tokens (B, G_h G_w, D) with the masked ones
        (``mask`` (B, G_h, G_w), 1 = masked) replaced by the mask token."""
        if tuple(mask.shape[-2:]) != tuple(grid_hw) or mask.shape[0] != tokens.shape[0]:
            raise ValueError(
                f'SimMIMViT: mask of shape {tuple(mask.shape)} for {tokens.shape[0]} images of '
                f'a {tuple(grid_hw)} patch grid; SimMIMMaskGenerator needs input_size = the '
                f'image size and model_patch_size={self.patch_size}')
        w = mask.flatten(1)[..., None].to(tokens.dtype)
        return tokens * (1. - w) + self.mask_token.to(tokens.dtype) * w

    def embed(self, x: torch.Tensor,
              mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Images (B, C, H, W) -> (sequence (B, 1 + G_h G_w, D), grid): patch embedding, the
        mask token where ``mask`` is 1, then the cls token (and no position: the shared table
        is the only position information)."""
        tokens, grid_hw = self.patch_embed(x)
        grid_hw = tuple(grid_hw)
        if mask is not None:
            tokens = self.mask_tokens(tokens, mask, grid_hw)
        return self.add_position(tokens, grid_hw), grid_hw

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None):
        return self.encode(*self.embed(x, mask))


@torch.no_grad()
def reconstruct(model: nn.Module, inputs: torch.Tensor,
                mask: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Pixels an mmpretrain ``SimMIM`` (e.g. with a :class:`SimMIMViT`) predicts.

    Args:
        model: the algorithm (backbone, neck = ``SimMIMLinearDecoder``, ``SimMIMHead``).
        inputs: normalised images (B, 3, H, W).
        mask: (B, H/p, W/p) on the grid of the head's ``patch_size`` p, 1 = masked.

    Returns:
        dict with ``pred`` (B, 3, H, W) (normalised pixel space, every pixel predicted),
        ``pixel_mask`` (B, 1, H, W) bool (the pixels the loss uses) and ``reconstruction``:
        the input where visible, the prediction where masked.
    """
    p = model.head.patch_size  # the mask's cell, as SimMIMHead upsamples it for the loss
    pred = model.neck(model.backbone(inputs, mask)[0])
    pixel_mask = mask.repeat_interleave(p, 1).repeat_interleave(p, 2)[:, None].bool()
    return dict(pred=pred, pixel_mask=pixel_mask,
                reconstruction=torch.where(pixel_mask, pred, inputs))
