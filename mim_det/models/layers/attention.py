"""The one multi-head self-attention of mim_det's ViTs: SDPA with additive position biases.

``softmax(q k^T / sqrt(d) + sum_k bias_k(q) + mask) v`` over one token sequence per batch
element. The biases are the relative-position modules of :mod:`.relative_position` (configured
by ``rel_pos_cfgs``); like LoMaR's and ViTDet's official code they use the *unscaled* query, so
their sum is exactly what :func:`torch.nn.functional.scaled_dot_product_attention` adds as
``attn_mask``. The attention never knows about windows: a block that attends inside windows
hands it the windows as a batch and the padding mask (:mod:`.window_ops`).

A separable bias (ViTDet's decomposed relative position) can instead be *folded* into the
queries and keys (``rel_pos_impl``): ``softmax(q' k'^T + mask) v`` with ``q' k'^T = q k^T /
sqrt(d) + bias`` needs no (B, h, N, N) tensor, so SDPA runs a fused (flash / memory-efficient)
kernel instead of its math fallback, which a float bias that needs gradients forces.

A bias that is not separable (LoMaR's contextual RPE, whose bucket is a clipped 2-D offset;
BEiT's per-head table) is built one block of query rows at a time (``'chunked'``): each block's
(B, h, rows, N) bias, logits and probabilities exist only while that block is computed, and the
backward pass recomputes them block by block (:func:`torch.utils.checkpoint.checkpoint`), so a
global block at 1024 px (N = 4096) never holds an (N, N) tensor per head. The values and
gradients are those of the explicit bias (the same sums, row by row).
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .relative_position import build_rel_pos

REL_POS_IMPLS = ('auto', 'chunked', 'folded', 'explicit', 'flex')
#: the chunked path splits an attention whose (B, h, N, N) logits have more elements than this
#: (256 MB in fp32): a global ViTDet block at 1024 px (1 x 12 x 4096^2 = 201M) is split, a ViT-B
#: block at 512 px with a cls token (UperNet, batch 2: 2 x 12 x 1025^2 = 25M) is not -- split in
#: two it ran 1.37x slower on a 2-core CPU, for memory it does not need
CHUNK_ABOVE_ELEMENTS = 2**26
#: the largest block of rows (B * h * rows * N elements, 64 MB in fp32) it then builds at once;
#: measured at 1024 px: 2**24 keeps the LoMaR ViTDet backbone at 0.49x the explicit peak,
#: 2**26 at 0.57x, for the same time
MAX_BIAS_ELEMENTS = 2**24


def fused_kernel_dims(qk_dims: int) -> int:
    """Head width the fused SDPA kernels take for folded queries and keys: one width for q, k
    and v (CPU flash attention), a multiple of 8 (CUDA flash / memory-efficient kernels)."""
    return -(-qk_dims // 8) * 8


def folded_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                     attn_mask: Optional[torch.Tensor], dropout_p: float) -> torch.Tensor:
    """``softmax(q k^T + mask) v`` for folded q, k (B, h, N, d') and v (B, h, N, d), d <= d':
    all three zero-padded to :func:`fused_kernel_dims` (zeros change no dot product), the
    output cut back to d. ``scale=1``: the scale is inside q."""
    width = fused_kernel_dims(q.shape[-1])
    d = v.shape[-1]
    q, k = (F.pad(t, (0, width - t.shape[-1])) for t in (q, k))
    out = F.scaled_dot_product_attention(q, k, F.pad(v, (0, width - d)), attn_mask=attn_mask,
                                         dropout_p=dropout_p, scale=1.0)
    return out[..., :d]


def biased_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor,
                     dropout_p: float) -> torch.Tensor:
    """``softmax(q k^T / sqrt(d) + bias) v`` for q (B, h, R, d), k, v (B, h, N, d) and a float
    bias broadcastable to (B, h, R, N), with the bias added inside the GEMM (``baddbmm``).

    What SDPA computes for a float mask that needs gradients (its math path), without the
    math path's separate add and its checks for fully masked rows (a row of all ``-inf``
    gives NaN here; window padding never masks a whole row): 0.28 s against 0.33 s per
    341 x 4096 block of ViT-B heads, forward + backward, on a 2-core CPU.
    """
    b, heads, r, d = q.shape
    n = k.shape[-2]
    logits = torch.baddbmm(bias.expand(b, heads, r, n).reshape(b * heads, r, n),
                           q.reshape(b * heads, r, d), k.reshape(b * heads, n, d).transpose(1, 2),
                           alpha=d**-0.5)
    probs = F.dropout(logits.softmax(dim=-1), dropout_p)
    return torch.bmm(probs, v.reshape(b * heads, n, v.shape[-1])).view(b, heads, r, -1)


_COMPILED_FLEX = None


def flex_biased_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                          biases: Sequence) -> torch.Tensor:
    """``softmax(q k^T / sqrt(d) + sum_k bias_k) v`` for q, k, v (B, h, N, d) through
    FlexAttention (``torch.nn.attention.flex_attention``): each bias is a term
    ``(b, head, i, j) -> value`` (the bias modules' ``flex_bias``) that the kernel evaluates
    per logit, so no (N, N) tensor exists; gradients reach the tensors the terms read.

    On CUDA the fused kernel is compiled (``torch.compile``, once per shape, dtype and set of
    biases: new closures over same-shaped tensors reuse it, checked with dynamo's counters).
    Elsewhere torch's eager FlexAttention runs, its reference, which does build the scores;
    torch has no FlexAttention backward on CPU, so this trains on CUDA only."""
    global _COMPILED_FLEX
    from torch.nn.attention.flex_attention import flex_attention
    if q.is_cuda and _COMPILED_FLEX is None:
        _COMPILED_FLEX = torch.compile(flex_attention, dynamic=False)

    def score_mod(score, b, head, i, j):
        for bias in biases:
            score = score + bias(b, head, i, j)
        return score
    return (_COMPILED_FLEX if q.is_cuda else flex_attention)(q, k, v, score_mod=score_mod)


class Attention(nn.Module):
    """Multi-head self-attention with relative-position biases, through SDPA.

    Args:
        embed_dims: token width D.
        num_heads: heads h; head width d = D / h.
        qkv_bias: bias on the fused qkv projection.
        attn_drop: dropout on attention probabilities.
        proj_drop: dropout after the output projection.
        rel_pos_cfgs: relative position biases, e.g. ``[dict(type='DecomposedRelPos'),
            dict(type='ContextualRPE', alpha=1.9, beta=3.8, gamma=15.2)]``; each is stored
            under its class's ``attr_name`` (``rel_pos``, ``rpe_k``, ``rel_pos_bias``), the
            names pretrained checkpoints use.
        rel_pos_grid: the grid (S_h, S_w) the tables are sized for.
        use_sdpa: ``False`` computes the same attention with explicit matmul + softmax (the
            reference the benchmark and tests compare SDPA against).
        rel_pos_impl: how the biases reach SDPA (``use_sdpa=True``):

            * ``'explicit'``: their sum as one (B, h, N, N) ``attn_mask`` (the reference);
            * ``'folded'``: a foldable bias (``DecomposedRelPos``) that is the attention's
              only bias folded into q and k: no (N, N) tensor, fused kernels; otherwise as
              ``'explicit'``;
            * ``'chunked'``: a lone foldable bias folded as above; other biases (and
              ``attn_mask``), when the attention has more than :data:`CHUNK_ABOVE_ELEMENTS`
              logits, built per block of query rows of at most :data:`MAX_BIAS_ELEMENTS`
              elements and recomputed in the backward pass (see the module doc); a smaller
              attention runs as ``'explicit'``, without recomputation;
            * ``'flex'``: every bias (no ``attn_mask``, no attention dropout) as a
              FlexAttention ``score_mod`` (:func:`flex_biased_attention`): no (N, N) tensor
              at any size; an attention with a mask or dropout runs as ``'chunked'``. It
              needs a CUDA device to train (torch has no FlexAttention backward on CPU);
            * ``'auto'``: the fastest measured on the tensors' device, chosen per call:
              ``'chunked'`` on CPU; on CUDA ``'flex'`` for a large attention (h N^2 logits
              per image above :data:`CHUNK_ABOVE_ELEMENTS`: a global block at 1024 px) that
              reads a bias table by index (``scatters_gradients``: BEiT's table) and has no
              mask or dropout, ``'explicit'`` otherwise. ViT-B/16 backbone at 1024 px,
              batch 1, forward + backward (``tools/analysis/benchmark_vitdet_backbone.py``):
              on a 2-core CPU (fp32) ViTDet's decomposed bias folded took 37.7 s and 4.8 GB
              against 54.5 s and 8.9 GB explicit, LoMaR's contextual + decomposed biases
              chunked 53.9 s and 4.5 GB against 59.5 s and 9.3 GB; on an H200 (bf16
              autocast) explicit was fastest for the ViTDet layout, 50.5 ms (folded 63.0,
              flex 68.5), and the LoMaR layout, 67.8 ms (flex 88.4, chunked 281.5), at 4.2 /
              4.8 GB against 2.4-2.7 GB for the others -- where memory binds on a GPU,
              ``'flex'``; for the BEiT layout flex was fastest, 84.8 ms and 2.4 GB against
              198.7 ms and 6.6 GB explicit (chunked 512.3 ms).

        recompute_attention: in training, keep only q, k and v of the attention core
            (:meth:`attend`: position biases, fold, SDPA) for the backward pass, which
            recomputes the rest (a checkpoint around the core alone, not the block). The
            folded path otherwise keeps q', k', v' and the output at the fused width (192
            instead of 64 for a ViT-B global block at 1024 px); the explicit path its (N, N)
            bias and probabilities.

    Shapes: ``forward(x (B, N, D), grid_hw, attn_mask=None) -> (B, N, D)``, where the last
    ``grid_h * grid_w`` tokens form a row-major grid after ``N - grid_h * grid_w`` extra (cls)
    tokens, and ``attn_mask`` is an additive float (or boolean keep-) mask broadcastable to
    (B, h, N, N).
    """

    def __init__(self, embed_dims: int, num_heads: int, qkv_bias: bool = True,
                 attn_drop: float = 0., proj_drop: float = 0.,
                 rel_pos_cfgs: Sequence[dict] = (),
                 rel_pos_grid: Optional[Tuple[int, int]] = None, use_sdpa: bool = True,
                 rel_pos_impl: str = 'auto', recompute_attention: bool = False):
        super().__init__()
        if rel_pos_impl not in REL_POS_IMPLS:
            raise ValueError(f'Attention: rel_pos_impl={rel_pos_impl!r}; use one of '
                             f'{REL_POS_IMPLS}')
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims={embed_dims} is not divisible by '
                             f'num_heads={num_heads}')
        self.embed_dims, self.num_heads = embed_dims, num_heads
        self.head_dims = embed_dims // num_heads
        self.use_sdpa = use_sdpa
        self.recompute_attention = bool(recompute_attention)
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)
        self.rel_pos_names = []
        for cfg in rel_pos_cfgs:
            module = build_rel_pos(cfg, self.head_dims, num_heads, rel_pos_grid)
            if module.attr_name in self.rel_pos_names:
                raise ValueError(f'Attention: {cfg["type"]} is configured twice')
            self.add_module(module.attr_name, module)
            self.rel_pos_names.append(module.attr_name)
        # folding pays when it leaves SDPA without a float mask (its fused kernels); beside
        # another bias it only widens q k^T, so a lone foldable bias is folded
        lone = self.rel_pos_names[0] if len(self.rel_pos_names) == 1 else None
        foldable = lone is not None and getattr(getattr(self, lone), 'foldable', False)
        #: the bias folded into q and k, or None
        self.folded_name = lone if foldable and use_sdpa and rel_pos_impl != 'explicit' else None
        self.fold_rel_pos = self.folded_name is not None
        self.rel_pos_impl = rel_pos_impl
        self.chunk_bias = use_sdpa and rel_pos_impl in ('auto', 'chunked', 'flex')
        self.flex = use_sdpa and rel_pos_impl == 'flex' and bool(self.rel_pos_names)
        #: biases whose explicit backward scatters into a small table (see ``'auto'``)
        self.scatters_gradients = any(getattr(getattr(self, name), 'scatters_gradients', False)
                                      for name in self.rel_pos_names)
        self.chunk_above_elements = CHUNK_ABOVE_ELEMENTS
        self.max_bias_elements = MAX_BIAS_ELEMENTS

    def position_bias(self, q: torch.Tensor, grid_hw: Tuple[int, int],
                      num_extra_tokens: Optional[int] = None, rows: Optional[slice] = None,
                      skip: Sequence[str] = ()) -> Optional[torch.Tensor]:
        """Sum of the relative-position biases (B, h, N, N) for queries q (B, h, N, d), or
        ``None``; with ``rows``, q holds those query rows only and the bias is (B, h, rows, N)
        (``num_extra_tokens`` then counts the extra tokens of the whole sequence). ``skip``:
        attribute names of biases left out (the folded one)."""
        if num_extra_tokens is None:
            num_extra_tokens = _num_extra_tokens(q.shape[-2], grid_hw)
        bias, accumulate = None, []
        for name in self.rel_pos_names:
            if name in skip:
                continue
            module = getattr(self, name)
            if rows is None:
                term = module(q, grid_hw, num_extra_tokens)
            elif hasattr(module, 'add_rows_bias'):
                accumulate.append(module)  # added onto the others' sum below
                continue
            else:
                term = module(q, grid_hw, num_extra_tokens, rows=rows)
            bias = term if bias is None else bias + term
        for module in accumulate:
            if bias is not None and bias.shape == (*q.shape[:-1], bias.shape[-1]):
                bias = module.add_rows_bias(bias, q, grid_hw, num_extra_tokens, rows)
            else:
                term = module(q, grid_hw, num_extra_tokens, rows=rows)
                bias = term if bias is None else bias + term
        return bias

    def project_qkv(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Tokens (B, N, D) -> q, k, v, each (B, h, N, d) (unscaled)."""
        b, n, _ = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dims).permute(2, 0, 3, 1, 4)
        return qkv.unbind(0)

    def forward(self, x: torch.Tensor, grid_hw: Tuple[int, int],
                attn_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.project_qkv(x)
        if attn_mask is not None:
            if attn_mask.dtype == torch.bool:
                attn_mask = torch.zeros(attn_mask.shape, dtype=q.dtype, device=q.device
                                        ).masked_fill(~attn_mask, float('-inf'))
            attn_mask = attn_mask.to(q.dtype)
        drop = self.attn_drop if self.training else 0.
        if self.recompute_attention and torch.is_grad_enabled() and q.requires_grad:
            out = checkpoint(self.attend, q, k, v, grid_hw, attn_mask, drop,
                             use_reentrant=False)
        else:
            out = self.attend(q, k, v, grid_hw, attn_mask, drop)
        out = out.transpose(1, 2).reshape(b, n, self.embed_dims)
        return self.proj_drop(self.proj(out))

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               grid_hw: Tuple[int, int], attn_mask: Optional[torch.Tensor],
               drop: float) -> torch.Tensor:
        """The attention core: q, k, v (B, h, N, d) -> (B, h, N, d) with the position biases
        and ``attn_mask`` (already additive, in q's dtype) and dropout ``drop``."""
        if self.use_sdpa:
            return self._sdpa_attention(q, k, v, grid_hw, attn_mask, drop)
        logits = (q * self.head_dims**-0.5) @ k.transpose(-2, -1)
        bias = _add(self.position_bias(q, grid_hw), attn_mask)
        if bias is not None:
            logits = logits + bias
        return F.dropout(logits.softmax(dim=-1), drop) @ v

    def auto_uses_flex_on_cuda(self, num_tokens: int, attn_mask: Optional[torch.Tensor],
                               drop: float) -> bool:
        """Whether ``'auto'`` on CUDA runs FlexAttention for N = ``num_tokens``: only where it
        was measured faster than the explicit bias (see ``rel_pos_impl``)."""
        return (self.scatters_gradients and self.use_sdpa and attn_mask is None and not drop
                and self.num_heads * num_tokens**2 > self.chunk_above_elements)

    def _sdpa_attention(self, q, k, v, grid_hw, attn_mask, drop):
        """q, k, v (B, h, N, d) -> (B, h, N, d) through SDPA as ``rel_pos_impl`` says."""
        b, heads, n, _ = q.shape
        num_extra = _num_extra_tokens(n, grid_hw)
        auto_flex = False
        if self.rel_pos_impl == 'auto' and q.is_cuda:
            auto_flex = self.auto_uses_flex_on_cuda(n, attn_mask, drop)
            if not auto_flex:  # explicit: the fastest there for the other layouts
                bias = _add(self.position_bias(q, grid_hw, num_extra), attn_mask)
                return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=drop)
        if auto_flex or (self.flex and attn_mask is None and not drop):
            return flex_biased_attention(
                q, k, v, [getattr(self, name).flex_bias(q, grid_hw, num_extra)
                          for name in self.rel_pos_names])
        skip = ()
        if self.folded_name is not None:
            q_att, k_att = getattr(self, self.folded_name).fold(q, k, grid_hw, num_extra,
                                                               self.head_dims**-0.5)
            skip = (self.folded_name, )
        else:
            q_att, k_att = q, k
        has_bias = len(self.rel_pos_names) > len(skip)

        def rows_attention(q_rows, q_att_rows, k_att, v, rows):
            bias = self.position_bias(q_rows, grid_hw, num_extra, rows, skip) if has_bias \
                else None
            bias = _add(bias, _mask_rows(attn_mask, rows))
            if skip:
                return folded_attention(q_att_rows, k_att, v, bias, drop)
            if rows is None or bias is None:
                return F.scaled_dot_product_attention(q_att_rows, k_att, v, attn_mask=bias,
                                                      dropout_p=drop)
            return biased_attention(q_att_rows, k_att, v, bias, drop)

        rows_per_block = max(1, self.max_bias_elements // (b * heads * n))
        if (not (self.chunk_bias and has_bias) or b * heads * n * n <= self.chunk_above_elements
                or rows_per_block >= n):
            return rows_attention(q, q_att, k_att, v, None)
        outs = []
        for start in range(0, n, rows_per_block):
            rows = slice(start, min(start + rows_per_block, n))
            args = (q[:, :, rows], q_att[:, :, rows], k_att, v, rows)
            if torch.is_grad_enabled():  # keep inputs only; the backward rebuilds the block
                outs.append(checkpoint(rows_attention, *args, use_reentrant=False))
            else:
                outs.append(rows_attention(*args))
        return torch.cat(outs, dim=2)


def _add(a: Optional[torch.Tensor], b: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    return a if b is None else b if a is None else a + b


def _mask_rows(attn_mask: Optional[torch.Tensor], rows: Optional[slice]):
    """The query rows ``rows`` of a mask broadcastable to (B, h, N, N)."""
    if attn_mask is None or rows is None or attn_mask.shape[-2] == 1:
        return attn_mask
    return attn_mask[..., rows, :]


def _num_extra_tokens(num_tokens: int, grid_hw: Tuple[int, int]) -> int:
    num_extra = num_tokens - grid_hw[0] * grid_hw[1]
    if num_extra < 0:
        raise ValueError(f'{num_tokens} tokens cannot hold the grid {tuple(grid_hw)}')
    return num_extra
