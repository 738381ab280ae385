"""Pre-norm ViT encoder layer whose attention adds LoMaR's contextual relative position bias."""
from typing import Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn.bricks.drop import DropPath
from mmpretrain.models.backbones.vision_transformer import TransformerEncoderLayer
from torch import nn

from .contextual_rpe import ContextualRPE


class ContextualRPEAttention(nn.Module):
    """Multi-head self-attention with iRPE contextual bias on keys.

    ``softmax(q k^T / sqrt(d) + q . r_bucket) v`` (LoMaR Sec. 3.2 / iRPE Eq. 14), computed by
    :func:`torch.nn.functional.scaled_dot_product_attention` with the bias as ``attn_mask``.

    Args:
        embed_dims: token width D.
        num_heads: heads h; head width d = D / h.
        qkv_bias: bias on the fused qkv projection.
        attn_drop: dropout on attention probabilities.
        proj_drop: dropout after the output projection.
        rpe_cfg: keyword arguments of :class:`ContextualRPE` (alpha, beta, gamma,
            num_extra_tokens); ``None`` disables the bias (plain attention).

    Shapes: input (B, N, D) with N = grid_h * grid_w + num_extra_tokens, output (B, N, D).
    """

    def __init__(self, embed_dims: int, num_heads: int, qkv_bias: bool = True,
                 attn_drop: float = 0., proj_drop: float = 0., rpe_cfg: dict = None):
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims={embed_dims} is not divisible by '
                             f'num_heads={num_heads}')
        self.embed_dims, self.num_heads = embed_dims, num_heads
        self.head_dims = embed_dims // num_heads
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)
        self.rpe_k = None if rpe_cfg is None else ContextualRPE(self.head_dims, **rpe_cfg)

    def forward(self, x: torch.Tensor, grid_hw: Tuple[int, int]) -> torch.Tensor:
        b, n, _ = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dims).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each (B, heads, N, d)
        bias = None if self.rpe_k is None else self.rpe_k(q, grid_hw)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias, dropout_p=self.attn_drop if self.training else 0.)
        out = out.transpose(1, 2).reshape(b, n, self.embed_dims)
        return self.proj_drop(self.proj(out))


class RPETransformerEncoderLayer(TransformerEncoderLayer):
    """mmpretrain's ViT encoder layer (same ``ln1/attn/ln2/ffn`` names and FFN) with
    :class:`ContextualRPEAttention` in place of its plain attention.

    ``forward(x, grid_hw)``: x (B, N, D) -> (B, N, D), pre-norm residual blocks with drop path.
    """

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int,
                 drop_rate: float = 0., attn_drop_rate: float = 0., drop_path_rate: float = 0.,
                 qkv_bias: bool = True, act_cfg: dict = dict(type='GELU'),
                 norm_cfg: dict = dict(type='LN', eps=1e-6), rpe_cfg: dict = dict(),
                 init_cfg=None):
        super().__init__(
            embed_dims=embed_dims, num_heads=num_heads, feedforward_channels=feedforward_channels,
            drop_rate=drop_rate, attn_drop_rate=attn_drop_rate, drop_path_rate=0.,
            qkv_bias=qkv_bias, act_cfg=act_cfg, norm_cfg=norm_cfg, init_cfg=init_cfg)
        self.attn = ContextualRPEAttention(embed_dims, num_heads, qkv_bias=qkv_bias,
                                           attn_drop=attn_drop_rate, proj_drop=drop_rate,
                                           rpe_cfg=rpe_cfg)
        # one drop path shared by both branches (the parent puts separate ones inside its
        # attention and FFN; with drop_path_rate=0 above those are identities)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, grid_hw: Tuple[int, int]) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.ln1(x), grid_hw))
        x = x + self.drop_path(self.ffn(self.ln2(x), identity=0.))
        return x
