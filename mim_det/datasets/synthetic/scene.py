"""Render one synthetic scene: a cluttered background with occluding, textured objects.

A scene is painted back to front. Objects are placed one at a time; a placement is rejected
(and redrawn) when it would hide too much of an object already placed, or punch a hole into
one. The rejection keeps every painted object annotatable: its visible part stays large enough
and is described exactly by outer polygons (COCO polygons cannot express holes).

All randomness comes from the ``numpy.random.Generator`` passed in, so a scene is a pure
function of that generator's state.
"""
from dataclasses import dataclass, field
from typing import List, Tuple

import cv2
import numpy as np

from .categories import CATEGORIES, shape_outline, texture_weight

# An instance must keep at least this many visible pixels and this fraction of its full area.
MIN_VISIBLE_AREA = 40
MIN_VISIBLE_FRACTION = 0.3
# Occlusion can leave slivers of a few pixels; they carry no shape information.
MIN_FRAGMENT_AREA = 6
# An object that sticks out of the image keeps at least this fraction inside it.
MIN_INSIDE_FRACTION = 0.55
MAX_PLACEMENT_TRIES = 15


@dataclass
class SceneInstance:
    """One annotated object: ``category_id`` (1-based) and its visible mask (H, W) bool."""
    category_id: int
    mask: np.ndarray
    full_area: int


@dataclass
class Scene:
    """A rendered scene.

    ``image``: (H, W, 3) uint8 RGB. ``instances``: annotated objects (depth order, back first),
    each with its visible mask (H, W) bool. ``semantic``: (H, W) uint8, 0 = background /
    distractors, otherwise the category id of the object visible at that pixel.
    """
    image: np.ndarray
    instances: List[SceneInstance] = field(default_factory=list)
    semantic: np.ndarray = None


def _colour(c) -> Tuple[float, float, float]:
    return tuple(float(x) for x in c)


