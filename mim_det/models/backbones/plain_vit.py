"""PlainViT: the plain ViT that detection (ViTDet) and segmentation (UperNet) fine-tune.

Li et al., "Exploring Plain Vision Transformer Backbones for Object Detection" (ECCV 2022): a
plain, non-hierarchical ViT whose blocks attend inside 14 x 14 windows except a few evenly spaced
global blocks (2, 5, 8, 11 of ViT-B), with no final norm, giving one stride-16 map that a simple
feature pyramid turns into multi-scale features. For segmentation (BEiT/MAE UperNet protocol) the
same network returns the maps of blocks 4, 6, 8 and 12 (``out_indices=(3, 5, 7, 11)``) and
attends globally everywhere (``window_size=0``).

Position handling follows the pretraining family, chosen by config:

* ``use_abs_pos`` -- absolute embeddings of the pretraining grid (MAE/BEiT: 14 x 14 at 224 px,
  cls position dropped), bicubically resized to the current map (unchanged at the same size);
* ``use_rel_pos`` -- ViTDet's decomposed relative position (:class:`DecomposedRelPos`), zero-init,
  one pair of tables per block sized for its window (14) or for the whole map (global blocks)
  and linearly resized when the map size differs;
* ``use_contextual_rpe`` -- LoMaR's contextual relative position on keys (:class:`ContextualRPE`,
  table (1, d, 50) per block), whose pretrained tables are loaded and used: the buckets clip at +-3
  patches, so a table learned on 7 x 7 windows applies to 14 x 14 windows and to whole maps.

Parameter names follow mmpretrain's ViT (``patch_embed.projection``, ``layers.i.ln1 / attn.qkv /
attn.proj / ln2 / ffn.layers.*``) like mim_det's pretraining backbones, so their exports load
without renaming; :func:`~mim_det.models.utils.load_vit_checkpoint` converts the other layouts.
"""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn.bricks.transformer import PatchEmbed
from mmdet.registry import MODELS as MMDET_MODELS
from mmengine.model import BaseModule, ModuleList
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.utils import build_norm_layer
from mmseg.registry import MODELS as MMSEG_MODELS
from torch import nn

from ..utils.vit_archs import VIT_ARCHS, resolve_vit_arch
from ..utils.window_attention_layer import WindowAttentionLayer


def resize_abs_pos(pos_embed: torch.Tensor, src_hw: Tuple[int, int],
                   dst_hw: Tuple[int, int]) -> torch.Tensor:
    """(1, S_h * S_w, D) grid embeddings -> (1, H, W, D), bicubic (align_corners=False) when the
    sizes differ, the identity when they agree."""
    d = pos_embed.shape[-1]
    grid = pos_embed.reshape(1, src_hw[0], src_hw[1], d)
    if tuple(src_hw) == tuple(dst_hw):
        return grid
    grid = F.interpolate(grid.permute(0, 3, 1, 2), size=tuple(dst_hw), mode='bicubic',
                         align_corners=False)
    return grid.permute(0, 2, 3, 1)


