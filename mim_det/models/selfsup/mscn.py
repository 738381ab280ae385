"""Masked Siamese ConvNets (MSCN; Jing, Zhu and LeCun, arXiv 2206.07700): several masked views
per image, each paired with one view of the other branch, under any mmpretrain siamese loss.

The masks themselves are data-pipeline components (:mod:`mim_det.datasets.transforms.
siamese_masks`); the pipeline's ``MultiView(num_views=[1, K], transforms=[branch_a, branch_b])``
gives per image one branch-A view and K branch-B (masked) views, branch-specific probabilities
giving the paper's asymmetric branches. :class:`MultiMaskSiamese` wraps an unchanged two-view
mmpretrain algorithm (``SimCLR`` by default; ``BYOL``, ``SimSiam``, ``MoCoV3`` ...) and applies its
loss to the K asymmetric pairs (A, B_k), averaging them:

    L = 1/K * sum_k L_siamese(f(A), f(B_k))

With K = 1 it is exactly the wrapped algorithm. How the pairs reach the loss depends on it:

* ``pairing='per_pair'`` (default, for losses whose negatives are the other images of the batch:
  SimCLR's InfoNCE, MoCo): one call per pair, so a batch never holds two copies of an image as
  negatives of each other. A encodes K times (2K encodings of N images instead of K + 1).
* ``pairing='batched'`` (for losses without negatives and with a momentum target, BYOL /
  SimSiam): one call on the K pairs stacked along the batch, so the target network's EMA steps
  once per iteration, as the algorithm's schedule assumes.

The backbone is ``algorithm.backbone``; ``tools/export_backbone.py`` exports it.
"""
from typing import Dict, List

import torch
from mmengine.model import BaseModel

from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

PAIRINGS = ('per_pair', 'batched')


@MODELS.register_module()
class MultiMaskSiamese(BaseModel):
    """Multi-mask wrapper of a two-view mmpretrain siamese algorithm.

    Args:
        algorithm: config of the wrapped algorithm (e.g. ``dict(type='SimCLR', backbone=...,
            neck=..., head=..., data_preprocessor=...)``); its data preprocessor is this model's.
        pairing: 'per_pair' or 'batched' (see the module docstring).
        init_cfg: mmengine init config.
    """

    def __init__(self, algorithm: dict, pairing: str = 'per_pair', init_cfg=None):
        if pairing not in PAIRINGS:
            raise ValueError(f"MultiMaskSiamese: pairing={pairing!r}: use 'per_pair' (SimCLR, "
                             "MoCo) or 'batched' (BYOL, SimSiam)")
        super().__init__(init_cfg=init_cfg)
        self.algorithm = MODELS.build(algorithm)
        # one preprocessor, the algorithm's (SelfSupDataPreprocessor: a list of view batches)
        self.data_preprocessor = self.algorithm.data_preprocessor
        self.pairing = pairing

    @property
    def backbone(self) -> torch.nn.Module:
        return self.algorithm.backbone

    def extract_feat(self, inputs: torch.Tensor):
        return self.algorithm.extract_feat(inputs)

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        return self.algorithm(inputs, data_samples, mode=mode)

    def loss(self, inputs: List[torch.Tensor],
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """``inputs``: [A (N, C, H, W), B_1, ..., B_K] as ``MultiView(num_views=[1, K])`` packs
        them. Returns the wrapped algorithm's losses averaged over the K pairs."""
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError('MultiMaskSiamese needs >= 2 views per image (branch A, then the '
                             'masked views); use MultiView(num_views=[1, K]) in the pipeline')
        anchor, masked = inputs[0], list(inputs[1:])
        if self.pairing == 'batched':
            k = len(masked)
            return self.algorithm.loss([anchor.repeat(k, 1, 1, 1), torch.cat(masked)],
                                       list(data_samples) * k)
        totals: Dict[str, torch.Tensor] = {}
        for view in masked:
            for name, value in self.algorithm.loss([anchor, view], data_samples).items():
                totals[name] = totals[name] + value if name in totals else value
        return {name: value / len(masked) for name, value in totals.items()}
