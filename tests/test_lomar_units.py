"""LoMaR's parts against the paper and the official code: sampler, masking, RPE, encoder, loss.

Tiny models (64-d, 2 layers, patch 8) keep every test well under a second.
"""
import math

import pytest
import torch
from mmengine.registry import DefaultScope
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import mim_det  # noqa: F401
from mim_det.analysis.flops import lomar_flops_per_image
from mim_det.models.layers import (Attention, ContextualRPE, bucket_matrix,
                                   piecewise_index)
from mim_det.models.maskers import WindowSample, WindowSampler

ARCH = dict(embed_dims=64, num_layers=2, num_heads=4, feedforward_channels=128)
P, K, M = 8, 7, 4


def build_lomar(num_windows=M, position_mode='per_image', random_tables=False, seed=0):
    from mmpretrain.registry import MODELS
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(dict(
            type='LoMaR',
            backbone=dict(type='LoMaRViT', arch=ARCH, img_size=112, patch_size=P),
            head=dict(type='LoMaRHead', embed_dims=64, patch_size=P),
            window_sampler=dict(type='WindowSampler', window_size=K, num_windows=num_windows,
                                mask_ratio=0.8, position_mode=position_mode)))
    model.init_weights()
    if random_tables:
        for layer in model.backbone.layers:
            torch.nn.init.normal_(layer.attn.rpe_k.lookup_table_weight, std=0.5)
    return model.eval()


@pytest.fixture(autouse=True)
def quiet_init(caplog):
    import logging
    logging.getLogger('mmengine').setLevel(logging.WARNING)
    yield
    logging.getLogger('mmengine').setLevel(logging.INFO)


def sample(model, x):
    torch.manual_seed(1)
    return model.sample_windows(x)


def hand_windows(positions, grid_hw, mask):
    """A WindowSample with chosen positions and mask (what the sampler would return)."""
    sampler = WindowSampler(K, positions.shape[1])
    return WindowSample(positions, sampler.window_token_index(positions, grid_hw), mask, K,
                        grid_hw)


# ---------------------------------------------------------------- shapes and masking
def test_encoder_input_and_prediction_shapes():
    model = build_lomar()
    x = torch.randn(2, 3, 112, 112)
    win = sample(model, x)
    tokens = model.backbone.embed_windows(x, win)
    assert tokens.shape == (2 * M, K * K, 64)
    latent = model.backbone(x, win)[0]
    assert latent.shape == (2 * M, K * K + 1, 64)  # cls + 49 window tokens
    assert model.head.predict(latent).shape == (2 * M, K * K, P * P * 3)


@pytest.mark.parametrize('k,ratio,expected', [(7, 0.8, 39), (5, 0.75, 18), (4, 0.5, 8)])
def test_exact_number_of_masked_tokens_per_window(k, ratio, expected):
    torch.manual_seed(0)
    win = WindowSampler(k, 3, ratio)(8, (14, 14))
    assert win.mask.shape == (24, k * k)
    assert (win.mask.sum(-1) == expected).all()
    # different windows get different masks
    assert len({tuple(row.tolist()) for row in win.mask}) > 1


def test_masked_tokens_are_the_mask_token_and_no_position_is_added():
    model = build_lomar()
    bb = model.backbone
    x = torch.randn(2, 3, 112, 112)
    win = sample(model, x)
    tokens = bb.embed_windows(x, win)
    assert torch.equal(tokens[win.mask], bb.mask_token[0].expand(int(win.mask.sum()), -1))
    # visible tokens are exactly the conv patch embedding of their patch, nothing added
    full = bb.patch_embed.projection(x).flatten(2).transpose(1, 2)  # (B, 196, D)
    image = torch.arange(2).repeat_interleave(M)[:, None]
    expected = full[image, win.token_index]
    assert torch.allclose(tokens[~win.mask], expected[~win.mask], atol=1e-5)
    names = [n for n, _ in model.named_parameters()] + [n for n, _ in model.named_buffers()]
    assert not any('pos' in n for n in names), names


