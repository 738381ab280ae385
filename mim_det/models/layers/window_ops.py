"""Non-overlapping window partition for ViTDet's window attention (detectron2's
``window_partition`` / ``window_unpartition``), plus the key mask of padded tokens."""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F


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
    when H and W are multiples of w (no padding).

    Masking the padded keys makes every real token attend to exactly the real tokens of its
    window (the official ViTDet lets the padded zeros take part).
    """
    h, w = hw
    ws = window_size
    if h % ws == 0 and w % ws == 0:
        return None
    real = torch.ones(1, h, w, 1, device=device)
    real_windows, _ = window_partition(real, ws)  # (nW, w*w, 1), 0 where padded
    bias = torch.zeros(real_windows.shape[:2], dtype=dtype, device=device)
    bias = bias.masked_fill(real_windows[..., 0] == 0, float('-inf'))
    return bias.repeat(batch, 1)[:, None, None, :]
