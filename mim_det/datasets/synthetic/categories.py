"""The six object categories of the synthetic scenes: an outline and a texture each.

A category is only identifiable from its shape *and* its texture: every object gets two random
colours, so colour carries no class information. Shapes are described as polygons in the
object's own frame (origin at the object centre, before rotation) and textures as a weight map
``w`` in ``[0, 1]`` that blends the object's two colours (``0`` = first colour, ``1`` = second).
"""
from typing import Dict, List

import numpy as np

CATEGORIES: List[Dict] = [
    dict(id=1, name='disc', shape='ellipse', texture='polka_dots'),
    dict(id=2, name='square', shape='rectangle', texture='stripes'),
    dict(id=3, name='triangle', shape='triangle', texture='checkerboard'),
    dict(id=4, name='star', shape='star5', texture='solid'),
    dict(id=5, name='hexagon', shape='hexagon', texture='rings'),
    dict(id=6, name='cross', shape='plus', texture='gradient'),
]

CATEGORY_NAMES = tuple(c['name'] for c in CATEGORIES)
NUM_CATEGORIES = len(CATEGORIES)


def _regular_polygon(n: int, radius: float, start: float) -> np.ndarray:
    angles = start + 2 * np.pi * np.arange(n) / n
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)


def shape_outline(shape: str, size: float, rng: np.random.Generator) -> np.ndarray:
    """Vertices ``(N, 2)`` float64 ``(u, v)`` of ``shape`` centred at the origin, unrotated.

    ``size`` is roughly the object's diameter in pixels; the shapes are scaled so that their
    extents are comparable (the filled areas differ by shape).
    """
    half = size / 2.0
    if shape == 'ellipse':
        # Enough vertices that the polygon edge stays well below a pixel from the true ellipse.
        n = int(np.clip(size * 1.5, 24, 160))
        minor = half * rng.uniform(0.75, 1.0)
        t = 2 * np.pi * np.arange(n) / n
        return np.stack([half * np.cos(t), minor * np.sin(t)], axis=1)
    if shape == 'rectangle':
        aspect = rng.uniform(1.0, 1.3)
        hw = half * 0.78
        hh = hw / aspect
        return np.array([[-hw, -hh], [hw, -hh], [hw, hh], [-hw, hh]])
    if shape == 'triangle':
        # A slightly larger circumradius than the others: triangles fill little of their circle.
        return _regular_polygon(3, half * 1.1, -np.pi / 2)
    if shape == 'star5':
        outer = half * 1.05
        inner = outer * rng.uniform(0.42, 0.5)
        pts = _regular_polygon(10, 1.0, -np.pi / 2)
        radii = np.where(np.arange(10) % 2 == 0, outer, inner)
        return pts * radii[:, None]
    if shape == 'hexagon':
        return _regular_polygon(6, half, 0.0)
    if shape == 'plus':
        arm = half
        t = arm * rng.uniform(0.3, 0.38)
        return np.array([[-t, -arm], [t, -arm], [t, -t], [arm, -t], [arm, t], [t, t],
                         [t, arm], [-t, arm], [-t, t], [-arm, t], [-arm, -t], [-t, -t]])
    raise ValueError(f'unknown shape {shape!r}')


def _soft_step(x: np.ndarray, sharpness: float = 3.0) -> np.ndarray:
    # A steep clipped ramp instead of a hard threshold: texture edges get about one pixel of
    # blending, which limits aliasing on small objects.
    return np.clip(0.5 + sharpness * x, 0.0, 1.0)


def texture_weight(texture: str, u: np.ndarray, v: np.ndarray, size: float,
                   rng: np.random.Generator) -> np.ndarray:
    """Colour-blend weights ``(h, w)`` float32 in ``[0, 1]`` for object-frame coords ``u, v``.

    ``u`` and ``v`` are ``(h, w)`` float arrays of pixel positions relative to the object centre
    in the object's rotated frame, so textures turn with the object.
    """
    # The period grows with the object but stays at least a few pixels, so the pattern is
    # resolvable on mid-sized objects and degrades gracefully on tiny ones.
    period = float(np.clip(size * rng.uniform(0.14, 0.22), 4.0, 18.0))
    phase_u, phase_v = rng.uniform(0.0, 1.0, size=2)
    if texture == 'polka_dots':
        radius = period * rng.uniform(0.24, 0.32)
        du = np.mod(u / period + phase_u, 1.0) - 0.5
        dv = np.mod(v / period + phase_v, 1.0) - 0.5
        dist = np.sqrt(du * du + dv * dv) * period
        w = np.clip(radius - dist + 0.5, 0.0, 1.0)
    elif texture == 'stripes':
        w = _soft_step(np.sin(2 * np.pi * (u / period + phase_u)))
    elif texture == 'checkerboard':
        cell = period * 0.6
        s = np.sin(np.pi * (u / cell + phase_u)) * np.sin(np.pi * (v / cell + phase_v))
        w = _soft_step(s, 4.0)
    elif texture == 'solid':
        w = np.zeros_like(u)
    elif texture == 'rings':
        r = np.sqrt(u * u + v * v)
        w = _soft_step(np.sin(2 * np.pi * (r / (period * 0.8) + phase_u)))
    elif texture == 'gradient':
        extent = max(float(np.abs(u).max()), 1.0)
        w = np.clip((u / extent + 1.0) / 2.0, 0.0, 1.0)
    else:
        raise ValueError(f'unknown texture {texture!r}')
    return w.astype(np.float32)