# ---------------------------------------------------------------------------- loss
def test_loss_ignores_visible_patches_and_cls():
    model = build_lomar()
    x = torch.randn(2, 3, 112, 112)
    win = sample(model, x)
    latent = model.backbone(x, win)[0].detach().requires_grad_()
    pred = model.head.predict(latent)
    pred.retain_grad()
    target = model.head.construct_target(x, win)
    model.head.loss_module(pred, target, win.mask.float()).backward()
    assert (pred.grad[~win.mask] == 0).all()
    assert (pred.grad[win.mask].abs().sum(-1) > 0).all()
    assert (latent.grad[:, 0] == 0).all()  # cls output never reaches the loss
    assert (latent.grad[:, 1:][~win.mask] == 0).all()


def test_norm_pix_target_and_loss_value():
    model = build_lomar()
    x = torch.randn(1, 3, 112, 112)
    positions = torch.tensor([[[2, 5]]])
    mask = torch.zeros(1, 49, dtype=torch.bool)
    mask[0, :39] = True
    win = hand_windows(positions, (14, 14), mask)
    target = model.head.construct_target(x, win)
    # patch (row 2 + 1, col 5 + 3) of the image is window patch 1 * 7 + 3
    patch = x[0, :, 3 * P:4 * P, 8 * P:9 * P].permute(1, 2, 0).reshape(-1)
    expected = (patch - patch.mean()) / torch.sqrt(patch.var(unbiased=True) + 1e-6)
    assert torch.allclose(target[0, 10], expected, atol=1e-5)
    pred = torch.randn_like(target)
    loss = model.head.loss_module(pred, target, mask.float())
    manual = ((pred - target) ** 2).mean(-1)[mask].mean()
    assert torch.allclose(loss, manual, atol=1e-6)


# ------------------------------------------------------------------ relative position
def test_piecewise_index_matches_irpe():
    offsets = torch.tensor([0, 1, 2, 3, 4, 5, 6, 14, 100, -1, -2, -3, -4, -6])
    expected = [0, 1, 2, 2, 3, 3, 3, 3, 3, -1, -2, -2, -3, -3]
    assert piecewise_index(offsets, 1.9, 3.8, 15.2).tolist() == expected


def test_bucket_matrix_for_a_7x7_window():
    b = bucket_matrix((7, 7), 1)
    assert b.shape == (50, 50)
    assert (b[0] == 49).all() and (b[:, 0] == 49).all()
    patches = b[1:, 1:]
    assert (patches.diagonal() == 3 * 7 + 3).all()  # zero offset
    assert torch.equal(patches.T, 48 - patches)  # b(j, i) mirrors b(i, j)
    assert sorted(b.unique().tolist()) == list(range(50))
    # token (0, 0) vs (3, 6): offsets (-3, -6) -> (-2, -3) -> bucket 1 * 7 + 0
    assert patches[0, 3 * 7 + 6] == 7
    big = bucket_matrix((14, 14), 1)
    assert big.min() == 0 and big.max() == 49


def test_rpe_gather_equals_naive_per_pair_loop():
    torch.manual_seed(0)
    for grid in ((7, 7), (3, 4)):
        rpe = ContextualRPE(head_dims=8)
        torch.nn.init.normal_(rpe.lookup_table_weight)
        n = grid[0] * grid[1] + 1
        q = torch.randn(2, 3, n, 8)
        out = rpe(q, grid, 1)  # one cls token before the grid
        buckets = bucket_matrix(grid, 1)
        table = rpe.lookup_table_weight[0]
        naive = torch.empty(2, 3, n, n)
        for i in range(n):
            for j in range(n):
                naive[:, :, i, j] = q[:, :, i] @ table[:, buckets[i, j]]
        assert torch.allclose(out, naive, atol=1e-5), grid


