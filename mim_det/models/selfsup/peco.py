"""PeCo's first stage: training the perceptual visual tokenizer (Dong et al., "PeCo: Perceptual
Codebook for BERT Pre-training of Vision Transformers", AAAI 2023, arXiv 2111.12710).

PeCo's tokenizer is a VQ-VAE whose objective adds a perceptual term to the pixel and VQ losses
(Sec. 3.2):

    L = ||x - x_hat||^2 + ||sg[E(x)] - z_q||^2 + beta ||sg[z_q] - E(x)||^2 + lambda L_percep

with L_percep the feature distance of a frozen self-supervised ViT at several depths
(:class:`~mim_det.models.losses.ViTPerceptualLoss`). ``perceptual_loss=None`` trains the plain
VQ-VAE baseline the paper compares against (``tools/train_tokenizer.py --no-perceptual``).
VQGAN (Esser et al. 2021), whose training PeCo builds on, also has a patch-discriminator term;
it is not implemented here (see the README's PeCo section).

The trained :class:`~mim_det.models.target_generators.VQTokenizer` (prefix ``tokenizer.`` of
this model's checkpoint) is the target generator of BEiT, PeCo and LoMaR-BEiT pretraining.
"""
from typing import Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmpretrain.registry import MODELS


@MODELS.register_module()
class PerceptualVQVAE(BaseModel):
    """Trains a :class:`VQTokenizer` with pixel, VQ and (optionally) perceptual losses.

    Args:
        tokenizer: the ``VQTokenizer`` config.
        perceptual_loss: a ``ViTPerceptualLoss`` config, or ``None`` for the plain VQ-VAE.
        pixel_loss_weight: weight of the mean squared pixel error (in the normalised space).
        data_preprocessor: mmpretrain's ``SelfSupDataPreprocessor`` (normalises the images).

    ``forward(inputs, data_samples, mode='loss')``: inputs (B, 3, H, W) (or a one-view list) ->
    dict ``loss_pixel``, ``loss_codebook``, ``loss_commit``, [``loss_perceptual``] (summed by
    mmengine into the training loss) and the logged codebook usage ``perplexity``,
    ``codes_used`` (distinct codes of the batch) and ``dead_codes`` (codes restarted at this
    step). ``mode='tensor'`` returns the reconstruction (B, 3, H, W); ``mode='predict'`` the
    tokens (B, h, w).
    """

    def __init__(self, tokenizer: dict, perceptual_loss: Optional[dict] = None,
                 pixel_loss_weight: float = 1.0, data_preprocessor: Optional[dict] = None,
                 init_cfg=None):
        if data_preprocessor is None:
            data_preprocessor = dict(type='SelfSupDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.tokenizer = MODELS.build(tokenizer)
        self.perceptual_loss = MODELS.build(perceptual_loss) if perceptual_loss else None
        self.pixel_loss_weight = pixel_loss_weight

    def forward(self, inputs: Union[torch.Tensor, List[torch.Tensor]], data_samples=None,
                mode: str = 'tensor'):
        if isinstance(inputs, (list, tuple)):
            inputs = inputs[0]
        if mode == 'loss':
            return self.loss(inputs)
        if mode == 'tensor':
            return self.tokenizer.reconstruct(inputs)[0]
        if mode == 'predict':
            return self.tokenizer.tokens(inputs)
        raise RuntimeError(f'PerceptualVQVAE: invalid mode {mode!r}; use loss, tensor or predict')

    def loss(self, inputs: torch.Tensor) -> Dict[str, torch.Tensor]:
        x_hat, _, stats = self.tokenizer.reconstruct(inputs)
        losses = dict(loss_pixel=self.pixel_loss_weight * F.mse_loss(x_hat, inputs))
        if self.perceptual_loss is not None:
            losses['loss_perceptual'] = self.perceptual_loss(inputs, x_hat)
        losses.update(stats)
        return losses
