"""What a pretrained ViT's attention and features look like: the measures of Xie et al.,
"Revealing the Dark Secrets of Masked Image Modeling" (CVPR 2023, arXiv 2205.13543).

The paper compares MIM and supervised ViTs with three measures, which this module computes for
any mim_det ViT (:class:`~mim_det.models.backbones.ViTBase`) and any checkpoint the shared
loader reads:

* **averaged attention distance** per head and layer (its Fig. 1; the measure of Dosovitskiy
  et al. ICLR 2021, Fig. 7): how far, in pixels, a query looks, ``sum_j A_ij ||p_i - p_j||``,
  averaged over queries and images. MIM keeps small distances (locality) in every layer;
  supervised models go global in the deep layers;
* **head diversity**: the KL divergence between the attention distributions of two heads,
  averaged over head pairs, queries and images. MIM keeps it high in every layer; supervised
  models lose it in the last layers;
* **linear CKA** (Kornblith et al., "Similarity of Neural Network Representations Revisited",
  ICML 2019) between the token features of every pair of layers.

Layout:

* the measures -- :func:`mean_attention_distance`, :func:`head_diversity`, :func:`linear_cka`,
  :func:`cka_matrix` -- are small pure tensor functions, vectorised over images, heads and
  queries;
* the capture -- :func:`attention_maps`, :func:`block_features`, :func:`trace_blocks` -- runs a
  backbone's blocks once (eval mode, no gradients) and records, per block, the softmax attention
  it really uses (relative position biases included) and its output tokens;
* the pipeline -- :func:`build_analysis_backbone` (a global-attention ViT matching a checkpoint)
  and :func:`analyse_checkpoints` (numbers to ``attention_analysis.json`` and the figures) --
  is what ``tools/analysis/attention_analysis.py`` and the main job call.

Attention is analysed as global attention only: :func:`attention_maps` refuses a backbone with
window blocks (ViTDet), whose per-window maps are not (N, N) maps over the image, and
:func:`build_analysis_backbone` always builds ``window_size=0``, as the ViTs were pretrained.
"""
import json
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

#: the position encodings an analysis backbone can reproduce (the export's ``pos_encoding``
#: names, plus ``rel_pos_bias_table``: per-block BEiT tables, as mmseg's BEiT/MAE checkpoints;
#: ``absolute_learned`` is a supervised ViT's trained table, loaded as MAE's fixed one is)
POS_ENCODINGS = ('absolute_sincos', 'absolute_learned', 'contextual_rpe_keys',
                 'shared_rel_pos_bias', 'rel_pos_bias_table')
#: mean and std (RGB, 0-255) of every mim_det config's data preprocessor (ImageNet's)
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


# ============================================================================ the measures
def patch_centres(grid_hw: Tuple[int, int], patch_size: int,
                  device: Optional[torch.device] = None) -> torch.Tensor:
    """Pixel coordinates (row, column) of the centres of a row-major ``grid_hw`` patch grid:
    (G, 2), G = G_h * G_w, centre of patch (r, c) = ((r + 0.5) p, (c + 0.5) p)."""
    rows = (torch.arange(grid_hw[0], device=device, dtype=torch.float64) + 0.5) * patch_size
    cols = (torch.arange(grid_hw[1], device=device, dtype=torch.float64) + 0.5) * patch_size
    return torch.stack(torch.meshgrid(rows, cols, indexing='ij'), -1).reshape(-1, 2)


def patch_distances(grid_hw: Tuple[int, int], patch_size: int,
                    device: Optional[torch.device] = None) -> torch.Tensor:
    """Euclidean distances in pixels between all patch centres: (G, G) float64,
    ``D_ij = ||p_i - p_j||``."""
    centres = patch_centres(grid_hw, patch_size, device)
    return (centres[:, None] - centres[None]).norm(dim=-1)