def test_attention_equals_naive_formula():
    torch.manual_seed(0)
    attn = Attention(32, 4, rel_pos_cfgs=[dict(type='ContextualRPE')]).eval()
    torch.nn.init.normal_(attn.rpe_k.lookup_table_weight)
    x = torch.randn(2, 50, 32)
    q, k, v = attn.qkv(x).reshape(2, 50, 3, 4, 8).permute(2, 0, 3, 1, 4)
    bias = torch.einsum('bhid,dij->bhij', q,
                        attn.rpe_k.lookup_table_weight[0][:, bucket_matrix((7, 7), 1)])
    logits = q @ k.transpose(-1, -2) / math.sqrt(8) + bias  # unscaled q in the bias (official)
    out = (logits.softmax(-1) @ v).transpose(1, 2).reshape(2, 50, 32)
    assert torch.allclose(attn(x, (7, 7)), attn.proj(out), atol=1e-5)


def _encode(model, tokens):
    bb = model.backbone
    x = torch.cat([bb.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
    for layer in bb.layers:
        x = layer(x, (K, K))
    return bb.ln1(x)


@pytest.mark.parametrize('random_tables', [False, True])
def test_zero_tables_make_the_encoder_permutation_equivariant(random_tables):
    model = build_lomar(random_tables=random_tables)
    x = torch.randn(1, 3, 112, 112)
    tokens = model.backbone.embed_windows(x, sample(model, x))
    perm = torch.randperm(49, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = _encode(model, tokens)[:, 1:]
        out_perm = _encode(model, tokens[:, perm])[:, 1:]
    equivariant = torch.allclose(out[:, perm], out_perm, atol=1e-5)
    # with zero tables attention has no notion of position; trained tables break the symmetry
    assert equivariant is (not random_tables)


def test_same_pixels_and_mask_elsewhere_give_the_same_prediction():
    model = build_lomar(random_tables=True)
    x = torch.randn(1, 3, 112, 112)
    moved = torch.randn(1, 3, 112, 112)
    # the 7x7-patch window at (1, 2) is pasted at (6, 5)
    moved[..., 6 * P:13 * P, 5 * P:12 * P] = x[..., 1 * P:8 * P, 2 * P:9 * P]
    mask = WindowSampler(K, 1).sample_mask(1)
    a = hand_windows(torch.tensor([[[1, 2]]]), (14, 14), mask)
    b = hand_windows(torch.tensor([[[6, 5]]]), (14, 14), mask)
    with torch.no_grad():
        pa = model.head.predict(model.backbone(x, a)[0])
        pb = model.head.predict(model.backbone(moved, b)[0])
    assert torch.allclose(pa, pb, atol=1e-5)


# ------------------------------------------------------------------- window placement
def test_windows_are_inside_the_grid_and_distinct_per_image():
    torch.manual_seed(0)
    sampler = WindowSampler(7, 4)
    win = sampler(16, (14, 14))
    pos = win.positions
    assert pos.shape == (16, 4, 2)
    assert pos.min() >= 0 and pos.max() <= 14 - 7
    for b in range(16):
        assert len({tuple(p.tolist()) for p in pos[b]}) == 4
    assert len({tuple(map(tuple, pos[b].tolist())) for b in range(16)}) > 1
    idx = win.token_index.view(16, 4, 49)
    assert torch.equal(idx[..., 0], pos[..., 0] * 14 + pos[..., 1])
    assert torch.equal(idx[..., -1], (pos[..., 0] + 6) * 14 + pos[..., 1] + 6)
    assert idx.min() >= 0 and idx.max() < 196
    # rectangular grids: rows and columns are not swapped
    win = WindowSampler(7, 6)(4, (9, 20))
    assert win.positions[..., 0].max() <= 2 and win.positions[..., 1].max() <= 13
    assert win.token_index.max() < 180


def test_official_position_mode_shares_positions_across_the_batch():
    torch.manual_seed(0)
    win = WindowSampler(7, 4, position_mode='official')(8, (14, 14))
    pos = win.positions
    shared = {tuple(p.tolist()) for p in pos.view(-1, 2)}
    assert len(shared) == 4  # the batch's 4 positions, nothing else
    for b in range(8):  # M divides B: each image sees one position, 4 masks
        assert len({tuple(p.tolist()) for p in pos[b]}) == 1
    assert len({tuple(pos[b, 0].tolist()) for b in range(4)}) == 4
    # B = 6 is not a multiple of M: then images do see several positions
    win = WindowSampler(7, 4, position_mode='official')(6, (14, 14))
    assert max(len({tuple(p.tolist()) for p in win.positions[b]}) for b in range(6)) > 1


def test_sampler_rejects_impossible_settings():
    with pytest.raises(ValueError, match='does not fit'):
        WindowSampler(7, 1)(2, (6, 6))
    with pytest.raises(ValueError, match='exceeds'):
        WindowSampler(7, 5)(2, (8, 8))  # 4 positions only
    with pytest.raises(ValueError, match='exceeds'):
        WindowSampler(7, 3, position_mode='official')(2, (8, 8))  # 2 tops, 2 lefts
    with pytest.raises(ValueError, match='position_mode'):
        WindowSampler(position_mode='shared')
    with pytest.raises(ValueError, match='mask at least one'):
        WindowSampler(7, 1, mask_ratio=0.01)


# ------------------------------------------------------------------------ cost and grads
def _encoder_flops(model, size, batch=2):
    x = torch.randn(batch, 3, size, size)
    win = model.window_sampler(batch, (size // P, size // P))
    # the math kernel is made of matmuls the counter sees; fused CPU kernels are not counted
    with FlopCounterMode(display=False) as counter, torch.no_grad(), \
            sdpa_kernel(SDPBackend.MATH):
        model.backbone(x, win)
    return counter.get_total_flops()


def test_encoder_flops_linear_in_windows_and_independent_of_resolution():
    one = _encoder_flops(build_lomar(num_windows=1), 112)
    three = _encoder_flops(build_lomar(num_windows=3), 112)
    assert three == 3 * one
    assert _encoder_flops(build_lomar(num_windows=3), 224) == three
    expected = lomar_flops_per_image(1, K, P, 64, 2, 128, 50)
    assert one == 2 * (expected['embed'] + expected['encoder'])  # a batch of 2 images


def test_one_step_trains_tables_tokens_and_embedding():
    model = build_lomar().train()
    loss = model.loss(torch.randn(2, 3, 112, 112), None)['loss']
    loss.backward()
    bb = model.backbone
    params = {'rpe': bb.layers[0].attn.rpe_k.lookup_table_weight, 'cls': bb.cls_token,
              'mask': bb.mask_token, 'embed': bb.patch_embed.projection.weight,
              'head': model.head.predictor.weight}
    for name, p in params.items():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_layer_depth_for_layer_decay():
    bb = build_lomar().backbone
    for name in ('cls_token', 'mask_token', 'patch_embed.projection.weight'):
        assert bb.get_layer_depth(name) == (0, 4)
    assert bb.get_layer_depth('layers.1.attn.rpe_k.lookup_table_weight') == (2, 4)
    assert bb.get_layer_depth('ln1.weight') == (3, 4)
    assert bb.get_layer_depth('backbone.layers.0.ln1.weight', 'backbone.') == (1, 4)
    assert bb.get_layer_depth('head.fc.weight', 'backbone.') == (3, 4)


def test_whole_image_features_for_downstream_use():
    bb = build_lomar().backbone
    bb.out_type = 'featmap'
    out = bb(torch.randn(2, 3, 96, 160))[0]  # any multiple of the patch, no position table
    assert out.shape == (2, 64, 12, 20)
