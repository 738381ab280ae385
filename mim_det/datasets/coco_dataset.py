"""mmdet's ``CocoDataset`` that counts and names the bad annotations it drops, or refuses them.

mmdet 3.3's ``CocoDataset.parse_data_info`` silently skips zero-area boxes, boxes entirely
outside the image and annotations of unknown categories; it *keeps* polygons of fewer than 3
points (which fail much later inside the mask ops with an error that names no annotation) and
boxes that stick out of the image; it never looks whether an image file exists (the run then
fails at that sample, hours in); and annotations of images absent from the JSON simply vanish.
A user cannot tell a clean dataset from one that lost 10 % of its labels.

This subclass applies one per-dataset policy, ``bad_annotations``:

- ``'drop'`` (what ``tools/train.py`` sets for the training set): every annotation with a problem of
  :func:`mim_det.datasets.checks.annotation_problems` (``polygon_too_short``,
  ``box_zero_area``, ``box_outside_image`` beyond the image by more than one pixel,
  ``unknown_category`` = an id the JSON does not define, ``annotation_without_image``) is
  dropped, images whose file is missing (``missing_image_file``, local files only) are
  dropped, and one warning gives the count per kind with a few annotation / image ids;
- ``'fail'`` (the class default, so validation and test sets, and any run not started by
  ``tools/train.py``, stay strict): the first problem ends the run with one line naming the annotation file, the
  annotation and image ids, and the fix.

Annotations of categories the JSON defines but the config's ``metainfo.classes`` leaves out
are not problems: mmdet drops them on purpose. The evaluation metric (``CocoMetric``) reads
the annotation file itself, so the policy never changes what a model is scored against.

Registered under mmdet's name ``CocoDataset`` (``force=True``), so every config gets it;
``tools/check_dataset.py CONFIG`` reports the same problems before a run.
"""
import logging
import os.path as osp
from collections import defaultdict
from typing import Dict, List

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS
from mmengine.logging import print_log

from ..engine.errors import RunStoppedError
from .checks import annotation_problems

BAD_ANNOTATION_POLICIES = ('drop', 'fail')
_EXAMPLES = 3


class BadAnnotationError(RunStoppedError):
    """An annotation file holds a bad annotation and the dataset's policy is ``fail``."""


def bad_annotation_policy(owner: str, policy: str) -> str:
    """``policy`` if it is one of :data:`BAD_ANNOTATION_POLICIES`, else a one-line error."""
    if policy not in BAD_ANNOTATION_POLICIES:
        raise ValueError(f'{owner}: bad_annotations={policy!r}; use one of '
                         f'{BAD_ANNOTATION_POLICIES}')
    return policy


@DATASETS.register_module('CocoDataset', force=True)
class CheckedCocoDataset(CocoDataset):
    """``CocoDataset`` + ``bad_annotations`` ('drop' | 'fail'); every other argument is
    mmdet's."""

    def __init__(self, *args, bad_annotations: str = 'fail', **kwargs):
        self.bad_annotations = bad_annotation_policy('CocoDataset', bad_annotations)
        self.dropped: Dict[str, int] = defaultdict(int)
        self.dropped_examples: Dict[str, List[str]] = defaultdict(list)
        super().__init__(*args, **kwargs)

    def _problem(self, kind: str, detail: str) -> None:
        if self.bad_annotations == 'fail':
            raise BadAnnotationError(
                f'{self.ann_file}: {kind.replace("_", " ")}: {detail}; fix or remove it '
                '(python tools/check_dataset.py CONFIG lists every problem), or drop such '
                "annotations with a count in the log: dataset bad_annotations='drop'")
        self.dropped[kind] += 1
        if len(self.dropped_examples[kind]) < _EXAMPLES:
            self.dropped_examples[kind].append(detail)

    def load_data_list(self) -> List[dict]:
        self.dropped.clear()
        self.dropped_examples.clear()
        self._orphans_counted = False
        data_list = super().load_data_list()
        kept = []
        for info in data_list:
            path = info['img_path']
            if self.backend_args is None and '://' not in path and not osp.isfile(path):
                self._problem('missing_image_file', f'image id {info["img_id"]}: {path}')
                continue
            kept.append(info)
        self._log_dropped()
        return kept

    def parse_data_info(self, raw_data_info: dict):
        if not self._orphans_counted:  # self.coco exists only inside load_data_list
            self._orphans_counted = True
            self._defined_categories = set(self.coco.cats)
            for ann in self.coco.dataset.get('annotations', []):
                if ann.get('image_id') not in self.coco.imgs:
                    [(kind, detail)] = annotation_problems(ann, None, self._defined_categories)
                    self._problem(kind, detail)
        image = raw_data_info['raw_img_info']
        good = []
        for ann in raw_data_info['raw_ann_info']:
            problems = annotation_problems(ann, image, self._defined_categories)
            for kind, detail in problems:
                self._problem(kind, detail)
            if not problems:
                good.append(ann)
        return super().parse_data_info(dict(raw_data_info, raw_ann_info=good))

    def _log_dropped(self) -> None:
        if not self.dropped:
            return
        kinds = '; '.join(f'{kind} {n} (e.g. {", ".join(self.dropped_examples[kind])})'
                          for kind, n in sorted(self.dropped.items()))
        print_log(f'CocoDataset: {self.ann_file}: dropped {sum(self.dropped.values())} bad '
                  f'annotations or images: {kinds}; python tools/check_dataset.py CONFIG lists '
                  "them all; bad_annotations='fail' stops instead", logger='current',
                  level=logging.WARNING)
