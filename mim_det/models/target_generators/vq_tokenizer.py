"""A trainable VQ-VAE visual tokenizer: BEiT's target generator that the toolkit trains itself.

BEiT (Bao et al., ICLR 2022, arXiv 2106.08254) predicts the discrete tokens of DALL-E's dVAE at
masked patches. That dVAE cannot be downloaded here; PeCo (Dong et al., AAAI 2023, arXiv
2111.12710) replaces it by a VQ-VAE (van den Oord et al. 2017) trained with an added perceptual
loss (:mod:`mim_det.models.selfsup.peco`). This module is the tokenizer itself:

* :class:`VectorQuantizer` -- nearest-neighbour codebook lookup with the straight-through
  estimator and the VQ-VAE losses (van den Oord et al. Eq. 3; beta = 0.25 as VQ-VAE / VQGAN /
  PeCo), codebook usage statistics (perplexity) and dead-code restarts;
* :class:`VQTokenizer` -- a residual conv encoder with ``2 ** len(channel_mults)`` downsampling
  (16x at paper scale: one token per ViT/16 patch, 14 x 14 at 224 px), the quantizer and the
  mirrored conv decoder. As a BEiT target generator (``forward``) it returns, like DALL-E's
  encoder, per-code scores (B, K, h, w) whose argmax over K is the token (mmpretrain
  ``BEiTV1Head`` takes that argmax).

Images are in the data preprocessor's normalised space, in and out.
"""
import math
from typing import Dict, Sequence, Tuple

import torch
import torch.distributed as torch_dist
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import nn


