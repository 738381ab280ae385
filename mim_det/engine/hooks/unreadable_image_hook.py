"""The training-time policy for unreadable images, and the limit on how many may be skipped.

``policy='skip'`` (the default for pretraining: a corrupt file among millions of unlabeled
images should not end a long run) or ``'fail'`` (the default downstream: a labelled image is
part of the benchmark, so a bad one is an error naming the file). ``tools/train.py`` applies
the policy to the training pipeline's ``LoadImageFromFile``
(:class:`mim_det.datasets.transforms.CheckedLoadImageFromFile`), which lists every skipped file
in ``<work_dir>/skipped_files.txt``. This hook watches that list from the main process and
stops the run, with a checkpoint-free one-line error, once more than ``max_fraction`` of the
training set is unreadable: then the data, not a file, is broken.

Config (``tools/train.py`` adds the hook when a config has none)::

    custom_hooks = [dict(type='UnreadableImageHook', policy='skip', max_fraction=0.01)]
"""
import os
import os.path as osp
from typing import Optional

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from ..errors import RunStoppedError

SKIPPED_LIST = 'skipped_files.txt'


class TooManyUnreadableImagesError(RunStoppedError):
    """More than ``max_fraction`` of the training images could not be read."""


def skipped_files(path: str) -> dict:
    """{file: reason} of a skipped-files list (a file skipped twice counts once)."""
    if not osp.isfile(path):
        return {}
    with open(path) as f:
        entries = [line.rstrip('\n').split('\t', 1) for line in f if line.strip()]
    return {entry[0]: entry[-1] for entry in entries}


@HOOKS.register_module()
class UnreadableImageHook(Hook):
    """Args:
        policy (str | None): 'skip' or 'fail'; None: 'skip' for pretraining (a
            BaseSelfSupervisor model), 'fail' otherwise (resolved by tools/train.py).
        max_fraction (float): stop when more than this fraction of the training set was
            skipped. Default 0.01.
    """

    priority = 'NORMAL'

    def __init__(self, policy: Optional[str] = None, max_fraction: float = 0.01):
        if policy not in (None, 'skip', 'fail'):
            raise ValueError(f"UnreadableImageHook: policy={policy!r}; use 'skip' or 'fail'")
        if not 0 <= max_fraction <= 1:
            raise ValueError(f'UnreadableImageHook: max_fraction={max_fraction!r} must be in '
                             '[0, 1]')
        self.policy, self.max_fraction = policy, float(max_fraction)
        self._mtime = None
        self._count = 0

    def before_train(self, runner) -> None:
        self.path = osp.join(runner.work_dir, SKIPPED_LIST)
        self.dataset_size = len(runner.train_dataloader.dataset)
        self._check(runner)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._check(runner)

    def after_train(self, runner) -> None:
        if self._count:
            runner.logger.warning(f'UnreadableImageHook: {self._count} unreadable training '
                                  f'images were skipped; the list is in {self.path}')

    def _check(self, runner) -> None:
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return
        if mtime == self._mtime:  # one stat per iteration while nothing new was skipped
            return
        self._mtime = mtime
        skipped = skipped_files(self.path)
        if len(skipped) > self._count:
            runner.logger.warning(
                f'UnreadableImageHook: {len(skipped)} unreadable training images skipped so '
                f'far (of {self.dataset_size}); listed in {self.path}')
        self._count = len(skipped)
        if self._count > self.max_fraction * self.dataset_size:
            example = next(iter(skipped.items()))
            raise TooManyUnreadableImagesError(
                f'{self._count} of the {self.dataset_size} training images could not be read '
                f'(more than max_fraction={self.max_fraction}), e.g. {example[0]}: '
                f'{example[1]}; all are listed in {self.path}; check the data with python '
                'tools/check_dataset.py CONFIG, or raise UnreadableImageHook.max_fraction')
