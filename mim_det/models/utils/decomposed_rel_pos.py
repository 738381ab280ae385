"""ViTDet's decomposed relative position bias (MViTv2 style), resizable to any token grid.

Li et al., "Exploring Plain Vision Transformer Backbones for Object Detection" (ECCV 2022,
Sec. 3 / App. A) following Li et al., "MViTv2" (CVPR 2022, Eq. 3): the bias added to the logit of
query i at (h_i, w_i) and key j at (h_j, w_j) is

    b_ij = q_i . R^h[h_i - h_j] + q_i . R^w[w_i - w_j]

with two learned tables ``R^h`` (2 * S_h - 1, d) and ``R^w`` (2 * S_w - 1, d) shared by all heads,
zero-initialised (so a backbone loaded from a checkpoint without them starts as plain attention)
and, like the official code, multiplied with the *unscaled* query. A table trained for a grid of
size S is used on a grid of size S' by linearly resampling it to 2 * S' - 1 entries
(:func:`resize_rel_pos`); at S' = S it is used as is.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn


def resize_rel_pos(table: torch.Tensor, length: int) -> torch.Tensor:
    """(L, d) -> (length, d) by linear interpolation along the offsets; identity if equal."""
    if table.shape[0] == length:
        return table
    resized = F.interpolate(table.t()[None], size=length, mode='linear', align_corners=False)
    return resized[0].t()


def relative_table(table: torch.Tensor, size: int) -> torch.Tensor:
    """Per-pair embeddings ``R[i, j] = table'[i - j + size - 1]`` (size, size, d), table' being
    ``table`` resized to ``2 * size - 1`` offsets."""
    table = resize_rel_pos(table, 2 * size - 1)
    coords = torch.arange(size, device=table.device)
    return table[coords[:, None] - coords[None, :] + size - 1]


class DecomposedRelPos(nn.Module):
    """Decomposed relative position bias of one attention layer.

    Args:
        head_dims: per-head channels d.
        grid_hw: the grid (S_h, S_w) the tables are sized for: the window (14, 14) in window
            blocks, the whole feature map (64, 64 at 1024 px) in global blocks.

    Parameters ``rel_pos_h`` (2 * S_h - 1, d) and ``rel_pos_w`` (2 * S_w - 1, d), zero-init.
    """

    def __init__(self, head_dims: int, grid_hw: Tuple[int, int]):
        super().__init__()
        self.grid_hw = (int(grid_hw[0]), int(grid_hw[1]))
        self.rel_pos_h = nn.Parameter(torch.zeros(2 * self.grid_hw[0] - 1, head_dims))
        self.rel_pos_w = nn.Parameter(torch.zeros(2 * self.grid_hw[1] - 1, head_dims))

    def forward(self, q: torch.Tensor, grid_hw: Tuple[int, int]) -> torch.Tensor:
        """Bias for queries ``q`` (B, heads, N, d), N = H * W row-major; returns (B, heads, N, N)."""
        h, w = grid_hw
        b, heads, n, d = q.shape
        r_h = relative_table(self.rel_pos_h, h).to(q.dtype)  # (H, H, d)
        r_w = relative_table(self.rel_pos_w, w).to(q.dtype)  # (W, W, d)
        q_grid = q.reshape(b, heads, h, w, d)
        bias_h = torch.einsum('bnhwc,hkc->bnhwk', q_grid, r_h)  # over key rows
        bias_w = torch.einsum('bnhwc,wkc->bnhwk', q_grid, r_w)  # over key columns
        bias = bias_h[..., :, None] + bias_w[..., None, :]  # (B, heads, H, W, H_k, W_k)
        return bias.reshape(b, heads, n, n)

    def extra_repr(self) -> str:
        return f'grid_hw={self.grid_hw}'