def mean_attention_distance(attn: torch.Tensor, grid_hw: Tuple[int, int], patch_size: int,
                            num_extra_tokens: int = 0) -> torch.Tensor:
    """Averaged attention distance per head (Xie et al. 2023, Fig. 1)::

        d_head = mean over images b and patch queries i of  sum_j A'_bij ||p_i - p_j||

    with p the patch centres in pixels (:func:`patch_centres`).

    Extra (cls) tokens have no position: they are dropped as queries AND as keys, and each patch
    query's attention over the patch keys is renormalised to sum to 1,
    ``A'_ij = A_ij / sum_{k patch} A_ik``, so the distance is that of the attention paid to the
    image (a query that looks mostly at the cls token still counts with its patch-key profile).

    Args:
        attn: softmax attention (B, h, N, N) with N = E + G_h G_w, the E extra tokens first and
            the patches row-major (mim_det's layout).
        grid_hw: (G_h, G_w).
        patch_size: p, pixels per patch side (distances come out in input pixels).
        num_extra_tokens: E.

    Returns:
        (h,) float64 distances in pixels.
    """
    num_patches = grid_hw[0] * grid_hw[1]
    _check_attention(attn, num_extra_tokens + num_patches, 'mean_attention_distance')
    patches = attn[:, :, num_extra_tokens:, num_extra_tokens:].double()  # (B, h, G, G)
    mass = patches.sum(-1, keepdim=True)
    patches = patches / mass.clamp_min(torch.finfo(torch.float64).tiny)
    distances = patch_distances(grid_hw, patch_size, attn.device)  # (G, G)
    per_query = (patches * distances).sum(-1)  # (B, h, G)
    return per_query.mean(dim=(0, 2))


