"""The MIM loss on held-out images, logged beside the training loss.

Xie et al., *On Data Scaling in Masked Image Modeling* (CVPR 2023, arXiv 2206.04664, Sec. 4.3,
Fig. 4-5): a large model pretrained long on little data overfits — its training loss keeps
falling while the MIM loss on validation images rises and its fine-tuned accuracy drops — and
the VALIDATION MIM loss predicts downstream performance where the training loss does not.

``ValidationMIMLossHook`` computes the model's own loss (``model(..., mode='loss')``, summed as
the runner sums it) on a held-out set every ``interval`` iterations:

- in eval mode (no drop path or dropout) without gradients, under the run's AMP setting;
- with FIXED randomness: Python's, NumPy's and torch's generators are seeded with ``seed``
  before each pass, so the crops, flips and masks of the data pipeline (SimMIM, BEiT) and the
  masks drawn by the model (MAE, LoMaR) are the same at every evaluation; the states of the
  training run are captured before and put back after, so training continues exactly as
  without the hook (same batches, masks and weights);
- sharded over ranks (``DefaultSampler`` without padding) and summed over them, so every rank
  logs the same mean.

The value goes to the runner's visualizer as ``val_mim_loss`` (with each loss term as
``val_mim_<name>``) at the iteration's step, so the JSON scalars and TensorBoard show it beside
``loss``, and to the log. The held-out set is ``dataset``; by default the training set's
held-out part when the training set is a ``FractionSubset`` with ``num_heldout > 0``.
"""
import copy
import random
from contextlib import nullcontext
from typing import Dict, Optional

import numpy as np
import torch
from mmengine.dist import all_reduce
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import AmpOptimWrapper
from mmengine.registry import HOOKS

from .rng_state_hook import capture_rng_state, restore_rng_state


def heldout_dataset(train_dataset: dict) -> dict:
    """The held-out counterpart of a ``FractionSubset`` training dataset config."""
    if train_dataset.get('type') != 'FractionSubset' or not train_dataset.get('num_heldout'):
        raise ValueError(
            'ValidationMIMLossHook: no held-out set; give the hook dataset=dict(...) (e.g. '
            'the ImageNet val folder with the training pipeline), or wrap the training set in '
            "dict(type='FractionSubset', num_heldout=N, dataset=...)")
    heldout = copy.deepcopy(dict(train_dataset))
    heldout['split'] = 'heldout'
    return heldout


@HOOKS.register_module()
class ValidationMIMLossHook(Hook):
    """Log the MIM loss of a held-out set every ``interval`` iterations (see module doc).

    Args:
        interval: iterations between evaluations (also at the last iteration).
        dataset: the held-out dataset config; ``None``: the training set's held-out part.
        batch_size: images per forward pass and rank.
        num_workers: loader workers (0: the main process; seeded like the main process).
        seed: the fixed seed of every evaluation's randomness.
        at_start: also evaluate before the first iteration (step 0).
    """

    priority = 'LOW'  # after the optimiser step and the scheduler, before checkpoints

    def __init__(self, interval: int = 500, dataset: Optional[dict] = None,
                 batch_size: int = 16, num_workers: int = 0, seed: int = 0,
                 at_start: bool = True):
        if interval < 1:
            raise ValueError(f'ValidationMIMLossHook: interval={interval}; give a positive '
                             'number of iterations')
        self.interval, self.dataset, self.batch_size = interval, dataset, batch_size
        self.num_workers, self.seed, self.at_start = num_workers, seed, at_start
        self.loader = None
        self.history = []  # (step, mean loss)

    def before_train(self, runner) -> None:
        dataset = self.dataset
        if dataset is None:
            dataset = heldout_dataset(runner.cfg.train_dataloader.dataset)
        train_loader = runner.cfg.train_dataloader
        state = capture_rng_state()  # building must not draw from the training streams
        try:
            self.loader = runner.build_dataloader(
                dict(dataset=dataset, batch_size=self.batch_size, num_workers=self.num_workers,
                     persistent_workers=False,
                     sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
                     collate_fn=train_loader.get('collate_fn', dict(type='pseudo_collate'))),
                seed=self.seed)
        finally:
            restore_rng_state(state)
        runner.logger.info(f'ValidationMIMLossHook: {len(self.loader.dataset)} held-out images '
                           f'({self.loader.dataset!r}), every {self.interval} iterations')
        if self.at_start and runner.iter == 0:
            self._evaluate(runner, step=0)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.every_n_train_iters(runner, self.interval) or self.is_last_train_iter(runner):
            self._evaluate(runner, step=runner.iter + 1)

    def _seed_everything(self):
        random.seed(self.seed)
        np.random.seed(self.seed)
        torch.manual_seed(self.seed)  # also seeds every CUDA device

    @torch.no_grad()
    def compute(self, runner) -> Dict[str, float]:
        """The held-out means of the total loss (``loss``) and of each loss term."""
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        wrapper = runner.optim_wrapper
        autocast = wrapper.optim_context(model) if isinstance(wrapper, AmpOptimWrapper) \
            else nullcontext()
        # per module: some stay in eval on purpose (frozen teachers and tokenizers)
        modes = [(m, m.training) for m in model.modules()]
        state = capture_rng_state()
        sums: Dict[str, torch.Tensor] = {}
        device = next(model.parameters()).device
        try:
            self._seed_everything()
            model.eval()
            for batch in self.loader:
                with autocast:
                    data = model.data_preprocessor(batch, False)
                    losses = model(**data, mode='loss')
                total, terms = model.parse_losses(losses)
                count = len(data['data_samples']) if data.get('data_samples') is not None \
                    else _batch_len(data['inputs'])
                for name, value in [('loss', total)] + [
                        (k, v) for k, v in losses.items() if 'loss' in k and k != 'loss']:
                    # each term as parse_losses reduces it (mean; a list of tensors summed)
                    value = value.detach().float().mean() if isinstance(value, torch.Tensor) \
                        else sum(v.detach().float().mean() for v in value)
                    sums[name] = sums.get(name, 0.) + value.to(device) * count
                sums['count'] = sums.get('count', 0.) + torch.tensor(float(count), device=device)
        finally:
            for module, mode in modes:
                module.training = mode
            restore_rng_state(state)
        for value in sums.values():
            all_reduce(value, op='sum')
        count = float(sums.pop('count'))
        return {name: float(value) / count for name, value in sums.items()}

    def _evaluate(self, runner, step: int) -> None:
        means = self.compute(runner)
        scalars = {'val_mim_loss': means['loss']}
        scalars.update({f'val_mim_{k}': v for k, v in means.items() if k != 'loss'})
        runner.visualizer.add_scalars(scalars, step=step)
        self.history.append((step, means['loss']))
        runner.logger.info(f'Iter {step}: validation MIM loss {means["loss"]:.5f} '
                           f'({len(self.loader.dataset)} held-out images, fixed masks)')


def _batch_len(inputs) -> int:
    first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
    return len(first)
