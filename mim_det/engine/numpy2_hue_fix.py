"""mmcv 2.1.0's ``adjust_hue`` under NumPy 2: negative hue shifts crash.

mmcv shifts the 8-bit hue channel by ``np.uint8(hue_factor * 255)``. NumPy 1 wrapped a
negative value (-12 -> 244); NumPy 2 raises ``OverflowError: Python integer -12 out of bounds
for uint8``. So mmpretrain's ``ColorJitter(hue=h)``, which draws the factor from [-h, h] (SimCLR,
BYOL, MSCN: hue 0.2), stops the data loader at the first negative draw.
:func:`install_numpy2_adjust_hue` puts a version into mmcv that wraps the shift modulo 256
explicitly, which is exactly what NumPy 1 computed. Importing mim_det installs it.
"""
from typing import Optional

import numpy as np


def _shift_hue(hue: np.ndarray, hue_factor: float) -> np.ndarray:
    """Rotate an 8-bit hue channel by ``hue_factor`` of a turn (truncated to 1/255 steps)."""
    shift = int(hue_factor * 255) % 256
    return ((hue.astype(np.int16) + shift) % 256).astype(np.uint8)


def adjust_hue(img: np.ndarray, hue_factor: float, backend: Optional[str] = None) -> np.ndarray:
    """mmcv's ``adjust_hue`` (same arguments and results) with the hue shift wrapped explicitly."""
    import cv2
    import mmcv.image.io as mmcv_io
    from PIL import Image

    backend = mmcv_io.imread_backend if backend is None else backend
    if backend not in ('cv2', 'pillow'):
        raise ValueError(f"backend: {backend} is not supported. Supported backends are 'cv2', "
                         "'pillow'")
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f'hue_factor:{hue_factor} is not in [-0.5, 0.5].')
    if not (isinstance(img, np.ndarray) and img.ndim in (2, 3)):
        raise TypeError('img should be ndarray with dim=[2 or 3].')
    if backend == 'pillow':
        assert img.dtype == np.uint8, 'Pillow backend only support uint8 type'
        rgb = Image.fromarray(img[..., ::-1], mode='RGB')
        h, s, v = rgb.convert('HSV').split()
        h = Image.fromarray(_shift_hue(np.array(h, dtype=np.uint8), hue_factor), 'L')
        return np.array(Image.merge('HSV', (h, s, v)).convert('RGB'), dtype=img.dtype)[..., ::-1]
    dtype = img.dtype
    h, s, v = cv2.split(cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_BGR2HSV_FULL))
    hsv = cv2.merge([_shift_hue(h, hue_factor), s, v])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR_FULL).astype(dtype)


def install_numpy2_adjust_hue() -> None:
    """Replace mmcv's ``adjust_hue`` wherever callers look it up (``mmcv.adjust_hue``,
    ``mmcv.image.adjust_hue``, ``mmcv.image.photometric.adjust_hue``). Idempotent."""
    import mmcv
    import mmcv.image
    import mmcv.image.photometric
    for module in (mmcv, mmcv.image, mmcv.image.photometric):
        module.adjust_hue = adjust_hue