def head_diversity(attn: torch.Tensor, num_extra_tokens: int = 0) -> torch.Tensor:
    """Head diversity: the KL divergence between two heads' attention, averaged over ordered head
    pairs a != c, queries and images (Xie et al. 2023's diversity measure)::

        div = mean_{b, i, a != c} KL(A_a,bi || A_c,bi),
        KL(P || Q) = sum_j P_j (log P_j - log Q_j)   (nats; over the N keys)

    Computed without a (h, h, N, N) tensor: ``sum_j P log Q`` for all head pairs is one batched
    matmul (B N, h, N) x (B N, N, h). Probabilities that underflowed to 0 are clamped to the
    smallest normal float before the log, so a KL stays finite (large) there.

    Args:
        attn: softmax attention (B, h, N, N), h >= 2.
        num_extra_tokens: the first E queries (cls) are skipped; the keys stay all N (the
            distributions the heads really use).

    Returns:
        a scalar float64 tensor: 0 iff every head attends alike.
    """
    b, heads, n, _ = attn.shape
    _check_attention(attn, n, 'head_diversity')
    if heads < 2:
        raise ValueError(f'head_diversity: {heads} head; the diversity between heads needs at '
                         'least two')
    probs = attn[:, :, num_extra_tokens:].double()  # (B, h, Q, N)
    log_probs = probs.clamp_min(torch.finfo(torch.float64).tiny).log()
    neg_entropy = (probs * log_probs).sum(-1).transpose(1, 2)  # (B, Q, h)
    cross = torch.einsum('baij,bcij->biac', probs, log_probs)  # (B, Q, h, h): sum_j P_a log P_c
    kl = neg_entropy[..., :, None] - cross  # (B, Q, h, h): KL(A_a || A_c)
    off_diagonal = ~torch.eye(heads, dtype=torch.bool, device=attn.device)
    return kl[..., off_diagonal].mean()


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Linear centred kernel alignment of two representations of the same n samples
    (Kornblith et al. ICML 2019)::

        CKA(X, Y) = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F),  X, Y column-centred

    (HSIC of the linear kernels XX^T, YY^T, normalised), computed in feature space: O(n d1 d2),
    no (n, n) Gram matrix. In [0, 1]; invariant to orthogonal transforms and isotropic scaling of
    either side, not to arbitrary invertible linear maps.

    Args:
        x: (n, d1); y: (n, d2); row k of both is sample k.

    Returns:
        a scalar float64 tensor (NaN if either side is constant over the samples).
    """
    if x.dim() != 2 or y.dim() != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f'linear_cka: features (n, d1) and (n, d2) of the same n samples, got '
                         f'{tuple(x.shape)} and {tuple(y.shape)}')
    x, y = _centre(x), _centre(y)
    return _frobenius_sq(y.T @ x) / (_frobenius_sq(x.T @ x).sqrt() *
                                     _frobenius_sq(y.T @ y).sqrt())


def cka_matrix(features_a: Sequence[torch.Tensor],
               features_b: Optional[Sequence[torch.Tensor]] = None) -> torch.Tensor:
    """Linear CKA between every layer of ``features_a`` and every layer of ``features_b``
    (default: ``features_a`` itself, the layer-by-layer similarity of one model).

    Args:
        features_a: L_a tensors (n, d) -- one per layer, the same n samples in every layer and
            in both lists.
        features_b: L_b tensors (n, d'), or ``None``.

    Returns:
        (L_a, L_b) float64; entry (l, m) = ``linear_cka(features_a[l], features_b[m])``.
    """
    centred_a = [_centre(f) for f in features_a]
    centred_b = centred_a if features_b is None else [_centre(f) for f in features_b]
    if {f.shape[0] for f in centred_a} != {f.shape[0] for f in centred_b} or \
            len({f.shape[0] for f in centred_a}) != 1:
        raise ValueError('cka_matrix: every layer needs the same samples; got sample counts '
                         f'{[f.shape[0] for f in centred_a]} and '
                         f'{[f.shape[0] for f in centred_b]}')
    # each layer's ||X^T X||_F once, then one cross product per pair (a loop over layers only)
    norm_a = torch.stack([_frobenius_sq(f.T @ f).sqrt() for f in centred_a])
    norm_b = norm_a if features_b is None else torch.stack(
        [_frobenius_sq(f.T @ f).sqrt() for f in centred_b])
    cross = torch.stack([torch.stack([_frobenius_sq(fb.T @ fa) for fb in centred_b])
                         for fa in centred_a])
    return cross / (norm_a[:, None] * norm_b[None, :])


def patch_token_samples(features: Sequence[torch.Tensor], num_extra_tokens: int,
                        max_samples: Optional[int] = None, seed: int = 0) -> List[torch.Tensor]:
    """Per-layer block outputs (B, N, D) -> the CKA samples of each layer: every patch token of
    every image, (B * G, D) (extra tokens dropped), or ``max_samples`` of them drawn without
    replacement with ``seed`` -- the SAME tokens in every layer (and in every model of the same
    B and G), so rows stay comparable."""
    samples = [f[:, num_extra_tokens:].reshape(-1, f.shape[-1]) for f in features]
    total = samples[0].shape[0]
    if max_samples is None or total <= max_samples:
        return samples
    generator = torch.Generator().manual_seed(seed)
    keep = torch.randperm(total, generator=generator)[:max_samples].sort().values
    return [s[keep.to(s.device)] for s in samples]


def _centre(features: torch.Tensor) -> torch.Tensor:
    features = features.double()
    return features - features.mean(dim=0, keepdim=True)


def _frobenius_sq(matrix: torch.Tensor) -> torch.Tensor:
    return matrix.square().sum()


def _check_attention(attn: torch.Tensor, num_tokens: int, owner: str):
    if attn.dim() != 4 or attn.shape[-1] != attn.shape[-2] or attn.shape[-1] != num_tokens:
        raise ValueError(f'{owner}: attention (B, h, N, N) with N = {num_tokens} tokens, got '
                         f'{tuple(attn.shape)}')


# ============================================================================== the capture
def block_attention(block: nn.Module, tokens: torch.Tensor, grid_hw: Tuple[int, int],
                    shared_bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The softmax attention of one global-attention :class:`~mim_det.models.layers.ViTBlock`
    for the sequence (B, N, D) entering it::

        A = softmax(q k^T / sqrt(d) + sum_k bias_k(q) + shared_bias)   (B, h, N, N), fp32

    with q, k = the block's projections of ``ln1(tokens)`` and the biases its attention adds
    (:meth:`~mim_det.models.layers.Attention.position_bias`: decomposed, contextual or per-head
    tables, computed explicitly even where the attention folds them into q and k) plus the
    backbone's shared table (BEiT/SimMIM), exactly the logits the block's SDPA call uses.
    """
    attn = block.attn
    # fp32 even under AMP: the maps are analysed, not trained
    with torch.autocast(device_type=tokens.device.type, enabled=False):
        q, k, _ = attn.project_qkv(block.ln1(tokens.float()))
        logits = (q * attn.head_dims**-0.5) @ k.transpose(-2, -1)
        bias = attn.position_bias(q, grid_hw)
        if bias is not None:
            logits = logits + bias
        if shared_bias is not None:
            logits = logits + shared_bias.float()
        return logits.softmax(dim=-1)


@torch.no_grad()
def trace_blocks(backbone: nn.Module, images: torch.Tensor, attention: bool = True,
                 features: bool = True
                 ) -> Tuple[List[torch.Tensor], List[torch.Tensor], Tuple[int, int]]:
    """Run a ViT's blocks once on ``images`` (eval mode, no gradients; the mode is restored)
    and record each block's attention and output.

    Args:
        backbone: a :class:`~mim_det.models.backbones.ViTBase` (``embed``,
            ``shared_position_bias``, ``layers``) whose blocks all attend globally.
        images: (B, C, H, W), normalised as the model expects.
        attention, features: what to record.

    Returns:
        ``(maps, outputs, grid_hw)``: per block the softmax attention (B, h, N, N) (see
        :func:`block_attention`) and the output tokens (B, N, D) (the residual stream after
        the block, before any final norm); empty lists for what was not asked; the patch grid.
    """
    _check_global_attention(backbone)
    was_training = backbone.training
    backbone.eval()
    try:
        tokens, grid_hw = backbone.embed(images)
        shared = backbone.shared_position_bias(tokens, grid_hw)  # once, as ViTBase.encode
        maps, outputs = [], []
        for layer in backbone.layers:
            if attention:
                maps.append(block_attention(layer, tokens, grid_hw, shared))
            tokens = layer(tokens, grid_hw, shared)
            if features:
                outputs.append(tokens)
        return maps, outputs, tuple(grid_hw)
    finally:
        backbone.train(was_training)


def attention_maps(backbone: nn.Module, images: torch.Tensor) -> List[torch.Tensor]:
    """Images (B, C, H, W) -> per block the softmax attention (B, h, N, N) the backbone uses
    (relative position biases included; see :func:`trace_blocks`). Global attention only: a
    backbone with window blocks raises ``ValueError``."""
    return trace_blocks(backbone, images, attention=True, features=False)[0]


def block_features(backbone: nn.Module, images: torch.Tensor) -> List[torch.Tensor]:
    """Images (B, C, H, W) -> per block its output tokens (B, N, D), the features CKA compares
    (the residual stream after each block; the final norm, if any, is not applied)."""
    return trace_blocks(backbone, images, attention=False, features=True)[1]


def _check_global_attention(backbone: nn.Module):
    windowed = [i for i, layer in enumerate(backbone.layers) if getattr(layer, 'window_size', 0)]
    if windowed:
        size = backbone.layers[windowed[0]].window_size
        raise ValueError(
            f'{type(backbone).__name__}: blocks {windowed} attend inside {size} x {size} windows, '
            'so they have no (N, N) attention over the image; analyse the pretrained ViT with '
            'global attention (window_size=0, as build_analysis_backbone builds it)')


# ============================================================================ the pipeline
class ImageReadError(ValueError):
    """An analysis image that is missing or cannot be decoded (the message names the file)."""


def load_images(paths: Sequence[str], img_size: int) -> torch.Tensor:
    """Image files -> (B, 3, S, S) float32: RGB, resized to S x S (bilinear; the analysis
    needs one grid for all images), normalised with ImageNet's mean and std as every mim_det
    pretraining config does."""
    import cv2
    import numpy as np

    batch = []
    for path in paths:
        image = cv2.imread(path, cv2.IMREAD_COLOR) if osp.isfile(path) else None
        if image is None:
            raise ImageReadError(f'{path!r} is not a readable image (missing, or OpenCV cannot '
                                 'decode it); pass image files or a folder of them')
        image = cv2.resize(image, (img_size, img_size), interpolation=cv2.INTER_LINEAR)
        batch.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(np.float32))
    pixels = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (pixels - mean) / std


