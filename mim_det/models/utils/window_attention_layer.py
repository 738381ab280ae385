"""ViTDet's transformer block: pre-norm ViT layer with optional non-overlapping window attention.

Li et al., "Exploring Plain Vision Transformer Backbones for Object Detection" (ECCV 2022,
Sec. 3): most blocks attend inside non-overlapping ``w x w`` windows of the stride-16 map (w = 14,
the pretraining grid), a few blocks attend globally. The map is zero-padded on the bottom/right to
a multiple of w. Unlike the official code, padded tokens are masked out as *keys* (``-inf``
logits), so every real token attends to exactly the real tokens of its window and the result does
not depend on how much padding a window holds (the official code lets the padded zeros take part).
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn.bricks.drop import DropPath
from mmpretrain.models.backbones.vision_transformer import TransformerEncoderLayer
from torch import nn

from .position_biased_attention import PositionBiasedAttention


def window_partition(x: torch.Tensor, window_size: int) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """(B, H, W, D) -> windows (B * nW, w * w, D), zero-padding H and W up to multiples of w.

    Windows are ordered image-major, then row-major over the window grid. Returns the windows and
    the padded size (H_p, W_p).
    """
    b, h, w, d = x.shape
    ws = window_size
    pad_h, pad_w = (ws - h % ws) % ws, (ws - w % ws) % ws
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    hp, wp = h + pad_h, w + pad_w
    x = x.reshape(b, hp // ws, ws, wp // ws, ws, d).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws * ws, d), (hp, wp)


def window_unpartition(windows: torch.Tensor, window_size: int, padded_hw: Tuple[int, int],
                       hw: Tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`window_partition`: (B * nW, w * w, D) -> (B, H, W, D), padding cut."""
    ws = window_size
    hp, wp = padded_hw
    d = windows.shape[-1]
    b = windows.shape[0] // ((hp // ws) * (wp // ws))
    x = windows.reshape(b, hp // ws, wp // ws, ws, ws, d).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, hp, wp, d)[:, :hw[0], :hw[1]]


def window_padding_bias(hw: Tuple[int, int], window_size: int, batch: int, dtype: torch.dtype,
                        device: torch.device) -> Optional[torch.Tensor]:
    """Additive key mask (B * nW, 1, 1, w * w): 0 for real tokens, -inf for padding; ``None``
    when H and W are multiples of w (no padding)."""
    h, w = hw
    ws = window_size
    if h % ws == 0 and w % ws == 0:
        return None
    real = torch.ones(1, h, w, 1, device=device)
    real_windows, _ = window_partition(real, ws)  # (nW, w*w, 1), 0 where padded
    bias = torch.zeros(real_windows.shape[:2], dtype=dtype, device=device)
    bias = bias.masked_fill(real_windows[..., 0] == 0, float('-inf'))
    return bias.repeat(batch, 1)[:, None, None, :]


class WindowAttentionLayer(TransformerEncoderLayer):
    """mmpretrain's ViT layer (``ln1/attn/ln2/ffn`` names) over a (B, H, W, D) token map.

    Args:
        embed_dims, num_heads, feedforward_channels, drop_rate, attn_drop_rate, qkv_bias,
            act_cfg, norm_cfg: as mmpretrain's ``TransformerEncoderLayer``.
        drop_path_rate: stochastic depth of both residual branches.
        window_size: ``w > 0``: attention inside w x w windows; ``0``: global attention.
        rpe_cfg: :class:`ContextualRPE` options (LoMaR's contextual relative position on keys),
            or ``None``.
        rel_pos_grid: the grid the decomposed relative position tables are sized for, or ``None``.
        use_sdpa: attention through ``scaled_dot_product_attention`` (``False``: explicit matmul).

    ``forward(x)``: (B, H, W, D) -> (B, H, W, D).
    """

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int,
                 drop_rate: float = 0., attn_drop_rate: float = 0., drop_path_rate: float = 0.,
                 qkv_bias: bool = True, act_cfg: dict = dict(type='GELU'),
                 norm_cfg: dict = dict(type='LN', eps=1e-6), window_size: int = 0,
                 rpe_cfg: Optional[dict] = None, rel_pos_grid: Optional[Tuple[int, int]] = None,
                 use_sdpa: bool = True, init_cfg=None):
        super().__init__(
            embed_dims=embed_dims, num_heads=num_heads, feedforward_channels=feedforward_channels,
            drop_rate=drop_rate, attn_drop_rate=attn_drop_rate, drop_path_rate=0.,
            qkv_bias=qkv_bias, act_cfg=act_cfg, norm_cfg=norm_cfg, init_cfg=init_cfg)
        self.window_size = int(window_size)
        self.attn = PositionBiasedAttention(
            embed_dims, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop_rate,
            proj_drop=drop_rate, rpe_cfg=rpe_cfg, rel_pos_grid=rel_pos_grid, use_sdpa=use_sdpa)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, d = x.shape
        y = self.ln1(x)
        if self.window_size:
            ws = self.window_size
            windows, padded_hw = window_partition(y, ws)
            mask = window_padding_bias((h, w), ws, b, windows.dtype, windows.device)
            y = self.attn(windows, (ws, ws), attn_mask=mask)
            y = window_unpartition(y, ws, padded_hw, (h, w))
        else:
            y = self.attn(y.reshape(b, h * w, d), (h, w)).reshape(b, h, w, d)
        x = x + self.drop_path(y)
        return x + self.drop_path(self.ffn(self.ln2(x), identity=0.))
