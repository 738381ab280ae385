"""Random local windows with in-window masking: LoMaR's sampling step as a reusable component.

LoMaR (Chen et al., arXiv 2206.00790, Sec. 3.1) reconstructs each image from ``M`` random
``K x K`` windows of its patch grid (K = 7, M = 4 at 224 px); inside each window
``int(K * K * mask_ratio)`` patches (39 of 49 at 0.8) are masked and later predicted from the
other in-window patches only. Any masked-image-modeling method that works on a patch grid can
switch to local masked reconstruction by drawing a :class:`WindowSample` here and gathering its
tokens/targets with :meth:`WindowSample.gather` (the paper does this for BEiT).

Two ways of placing windows:

* ``'per_image'`` (default, as the paper describes): every image draws its own ``M`` distinct
  top-left positions, uniformly among all ``(G_h - K + 1) * (G_w - K + 1)`` positions.
* ``'official'``: reproduces junchen14/LoMaR ``forward_encoder``: ``M`` positions are drawn once
  per batch (tops and lefts each from one ``randperm``, paired), and because the official code
  repeats the batch with ``x.repeat`` while laying out window indices per image, row
  ``r = m * B + b`` of its (B*M) sequences shows image ``b`` at position ``r mod M``. When M
  divides B every image therefore sees one window position with M different masks. Masks are
  independent per (image, window) in both modes.
"""
from typing import NamedTuple, Tuple

import torch
from mmpretrain.registry import MODELS

POSITION_MODES = ('per_image', 'official')


class WindowSample(NamedTuple):
    """Windows and masks drawn for one batch.

    Attributes:
        positions: (B, M, 2) int64 top-left (row, col) of each window, in patches.
        token_index: (B * M, K * K) int64 row-major index of each window patch into the
            flattened ``G_h x G_w`` patch grid; row ``b * M + m`` is window m of image b.
        mask: (B * M, K * K) bool, True where the patch is masked (replaced by the mask token
            and reconstructed).
        window_size: K.
        grid_hw: (G_h, G_w).
    """
    positions: torch.Tensor
    token_index: torch.Tensor
    mask: torch.Tensor
    window_size: int
    grid_hw: Tuple[int, int]

    @property
    def num_windows(self) -> int:
        return self.positions.shape[1]

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """Window tokens of a per-image token sequence.

        Args:
            x: (B, G_h * G_w, C) tokens (patch embeddings, patchified pixels, token ids ...).

        Returns:
            (B * M, K * K, C) (or (B * M, K * K) for a 2-D input).
        """
        b, m = self.positions.shape[:2]
        if x.shape[0] != b or x.shape[1] != self.grid_hw[0] * self.grid_hw[1]:
            raise ValueError(f'WindowSample.gather: expected ({b}, '
                             f'{self.grid_hw[0] * self.grid_hw[1]}, ...) tokens, got '
                             f'{tuple(x.shape)}')
        image = torch.arange(b, device=x.device).repeat_interleave(m)[:, None]
        return x[image, self.token_index]


