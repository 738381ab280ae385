"""mmcv's ``LoadImageFromFile`` with a policy for images that cannot be read.

mmcv 2.1's loader raises whatever the file layer or decoder raised (or ``AssertionError:
failed to load image``), and it silently accepts a truncated JPEG or PNG: OpenCV decodes the
part that is there and fills the rest with grey. One corrupt file among the 1.28 M ImageNet
images then either kills a 1600-epoch run or trains on garbage.

This subclass adds two arguments and keeps everything else:

- ``on_error='fail'`` (mmcv's default behaviour, with a one-line message naming the file and
  the fix) or ``'skip'``: return ``None``, which mmengine's ``BaseDataset`` answers in training
  by drawing another sample (``max_refetch``). The file and the reason are appended to
  ``skipped_list`` (one ``path<TAB>reason`` line per skip; every data-loader worker appends to
  the same file) and logged.
- truncation is detected from the file's end: a JPEG must hold its end-of-image marker
  (``FF D9``) in its last 1 KiB, a PNG its ``IEND`` chunk in its last 64 bytes.

It is registered under mmcv's name ``LoadImageFromFile`` (``force=True``) in mmengine's root
``TRANSFORMS``, which mmdet and mmseg resolve it from, and in mmpretrain's, which registers
mmcv's class itself; so every config's pipeline uses it unchanged. ``tools/train.py`` sets
``on_error`` and ``skipped_list`` in the *training* pipeline from :class:`UnreadableImageHook`;
validation and test keep ``'fail'`` (mmengine refuses ``None`` there, and a metric must not
silently skip images).
"""
import logging
import os
import os.path as osp
from typing import Optional

import mmpretrain.datasets.transforms  # noqa: F401  (registers mmcv's class first)
from mmcv.transforms import LoadImageFromFile
from mmengine.logging import print_log
from mmengine.registry import TRANSFORMS as ROOT_TRANSFORMS
from mmpretrain.registry import TRANSFORMS as PRETRAIN_TRANSFORMS

from ...engine.errors import RunStoppedError

ON_ERROR = ('fail', 'skip')


class UnreadableImageError(RunStoppedError):
    """An image of a dataset whose policy is ``fail`` cannot be read."""


def truncation(path: str) -> Optional[str]:
    """'truncated' if a local JPEG or PNG file lacks its end marker, else None."""
    if not osp.isfile(path):
        return None
    with open(path, 'rb') as f:
        head = f.read(8)
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - 1024))
        tail = f.read()
    if head.startswith(b'\xff\xd8') and b'\xff\xd9' not in tail:
        return 'truncated (no JPEG end-of-image marker)'
    if head.startswith(b'\x89PNG') and b'IEND' not in tail[-64:]:
        return 'truncated (no PNG IEND chunk)'
    return None


def read_problem(path: str, exc: BaseException) -> str:
    """A short reason for a failed read."""
    if isinstance(exc, FileNotFoundError) or not osp.exists(path):
        return 'missing file'
    if osp.isfile(path) and osp.getsize(path) == 0:
        return 'zero bytes'
    cut = truncation(path)
    if cut:
        return cut
    return f'not decodable ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ""})'


@PRETRAIN_TRANSFORMS.register_module('LoadImageFromFile', force=True)
@ROOT_TRANSFORMS.register_module('LoadImageFromFile', force=True)
class CheckedLoadImageFromFile(LoadImageFromFile):
    """``LoadImageFromFile`` + ``on_error`` ('fail' | 'skip') and ``skipped_list`` (a path)."""

    def __init__(self, *args, on_error: str = 'fail', skipped_list: Optional[str] = None,
                 **kwargs):
        super().__init__(*args, **kwargs)
        if on_error not in ON_ERROR:
            raise ValueError(f'LoadImageFromFile: on_error={on_error!r}; use one of {ON_ERROR}')
        self.on_error = on_error
        self.skipped_list = skipped_list

    def transform(self, results: dict) -> Optional[dict]:
        path = results['img_path']
        try:
            loaded = super().transform(results)
        except Exception as exc:  # noqa: B902 (whatever the file layer or decoder raised)
            return self._unreadable(path, read_problem(path, exc))
        if loaded is not None:
            problem = truncation(path)
            if problem:
                return self._unreadable(path, problem)
        return loaded

    def _unreadable(self, path: str, reason: str) -> None:
        if self.on_error == 'fail':
            raise UnreadableImageError(
                f'image {path} cannot be read: {reason}; replace or remove it '
                '(python tools/check_dataset.py CONFIG lists every such file), or let training '
                "skip such images: custom_hooks=[dict(type='UnreadableImageHook', "
                "policy='skip')]")
        if self.skipped_list:
            with open(self.skipped_list, 'a') as f:  # one short append per skip, every worker
                f.write(f'{path}\t{reason}\n')
        print_log(f'LoadImageFromFile: skipped {path}: {reason}', logger='current',
                  level=logging.WARNING)
        return None

    def __repr__(self):
        return f'{super().__repr__()[:-1]}, on_error={self.on_error!r})'

