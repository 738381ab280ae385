"""Multi-head self-attention with additive position biases, through SDPA.

One attention class serves every ViT in mim_det; what differs is which biases it adds to the
logits ``q k^T / sqrt(d)``:

* LoMaR's contextual relative position on keys (:class:`ContextualRPE`, iRPE Eq. 14),
* ViTDet's decomposed relative position (:class:`DecomposedRelPos`, MViTv2 Eq. 3),
* a caller's mask (e.g. ``-inf`` on the padding keys of a window).

Both position biases use the unscaled query, as LoMaR's and ViTDet's official code do, so the
logit is ``q.k / sqrt(d) + q.r`` and the sum of biases is exactly what
:func:`torch.nn.functional.scaled_dot_product_attention` adds as ``attn_mask``.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .contextual_rpe import ContextualRPE
from .decomposed_rel_pos import DecomposedRelPos


class PositionBiasedAttention(nn.Module):
    """``softmax(q k^T / sqrt(d) + bias) v`` over one token sequence per batch element.

    Args:
        embed_dims: token width D.
        num_heads: heads h; head width d = D / h.
        qkv_bias: bias on the fused qkv projection.
        attn_drop: dropout on attention probabilities.
        proj_drop: dropout after the output projection.
        rpe_cfg: :class:`ContextualRPE` keyword arguments (``rpe_k``); ``None``: no such bias.
        rel_pos_grid: grid (S_h, S_w) of a :class:`DecomposedRelPos` (``rel_pos``); ``None``: no
            such bias.
        use_sdpa: ``False`` computes the same attention with explicit matmul + softmax (the
            reference the benchmark compares SDPA against).

    Shapes: ``forward(x (B, N, D), grid_hw, attn_mask=None) -> (B, N, D)``, where the last
    ``grid_h * grid_w`` tokens form a row-major grid and ``attn_mask`` is an additive float (or
    boolean keep-) mask broadcastable to (B, h, N, N).
    """

    def __init__(self, embed_dims: int, num_heads: int, qkv_bias: bool = True,
                 attn_drop: float = 0., proj_drop: float = 0., rpe_cfg: Optional[dict] = None,
                 rel_pos_grid: Optional[Tuple[int, int]] = None, use_sdpa: bool = True):
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims={embed_dims} is not divisible by '
                             f'num_heads={num_heads}')
        self.embed_dims, self.num_heads = embed_dims, num_heads
        self.head_dims = embed_dims // num_heads
        self.use_sdpa = use_sdpa
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)
        self.rpe_k = None if rpe_cfg is None else ContextualRPE(self.head_dims, **rpe_cfg)
        self.rel_pos = (None if rel_pos_grid is None else
                        DecomposedRelPos(self.head_dims, rel_pos_grid))

    def position_bias(self, q: torch.Tensor, grid_hw: Tuple[int, int]) -> Optional[torch.Tensor]:
        bias = None
        if self.rpe_k is not None:
            bias = self.rpe_k(q, grid_hw)
        if self.rel_pos is not None:
            if q.shape[-2] != grid_hw[0] * grid_hw[1]:
                raise ValueError('decomposed relative position needs a pure token grid '
                                 f'(got {q.shape[-2]} tokens for grid {tuple(grid_hw)})')
            rel = self.rel_pos(q, grid_hw)
            bias = rel if bias is None else bias + rel
        return bias

    def forward(self, x: torch.Tensor, grid_hw: Tuple[int, int],
                attn_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        b, n, _ = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dims).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each (B, heads, N, d)
        bias = self.position_bias(q, grid_hw)
        if attn_mask is not None:
            if attn_mask.dtype == torch.bool:
                attn_mask = torch.zeros(attn_mask.shape, dtype=q.dtype, device=q.device
                                        ).masked_fill(~attn_mask, float('-inf'))
            bias = attn_mask.to(q.dtype) if bias is None else bias + attn_mask.to(q.dtype)
        drop = self.attn_drop if self.training else 0.
        if self.use_sdpa:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=drop)
        else:
            logits = (q * self.head_dims**-0.5) @ k.transpose(-2, -1)
            if bias is not None:
                logits = logits + bias
            out = F.dropout(logits.softmax(dim=-1), drop) @ v
        out = out.transpose(1, 2).reshape(b, n, self.embed_dims)
        return self.proj_drop(self.proj(out))
