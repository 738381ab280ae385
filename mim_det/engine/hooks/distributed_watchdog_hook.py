"""End a distributed run whose rank died or hung, naming that rank and what it was doing.

Without this, a hung rank (a stuck data-loader worker or file system, a frozen node, a GPU
fault) leaves every other rank blocked inside a collective until the process-group timeout (30
min for gloo by default, 10 min for NCCL) and the error then names no rank ("Timed out waiting
... for recv"); a dead rank's peers fail at once with gloo's "Connection closed by peer",
again without saying which rank or where. torchrun then reports its own children's exit codes,
and on a 64-GPU job nobody knows which node to look at.

How it works. Each rank posts two records into the c10d key-value store that the process group
already uses (under torchrun its agent hosts it, so it outlives any worker):

- *progress*, from the training thread at every phase change: a step counter, the iteration
  and the phase just entered (``train step`` = data done, forward, backward with DDP's gradient
  all-reduce, optimiser step; ``after-step hooks`` = loss check, preemption flag and logging
  all-reduces, checkpoint; ``validation``; ``saving a checkpoint``);
- *alive*, from a daemon thread every ``poll_interval`` s: a counter and where the training
  thread is right now (file:line and function of its innermost frame).

The same thread reads every rank's records. Ages are measured with this process's monotonic
clock from the moment a record was seen to change, so clock skew between nodes does not
matter. When this rank's own progress is older than ``timeout`` s it prints one line naming the
ranks that are behind it, or frozen (their alive counter stopped), with the iteration, phase
and code location of each, and ends the process with exit status :data:`STALLED_EXIT_CODE`
(70, ``EX_SOFTWARE``). Every rank does the same, so the job ends instead of hanging.

When a collective *raises* instead (a peer process died: gloo fails at once),
:func:`collective_failure_message` turns the error into the same kind of line;
``tools/train.py`` prints it and exits with status 70.

Config (``tools/train.py`` adds the hook with the defaults when a config has none; it does
nothing in a non-distributed run)::

    custom_hooks = [dict(type='DistributedWatchdogHook', timeout=1800, poll_interval=5)]

``timeout`` must be longer than the slowest legitimate phase on one rank while the others wait
(rank 0's COCO evaluation, a checkpoint write to a slow file system). The store lives in
torchrun's agent; under a plain ``srun`` launch (``--launcher slurm``) it lives in rank 0's
process, so if rank 0 itself dies the others fall back to the process-group timeout.
"""
import json
import logging
import os
import os.path as osp
import sys
import threading
import time
from typing import Dict, List, Optional

import torch.distributed as torch_dist
from mmengine.dist import get_rank, get_world_size, is_distributed
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

STALLED_EXIT_CODE = 70
_ACTIVE: Dict[str, 'DistributedWatchdogHook'] = {}  # the running hook, for the error path


def default_store():
    """The c10d store of the default process group, or None (not distributed, or a torch
    without the private accessor; the watchdog then stays off)."""
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return None
    try:
        from torch.distributed.distributed_c10d import _get_default_store
        return _get_default_store()
    except (ImportError, RuntimeError, ValueError):
        return None


def code_location(thread_id: Optional[int]) -> str:
    """``file:line in function`` of the innermost Python frame of a thread ('?' if unknown)."""
    frame = sys._current_frames().get(thread_id) if thread_id is not None else None
    if frame is None:
        return '?'
    parts = frame.f_code.co_filename.split(os.sep)
    short = os.sep.join(parts[-3:]) if 'site-packages' in parts else osp.relpath(
        frame.f_code.co_filename)
    return f'{short}:{frame.f_lineno} in {frame.f_code.co_name}'


