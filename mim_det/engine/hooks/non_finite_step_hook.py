"""Skip optimiser steps whose loss or gradients are not finite; stop after K of them in a row.

One NaN step written into the weights ruins a long run silently: every later loss is NaN and
the checkpoints after it are useless. detectron2 raises ``FloatingPointError`` on the first one;
a paper-scale run on a shared cluster is better served by skipping a rare bad step (one
overflowing batch) and stopping only when training has really diverged.

What a skipped step leaves untouched:

- the weights and the optimiser state (no ``optimizer.step``; with gradient accumulation the
  whole accumulation window is dropped);
- the EMA weights (``mmengine.hooks.EMAHook``'s average is not updated for that iteration);
- the running statistics of normalisation layers (``running_mean``, ``running_var``,
  ``num_batches_tracked``, which the forward pass already changed), put back from a copy taken
  at the start of the window.

The iteration counter, the learning-rate schedule and the data order go on, as in an AMP run
whose loss scaler skips a step.

With ``AmpOptimWrapper`` the gradient check is the loss scaler's: it unscales, finds inf/NaN,
skips ``optimizer.step`` and lowers the scale. The hook only notices that the optimiser did not
step (a ``register_step_post_hook`` on it) and counts the iteration as bad; checking the still
scaled gradients itself would skip the step *without* lowering the scale, forever. Without AMP
the hook checks the global gradient norm (one fused reduction over all gradients).

Every rank must take the same decision or DDP hangs at the next all-reduce: backward always runs
(DDP averages the gradients inside it, so every rank then sees the same gradients) and the
loss verdict, which is per rank, is combined with a MIN all-reduce of two numbers.

The verdicts stay on the device until the optimiser step: the loss check of each micro-step is
a tensor ANDed into the window's flag (no host sync between forward and backward, which on a
GPU would drain the launch queue), and the loss and gradient flags are read back once per step,
together with their all-reduce.

Config (``tools/train.py`` adds the hook with the defaults when a config has none)::

    custom_hooks = [dict(type='NonFiniteStepHook', max_consecutive=20)]

``max_consecutive=20`` lets a dynamic loss scaler back off from its initial 2**16 by 20 halvings
before the run is called diverged. When the limit is reached the hook saves ``iter_<N>.pth``
(the last good weights, since nothing was applied since then; see
:mod:`.boundary_checkpoint`), points ``last_checkpoint`` at it,
writes the offending batch to ``nonfinite_batch_iter_<N>.pth`` (inputs and each sample's
metainfo; loads with ``torch.load(weights_only=True)``) and stops the run with a one-line error.
"""
import io
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import EMAHook, Hook
from mmengine.optim import AmpOptimWrapper, OptimWrapperDict
from mmengine.registry import HOOKS

from ..atomic_local_backend import atomic_write_bytes
from ..errors import RunStoppedError
from .boundary_checkpoint import save_boundary_checkpoint
from .rank_flags import local_and_global_min

RUNNING_STAT_NAMES = ('running_mean', 'running_var', 'num_batches_tracked')


class NonFiniteTrainingError(RunStoppedError):
    """Raised when ``max_consecutive`` steps in a row were non-finite."""