def render_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A cluttered background (H, W, 3) uint8 RGB.

    Smooth, desaturated colour noise (so saturated textured objects stand out), blotchy
    mid-frequency luminance noise, random line segments and small irregular blobs. None of it
    is periodic, so it does not imitate the category textures.
    """
    gh, gw = (int(x) for x in rng.integers(2, 6, size=2))
    base = rng.uniform(40.0, 215.0, size=(gh, gw, 3))
    grey = base.mean(axis=2, keepdims=True)
    base = grey + (base - grey) * rng.uniform(0.2, 0.55)
    img = cv2.resize(base.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)

    cell = int(rng.integers(6, 14))
    blotch = rng.normal(0.0, 1.0, size=(height // cell + 2, width // cell + 2)).astype(np.float32)
    blotch = cv2.resize(blotch, (width, height), interpolation=cv2.INTER_CUBIC)
    img = img + blotch[:, :, None] * float(rng.uniform(5.0, 14.0))
    img = np.clip(img, 0, 255).astype(np.uint8)

    mean = img.reshape(-1, 3).mean(axis=0)
    for _ in range(int(rng.integers(5, 16))):
        p1 = rng.uniform([-0.2 * width, -0.2 * height], [1.2 * width, 1.2 * height])
        p2 = p1 + rng.normal(0.0, 0.4 * max(height, width), size=2)
        colour = np.clip(mean + rng.uniform(-80.0, 80.0, size=3), 0, 255)
        cv2.line(img, (int(p1[0]), int(p1[1])), (int(p2[0]), int(p2[1])), _colour(colour),
                 int(rng.integers(1, 3)), cv2.LINE_AA)

    for _ in range(int(rng.integers(5, 15))):
        n = int(rng.integers(6, 11))
        angles = np.sort(rng.uniform(0.0, 2 * np.pi, size=n))
        radii = rng.uniform(3.0, 11.0) * rng.uniform(0.45, 1.0, size=n)
        centre = rng.uniform([0, 0], [width, height])
        pts = centre + np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
        cv2.fillPoly(img, [np.round(pts * 16).astype(np.int32)],
                     _colour(rng.uniform(0, 255, size=3)), cv2.LINE_AA, 4)
    return img


def _sample_size(rng: np.random.Generator, height: int, width: int) -> float:
    # A mixture rather than one range, so COCO's small (< 32^2 px), medium and large (> 96^2 px)
    # area buckets are all well populated.
    r = rng.uniform()
    if r < 0.3:
        return float(rng.uniform(14.0, 34.0))
    if r < 0.72:
        return float(rng.uniform(34.0, 100.0))
    # Shapes fill only ~40-70 % of size^2, so "large" needs sizes well above 96 px.
    return float(rng.uniform(110.0, max(120.0, min(170.0, 0.9 * min(height, width)))))


def _contrasting_colours(rng: np.random.Generator, bg_mean: np.ndarray):
    """Two RGB colours far from the local background and from each other."""
    cand = rng.uniform(0.0, 255.0, size=(48, 3))
    d_bg = np.linalg.norm(cand - bg_mean, axis=1)
    ok = np.nonzero(d_bg > 95.0)[0]
    a = cand[ok[0]] if ok.size else cand[np.argmax(d_bg)]
    d_a = np.linalg.norm(cand - a, axis=1)
    score = np.minimum(d_a / 110.0, d_bg / 80.0)
    ok = np.nonzero(score > 1.0)[0]
    b = cand[ok[0]] if ok.size else cand[np.argmax(score)]
    return a, b


def _has_hole(mask: np.ndarray) -> bool:
    """Whether background pixels are enclosed by the (8-connected) foreground of ``mask``."""
    padded = np.pad(~mask, 1, constant_values=True).astype(np.uint8)
    # The padding ring joins everything outside the object into one component (plus label 0
    # for the object itself); a further component is enclosed background, i.e. a hole.
    n, _ = cv2.connectedComponents(padded, connectivity=4)
    return n > 2


class _Placed:
    __slots__ = ('category_id', 'full_area', 'box', 'visible_area')

    def __init__(self, category_id, full_area, box, visible_area):
        self.category_id = category_id
        self.full_area = full_area
        self.box = box  # (x0, y0, x1, y1) clipped to the image, exclusive ends
        self.visible_area = visible_area


def _rasterize(verts: np.ndarray, height: int, width: int):
    """Fill polygon ``verts`` (N, 2) image coords; return full area, clipped box, clipped mask."""
    x0 = int(np.floor(verts[:, 0].min())) - 1
    y0 = int(np.floor(verts[:, 1].min())) - 1
    x1 = int(np.ceil(verts[:, 0].max())) + 2
    y1 = int(np.ceil(verts[:, 1].max())) + 2
    patch = np.zeros((y1 - y0, x1 - x0), np.uint8)
    # Sub-pixel vertices (shift=4) keep small rotated shapes symmetric.
    cv2.fillPoly(patch, [np.round((verts - [x0, y0]) * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
    full_area = int(patch.sum())
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if cx1 <= cx0 or cy1 <= cy0:
        return full_area, None, None
    clipped = patch[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0].astype(bool)
    return full_area, (cx0, cy0, cx1, cy1), clipped


def _paint_object(rng, img: np.ndarray, bg: np.ndarray, box, mask: np.ndarray, centre,
                  theta: float, size: float, texture: str) -> None:
    x0, y0, x1, y1 = box
    dx = np.arange(x0, x1, dtype=np.float32)[None, :] - centre[0]
    dy = np.arange(y0, y1, dtype=np.float32)[:, None] - centre[1]
    c, s = np.float32(np.cos(theta)), np.float32(np.sin(theta))
    u = dx * c + dy * s
    v = -dx * s + dy * c
    w = texture_weight(texture, u, v, size, rng)[..., None]
    bg_mean = bg[y0:y1, x0:x1][mask].reshape(-1, 3).mean(axis=0)
    col_a, col_b = _contrasting_colours(rng, bg_mean)
    obj = col_a.astype(np.float32) * (1.0 - w) + col_b.astype(np.float32) * w
    # A gentle lighting ramp and grain so that flat regions are not perfectly constant.
    shade = float(rng.uniform(-12.0, 12.0)) * (u / max(size, 1.0))
    obj = obj + shade[..., None] + rng.normal(0.0, 4.0, size=obj.shape).astype(np.float32)
    region = img[y0:y1, x0:x1]
    region[mask] = obj[mask]


def render_scene(rng: np.random.Generator, height: int, width: int,
                 num_objects: Tuple[int, int] = (3, 8)) -> Scene:
    """Render a scene of size (height, width) with ``num_objects`` (inclusive range) objects.

    Returns a :class:`Scene` with an (H, W, 3) uint8 RGB image, the annotated instances
    (visible masks (H, W) bool, every one at least ``MIN_VISIBLE_AREA`` px and
    ``MIN_VISIBLE_FRACTION`` of its full area, without holes) and an (H, W) uint8 semantic map.
    """
    bg = render_background(rng, height, width)
    img = bg.astype(np.float32)
    top = np.full((height, width), -1, np.int16)  # index of the object painted last per pixel
    placed: List[_Placed] = []

    for _ in range(int(rng.integers(num_objects[0], num_objects[1] + 1))):
        cat = CATEGORIES[int(rng.integers(0, len(CATEGORIES)))]
        for _try in range(MAX_PLACEMENT_TRIES):
            size = _sample_size(rng, height, width)
            theta = float(rng.uniform(0.0, 2 * np.pi))
            centre = rng.uniform([0.2 * size, 0.2 * size],
                                 [max(width - 0.2 * size, 0.2 * size + 1),
                                  max(height - 0.2 * size, 0.2 * size + 1)])
            local = shape_outline(cat['shape'], size, rng)
            rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
            verts = local @ rot.T + centre
            full_area, box, mask = _rasterize(verts, height, width)
            if box is None:
                continue
            inside = int(mask.sum())
            if inside < max(MIN_VISIBLE_AREA, MIN_INSIDE_FRACTION * full_area):
                continue
            if _occlusion_ok(top, placed, box, mask, height, width):
                break
        else:
            continue  # no acceptable placement: leave this object out entirely

        x0, y0, x1, y1 = box
        under = top[y0:y1, x0:x1][mask]
        under = under[under >= 0]
        if under.size:
            lost = np.bincount(under, minlength=len(placed))
            for j in np.nonzero(lost)[0]:
                placed[j].visible_area -= int(lost[j])
        top[y0:y1, x0:x1][mask] = len(placed)
        placed.append(_Placed(cat['id'], full_area, box, inside))
        _paint_object(rng, img, bg, box, mask, centre, theta, size, cat['texture'])

    # Fine sensor-like grain over everything, so object interiors and background share noise.
    img += rng.normal(0.0, 2.5, size=img.shape).astype(np.float32)
    image = np.clip(np.round(img), 0, 255).astype(np.uint8)

    ids = np.array([0] + [p.category_id for p in placed], np.uint8)
    semantic = ids[top.astype(np.int32) + 1]

    instances = []
    for j, p in enumerate(placed):
        vis = _drop_fragments(top == j)
        area = int(vis.sum())
        if area < MIN_VISIBLE_AREA or area < MIN_VISIBLE_FRACTION * p.full_area:
            continue
        instances.append(SceneInstance(p.category_id, vis, p.full_area))
    return Scene(image=image, instances=instances, semantic=semantic)


def _occlusion_ok(top, placed, box, mask, height, width) -> bool:
    """Whether a candidate object (``mask`` inside ``box``) keeps all placed objects valid."""
    x0, y0, x1, y1 = box
    under = top[y0:y1, x0:x1][mask]
    under = under[under >= 0]
    if under.size == 0:
        return True
    lost = np.bincount(under, minlength=len(placed))
    cand = None
    for j in np.nonzero(lost)[0]:
        p = placed[j]
        remaining = p.visible_area - int(lost[j])
        if remaining < max(MIN_VISIBLE_AREA, MIN_VISIBLE_FRACTION * p.full_area):
            return False
        if cand is None:
            cand = np.zeros((height, width), bool)
            cand[y0:y1, x0:x1] = mask
        jx0, jy0, jx1, jy1 = p.box
        vis = (top[jy0:jy1, jx0:jx1] == j) & ~cand[jy0:jy1, jx0:jx1]
        if _has_hole(vis):
            return False
    return True


def _drop_fragments(mask: np.ndarray) -> np.ndarray:
    """``mask`` (H, W) bool without 8-connected pieces smaller than ``MIN_FRAGMENT_AREA``."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 2:
        if n == 2 and stats[1, cv2.CC_STAT_AREA] < MIN_FRAGMENT_AREA:
            return np.zeros_like(mask)
        return mask
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= MIN_FRAGMENT_AREA
    return keep[labels]