class PlainViT(BaseModule):
    """Plain ViT backbone with window attention and per-family position handling.

    Args:
        arch: ``'s'``, ``'b'``, ``'l'`` (or full names) or a dict with ``embed_dims, num_layers,
            num_heads, feedforward_channels``.
        img_size: the fine-tuning input size (1024 for ViTDet, 512 for UperNet); sizes the
            decomposed relative position tables of global blocks. Other sizes work at run time.
        patch_size: p (16).
        in_channels: image channels.
        pretrain_img_size: the pretraining input size; ``pos_embed`` holds its grid
            (pretrain_img_size / p)^2.
        use_abs_pos, use_rel_pos, use_contextual_rpe: position handling (see module doc).
        rpe_cfg: :class:`ContextualRPE` options (alpha 1.9, beta 3.8, gamma 15.2).
        window_size: window side in tokens (14); ``0`` makes every block global.
        global_attn_indexes: blocks that attend globally ((2, 5, 8, 11) for 12 blocks).
        out_indices: blocks whose output maps are returned (negative counts from the end).
        drop_rate, attn_drop_rate: dropout.
        drop_path_rate: stochastic depth, linearly increasing over blocks (0.1).
        qkv_bias: bias of the qkv projections.
        norm_cfg: LayerNorm (eps 1e-6, as the MAE/LoMaR pretraining used).
        final_norm: LayerNorm on the last block's output (ViTDet and UperNet: no).
        with_cp: activation checkpointing of every block (saves memory at 1024 px).
        use_sdpa: attention through ``scaled_dot_product_attention`` (``False``: naive matmul,
            for benchmarks).
        init_cfg: ``dict(type='Pretrained', checkpoint=..., prefix=None)`` loads a mim_det export,
            an mmpretrain checkpoint, or an official MAE/LoMaR release through
            :func:`~mim_det.models.utils.load_vit_checkpoint` (it prints a categorised report).

    Shapes: input (B, 3, H, W) with any H, W (patch-embedding pads to a multiple of p); output a
    tuple with one (B, D, ceil(H / p), ceil(W / p)) map per ``out_indices`` entry.
    """
    arch_zoo = VIT_ARCHS

    def __init__(self,
                 arch: Union[str, dict] = 'b',
                 img_size: int = 1024,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 pretrain_img_size: int = 224,
                 use_abs_pos: bool = True,
                 use_rel_pos: bool = False,
                 use_contextual_rpe: bool = False,
                 rpe_cfg: dict = dict(alpha=1.9, beta=3.8, gamma=15.2),
                 window_size: int = 14,
                 global_attn_indexes: Sequence[int] = (2, 5, 8, 11),
                 out_indices: Union[int, Sequence[int]] = -1,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.1,
                 qkv_bias: bool = True,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 final_norm: bool = False,
                 with_cp: bool = False,
                 use_sdpa: bool = True,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        arch = resolve_vit_arch(arch, 'PlainViT')
        self.arch_settings = arch
        self.embed_dims = arch['embed_dims']
        self.num_layers = arch['num_layers']
        self.num_heads = arch['num_heads']
        self.img_size = int(img_size)
        self.patch_size = int(patch_size)
        self.pretrain_grid = (pretrain_img_size // patch_size, ) * 2
        self.use_abs_pos = use_abs_pos
        self.use_rel_pos = use_rel_pos
        self.use_contextual_rpe = use_contextual_rpe
        self.rpe_cfg = dict(rpe_cfg)
        self.window_size = int(window_size)
        self.global_attn_indexes = tuple(i % self.num_layers for i in global_attn_indexes)
        self.with_cp = with_cp
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        self.out_indices = tuple(i % self.num_layers for i in out_indices)

        # 'corner' padding: inputs of any size give ceil(H / p) x ceil(W / p) tokens
        self.patch_embed = PatchEmbed(in_channels=in_channels, input_size=None,
                                      embed_dims=self.embed_dims, conv_type='Conv2d',
                                      kernel_size=patch_size, stride=patch_size,
                                      padding='corner')
        if use_abs_pos:
            self.pos_embed = nn.Parameter(
                torch.zeros(1, self.pretrain_grid[0] * self.pretrain_grid[1], self.embed_dims))
        self.drop_after_pos = nn.Dropout(drop_rate)

        full_grid = (self.img_size // patch_size, ) * 2
        dpr = torch.linspace(0, drop_path_rate, self.num_layers).tolist()
        self.layers = ModuleList()
        for i in range(self.num_layers):
            windowed = bool(self.window_size) and i not in self.global_attn_indexes
            self.layers.append(WindowAttentionLayer(
                embed_dims=self.embed_dims, num_heads=self.num_heads,
                feedforward_channels=arch['feedforward_channels'], drop_rate=drop_rate,
                attn_drop_rate=attn_drop_rate, drop_path_rate=dpr[i], qkv_bias=qkv_bias,
                norm_cfg=norm_cfg, window_size=self.window_size if windowed else 0,
                rpe_cfg=(dict(self.rpe_cfg, num_extra_tokens=0, with_cls_bucket=True)
                         if use_contextual_rpe else None),
                rel_pos_grid=((self.window_size, ) * 2 if windowed else full_grid)
                if use_rel_pos else None,
                use_sdpa=use_sdpa))
        self.final_norm = final_norm
        if final_norm:
            self.ln1 = build_norm_layer(norm_cfg, self.embed_dims)

    # ------------------------------------------------------------------ init
    def init_weights(self):
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            from ..utils.vit_checkpoint import load_vit_checkpoint
            self._init_from_scratch()  # what the checkpoint does not hold starts sensibly
            load_vit_checkpoint(self, self.init_cfg['checkpoint'],
                                prefix=self.init_cfg.get('prefix'))
            self._is_init = True
            return
        super().init_weights()
        if self.init_cfg is None:
            self._init_from_scratch()

    def _init_from_scratch(self):
        # ViT/MAE initialisation; relative position tables stay zero (plain attention)
        w = self.patch_embed.projection.weight
        nn.init.xavier_uniform_(w.data.view(w.shape[0], -1))
        if self.use_abs_pos:
            trunc_normal_(self.pos_embed, std=.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    # --------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """(B, C, H, W) images -> tuple of (B, D, H', W') maps, H' = ceil(H / p)."""
        tokens, grid_hw = self.patch_embed(x)  # (B, H' * W', D)
        x = tokens.reshape(tokens.shape[0], grid_hw[0], grid_hw[1], self.embed_dims)
        if self.use_abs_pos:
            x = x + resize_abs_pos(self.pos_embed, self.pretrain_grid, grid_hw).to(x.dtype)
        x = self.drop_after_pos(x)
        outs = []
        for i, layer in enumerate(self.layers):
            if self.with_cp and x.requires_grad:
                x = cp.checkpoint(layer, x, use_reentrant=False)
            else:
                x = layer(x)
            if i == self.num_layers - 1 and self.final_norm:
                x = self.ln1(x)
            if i in self.out_indices:
                outs.append(x.permute(0, 3, 1, 2).contiguous())
        return tuple(outs)

    # ------------------------------------------------------------ layer decay
    def get_layer_depth(self, param_name: str, prefix: str = ''):
        """Layer id for layer-wise lr decay: patch embedding and position 0, block i -> i + 1,
        anything else (final norm, neck, heads) num_layers + 1.

        Returns:
            (layer_depth, num_layers + 2): mmpretrain's convention, so the lr scale is
            ``decay ** (num_layers + 1 - depth)``.
        """
        num = self.num_layers + 2
        if not param_name.startswith(prefix):
            return num - 1, num
        name = param_name[len(prefix):]
        if name.startswith(('patch_embed', 'pos_embed')):
            return 0, num
        if name.startswith('layers.'):
            return int(name.split('.')[1]) + 1, num
        return num - 1, num


# One class, two toolboxes: detection (mmdet) and segmentation (mmseg) configs both say
# ``type='PlainViT'`` in their own default scope.
for _registry in (MMDET_MODELS, MMSEG_MODELS):
    _registry.register_module(module=PlainViT)
