"""Contextual relative position encoding on keys (iRPE "ctx" mode, "product" method).

Wu et al., "Rethinking and Improving Relative Position Encoding for Vision Transformer"
(ICCV 2021), as LoMaR (Chen et al., arXiv 2206.00790, Sec. 3.2) uses it in every encoder layer:

* 2-D offsets between patch tokens are mapped to buckets by the piecewise index function
  (iRPE Eq. 18)::

      g(x) = x                                                      if |x| <= alpha
      g(x) = sign(x) * min(beta, round(alpha + ln(|x|/alpha)
                                         / ln(gamma/alpha) * (beta - alpha)))  otherwise

  truncated to an integer, with alpha = 1.9, beta = 3.8, gamma = 15.2 (iRPE's ``ratio=1.9``).
  Offsets 0, ±1, ±2, ±3, |x| >= 4 map to 0, ±1, ±2, ±2, ±3, so each axis has 7 values and the
  2-D "product" method gives ``7 * 7 = 49`` buckets. Any pair involving the cls token (iRPE's
  ``skip=1``) uses one extra bucket, 49, for 50 in all. Because offsets are clipped, the same
  table serves a 7x7 window, a 14x14 image or a 64x64 detection map.
* "ctx" mode on keys (iRPE Eq. 14): the bias added to the logit of query i and key j is
  ``b_ij = q_i . r_bucket(i,j)`` with a learned table ``r`` of shape ``(head_dims, 50)``, shared by
  all heads of the layer and zero-initialised. Computed as one matmul ``q @ r`` -> (..., N, 50)
  followed by a gather with the (N, N) bucket matrix; no custom op.
* LoMaR's attention logit is ``q.k / sqrt(d) + q.r`` (the bias uses the *unscaled* query, as in
  the official ``vision_transformer_irpe.Attention``), which is what
  :func:`torch.nn.functional.scaled_dot_product_attention` computes with the bias as
  ``attn_mask``.
"""
import math
from functools import lru_cache
from typing import Tuple

import torch
from torch import nn


def piecewise_index(offset: torch.Tensor, alpha: float, beta: float,
                    gamma: float) -> torch.Tensor:
    """iRPE's piecewise index g(x) (Eq. 18) for integer offsets; returns an int64 tensor."""
    x = offset.to(torch.float64)
    mag = x.abs()
    far = mag > alpha
    # clamp keeps log() finite where the near branch is used anyway
    log_part = torch.log(mag.clamp(min=alpha) / alpha) / math.log(gamma / alpha) * (beta - alpha)
    far_value = torch.sign(x) * torch.clamp(torch.round(alpha + log_part), max=beta)
    return torch.where(far, far_value, x).to(torch.int64)  # int cast truncates toward zero


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
    buckets.requires_grad_(False)
    return buckets


def bucket_matrix(grid_hw: Tuple[int, int], num_extra_tokens: int = 1, alpha: float = 1.9,
                  beta: float = 3.8, gamma: float = 15.2,
                  device: torch.device = None) -> torch.Tensor:
    """Bucket of every (query, key) pair of a row-major ``grid_h x grid_w`` token grid.

    Args:
        grid_hw: the patch grid, e.g. (7, 7) for a LoMaR window or (14, 14) for a 224 image.
        num_extra_tokens: tokens before the grid (cls); every pair involving one of them gets
            the last bucket.

    Returns:
        LongTensor (N, N) with N = grid_h * grid_w + num_extra_tokens, values in
        ``[0, (2 * int(beta) + 1) ** 2]``.
    """
    return _bucket_matrix_on(int(grid_hw[0]), int(grid_hw[1]), int(num_extra_tokens),
                             float(alpha), float(beta), float(gamma),
                             str(torch.device(device) if device is not None else 'cpu'))


@lru_cache(maxsize=64)
def _bucket_matrix_on(grid_h, grid_w, num_extra, alpha, beta, gamma, device):
    # one copy per device: every layer of every step asks for the same matrix
    return _bucket_matrix_cpu(grid_h, grid_w, num_extra, alpha, beta, gamma).to(device)


class ContextualRPE(nn.Module):
    """Key-side contextual relative position bias of one attention layer (iRPE ctx/product).

    Args:
        head_dims: per-head channel count d.
        alpha, beta, gamma: piecewise index parameters.
        num_extra_tokens: leading non-grid tokens (cls) with their own bucket.
        with_cls_bucket: keep the cls bucket in the table even without extra tokens (defaults
            to ``num_extra_tokens > 0``). Detection/segmentation backbones drop the cls token
            but keep the pretrained (1, d, 50) table so LoMaR checkpoints load unchanged; the
            cls entry is then simply never gathered.

    Parameter ``lookup_table_weight`` has shape (1, head_dims, num_buckets) -- one table for all
    heads, laid out as in the official LoMaR/iRPE checkpoints -- and starts at zero, so an
    untrained layer behaves exactly like plain attention.
    """

    def __init__(self, head_dims: int, alpha: float = 1.9, beta: float = 3.8, gamma: float = 15.2,
                 num_extra_tokens: int = 1, with_cls_bucket: bool = None):
        super().__init__()
        self.alpha, self.beta, self.gamma = float(alpha), float(beta), float(gamma)
        self.num_extra_tokens = num_extra_tokens
        side = 2 * max_bucket_offset(self.alpha, self.beta, self.gamma) + 1
        if with_cls_bucket is None:
            with_cls_bucket = num_extra_tokens > 0
        if num_extra_tokens and not with_cls_bucket:
            raise ValueError('ContextualRPE: extra tokens need the cls bucket')
        self.num_buckets = side * side + (1 if with_cls_bucket else 0)
        self.lookup_table_weight = nn.Parameter(torch.zeros(1, head_dims, self.num_buckets))

    def buckets(self, grid_hw: Tuple[int, int], device=None) -> torch.Tensor:
        return bucket_matrix(grid_hw, self.num_extra_tokens, self.alpha, self.beta, self.gamma,
                             device=device)

    def forward(self, q: torch.Tensor, grid_hw: Tuple[int, int]) -> torch.Tensor:
        """Bias ``b[..., i, j] = q[..., i, :] . W[0, :, bucket(i, j)]``.

        Args:
            q: queries (B, heads, N, d), unscaled; N = grid_h * grid_w + num_extra_tokens.
            grid_hw: the token grid the N - num_extra_tokens tokens form (row-major).

        Returns:
            (B, heads, N, N) float bias in q's dtype.
        """
        n = q.shape[-2]
        index = self.buckets(grid_hw, q.device)
        if index.shape[0] != n:
            raise ValueError(f'ContextualRPE: {n} tokens do not form grid {tuple(grid_hw)} '
                             f'plus {self.num_extra_tokens} extra token(s)')
        # (B, heads, N, d) @ (1, d, buckets): one matmul for all heads instead of N*N dot products
        q_dot_table = q @ self.lookup_table_weight.to(q.dtype)
        return torch.gather(q_dot_table, -1, index.expand(*q_dot_table.shape[:-1], n))

    def extra_repr(self) -> str:
        return (f'buckets={self.num_buckets}, alpha={self.alpha}, beta={self.beta}, '
                f'gamma={self.gamma}')
