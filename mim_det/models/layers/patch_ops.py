"""Image <-> patch sequence conversions in the MAE / LoMaR pixel order."""
from typing import Tuple

import torch


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, H/p * W/p, p * p * C), each patch flattened in (row, col, channel)
    order (the MAE / LoMaR convention the official checkpoints' pixel heads use)."""
    b, c, h, w = images.shape
    p = patch_size
    if h % p or w % p:
        raise ValueError(f'patchify: image size {h}x{w} is not a multiple of patch {p}')
    x = images.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify(patches: torch.Tensor, grid_hw: Tuple[int, int], patch_size: int,
               channels: int = 3) -> torch.Tensor:
    """Inverse of :func:`patchify`: (B, G_h * G_w, p * p * C) -> (B, C, G_h * p, G_w * p)."""
    b = patches.shape[0]
    p = patch_size
    x = patches.reshape(b, grid_hw[0], grid_hw[1], p, p, channels).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(b, channels, grid_hw[0] * p, grid_hw[1] * p)
