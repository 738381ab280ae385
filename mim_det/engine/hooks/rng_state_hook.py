"""Save and restore random-number-generator states so that ``--resume`` is exact.

mmengine 0.10.7 re-seeds on resume (``randomness.seed``) but does not store the generators'
*states*, so everything random after the resumed iteration (MIM masks, window positions, drop
path, dropout) differs from an uninterrupted run. This hook stores the states of Python's
``random``, NumPy's global generator, torch's CPU generator and every CUDA device's generator in
each checkpoint and puts them back when training starts again from that checkpoint.

Exactness also needs the data pipeline to be reproducible. With ``num_workers >= 1`` it is:
mmengine seeds each worker from ``(seed, rank, worker_id)`` and, when resuming an iteration-based
loop, replays the sampler up to the resumed iteration inside the workers. With
``num_workers=0`` the replay runs the transforms in the main process after the states are
restored, which shifts them; the hook warns in that case.

States are stored as tensors and lists of ints only, so they load under
``torch.load(weights_only=True)`` without further allow-listing.
"""
import random
from typing import Optional

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

RNG_STATE_KEY = 'rng_state'


def capture_rng_state() -> dict:
    """The current generator states of this process, as a tensors-and-ints dict."""
    version, py_state, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = dict(
        python=dict(version=version, state=list(py_state), gauss=gauss),
        numpy=dict(name=np_name, keys=torch.from_numpy(np_keys.astype(np.int64)), pos=int(np_pos),
                   has_gauss=int(np_has_gauss), gauss=float(np_gauss)),
        torch=torch.get_rng_state(),
    )
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Inverse of :func:`capture_rng_state`."""
    py = state['python']
    random.setstate((py['version'], tuple(py['state']), py['gauss']))
    npy = state['numpy']
    np.random.set_state((npy['name'], npy['keys'].numpy().astype(np.uint32), npy['pos'],
                         npy['has_gauss'], npy['gauss']))
    torch.set_rng_state(state['torch'].cpu())
    if 'cuda' in state and torch.cuda.is_available():
        cuda_states = state['cuda']
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states])


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Store generator states in checkpoints; restore them when resuming.

    mmengine writes checkpoints from rank 0 only, so rank 0's states are stored and every rank
    restores them. Data still differs per rank after resume (distributed sampler, per-rank
    worker seeds); model-side randomness (masks) becomes identical across ranks instead of
    independent. Single-process runs resume bit-exactly.

    Priority is ``'VERY_LOW'`` so the states are captured after every other hook of the
    iteration has drawn random numbers.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._pending: Optional[dict] = None
        self._resumed_iter: Optional[int] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[RNG_STATE_KEY] = capture_rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # ``load_from`` (fine-tuning) also calls this; only a resume sets the loop counters,
        # which is checked in ``before_train``.
        self._pending = checkpoint.get(RNG_STATE_KEY)
        self._resumed_iter = checkpoint.get('meta', {}).get('iter')

    def before_train(self, runner) -> None:
        # Restored here rather than in ``after_load_checkpoint``: the runner re-seeds after
        # loading when the configured seed differs, which would overwrite the states.
        if self._pending is None or runner.iter == 0:
            return
        if runner.iter != self._resumed_iter:
            return
        restore_rng_state(self._pending)
        self._pending = None
        loader = runner.train_dataloader
        if (getattr(loader, 'num_workers', 1) == 0 and not runner.train_loop.__class__.__name__
                .startswith('EpochBased')):
            runner.logger.warning(
                'RNGStateHook: resuming an iteration-based loop with num_workers=0 replays the '
                'data transforms in this process after the generator states were restored; the '
                'run continues correctly but not bit-identically. Use num_workers >= 1 for '
                'exact resume.')
        runner.logger.info(f'RNGStateHook: restored generator states of iteration {runner.iter}')
