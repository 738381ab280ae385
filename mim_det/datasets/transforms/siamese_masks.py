"""Masking that works for ConvNet siamese networks: Masked Siamese ConvNets (MSCN).

Jing, Zhu and LeCun, "Masked Siamese ConvNets", arXiv 2206.07700 (no official code). Erasing
parts of a ConvNet's input creates three problems the paper fixes one by one, each fix a switch
here so its ladder (``configs/mscn/ladder/``) can be replayed:

* parasitic edges: the network can match two views by the sharp borders of their masks. A
  high-pass filter applied before masking (:func:`high_pass`, :class:`HighPassFilter`) removes
  the low frequencies, so a masked region filled with (zero-mean) noise has no visible edge.
* broken local / global balance: besides random grid masks (cells on a 32 px grid at 224 px)
  a *focal* mask keeps one crop of the image, unresized, and masks the rest; 20 % of the masks
  are focal, 80 % grid (``focal_prob=0.2``).
* less learning signal: with probability 0.7 each colour channel gets its own mask
  (``channel_prob=0.7``), and the masked area is filled with random noise (``fill='noise'``)
  instead of a constant.

Mask ratio 0.15 is the paper's ResNet-50 default (stable up to 0.5). :class:`SiameseMask`
applies one mask per call with probability ``prob``, so the two branches of a ``MultiView``
pipeline can use different probabilities (asymmetric branches), and ``num_views`` > 1 on the
masked branch gives several masked views (multi-mask, paired by :class:`~mim_det.models.
selfsup.mscn.MultiMaskSiamese`).

The pure functions take a ``numpy.random.Generator`` so tests can draw them many times; the
transforms draw from numpy's global generator, which mmengine seeds per data-loader worker.

Not taken from the paper's text (which could not be read here) and chosen as stated:
the focal crop keeps ``1 - ratio`` of the area (so ``ratio`` means the masked fraction for both
kinds), a channel mask draws an independent mask of the same kind per channel, and the noise
matches each channel's mean and standard deviation over the visible pixels.
"""
from typing import Optional, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform

from mmpretrain.registry import TRANSFORMS

Ratio = Union[float, Tuple[float, float]]


def high_pass(img: np.ndarray, sigma: float) -> np.ndarray:
    """The image minus its Gaussian blur, with every channel's mean removed exactly.

    Args:
        img: (H, W) or (H, W, C) image, any dtype.
        sigma: standard deviation of the Gaussian in pixels (the cut-off scale).

    Returns:
        float32 array of the same shape with zero mean per channel (no energy at DC).
    """
    import cv2
    x = img.astype(np.float32)
    blurred = cv2.GaussianBlur(x, ksize=(0, 0), sigmaX=sigma, sigmaY=sigma,
                               borderType=cv2.BORDER_REFLECT_101)
    detail = x - blurred.reshape(x.shape)
    # the blur's border handling leaves a small DC residue; remove it so DC is exactly 0
    return detail - detail.mean(axis=(0, 1), keepdims=True)


def _draw_ratio(ratio: Ratio, rng: np.random.Generator) -> float:
    if isinstance(ratio, (tuple, list)):
        return float(rng.uniform(ratio[0], ratio[1]))
    return float(ratio)


