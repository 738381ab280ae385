"""One pre-norm ViT block for every mim_det ViT: global or window attention, optional layer
scale, relative position biases by config.

``x + drop_path(gamma_1 * attn(ln1(x)))`` then ``x + drop_path(gamma_2 * ffn(ln2(x)))``
(Dosovitskiy et al. 2021; layer scale of CaiT / BEiT when ``layer_scale_init_value > 0``).
With ``window_size = w > 0`` the block partitions the token map into w x w windows (zero-padded
at the bottom/right, padded keys masked) and attends inside each, as ViTDet's window blocks
(Li et al. ECCV 2022, Sec. 3; detectron2's ``Block``); ``0`` is global attention.

Parameter names are mmpretrain's ViT layer's (``ln1``, ``attn.qkv``, ``attn.proj``, ``ln2``,
``ffn.layers.0.0``, ``ffn.layers.1``) and BEiT's (``gamma_1``, ``gamma_2``), so mmpretrain,
mmseg and mim_det checkpoints load without renaming.
"""
from typing import Optional, Sequence, Tuple

import torch
from mmcv.cnn.bricks.drop import DropPath
from mmcv.cnn.bricks.transformer import FFN
from mmpretrain.models.utils import build_norm_layer
from torch import nn

from .attention import Attention
from .window_ops import window_padding_bias, window_partition, window_unpartition


class ViTBlock(nn.Module):
    """Pre-norm transformer block over a token sequence or a token map.

    Args:
        embed_dims, num_heads, feedforward_channels: D, h and the MLP width.
        window_size: ``w > 0``: attention inside w x w windows; ``0``: global attention.
        rel_pos_cfgs: relative position biases of the attention (see :class:`Attention`).
        rel_pos_grid: the grid their tables are sized for (the window, or the whole map);
            defaults to (w, w) in window blocks.
        layer_scale_init_value: ``> 0`` adds per-channel scales ``gamma_1``, ``gamma_2`` (BEiT
            0.1, MAE's segmentation protocol 1.0).
        drop_rate, attn_drop_rate, drop_path_rate: dropout, attention dropout, stochastic depth.
        qkv_bias, act_cfg, norm_cfg, use_sdpa: as the names say (LayerNorm eps 1e-6, GELU).
        rel_pos_impl: ``'auto'``, ``'chunked'``, ``'folded'``, ``'explicit'`` or ``'flex'`` (see
            :class:`Attention`).
        recompute_attention: keep only q, k, v of the attention core for the backward pass
            and recompute the rest there (see :class:`Attention`).

    ``forward(x, grid_hw=None, attn_bias=None)``: a map (B, H, W, D) -> (B, H, W, D), or a
    sequence (B, N, D) with ``grid_hw`` (the last H * W tokens, row-major, after N - H * W extra
    tokens) -> (B, N, D). Window blocks need a map (or a sequence without extra tokens).
    ``attn_bias``: an additive logit bias broadcastable to (B, h, N, N) computed outside the
    block, e.g. the relative position bias a backbone shares among all its blocks (BEiT/SimMIM);
    global attention only.
    """

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int,
                 window_size: int = 0, rel_pos_cfgs: Sequence[dict] = (),
                 rel_pos_grid: Optional[Tuple[int, int]] = None,
                 layer_scale_init_value: float = 0., drop_rate: float = 0.,
                 attn_drop_rate: float = 0., drop_path_rate: float = 0., qkv_bias: bool = True,
                 act_cfg: dict = dict(type='GELU'), norm_cfg: dict = dict(type='LN', eps=1e-6),
                 use_sdpa: bool = True, rel_pos_impl: str = 'auto',
                 recompute_attention: bool = False):
        super().__init__()
        self.window_size = int(window_size)
        if rel_pos_grid is None and self.window_size:
            rel_pos_grid = (self.window_size, ) * 2
        self.ln1 = build_norm_layer(norm_cfg, embed_dims)
        self.attn = Attention(embed_dims, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop_rate,
                              proj_drop=drop_rate, rel_pos_cfgs=rel_pos_cfgs,
                              rel_pos_grid=rel_pos_grid, use_sdpa=use_sdpa,
                              rel_pos_impl=rel_pos_impl,
                              recompute_attention=recompute_attention)
        self.ln2 = build_norm_layer(norm_cfg, embed_dims)
        self.ffn = FFN(embed_dims=embed_dims, feedforward_channels=feedforward_channels,
                       num_fcs=2, ffn_drop=drop_rate, dropout_layer=None, act_cfg=act_cfg,
                       add_identity=False)
        if layer_scale_init_value > 0:
            self.gamma_1 = nn.Parameter(torch.full((embed_dims, ), float(layer_scale_init_value)))
            self.gamma_2 = nn.Parameter(torch.full((embed_dims, ), float(layer_scale_init_value)))
        else:
            self.gamma_1 = self.gamma_2 = None
        # one drop path for both branches (its drops are independent per call)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def _attend(self, x: torch.Tensor, grid_hw: Tuple[int, int],
                attn_bias: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Attention over a sequence (B, N, D) of ``grid_hw`` (plus extra tokens)."""
        if not self.window_size:
            return self.attn(x, grid_hw, attn_mask=attn_bias)
        if attn_bias is not None:
            raise ValueError('ViTBlock: attn_bias covers the whole token map, but this block '
                             f'attends inside {self.window_size} x {self.window_size} windows; '
                             'use window_size=0 or per-block rel_pos_cfgs')
        b, n, d = x.shape
        h, w = grid_hw
        if n != h * w:
            raise ValueError(f'window attention needs a pure token grid, got {n} tokens for '
                             f'grid {tuple(grid_hw)}; use window_size=0 with a cls token')
        ws = self.window_size
        windows, padded_hw = window_partition(x.reshape(b, h, w, d), ws)
        mask = window_padding_bias(grid_hw, ws, b, windows.dtype, windows.device)
        out = self.attn(windows, (ws, ws), attn_mask=mask)
        return window_unpartition(out, ws, padded_hw, grid_hw).reshape(b, n, d)

    def forward(self, x: torch.Tensor, grid_hw: Optional[Tuple[int, int]] = None,
                attn_bias: Optional[torch.Tensor] = None):
        shape = x.shape
        if x.dim() == 4:  # (B, H, W, D) map
            grid_hw = (shape[1], shape[2])
            x = x.reshape(shape[0], -1, shape[3])
        elif grid_hw is None:
            raise ValueError('ViTBlock: a token sequence (B, N, D) needs grid_hw')
        y = self._attend(self.ln1(x), tuple(grid_hw), attn_bias)
        x = x + self.drop_path(y if self.gamma_1 is None else self.gamma_1 * y)
        y = self.ffn(self.ln2(x))
        x = x + self.drop_path(y if self.gamma_2 is None else self.gamma_2 * y)
        return x.reshape(shape)
