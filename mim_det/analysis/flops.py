"""Analytical forward FLOPs (2 per multiply-add) of LoMaR and MAE pretraining per image.

Counted: every matmul / linear / convolution and both attention products -- the operations
``torch.utils.flop_counter.FlopCounterMode`` counts -- so the two agree exactly (tested).
Norms, softmax, GELU and the bias gather are left out (they are O(n D), not O(n D^2)).

Per ViT layer on a sequence of n tokens, width D, MLP width F, per-head width d, h heads:
    qkv 6 n D^2 + proj 2 n D^2 + MLP 4 n D F + attention 4 n^2 D  (+ RPE 2 n D R with R buckets)

LoMaR (arXiv 2206.00790) per image: M windows x [patch embedding of K^2 patches + L layers on
n = K^2 + 1 tokens + pixel head on K^2 tokens]; independent of the image size.
MAE (He et al. 2022) per image: patch embedding of all G^2 patches, encoder on the
n = (1 - ratio) G^2 + 1 visible tokens, decoder embedding, decoder layers on G^2 + 1 tokens and
its pixel head -- quadratic in G^2 through the decoder's attention.
"""
from typing import Dict


def vit_layer_flops(n: int, dim: int, ffn_dim: int, rpe_buckets: int = 0) -> int:
    """Forward FLOPs of one pre-norm ViT layer on an n-token sequence."""
    linear = 2 * n * dim * (3 * dim) + 2 * n * dim * dim + 2 * 2 * n * dim * ffn_dim
    attention = 2 * 2 * n * n * dim
    rpe = 2 * n * dim * rpe_buckets  # q (n, d) @ table (d, R) per head, h * d = D
    return linear + attention + rpe


def lomar_flops_per_image(num_windows: int, window_size: int = 7, patch_size: int = 16,
                          dim: int = 768, depth: int = 12, ffn_dim: int = 3072,
                          rpe_buckets: int = 50, in_channels: int = 3,
                          head: bool = True) -> Dict[str, int]:
    """Forward FLOPs per image of LoMaR pretraining; keys 'embed', 'encoder', 'head', 'total'."""
    k2 = window_size ** 2
    n = k2 + 1
    pix = patch_size ** 2 * in_channels
    embed = num_windows * 2 * k2 * pix * dim
    encoder = num_windows * depth * vit_layer_flops(n, dim, ffn_dim, rpe_buckets)
    pred = num_windows * 2 * k2 * dim * pix if head else 0
    return dict(embed=embed, encoder=encoder, head=pred, total=embed + encoder + pred)


def mae_flops_per_image(img_size: int, patch_size: int = 16, mask_ratio: float = 0.75,
                        dim: int = 768, depth: int = 12, ffn_dim: int = 3072,
                        decoder_dim: int = 512, decoder_depth: int = 8,
                        decoder_ffn_dim: int = 2048, in_channels: int = 3) -> Dict[str, int]:
    """Forward FLOPs per image of MAE pretraining (mmpretrain ``MAE``: MAEViT + decoder)."""
    g2 = (img_size // patch_size) ** 2
    pix = patch_size ** 2 * in_channels
    n_vis = int(g2 * (1 - mask_ratio)) + 1
    embed = 2 * g2 * pix * dim
    encoder = depth * vit_layer_flops(n_vis, dim, ffn_dim)
    dec_embed = 2 * n_vis * dim * decoder_dim
    decoder = decoder_depth * vit_layer_flops(g2 + 1, decoder_dim, decoder_ffn_dim)
    pred = 2 * (g2 + 1) * decoder_dim * pix
    return dict(embed=embed, encoder=encoder, head=dec_embed + decoder + pred,
                total=embed + encoder + dec_embed + decoder + pred)