@MODELS.register_module()
class WindowSampler:
    """Draws ``num_windows`` K x K windows per image and masks ``int(K*K*mask_ratio)`` in each.

    Args:
        window_size: K, window side in patches (LoMaR: 7).
        num_windows: M, windows per image (LoMaR: 4 at 224, 6 at 384, 9 at 448 px).
        mask_ratio: fraction of each window's patches to mask; the count is
            ``int(K * K * mask_ratio)`` exactly (39 of 49 at 0.8), as in the official code.
        position_mode: ``'per_image'`` or ``'official'`` (see the module docstring).

    ``sampler(batch_size, grid_hw, device)`` returns a :class:`WindowSample`.
    """

    def __init__(self, window_size: int = 7, num_windows: int = 4, mask_ratio: float = 0.8,
                 position_mode: str = 'per_image'):
        if position_mode not in POSITION_MODES:
            raise ValueError(f'WindowSampler: position_mode={position_mode!r}; use one of '
                             f'{POSITION_MODES}')
        if window_size < 1 or num_windows < 1:
            raise ValueError(f'WindowSampler: window_size={window_size} and '
                             f'num_windows={num_windows} must be >= 1')
        self.window_size = int(window_size)
        self.num_windows = int(num_windows)
        self.mask_ratio = float(mask_ratio)
        self.num_masked = int(self.window_size ** 2 * self.mask_ratio)
        if not 1 <= self.num_masked < self.window_size ** 2:
            raise ValueError(f'WindowSampler: mask_ratio={mask_ratio} masks {self.num_masked} '
                             f'of {self.window_size ** 2} patches; it must mask at least one '
                             'and keep at least one')
        self.position_mode = position_mode

    def _check_grid(self, grid_hw):
        k = self.window_size
        span_h, span_w = grid_hw[0] - k + 1, grid_hw[1] - k + 1
        if span_h < 1 or span_w < 1:
            raise ValueError(f'WindowSampler: a {k}x{k} window does not fit the '
                             f'{grid_hw[0]}x{grid_hw[1]} patch grid; use larger images or a '
                             'smaller window_size')
        limit = span_h * span_w if self.position_mode == 'per_image' else min(span_h, span_w)
        if self.num_windows > limit:
            raise ValueError(f'WindowSampler: num_windows={self.num_windows} exceeds the '
                             f'{limit} distinct positions a {k}x{k} window has on a '
                             f'{grid_hw[0]}x{grid_hw[1]} grid in {self.position_mode!r} mode')
        return span_h, span_w

    def sample_positions(self, batch_size: int, grid_hw: Tuple[int, int],
                         device=None) -> torch.Tensor:
        """(B, M, 2) top-left corners, distinct within each image."""
        span_h, span_w = self._check_grid(grid_hw)
        m = self.num_windows
        if self.position_mode == 'per_image':
            flat = torch.rand(batch_size, span_h * span_w, device=device).argsort(-1)[:, :m]
            return torch.stack([flat // span_w, flat % span_w], dim=-1)
        tops = torch.randperm(span_h, device=device)[:m]
        lefts = torch.randperm(span_w, device=device)[:m]
        shared = torch.stack([tops, lefts], dim=-1)  # (M, 2)
        # image b occupies official rows b + k*B (k < M), which use position (b + k*B) mod M
        rows = (torch.arange(batch_size, device=device)[:, None]
                + torch.arange(m, device=device)[None, :] * batch_size)
        return shared[rows % m]

    def window_token_index(self, positions: torch.Tensor, grid_hw: Tuple[int, int]):
        """(B, M, 2) corners -> (B * M, K * K) row-major grid indices."""
        k = self.window_size
        offsets = (torch.arange(k, device=positions.device)[:, None] * grid_hw[1]
                   + torch.arange(k, device=positions.device)[None, :]).flatten()
        base = positions[..., 0] * grid_hw[1] + positions[..., 1]
        return (base[..., None] + offsets).flatten(0, 1)

    def sample_mask(self, num_sequences: int, device=None) -> torch.Tensor:
        """(num_sequences, K * K) bool with exactly ``num_masked`` True per row."""
        n = self.window_size ** 2
        order = torch.rand(num_sequences, n, device=device).argsort(-1)
        mask = torch.zeros(num_sequences, n, dtype=torch.bool, device=device)
        return mask.scatter_(1, order[:, :self.num_masked], True)

    def __call__(self, batch_size: int, grid_hw: Tuple[int, int], device=None) -> WindowSample:
        grid_hw = (int(grid_hw[0]), int(grid_hw[1]))
        positions = self.sample_positions(batch_size, grid_hw, device)
        return WindowSample(positions, self.window_token_index(positions, grid_hw),
                            self.sample_mask(batch_size * self.num_windows, device),
                            self.window_size, grid_hw)

    def __repr__(self):
        return (f'{type(self).__name__}(window_size={self.window_size}, num_windows='
                f'{self.num_windows}, mask_ratio={self.mask_ratio}, num_masked={self.num_masked},'
                f' position_mode={self.position_mode!r})')
