"""What can be wrong in a dataset before a run reads it: unreadable images and bad annotations.

Pure functions over files, one per format, used by ``tools/check_dataset.py``. Each returns a
:class:`DatasetReport`: per problem kind, how many and a few examples (file, image id,
annotation id), so that one look tells what to fix.

Problem kinds:

- images: ``zero_bytes``, ``missing_file``, ``not_an_image`` (PIL cannot identify it),
  ``truncated`` (the header reads, the pixels do not), ``wrong_mode`` (a pixel format other than
  RGB, RGBA, L or P, e.g. CMYK or 16-bit, which decoders convert unpredictably),
  ``size_mismatch`` (COCO ``width``/``height`` differ from the file);
- COCO instances: ``polygon_too_short`` (fewer than 3 points), ``box_zero_area``,
  ``box_outside_image`` (beyond the image by more than one pixel), ``unknown_category``,
  ``annotation_without_image``;
- segmentation maps: ``seg_missing``, ``seg_size_mismatch`` (the PNG is not the image's size),
  ``seg_label_out_of_range`` (a label that is neither a class nor the ignore index).

mmdet's ``CocoDataset`` drops zero-area boxes and unknown categories silently and keeps short
polygons (which fail later inside the mask ops); the report names all of them.
"""
import json
import os.path as osp
from collections import defaultdict
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

import numpy as np

GOOD_MODES = ('RGB', 'RGBA', 'L', 'P')


class DatasetReport:
    """Counts and a few examples of each problem kind."""

    def __init__(self, name: str, max_examples: int = 5):
        self.name = name
        self.max_examples = max_examples
        self.counts: Dict[str, int] = defaultdict(int)
        self.examples: Dict[str, List[str]] = defaultdict(list)
        self.checked: Dict[str, int] = defaultdict(int)

    def add(self, kind: str, example: str) -> None:
        self.counts[kind] += 1
        if len(self.examples[kind]) < self.max_examples:
            self.examples[kind].append(example)

    @property
    def ok(self) -> bool:
        return not self.counts

    def lines(self) -> List[str]:
        checked = ', '.join(f'{n} {what}' for what, n in self.checked.items())
        if self.ok:
            return [f'{self.name}: OK ({checked} checked)']
        out = [f'{self.name}: {sum(self.counts.values())} problems ({checked} checked)']
        for kind in sorted(self.counts):
            out.append(f'  {kind}: {self.counts[kind]}, e.g. {"; ".join(self.examples[kind])}')
        return out

    def to_dict(self) -> dict:
        return dict(name=self.name, checked=dict(self.checked), counts=dict(self.counts),
                    examples=dict(self.examples))


def image_problem(path: str) -> Tuple[Optional[str], Optional[Tuple[int, int]]]:
    """(problem kind or None, (width, height) when readable) of one image file."""
    from PIL import Image, UnidentifiedImageError

    if not osp.isfile(path):
        return 'missing_file', None
    if osp.getsize(path) == 0:
        return 'zero_bytes', None
    try:
        with Image.open(path) as image:
            size, mode = image.size, image.mode
            image.load()  # decodes every pixel: a truncated file fails here
    except UnidentifiedImageError:
        return 'not_an_image', None
    except (OSError, SyntaxError, ValueError):
        return 'truncated', None
    if mode not in GOOD_MODES:
        return 'wrong_mode', size
    return None, size


def check_images(paths: Iterable[str], report: DatasetReport) -> DatasetReport:
    for path in paths:
        report.checked['images'] += 1
        kind, _ = image_problem(path)
        if kind:
            report.add(kind, path)
    return report


