"""MAE (He et al., "Masked Autoencoders Are Scalable Vision Learners", CVPR 2022).

mim_det trains mmpretrain's ``MAE`` / ``MAEViT`` / ``MAEPretrainDecoder`` / ``MAEPretrainHead``
unchanged (configs/mae/); exports, the loader and the downstream configs treat its checkpoints
like every other method's. This module adds only the reconstruction view the tools draw.
"""
from typing import Dict

import torch
from torch import nn


@torch.no_grad()
def reconstruct(model: nn.Module, inputs: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Pixels an mmpretrain ``MAE`` predicts for its own random mask (seed torch first).

    Args:
        model: the algorithm (backbone ``MAEViT``, neck ``MAEPretrainDecoder``, head
            ``MAEPretrainHead``), in eval mode.
        inputs: normalised images (B, 3, H, W), H = W = the backbone's ``img_size``.

    Returns:
        dict with ``pixel_mask`` (B, 1, H, W) bool (the masked patches the loss uses) and
        ``reconstruction`` (B, 3, H, W): visible patches as given, masked ones as predicted.
        With ``norm_pix`` the decoder predicts per-patch normalised pixels
        ``(x - mean_patch) / sqrt(var_patch + 1e-6)`` (MAE Sec. 4, "pixels with per-patch
        normalization"); they are mapped back with the target patch's own statistics.
    """
    latent, mask, ids_restore = model.backbone(inputs)
    pred = model.neck(latent, ids_restore)  # (B, L, p * p * 3)
    head = model.head
    target = head.patchify(inputs)
    if head.norm_pix:
        mean = target.mean(dim=-1, keepdim=True)
        var = target.var(dim=-1, keepdim=True)
        pred = pred * (var + 1.e-6)**.5 + mean
    masked = mask.bool()[..., None]
    pixel_mask = head.unpatchify(masked.expand_as(target).float()).bool()[:, :1]
    return dict(pixel_mask=pixel_mask,
                reconstruction=head.unpatchify(torch.where(masked, pred, target)))