def grid_masks(shape: Tuple[int, int], cell: int, ratio: float, count: int,
               rng: np.random.Generator) -> np.ndarray:
    """``count`` independent random grid masks: ``round(ratio * cells)`` cells of a ``cell``-px
    grid each.

    Returns:
        bool (count, H, W), True = masked. Partial cells at the right / bottom edge count as
        cells (a 224 px image on a 32 px grid has 7 x 7 = 49 cells).
    """
    h, w = shape
    gh, gw = -(-h // cell), -(-w // cell)
    num_masked = int(round(ratio * gh * gw))
    # a per-mask random permutation of the cells: the num_masked smallest keys are masked
    keys = rng.random((count, gh * gw))
    order = np.argsort(keys, axis=1)
    cells = np.zeros((count, gh * gw), dtype=bool)
    np.put_along_axis(cells, order[:, :num_masked], True, axis=1)
    cells = cells.reshape(count, gh, gw)
    return cells.repeat(cell, axis=1).repeat(cell, axis=2)[:, :h, :w]


def focal_masks(shape: Tuple[int, int], ratio: float, count: int,
                rng: np.random.Generator) -> np.ndarray:
    """``count`` independent focal masks: one crop of ``1 - ratio`` of the area, of the image's
    aspect ratio, at a random position, is kept (unresized); everything else is masked.

    Returns:
        bool (count, H, W), True = masked.
    """
    h, w = shape
    side = np.sqrt(max(0.0, 1.0 - ratio))
    kh, kw = max(1, int(round(h * side))), max(1, int(round(w * side)))
    top = rng.integers(0, h - kh + 1, size=count)
    left = rng.integers(0, w - kw + 1, size=count)
    rows = np.arange(h)[None, :, None]
    cols = np.arange(w)[None, None, :]
    kept = ((rows >= top[:, None, None]) & (rows < (top + kh)[:, None, None])
            & (cols >= left[:, None, None]) & (cols < (left + kw)[:, None, None]))
    return ~kept


def draw_siamese_mask(shape: Tuple[int, int, int], ratio: Ratio, grid_size: int,
                      focal_prob: float, channel_prob: float,
                      rng: np.random.Generator) -> Tuple[np.ndarray, str]:
    """One MSCN mask for an (H, W, C) image.

    Focal with probability ``focal_prob``, else grid; with probability ``channel_prob`` every
    channel draws its own mask of that kind, else one mask covers all channels.

    Returns:
        (bool mask of shape (H, W, C), True = masked; its kind: '[channel-]grid' or
        '[channel-]focal').
    """
    h, w, c = shape
    r = _draw_ratio(ratio, rng)
    focal = rng.random() < focal_prob
    per_channel = rng.random() < channel_prob
    count = c if per_channel else 1
    masks = focal_masks((h, w), r, count, rng) if focal else grid_masks((h, w), grid_size, r,
                                                                          count, rng)
    mask = np.broadcast_to(np.moveaxis(masks, 0, -1), (h, w, c))
    kind = ('channel-' if per_channel else '') + ('focal' if focal else 'grid')
    return np.ascontiguousarray(mask), kind


def fill_masked(img: np.ndarray, mask: np.ndarray, fill: str,
                rng: np.random.Generator) -> np.ndarray:
    """Replace the masked pixels of a float (H, W, C) image.

    ``fill='noise'``: Gaussian noise with each channel's mean and standard deviation over its
    visible pixels (the MSCN fill: no constant patch to recognise); ``'mean'``: that mean (a
    constant patch; after :func:`high_pass` it is the zero signal). Pixels outside the mask are
    returned unchanged.
    """
    if fill not in ('noise', 'mean'):
        raise ValueError(f"fill={fill!r}: use 'noise' or 'mean'")
    out = img.astype(np.float32, copy=True)
    visible = ~mask
    count = np.maximum(visible.sum(axis=(0, 1)), 1)
    mean = (out * visible).sum(axis=(0, 1)) / count
    if fill == 'mean':
        values = np.broadcast_to(mean, out.shape)
    else:
        var = (((out - mean)**2) * visible).sum(axis=(0, 1)) / count
        values = mean + np.sqrt(var) * rng.standard_normal(out.shape, dtype=np.float32)
    out[mask] = values[mask]
    return out


def _img_as_float32(results: dict) -> dict:
    """A view these transforms skip still leaves as float32, like one they change: a batch
    stacks its views into the first view's dtype (``default_collate``), so with ``prob`` < 1 an
    unchanged uint8 view first and a filtered float one later would fail to collate."""
    results['img'] = results['img'].astype(np.float32, copy=False)
    return results


@TRANSFORMS.register_module()
class HighPassFilter(BaseTransform):
    """MSCN's high-pass filter, applied before masking so mask edges are invisible.

    ``img`` (H, W, C) becomes float32 :func:`high_pass` ``(img, sigma) * gain + center`` (an
    unfiltered view, with ``prob`` < 1, becomes float32 unchanged).
    ``center`` is the data preprocessor's mean (given here in the image's channel order), so
    after normalisation the filtered image has zero mean; ``gain`` scales the detail.

    Args:
        sigma: Gaussian standard deviation in pixels at this view's resolution.
        gain: multiplier of the filtered image.
        center: per-channel value added back (default: ImageNet means in BGR order, the order
            ``LoadImageFromFile`` gives).
        prob: probability of filtering a view.
    """

    def __init__(self, sigma: float = 5.0, gain: float = 1.0,
                 center: Sequence[float] = (103.53, 116.28, 123.675), prob: float = 1.0):
        if sigma <= 0:
            raise ValueError(f'HighPassFilter: sigma={sigma} must be > 0 (pixels)')
        self.sigma, self.gain, self.prob = float(sigma), float(gain), float(prob)
        self.center = np.asarray(center, dtype=np.float32)

    def transform(self, results: dict) -> dict:
        if np.random.rand() >= self.prob:
            return _img_as_float32(results)
        img = results['img']
        center = self.center if img.ndim == 3 else self.center.mean()
        results['img'] = high_pass(img, self.sigma) * self.gain + center
        results['high_pass'] = True
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(sigma={self.sigma}, gain={self.gain}, '
                f'prob={self.prob})')


@TRANSFORMS.register_module()
class SiameseMask(BaseTransform):
    """One MSCN mask on a view: grid or focal, shared or per channel, filled with noise.

    Args:
        ratio: masked fraction of the image, or a (low, high) range drawn per mask. MSCN: 0.15.
        grid_size: grid cell in pixels at this view's resolution (MSCN: 32 at 224 px).
        focal_prob: probability that a mask is focal rather than grid (MSCN: 0.2).
        channel_prob: probability that each channel gets its own mask (MSCN: 0.7).
        fill: 'noise' (MSCN) or 'mean' (the constant fill of the ladder's early steps).
        prob: probability of masking a view (per branch: the asymmetric-branch setting).
        high_pass: ``HighPassFilter`` arguments (e.g. ``dict(sigma=2.0)``) to filter exactly the
            views this transform masks, just before masking; the views it skips stay natural.
            The filter exists to hide mask edges, so this couples it to the mask's coin (the
            ``RandomApply`` of both would leave skipped views uint8 and drop the float cast).
            ``None`` (default): filter separately with :class:`HighPassFilter`.

    Adds ``results['siamese_mask']`` (bool (H, W, C)) and ``results['siamese_mask_kind']``
    for inspection; the packed input is the masked ``img`` (float32; an unmasked view, with
    ``prob`` < 1, becomes float32 unchanged).
    """

    def __init__(self, ratio: Ratio = 0.15, grid_size: int = 32, focal_prob: float = 0.2,
                 channel_prob: float = 0.7, fill: str = 'noise', prob: float = 1.0,
                 high_pass: Optional[dict] = None):
        low, high = (ratio if isinstance(ratio, (tuple, list)) else (ratio, ratio))
        if not 0.0 <= low <= high < 1.0:
            raise ValueError(f'SiameseMask: ratio={ratio!r} must lie in [0, 1) (e.g. 0.15)')
        if grid_size < 1:
            raise ValueError(f'SiameseMask: grid_size={grid_size} must be >= 1 pixel')
        for name, p in (('focal_prob', focal_prob), ('channel_prob', channel_prob),
                        ('prob', prob)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f'SiameseMask: {name}={p} must lie in [0, 1]')
        if fill not in ('noise', 'mean'):
            raise ValueError(f"SiameseMask: fill={fill!r}: use 'noise' or 'mean'")
        self.ratio = tuple(ratio) if isinstance(ratio, (tuple, list)) else float(ratio)
        self.grid_size, self.fill = int(grid_size), fill
        self.focal_prob, self.channel_prob, self.prob = focal_prob, channel_prob, prob
        self.high_pass = None if high_pass is None else HighPassFilter(**high_pass, prob=1.0)

    def transform(self, results: dict) -> dict:
        rng = np.random.default_rng(np.random.randint(2**31))
        if rng.random() >= self.prob:
            return _img_as_float32(results)
        if self.high_pass is not None:
            results = self.high_pass.transform(results)
        img = results['img']
        squeeze = img.ndim == 2
        if squeeze:
            img = img[..., None]
        mask, kind = draw_siamese_mask(img.shape, self.ratio, self.grid_size, self.focal_prob,
                                       self.channel_prob, rng)
        out = fill_masked(img, mask, self.fill, rng)
        results['img'] = out[..., 0] if squeeze else out
        results['siamese_mask'] = mask[..., 0] if squeeze else mask
        results['siamese_mask_kind'] = kind
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(ratio={self.ratio}, grid_size={self.grid_size}, '
                f'focal_prob={self.focal_prob}, channel_prob={self.channel_prob}, '
                f'fill={self.fill!r}, prob={self.prob}, high_pass={self.high_pass!r})')