def _polygon_points(segmentation) -> List[int]:
    """Points per polygon of a COCO polygon segmentation (RLE dicts are not polygons)."""
    if not isinstance(segmentation, list):
        return []
    return [len(poly) // 2 for poly in segmentation]


def check_coco(ann_file: str, img_dir: str, report: DatasetReport,
               check_image_files: bool = True) -> DatasetReport:
    """COCO instances JSON ``ann_file`` with images under ``img_dir``."""
    with open(ann_file) as f:
        coco = json.load(f)
    images = {image['id']: image for image in coco.get('images', [])}
    categories = {category['id'] for category in coco.get('categories', [])}
    for image in images.values():
        report.checked['images'] += 1
        if not check_image_files:
            continue
        path = osp.join(img_dir, image['file_name'])
        kind, size = image_problem(path)
        if kind:
            report.add(kind, f'{path} (image id {image["id"]})')
        if size is not None and (image.get('width'), image.get('height')) != size:
            report.add('size_mismatch', f'{path} (image id {image["id"]}: annotation '
                       f'{image.get("width")}x{image.get("height")}, file {size[0]}x{size[1]})')
    for ann in coco.get('annotations', []):
        report.checked['annotations'] += 1
        for kind, detail in annotation_problems(ann, images.get(ann.get('image_id')),
                                                categories):
            report.add(kind, detail)
    return report


def annotation_problems(ann: dict, image: Optional[dict], categories: Set[int]
                        ) -> List[Tuple[str, str]]:
    """(kind, example text) of every problem of one COCO instance annotation; ``image`` is its
    image record (None if the JSON has none), ``categories`` the category ids the JSON
    defines. Shared by the checker and :class:`mim_det.datasets.CheckedCocoDataset`."""
    where = f'annotation id {ann.get("id")} (image id {ann.get("image_id")})'
    if image is None:
        return [('annotation_without_image', where)]
    problems = []
    if ann.get('category_id') not in categories:
        problems.append(('unknown_category', f'{where}: category_id {ann.get("category_id")}'))
    if any(points < 3 for points in _polygon_points(ann.get('segmentation'))):
        problems.append(('polygon_too_short', where))
    x, y, w, h = (ann.get('bbox') or [0, 0, 0, 0])[:4]
    if w <= 0 or h <= 0:
        problems.append(('box_zero_area', f'{where}: bbox {ann.get("bbox")}'))
    elif (x < -1 or y < -1 or x + w > image['width'] + 1 or y + h > image['height'] + 1):
        problems.append(('box_outside_image', f'{where}: bbox {ann.get("bbox")} in a '
                         f'{image["width"]}x{image["height"]} image'))
    return problems


def check_segmentation_pairs(pairs: Sequence[Tuple[str, str]], num_classes: int,
                             reduce_zero_label: bool, ignore_index: int,
                             report: DatasetReport) -> DatasetReport:
    """(image, label PNG) pairs of an mmseg dataset. Valid raw labels: ``0..num_classes-1``,
    or ``0..num_classes`` with ``reduce_zero_label`` (0 becomes the ignore index), and the
    ignore index itself."""
    from PIL import Image

    top = num_classes if reduce_zero_label else num_classes - 1
    for img_path, seg_path in pairs:
        report.checked['images'] += 1
        kind, size = image_problem(img_path)
        if kind:
            report.add(kind, img_path)
        if not osp.isfile(seg_path):
            report.add('seg_missing', seg_path)
            continue
        seg_kind, seg_size = image_problem(seg_path)
        if seg_kind and seg_kind != 'wrong_mode':  # label maps may be 16-bit ('I;16')
            report.add(seg_kind, seg_path)
            continue
        if size is not None and seg_size != size:
            report.add('seg_size_mismatch', f'{seg_path}: {seg_size[0]}x{seg_size[1]}, image '
                       f'{size[0]}x{size[1]}')
        with Image.open(seg_path) as seg:
            labels = np.unique(np.asarray(seg))
        bad = labels[(labels > top) & (labels != ignore_index)]
        if bad.size:
            report.add('seg_label_out_of_range', f'{seg_path}: labels {bad.tolist()[:5]} '
                       f'(valid 0..{top} and {ignore_index})')
    return report