def nearest_codes(z: torch.Tensor, codebook: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Squared distances and nearest code of every vector.

    Args:
        z: (M, C) vectors; codebook: (K, C).

    Returns:
        ``(dist, idx)``: (M, K) squared Euclidean distances ``|z|^2 - 2 z.e + |e|^2`` and the
        (M,) index of the nearest code, computed in fp32 even under AMP (in fp16 the expansion
        loses the small differences between near codes and the argmin goes wrong).
    """
    with torch.autocast(z.device.type, enabled=False):
        z, codebook = z.float(), codebook.float()
        dist = (z.pow(2).sum(1, keepdim=True) - 2 * z @ codebook.t()
                + codebook.pow(2).sum(1)[None])
    return dist, dist.argmin(1)


def perplexity(idx: torch.Tensor, num_codes: int) -> torch.Tensor:
    """exp(entropy) of the code histogram of ``idx``: 1 when one code is used, K when all are
    used equally often."""
    p = torch.bincount(idx.flatten(), minlength=num_codes).float()
    p = p / p.sum().clamp(min=1)
    return torch.exp(-(p * torch.log(p.clamp(min=1e-10))).sum())


def _group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(32, channels), channels, eps=1e-6)


class ResBlock(nn.Module):
    """GN-SiLU-conv3x3 twice plus a (1x1 when the width changes) skip: (B, Cin, H, W) ->
    (B, Cout, H, W), the block of VQGAN's (Esser et al. 2021) encoder and decoder."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.body = nn.Sequential(
            _group_norm(in_channels), nn.SiLU(), nn.Conv2d(in_channels, out_channels, 3, 1, 1),
            _group_norm(out_channels), nn.SiLU(), nn.Conv2d(out_channels, out_channels, 3, 1, 1))
        self.skip = (nn.Identity() if in_channels == out_channels
                     else nn.Conv2d(in_channels, out_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.body(x)


class VectorQuantizer(nn.Module):
    """Codebook lookup with straight-through gradients, VQ-VAE losses and dead-code restarts.

    Args:
        num_codes: K (8192 in BEiT's dVAE and PeCo).
        code_dim: C, the width of the encoder output and of every code.
        beta: commitment weight (0.25: VQ-VAE, VQGAN, PeCo).
        restart_after: a code that no image of the (global) batch picked for this many
            consecutive training steps is dead and restarted on a random encoder vector of the
            current batch (Dhariwal et al. 2020, "Jukebox", random restarts); 0 disables it.

    ``forward(z)`` with z (B, C, h, w) returns ``(z_q, idx, stats)``: ``z_q`` (B, C, h, w) equals
    the nearest codes in value but carries the gradient of ``z`` (straight-through:
    ``z + sg[e - z]``), ``idx`` (B, h, w) the token of every position, and ``stats`` with
    ``loss_codebook`` = ||sg[z] - e||^2, ``loss_commit`` = beta ||z - sg[e]||^2 (both means over
    elements), ``perplexity``, ``codes_used`` (distinct codes in the batch) and ``dead_codes``
    (codes restarted at this step).
    """

    def __init__(self, num_codes: int = 8192, code_dim: int = 256, beta: float = 0.25,
                 restart_after: int = 100):
        super().__init__()
        self.num_codes, self.code_dim, self.beta = num_codes, code_dim, beta
        self.restart_after = restart_after
        self.codebook = nn.Embedding(num_codes, code_dim)
        nn.init.uniform_(self.codebook.weight, -1 / num_codes, 1 / num_codes)
        self.register_buffer('steps_unused', torch.zeros(num_codes, dtype=torch.long))

    def forward(self, z: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, Dict]:
        b, c, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, c)
        _, idx = nearest_codes(flat.detach(), self.codebook.weight)
        e = self.codebook(idx)
        stats = dict(loss_codebook=F.mse_loss(e, flat.detach()),
                     loss_commit=self.beta * F.mse_loss(flat, e.detach()),
                     perplexity=perplexity(idx, self.num_codes).detach(),
                     codes_used=torch.tensor(float(idx.unique().numel()), device=z.device))
        z_q = flat + (e - flat).detach()
        if self.training and self.restart_after > 0:
            stats['dead_codes'] = self._restart_dead_codes(flat.detach(), idx)
        return z_q.view(b, h, w, c).permute(0, 3, 1, 2), idx.view(b, h, w), stats

    @torch.no_grad()
    def _restart_dead_codes(self, flat: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Count steps without use (over all ranks) and move codes dead for ``restart_after``
        steps onto random encoder vectors of this batch (rank 0's, broadcast, so every rank
        keeps the same codebook)."""
        counts = torch.bincount(idx, minlength=self.num_codes)
        distributed = torch_dist.is_available() and torch_dist.is_initialized()
        if distributed:
            torch_dist.all_reduce(counts)
        self.steps_unused.add_(1).masked_fill_(counts > 0, 0)
        dead = (self.steps_unused >= self.restart_after).nonzero().flatten()
        if dead.numel():
            pick = torch.randint(flat.shape[0], (dead.numel(),), device=flat.device)
            new = flat[pick] + 1e-3 * flat.std() * torch.randn_like(flat[pick])
            if distributed:
                torch_dist.broadcast(new, src=0)
            self.codebook.weight.data[dead] = new
            self.steps_unused[dead] = 0
        return torch.tensor(float(dead.numel()), device=flat.device)


@MODELS.register_module()
class VQTokenizer(BaseModule):
    """Conv encoder -> :class:`VectorQuantizer` -> conv decoder.

    Args:
        in_channels: image channels.
        base_channels: width after the stem.
        channel_mults: one entry per downsampling stage, its width as a multiple of
            ``base_channels``; the token grid is the image / ``2 ** len(channel_mults)``
            (4 stages: 16x, a ViT/16 patch per token).
        num_res_blocks: residual blocks per stage (encoder and decoder).
        num_codes, code_dim, beta, restart_after: the quantizer's.
        frozen: no gradients and always eval mode (no restarts): BEiT's target generator.
        init_cfg: e.g. ``dict(type='Pretrained', checkpoint='tokenizer.pth',
            prefix='tokenizer.')`` to use a trained tokenizer as BEiT's target generator
            (the ``tokenizer.`` part of a ``PerceptualVQVAE`` checkpoint).

    Shapes (s = 2 ** len(channel_mults)): ``encode(x)`` (B, 3, H, W) -> (B, C, H/s, W/s);
    ``tokens(x)`` -> (B, H/s, W/s) long; ``forward(x)`` -> (B, K, H/s, W/s) scores
    (negative squared distances, argmax = the token); ``decode_codes(z_q)`` -> (B, 3, H, W);
    ``reconstruct(x)`` -> ``(x_hat, idx, stats)``.
    """

    def __init__(self, in_channels: int = 3, base_channels: int = 128,
                 channel_mults: Sequence[int] = (1, 1, 2, 2), num_res_blocks: int = 1,
                 num_codes: int = 8192, code_dim: int = 256, beta: float = 0.25,
                 restart_after: int = 100, frozen: bool = False, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.frozen = frozen
        widths = [base_channels * m for m in channel_mults]
        self.downsample = 2 ** len(widths)
        enc = [nn.Conv2d(in_channels, base_channels, 3, 1, 1)]
        prev = base_channels
        for width in widths:
            enc += [ResBlock(prev, width)] + [ResBlock(width, width)
                                             for _ in range(num_res_blocks - 1)]
            enc.append(nn.Conv2d(width, width, 4, 2, 1))  # halves H and W exactly
            prev = width
        enc += [_group_norm(prev), nn.SiLU(), nn.Conv2d(prev, code_dim, 1)]
        self.encoder = nn.Sequential(*enc)
        self.quantizer = VectorQuantizer(num_codes, code_dim, beta, restart_after)
        dec = [nn.Conv2d(code_dim, prev, 3, 1, 1)]
        for width in reversed(widths):
            dec += [ResBlock(prev, width)] + [ResBlock(width, width)
                                             for _ in range(num_res_blocks - 1)]
            dec += [nn.Upsample(scale_factor=2, mode='nearest'), nn.Conv2d(width, width, 3, 1, 1)]
            prev = width
        dec += [_group_norm(prev), nn.SiLU(), nn.Conv2d(prev, in_channels, 3, 1, 1)]
        self.decoder = nn.Sequential(*dec)
        if frozen:
            self.requires_grad_(False)
            self.eval()

    def train(self, mode: bool = True):
        return super().train(mode and not self.frozen)

    @property
    def num_codes(self) -> int:
        return self.quantizer.num_codes

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % self.downsample or w % self.downsample:
            raise ValueError(f'VQTokenizer: image size {h} x {w} is not a multiple of its '
                             f'downsampling {self.downsample}; resize or crop the images')
        return self.encoder(x)

    @torch.no_grad()
    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encode(x)
        b, c, h, w = z.shape
        _, idx = nearest_codes(z.permute(0, 2, 3, 1).reshape(-1, c), self.quantizer.codebook.weight)
        return idx.view(b, h, w)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """BEiT target generator: (B, K, h, w) scores, the token = argmax over K."""
        z = self.encode(x)
        b, c, h, w = z.shape
        dist, _ = nearest_codes(z.permute(0, 2, 3, 1).reshape(-1, c),
                                self.quantizer.codebook.weight)
        return (-dist).view(b, h, w, -1).permute(0, 3, 1, 2)

    def decode_codes(self, z_q: torch.Tensor) -> torch.Tensor:
        return self.decoder(z_q)

    def decode_tokens(self, idx: torch.Tensor) -> torch.Tensor:
        """(B, h, w) tokens -> (B, 3, H, W) images."""
        return self.decoder(self.quantizer.codebook(idx).permute(0, 3, 1, 2))

    def reconstruct(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, Dict]:
        z_q, idx, stats = self.quantizer(self.encode(x))
        return self.decoder(z_q), idx, stats
