"""mmengine's ``CheckpointHook`` with a save order that cannot lose the last good checkpoint.

mmengine 0.10.7's ``CheckpointHook._save_checkpoint_with_step`` deletes the oldest kept
checkpoint *before* writing the new one (so with ``max_keep_ckpts=1`` a full disk or a kill during
the write leaves no checkpoint at all), and writes ``last_checkpoint`` with a plain ``open(...,
'w')`` (a kill in that moment leaves it empty). This subclass writes the new checkpoint first
(atomically, through :class:`mim_det.engine.AtomicLocalBackend`), then replaces
``last_checkpoint`` atomically, and only then deletes what ``max_keep_ckpts`` no longer keeps. A
failed write (``ENOSPC``, a quota, a read-only file system) ends the run with one line naming
the file, the reason and the checkpoint that is still there; with ``max_keep_ckpts >= 2`` the
hook first deletes the oldest kept checkpoint (the one this save would drop anyway, never the
latest) and tries once more. Temporary files left by a write
that a ``kill -9`` interrupted are removed when training starts again.

It is registered under mmengine's own name ``CheckpointHook`` (``force=True``), so every
config's ``default_hooks.checkpoint=dict(type='CheckpointHook', ...)`` gets it unchanged; all
options and the rest of the hook (intervals, ``save_best``, publishing) are mmengine's.
"""
import errno
import glob
import os
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook as MMEngineCheckpointHook
from mmengine.registry import HOOKS

from ..atomic_local_backend import atomic_write_bytes
from ..errors import RunStoppedError
from .rank_flags import all_ranks_agree


def _read_last_checkpoint(work_dir: str):
    marker = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(marker):
        with open(marker) as f:
            return f.read().strip() or None
    return None


class CheckpointWriteError(RunStoppedError):
    """A checkpoint could not be written; the previous one is intact."""


@HOOKS.register_module('CheckpointHook', force=True)
class SafeOrderCheckpointHook(MMEngineCheckpointHook):
    """``CheckpointHook`` that writes, then points ``last_checkpoint``, then prunes."""

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if is_main_process() and osp.isdir(self.out_dir):
            # temporary files of writes that a kill -9 interrupted; nothing points at them
            for stale in glob.glob(osp.join(glob.escape(self.out_dir), '.*.pth.*.tmp')):
                os.remove(stale)

    def _save_checkpoint_with_step(self, runner, step, meta):
        filename = self.filename_tmpl.format(step)
        path = self.file_backend.join_path(self.out_dir, filename)
        kept = self.last_ckpt or _read_last_checkpoint(runner.work_dir) or '(none yet)'
        error = None
        try:
            self._write(runner, filename, meta)
        except OSError as exc:
            error = exc
            oldest = self._oldest_to_forget(step)
            if exc.errno == errno.ENOSPC and oldest is not None:
                # that checkpoint goes anyway once this one is written, and it is not the latest
                self._remove(oldest)
                runner.logger.warning(f'no space left for {path}; deleted {oldest} (which '
                                      f'max_keep_ckpts={self.max_keep_ckpts} drops next) first')
                try:
                    self._write(runner, filename, meta)
                    error = None
                except OSError as retry_exc:
                    error = retry_exc
        # only the main process writes; every rank must stop together if it failed
        if not all_ranks_agree(error is None):
            reason = (error.strerror or str(error)) if error else 'failed on the main process'
            raise CheckpointWriteError(
                f'could not write checkpoint {path}: {reason}; the previous checkpoint {kept} is '
                'intact and last_checkpoint still points at it; free space in the work dir (or '
                'use another --work-dir) and continue with --resume') from error
        self.last_ckpt = path
        runner.message_hub.update_info('last_ckpt', path)
        if is_main_process():
            atomic_write_bytes(path.encode(), osp.join(runner.work_dir, 'last_checkpoint'))
        self._forget_outdated(runner, step)

    def _write(self, runner, filename: str, meta) -> None:
        runner.save_checkpoint(
            self.out_dir, filename, self.file_client_args, save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler, meta=meta, by_epoch=self.by_epoch,
            backend_args=self.backend_args, **self.args)

    def _oldest_to_forget(self, step):
        """The kept checkpoint that saving ``step`` will make outdated, unless it is the latest
        one (``max_keep_ckpts=1``) or there is none."""
        if (self.max_keep_ckpts < 2 or len(self.keep_ckpt_ids) < self.max_keep_ckpts
                or self.keep_ckpt_ids[-1] == step):
            return None
        return self.file_backend.join_path(self.out_dir,
                                           self.filename_tmpl.format(self.keep_ckpt_ids[0]))

    def _remove(self, path) -> None:
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):  # DeepSpeed saves checkpoints as directories
            self.file_backend.rmtree(path)

    def _forget_outdated(self, runner, step) -> None:
        """Delete the checkpoint that ``max_keep_ckpts`` no longer keeps (after the new one is
        safely written). ``keep_ckpt_ids`` is mmengine's deque, stored in the message hub so
        that a resumed run keeps counting."""
        if self.max_keep_ckpts <= 0 or (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            return
        outdated = None
        if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
            outdated = self.keep_ckpt_ids.popleft()
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        if outdated is not None and is_main_process():
            self._remove(self.file_backend.join_path(self.out_dir,
                                                     self.filename_tmpl.format(outdated)))