class PeerView:
    """What this rank knows of one rank: its last records and when they last changed here."""

    def __init__(self, rank: int):
        self.rank = rank
        self.progress: Optional[dict] = None
        self.alive: Optional[dict] = None
        self.progress_seen = self.alive_seen = time.monotonic()

    def update(self, progress: Optional[dict], alive: Optional[dict], now: float) -> None:
        if progress is not None and progress != self.progress:
            self.progress, self.progress_seen = progress, now
        if alive is not None and alive.get('count') != (self.alive or {}).get('count'):
            self.alive, self.alive_seen = alive, now

    def describe(self, now: float, frozen_after: float) -> str:
        progress = self.progress or {}
        text = (f'rank {self.rank}: iteration {progress.get("iter", "?")}, '
                f'{progress.get("phase", "not started")}, no progress for '
                f'{now - self.progress_seen:.0f} s')
        if now - self.alive_seen > frozen_after:
            text += (f', and no sign of life for {now - self.alive_seen:.0f} s (the process is '
                     'dead or frozen)')
        elif self.alive:
            text += f', its training thread is at {self.alive.get("where", "?")}'
        return text


@HOOKS.register_module()
class DistributedWatchdogHook(Hook):
    """Args:
        timeout (float): seconds without progress on this rank after which every rank stops
            with a message naming the stalled rank(s). Default 1800 (gloo's own default).
        poll_interval (float): seconds between two reads of the heartbeats; a rank counts as
            dead or frozen when its alive counter has not moved for 3 intervals.
            Default ``min(5, timeout / 4)``.
    """

    # its after_train_iter runs first, so the phase reads "after-step hooks" while the other
    # hooks' all-reduces run
    priority = 'HIGHEST'

    def __init__(self, timeout: float = 1800, poll_interval: Optional[float] = None):
        if timeout <= 0:
            raise ValueError(f'DistributedWatchdogHook: timeout={timeout!r} must be > 0 seconds')
        self.timeout = float(timeout)
        self.poll_interval = float(poll_interval or min(5.0, self.timeout / 4))
        self.store = None
        self.step = 0
        self.progress_posted = time.monotonic()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()

    # ---- records in the store -------------------------------------------------------------
    def _key(self, kind: str, rank: int) -> str:
        attempt = os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')
        return f'mim_det/watchdog/{attempt}/{kind}/{rank}'

    def _read(self, kind: str, rank: int) -> Optional[dict]:
        key = self._key(kind, rank)
        if not self.store.check([key]):  # get() would block until the key exists
            return None
        return json.loads(self.store.get(key).decode())

    def _post_progress(self, phase: str, iteration: int) -> None:
        if self.store is None:
            return
        self.step += 1
        self.progress_posted = time.monotonic()
        self.phase, self.iteration = phase, iteration
        record = json.dumps(dict(step=self.step, iter=iteration, phase=phase))
        with self._lock:
            self.store.set(self._key('progress', self.rank), record)

    # ---- hook points ----------------------------------------------------------------------
    def before_train(self, runner) -> None:
        self.store = default_store() if is_distributed() else None
        if self.store is None:
            return
        self.rank, self.world_size = get_rank(), get_world_size()
        self.logger = runner.logger
        self.main_thread = threading.get_ident()
        self.peers = {rank: PeerView(rank) for rank in range(self.world_size)}
        self._post_progress('start of training (building the data loader)', runner.iter)
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name='mim_det-watchdog',
                                        daemon=True)
        self._thread.start()
        _ACTIVE['hook'] = self

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._post_progress('train step (forward, backward with the gradient all-reduce, '
                            'optimiser step)', runner.iter + 1)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._post_progress('after-step hooks (loss check, preemption flag, logging, '
                            'checkpoint)', runner.iter + 1)

    def before_val(self, runner) -> None:
        self._post_progress('validation', runner.iter)

    def after_val_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._post_progress(f'validation (batch {batch_idx + 1} done; next batch or gathering '
                            'the results of all ranks)', runner.iter)

    def after_val(self, runner) -> None:
        self._post_progress('after validation', runner.iter)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        self._post_progress('saving a checkpoint', runner.iter)

    def after_train(self, runner) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * self.poll_interval)
        self._thread = None
        _ACTIVE.pop('hook', None)

    # ---- the watching thread --------------------------------------------------------------
    def _watch(self) -> None:
        count = 0
        while not self._stop.wait(self.poll_interval):
            count += 1
            try:
                with self._lock:
                    self.store.set(self._key('alive', self.rank), json.dumps(
                        dict(count=count, where=code_location(self.main_thread))))
                self.refresh()
            except Exception as exc:  # noqa: B902 (the store's host is gone: the job is over)
                self.logger.warning(f'DistributedWatchdogHook: stopped watching: {exc}')
                return
            stalled_for = time.monotonic() - self.progress_posted
            if stalled_for > self.timeout:
                self._stop_this_rank(stalled_for)

    def refresh(self) -> None:
        """Read every other rank's records."""
        now = time.monotonic()
        with self._lock:
            for rank, peer in self.peers.items():
                if rank != self.rank:
                    peer.update(self._read('progress', rank), self._read('alive', rank), now)

    def stalled_ranks(self, frozen_after: float) -> List[PeerView]:
        """Ranks that are behind this one, or frozen (no alive record for ``frozen_after``
        s): the likely cause of a stall."""
        now = time.monotonic()
        out = []
        for rank, peer in self.peers.items():
            if rank == self.rank:
                continue
            behind = (peer.progress or {}).get('step', 0) < self.step
            frozen = now - peer.alive_seen > frozen_after
            if behind or frozen:
                out.append(peer)
        return out

    def report(self, what_happened: str, frozen_after: Optional[float] = None) -> str:
        now = time.monotonic()
        frozen_after = 3 * self.poll_interval if frozen_after is None else frozen_after
        suspects = self.stalled_ranks(frozen_after)
        others = [p for r, p in self.peers.items() if r != self.rank]
        if suspects:
            cause = 'stalled: ' + '; '.join(p.describe(now, frozen_after) for p in suspects)
        else:
            cause = ('no other rank is behind this one or frozen; the ranks are: ' +
                     '; '.join(p.describe(now, frozen_after) for p in others))
        return (f'rank {self.rank} of {self.world_size}: {what_happened} (iteration '
                f'{self.iteration}, {self.phase}); {cause}')

    def _stop_this_rank(self, stalled_for: float) -> None:
        line = self.report(f'no progress for {stalled_for:.0f} s, more than the watchdog '
                           f'timeout of {self.timeout:.0f} s, training thread at '
                           f'{code_location(self.main_thread)}')
        line = (f'DistributedWatchdogHook: {line}; stopping this rank with exit status '
                f'{STALLED_EXIT_CODE} instead of waiting for the process-group timeout; check '
                'the stalled rank\'s log and node, then continue with --resume')
        self.logger.error(line)
        print(line, file=sys.stderr, flush=True)
        for handler in logging.getLogger().handlers + list(self.logger.handlers):
            handler.flush()
        os._exit(STALLED_EXIT_CODE)  # the training thread is blocked in C++: no clean way out