def analysis_backbone_settings(tensors: Dict[str, torch.Tensor], meta: Optional[dict],
                               checkpoint: str, arch: Union[str, dict, None] = None,
                               patch_size: Optional[int] = None,
                               pos_encoding: str = 'auto') -> dict:
    """:class:`ViTBase` arguments that reproduce a checkpoint's encoder with global attention.

    A mim_det export says what it is (metadata ``arch``, ``patch_size``, ``img_size``,
    ``pos_encoding``, ``rpe``, ``num_extra_tokens``; ``arch``, ``patch_size`` and
    ``pos_encoding`` given here are ignored for it). Another checkpoint needs ``arch`` (its size
    is not recorded) and gives the rest by its tensor names unless given: the patch size from
    the patch projection, ``pos_encoding='auto'`` from the position tensors (a contextual RPE
    table, a shared or per-block bias table, else an absolute table). The cls token and BEiT's
    layer scale (``gamma_1``) come from the tensor names in both cases.

    Returns:
        dict with ``arch``, ``patch_size``, ``pretrain_img_size`` (or ``None``),
        ``with_cls_token``, ``use_abs_pos``, ``rel_pos_cfgs``, ``shared_rel_pos_cfg``,
        ``layer_scale_init_value`` and ``pos_encoding``.
    """
    from ..checkpoint import CheckpointError

    names = list(tensors)
    has = dict(
        rpe=any(k.endswith('rpe_k.lookup_table_weight') for k in names),
        shared=any(k.endswith('relative_position_bias_table') and not _in_block(k)
                   for k in names),
        per_block=any(k.endswith('relative_position_bias_table') and _in_block(k)
                      for k in names),
        decomposed=any(re.search(r'rel_pos(\.rel_pos)?_[hw]$', k) for k in names),
        abs_pos=any(k.split('.')[-1] == 'pos_embed' for k in names),
        cls=any(k.split('.')[-1] == 'cls_token' for k in names),
        layer_scale=any(k.split('.')[-1] == 'gamma_1' for k in names))
    if meta is not None and meta.get('patch_size') == 0:
        raise CheckpointError(f'checkpoint {checkpoint!r} is a ConvNet export '
                              f'({meta.get("backbone_type")}); it has no attention to analyse')
    if has['decomposed']:
        raise CheckpointError(
            f'checkpoint {checkpoint!r} has decomposed relative position tables (a ViTDet '
            'detector, whose blocks attend inside windows); analyse the pretrained export it '
            'was fine-tuned from instead')
    if meta is not None:  # the export's own record wins over options meant for other files
        arch, patch_size, pos_encoding = meta['arch'], meta['patch_size'], meta['pos_encoding']
        if pos_encoding not in POS_ENCODINGS:
            raise CheckpointError(
                f'export {checkpoint!r} records pos_encoding={pos_encoding!r} '
                f'({meta.get("backbone_type")}), which the analysis cannot rebuild; it knows '
                f'{list(POS_ENCODINGS)}')
        with_cls = bool(meta.get('num_extra_tokens', 1))
        pretrain_img_size = meta.get('img_size') or None
    else:
        if arch is None:
            raise CheckpointError(
                f'checkpoint {checkpoint!r} is not a mim_det export, so its size is not '
                "recorded; pass its arch (--arch: a name such as 'b' or 'deit-s', or JSON "
                "with embed_dims, num_layers, num_heads, feedforward_channels)")
        if patch_size is None:
            projection = [v for k, v in tensors.items() if k.endswith(
                ('patch_embed.projection.weight', 'patch_embed.proj.weight'))]
            patch_size = int(projection[0].shape[-1]) if projection else 16
        if pos_encoding == 'auto':
            pos_encoding = ('contextual_rpe_keys' if has['rpe'] else 'shared_rel_pos_bias'
                            if has['shared'] else 'rel_pos_bias_table' if has['per_block']
                            else 'absolute_sincos')
        with_cls = has['cls']
        pretrain_img_size = None
    if pos_encoding not in POS_ENCODINGS:
        raise CheckpointError(
            f'checkpoint {checkpoint!r}: position encoding {pos_encoding!r} cannot be rebuilt '
            f'for the analysis; pass one of {list(POS_ENCODINGS)} (--pos-encoding)')
    rel_pos_cfgs, shared_cfg = [], None
    if pos_encoding == 'contextual_rpe_keys':
        rpe = dict((meta or {}).get('rpe') or {})
        rpe.pop('num_buckets', None)
        rel_pos_cfgs.append(dict(type='ContextualRPE', **rpe))
    elif pos_encoding == 'shared_rel_pos_bias':
        shared_cfg = dict(type='RelPosBiasTable')
    elif pos_encoding == 'rel_pos_bias_table':
        rel_pos_cfgs.append(dict(type='RelPosBiasTable'))
    # official LoMaR releases hold a sin-cos table LoMaR never adds: only an absolute encoding
    # uses pos_embed
    use_abs_pos = pos_encoding.startswith('absolute_') and has['abs_pos']
    return dict(arch=arch, patch_size=int(patch_size), pretrain_img_size=pretrain_img_size,
                with_cls_token=with_cls, use_abs_pos=use_abs_pos, rel_pos_cfgs=rel_pos_cfgs,
                shared_rel_pos_cfg=shared_cfg,
                layer_scale_init_value=0.1 if has['layer_scale'] else 0.,
                pos_encoding=pos_encoding)


