"""LoMaR: local masked reconstruction (Chen et al., arXiv 2206.00790)."""
from typing import Dict, List, Optional

import torch
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..utils.window_sampler import WindowSample


@MODELS.register_module()
class LoMaR(BaseSelfSupervisor):
    """Local masked reconstruction pretraining.

    Per batch of images x (B, 3, H, W): the ``window_sampler`` draws M windows of K x K patches
    per image and masks int(0.8 K^2) patches in each; the backbone (:class:`LoMaRViT`) encodes
    the (B * M, K^2 + 1, D) window sequences, masked tokens included; the head predicts every
    window patch's pixels and the loss is the MSE on masked patches (LoMaR Eq. 1).

    Args:
        backbone: a :class:`LoMaRViT` config.
        head: a :class:`LoMaRHead` config.
        window_sampler: a :class:`WindowSampler` config (window_size, num_windows, mask_ratio,
            position_mode).
        neck, target_generator, pretrained, data_preprocessor, init_cfg: as in mmpretrain's
            ``BaseSelfSupervisor`` (LoMaR has no neck).
    """

    def __init__(self, backbone: dict, head: dict,
                 window_sampler: dict = dict(type='WindowSampler', window_size=7, num_windows=4,
                                             mask_ratio=0.8),
                 neck: Optional[dict] = None, target_generator: Optional[dict] = None,
                 pretrained: Optional[str] = None, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(backbone=backbone, neck=neck, head=head,
                         target_generator=target_generator, pretrained=pretrained,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.window_sampler = (MODELS.build(window_sampler)
                               if isinstance(window_sampler, dict) else window_sampler)

    def grid_hw(self, inputs: torch.Tensor):
        p = self.backbone.patch_size
        return inputs.shape[-2] // p, inputs.shape[-1] // p

    def sample_windows(self, inputs: torch.Tensor) -> WindowSample:
        return self.window_sampler(inputs.shape[0], self.grid_hw(inputs), inputs.device)

    def extract_feat(self, inputs: torch.Tensor):
        """Whole-image features (no masking), as downstream tasks see them."""
        return self.backbone(inputs)

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        if isinstance(inputs, (list, tuple)):  # SelfSupDataPreprocessor returns a list of views
            inputs = inputs[0]
        windows = self.sample_windows(inputs)
        latent = self.backbone(inputs, windows)[0]
        return dict(loss=self.head.loss(latent, inputs, windows))

    @torch.no_grad()
    def reconstruct(self, inputs: torch.Tensor,
                    windows: Optional[WindowSample] = None) -> Dict[str, torch.Tensor]:
        """Predictions in pixel space for visualisation.

        Returns a dict with ``windows``, ``target`` (raw window patches, (B*M, K^2, p^2 C)),
        ``pred`` (the head output) and ``pred_pixels``: the prediction with the per-patch
        normalisation undone using the target patch's own mean and variance (norm_pix).
        """
        windows = windows if windows is not None else self.sample_windows(inputs)
        latent = self.backbone(inputs, windows)[0]
        pred = self.head.predict(latent)
        target = self.head.window_patches(inputs, windows)
        pred_pixels = pred
        if self.head.norm_pix:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            pred_pixels = pred * (var + 1.e-6) ** .5 + mean
        return dict(windows=windows, target=target, pred=pred, pred_pixels=pred_pixels)