def _is_collective_failure(exc: BaseException) -> bool:
    dist_error = getattr(torch_dist, 'DistError', ())
    text = str(exc)
    return isinstance(exc, dist_error) or (isinstance(exc, RuntimeError) and any(
        marker in text for marker in ('gloo', 'Gloo', 'NCCL', 'Connection closed by peer',
                                      'Connection reset by peer', 'Timed out waiting')))


def collective_failure_message(exc: BaseException) -> Optional[str]:
    """One line for a failed collective of a distributed run, naming the rank(s) that stopped
    (None for any other error). Reads the heartbeats twice, 1.5 poll intervals apart: a peer
    whose alive counter did not move in between is dead or frozen (torchrun gives the
    survivors 30 s after a worker died before it kills them)."""
    if not _is_collective_failure(exc):
        return None
    hook = _ACTIVE.get('hook')
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    if hook is None or hook.store is None:
        return (f'a collective operation failed on rank {get_rank()}: {first_line}; another '
                'rank probably died (see the launcher\'s summary of exit codes)')
    hook._stop.set()
    settle = 1.5 * hook.poll_interval
    try:
        hook.refresh()
        time.sleep(settle)
        hook.refresh()
    except Exception:  # noqa: B902 (the store went away with the job)
        pass
    return hook.report(f'a collective operation failed: {first_line}',
                       frozen_after=0.9 * settle) + (
        f'; stopped with exit status {STALLED_EXIT_CODE}; check that rank\'s log and node, '
        'then continue with --resume')
