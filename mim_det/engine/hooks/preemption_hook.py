"""Checkpoint and exit cleanly when the scheduler says the job is about to be killed.

Slurm sends SIGTERM (and, with ``#SBATCH --signal=USR1@90``, SIGUSR1 some seconds earlier) before
it kills a preempted or timed-out job; torchrun forwards SIGTERM to its workers and gives them 30 s.
mmengine's runner has no handler, so the job dies mid-iteration and loses everything since the
last interval checkpoint.

This hook turns the signal into a flag. At the next iteration boundary (``after_train_iter``,
after the interval ``CheckpointHook``) every rank learns whether any rank was signalled (a MAX
all-reduce of one number, so all ranks stop at the same iteration), the main process writes
``iter_<N>.pth`` through mim_det's atomic local backend and points ``last_checkpoint`` at it, and
the run raises :class:`TrainingPreempted`. ``tools/train.py`` turns that into exit status
:data:`PREEMPTED_EXIT_CODE` (75, ``EX_TEMPFAIL`` of sysexits.h: "try again later"), which
``tools/slurm_train.sh`` takes as its cue to requeue, and ``--resume`` continues from exactly that
iteration (with :class:`RNGStateHook`, bitwise as an uninterrupted run, for iteration-based
loops; an epoch-based loop resumed mid-epoch skips the batches of that epoch it has already seen,
see :mod:`.boundary_checkpoint`).

A second signal while the checkpoint is being written is ignored: the write finishes first.
Config (``tools/train.py`` adds the hook with the defaults when a config has none)::

    custom_hooks = [dict(type='PreemptionHook', signals=('SIGTERM', 'SIGUSR1'))]
"""
import signal
from typing import Dict, Optional, Sequence

import torch.distributed as torch_dist
from mmengine.dist import is_distributed
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from .boundary_checkpoint import save_boundary_checkpoint, skip_seen_batches
from .rank_flags import any_rank_flagged

PREEMPTED_EXIT_CODE = 75


class TrainingPreempted(Exception):
    """Raised at an iteration boundary after a preemption signal; the checkpoint is written."""

    def __init__(self, message: str, checkpoint: str):
        super().__init__(message)
        self.checkpoint = checkpoint


@HOOKS.register_module()
class PreemptionHook(Hook):
    """Checkpoint at the next iteration boundary after SIGTERM / SIGUSR1, then stop.

    Args:
        signals (Sequence[str]): names of the signals that mean "about to be killed".
            Default ``('SIGTERM', 'SIGUSR1')``, what Slurm sends.
    """

    # after CheckpointHook (VERY_LOW), so that an interval checkpoint of this iteration exists
    # and the preemption checkpoint simply replaces it
    priority = 'LOWEST'

    def __init__(self, signals: Sequence[str] = ('SIGTERM', 'SIGUSR1')):
        self.signals = []
        for name in signals:
            if not hasattr(signal, name):
                raise ValueError(f'PreemptionHook: unknown signal {name!r}; use names of the '
                                 'signal module such as SIGTERM or SIGUSR1')
            self.signals.append(getattr(signal, name))
        self.received: Optional[str] = None
        self._previous: Dict[int, object] = {}

    def _on_signal(self, signum, frame) -> None:
        if self.received is None:
            self.received = signal.Signals(signum).name

    def before_train(self, runner) -> None:
        skip_seen_batches(runner)
        self.received = None
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, self._on_signal)

    def after_train(self, runner) -> None:
        self._restore_handlers()

    def _restore_handlers(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not any_rank_flagged(self.received is not None):
            return
        iteration = runner.iter + 1
        what = self.received or 'a signal on another rank'
        runner.logger.warning(f'PreemptionHook: {what} received; saving a checkpoint at the end '
                              f'of iteration {iteration}, then stopping')
        checkpoint = save_boundary_checkpoint(runner, batch_idx)
        if is_distributed():
            torch_dist.barrier()  # no rank exits before the checkpoint is on disk
        self._restore_handlers()
        raise TrainingPreempted(
            f'preempted by {what} at iteration {iteration}; checkpoint {checkpoint} written; '
            'continue with --resume (auto) on the same work dir', checkpoint)
