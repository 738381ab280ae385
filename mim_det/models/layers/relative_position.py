"""Relative position biases of ViT attention: three families behind one interface.

Every bias module here is built by :func:`build_rel_pos` from a config dict
(``dict(type=<class name>, **options)``; the classes register in mmengine's root ``MODELS``,
which every scope's registry falls back to, so the type resolves in mmpretrain, mmdet and mmseg
configs alike) plus what the attention knows -- per-head width d, head
count h and the token grid its tables are sized for -- and is called as
``bias(q, grid_hw, num_extra_tokens)`` with the *unscaled* queries q (B, h, N, d), returning an
additive logit bias broadcastable to (B, h, N, N); ``bias(q_rows, grid_hw, num_extra_tokens,
rows=slice)`` gives the rows ``rows`` of it, (B, h, rows, N), from those queries only (the
attention's chunked path). N = ``num_extra_tokens + grid_h * grid_w``,
the extra (cls) tokens first, the grid row-major. The attention adds the sum of its biases to
``q k^T / sqrt(d)`` (see :mod:`.attention`).

================  ======================================  ====================================
type              what it adds to logit (i, j)            parameters (attribute in attention)
================  ======================================  ====================================
DecomposedRelPos  q_i . R_h[h_i - h_j] + q_i . R_w[..]     ``rel_pos.rel_pos_h/w`` (2S-1, d)
                  (ViTDet / MViTv2 Eq. 3)
ContextualRPE     q_i . r[bucket(i, j)] (iRPE ctx on       ``rpe_k.lookup_table_weight``
                  keys, product method; LoMaR)             (1, d, 50), shared by heads
RelPosBiasTable   B[idx(i, j), head] (BEiT Eq. 5, the      ``rel_pos_bias.relative_position_
                  per-head table MAE/BEiT segmentation     bias_table`` ((2S_h-1)(2S_w-1)+3, h)
                  uses)
================  ======================================  ====================================

All tables start at zero (an untrained bias is plain attention). The tensor maths are small pure
functions (:func:`resize_rel_pos`, :func:`relative_table`, :func:`decomposed_query_terms`,
:func:`grid_key_codes`, :func:`piecewise_index`,
:func:`bucket_matrix`, :func:`rel_pos_table_index`, :func:`resize_rel_pos_bias_table`), testable
alone.
"""
import math
from functools import lru_cache
from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.registry import MODELS
from torch import nn


def build_rel_pos(cfg: dict, head_dims: int, num_heads: int,
                  grid_hw: Optional[Tuple[int, int]]) -> nn.Module:
    """Build one bias module from ``cfg`` and the attention's geometry.

    Args:
        cfg: ``dict(type='DecomposedRelPos' | 'ContextualRPE' | 'RelPosBiasTable', ...)``.
        head_dims, num_heads: the attention's d and h.
        grid_hw: the grid the tables are sized for (the window, or the whole map of a global
            block); ``None`` where no table depends on it.
    """
    cfg = dict(cfg)
    name = cfg.pop('type', None)
    cls = MODELS.get(name) if isinstance(name, str) else None
    if not hasattr(cls, 'attr_name'):  # every bias class names its attribute in the attention
        known = sorted(n for n, c in MODELS.module_dict.items() if hasattr(c, 'attr_name'))
        raise ValueError(f'unknown relative position type {name!r} in rel_pos_cfgs; use one of '
                         f'{known}')
    return cls(head_dims=head_dims, num_heads=num_heads, grid_hw=grid_hw, **cfg)


def _pad_extra_tokens(bias: torch.Tensor, num_extra_tokens: int) -> torch.Tensor:
    """(..., G, G) grid-pair bias -> (..., E + G, E + G) with zeros for pairs with extra tokens."""
    if not num_extra_tokens:
        return bias
    return F.pad(bias, (num_extra_tokens, 0, num_extra_tokens, 0))


def _pad_keys(bias: torch.Tensor, num_extra_tokens: int) -> torch.Tensor:
    """(..., rows, G) bias over grid keys -> (..., rows, E + G), zero for the extra keys."""
    return F.pad(bias, (num_extra_tokens, 0)) if num_extra_tokens else bias


# ------------------------------------------------------------------------- decomposed (ViTDet)
def resize_rel_pos(table: torch.Tensor, length: int) -> torch.Tensor:
    """(L, d) -> (length, d) by linear interpolation along the offsets; identity if equal."""
    if table.shape[0] == length:
        return table
    resized = F.interpolate(table.t()[None], size=length, mode='linear', align_corners=False)
    return resized[0].t()


