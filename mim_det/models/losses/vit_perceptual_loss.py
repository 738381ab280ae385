"""PeCo's perceptual loss with a frozen self-supervised ViT as the feature network.

PeCo (Dong et al., arXiv 2111.12710, Sec. 3.2) adds to the VQ-VAE objective a perceptual
similarity between an image x and its reconstruction x_hat computed from deep features of a
frozen network at several depths:

    L_percep = sum_{l in S} 1 / (C_l H_l W_l) * || f_l(x) - f_l(x_hat) ||_2^2

and shows that features of a SELF-SUPERVISED ViT work as well as (better than) a supervised
VGG for it; S is a few evenly spaced blocks. Here f is any ViT that mim_det's one checkpoint
loader reads (a mim_det LoMaR / MAE / SimMIM export, an official MAE file, ...), built as a
:class:`~mim_det.models.backbones.PlainViT` with global attention; ``out_indices`` chooses S
(blocks 3, 6, 9, 12 of a ViT-B: ``(2, 5, 8, 11)``). Nothing is downloaded.
"""
from typing import Sequence

import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS


def feature_distance(feats_a: Sequence[torch.Tensor], feats_b: Sequence[torch.Tensor]
                     ) -> torch.Tensor:
    """sum over layers of the mean squared difference, PeCo's 1 / (C H W) ||.||^2 per image,
    averaged over the batch. Each entry is (B, C, H, W) (or any (B, ...))."""
    return sum(((a - b)**2).mean() for a, b in zip(feats_a, feats_b))


@MODELS.register_module()
class ViTPerceptualLoss(BaseModule):
    """Frozen ViT feature distance (PeCo's L_percep).

    Args:
        backbone: the feature network, a ViT config with its checkpoint, e.g.
            ``dict(type='PlainViT', arch='b', img_size=224, patch_size=16,
            with_cls_token=True, use_abs_pos=True, window_size=0, out_indices=(2, 5, 8, 11),
            drop_path_rate=0., init_cfg=dict(type='Pretrained', checkpoint='mae_b.pth'))``;
            its ``out_indices`` are the layers of S. The position handling must be the one the
            checkpoint was pretrained with (the loader's report says what it filled).
        loss_weight: lambda, the weight of L_percep next to the pixel loss.

    ``forward(x, x_hat)``: two (B, 3, H, W) batches in the feature network's normalised input
    space -> scalar ``loss_weight * L_percep``; gradients reach ``x_hat`` only (the network is
    frozen, and stays in eval mode even when the model around it trains).
    """

    def __init__(self, backbone: dict, loss_weight: float = 1.0, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if not backbone.get('init_cfg'):
            raise ValueError("ViTPerceptualLoss: backbone has no init_cfg; a random network "
                             "is no perceptual metric: set backbone.init_cfg=dict("
                             "type='Pretrained', checkpoint=<a ViT checkpoint or export>)")
        from ..backbones import plain_vit  # noqa: F401  (registers PlainViT; imports mmdet)
        self.network = MODELS.build(dict(backbone, out_type='featmap'))
        self.loss_weight = loss_weight
        self.network.requires_grad_(False)
        self.network.eval()

    def init_weights(self):
        super().init_weights()
        self.network.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        self.network.eval()
        return self

    def forward(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = self.network(x)
        return self.loss_weight * feature_distance(self.network(x_hat), target)
