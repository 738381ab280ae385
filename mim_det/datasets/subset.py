"""A fixed random fraction of a dataset, and a held-out part never used for training.

Data scaling in MIM (Xie et al., *On Data Scaling in Masked Image Modeling*, CVPR 2023, arXiv
2206.04664, Sec. 3) pretrains on 10 / 20 / 50 / 100 % subsets of ImageNet-1K and tracks the MIM
loss on held-out images. ``FractionSubset`` gives both from one image folder:

- one seeded permutation of the whole dataset; its first ``num_heldout`` indices are the
  held-out part (``split='heldout'``), the rest is the training pool;
- ``split='train'`` takes the first ``round(fraction * pool)`` indices of the pool, so the
  subsets are nested (the 10 % images are inside the 20 % ones, and so on) and every fraction
  of one seed holds out the same images.

Registered in mmengine's root ``DATASETS``, so every scope finds it; the wrapped dataset is
built in the runner's scope::

    train_dataloader = dict(dataset=dict(
        type='FractionSubset', fraction=0.1, num_heldout=200, seed=0,
        dataset=dict(type='CustomDataset', data_root='data/pretrain', ...)))
"""
from typing import Union

import numpy as np
from mmengine.registry import DATASETS

SPLITS = ('train', 'heldout')


def subset_indices(num_items: int, fraction: float, num_heldout: int, split: str,
                   seed: int) -> np.ndarray:
    """The (sorted) indices of ``split`` in a dataset of ``num_items``; see the module doc."""
    if split not in SPLITS:
        raise ValueError(f'FractionSubset: split={split!r}; choose one of {SPLITS}')
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f'FractionSubset: fraction={fraction}; give a value in (0, 1], e.g. '
                         '0.1 for a 10 % subset')
    if not 0 <= num_heldout < num_items:
        raise ValueError(f'FractionSubset: num_heldout={num_heldout} of a dataset of '
                         f'{num_items} items; hold out fewer than {num_items}')
    order = np.random.default_rng(seed).permutation(num_items)
    if split == 'heldout':
        chosen = order[:num_heldout]
    else:
        pool = order[num_heldout:]
        chosen = pool[:max(1, int(round(fraction * len(pool))))]
    return np.sort(chosen)


@DATASETS.register_module()
class FractionSubset:
    """A seeded ``fraction`` of ``dataset`` (``split='train'``) or its ``num_heldout`` held-out
    items (``split='heldout'``).

    Args:
        dataset: the dataset, a config or an object.
        fraction: the share of the training pool to use, in (0, 1].
        num_heldout: items set aside for validation (never in any training fraction).
        split: ``'train'`` or ``'heldout'``.
        seed: the permutation's seed (not the run's: changing ``randomness.seed`` keeps the
            subset).
    """

    def __init__(self, dataset: Union[dict, object], fraction: float = 1.0,
                 num_heldout: int = 0, split: str = 'train', seed: int = 0,
                 lazy_init: bool = False):
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        self.fraction, self.num_heldout, self.split, self.seed = \
            float(fraction), int(num_heldout), split, int(seed)
        self.indices = None
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        return self.dataset.metainfo

    def full_init(self):
        if self.indices is not None:
            return
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()
        self.indices = subset_indices(len(self.dataset), self.fraction, self.num_heldout,
                                      self.split, self.seed)

    def get_data_info(self, idx: int) -> dict:
        return self.dataset.get_data_info(int(self.indices[idx]))

    def __getitem__(self, idx: int):
        return self.dataset[int(self.indices[idx])]

    def __len__(self) -> int:
        return len(self.indices)

    def __repr__(self) -> str:
        return (f'FractionSubset({self.split}: {len(self)} of {len(self.dataset)} items, '
                f'fraction={self.fraction}, num_heldout={self.num_heldout}, seed={self.seed}, '
                f'of {type(self.dataset).__name__})')