def _in_block(key: str) -> bool:
    return re.search(r'(^|\.)(layers|blocks)\.\d+\.', key) is not None


def build_analysis_backbone(checkpoint: str, img_size: Optional[int] = None,
                            arch: Union[str, dict, None] = None,
                            patch_size: Optional[int] = None, pos_encoding: str = 'auto',
                            prefix: Optional[str] = None, logger='current'
                            ) -> Tuple[nn.Module, dict]:
    """A global-attention :class:`ViTBase` filled from ``checkpoint`` by the shared loader.

    The backbone is built from the checkpoint's own description
    (:func:`analysis_backbone_settings`) with ``window_size=0``, no final norm (the features
    are the blocks' outputs), no drop path, raw token outputs, for inputs of ``img_size``
    (default: the export's pretraining size, else 224); an absolute table is resized on the
    fly from the pretraining grid, relative tables by the loader. Any tensor the loader finds
    suspicious (the model would not be the pretrained one) is an error.

    Returns:
        ``(backbone in eval mode, description)``: the settings, ``img_size`` and the load
        report's layout and counts (for ``attention_analysis.json``).
    """
    from ..checkpoint import CheckpointError, load_vit_checkpoint, read_checkpoint
    from ..models.backbones import ViTBase

    tensors, meta = read_checkpoint(checkpoint)
    settings = analysis_backbone_settings(tensors, meta, checkpoint, arch, patch_size,
                                          pos_encoding)
    del tensors  # the loader reads the file itself
    img_size = int(img_size or settings['pretrain_img_size'] or 224)
    kwargs = {k: v for k, v in settings.items() if k != 'pos_encoding'}
    model = ViTBase(img_size=img_size, window_size=0, out_type='raw', final_norm=False,
                    drop_path_rate=0., **kwargs)
    report = load_vit_checkpoint(model, checkpoint, prefix=prefix, logger=logger)
    if report['suspicious']:
        raise CheckpointError(
            f'checkpoint {checkpoint!r} does not fit the analysis backbone '
            f'({settings["pos_encoding"]}, arch {model.arch_settings}): '
            f'{report["suspicious"][0]}; pass arch / pos_encoding as pretrained')
    description = dict(settings, arch=model.arch_settings, img_size=img_size,
                       layout=report['layout'], loaded=len(report['loaded']),
                       method=(report['meta'] or {}).get('method'))
    return model.eval(), description