def relative_table(table: torch.Tensor, size: int) -> torch.Tensor:
    """Per-pair embeddings ``R[i, j] = table'[i - j + size - 1]`` (size, size, d), ``table'``
    being ``table`` resized to ``2 * size - 1`` offsets (detectron2's ``get_rel_pos``)."""
    table = resize_rel_pos(table, 2 * size - 1)
    coords = torch.arange(size, device=table.device)
    return table[coords[:, None] - coords[None, :] + size - 1]


def decomposed_query_terms(q_grid: torch.Tensor, r_h: torch.Tensor,
                           r_w: torch.Tensor) -> torch.Tensor:
    """The two halves of the decomposed bias, per query and key row / key column.

    Args:
        q_grid: unscaled queries on the grid (B, h, H, W, d).
        r_h, r_w: per-pair tables (H, H, d) and (W, W, d) of :func:`relative_table`.

    Returns:
        (B, h, H * W, H + W): ``[q_i . R_h[h_i - k] for k < H] ++ [q_i . R_w[w_i - l] for l < W]``
        (MViTv2 Eq. 3 before the broadcast over key pairs).
    """
    return torch.cat(decomposed_query_terms_hw(q_grid, r_h, r_w), -1)


def decomposed_query_terms_hw(q_grid: torch.Tensor, r_h: torch.Tensor,
                              r_w: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """:func:`decomposed_query_terms` as its two halves, (B, h, H * W, H) over key rows and
    (B, h, H * W, W) over key columns, each its own tensor."""
    b, heads, h, w, _ = q_grid.shape
    bias_h = torch.einsum('bnhwc,hkc->bnhwk', q_grid, r_h)  # over key rows
    bias_w = torch.einsum('bnhwc,wkc->bnhwk', q_grid, r_w)  # over key columns
    return bias_h.reshape(b, heads, h * w, h), bias_w.reshape(b, heads, h * w, w)


@lru_cache(maxsize=64)
def _grid_key_codes_cpu(grid_h: int, grid_w: int, num_extra: int) -> torch.Tensor:
    rows = torch.arange(grid_h).repeat_interleave(grid_w)
    cols = torch.arange(grid_w).repeat(grid_h)
    codes = torch.cat([F.one_hot(rows, grid_h), F.one_hot(cols, grid_w)], -1).float()
    return F.pad(codes, (0, 0, num_extra, 0))  # extra (cls) keys: no code, no bias


@lru_cache(maxsize=64)
def _grid_key_codes_on(grid_h, grid_w, num_extra, dtype, device):
    return _grid_key_codes_cpu(grid_h, grid_w, num_extra).to(device=device, dtype=dtype)


def grid_key_codes(grid_hw: Tuple[int, int], num_extra_tokens: int = 0,
                   dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """Row and column one-hot codes of every key (E + H * W, H + W); zero rows for the E extra
    tokens. ``decomposed_query_terms(q) @ codes.T`` is the decomposed bias (cached per device)."""
    return _grid_key_codes_on(int(grid_hw[0]), int(grid_hw[1]), int(num_extra_tokens), dtype,
                              str(torch.device(device) if device is not None else 'cpu'))


@MODELS.register_module()
class DecomposedRelPos(nn.Module):
    """ViTDet's decomposed relative position (Li et al. ECCV 2022, following MViTv2 Eq. 3).

    ``b_ij = q_i . R_h[h_i - h_j] + q_i . R_w[w_i - w_j]`` with two zero-initialised tables
    ``rel_pos_h`` (2 S_h - 1, d) and ``rel_pos_w`` (2 S_w - 1, d) shared by the heads, sized for
    ``grid_hw`` = (S_h, S_w) (the window in window blocks, the whole map in global blocks) and
    linearly resampled on another grid. Pairs with extra (cls) tokens get no bias.

    The bias is separable: ``b_ij = t_i . c_j`` with the query terms t_i
    (:func:`decomposed_query_terms`, H + W values) and the one-hot row/column codes c_j of the
    key (:func:`grid_key_codes`). :meth:`fold` appends them to the queries and keys, so
    ``q' k'^T = q k^T * scale + b`` and an attention kernel computes the biased attention
    without the (N, N) bias tensor (``foldable``; :class:`~.attention.Attention` uses it).
    """
    attr_name = 'rel_pos'
    #: the bias is a dot product of per-query and per-key vectors (see :meth:`fold`)
    foldable = True

    def __init__(self, head_dims: int, grid_hw: Tuple[int, int], num_heads: int = None):
        super().__init__()
        self.grid_hw = (int(grid_hw[0]), int(grid_hw[1]))
        self.rel_pos_h = nn.Parameter(torch.zeros(2 * self.grid_hw[0] - 1, head_dims))
        self.rel_pos_w = nn.Parameter(torch.zeros(2 * self.grid_hw[1] - 1, head_dims))

    def query_terms(self, q: torch.Tensor, grid_hw: Tuple[int, int],
                    num_extra_tokens: int = 0) -> torch.Tensor:
        """q (B, h, N, d) -> (B, h, H * W, H + W) terms of the grid queries."""
        h, w = grid_hw
        b, heads, _, d = q.shape
        r_h = relative_table(self.rel_pos_h, h).to(q.dtype)  # (H, H, d)
        r_w = relative_table(self.rel_pos_w, w).to(q.dtype)  # (W, W, d)
        return decomposed_query_terms(q[:, :, num_extra_tokens:].reshape(b, heads, h, w, d),
                                      r_h, r_w)

    def forward(self, q: torch.Tensor, grid_hw: Tuple[int, int], num_extra_tokens: int = 0,
                rows: Optional[slice] = None) -> torch.Tensor:
        """q (B, h, N, d) -> bias (B, h, N, N), explicitly (the reference for :meth:`fold`);
        with ``rows``, q holds those query rows only and the bias is (B, h, rows, N)."""
        if rows is not None:
            return self._rows_bias(q, grid_hw, num_extra_tokens, rows)
        h, w = grid_hw
        b, heads = q.shape[:2]
        terms = self.query_terms(q, grid_hw, num_extra_tokens).reshape(b, heads, h, w, h + w)
        bias_h, bias_w = terms[..., :h], terms[..., h:]
        bias = (bias_h[..., :, None] + bias_w[..., None, :]).reshape(b, heads, h * w, h * w)
        return _pad_extra_tokens(bias, num_extra_tokens)

    def _rows_terms(self, q_rows: torch.Tensor, grid_hw: Tuple[int, int], num_extra: int,
                    rows: slice) -> Tuple[torch.Tensor, torch.Tensor]:
        """Query terms of the rows ``rows`` over key rows (B, h, rows, H) and key columns
        (B, h, rows, W): each query's own row of the two per-pair tables, so a block of rows
        need not cover whole grid rows; zero for extra (cls) queries."""
        h, w = grid_hw
        index = torch.arange(rows.start, rows.stop, device=q_rows.device) - num_extra
        keep = (index >= 0)[:, None].to(q_rows.dtype)
        index = index.clamp(min=0)
        r_h = relative_table(self.rel_pos_h, h).to(q_rows.dtype)[index // w]  # (rows, H, d)
        r_w = relative_table(self.rel_pos_w, w).to(q_rows.dtype)[index % w]  # (rows, W, d)
        return (torch.einsum('bnrc,rkc->bnrk', q_rows, r_h) * keep,
                torch.einsum('bnrc,rlc->bnrl', q_rows, r_w) * keep)

    def _rows_bias(self, q_rows: torch.Tensor, grid_hw: Tuple[int, int], num_extra: int,
                   rows: slice) -> torch.Tensor:
        """Bias of the query rows ``rows`` (B, h, rows, N)."""
        bias_h, bias_w = self._rows_terms(q_rows, grid_hw, num_extra, rows)
        return _pad_keys((bias_h[..., :, None] + bias_w[..., None, :]).flatten(-2), num_extra)

    def add_rows_bias(self, bias: torch.Tensor, q_rows: torch.Tensor,
                      grid_hw: Tuple[int, int], num_extra_tokens: int,
                      rows: slice) -> torch.Tensor:
        """``bias + self(q_rows, ..., rows=rows)`` for another bias (B, h, rows, N) with one
        (rows, N) temporary instead of three: the row terms are broadcast-added straight onto
        ``bias`` seen as (..., H, W) (an in-place add on a view of it would make autograd
        copy the whole gradient back through the view)."""
        if num_extra_tokens:  # the keys' grid starts after the extra tokens: no (H, W) view
            return bias + self._rows_bias(q_rows, grid_hw, num_extra_tokens, rows)
        bias_h, bias_w = self._rows_terms(q_rows, grid_hw, num_extra_tokens, rows)
        out = bias.unflatten(-1, tuple(grid_hw)) + bias_h[..., :, None]
        return out.add_(bias_w[..., None, :]).flatten(-2)

    def fold(self, q: torch.Tensor, k: torch.Tensor, grid_hw: Tuple[int, int],
             num_extra_tokens: int, scale: float) -> Tuple[torch.Tensor, torch.Tensor]:
        """Queries and keys (B, h, N, d) -> (B, h, N, d + H + W) each, with
        ``q' k'^T = scale * q k^T + bias``: ``q' = [scale q, t]``, ``k' = [k, c]``."""
        b, heads, n, _ = q.shape
        terms = F.pad(self.query_terms(q, grid_hw, num_extra_tokens),
                      (0, 0, num_extra_tokens, 0))  # extra (cls) queries: no bias
        codes = grid_key_codes(grid_hw, num_extra_tokens, q.dtype, q.device)
        return (torch.cat([q * scale, terms], -1),
                torch.cat([k, codes.expand(b, heads, n, codes.shape[-1])], -1))

    def flex_bias(self, q: torch.Tensor, grid_hw: Tuple[int, int],
                  num_extra_tokens: int = 0) -> Callable:
        """The bias as a FlexAttention term ``(b, head, i, j) -> b_ij``: the query terms
        over key rows (B, h, N, H) and key columns (B, h, N, W) read at key j's row and
        column, no (N, N) tensor."""
        grid_h, grid_w = grid_hw
        b, heads, _, d = q.shape
        q_grid = q[:, :, num_extra_tokens:].reshape(b, heads, grid_h, grid_w, d)
        # two tensors, each read once per logit: FlexAttention's backward cannot give
        # gradients to a tensor that a score_mod indexes twice (torch 2.11)
        rows, cols = (F.pad(t, (0, 0, num_extra_tokens, 0))  # extra (cls) queries: zero
                      for t in decomposed_query_terms_hw(
                          q_grid, relative_table(self.rel_pos_h, grid_h).to(q.dtype),
                          relative_table(self.rel_pos_w, grid_w).to(q.dtype)))

        def bias(b, head, i, j):
            key, on_grid = _flex_grid_index(j, num_extra_tokens)
            value = rows[b, head, i, key // grid_w] + cols[b, head, i, key % grid_w]
            return value if on_grid is None else torch.where(on_grid, value, 0.0)
        return bias

    def extra_repr(self) -> str:
        return f'grid_hw={self.grid_hw}'


def _flex_grid_index(index, num_extra_tokens: int):
    """A FlexAttention token index -> (grid index clamped to >= 0, on-grid flag or None when
    there are no extra tokens)."""
    if not num_extra_tokens:
        return index, None
    grid = index - num_extra_tokens
    return torch.clamp(grid, min=0), grid >= 0


# ----------------------------------------------------------------- contextual (iRPE, LoMaR)
def piecewise_index(offset: torch.Tensor, alpha: float, beta: float,
                    gamma: float) -> torch.Tensor:
    """iRPE's piecewise index (Wu et al. ICCV 2021, Eq. 18) for integer offsets, int64::

        g(x) = x                                                     if |x| <= alpha
        g(x) = sign(x) * min(beta, round(alpha + ln(|x| / alpha)
                                         / ln(gamma / alpha) * (beta - alpha)))  otherwise

    truncated toward zero. LoMaR's alpha 1.9, beta 3.8, gamma 15.2 map offsets 0, +-1, +-2, +-3,
    |x| >= 4 to 0, +-1, +-2, +-2, +-3.
    """
    x = offset.to(torch.float64)
    mag = x.abs()
    # clamp keeps log() finite where the near branch is used anyway
    log_part = torch.log(mag.clamp(min=alpha) / alpha) / math.log(gamma / alpha) * (beta - alpha)
    far_value = torch.sign(x) * torch.clamp(torch.round(alpha + log_part), max=beta)
    return torch.where(mag > alpha, far_value, x).to(torch.int64)


def max_bucket_offset(alpha: float, beta: float, gamma: float) -> int:
    """Largest |g(x)| over all integer offsets: ``int(beta)`` unless beta is never reached."""
    return int(piecewise_index(torch.tensor([10**6]), alpha, beta, gamma).item())


@lru_cache(maxsize=64)
def _bucket_matrix_cpu(grid_h: int, grid_w: int, num_extra: int, alpha: float, beta: float,
                       gamma: float) -> torch.Tensor:
    rows = torch.arange(grid_h).repeat_interleave(grid_w)
    cols = torch.arange(grid_w).repeat(grid_h)
    # offset of query i relative to key j: pos_i - pos_j (iRPE's convention)
    dr = piecewise_index(rows[:, None] - rows[None, :], alpha, beta, gamma)
    dc = piecewise_index(cols[:, None] - cols[None, :], alpha, beta, gamma)
    r = max_bucket_offset(alpha, beta, gamma)
    side = 2 * r + 1
    buckets = (dr + r) * side + (dc + r)
    if num_extra:
        n = grid_h * grid_w + num_extra
        full = torch.full((n, n), side * side, dtype=torch.int64)
        full[num_extra:, num_extra:] = buckets
        buckets = full
    return buckets


@lru_cache(maxsize=64)
def _bucket_matrix_on(grid_h, grid_w, num_extra, alpha, beta, gamma, device):
    # one copy per device: every layer of every step asks for the same matrix
    return _bucket_matrix_cpu(grid_h, grid_w, num_extra, alpha, beta, gamma).to(device)


def bucket_matrix(grid_hw: Tuple[int, int], num_extra_tokens: int = 1, alpha: float = 1.9,
                  beta: float = 3.8, gamma: float = 15.2,
                  device: torch.device = None) -> torch.Tensor:
    """Bucket of every (query, key) pair of ``num_extra_tokens`` + a row-major grid.

    ``bucket = (g(dr) + r) * (2r + 1) + (g(dc) + r)`` with r = ``max_bucket_offset`` (3 for
    LoMaR: 49 grid buckets); every pair involving an extra token gets the last bucket, 49.

    Returns:
        LongTensor (N, N), N = grid_h * grid_w + num_extra_tokens (cached per device).
    """
    return _bucket_matrix_on(int(grid_hw[0]), int(grid_hw[1]), int(num_extra_tokens),
                             float(alpha), float(beta), float(gamma),
                             str(torch.device(device) if device is not None else 'cpu'))


@MODELS.register_module()
class ContextualRPE(nn.Module):
    """Key-side contextual relative position of one attention layer (iRPE "ctx" mode, "product"
    method), as LoMaR (Chen et al., arXiv 2206.00790, Sec. 3.2) uses it in every layer.

    ``b_ij = q_i . W[0, :, bucket(i, j)]`` (iRPE Eq. 14) with one table ``lookup_table_weight``
    (1, d, 50) shared by the heads, zero-initialised, laid out as the official LoMaR/iRPE
    checkpoints (49 grid buckets + the cls bucket, iRPE's ``skip=1``). Buckets clip at +-3
    patches, so one table serves a 7x7 window, a 14x14 image or a 64x64 detection map; a
    backbone without cls token simply never gathers bucket 49. Computed as one matmul
    ``q @ W`` (..., N, 50) and a gather with the cached (N, N) bucket matrix.

    Args:
        head_dims: d.
        alpha, beta, gamma: the piecewise index (iRPE ``ratio=1.9``: 1.9, 3.8, 15.2).
        num_heads, grid_hw: unused (one table for all heads and grids).
    """
    attr_name = 'rpe_k'

    def __init__(self, head_dims: int, alpha: float = 1.9, beta: float = 3.8,
                 gamma: float = 15.2, num_heads: int = None, grid_hw=None):
        super().__init__()
        self.alpha, self.beta, self.gamma = float(alpha), float(beta), float(gamma)
        side = 2 * max_bucket_offset(self.alpha, self.beta, self.gamma) + 1
        self.num_buckets = side * side + 1
        self.lookup_table_weight = nn.Parameter(torch.zeros(1, head_dims, self.num_buckets))

    def buckets(self, grid_hw: Tuple[int, int], num_extra_tokens: int = 0,
                device=None) -> torch.Tensor:
        return bucket_matrix(grid_hw, num_extra_tokens, self.alpha, self.beta, self.gamma,
                             device=device)

    def forward(self, q: torch.Tensor, grid_hw: Tuple[int, int], num_extra_tokens: int = 0,
                rows: Optional[slice] = None) -> torch.Tensor:
        """q (B, h, N, d), unscaled -> bias (B, h, N, N) in q's dtype; with ``rows`` q holds
        those query rows of the sequence only, and the bias is (B, h, rows, N)."""
        index = self.buckets(grid_hw, num_extra_tokens, q.device)
        if rows is not None:
            index = index[rows]
        # (B, h, N, d) @ (1, d, buckets): one matmul for all heads instead of N*N dot products
        q_dot_table = q @ self.lookup_table_weight.to(q.dtype)
        return torch.gather(q_dot_table, -1, index.expand(*q_dot_table.shape[:-1],
                                                          index.shape[-1]))

    def flex_bias(self, q: torch.Tensor, grid_hw: Tuple[int, int],
                  num_extra_tokens: int = 0) -> Callable:
        """The bias as a FlexAttention term ``(b, head, i, j) -> b_ij``: ``q @ W`` (B, h, N,
        buckets) read at the bucket of (i, j), computed from the two tokens' grid offsets with
        the 1-D piecewise index per axis (the bucket function is separable in its index, not
        in its value), so neither the (N, N) bias nor the (N, N) bucket matrix exists."""
        q_dot_table = q @ self.lookup_table_weight.to(q.dtype)
        r = max_bucket_offset(self.alpha, self.beta, self.gamma)
        side = 2 * r + 1
        grid_h, grid_w = grid_hw
        offsets = torch.arange(-(max(grid_hw) - 1), max(grid_hw), device=q.device)
        # g(offset) + r, indexed by offset + max(grid) - 1
        shifted = piecewise_index(offsets, self.alpha, self.beta, self.gamma) + r
        last = max(grid_hw) - 1

        def bias(b, head, i, j):
            qi, q_on = _flex_grid_index(i, num_extra_tokens)
            kj, k_on = _flex_grid_index(j, num_extra_tokens)
            bucket = (shifted[qi // grid_w - kj // grid_w + last] * side
                      + shifted[qi % grid_w - kj % grid_w + last])
            if q_on is not None:  # a pair with an extra token: the last (cls) bucket
                bucket = torch.where(q_on & k_on, bucket, side * side)
            return q_dot_table[b, head, i, bucket]
        return bias

    def extra_repr(self) -> str:
        return (f'buckets={self.num_buckets}, alpha={self.alpha}, beta={self.beta}, '
                f'gamma={self.gamma}')


# ------------------------------------------------------------------- per-head table (BEiT)
@lru_cache(maxsize=64)
def _table_index_cpu(grid_h: int, grid_w: int, num_extra: int) -> torch.Tensor:
    coords = torch.stack(torch.meshgrid(torch.arange(grid_h), torch.arange(grid_w),
                                        indexing='ij')).flatten(1)  # (2, G)
    rel = coords[:, :, None] - coords[:, None, :]  # query minus key
    index = (rel[0] + grid_h - 1) * (2 * grid_w - 1) + (rel[1] + grid_w - 1)
    if not num_extra:
        return index
    if num_extra != 1:
        raise ValueError(f'RelPosBiasTable: one cls token at most, got {num_extra} extra tokens')
    num_grid = (2 * grid_h - 1) * (2 * grid_w - 1)
    full = torch.empty(index.shape[0] + 1, index.shape[1] + 1, dtype=torch.int64)
    full[1:, 1:] = index
    full[0, :] = num_grid  # cls -> token
    full[:, 0] = num_grid + 1  # token -> cls
    full[0, 0] = num_grid + 2  # cls -> cls
    return full


def rel_pos_table_index(grid_hw: Tuple[int, int], num_extra_tokens: int = 1) -> torch.Tensor:
    """BEiT's ``relative_position_index`` (N, N): row of the ((2H-1)(2W-1) + 3)-entry table for
    every pair, the last three entries for cls->token, token->cls and cls->cls."""
    return _table_index_cpu(int(grid_hw[0]), int(grid_hw[1]), int(num_extra_tokens))


def resize_rel_pos_bias_table(table: torch.Tensor, src_hw: Tuple[int, int],
                              dst_hw: Tuple[int, int]) -> torch.Tensor:
    """((2S_h-1)(2S_w-1) + 3, h) table of grid ``src_hw`` -> the one of ``dst_hw``: the offset
    grid is resized bicubically (timm's ``resize_rel_pos_bias_table``), the 3 cls entries kept."""
    if tuple(src_hw) == tuple(dst_hw):
        return table
    sh, sw = 2 * src_hw[0] - 1, 2 * src_hw[1] - 1
    dh, dw = 2 * dst_hw[0] - 1, 2 * dst_hw[1] - 1
    grid, extra = table[:sh * sw], table[sh * sw:]
    grid = grid.t().reshape(1, -1, sh, sw)
    grid = F.interpolate(grid.float(), size=(dh, dw), mode='bicubic', align_corners=False)
    return torch.cat([grid.reshape(-1, dh * dw).t().to(table.dtype), extra])


@MODELS.register_module()
class RelPosBiasTable(nn.Module):
    """BEiT's per-head relative position bias (Bao et al. ICLR 2022, Sec. 2.2; the table MAE's
    ADE20k protocol adds to every layer, zero-initialised as mmseg's ``MAEAttention``).

    ``b_ij^head = B[index(i, j), head]`` with ``relative_position_bias_table``
    ((2 S_h - 1)(2 S_w - 1) + 3, h) for the grid ``grid_hw`` (S_h, S_w) and one cls token at
    most; on another grid the offset part is resized bicubically.

    The bias does not depend on the queries, so one table can also serve every layer
    (``shareable``): BEiT's / SimMIM's shared relative position bias
    (``ViTBase(shared_rel_pos_cfg=dict(type='RelPosBiasTable'))``).
    """
    attr_name = 'rel_pos_bias'
    #: the bias is a function of the grid only, so a backbone may compute it once for all blocks
    shareable = True
    #: the explicit bias gathers (h, N, N) values from a few thousand entries, so its backward
    #: scatter-adds h N^2 gradients into them: slow on a GPU, where ``rel_pos_impl='auto'``
    #: then reads the table per logit through FlexAttention instead (see ``Attention``)
    scatters_gradients = True

    def __init__(self, num_heads: int, grid_hw: Tuple[int, int], head_dims: int = None):
        super().__init__()
        self.grid_hw = (int(grid_hw[0]), int(grid_hw[1]))
        num = (2 * self.grid_hw[0] - 1) * (2 * self.grid_hw[1] - 1) + 3
        self.relative_position_bias_table = nn.Parameter(torch.zeros(num, num_heads))

    def forward(self, q: torch.Tensor, grid_hw: Tuple[int, int], num_extra_tokens: int = 0,
                rows: Optional[slice] = None) -> torch.Tensor:
        """q (B, h, N, d) (only its dtype and device are used) -> bias (1, h, N, N); with
        ``rows``, the bias of those query rows, (1, h, rows, N)."""
        table = resize_rel_pos_bias_table(self.relative_position_bias_table, self.grid_hw,
                                          grid_hw)
        index = rel_pos_table_index(grid_hw, num_extra_tokens)
        index = (index if rows is None else index[rows]).to(q.device)
        return table[index].permute(2, 0, 1)[None].to(q.dtype)

    def flex_bias(self, q: torch.Tensor, grid_hw: Tuple[int, int],
                  num_extra_tokens: int = 0) -> Callable:
        """The bias as a FlexAttention term ``(b, head, i, j) -> b_ij``: the (resized) table
        read at the index of (i, j) computed from the two grid positions
        (:func:`rel_pos_table_index`'s formula), no (N, N) index or bias."""
        if num_extra_tokens > 1:
            raise ValueError(f'RelPosBiasTable: one cls token at most, got {num_extra_tokens} '
                             'extra tokens')
        table = resize_rel_pos_bias_table(self.relative_position_bias_table, self.grid_hw,
                                          grid_hw).to(q.dtype)
        grid_h, grid_w = grid_hw
        num_grid = (2 * grid_h - 1) * (2 * grid_w - 1)

        def bias(b, head, i, j):
            qi, q_on = _flex_grid_index(i, num_extra_tokens)
            kj, k_on = _flex_grid_index(j, num_extra_tokens)
            index = ((qi // grid_w - kj // grid_w + grid_h - 1) * (2 * grid_w - 1)
                     + qi % grid_w - kj % grid_w + grid_w - 1)
            if q_on is not None:  # cls -> token, token -> cls, cls -> cls: the last three
                index = torch.where(q_on & k_on, index,
                                    torch.where(q_on, num_grid + 1,
                                                torch.where(k_on, num_grid, num_grid + 2)))
            return table[index, head]
        return bias

    def extra_repr(self) -> str:
        return f'grid_hw={self.grid_hw}'
