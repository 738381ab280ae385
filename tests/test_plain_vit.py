"""PlainViT (the ViTDet / UperNet backbone on the shared ViTBase) and the shared ViT block with
window attention.

Small models (64-d, 4 layers, 4 heads, patch 16) on inputs of 17..200 px keep the file fast on
CPU. Position tables (decomposed relative position, contextual RPE, absolute embedding) are set
to random non-zero values wherever a test depends on them: at their zero initialisation they
would add nothing and a bug in them could not show.
"""
import math
from unittest import mock

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mim_det.downstream import PlainViT  # registers PlainViT
from mim_det.models.layers import (Attention, ContextualRPE, DecomposedRelPos, ViTBlock,
                                   resize_abs_pos, resize_rel_pos, window_padding_bias,
                                   window_partition, window_unpartition)

ARCH = dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=128)
D, HEADS = 64, 4
CONTEXTUAL = dict(type='ContextualRPE')  # LoMaR's
DECOMPOSED = dict(type='DecomposedRelPos')  # ViTDet's
BOTH = [CONTEXTUAL, DECOMPOSED]


def randomize_positions(module: nn.Module, seed: int = 0, std: float = 0.5) -> nn.Module:
    """Random non-zero values in every position table of ``module`` (all start at zero)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, ContextualRPE):
                m.lookup_table_weight.copy_(
                    torch.randn(m.lookup_table_weight.shape, generator=gen) * std)
            elif isinstance(m, DecomposedRelPos):
                m.rel_pos_h.copy_(torch.randn(m.rel_pos_h.shape, generator=gen) * std)
                m.rel_pos_w.copy_(torch.randn(m.rel_pos_w.shape, generator=gen) * std)
            elif isinstance(m, PlainViT) and m.use_abs_pos:
                m.pos_embed.copy_(torch.randn(m.pos_embed.shape, generator=gen))
    return module


def build(seed=0, **kwargs) -> PlainViT:
    """A small PlainViT with every kind of position on, PyTorch's default (not tiny) weights."""
    cfg = dict(arch=ARCH, img_size=64, patch_size=16, pretrain_img_size=64, use_abs_pos=True,
               rel_pos_cfgs=BOTH, window_size=4, global_attn_indexes=(1, 3), drop_path_rate=0.)
    cfg.update(kwargs)
    torch.manual_seed(seed)
    return randomize_positions(PlainViT(**cfg), seed).eval()


def twin(model: PlainViT, **overrides) -> PlainViT:
    """A PlainViT with ``model``'s arguments except ``overrides`` and the same weights."""
    kwargs = dict(arch=ARCH, img_size=model.img_size, patch_size=model.patch_size,
                  pretrain_img_size=model.pos_embed_grid[0] * model.patch_size,
                  use_abs_pos=model.use_abs_pos, rel_pos_cfgs=model.rel_pos_cfgs,
                  window_size=model.window_size,
                  global_attn_indexes=model.global_attn_indexes, out_indices=model.out_indices,
                  drop_path_rate=0.)
    kwargs.update(overrides)
    other = PlainViT(**kwargs)
    other.load_state_dict(model.state_dict())
    return other.train(model.training)


def make_layer(window_size, rel_pos_grid, use_sdpa=True, seed=0) -> ViTBlock:
    torch.manual_seed(seed)
    layer = ViTBlock(D, HEADS, 128, window_size=window_size, rel_pos_cfgs=BOTH,
                     rel_pos_grid=rel_pos_grid, use_sdpa=use_sdpa)
    return randomize_positions(layer, seed).eval()


def grads(model: nn.Module) -> dict:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


# ------------------------------------------------------------------------------------ shapes
@pytest.mark.parametrize('img_hw,window', [
    ((64, 64), 4),    # 4 x 4 map, one window
    ((80, 112), 2),   # 5 x 7 map: neither side divisible by the window
    ((80, 112), 3),   # 5 x 7 map, partial windows on both borders
    ((72, 100), 3),   # not divisible by the patch: ceil(4.5) x ceil(6.25) = 5 x 7
    ((200, 136), 4),  # 13 x 9
    ((17, 33), 4),    # 2 x 3 map, smaller than one window
])
def test_output_shape_is_stride_16_ceil(img_hw, window):
    model = build(window_size=window, out_indices=(1, 3))
    x = torch.randn(2, 3, *img_hw)
    with torch.no_grad():
        outs = model(x)
    grid = (math.ceil(img_hw[0] / 16), math.ceil(img_hw[1] / 16))
    assert isinstance(outs, tuple) and len(outs) == 2
    for out in outs:
        assert out.shape == (2, D, *grid)
        assert torch.isfinite(out).all()


def test_sizes_not_divisible_by_the_patch_are_zero_padded_bottom_right():
    model = build(window_size=3)
    x = torch.randn(1, 3, 72, 100)
    padded = F.pad(x, (0, 112 - 100, 0, 80 - 72))
    with torch.no_grad():
        torch.testing.assert_close(model(x)[0], model(padded)[0], rtol=0, atol=1e-6)


def test_vitdet_base_layout():
    """ViT-B at 1024: windows of 14 except blocks 2, 5, 8, 11; tables sized window / map."""
    model = PlainViT(arch='b', img_size=1024, rel_pos_cfgs=[DECOMPOSED])
    assert model.pos_embed.shape == (1, 14 * 14, 768)  # 224 px pretraining grid, no cls
    for i, layer in enumerate(model.layers):
        size = 64 if i in (2, 5, 8, 11) else 14
        assert layer.window_size == (0 if i in (2, 5, 8, 11) else 14)
        assert layer.attn.rel_pos.rel_pos_h.shape == (2 * size - 1, 64)
        assert layer.attn.rel_pos.rel_pos_w.shape == (2 * size - 1, 64)
        assert not hasattr(layer.attn, 'rpe_k')
    assert not model.final_norm and model.out_indices == (11, )