def gradients_are_finite(params: Sequence[torch.nn.Parameter]) -> Optional[torch.Tensor]:
    """Whether every gradient is finite, as a 0-d bool tensor on the gradients' device, from one
    global norm (inf/NaN anywhere makes it so); None when no parameter has a gradient."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return None
    return torch.isfinite(torch.nn.utils.get_total_norm(grads))


def sample_names(data_batch) -> List[str]:
    """What identifies each sample of a batch in a log line: its file, else its index."""
    samples = data_batch.get('data_samples') if isinstance(data_batch, dict) else None
    names = []
    for sample in samples or []:
        meta = getattr(sample, 'metainfo', {}) or {}
        for key in ('img_path', 'img_id', 'sample_idx'):
            if meta.get(key) is not None:
                names.append(str(meta[key]) if key == 'img_path' else f'{key}={meta[key]}')
                break
    return names


def plain_batch(data_batch) -> dict:
    """The inputs and per-sample metainfo of a batch as tensors, numbers and strings only, so
    that the saved file loads with ``torch.load(weights_only=True)``."""

    def plain(value):
        if isinstance(value, torch.Tensor):
            return value.detach().cpu()
        if isinstance(value, np.ndarray):
            return torch.from_numpy(np.ascontiguousarray(value))
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        return repr(value)

    samples = data_batch.get('data_samples') or [] if isinstance(data_batch, dict) else []
    inputs = data_batch.get('inputs') if isinstance(data_batch, dict) else data_batch
    return dict(inputs=plain(inputs),
                metainfo=[plain(dict(getattr(s, 'metainfo', {}) or {})) for s in samples])


@HOOKS.register_module()
class NonFiniteStepHook(Hook):
    """Guard every optimiser step against a non-finite loss or gradients (see module doc).

    Args:
        max_consecutive (int): stop after this many bad steps in a row. Default 20.
        max_logged_samples (int): how many sample names a warning lists. Default 4.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, max_consecutive: int = 20, max_logged_samples: int = 4):
        if int(max_consecutive) < 1:
            raise ValueError(f'NonFiniteStepHook: max_consecutive={max_consecutive!r} must be '
                             '>= 1 (the number of bad steps in a row that stops the run)')
        self.max_consecutive = int(max_consecutive)
        self.max_logged_samples = int(max_logged_samples)
        self.consecutive = 0
        self.total_skipped = 0
        self._skipped_this_iter: Optional[str] = None
        self._window_loss_finite: Optional[torch.Tensor] = None  # 0-d bool, on the device
        self._window_open = False
        self._running_stats: List[torch.Tensor] = []
        self._saved_stats: List[torch.Tensor] = []
        self._stepped = False
        self._wrapper = None

    # ---- installation -------------------------------------------------------------------
    def before_train(self, runner) -> None:
        wrapper = runner.optim_wrapper
        if isinstance(wrapper, OptimWrapperDict):
            # several optimisers step in an order only the model's train_step knows
            runner.logger.warning('NonFiniteStepHook guards a single OptimWrapper; this run has '
                                  'an OptimWrapperDict, so its steps are not guarded')
            self._wrapper = None
            return
        self._wrapper = wrapper
        self._is_amp = isinstance(wrapper, AmpOptimWrapper)
        wrapper.optimizer.register_step_post_hook(self._mark_stepped)
        wrapper.update_params = self._guarded_update_params
        self._params = [p for group in wrapper.optimizer.param_groups for p in group['params']]
        self._running_stats = [
            buffer for name, buffer in runner.model.named_buffers()
            if name.rsplit('.', 1)[-1] in RUNNING_STAT_NAMES]
        self._saved_stats = [buffer.clone() for buffer in self._running_stats]
        for hook in runner.hooks:
            if isinstance(hook, EMAHook):
                self._guard_ema(hook)

    def _guard_ema(self, ema_hook: EMAHook) -> None:
        ema_model = ema_hook.ema_model
        update = ema_model.update_parameters

        def update_unless_skipped(model):
            if self._skipped_this_iter is None:
                update(model)

        ema_model.update_parameters = update_unless_skipped

    def _mark_stepped(self, optimizer, args, kwargs) -> None:
        self._stepped = True

    # ---- the guarded step ---------------------------------------------------------------
    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._skipped_this_iter = None
        if self._wrapper is None:
            return
        if not self._window_open and self._running_stats:
            torch._foreach_copy_(self._saved_stats, self._running_stats)
        self._window_open = True

    def _guarded_update_params(self, loss: torch.Tensor, step_kwargs: Optional[Dict] = None,
                               zero_kwargs: Optional[Dict] = None) -> None:
        wrapper = self._wrapper
        finite = torch.isfinite(loss.detach()).all()
        self._window_loss_finite = finite if self._window_loss_finite is None else (
            self._window_loss_finite & finite)
        # Backward runs even for a NaN loss: under DDP it is where the ranks average gradients.
        wrapper.backward(wrapper.scale_loss(loss))
        if not wrapper.should_update():
            return
        loss_finite, self._window_loss_finite = self._window_loss_finite, None
        # with AMP the loss scaler checks the gradients (see the module docstring)
        grads_finite = None if self._is_amp else gradients_are_finite(self._params)
        flags = torch.stack([loss_finite, loss_finite if grads_finite is None else grads_finite])
        (loss_ok, grads_ok), (all_loss_ok, all_grads_ok) = local_and_global_min(flags)
        reason = None
        if not (all_loss_ok and all_grads_ok):
            # The gradients are the same on every rank after DDP's averaging; the loss is not.
            reason = ('loss' if not loss_ok else
                      'gradients' if not grads_ok else 'loss on another rank')
        else:
            self._stepped = False
            wrapper.step(**(step_kwargs or {}))
            if not self._stepped:
                reason = 'gradients (AMP loss scaler skipped the step)'
        wrapper.zero_grad(**(zero_kwargs or {}))
        self._window_open = False
        if reason is not None:
            self._skipped_this_iter = reason
            if self._running_stats:
                torch._foreach_copy_(self._running_stats, self._saved_stats)

    # ---- reporting and stopping ---------------------------------------------------------
    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        reason = self._skipped_this_iter
        if reason is None:
            self.consecutive = 0
            return
        self.consecutive += 1
        self.total_skipped += 1
        iteration = runner.iter + 1
        losses = ', '.join(f'{k}={float(v):.4g}' for k, v in (outputs or {}).items())
        names = sample_names(data_batch)
        shown = ', '.join(names[:self.max_logged_samples])
        if len(names) > self.max_logged_samples:
            shown += f' (+{len(names) - self.max_logged_samples} more)'
        runner.logger.warning(
            f'NonFiniteStepHook: iteration {iteration}: non-finite {reason}; step skipped (no '
            f'weight, optimiser-state, EMA or running-statistics update); losses: {losses or "-"}'
            f'; samples: {shown or "-"}; {self.consecutive} in a row, {self.total_skipped} in '
            f'this run, the run stops at {self.max_consecutive} in a row')
        runner.message_hub.update_info('nonfinite_skipped_steps', self.total_skipped)
        if self.consecutive >= self.max_consecutive:
            self._stop(runner, iteration, batch_idx, data_batch, reason)

    def _stop(self, runner, iteration: int, batch_idx: int, data_batch, reason: str) -> None:
        # nothing was applied since the last good step, so the current state is that step's
        checkpoint = save_boundary_checkpoint(runner, batch_idx)
        batch_file = osp.join(runner.work_dir, f'nonfinite_batch_iter_{iteration}.pth')
        if is_main_process():
            buffer = io.BytesIO()
            torch.save(plain_batch(data_batch), buffer)
            atomic_write_bytes(buffer.getvalue(), batch_file)
        raise NonFiniteTrainingError(
            f'{self.consecutive} optimiser steps in a row had a non-finite {reason} (last at '
            f'iteration {iteration}); the last good weights are in {checkpoint} (no update was '
            f'applied since), the last bad batch in {batch_file}; lower the lr or check that '
            f'batch, then continue with --resume {checkpoint}')
