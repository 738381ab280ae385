"""LoMaR's light reconstruction head: a linear map to pixels and the masked MSE loss."""
import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import nn

from ..layers import patchify
from ..maskers.window_sampler import WindowSample


@MODELS.register_module()
class LoMaRHead(BaseModule):
    """Pixel predictor and loss of LoMaR (arXiv 2206.00790, Sec. 3.1, Eq. 1).

    The encoder's final LayerNorm (``LoMaRViT.ln1``) is followed by ``predictor``, one Linear
    ``D -> p * p * C`` per token (the official ``encoder_pred``). The target of window token t is
    its image patch x_t; with ``norm_pix`` it is standardised per patch,
    ``(x_t - mean(x_t)) / sqrt(var(x_t) + 1e-6)`` with the unbiased variance. The loss is the
    squared error averaged over a patch's values and then over the masked patches only:

        L = sum_{t masked} ||y_t - x_t||^2 / (p^2 C)  /  #masked

    computed by mmpretrain's ``PixelReconstructionLoss`` (criterion L2).

    Args:
        embed_dims: encoder width D.
        patch_size: p.
        in_channels: C.
        norm_pix: per-patch target normalisation.
        loss: loss config.
    """

    def __init__(self, embed_dims: int = 768, patch_size: int = 16, in_channels: int = 3,
                 norm_pix: bool = True,
                 loss: dict = dict(type='PixelReconstructionLoss', criterion='L2'),
                 init_cfg=dict(type='Xavier', layer='Linear', distribution='uniform')):
        super().__init__(init_cfg=init_cfg)
        self.patch_size = patch_size
        self.in_channels = in_channels
        self.norm_pix = norm_pix
        self.predictor = nn.Linear(embed_dims, patch_size ** 2 * in_channels)
        self.loss_module = MODELS.build(loss)

    def predict(self, latent: torch.Tensor) -> torch.Tensor:
        """(B * M, K*K + 1, D) encoder output -> (B * M, K*K, p*p*C); the cls output is dropped."""
        return self.predictor(latent[:, 1:])

    def window_patches(self, images: torch.Tensor, windows: WindowSample) -> torch.Tensor:
        """Raw pixel patches of every window: (B * M, K*K, p*p*C)."""
        return windows.gather(patchify(images, self.patch_size))

    def construct_target(self, images: torch.Tensor, windows: WindowSample) -> torch.Tensor:
        """(B * M, K*K, p*p*C) targets, normalised per patch when ``norm_pix``."""
        target = self.window_patches(images, windows)
        if self.norm_pix:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1.e-6) ** .5
        return target

    def loss(self, latent: torch.Tensor, images: torch.Tensor,
             windows: WindowSample) -> torch.Tensor:
        pred = self.predict(latent)
        target = self.construct_target(images, windows)
        return self.loss_module(pred, target.to(pred.dtype), windows.mask.to(pred.dtype))