# ------------------------------------------------------------- window vs global attention
@pytest.mark.parametrize('hw,ws', [((5, 7), 2), ((5, 7), 3), ((4, 6), 4)])
def test_window_attention_equals_global_attention_on_each_window_crop(hw, ws):
    """A windowed layer computes, for every window -- partial ones at the border included --
    exactly what a global layer with the same weights computes on that window's crop alone,
    contextual RPE and decomposed relative position included.

    The equality needs the right relative-position table: the windowed layer uses its
    (2 ws - 1)-entry tables *as they are* (a partial window is padded to ws x ws and its padded
    keys masked), so a crop of hc x wc tokens sees offsets -(hc - 1)..(hc - 1) of the same
    table -- its central 2 hc - 1 entries. A global layer sized to the crop therefore gets that
    slice. Linearly resizing the whole table to 2 hc - 1 entries (what a global layer sized for
    the window would do on a smaller map) is a different function whenever 1 < hc < ws.
    """
    h, w = hw
    windowed = make_layer(ws, (ws, ws))
    x = torch.randn(2, h, w, D)
    with torch.no_grad():
        out = windowed(x)
        state = windowed.state_dict()
        checked = 0
        for r0 in range(0, h, ws):
            for c0 in range(0, w, ws):
                hc, wc = min(ws, h - r0), min(ws, w - c0)
                crop = x[:, r0:r0 + hc, c0:c0 + wc]
                expected = out[:, r0:r0 + hc, c0:c0 + wc]
                sliced = dict(state)
                sliced['attn.rel_pos.rel_pos_h'] = state['attn.rel_pos.rel_pos_h'][ws - hc:
                                                                                    ws + hc - 1]
                sliced['attn.rel_pos.rel_pos_w'] = state['attn.rel_pos.rel_pos_w'][ws - wc:
                                                                                    ws + wc - 1]
                glob = make_layer(0, (hc, wc))
                glob.load_state_dict(sliced)
                torch.testing.assert_close(glob(crop), expected, rtol=1e-5, atol=1e-5)
                checked += 1

                resized = make_layer(0, (ws, ws))
                resized.load_state_dict(state)
                if 1 < hc < ws or 1 < wc < ws:
                    assert (resized(crop) - expected).abs().max() > 1e-3
                else:  # full window (or a 1-wide side: resizing to 1 entry picks the centre)
                    torch.testing.assert_close(resized(crop), expected, rtol=1e-5, atol=1e-5)
    assert checked == math.ceil(h / ws) * math.ceil(w / ws)


def test_window_partition_round_trip_and_padding_mask():
    x = torch.randn(2, 5, 7, 3)
    windows, padded = window_partition(x, 3)
    assert padded == (6, 9) and windows.shape == (2 * 2 * 3, 9, 3)
    torch.testing.assert_close(window_unpartition(windows, 3, padded, (5, 7)), x, rtol=0, atol=0)
    # window (image 1, row 1, col 2) holds tokens rows 3..5, cols 6..8 of image 1
    torch.testing.assert_close(windows[6 + 5].reshape(3, 3, 3)[:2, :1], x[1, 3:5, 6:7])
    mask = window_padding_bias((5, 7), 3, 2, torch.float32, torch.device('cpu'))
    assert mask.shape == (12, 1, 1, 9)
    ones, _ = window_partition(torch.ones(2, 5, 7, 1), 3)
    assert torch.equal(mask[:, 0, 0] == float('-inf'), ones[..., 0] == 0)
    assert (mask[:, 0, 0][ones[..., 0] == 1] == 0).all()
    assert window_padding_bias((6, 9), 3, 2, torch.float32, torch.device('cpu')) is None


def test_padded_keys_do_not_influence_real_tokens():
    """Whatever the padded positions of a window hold, its real tokens' outputs are unchanged;
    without the mask the padded zeros do take part (the official ViTDet behaviour)."""
    layer = make_layer(3, (3, 3))
    x = torch.randn(2, 5, 7, D)
    with torch.no_grad():
        windows, padded = window_partition(layer.ln1(x), 3)
        real = window_partition(torch.ones(2, 5, 7, 1), 3)[0][..., 0].bool()
        mask = window_padding_bias((5, 7), 3, 2, windows.dtype, windows.device)
        noisy = windows.clone()
        noisy[~real] = 10 * torch.randn(int((~real).sum()), D)
        out = layer.attn(windows, (3, 3), attn_mask=mask)
        out_noisy = layer.attn(noisy, (3, 3), attn_mask=mask)
        torch.testing.assert_close(out_noisy[real], out[real], rtol=1e-5, atol=1e-6)
        unmasked = layer.attn(windows, (3, 3))
        assert (unmasked[real] - out[real]).abs().max() > 1e-3


