"""LoMaR: local masked reconstruction (Chen et al., "Efficient Self-supervised Vision Pretraining
with Local Masked Reconstruction", arXiv 2206.00790): the algorithm and its pretraining backbone.

* :class:`LoMaRViT` -- the pretraining encoder: a :class:`ViTBase` with no absolute position
  anywhere (the sin-cos table the official code builds is never added) and the contextual
  relative position on keys in every layer (iRPE ctx/product, one (1, d, 50) table per layer,
  :class:`~mim_det.models.layers.ContextualRPE`). Its buckets clip at +-3 patches, so the same
  weights run on 7x7 windows and on whole images of any size. In pretraining the encoder sees
  ``B * M`` short sequences, one per window: the window's ``K * K`` patch embeddings, masked ones
  replaced by the learned ``mask_token``, after a cls token, i.e. (B * M, K * K + 1, D)
  (LoMaR Sec. 3.1). Downstream models fine-tune the same weights as ``PlainViT`` (no mask token).
* :class:`LoMaR` -- sampler -> backbone -> head (``BaseSelfSupervisor``).
"""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import nn

from ..backbones.base_vit import ViTBase
from ..layers import patchify
from ..maskers.window_sampler import WindowSample

#: LoMaR's relative position: iRPE ``ratio=1.9`` (alpha 1.9, beta 3.8, gamma 15.2), 50 buckets
LOMAR_RPE = dict(type='ContextualRPE', alpha=1.9, beta=3.8, gamma=15.2)


@MODELS.register_module()
class LoMaRViT(ViTBase):
    """LoMaR's pretraining encoder: cls token, no absolute position, contextual RPE on keys,
    final LayerNorm (the head's first step), the learned mask token.

    Args:
        arch, img_size, patch_size, out_indices, drop_rate, attn_drop_rate, drop_path_rate,
            qkv_bias, norm_cfg, final_norm, out_type, init_cfg: as :class:`ViTBase`.
        rel_pos_cfgs: LoMaR's contextual RPE (:data:`LOMAR_RPE`).

    ``forward(x, windows=None)``: whole images (B, 3, H, W) -> outputs as ``out_type``; with
    a :class:`WindowSample` the masked windows, (B * M, K * K + 1, D) with ``out_type='raw'``.
    """

    def __init__(self, arch: Union[str, dict] = 'b', img_size: int = 224,
                 patch_size: int = 16, rel_pos_cfgs: Sequence[dict] = (LOMAR_RPE, ),
                 final_norm: bool = True, out_type: str = 'raw', **kwargs):
        super().__init__(arch=arch, img_size=img_size, patch_size=patch_size,
                         with_cls_token=True, use_abs_pos=False, rel_pos_cfgs=rel_pos_cfgs,
                         final_norm=final_norm, out_type=out_type, **kwargs)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))

    def embed_windows(self, x: torch.Tensor, windows: WindowSample) -> torch.Tensor:
        """Patch-embed the sampled windows only, then mask them.

        The patch embedding is a per-patch linear map, so embedding the gathered window patches
        equals gathering from the whole embedded image (what the official code does) while the
        cost stays independent of the image size.

        Args:
            x: images (B, C, H, W).
            windows: the batch's :class:`WindowSample` on the (H/p, W/p) grid.

        Returns:
            (B * M, K * K, D) window tokens, masked ones equal to ``mask_token``.
        """
        p = self.patch_size
        grid_hw = (x.shape[-2] // p, x.shape[-1] // p)
        if grid_hw != tuple(windows.grid_hw):
            raise ValueError(f'LoMaRViT: windows were drawn on a {tuple(windows.grid_hw)} grid '
                             f'but the images give {grid_hw}')
        pixels = windows.gather(patchify(x, p))  # (B*M, K*K, p*p*C) in (row, col, channel)
        proj = self.patch_embed.projection
        weight = proj.weight.permute(0, 2, 3, 1).reshape(proj.out_channels, -1)
        tokens = F.linear(pixels, weight.to(pixels.dtype), proj.bias)
        return torch.where(windows.mask[..., None], self.mask_token.to(tokens.dtype), tokens)

    def forward(self, x: torch.Tensor, windows: Optional[WindowSample] = None):
        """Encode whole images, or the masked windows of a LoMaR batch (see class doc)."""
        if windows is None:
            return super().forward(x)
        grid_hw = (windows.window_size, windows.window_size)
        return self.encode(self.add_position(self.embed_windows(x, windows), grid_hw), grid_hw)


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