def analyse_backbone(backbone: nn.Module, images: torch.Tensor, batch_size: int = 8,
                     max_cka_samples: Optional[int] = 4096, seed: int = 0) -> dict:
    """All measures of one backbone over ``images`` (B, C, H, W), in batches.

    Attention distance and head diversity are means over images, so per-batch means are
    combined weighted by batch size; the CKA samples are the patch tokens of all images
    (:func:`patch_token_samples`, at most ``max_cka_samples``).

    Returns:
        dict with ``attention_distance`` (L lists of h pixel distances),
        ``attention_distance_mean`` (L), ``head_diversity`` (L, nats), ``cka_layers``
        (L x L), ``grid_hw``, ``patch_size``, ``num_extra_tokens``, and ``samples`` (the CKA
        samples per layer, tensors, for comparisons between models; not JSON).
    """
    device = next(backbone.parameters()).device
    extra, patch = backbone.num_extra_tokens, backbone.patch_size
    distance_sum, diversity_sum, outputs = None, None, []
    for start in range(0, images.shape[0], batch_size):
        chunk = images[start:start + batch_size].to(device)
        maps, features, grid_hw = trace_blocks(backbone, chunk)
        weight = chunk.shape[0]
        distance = torch.stack([mean_attention_distance(a, grid_hw, patch, extra)
                                for a in maps]) * weight  # (L, h)
        diversity = torch.stack([head_diversity(a, extra) for a in maps]) * weight  # (L,)
        distance_sum = distance if distance_sum is None else distance_sum + distance
        diversity_sum = diversity if diversity_sum is None else diversity_sum + diversity
        outputs.append([f.cpu() for f in features])
        del maps
    num = images.shape[0]
    per_layer = [torch.cat(layer) for layer in zip(*outputs)]  # L x (B, N, D)
    samples = patch_token_samples(per_layer, extra, max_cka_samples, seed)
    distance = distance_sum / num
    return dict(attention_distance=distance.tolist(),
                attention_distance_mean=distance.mean(-1).tolist(),
                head_diversity=(diversity_sum / num).tolist(),
                cka_layers=cka_matrix(samples).tolist(), grid_hw=list(grid_hw),
                patch_size=patch, num_extra_tokens=extra, samples=samples)


