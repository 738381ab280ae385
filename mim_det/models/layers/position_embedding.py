"""Absolute position embeddings: the fixed 2-D sin-cos table (MAE) and grid resizing."""
from typing import Tuple

import torch
import torch.nn.functional as F


def sincos_2d_embedding(grid_hw: Tuple[int, int], embed_dims: int,
                        temperature: float = 10000.) -> torch.Tensor:
    """MAE's fixed 2-D sin-cos table (He et al. 2022, ``util/pos_embed.py``), (H * W, D).

    Half the channels encode the column, half the row (the column first, as the official
    ``get_2d_sincos_pos_embed``), each as [sin(pos * omega), cos(pos * omega)] with
    ``omega_i = 1 / temperature^(i / (D / 4))``.
    """
    if embed_dims % 4:
        raise ValueError(f'sin-cos position embedding needs embed_dims divisible by 4, got '
                         f'{embed_dims}')
    rows, cols = torch.meshgrid(torch.arange(grid_hw[0], dtype=torch.float64),
                                torch.arange(grid_hw[1], dtype=torch.float64), indexing='ij')
    omega = 1. / temperature**(torch.arange(embed_dims // 4, dtype=torch.float64)
                               / (embed_dims / 4.))

    def encode(pos):
        out = pos.reshape(-1)[:, None] * omega[None]
        return torch.cat([out.sin(), out.cos()], dim=1)

    return torch.cat([encode(cols), encode(rows)], dim=1).float()


def resize_abs_pos(pos_embed: torch.Tensor, src_hw: Tuple[int, int],
                   dst_hw: Tuple[int, int]) -> torch.Tensor:
    """(1, S_h * S_w, D) grid embeddings -> (1, H, W, D), bicubic (align_corners=False) when the
    sizes differ, the identity when they agree (mmseg's and detectron2's resize)."""
    d = pos_embed.shape[-1]
    grid = pos_embed.reshape(1, src_hw[0], src_hw[1], d)
    if tuple(src_hw) == tuple(dst_hw):
        return grid
    grid = F.interpolate(grid.permute(0, 3, 1, 2), size=tuple(dst_hw), mode='bicubic',
                         align_corners=False)
    return grid.permute(0, 2, 3, 1)
