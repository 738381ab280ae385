"""Checkpoints written between two iterations (not at an interval), and resuming from them.

mmengine's ``Runner.save_checkpoint`` records ``meta.epoch`` / ``meta.iter`` either as "this epoch
is done" (``by_epoch=True``) or "this iteration is done" (``by_epoch=False``), and its
``EpochBasedTrainLoop`` resumes at the start of ``meta.epoch``. A preemption or a divergence stop
in the middle of an epoch therefore needs two things:

- :func:`save_boundary_checkpoint` records the truth: a finished epoch when the iteration was its
  last batch, else the finished iteration inside an unfinished epoch;
- :func:`skip_seen_batches` makes an epoch-based loop that resumes from the latter skip the
  batches of that epoch it has already trained on (the sampler's order depends on the seed and
  the epoch only, so the same batches follow), instead of training on them twice.

Iteration-based loops need neither: mmengine replays their sampler up to ``meta.iter``.
"""
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.runner import EpochBasedTrainLoop

from ..atomic_local_backend import atomic_write_bytes


def save_boundary_checkpoint(runner, batch_idx: int) -> str:
    """Save ``iter_<N>.pth`` after iteration N (the current one) and point ``last_checkpoint``
    at it; returns its path. Call from ``after_train_iter`` on every rank."""
    iteration = runner.iter + 1
    loop = runner.train_loop
    epoch_finished = (isinstance(loop, EpochBasedTrainLoop)
                      and batch_idx + 1 == len(loop.dataloader))
    filename = f'iter_{iteration}.pth'
    runner.save_checkpoint(runner.work_dir, filename, save_optimizer=True,
                           save_param_scheduler=True, by_epoch=epoch_finished)
    checkpoint = osp.join(runner.work_dir, filename)
    if is_main_process():
        atomic_write_bytes(checkpoint.encode(), osp.join(runner.work_dir, 'last_checkpoint'))
    return checkpoint


class _SkipFirstBatches:
    """A train dataloader whose next pass starts ``count`` batches in; every other attribute
    (sampler, dataset, batch size, length) is the wrapped loader's."""

    def __init__(self, loader, count: int):
        self._loader, self._count = loader, count

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def __len__(self):
        return len(self._loader)

    def __iter__(self):
        iterator = iter(self._loader)
        count, self._count = self._count, 0
        for _ in range(count):
            next(iterator)
        return iterator


def skip_seen_batches(runner) -> int:
    """If an epoch-based run was resumed in the middle of an epoch, skip that epoch's batches
    already trained on; returns how many (0 otherwise). Call from ``before_train``."""
    loop = runner.train_loop
    if not isinstance(loop, EpochBasedTrainLoop):
        return 0
    seen = runner.iter - runner.epoch * len(loop.dataloader)
    if seen <= 0:
        return 0
    loop.dataloader = _SkipFirstBatches(loop.dataloader, seen)
    runner.logger.info(f'resumed inside epoch {runner.epoch + 1}: skipping its first {seen} '
                       'batches, trained on before the checkpoint')
    return seen