def analyse_checkpoints(checkpoints: Sequence[str], labels: Optional[Sequence[str]],
                        images: Union[Sequence[str], torch.Tensor], out_dir: str,
                        img_size: Optional[int] = None, arch: Union[str, dict, None] = None,
                        patch_size: Optional[int] = None, pos_encoding: str = 'auto',
                        prefix: Optional[str] = None, batch_size: int = 8,
                        max_cka_samples: Optional[int] = 4096, device: str = 'cpu',
                        seed: int = 0, logger='current') -> dict:
    """Analyse one or more ViT checkpoints on the same images; write the numbers and figures.

    Args:
        checkpoints: files the shared loader reads (mim_det exports, or other layouts with
            ``arch``; see :func:`build_analysis_backbone`).
        labels: one name per checkpoint (``None``: the file names, made unique).
        images: image files, or a normalised (B, 3, S, S) tensor.
        out_dir: where the outputs go (created).
        img_size: input size S for every model (default: the first checkpoint's pretraining
            size, else 224); distances are in pixels at this size.
        arch, patch_size, pos_encoding, prefix: for checkpoints that are not mim_det exports.
        batch_size: images per forward pass.
        max_cka_samples: patch tokens drawn (seeded) for CKA; ``None``: all.
        device: where the models run.

    Writes ``out_dir/``:
        ``attention_distance.png`` (per layer, one dot per head; one panel per checkpoint, the
        paper's Fig. 1), ``head_diversity.png`` (per layer, one line per checkpoint),
        ``cka_layers_<label>.png`` per checkpoint, ``cka_between.png`` (first two checkpoints,
        when their token grids agree) and ``attention_analysis.json`` with every number.

    Returns:
        the JSON's content.
    """
    labels = unique_labels(checkpoints, labels)
    models, samples = [], []
    pixels = images if isinstance(images, torch.Tensor) else None
    if pixels is not None and img_size is None:
        img_size = int(pixels.shape[-1])
    for checkpoint, label in zip(checkpoints, labels):
        backbone, description = build_analysis_backbone(
            checkpoint, img_size, arch, patch_size, pos_encoding, prefix, logger)
        # every model sees the same pixels: the size is fixed by the first checkpoint
        img_size = description['img_size']
        if pixels is None:
            pixels = load_images(images, img_size)
        result = analyse_backbone(backbone.to(device), pixels, batch_size, max_cka_samples, seed)
        samples.append(result.pop('samples'))
        models.append(dict(label=label, checkpoint=checkpoint, backbone=description, **result))
        del backbone
    between = None
    if len(models) >= 2:
        first, second = models[0], models[1]
        if samples[0][0].shape[0] == samples[1][0].shape[0] and \
                first['grid_hw'] == second['grid_hw']:
            between = dict(labels=[first['label'], second['label']],
                           matrix=cka_matrix(samples[0], samples[1]).tolist())
        else:
            between = dict(labels=[first['label'], second['label']], matrix=None,
                           reason=f'token grids differ ({first["grid_hw"]} vs '
                           f'{second["grid_hw"]}): CKA needs the same samples')
    summary = dict(
        paper='Xie et al., Revealing the Dark Secrets of Masked Image Modeling, CVPR 2023 '
        '(arXiv 2205.13543); CKA: Kornblith et al., ICML 2019',
        img_size=int(pixels.shape[-1]), num_images=int(pixels.shape[0]),
        images=None if isinstance(images, torch.Tensor) else list(images),
        units=dict(attention_distance='pixels at img_size (patch centres; cls excluded, patch '
                   'keys renormalised)', head_diversity='nats (KL over all keys, patch queries, '
                   'mean over ordered head pairs)', cka='linear CKA of block outputs, patch '
                   'tokens as samples'),
        max_cka_samples=max_cka_samples, seed=seed, models=models, cka_between=between)
    write_outputs(summary, out_dir)
    return summary