def test_global_blocks_are_global_and_others_windowed():
    model = build(window_size=2, global_attn_indexes=(1, -1), out_indices=(0, 1, 2, 3),
                  img_size=96)
    assert [layer.window_size for layer in model.layers] == [2, 0, 2, 0]
    assert [layer.attn.rel_pos.grid_hw for layer in model.layers] == [(2, 2), (6, 6)] * 2
    x = torch.randn(1, 3, 80, 96)  # 5 x 6 tokens
    x2 = x.clone()
    x2[..., :16, :16] += 1  # changes token (0, 0) only
    with torch.no_grad():
        outs, outs2 = model(x), model(x2)
    changed = [(a - b).abs().amax(1)[0] > 1e-6 for a, b in zip(outs, outs2)]
    in_window = torch.zeros(5, 6, dtype=torch.bool)
    in_window[:2, :2] = True
    assert torch.equal(changed[0], in_window)  # block 0 stays in window (0, 0)
    assert changed[1].all()  # block 1 is global
    assert all(layer.window_size == 0 for layer in build(window_size=0).layers)


# ------------------------------------------------------------------------ position resizing
def test_resize_abs_pos():
    pos = torch.randn(1, 2 * 3, 8)
    same = resize_abs_pos(pos, (2, 3), (2, 3))
    assert torch.equal(same, pos.reshape(1, 2, 3, 8))
    out = resize_abs_pos(pos, (2, 3), (5, 7))
    ref = F.interpolate(pos.reshape(1, 2, 3, 8).permute(0, 3, 1, 2), size=(5, 7),
                        mode='bicubic', align_corners=False).permute(0, 2, 3, 1)
    assert out.shape == (1, 5, 7, 8)
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    const = torch.full((1, 6, 8), 0.37)
    torch.testing.assert_close(resize_abs_pos(const, (2, 3), (5, 7)), torch.full((1, 5, 7, 8),
                                                                                 0.37))
    # row-major layout: a table that varies along rows only still does after resizing
    rows = torch.arange(2.).repeat_interleave(3)[None, :, None].expand(1, 6, 8)
    resized = resize_abs_pos(rows, (2, 3), (5, 7))
    torch.testing.assert_close(resized, resized[:, :, :1].expand_as(resized))
    assert resized[0, -1, 0, 0] > resized[0, 0, 0, 0]


def test_resize_rel_pos():
    table = torch.randn(27, 16)
    assert torch.equal(resize_rel_pos(table, 27), table)
    out = resize_rel_pos(table, 127)
    ref = F.interpolate(table.t()[None], size=127, mode='linear', align_corners=False)[0].t()
    assert out.shape == (127, 16)
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    torch.testing.assert_close(out[63], table[13])  # the zero offset stays the centre
    const = torch.full((13, 4), -1.5)
    torch.testing.assert_close(resize_rel_pos(const, 5), torch.full((5, 4), -1.5))
    torch.testing.assert_close(resize_rel_pos(const, 31), torch.full((31, 4), -1.5))


