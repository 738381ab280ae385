"""LoMaR-BEiT: LoMaR's local windows with BEiT's visual-token targets (Chen et al., "Efficient
Self-supervised Vision Pretraining with Local Masked Reconstruction", arXiv 2206.00790, Sec. 4:
83.4 top-1 against BEiT's 83.2, in 35.8% of BEiT's pretraining time).

The sampler, the encoder and the head are the existing parts: LoMaR's ``WindowSampler`` (K x K
windows, 80% of each masked) and ``LoMaRViT`` (the encoder sees the window tokens only,
contextual relative position), mmpretrain's ``BEiTV1Head`` (Linear(D, num_codes) and
cross-entropy on masked positions only) and a frozen tokenizer as ``target_generator``
(:class:`~mim_det.models.target_generators.VQTokenizer`, or mmpretrain's ``DALL-E``). What is
new is where the targets come from: the tokenizer encodes the WHOLE image (its second view), and
each window's targets are the whole-image tokens gathered at the window's positions, so a
window patch has the token it has in the image, not one of a cropped window.
"""
from typing import Dict, List, Optional

import torch
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..maskers.window_sampler import WindowSample


def window_token_scores(scores: torch.Tensor, windows: WindowSample) -> torch.Tensor:
    """Whole-image token scores gathered into the windows.

    Args:
        scores: (B, V, G_h, G_w) the tokenizer's per-code scores on the patch grid.
        windows: the batch's windows on the same (G_h, G_w) grid.

    Returns:
        (B * M, V, K, K): window m of image b holds the scores of its K x K patches, so
        ``argmax(1)`` is their whole-image tokens (the ``BEiTV1Head`` target layout).
    """
    b, v = scores.shape[:2]
    k = windows.window_size
    per_patch = windows.gather(scores.flatten(2).transpose(1, 2))  # (B*M, K*K, V)
    return per_patch.transpose(1, 2).reshape(-1, v, k, k)


@MODELS.register_module()
class LoMaRBEiT(BaseSelfSupervisor):
    """Masked visual-token prediction inside LoMaR's windows.

    Args:
        backbone: a ``LoMaRViT`` config (``out_type='raw'``, final norm).
        head: a ``BEiTV1Head`` config (``embed_dims`` = D, ``num_embed`` = the tokenizer's
            code count).
        target_generator: a frozen tokenizer whose token grid is the backbone's patch grid.
        window_sampler: a ``WindowSampler`` config (LoMaR: 7 x 7 windows, 80% masked).
        neck, pretrained, data_preprocessor, init_cfg: as ``BaseSelfSupervisor``; the data
            preprocessor is mmpretrain's ``TwoNormDataPreprocessor`` (view 2: the tokenizer's).

    ``loss(inputs, data_samples)``: inputs = [images (B, 3, H, W), tokenizer view (B, 3, H', W')]
    -> ``dict(loss=CE over the masked window patches)``.
    """

    def __init__(self, backbone: dict, head: dict, target_generator: dict,
                 window_sampler: dict = dict(type='WindowSampler', window_size=7, num_windows=4,
                                             mask_ratio=0.8),
                 neck: Optional[dict] = None, pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None, init_cfg: Optional[dict] = None):
        super().__init__(backbone=backbone, neck=neck, head=head,
                         target_generator=target_generator, pretrained=pretrained,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.window_sampler = MODELS.build(window_sampler)

    def extract_feat(self, inputs: torch.Tensor):
        """Whole-image features (no masking), as downstream tasks see them."""
        return self.backbone(inputs)

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        images, tokenizer_view = inputs[0], inputs[1]
        p = self.backbone.patch_size
        grid_hw = (images.shape[-2] // p, images.shape[-1] // p)
        with torch.no_grad():
            scores = self.target_generator(tokenizer_view)
        if tuple(scores.shape[-2:]) != grid_hw:
            raise ValueError(f'LoMaRBEiT: the tokenizer gives a {tuple(scores.shape[-2:])} token '
                             f'grid but the backbone a {grid_hw} patch grid; give the tokenizer '
                             'view the size whose tokens match the patches')
        windows = self.window_sampler(images.shape[0], grid_hw, images.device)
        latent = self.backbone(images, windows)[0]  # (B*M, K*K + 1, D)
        k = windows.window_size
        target = window_token_scores(scores, windows)
        return dict(loss=self.head.loss(latent, target, windows.mask.view(-1, k, k)))
