"""The one multi-head self-attention of mim_det's ViTs: SDPA with additive position biases.

``softmax(q k^T / sqrt(d) + sum_k bias_k(q) + mask) v`` over one token sequence per batch
element. The biases are the relative-position modules of :mod:`.relative_position` (configured
by ``rel_pos_cfgs``); like LoMaR's and ViTDet's official code they use the *unscaled* query, so
their sum is exactly what :func:`torch.nn.functional.scaled_dot_product_attention` adds as
``attn_mask``. The attention never knows about windows: a block that attends inside windows
hands it the windows as a batch and the padding mask (:mod:`.window_ops`).

A separable bias (ViTDet's decomposed relative position) can instead be *folded* into the
queries and keys (``rel_pos_impl``): ``softmax(q' k'^T + mask) v`` with ``q' k'^T = q k^T /
sqrt(d) + bias`` needs no (B, h, N, N) tensor, so SDPA runs a fused (flash / memory-efficient)
kernel instead of its math fallback, which a float bias that needs gradients forces.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .relative_position import build_rel_pos

REL_POS_IMPLS = ('auto', 'folded', 'explicit')


def fused_kernel_dims(qk_dims: int) -> int:
    """Head width the fused SDPA kernels take for folded queries and keys: one width for q, k
    and v (CPU flash attention), a multiple of 8 (CUDA flash / memory-efficient kernels)."""
    return -(-qk_dims // 8) * 8


def folded_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                     attn_mask: Optional[torch.Tensor], dropout_p: float) -> torch.Tensor:
    """``softmax(q k^T + mask) v`` for folded q, k (B, h, N, d') and v (B, h, N, d), d <= d':
    all three zero-padded to :func:`fused_kernel_dims` (zeros change no dot product), the
    output cut back to d. ``scale=1``: the scale is inside q."""
    width = fused_kernel_dims(q.shape[-1])
    d = v.shape[-1]
    q, k = (F.pad(t, (0, width - t.shape[-1])) for t in (q, k))
    out = F.scaled_dot_product_attention(q, k, F.pad(v, (0, width - d)), attn_mask=attn_mask,
                                         dropout_p=dropout_p, scale=1.0)
    return out[..., :d]


class Attention(nn.Module):
    """Multi-head self-attention with relative-position biases, through SDPA.

    Args:
        embed_dims: token width D.
        num_heads: heads h; head width d = D / h.
        qkv_bias: bias on the fused qkv projection.
        attn_drop: dropout on attention probabilities.
        proj_drop: dropout after the output projection.
        rel_pos_cfgs: relative position biases, e.g. ``[dict(type='DecomposedRelPos'),
            dict(type='ContextualRPE', alpha=1.9, beta=3.8, gamma=15.2)]``; each is stored
            under its class's ``attr_name`` (``rel_pos``, ``rpe_k``, ``rel_pos_bias``), the
            names pretrained checkpoints use.
        rel_pos_grid: the grid (S_h, S_w) the tables are sized for.
        use_sdpa: ``False`` computes the same attention with explicit matmul + softmax (the
            reference the benchmark and tests compare SDPA against).
        rel_pos_impl: how a foldable bias (``DecomposedRelPos`` alone) reaches SDPA:
            ``'folded'`` into q and k (no (N, N) tensor, fused kernels), ``'explicit'`` as
            an (N, N) ``attn_mask`` (the reference), ``'auto'``: folded (measured faster and
            smaller: ViT-B/16 ViTDet backbone at 1024 px on a 2-core CPU, forward + backward,
            37.7 s and 4.8 GB peak against 54.5 s and 8.9 GB explicit; the tiny ViTDet step
            alike within noise). Other biases are always explicit.

    Shapes: ``forward(x (B, N, D), grid_hw, attn_mask=None) -> (B, N, D)``, where the last
    ``grid_h * grid_w`` tokens form a row-major grid after ``N - grid_h * grid_w`` extra (cls)
    tokens, and ``attn_mask`` is an additive float (or boolean keep-) mask broadcastable to
    (B, h, N, N).
    """

    def __init__(self, embed_dims: int, num_heads: int, qkv_bias: bool = True,
                 attn_drop: float = 0., proj_drop: float = 0.,
                 rel_pos_cfgs: Sequence[dict] = (),
                 rel_pos_grid: Optional[Tuple[int, int]] = None, use_sdpa: bool = True,
                 rel_pos_impl: str = 'auto'):
        super().__init__()
        if rel_pos_impl not in REL_POS_IMPLS:
            raise ValueError(f'Attention: rel_pos_impl={rel_pos_impl!r}; use one of '
                             f'{REL_POS_IMPLS}')
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
        self.rel_pos_names = []
        for cfg in rel_pos_cfgs:
            module = build_rel_pos(cfg, self.head_dims, num_heads, rel_pos_grid)
            if module.attr_name in self.rel_pos_names:
                raise ValueError(f'Attention: {cfg["type"]} is configured twice')
            self.add_module(module.attr_name, module)
            self.rel_pos_names.append(module.attr_name)
        foldable = len(self.rel_pos_names) == 1 and getattr(
            getattr(self, self.rel_pos_names[0]), 'foldable', False)
        self.fold_rel_pos = foldable and use_sdpa and rel_pos_impl != 'explicit'

    def position_bias(self, q: torch.Tensor, grid_hw: Tuple[int, int]) -> Optional[torch.Tensor]:
        """Sum of the relative-position biases for queries q (B, h, N, d), or ``None``."""
        num_extra = _num_extra_tokens(q.shape[-2], grid_hw)
        bias = None
        for name in self.rel_pos_names:
            term = getattr(self, name)(q, grid_hw, num_extra)
            bias = term if bias is None else bias + term
        return bias

    def project_qkv(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Tokens (B, N, D) -> q, k, v, each (B, h, N, d) (unscaled)."""
        b, n, _ = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dims).permute(2, 0, 3, 1, 4)
        return qkv.unbind(0)

    def forward(self, x: torch.Tensor, grid_hw: Tuple[int, int],
                attn_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.project_qkv(x)
        if attn_mask is not None:
            if attn_mask.dtype == torch.bool:
                attn_mask = torch.zeros(attn_mask.shape, dtype=q.dtype, device=q.device
                                        ).masked_fill(~attn_mask, float('-inf'))
            attn_mask = attn_mask.to(q.dtype)
        drop = self.attn_drop if self.training else 0.
        scale = self.head_dims**-0.5
        if self.fold_rel_pos:
            rel_pos = getattr(self, self.rel_pos_names[0])
            q, k = rel_pos.fold(q, k, grid_hw, _num_extra_tokens(n, grid_hw), scale)
            out = folded_attention(q, k, v, attn_mask, drop)
        else:
            bias = self.position_bias(q, grid_hw)
            if attn_mask is not None:
                bias = attn_mask if bias is None else bias + attn_mask
            if self.use_sdpa:
                out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=drop)
            else:
                logits = (q * scale) @ k.transpose(-2, -1)
                if bias is not None:
                    logits = logits + bias
                out = F.dropout(logits.softmax(dim=-1), drop) @ v
        out = out.transpose(1, 2).reshape(b, n, self.embed_dims)
        return self.proj_drop(self.proj(out))


def _num_extra_tokens(num_tokens: int, grid_hw: Tuple[int, int]) -> int:
    num_extra = num_tokens - grid_hw[0] * grid_hw[1]
    if num_extra < 0:
        raise ValueError(f'{num_tokens} tokens cannot hold the grid {tuple(grid_hw)}')
    return num_extra