def test_decomposed_rel_pos_equals_per_pair_formula():
    """b[i, j] = q_i . R_h[r_i - r_j + S - 1] + q_i . R_w[c_i - c_j + S - 1] (query minus key),
    with the tables resized to the map when it differs from the grid they were sized for."""
    torch.manual_seed(0)
    rel = randomize_positions(DecomposedRelPos(8, (3, 4)))
    for h, w in [(3, 4), (2, 5)]:
        q = torch.randn(2, 3, h * w, 8)
        bias = rel(q, (h, w))
        r_h = resize_rel_pos(rel.rel_pos_h, 2 * h - 1)
        r_w = resize_rel_pos(rel.rel_pos_w, 2 * w - 1)
        ref = torch.zeros(2, 3, h * w, h * w)
        for i in range(h * w):
            for j in range(h * w):
                qi = q[:, :, i]
                ref[:, :, i, j] = (qi @ r_h[i // w - j // w + h - 1]
                                   + qi @ r_w[i % w - j % w + w - 1])
        torch.testing.assert_close(bias, ref, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------- LoMaR contextual RPE
def test_lomar_contextual_rpe_tables_are_used_without_cls_token():
    model = build(use_abs_pos=False, rel_pos_cfgs=[CONTEXTUAL], window_size=3)
    names = [n for n, _ in model.named_parameters()]
    assert not any('cls' in n for n in names) and not hasattr(model, 'cls_token')
    assert not any('pos_embed' in n or 'rel_pos' in n for n in names)
    for layer in model.layers:
        rpe = layer.attn.rpe_k
        assert rpe.lookup_table_weight.shape == (1, D // HEADS, 50)  # LoMaR checkpoints' layout
        assert not model.with_cls_token
        # no pair of grid tokens maps to the cls bucket (49)
        assert rpe.buckets((5, 7)).max() == 48 and rpe.buckets((3, 3)).max() < 49

    x = torch.randn(2, 3, 80, 112)
    out = model(x)[0]
    zero = twin(model)
    with torch.no_grad():
        for layer in zero.layers:
            layer.attn.rpe_k.lookup_table_weight.zero_()
        assert (zero(x)[0] - out).abs().max() > 1e-2  # the tables change the features
        reference = model(x)[0]  # under no_grad, like the next call (same SDPA kernel)

        # the cls bucket is kept (checkpoints load unchanged) but never used
        cls_changed = twin(model)
        for layer in cls_changed.layers:
            layer.attn.rpe_k.lookup_table_weight[..., 49] = 100.
        torch.testing.assert_close(cls_changed(x)[0], reference, rtol=0, atol=0)
    out.square().sum().backward()
    for layer in model.layers:
        grad = layer.attn.rpe_k.lookup_table_weight.grad
        assert (grad[..., 49] == 0).all() and (grad[..., :49] != 0).any()


# ------------------------------------------------------------------------- SDPA vs naive
@pytest.mark.parametrize('case', ['plain', 'biases', 'float_mask', 'bool_mask'])
def test_sdpa_equals_naive_attention(case):
    with_pos = case != 'plain'
    grid = (3, 4)
    n = 12
    kwargs = dict(rel_pos_cfgs=BOTH if with_pos else (), rel_pos_grid=(2, 3) if with_pos else None)
    torch.manual_seed(0)
    sdpa = randomize_positions(Attention(D, HEADS, use_sdpa=True, **kwargs))
    naive = Attention(D, HEADS, use_sdpa=False, **kwargs)
    naive.load_state_dict(sdpa.state_dict())
    torch.manual_seed(1)
    mask = None
    if case == 'float_mask':  # -inf on a few keys per image, as window padding does
        mask = torch.zeros(2, 1, 1, n)
        mask[0, ..., [3, 7, 11]] = float('-inf')
        mask[1, ..., 0] = float('-inf')
    elif case == 'bool_mask':  # keep-mask per query, the diagonal always kept
        mask = (torch.rand(2, 1, n, n) > 0.4) | torch.eye(n, dtype=torch.bool)
    x = torch.randn(2, n, D, requires_grad=True)
    weight = torch.randn(2, n, D)
    outs, grad_x = [], []
    for attn in (sdpa, naive):
        out = attn(x, grid, attn_mask=mask)
        (out * weight).sum().backward()
        outs.append(out.detach())
        grad_x.append(x.grad.clone())
        x.grad = None
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad_x[0], grad_x[1], rtol=1e-4, atol=1e-5)
    g_sdpa, g_naive = grads(sdpa), grads(naive)
    assert g_sdpa.keys() == g_naive.keys() == dict(sdpa.named_parameters()).keys()
    for name in g_sdpa:
        torch.testing.assert_close(g_sdpa[name], g_naive[name], rtol=1e-4, atol=1e-5, msg=name)
    if mask is not None:  # the mask took effect
        assert (sdpa(x, grid) - outs[0]).abs().max() > 1e-3


def assert_same_outputs_and_gradients(model: nn.Module, reference: nn.Module,
                                      x: torch.Tensor, tol: float = 1e-5) -> None:
    """Outputs within ``tol`` and every parameter's gradient within ``tol`` of its scale (the
    patch embedding's gradients reach ~60, where fp32 sums differ in the 5th digit)."""
    out, out_ref = model(x)[0], reference(x)[0]
    torch.testing.assert_close(out, out_ref, rtol=tol, atol=tol)
    weight = torch.randn_like(out)
    (out * weight).sum().backward()
    (out_ref * weight).sum().backward()
    g, g_ref = grads(model), grads(reference)
    assert len(g) == len(list(model.parameters()))
    for name in g:
        scale = g_ref[name].abs().max().clamp(min=1.)
        torch.testing.assert_close(g[name] / scale, g_ref[name] / scale, rtol=0, atol=tol,
                                   msg=name)


def test_sdpa_equals_naive_in_the_backbone():
    model = build(window_size=3).train()  # 5 x 7 map: padded windows, masked keys
    naive = twin(model, use_sdpa=False)
    assert_same_outputs_and_gradients(model, naive, torch.randn(2, 3, 80, 112), tol=1e-4)


# ------------------------------------------------ decomposed position folded into q and k
def test_query_terms_times_key_codes_is_the_decomposed_bias():
    from mim_det.models.layers import grid_key_codes
    rel = randomize_positions(DecomposedRelPos(8, (3, 4)))
    q = torch.randn(2, 3, 1 + 5 * 6, 8)  # a cls token, then a 5 x 6 grid (tables resampled)
    terms = torch.nn.functional.pad(rel.query_terms(q, (5, 6), 1), (0, 0, 1, 0))
    codes = grid_key_codes((5, 6), 1)
    assert codes.shape == (31, 11) and (codes[0] == 0).all() and (codes[1:].sum(-1) == 2).all()
    torch.testing.assert_close(terms @ codes.t(), rel(q, (5, 6), 1), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('case', ['global_cls', 'float_mask', 'bool_mask', 'dropout_off'])
def test_folded_decomposed_rel_pos_equals_the_explicit_bias(case):
    """Values and gradients (inputs, qkv, every table) of the folded attention equal the
    explicit (N, N) bias through SDPA and the naive matmul, within 1e-5 in fp32."""
    grid = (3, 4)
    n = 12 + (case == 'global_cls')
    kwargs = dict(rel_pos_cfgs=[DECOMPOSED], rel_pos_grid=(2, 3))
    torch.manual_seed(0)
    folded = randomize_positions(Attention(D, HEADS, rel_pos_impl='folded', **kwargs))
    explicit = Attention(D, HEADS, rel_pos_impl='explicit', **kwargs)
    naive = Attention(D, HEADS, use_sdpa=False, **kwargs)
    assert folded.fold_rel_pos and not explicit.fold_rel_pos and not naive.fold_rel_pos
    for other in (explicit, naive):
        other.load_state_dict(folded.state_dict())
    torch.manual_seed(1)
    mask = None
    if case == 'float_mask':  # window padding: -inf on some keys
        mask = torch.zeros(2, 1, 1, n)
        mask[0, ..., [3, 7, 11]] = float('-inf')
    elif case == 'bool_mask':
        mask = (torch.rand(2, 1, n, n) > 0.4) | torch.eye(n, dtype=torch.bool)
    x = torch.randn(2, n, D, requires_grad=True)
    weight = torch.randn(2, n, D)
    results = []
    for attn in (folded, explicit, naive):
        out = attn(x, grid, attn_mask=mask)
        (out * weight).sum().backward()
        results.append((out.detach(), x.grad.clone(), grads(attn)))
        x.grad = None
    ref_out, ref_gx, ref_g = results[1]
    assert ref_g.keys() == dict(folded.named_parameters()).keys()
    for out, gx, g in (results[0], results[2]):
        torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(gx, ref_gx, rtol=1e-5, atol=1e-5)
        for name in ref_g:
            torch.testing.assert_close(g[name], ref_g[name], rtol=1e-5, atol=1e-5, msg=name)
    assert ref_g['rel_pos.rel_pos_h'].abs().max() > 1e-3  # the tables do get gradients


def test_folded_backbone_equals_explicit_with_padded_windows():
    model = build(rel_pos_cfgs=[DECOMPOSED], window_size=3).train()  # 5 x 7: padded windows
    explicit = twin(model, rel_pos_impl='explicit')
    assert all(layer.attn.fold_rel_pos for layer in model.layers)
    assert not any(layer.attn.fold_rel_pos for layer in explicit.layers)
    assert_same_outputs_and_gradients(model, explicit, torch.randn(2, 3, 80, 112))


def test_only_a_lone_decomposed_bias_is_folded():
    assert not Attention(D, HEADS, rel_pos_cfgs=BOTH, rel_pos_grid=(2, 3)).fold_rel_pos
    assert not Attention(D, HEADS).fold_rel_pos
    with pytest.raises(ValueError, match="rel_pos_impl='fold'"):
        Attention(D, HEADS, rel_pos_impl='fold')
    assert Attention(D, HEADS, rel_pos_cfgs=[DECOMPOSED], rel_pos_grid=(8, 8)).fold_rel_pos
    assert not Attention(D, HEADS, rel_pos_cfgs=[DECOMPOSED], rel_pos_grid=(8, 8),
                         use_sdpa=False).fold_rel_pos


# ------------------------------------------- non-separable biases built per block of query rows
TABLE = dict(type='RelPosBiasTable')  # BEiT's


def randomize_tables(module: nn.Module, seed: int = 0, std: float = 0.5) -> nn.Module:
    """:func:`randomize_positions`, BEiT's per-head tables included."""
    randomize_positions(module, seed, std)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith('relative_position_bias_table'):
                p.copy_(torch.randn(p.shape, generator=gen) * std)
    return module


@pytest.mark.parametrize('cfgs,num_extra,mask_kind', [
    ([CONTEXTUAL], 1, None),
    ([DECOMPOSED, CONTEXTUAL], 0, 'float'),
    ([TABLE], 1, 'bool'),
    ([TABLE, CONTEXTUAL], 0, 'float'),
    ([DECOMPOSED, CONTEXTUAL], 1, 'full_float'),
])
def test_chunked_biases_equal_the_explicit_bias(cfgs, num_extra, mask_kind, monkeypatch):
    """Blocks of 7 query rows (the last one shorter, one straddling the cls token and grid
    rows): values and gradients of inputs, qkv and every table equal the explicit (N, N) bias
    within 1e-5 in fp32, and no bias block has more rows than allowed."""
    grid = (5, 6)
    n = 30 + num_extra
    kwargs = dict(rel_pos_cfgs=cfgs, rel_pos_grid=(3, 4))
    torch.manual_seed(0)
    chunked = randomize_tables(Attention(D, HEADS, rel_pos_impl='chunked', **kwargs))
    explicit = Attention(D, HEADS, rel_pos_impl='explicit', **kwargs)
    explicit.load_state_dict(chunked.state_dict())
    rows_per_block = 7
    chunked.chunk_above_elements = 0  # split even this small attention
    chunked.max_bias_elements = 2 * HEADS * n * rows_per_block
    bias_rows = []
    for name in chunked.rel_pos_names:
        getattr(chunked, name).register_forward_hook(
            lambda mod, args, out: bias_rows.append(out.shape[-2]))
    import mim_det.models.layers.attention as attention_module
    recomputed = []
    real_checkpoint = attention_module.checkpoint
    monkeypatch.setattr(attention_module, 'checkpoint',
                        lambda *a, **k: recomputed.append(1) or real_checkpoint(*a, **k))
    torch.manual_seed(1)
    mask = None
    if mask_kind == 'float':  # window padding: -inf on some keys
        mask = torch.zeros(2, 1, 1, n)
        mask[0, ..., [3, 7, 11]] = float('-inf')
    elif mask_kind == 'full_float':  # a shared (1, h, N, N) bias, as BEiT's backbone passes
        mask = torch.randn(1, HEADS, n, n)
    elif mask_kind == 'bool':
        mask = (torch.rand(2, 1, n, n) > 0.4) | torch.eye(n, dtype=torch.bool)
    x = torch.randn(2, n, D, requires_grad=True)
    weight = torch.randn(2, n, D)
    results = []
    for attn in (chunked, explicit):
        out = attn(x, grid, attn_mask=mask)
        (out * weight).sum().backward()
        results.append((out.detach(), x.grad.clone(), grads(attn)))
        x.grad = None
    (out, gx, g), (ref_out, ref_gx, ref_g) = results
    blocks = -(-n // rows_per_block)
    assert len(recomputed) == blocks
    # forward and backward's recomputation, each bias in blocks of <= 7 rows (the decomposed
    # bias is added onto the others' sum through add_rows_bias, not its forward)
    called = [cfg for cfg in cfgs if cfg is not DECOMPOSED or len(cfgs) == 1]
    assert len(bias_rows) == 2 * blocks * len(called) and max(bias_rows) == rows_per_block
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gx, ref_gx, rtol=1e-5, atol=1e-5)
    assert g.keys() == ref_g.keys() == dict(chunked.named_parameters()).keys()
    for name in ref_g:
        torch.testing.assert_close(g[name], ref_g[name], rtol=1e-5, atol=1e-5, msg=name)
        if 'lookup_table' in name or 'rel_pos_' in name or 'bias_table' in name:
            assert ref_g[name].abs().max() > 1e-3, name  # the tables do get gradients


def test_chunked_biases_under_bf16_autocast_lose_no_more_than_bf16_itself():
    """Under CPU bf16 autocast (the AMP path a GPU takes with bf16), the chunked output and
    gradients stay as close to the fp32 reference as the explicit bias's do under the same
    autocast (both about 1-2 % of the norm here)."""
    kwargs = dict(rel_pos_cfgs=[DECOMPOSED, CONTEXTUAL], rel_pos_grid=(3, 4))
    torch.manual_seed(0)
    chunked = randomize_tables(Attention(D, HEADS, rel_pos_impl='chunked', **kwargs), std=0.2)
    chunked.chunk_above_elements = 0
    chunked.max_bias_elements = 2 * HEADS * 30 * 7
    explicit = Attention(D, HEADS, rel_pos_impl='explicit', **kwargs)
    explicit.load_state_dict(chunked.state_dict())
    x = torch.randn(2, 30, D)

    def run(attn, amp):
        attn.zero_grad()
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=amp):
            out = attn(x, (5, 6))
        out.float().square().sum().backward()
        return [out.detach().float()] + [p.grad.clone() for p in attn.parameters()]

    ref = run(explicit, False)
    low_chunked, low_explicit = run(chunked, True), run(explicit, True)
    assert chunked(x, (5, 6)).dtype == torch.float32  # and bf16 under autocast:
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert chunked(x, (5, 6)).dtype == torch.bfloat16
    for r, c, e in zip(ref, low_chunked, low_explicit):
        err_chunked = ((c - r).norm() / r.norm()).item()
        err_explicit = ((e - r).norm() / r.norm()).item()
        assert err_chunked < 3e-2 and err_chunked < 2 * err_explicit + 1e-3, (err_chunked,
                                                                              err_explicit)


def test_a_small_attention_is_not_split_nor_recomputed(monkeypatch):
    import mim_det.models.layers.attention as attention_module
    monkeypatch.setattr(attention_module, 'checkpoint',
                        lambda *a, **k: pytest.fail('checkpoint called'))
    attn = Attention(D, HEADS, rel_pos_cfgs=[CONTEXTUAL], rel_pos_impl='auto')
    attn.max_bias_elements = 2 * HEADS * 13  # blocks of one row, were it split
    attn.chunk_above_elements = 2 * HEADS * 13 * 13  # but it is not above the threshold
    attn(torch.randn(2, 13, D), (3, 4)).sum().backward()


def test_chunked_backbone_equals_explicit_with_windows_and_global_blocks():
    """LoMaR's ViTDet layout (decomposed + contextual in every block, padded windows, two
    global blocks) in blocks of 5 query rows against the explicit biases."""
    model = build(use_abs_pos=False, window_size=3).train()  # 5 x 7 map: padded windows
    explicit = twin(model, rel_pos_impl='explicit')
    for layer in model.layers:
        layer.attn.chunk_above_elements = 0
        layer.attn.max_bias_elements = 2 * HEADS * 35 * 5
    assert_same_outputs_and_gradients(model, explicit, torch.randn(2, 3, 80, 112))


def test_decomposed_bias_of_a_block_of_rows_is_those_rows_of_the_full_bias():
    rel = randomize_positions(DecomposedRelPos(8, (3, 4)))
    q = torch.randn(2, 3, 1 + 5 * 6, 8)
    full = rel(q, (5, 6), 1)
    for rows in (slice(0, 4), slice(4, 19), slice(25, 31)):
        torch.testing.assert_close(rel(q[:, :, rows], (5, 6), 1, rows=rows), full[:, :, rows],
                                   rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------- checkpointing, drop path
def test_activation_checkpointing_gives_the_same_outputs_and_gradients():
    """Also with drop path on: the recomputation replays the same random drops."""
    model = build(window_size=3, drop_path_rate=0.3).train()
    cp_model = twin(model, with_cp=True, drop_path_rate=0.3)
    calls = {'plain': 0, 'cp': 0}
    model.layers[2].register_forward_pre_hook(lambda *_: calls.__setitem__('plain',
                                                                           calls['plain'] + 1))
    cp_model.layers[2].register_forward_pre_hook(lambda *_: calls.__setitem__('cp',
                                                                              calls['cp'] + 1))
    x = torch.randn(4, 3, 80, 112)
    weight = torch.randn(4, D, 5, 7)
    results = []
    for m in (model, cp_model):
        torch.manual_seed(7)
        out = m(x)[0]
        (out * weight).sum().backward()
        results.append((out.detach(), grads(m)))
    assert calls == {'plain': 1, 'cp': 2}  # checkpointed blocks run again in backward
    torch.testing.assert_close(results[1][0], results[0][0], rtol=0, atol=1e-6)
    assert results[0][1].keys() == results[1][1].keys()
    assert len(results[0][1]) == len(list(model.parameters()))
    for name, grad in results[0][1].items():
        torch.testing.assert_close(results[1][1][name], grad, rtol=1e-5, atol=1e-6, msg=name)


def test_compiled_blocks_give_the_same_outputs_gradients_and_checkpoint_keys():
    """``compile_blocks`` compiles each block in place: same values and gradients, and the
    state-dict keys of an uncompiled model (checkpoints load both ways). ``aot_eager`` traces
    forward and backward through dynamo and AOTAutograd as inductor would, without its
    C++ code generation (minutes on this CPU; the GPU figures use inductor)."""
    import torch._dynamo
    model = build(window_size=3).train()
    compiled = twin(model, compile_blocks=dict(backend='aot_eager'))
    assert list(compiled.state_dict()) == list(model.state_dict())
    assert all(layer._compiled_call_impl is not None for layer in compiled.layers)
    assert model.layers[0]._compiled_call_impl is None
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    x = torch.randn(2, 3, 80, 112)
    weight = torch.randn(2, D, 5, 7)
    results = []
    for m in (model, compiled):
        out = m(x)[0]
        (out * weight).sum().backward()
        results.append((out.detach(), grads(m)))
    assert torch._dynamo.utils.counters['stats']['unique_graphs'] >= 2  # window + global
    torch.testing.assert_close(results[1][0], results[0][0], rtol=1e-5, atol=1e-5)
    assert results[0][1].keys() == results[1][1].keys()
    for name, grad in results[0][1].items():
        torch.testing.assert_close(results[1][1][name], grad, rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.parametrize('impl', ['folded', 'chunked', 'explicit'])
def test_recomputed_attention_keeps_values_gradients_and_less_memory(impl, monkeypatch):
    """``recompute_attention``: the same outputs and gradients (attention dropout and drop
    path on, so the recomputation must replay the random streams), the core runs again in
    backward, and the tensors kept for backward are smaller."""
    cfgs = [DECOMPOSED] if impl == 'folded' else BOTH
    model = build(window_size=3, rel_pos_cfgs=cfgs, drop_path_rate=0.3,
                  attn_drop_rate=0.1).train()
    for layer in model.layers:
        layer.attn.rel_pos_impl = impl
    recomputed = twin(model, rel_pos_cfgs=cfgs, recompute_attention=True, drop_path_rate=0.3,
                      attn_drop_rate=0.1)
    for layer in recomputed.layers:
        layer.attn.rel_pos_impl = impl
    calls = {'plain': 0, 'recomputed': 0}

    def count_attend(attn, key):
        real = attn.attend

        def attend(*args):
            calls[key] += 1
            return real(*args)
        monkeypatch.setattr(attn, 'attend', attend)
    count_attend(model.layers[1].attn, 'plain')
    count_attend(recomputed.layers[1].attn, 'recomputed')
    x = torch.randn(2, 3, 80, 112)
    weight = torch.randn(2, D, 5, 7)
    results, saved = [], []
    for m in (model, recomputed):
        sizes = []

        def pack(t, sizes=sizes):
            sizes.append(t.numel() * t.element_size())
            return t
        torch.manual_seed(7)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = m(x)[0]
        (out * weight).sum().backward()
        results.append((out.detach(), grads(m)))
        saved.append(sum(sizes))
    assert calls == {'plain': 1, 'recomputed': 2}  # the core runs again in backward
    assert saved[1] < 0.9 * saved[0], saved
    torch.testing.assert_close(results[1][0], results[0][0], rtol=0, atol=1e-6)
    assert results[0][1].keys() == results[1][1].keys()
    for name, grad in results[0][1].items():
        torch.testing.assert_close(results[1][1][name], grad, rtol=1e-5, atol=1e-6, msg=name)


def test_drop_path_active_in_train_mode_only():
    model = build(drop_path_rate=0.5)
    rates = [getattr(layer.drop_path, 'drop_prob', 0.) for layer in model.layers]
    assert isinstance(model.layers[0].drop_path, nn.Identity)  # linear rule starts at 0
    assert rates == pytest.approx([0., 0.5 / 3, 1 / 3, 0.5])
    reference = twin(model, drop_path_rate=0.).eval()
    x = torch.randn(4, 3, 64, 64)
    with torch.no_grad():
        expected = reference(x)[0]
        model.eval()
        torch.testing.assert_close(model(x)[0], expected, rtol=0, atol=0)
        model.train()
        torch.manual_seed(1)
        a = model(x)[0]
        torch.manual_seed(2)
        b = model(x)[0]
        assert (a - expected).abs().max() > 1e-3
        assert (a - b).abs().max() > 1e-3
        reference.train()  # nothing else is random: without drop path train == eval
        torch.testing.assert_close(reference(x)[0], expected, rtol=0, atol=0)


# --------------------------------------------------------------------------- layer decay
def test_get_layer_depth():
    model = build()
    num = ARCH['num_layers'] + 2
    pre = 'backbone.'
    assert model.get_layer_depth(pre + 'patch_embed.projection.weight', pre) == (0, num)
    assert model.get_layer_depth(pre + 'pos_embed', pre) == (0, num)
    assert model.get_layer_depth(pre + 'layers.0.attn.qkv.weight', pre) == (1, num)
    assert model.get_layer_depth(pre + 'layers.3.attn.rel_pos.rel_pos_h', pre) == (4, num)
    assert model.get_layer_depth(pre + 'ln1.weight', pre) == (num - 1, num)
    assert model.get_layer_depth('neck.lateral.0.conv.weight', pre) == (num - 1, num)
    # without the prefix a backbone name is not the backbone's
    assert model.get_layer_depth('layers.0.ln1.weight', pre) == (num - 1, num)
    assert model.get_layer_depth('layers.2.ffn.layers.1.weight') == (3, num)
    assert model.get_layer_depth('patch_embed.projection.bias') == (0, num)
    big = PlainViT(arch='b')  # two-digit block indices
    assert big.get_layer_depth('backbone.layers.11.ln2.weight', 'backbone.') == (12, 14)
    assert big.get_layer_depth('backbone.layers.10.attn.proj.bias', 'backbone.') == (11, 14)
    # every backbone parameter gets its own depth: stem 0, block i -> i + 1, final norm last
    with_norm = build(final_norm=True)
    for name, _ in with_norm.named_parameters():
        depth, _ = with_norm.get_layer_depth(pre + name, pre)
        if name.startswith(('patch_embed', 'pos_embed')):
            assert depth == 0, name
        elif name.startswith('layers.'):
            assert depth == int(name.split('.')[1]) + 1, name
        else:
            assert name.startswith('ln1') and depth == num - 1, name


# ---------------------------------------------------- every bias as a FlexAttention score_mod
@pytest.mark.parametrize('cfgs,num_extra', [
    ([DECOMPOSED], 0), ([DECOMPOSED], 1), ([CONTEXTUAL], 1), ([DECOMPOSED, CONTEXTUAL], 0),
    ([TABLE], 1), ([TABLE, CONTEXTUAL], 0), ([DECOMPOSED, TABLE], 1),
])
def test_flex_score_mods_equal_the_explicit_bias(cfgs, num_extra):
    """Each bias module's ``flex_bias`` read per (query, key) by FlexAttention gives the
    explicit (N, N) bias's attention on a 5 x 6 grid (tables sized for 3 x 4, so resized),
    with and without a cls token. Values only: torch has no FlexAttention backward on CPU;
    the gradients are checked on CUDA (tests/test_gpu.py)."""
    pytest.importorskip('torch.nn.attention.flex_attention')
    kwargs = dict(rel_pos_cfgs=cfgs, rel_pos_grid=(3, 4))
    torch.manual_seed(0)
    flex = randomize_tables(Attention(D, HEADS, rel_pos_impl='flex', **kwargs)).eval()
    explicit = Attention(D, HEADS, rel_pos_impl='explicit', **kwargs).eval()
    explicit.load_state_dict(flex.state_dict())
    x = torch.randn(2, 30 + num_extra, D)
    import mim_det.models.layers.attention as attention_module
    with torch.no_grad(), mock.patch.object(attention_module, 'flex_biased_attention',
                                            wraps=attention_module.flex_biased_attention) as f:
        out, ref = flex(x, (5, 6)), explicit(x, (5, 6))
    assert f.call_count == 1
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    plain = Attention(D, HEADS).eval()  # the biases matter: the same weights without them
    plain.load_state_dict(flex.state_dict(), strict=False)
    with torch.no_grad():
        assert (plain(x, (5, 6)) - ref).abs().max() > 1e-2


def test_auto_on_cuda_chooses_flex_only_where_it_was_measured_faster():
    """FlexAttention for a large attention with BEiT's table and no mask or dropout (the
    BEiT layout's global blocks at 1024 px); the explicit bias for everything else."""
    table = [DECOMPOSED, dict(type='RelPosBiasTable')]
    big = 4096  # a 64 x 64 global block: 12 heads x 4096^2 logits per image
    beit = Attention(768, 12, rel_pos_cfgs=table, rel_pos_grid=(64, 64))
    assert beit.auto_uses_flex_on_cuda(big, None, 0.)
    assert not beit.auto_uses_flex_on_cuda(197, None, 0.)  # a 224 px sequence
    assert not beit.auto_uses_flex_on_cuda(big, torch.zeros(1, 1, big, big), 0.)
    assert not beit.auto_uses_flex_on_cuda(big, None, 0.1)
    for cfgs in ([DECOMPOSED], [DECOMPOSED, CONTEXTUAL]):  # ViTDet, LoMaR: explicit was faster
        other = Attention(768, 12, rel_pos_cfgs=cfgs, rel_pos_grid=(64, 64))
        assert not other.auto_uses_flex_on_cuda(big, None, 0.)
    naive = Attention(768, 12, rel_pos_cfgs=table, rel_pos_grid=(64, 64), use_sdpa=False)
    assert not naive.auto_uses_flex_on_cuda(big, None, 0.)


def test_flex_leaves_masked_attention_to_the_chunked_path():
    """A padding mask (window blocks) is not a score_mod: that attention runs as 'chunked'
    and still equals the explicit bias."""
    kwargs = dict(rel_pos_cfgs=[DECOMPOSED, CONTEXTUAL], rel_pos_grid=(3, 4))
    torch.manual_seed(0)
    flex = randomize_tables(Attention(D, HEADS, rel_pos_impl='flex', **kwargs))
    explicit = Attention(D, HEADS, rel_pos_impl='explicit', **kwargs)
    explicit.load_state_dict(flex.state_dict())
    mask = torch.zeros(2, 1, 1, 30)
    mask[0, ..., [3, 7]] = float('-inf')
    x = torch.randn(2, 30, D)
    weight = torch.randn(2, 30, D)
    import mim_det.models.layers.attention as attention_module
    with mock.patch.object(attention_module, 'flex_biased_attention',
                           side_effect=AssertionError('flex used with a mask')):
        out = flex(x, (5, 6), attn_mask=mask)
    ref = explicit(x, (5, 6), attn_mask=mask)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    (out * weight).sum().backward()
    (ref * weight).sum().backward()
    for name, g in grads(explicit).items():
        torch.testing.assert_close(grads(flex)[name], g, rtol=1e-5, atol=1e-5, msg=name)
