"""mmseg's ``BaseSegDataset`` and ``ADE20KDataset`` that check every label map they load against
its image and the classes.

mmseg 1.2's ``LoadAnnotations`` casts the decoded PNG to uint8 and applies
``reduce_zero_label`` without looking at it. A label map of the wrong size is then silently
resized to the image's scale by ``RandomResize`` (labels drawn over the wrong pixels), and a
label outside the classes reaches the cross-entropy loss: on a GPU a device-side assert that
kills the run and names no file, on a CPU an ``IndexError`` about a target index.

:class:`CheckLabelMap` runs right after ``LoadAnnotations`` and finds both, vectorised (one
comparison per pixel). :class:`CheckedSegDataset` and :class:`CheckedADE20KDataset` insert it
into their own pipeline with their class count and ignore index (:func:`insert_label_map_check`),
so a config needs nothing new; their ``bad_annotations`` policy:

- ``'drop'`` (what ``tools/train.py`` sets for the training set): the sample is replaced by another (mmengine's refetch)
  and a warning names the file and the problem;
- ``'fail'`` (the class default; always with ``test_mode``; validation and test keep it, as a
  metric must not silently lose images):
  one line naming the file, the problem and the fix.

Registered under mmseg's names ``BaseSegDataset`` (the embedded ADE20k-format data) and
``ADE20KDataset`` (``force=True``); ``tools/check_dataset.py CONFIG`` reports the same problems
for the whole dataset before a run.
"""
import logging
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log
from mmseg.datasets import ADE20KDataset, BaseSegDataset
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import DATASETS, TRANSFORMS

from .coco_dataset import BadAnnotationError, bad_annotation_policy


@TRANSFORMS.register_module()
class CheckLabelMap(BaseTransform):
    """Check ``results['gt_seg_map']`` (H, W) after ``LoadAnnotations``.

    Args:
        num_classes (int): labels ``0..num_classes-1`` are classes.
        ignore_index (int): the one other allowed value. Default 255.
        on_error (str): 'fail' (raise) or 'drop' (return None: the dataset draws another
            sample; training only).
    """

    def __init__(self, num_classes: int, ignore_index: int = 255, on_error: str = 'fail'):
        self.on_error = bad_annotation_policy('CheckLabelMap', on_error)
        self.num_classes, self.ignore_index = num_classes, ignore_index

    def problem(self, results: dict) -> Optional[str]:
        seg = results['gt_seg_map']
        # the image as decoded: mmseg's test pipelines resize the image before they load the
        # label map, which stays at the original size for the metric
        image_shape = results.get('ori_shape') or (
            results['img'].shape[:2] if 'img' in results else None)
        if image_shape is not None and tuple(seg.shape[:2]) != tuple(image_shape[:2]):
            return (f'label map of size {seg.shape[1]}x{seg.shape[0]}, its image '
                    f'{results.get("img_path")} is {image_shape[1]}x{image_shape[0]}')
        bad = (seg >= self.num_classes) & (seg != self.ignore_index)
        if not bad.any():
            return None
        labels = np.unique(seg[bad])[:5].astype(int)
        shift = 1 if results.get('reduce_zero_label') else 0  # back to the values in the file
        return (f'labels {(labels + shift).tolist()} in the file are outside the '
                f'{self.num_classes} classes (valid: 0..{self.num_classes - 1 + shift}'
                f'{" with 0 = ignored (reduce_zero_label)" if shift else ""}, and '
                f'{self.ignore_index})')

    def transform(self, results: dict) -> Optional[dict]:
        problem = self.problem(results)
        if problem is None:
            return results
        path = results.get('seg_map_path')
        if self.on_error == 'fail':
            raise BadAnnotationError(
                f'{path}: {problem}; fix or remove it (python tools/check_dataset.py CONFIG '
                'lists every problem), or let training drop such samples: dataset '
                "bad_annotations='drop'")
        print_log(f'CheckLabelMap: dropped {path}: {problem}', logger='current',
                  level=logging.WARNING)
        return None

    def __repr__(self):
        return (f'{self.__class__.__name__}(num_classes={self.num_classes}, '
                f'ignore_index={self.ignore_index}, on_error={self.on_error!r})')


def insert_label_map_check(dataset: BaseSegDataset, policy: str) -> None:
    """Put a :class:`CheckLabelMap` right after the first ``LoadAnnotations`` of ``dataset``'s
    pipeline ('fail' whatever ``policy`` says when the dataset is in test mode)."""
    transforms = dataset.pipeline.transforms
    loads = [i for i, t in enumerate(transforms) if isinstance(t, LoadAnnotations)]
    if loads:
        transforms.insert(loads[0] + 1, CheckLabelMap(
            len(dataset.metainfo['classes']), dataset.ignore_index,
            'fail' if dataset.test_mode else policy))


class LabelMapChecks:
    """Adds ``bad_annotations`` ('drop' | 'fail') to an mmseg dataset and a
    :class:`CheckLabelMap` to its pipeline; every other argument is the dataset's own."""

    def __init__(self, *args, bad_annotations: str = 'fail', **kwargs):
        self.bad_annotations = bad_annotation_policy(type(self).__name__, bad_annotations)
        super().__init__(*args, **kwargs)
        insert_label_map_check(self, self.bad_annotations)


@DATASETS.register_module('BaseSegDataset', force=True)
class CheckedSegDataset(LabelMapChecks, BaseSegDataset):
    """mmseg's ``BaseSegDataset`` with :class:`LabelMapChecks`."""


@DATASETS.register_module('ADE20KDataset', force=True)
class CheckedADE20KDataset(LabelMapChecks, ADE20KDataset):
    """mmseg's ``ADE20KDataset`` with :class:`LabelMapChecks`."""