def unique_labels(checkpoints: Sequence[str], labels: Optional[Sequence[str]]) -> List[str]:
    """The given labels (checked: one per checkpoint, distinct), or names from the files:
    the file name without extension, with its folder where two files share a name."""
    if labels:
        labels = list(labels)
        if len(labels) != len(checkpoints) or len(set(labels)) != len(labels):
            raise ValueError(f'{len(labels)} labels {labels} for {len(checkpoints)} checkpoints; '
                             'give one distinct label per checkpoint')
        return labels
    stems = [osp.splitext(osp.basename(c))[0] for c in checkpoints]
    labels = [f'{osp.basename(osp.dirname(osp.abspath(c)))}_{s}' if stems.count(s) > 1 else s
              for c, s in zip(checkpoints, stems)]
    # still equal (same file twice, or same folder names): number them
    return [f'{name}_{i}' if labels.count(name) > 1 else name for i, name in enumerate(labels)]


def file_label(label: str) -> str:
    """A label as a file-name part (``cka_layers_<label>.png``)."""
    return re.sub(r'[^A-Za-z0-9_.-]+', '_', label).strip('_') or 'model'


# =============================================================================== the outputs
def write_outputs(summary: dict, out_dir: str):
    """``attention_analysis.json`` and the figures of :func:`analyse_checkpoints`."""
    os.makedirs(out_dir, exist_ok=True)
    with open(osp.join(out_dir, 'attention_analysis.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    models = summary['models']
    plot_attention_distance(models, osp.join(out_dir, 'attention_distance.png'))
    plot_head_diversity(models, osp.join(out_dir, 'head_diversity.png'))
    for model in models:
        plot_cka(model['cka_layers'], osp.join(out_dir, f'cka_layers_{file_label(model["label"])}'
                                               '.png'),
                 f'linear CKA between layers: {model["label"]}', model['label'], model['label'])
    between = summary['cka_between']
    if between is not None and between['matrix'] is not None:
        a, b = between['labels']
        plot_cka(between['matrix'], osp.join(out_dir, 'cka_between.png'),
                 f'linear CKA: {a} vs {b}', a, b)


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def plot_attention_distance(models: Sequence[dict], path: str, dpi: int = 100):
    """One panel per model: x = layer (1-based), one dot per head at its averaged attention
    distance, the layer's mean as a line (Xie et al. 2023, Fig. 1)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(models), figsize=(4.5 * len(models) + 0.5, 4.2), dpi=dpi,
                             sharey=True, squeeze=False)
    for ax, model in zip(axes[0], models):
        distances = torch.tensor(model['attention_distance'])  # (L, h)
        layers = torch.arange(1, distances.shape[0] + 1)
        ax.scatter(layers[:, None].expand_as(distances).flatten().numpy(),
                   distances.flatten().numpy(), s=14, alpha=0.7, label='head')
        ax.plot(layers.numpy(), distances.mean(-1).numpy(), color='grey', lw=1,
                label='mean of heads')
        ax.set_title(model['label'])
        ax.set_xlabel('layer')
        ax.set_xticks(layers.tolist())
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel('averaged attention distance (px)')
    axes[0][0].legend(loc='best', fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_head_diversity(models: Sequence[dict], path: str, dpi: int = 100):
    """Head diversity (mean KL between heads) per layer, one line per model."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.2), dpi=dpi)
    for model in models:
        values = model['head_diversity']
        ax.plot(range(1, len(values) + 1), values, marker='o', label=model['label'])
    ax.set_xlabel('layer')
    ax.set_ylabel('KL divergence between heads (nats)')
    ax.set_title('attention head diversity')
    ax.grid(alpha=0.3)
    ax.legend(loc='best', fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_cka(matrix: Sequence[Sequence[float]], path: str, title: str, label_rows: str,
             label_cols: str, dpi: int = 100):
    """A CKA heat map: rows = layers of ``label_rows``, columns = layers of ``label_cols``
    (1-based, layer 1 at the bottom), colour scale fixed to [0, 1]."""
    plt = _pyplot()
    values = torch.tensor(matrix, dtype=torch.float64)
    rows, cols = values.shape
    fig, ax = plt.subplots(figsize=(5.2, 4.5), dpi=dpi)
    image = ax.imshow(values.numpy(), origin='lower', vmin=0., vmax=1., cmap='viridis',
                      extent=(0.5, cols + 0.5, 0.5, rows + 0.5))
    ax.set_xticks(range(1, cols + 1))
    ax.set_yticks(range(1, rows + 1))
    ax.set_xlabel(f'layer ({label_cols})')
    ax.set_ylabel(f'layer ({label_rows})')
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
