"""Pre-norm ViT encoder layer whose attention adds LoMaR's contextual relative position bias."""
from typing import Tuple

import torch
from mmcv.cnn.bricks.drop import DropPath
from mmpretrain.models.backbones.vision_transformer import TransformerEncoderLayer
from torch import nn

from .position_biased_attention import PositionBiasedAttention


class ContextualRPEAttention(PositionBiasedAttention):
    """Multi-head self-attention with iRPE contextual bias on keys (LoMaR's attention).

    ``softmax(q k^T / sqrt(d) + q . r_bucket) v`` (LoMaR Sec. 3.2 / iRPE Eq. 14): a
    :class:`PositionBiasedAttention` whose only bias is :class:`ContextualRPE` (``rpe_cfg``;
    ``None`` gives plain attention).

    Shapes: input (B, N, D) with N = grid_h * grid_w + num_extra_tokens, output (B, N, D).
    """

    def __init__(self, embed_dims: int, num_heads: int, qkv_bias: bool = True,
                 attn_drop: float = 0., proj_drop: float = 0., rpe_cfg: dict = None):
        super().__init__(embed_dims, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop,
                         proj_drop=proj_drop, rpe_cfg=rpe_cfg)


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
