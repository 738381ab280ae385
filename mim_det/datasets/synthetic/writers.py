"""Write synthetic scenes in four on-disk formats: an image folder (with image-level labels for
supervised baselines), an ImageNet-style labelled folder (one object per image), COCO and ADE20k.

Every ``generate_*`` function takes the top-level output folder (``data/`` by default) and
writes one dataset folder below it (``pretrain/``, ``classify/``, ``coco/``, ``ade/``). Each dataset folder
gets a ``generator_meta.json`` stamp (generator version, seed, counts); a folder whose stamp
matches the request is left alone, a folder with a different stamp is cleared and rewritten.

Output is a pure function of (seed, counts): every image draws from its own generator seeded
with (seed, split, index), files are encoded with fixed settings and no timestamps.
"""
import json
import os
import os.path as osp
import shutil
import time
import zlib
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from .categories import CATEGORIES
from .scene import render_scene

# Bump when the rendering or the file layout changes: stale stamps then trigger regeneration.
GENERATOR_VERSION = '1'
META_FILE = 'generator_meta.json'
JPEG_QUALITY = 95
PNG_COMPRESSION = 3

PRETRAIN_SIZE = (224, 224)
CLASSIFY_SIZE = (112, 112)
COCO_SIZE_RANGE = (192, 320)
ADE_SIZE_RANGE = (224, 320)
NUM_OBJECTS = (3, 8)

# Polygons are traced on a mask upsampled this much, so vertices lie within 1/8 px of the
# pixel edges and pycocotools rasterises them back to exactly the same pixels.
_TRACE_SCALE = 4
_TRACE_EPSILON = 1.5  # approxPolyDP tolerance in upsampled pixels (0.375 px)

# category id (1-based, COCO / ADE20k) -> label index (0-based, the classification lists)
_CATEGORY_INDEX = {c['id']: i for i, c in enumerate(CATEGORIES)}
#: image-level labels of the pretraining images, relative to ``<out_dir>/pretrain``
PRETRAIN_LABELED_LIST = 'meta/train_labeled.txt'

COCO_INFO = {
    'description': 'mim_det synthetic shapes (COCO instance segmentation format)',
    'url': '',
    'version': GENERATOR_VERSION,
    'year': 2024,
    'contributor': 'mim_det.datasets.synthetic',
    'date_created': '2024-01-01',
}
COCO_LICENSES = [{'id': 1, 'name': 'CC0 1.0 (synthetic data)',
                  'url': 'https://creativecommons.org/publicdomain/zero/1.0/'}]


# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------
def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of image ``index`` of ``split``; independent of every other image."""
    # crc32 is stable across processes and Python versions, unlike hash().
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(split.encode()), index]))


def _random_size(rng: np.random.Generator, lo_hi: Tuple[int, int]) -> Tuple[int, int]:
    h, w = rng.integers(lo_hi[0], lo_hi[1] + 1, size=2)
    return int(h), int(w)


def encode_jpeg(image: np.ndarray) -> bytes:
    """JPEG bytes of an (H, W, 3) uint8 RGB image (quality 95)."""
    ok, buf = cv2.imencode('.jpg', np.ascontiguousarray(image[:, :, ::-1]),
                           [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError('JPEG encoding failed')
    return buf.tobytes()


def encode_png(label: np.ndarray) -> bytes:
    """PNG bytes of an (H, W) uint8 single-channel label map."""
    ok, buf = cv2.imencode('.png', label, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    if not ok:
        raise RuntimeError('PNG encoding failed')
    return buf.tobytes()


def _write(path: str, data) -> None:
    mode = 'wb' if isinstance(data, bytes) else 'w'
    with open(path, mode) as f:
        f.write(data)


def _write_atomic(path: str, text: str) -> None:
    """Write ``text`` through a temporary file and a rename: a reader never sees half a file,
    so an interrupted write leaves no list that looks complete."""
    tmp = f'{path}.tmp{os.getpid()}'
    _write(tmp, text)
    os.replace(tmp, path)


def largest_object_label(scene) -> Optional[int]:
    """The image-level label of a scene: the :data:`CATEGORIES` index (0-based, the order of
    the ``classify/`` lists) of its largest visible object, by visible pixel count; ties go to
    the object painted first. ``None`` for a scene without annotated objects."""
    if not scene.instances:
        return None
    areas = [int(inst.mask.sum()) for inst in scene.instances]
    largest = scene.instances[int(np.argmax(areas))]
    return _CATEGORY_INDEX[largest.category_id]


def mask_to_coco(mask: np.ndarray) -> Tuple[List[List[float]], int, List[float]]:
    """COCO ``(segmentation, area, bbox)`` of a visible mask (H, W) bool.

    ``segmentation`` is a list of polygons ``[x1, y1, x2, y2, ...]`` (one per 8-connected piece,
    outer boundaries only), ``area`` the mask's pixel count and ``bbox`` its tight box
    ``[x, y, w, h]`` in pixel-edge coordinates.
    """
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return [], 0, [0.0, 0.0, 0.0, 0.0]
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()), int(ys.min()), int(ys.max())
    crop = mask[y0:y1 + 1, x0:x1 + 1].astype(np.uint8)
    k = _TRACE_SCALE
    up = np.repeat(np.repeat(crop, k, axis=0), k, axis=1)
    contours, _ = cv2.findContours(up, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    height, width = mask.shape
    polygons = []
    for contour in contours:
        contour = cv2.approxPolyDP(contour, _TRACE_EPSILON, True).reshape(-1, 2)
        if len(contour) < 3 or cv2.contourArea(contour) < k * k:
            continue
        # Upsampled pixel centres, in pycocotools' pixel-edge coordinates.
        pts = (contour.astype(np.float64) + 0.5) / k + (x0, y0)
        pts[:, 0] = np.clip(pts[:, 0], 0.0, width)
        pts[:, 1] = np.clip(pts[:, 1], 0.0, height)
        polygons.append([float(v) for v in pts.ravel()])
    bbox = [float(x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1)]
    return polygons, int(xs.size), bbox


# ---------------------------------------------------------------------------------------------
# output folders and stamps
# ---------------------------------------------------------------------------------------------
def _check_count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f'{name} must be a non-negative integer, got {value!r}')
    return int(value)


def _prepare_out_dir(out_dir) -> str:
    """Create ``out_dir`` if needed; a clear ValueError naming it when that is impossible."""
    if not isinstance(out_dir, (str, os.PathLike)) or not os.fspath(out_dir):
        raise ValueError(f'out_dir must be a non-empty path, got {out_dir!r}')
    out_dir = osp.normpath(os.fspath(out_dir))
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise ValueError(f"output directory '{out_dir}' exists and is not a directory")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ValueError(f"cannot create output directory '{out_dir}': a parent path is not a "
                         'directory') from None
    except OSError as exc:
        raise ValueError(f"cannot create output directory '{out_dir}': "
                         f'{exc.strerror or exc}') from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise ValueError(f"output directory '{out_dir}' is not writable")
    return out_dir


def _makedirs(path: str) -> None:
    try:
        os.makedirs(path, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ValueError(f"cannot create directory '{path}': a path in the way is not a "
                         'directory') from None


def _stamp(dataset: str, seed: int, counts: Dict[str, int]) -> Dict:
    return {'generator': 'mim_det.datasets.synthetic', 'version': GENERATOR_VERSION,
            'dataset': dataset, 'seed': int(seed), 'counts': dict(counts)}


def _read_stamp(root: str) -> Optional[Dict]:
    try:
        with open(osp.join(root, META_FILE)) as f:
            stamp = json.load(f)
        return stamp if isinstance(stamp, dict) else {}
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # unreadable: treated as stale, i.e. ours but outdated


def _write_stamp(root: str, stamp: Dict, complete: bool, stats: Optional[Dict] = None) -> None:
    data = dict(stamp, complete=complete, stats=stats or {})
    _write(osp.join(root, META_FILE), json.dumps(data, indent=2, sort_keys=True) + '\n')


def _remove(path: str) -> None:
    # Never follow links: a symlinked folder may hold someone's real data.
    if osp.islink(path) or osp.isfile(path):
        os.remove(path)
    elif osp.isdir(path):
        shutil.rmtree(path)


def _begin(root: str, stamp: Dict, generated: List[str], force: bool) -> Optional[Dict]:
    """Decide whether ``root`` must be (re)generated; clear it if so.

    Returns the stored stats when the folder is up to date (skip), else ``None`` after removing
    the generated paths of a stale or forced folder and writing an incomplete stamp.
    """
    if osp.exists(root) and not osp.isdir(root):
        raise ValueError(f"'{root}' exists and is not a directory")
    old = _read_stamp(root) if osp.isdir(root) else None
    if old is not None:
        current = {k: old.get(k) for k in stamp} == stamp and old.get('complete') is True
        if current and not force:
            return old.get('stats') or {}
    elif osp.isdir(root) and os.listdir(root) and not force:
        raise ValueError(f"'{root}' exists but was not written by the data generator (no "
                         f'{META_FILE}); move it away, choose another out dir, or pass --force '
                         '(force=True) to overwrite its generated parts')
    for rel in generated:
        _remove(osp.join(root, rel))
    _makedirs(root)
    # Written first and completed last: an interrupted run leaves a stamp that never matches.
    _write_stamp(root, stamp, complete=False)
    return None


# ---------------------------------------------------------------------------------------------
# the three datasets
# ---------------------------------------------------------------------------------------------
def _pretrain_scenes(seed: int, num: int):
    """``(index, scene)`` of every pretraining image, each from its own generator."""
    for i in range(num):
        yield i, render_scene(image_rng(seed, 'pretrain', i), PRETRAIN_SIZE[0], PRETRAIN_SIZE[1],
                              NUM_OBJECTS)


def _labeled_lines(labels: List[Tuple[int, Optional[int]]]) -> str:
    # paths relative to the dataset root (as classify/'s lists), so the list needs no
    # data_prefix; scenes without an annotated object have no label and are left out
    return ''.join(f'train/images/{i:06d}.jpg {label}\n' for i, label in labels
                   if label is not None)


def generate_pretrain_images(out_dir: str = 'data', num: int = 3000, seed: int = 0,
                             force: bool = False) -> Dict:
    """224x224 JPEG scenes for self-supervised pretraining, with image-level labels for
    supervised baselines.

    Writes ``<out_dir>/pretrain/train/images/000000.jpg ...`` (mmpretrain ``CustomDataset``
    with ``data_root=<out_dir>/pretrain, data_prefix='train', with_label=False``),
    ``<out_dir>/pretrain/meta/train.txt`` with ``images/000000.jpg 0`` lines (ImageNet-style
    ann_file, paths relative to ``train/``, dummy label 0) and
    ``<out_dir>/pretrain/meta/train_labeled.txt`` with ``train/images/000000.jpg 3`` lines
    (``CustomDataset`` with ``data_root=<out_dir>/pretrain, ann_file='meta/train_labeled.txt'``):
    the label of a scene is the category of its largest visible object
    (:func:`largest_object_label`, labels in :data:`CATEGORIES` order as ``classify/``); a scene
    without annotated objects (rare) is left out of that list.

    The labels are read off the scenes the images are rendered from, after rendering: no random
    draw is added, so the images and ``train.txt`` are the bytes they were before the labels
    existed. A folder generated before then (its stamp matches, the list is missing) gets the
    list without rewriting any image: its scenes are rendered again (no encoding, no writes).

    Returns paths and counts (``num_labeled``: lines of the labelled list; ``labels_added``:
    whether this call wrote that list).
    """
    num = _check_count('num_pretrain', num)
    seed = _check_count('seed', seed)
    out_dir = _prepare_out_dir(out_dir)
    root = osp.join(out_dir, 'pretrain')
    info = {'root': root, 'img_dir': osp.join(root, 'train', 'images'),
            'ann_file': osp.join(root, 'meta', 'train.txt'),
            'labeled_ann_file': osp.join(root, PRETRAIN_LABELED_LIST), 'num_images': num}
    stamp = _stamp('pretrain', seed, {'train': num})
    generated = ['train/images', 'meta/train.txt', PRETRAIN_LABELED_LIST, META_FILE]
    stats = _begin(root, stamp, generated, force)
    if stats is not None:
        labels_added = 'labeled' not in stats or not osp.isfile(info['labeled_ann_file'])
        if labels_added:
            # up to date but written before the labels existed: the stamp vouches that the
            # images are these scenes, so only the list is written
            labels = [(i, largest_object_label(scene))
                      for i, scene in _pretrain_scenes(seed, num)]
            _makedirs(osp.dirname(info['labeled_ann_file']))
            _write_atomic(info['labeled_ann_file'], _labeled_lines(labels))
            stats = dict(stats, labeled=sum(label is not None for _, label in labels))
            _write_stamp(root, stamp, complete=True, stats=stats)
        return dict(info, num_labeled=stats['labeled'], skipped=True, labels_added=labels_added)

    _makedirs(info['img_dir'])
    _makedirs(osp.dirname(info['ann_file']))
    lines, labels = [], []
    for i, scene in _pretrain_scenes(seed, num):
        name = f'{i:06d}.jpg'
        _write(osp.join(info['img_dir'], name), encode_jpeg(scene.image))
        lines.append(f'images/{name} 0\n')
        labels.append((i, largest_object_label(scene)))
    _write(info['ann_file'], ''.join(lines))
    _write_atomic(info['labeled_ann_file'], _labeled_lines(labels))
    num_labeled = sum(label is not None for _, label in labels)
    _write_stamp(root, stamp, complete=True, stats={'images': num, 'labeled': num_labeled})
    return dict(info, num_labeled=num_labeled, skipped=False, labels_added=True)


def _coco_split(seed: int, split: str, num: int, img_dir: str) -> Tuple[Dict, int]:
    images, annotations = [], []
    for i in range(num):
        rng = image_rng(seed, f'coco_{split}', i)
        h, w = _random_size(rng, COCO_SIZE_RANGE)
        scene = render_scene(rng, h, w, NUM_OBJECTS)
        image_id = i + 1
        name = f'{image_id:012d}.jpg'
        _write(osp.join(img_dir, name), encode_jpeg(scene.image))
        images.append({'id': image_id, 'file_name': name, 'width': w, 'height': h,
                       'license': 1})
        for inst in scene.instances:
            polygons, area, bbox = mask_to_coco(inst.mask)
            if not polygons:
                continue
            annotations.append({'id': len(annotations) + 1, 'image_id': image_id,
                                'category_id': inst.category_id, 'segmentation': polygons,
                                'area': float(area), 'bbox': bbox, 'iscrowd': 0})
    categories = [{'id': c['id'], 'name': c['name'], 'supercategory': 'shape'}
                  for c in CATEGORIES]
    coco = {'info': COCO_INFO, 'licenses': COCO_LICENSES, 'images': images,
            'annotations': annotations, 'categories': categories}
    return coco, len(annotations)


def generate_coco(out_dir: str = 'data', num_train: int = 60, num_val: int = 100, seed: int = 0,
                  force: bool = False) -> Dict:
    """COCO instance segmentation: JPEG scenes of random size (192..320 px per side).

    Writes ``<out_dir>/coco/{train2017,val2017}/000000000001.jpg ...`` and
    ``<out_dir>/coco/annotations/instances_{train2017,val2017}.json`` (polygon segmentations
    of the visible parts, ``area`` = visible pixel count, ``bbox`` = tight visible box, ids
    from 1). Returns paths and image / instance counts.
    """
    num_train = _check_count('num_coco_train', num_train)
    num_val = _check_count('num_coco_val', num_val)
    seed = _check_count('seed', seed)
    out_dir = _prepare_out_dir(out_dir)
    root = osp.join(out_dir, 'coco')
    info = {'root': root,
            'train_img_dir': osp.join(root, 'train2017'),
            'val_img_dir': osp.join(root, 'val2017'),
            'train_ann_file': osp.join(root, 'annotations', 'instances_train2017.json'),
            'val_ann_file': osp.join(root, 'annotations', 'instances_val2017.json'),
            'num_train': num_train, 'num_val': num_val}
    stamp = _stamp('coco', seed, {'train': num_train, 'val': num_val})
    generated = ['train2017', 'val2017', 'annotations/instances_train2017.json',
                 'annotations/instances_val2017.json', META_FILE]
    stats = _begin(root, stamp, generated, force)
    if stats is not None:
        return dict(info, num_train_instances=stats.get('train_instances'),
                    num_val_instances=stats.get('val_instances'), skipped=True)

    _makedirs(osp.join(root, 'annotations'))
    counts = {}
    for split, num in (('train', num_train), ('val', num_val)):
        img_dir = info[f'{split}_img_dir']
        _makedirs(img_dir)
        coco, n_inst = _coco_split(seed, split, num, img_dir)
        _write(info[f'{split}_ann_file'], json.dumps(coco, separators=(',', ':')))
        counts[f'{split}_instances'] = n_inst
    _write_stamp(root, stamp, complete=True, stats=counts)
    return dict(info, num_train_instances=counts['train_instances'],
                num_val_instances=counts['val_instances'], skipped=False)


def generate_ade(out_dir: str = 'data', num_train: int = 40, num_val: int = 50, seed: int = 0,
                 force: bool = False) -> Dict:
    """ADE20k-style semantic segmentation (mmseg ``ADE20KDataset`` layout).

    Writes ``<out_dir>/ade/ADEChallengeData2016/images/{training,validation}/
    ADE_{train,val}_00000001.jpg`` (scenes of 224..320 px per side) and
    ``annotations/{training,validation}/<same stem>.png``: (H, W) uint8, 0 = background /
    "other" (ignored with ``reduce_zero_label=True``), 1..6 = category id. Returns paths and
    counts.
    """
    num_train = _check_count('num_ade_train', num_train)
    num_val = _check_count('num_ade_val', num_val)
    seed = _check_count('seed', seed)
    out_dir = _prepare_out_dir(out_dir)
    top = osp.join(out_dir, 'ade')
    root = osp.join(top, 'ADEChallengeData2016')
    info = {'root': root, 'num_train': num_train, 'num_val': num_val}
    stamp = _stamp('ade', seed, {'train': num_train, 'val': num_val})
    sub = 'ADEChallengeData2016'
    generated = [f'{sub}/images/training', f'{sub}/images/validation',
                 f'{sub}/annotations/training', f'{sub}/annotations/validation', META_FILE]
    stats = _begin(top, stamp, generated, force)
    if stats is not None:
        return dict(info, skipped=True)

    for split, folder, prefix, num in (('train', 'training', 'ADE_train', num_train),
                                       ('val', 'validation', 'ADE_val', num_val)):
        img_dir = osp.join(root, 'images', folder)
        ann_dir = osp.join(root, 'annotations', folder)
        _makedirs(img_dir)
        _makedirs(ann_dir)
        for i in range(num):
            rng = image_rng(seed, f'ade_{split}', i)
            h, w = _random_size(rng, ADE_SIZE_RANGE)
            scene = render_scene(rng, h, w, NUM_OBJECTS)
            stem = f'{prefix}_{i + 1:08d}'
            _write(osp.join(img_dir, stem + '.jpg'), encode_jpeg(scene.image))
            _write(osp.join(ann_dir, stem + '.png'), encode_png(scene.semantic))
    _write_stamp(top, stamp, complete=True, stats={'train': num_train, 'val': num_val})
    return dict(info, skipped=False)


def _single_object_scene(rng: np.random.Generator):
    """A scene with exactly one annotated object (redrawn from the same generator until the
    object is placed and visible)."""
    while True:
        scene = render_scene(rng, CLASSIFY_SIZE[0], CLASSIFY_SIZE[1], (1, 1))
        if len(scene.instances) == 1:
            return scene


def generate_classification(out_dir: str = 'data', num_train: int = 120, num_val: int = 60,
                            seed: int = 0, force: bool = False) -> Dict:
    """Labelled 112x112 JPEGs with one object each, in the ImageNet folder layout.

    Writes ``<out_dir>/classify/{train,val}/<category name>/000000.jpg ...`` and the ImageNet
    style lists ``<out_dir>/classify/meta/{train,val}.txt`` (``train/disc/000000.jpg 0`` lines,
    labels in :data:`CATEGORIES` order): mmpretrain ``CustomDataset`` with
    ``data_root=<out_dir>/classify, ann_file='meta/train.txt'``. The lists, not the folders,
    carry the labels: ``CustomDataset`` without them skips empty class folders and numbers the
    others alphabetically. For classification fine-tuning and linear probes on the embedded
    data. Returns paths and counts.
    """
    num_train = _check_count('num_classify_train', num_train)
    num_val = _check_count('num_classify_val', num_val)
    seed = _check_count('seed', seed)
    out_dir = _prepare_out_dir(out_dir)
    root = osp.join(out_dir, 'classify')
    info = {'root': root, 'num_train': num_train, 'num_val': num_val}
    stamp = _stamp('classify', seed, {'train': num_train, 'val': num_val})
    stats = _begin(root, stamp, ['train', 'val', 'meta', META_FILE], force)
    if stats is not None:
        return dict(info, skipped=True)
    names = {c['id']: c['name'] for c in CATEGORIES}
    labels = {c['id']: i for i, c in enumerate(CATEGORIES)}
    _makedirs(osp.join(root, 'meta'))
    for split, num in (('train', num_train), ('val', num_val)):
        lines = []
        for i in range(num):
            scene = _single_object_scene(image_rng(seed, f'classify_{split}', i))
            category = scene.instances[0].category_id
            rel = f'{split}/{names[category]}/{i:06d}.jpg'
            _makedirs(osp.dirname(osp.join(root, rel)))
            _write(osp.join(root, rel), encode_jpeg(scene.image))
            lines.append(f'{rel} {labels[category]}\n')
        _write(osp.join(root, 'meta', f'{split}.txt'), ''.join(lines))
    _write_stamp(root, stamp, complete=True, stats={'train': num_train, 'val': num_val})
    return dict(info, skipped=False)


def generate_default_data(out_dir: str = 'data', seed: int = 0, num_pretrain: int = 3000,
                          num_coco_train: int = 60, num_coco_val: int = 100,
                          num_ade_train: int = 40, num_ade_val: int = 50,
                          num_classify_train: int = 120, num_classify_val: int = 60,
                          force: bool = False) -> Dict:
    """Generate all four datasets under ``out_dir`` (see the ``generate_*`` functions).

    The default counts are the main job's comparison: many unlabeled images (pretraining; their
    image-level labels are for supervised baselines only) and few labelled ones (fine-tuning),
    so that the initialisation matters; validation sets large enough to rank the rows.

    Datasets whose stamp already matches (seed, counts, generator version) are skipped unless
    ``force``. Returns ``{'out_dir', 'seed', 'pretrain': {...}, 'coco': {...}, 'ade': {...},
    'classify': {...}, 'seconds'}`` with each dataset's paths, counts and whether it was skipped.
    """
    # Validate everything before writing anything, so a typo fails without side effects.
    for name, value in (('seed', seed), ('num_pretrain', num_pretrain),
                        ('num_coco_train', num_coco_train), ('num_coco_val', num_coco_val),
                        ('num_ade_train', num_ade_train), ('num_ade_val', num_ade_val),
                        ('num_classify_train', num_classify_train),
                        ('num_classify_val', num_classify_val)):
        _check_count(name, value)
    start = time.perf_counter()
    out_dir = _prepare_out_dir(out_dir)
    result = {'out_dir': out_dir, 'seed': int(seed)}
    result['pretrain'] = generate_pretrain_images(out_dir, num_pretrain, seed, force=force)
    result['coco'] = generate_coco(out_dir, num_coco_train, num_coco_val, seed, force=force)
    result['ade'] = generate_ade(out_dir, num_ade_train, num_ade_val, seed, force=force)
    result['classify'] = generate_classification(out_dir, num_classify_train, num_classify_val,
                                                 seed, force=force)
    result['seconds'] = time.perf_counter() - start
    return result
