"""The "dark secrets" measures (mim_det.analysis.attention; Xie et al., arXiv 2205.13543):
attention distance, head diversity, linear CKA, the attention maps a ViT really uses, and
tools/analysis/attention_analysis.py end to end on tiny exports."""
import importlib.util
import json
import math
import os.path as osp
import struct
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import ROOT, build_in_scope, run_tool
from mim_det.analysis.attention import (analyse_checkpoints, attention_maps, block_features,
                                        build_analysis_backbone, cka_matrix, head_diversity,
                                        linear_cka, load_images, mean_attention_distance,
                                        patch_token_samples, trace_blocks)
from mim_det.checkpoint import export_backbone
from mim_det.models.backbones import ViTBase
from mim_det.models.selfsup.lomar import LoMaRViT

ARCH = dict(embed_dims=32, num_layers=2, num_heads=4, feedforward_channels=64)
IMG, PATCH = 32, 8  # a 4 x 4 patch grid
TOOL = osp.join(ROOT, 'tools', 'analysis', 'attention_analysis.py')
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def brute_force_patch_distances(grid_hw, patch):
    """(G, G) pixel distances between patch centres, by a double loop in numpy."""
    centres = [((r + .5) * patch, (c + .5) * patch)
               for r in range(grid_hw[0]) for c in range(grid_hw[1])]
    return np.array([[math.hypot(a[0] - b[0], a[1] - b[1]) for b in centres] for a in centres])


# ------------------------------------------------------------------------ attention distance
def test_identity_attention_has_zero_distance():
    n = 1 + 3 * 4
    attn = torch.eye(n).expand(2, 3, n, n)
    distance = mean_attention_distance(attn, (3, 4), PATCH, num_extra_tokens=1)
    assert distance.shape == (3, )
    torch.testing.assert_close(distance, torch.zeros(3, dtype=torch.float64))


def test_uniform_attention_gives_the_mean_pairwise_distance():
    expected = brute_force_patch_distances((3, 3), 16).mean()  # over all 81 ordered pairs
    uniform = torch.full((2, 1, 9, 9), 1 / 9)
    identity = torch.eye(9).expand(2, 1, 9, 9)
    distance = mean_attention_distance(torch.cat([identity, uniform], 1), (3, 3), 16)
    assert distance[0].item() == pytest.approx(0.0, abs=1e-12)
    assert distance[1].item() == pytest.approx(expected, rel=1e-9)


def test_cls_token_is_dropped_and_patch_keys_renormalised():
    """Half of every patch query's attention on the cls key, half uniform over the patches:
    after dropping the cls key and renormalising, the distance is the uniform one (without
    renormalising it would be halved); the cls query, attending only to itself, is not used."""
    expected = brute_force_patch_distances((3, 3), 16).mean()
    attn = torch.zeros(1, 2, 10, 10)
    attn[:, :, 0, 0] = 1.
    attn[:, :, 1:, 0] = 0.5
    attn[:, :, 1:, 1:] = 0.5 / 9
    distance = mean_attention_distance(attn, (3, 3), 16, num_extra_tokens=1)
    torch.testing.assert_close(distance, torch.full((2, ), expected, dtype=torch.float64))


def test_attention_distance_checks_the_token_count():
    with pytest.raises(ValueError, match='N = 10 tokens'):
        mean_attention_distance(torch.full((1, 1, 9, 9), 1 / 9), (3, 3), 16, num_extra_tokens=1)


# ---------------------------------------------------------------------------- head diversity
def random_attention(b=2, heads=3, n=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (2 * torch.randn(b, heads, n, n, generator=g)).softmax(-1)


def test_identical_heads_have_zero_diversity():
    one_head = random_attention(heads=1)
    assert head_diversity(one_head.expand(2, 4, 7, 7)).item() == pytest.approx(0, abs=1e-12)


def test_head_diversity_is_the_mean_pairwise_kl():
    attn = random_attention()
    p = attn.double().numpy()
    for extra in (0, 1):  # the first ``extra`` queries are left out
        kls = [(p[b, a, i] * np.log(p[b, a, i] / p[b, c, i])).sum()
               for b in range(2) for i in range(extra, 7) for a in range(3) for c in range(3)
               if a != c]
        value = head_diversity(attn, num_extra_tokens=extra).item()
        assert value == pytest.approx(np.mean(kls), rel=1e-9) and value > 0.1


def test_head_diversity_needs_two_heads():
    with pytest.raises(ValueError, match='at least two'):
        head_diversity(random_attention(heads=1))


# ------------------------------------------------------------------------------------- CKA
def correlated_features(n=2000, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g) @ torch.randn(d, d, generator=g) + 3.


def test_cka_of_a_representation_with_itself_and_its_rotations_is_one():
    x = correlated_features()
    g = torch.Generator().manual_seed(1)
    rotation, _ = torch.linalg.qr(torch.randn(16, 16, generator=g))
    assert linear_cka(x, x).item() == pytest.approx(1, abs=1e-12)
    assert linear_cka(x, x @ rotation).item() == pytest.approx(1, abs=1e-9)
    # a non-orthogonal map is not an invariance: the check above can fail
    stretch = torch.diag(torch.linspace(0.1, 10, 16))
    assert linear_cka(x, x @ stretch).item() < 0.99


def test_cka_of_independent_noise_is_near_zero():
    x = correlated_features()
    noise = torch.randn(2000, 8, generator=torch.Generator().manual_seed(2))
    assert 0 <= linear_cka(x, noise).item() < 0.1


def test_cka_is_invariant_to_isotropic_scaling_and_matches_the_gram_form():
    x = correlated_features(n=60, d=5)
    y = x[:, :3] ** 2 + torch.randn(60, 3, generator=torch.Generator().manual_seed(3))
    value = linear_cka(x, y).item()
    # scaled in float64 so that the only rounding left is CKA's own
    assert linear_cka(4.5 * x.double(), 0.2 * y.double()).item() == pytest.approx(value, rel=1e-12)
    # Kornblith et al.'s definition: HSIC of the centred Gram matrices, normalised
    xn, yn = x.double().numpy(), y.double().numpy()
    centring = np.eye(60) - 1 / 60
    k, l_ = centring @ xn @ xn.T @ centring, centring @ yn @ yn.T @ centring
    gram = (k * l_).sum() / np.sqrt((k * k).sum() * (l_ * l_).sum())
    assert value == pytest.approx(gram, rel=1e-9) and 0.05 < value < 0.99


def test_cka_matrix_holds_every_layer_pair():
    layers = [correlated_features(n=300, d=6, seed=s) for s in range(3)]
    other = [layers[0] * 2, correlated_features(n=300, d=4, seed=7)]
    within = cka_matrix(layers)
    assert within.shape == (3, 3)
    torch.testing.assert_close(within, within.T)
    torch.testing.assert_close(within.diagonal(), torch.ones(3, dtype=torch.float64))
    between = cka_matrix(layers, other)
    assert between.shape == (3, 2)
    for i in range(3):
        for j in range(2):
            assert between[i, j].item() == pytest.approx(linear_cka(layers[i], other[j]).item())
    with pytest.raises(ValueError, match='same samples'):
        cka_matrix(layers, [correlated_features(n=200, d=6)])


def test_patch_token_samples_drop_cls_and_draw_the_same_tokens_in_every_layer():
    first = torch.arange(2 * 5 * 3, dtype=torch.float32).reshape(2, 5, 3)
    layers = [first, first + 1000]
    every = patch_token_samples(layers, num_extra_tokens=1)
    assert every[0].shape == (8, 3)
    torch.testing.assert_close(every[0], first[:, 1:].reshape(8, 3))
    drawn = patch_token_samples(layers, num_extra_tokens=1, max_samples=5, seed=0)
    assert drawn[0].shape == (5, 3)
    torch.testing.assert_close(drawn[1], drawn[0] + 1000)


# ------------------------------------------------------------------------- the attention maps
DECOMPOSED = dict(type='DecomposedRelPos')
CONTEXTUAL = dict(type='ContextualRPE', alpha=1.9, beta=3.8, gamma=15.2)
TABLE = dict(type='RelPosBiasTable')


def tiny_vit(seed=0, **kwargs) -> ViTBase:
    """A 2-block 32-d 4-head ViT/8 at 32 px with a cls token, every parameter (position tables
    included) random, so every bias term matters."""
    torch.manual_seed(seed)
    model = ViTBase(arch=ARCH, img_size=IMG, patch_size=PATCH, drop_path_rate=0., **kwargs)
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(std=0.3)
    return model.eval()


def images(b=2, seed=0):
    return torch.randn(b, 3, IMG, IMG, generator=torch.Generator().manual_seed(seed))


def brute_force_attention(model: ViTBase, block_index: int, x: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) + decomposed bias + shared table bias) of one block, every bias
    entry by a loop over (query, key) pairs on the 4 x 4 grid after the cls token."""
    block = model.layers[block_index]
    b, n, d = x.shape
    heads, head_dims = ARCH['num_heads'], d // ARCH['num_heads']
    y = F.layer_norm(x, (d, ), block.ln1.weight, block.ln1.bias, eps=1e-6)
    qkv = (y @ block.attn.qkv.weight.T + block.attn.qkv.bias).reshape(b, n, 3, heads, head_dims)
    q, k = qkv[:, :, 0].transpose(1, 2), qkv[:, :, 1].transpose(1, 2)  # (B, h, N, d)
    logits = q @ k.transpose(-2, -1) / math.sqrt(head_dims)
    rel_h, rel_w = block.attn.rel_pos.rel_pos_h, block.attn.rel_pos.rel_pos_w  # (7, d) each
    table = model.rel_pos_bias.relative_position_bias_table  # (7 * 7 + 3, h)
    bias = torch.zeros_like(logits)
    for i in range(n):
        for j in range(n):
            if i and j:
                (ri, ci), (rj, cj) = divmod(i - 1, 4), divmod(j - 1, 4)
                bias[:, :, i, j] += q[:, :, i] @ (rel_h[ri - rj + 3] + rel_w[ci - cj + 3])
                bias[:, :, i, j] += table[(ri - rj + 3) * 7 + (ci - cj + 3)]
            else:  # cls -> token 49, token -> cls 50, cls -> cls 51
                bias[:, :, i, j] += table[49 if j else 50 if i else 51]
    return (logits + bias).softmax(-1)


def test_attention_maps_are_the_brute_force_softmax_with_relative_position_biases():
    model = tiny_vit(rel_pos_cfgs=[DECOMPOSED], shared_rel_pos_cfg=TABLE)
    x = images()
    maps = attention_maps(model, x)
    assert len(maps) == 2
    for index, attn in enumerate(maps):
        assert attn.shape == (2, 4, 17, 17) and attn.dtype == torch.float32
        torch.testing.assert_close(attn.sum(-1), torch.ones(2, 4, 17))
        with torch.no_grad():
            tokens, _ = model.tokens_entering(x, index)
            expected = brute_force_attention(model, index, tokens)
        torch.testing.assert_close(attn, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('kwargs', [
    dict(rel_pos_cfgs=[DECOMPOSED], shared_rel_pos_cfg=TABLE),  # folded into q, k by the model
    dict(rel_pos_cfgs=[DECOMPOSED]),
    dict(rel_pos_cfgs=[CONTEXTUAL]),  # LoMaR
    dict(rel_pos_cfgs=[TABLE]),  # BEiT/MAE segmentation's per-block tables
    dict(use_abs_pos=True),  # MAE
])
def test_attention_maps_reproduce_what_the_blocks_compute(kwargs):
    """``A @ v`` through the output projection equals the block's own attention output (SDPA,
    folded or explicit biases), so the maps are the ones the model uses."""
    model = tiny_vit(**kwargs)
    x = images()
    maps, outputs, grid_hw = trace_blocks(model, x)
    assert grid_hw == (4, 4) and len(outputs) == 2
    with torch.no_grad():
        tokens, _ = model.embed(x)
        shared = model.shared_position_bias(tokens, grid_hw)
        for block, attn, output in zip(model.layers, maps, outputs):
            y = block.ln1(tokens)
            _, _, v = block.attn.project_qkv(y)
            mixed = (attn @ v).transpose(1, 2).reshape(tokens.shape)
            torch.testing.assert_close(block.attn.proj(mixed), block.attn(y, grid_hw, shared),
                                       rtol=1e-4, atol=1e-5)
            tokens = block(tokens, grid_hw, shared)
            torch.testing.assert_close(output, tokens)


def test_block_features_are_the_block_outputs_and_the_mode_is_restored():
    model = tiny_vit(rel_pos_cfgs=[CONTEXTUAL], out_indices=(0, 1), final_norm=False)
    model.train()
    features = block_features(model, images())
    assert model.training
    with torch.no_grad():
        expected = model.eval()(images())
    assert [f.shape for f in features] == [(2, 17, 32)] * 2
    for got, want in zip(features, expected):
        torch.testing.assert_close(got, want)


def test_window_attention_is_refused():
    model = tiny_vit(with_cls_token=False, window_size=2, global_attn_indexes=(1, ))
    with pytest.raises(ValueError, match=r'blocks \[0\] attend inside 2 x 2 windows'):
        attention_maps(model, images())


# -------------------------------------------------------------------- the tool, end to end
def random_params_(module, seed):
    torch.manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.normal_(std=0.2)
    return module


def tiny_export(tmp_path, method: str) -> dict:
    """A tiny random backbone saved as a training checkpoint (with the config mmengine stores)
    and exported by the real exporter: MAE (mmpretrain's MAEViT, absolute sin-cos position)
    or LoMaR (contextual RPE)."""
    arch = f'arch=dict({", ".join(f"{k}={v}" for k, v in ARCH.items())})'
    if method == 'mae':
        backbone = build_in_scope(dict(type='MAEViT', arch=ARCH, img_size=IMG,
                                       patch_size=PATCH))
        cfg = (f"model = dict(type='MAE', backbone=dict(type='MAEViT', {arch}, "
               f'img_size={IMG}, patch_size={PATCH}))')
    else:
        backbone = LoMaRViT(arch=ARCH, img_size=IMG, patch_size=PATCH)
        cfg = (f"model = dict(type='LoMaR', backbone=dict(type='LoMaRViT', {arch}, "
               f'img_size={IMG}, patch_size={PATCH}))')
    random_params_(backbone, seed=len(method))
    ckpt = str(tmp_path / f'{method}_iter_1.pth')
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in backbone.state_dict().items()},
                'meta': {'cfg': cfg, 'iter': 1}}, ckpt)
    export = str(tmp_path / f'{method}.safetensors')
    export_backbone(ckpt, export)
    return dict(ckpt=ckpt, export=export)


def write_images(folder, num: int) -> list:
    import cv2
    folder.mkdir(parents=True)
    g = np.random.default_rng(0)
    paths = []
    for i in range(num):
        # smooth colour ramps plus noise, of another size than the analysis input
        ramp = np.linspace(0, 255, 48)[None, :, None] * g.uniform(0.2, 1, size=(1, 1, 3))
        image = np.clip(ramp + g.normal(0, 30, size=(40, 48, 3)), 0, 255).astype(np.uint8)
        path = str(folder / f'{i:03d}.{"png" if i % 2 else "jpg"}')
        cv2.imwrite(path, image)
        paths.append(path)
    return paths


def png_size(path):
    with open(path, 'rb') as f:
        head = f.read(24)
    assert head[:8] == PNG_SIGNATURE, path
    return struct.unpack('>II', head[16:24])  # IHDR width, height


def test_a_supervised_export_is_rebuilt_with_its_learned_position_table(tmp_path):
    """The supervised baseline (mmpretrain's VisionTransformer in an ImageClassifier, a trained
    position table): the analysis backbone's block outputs are the original's layer outputs."""
    arch = f'arch=dict({", ".join(f"{k}={v}" for k, v in ARCH.items())})'
    vit = build_in_scope(dict(type='VisionTransformer', arch=ARCH, img_size=IMG,
                              patch_size=PATCH, out_type='raw', final_norm=False,
                              out_indices=(0, 1)))
    random_params_(vit, seed=4)  # the position table too: a learned one is not sin-cos
    ckpt = str(tmp_path / 'supervised_iter_1.pth')
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in vit.state_dict().items()},
                'meta': {'cfg': f"model = dict(type='ImageClassifier', backbone=dict("
                                f"type='VisionTransformer', {arch}, img_size={IMG}, "
                                f'patch_size={PATCH}))', 'iter': 1}}, ckpt)
    export = str(tmp_path / 'supervised.safetensors')
    export_backbone(ckpt, export)
    model, description = build_analysis_backbone(export)
    assert description['pos_encoding'] == 'absolute_learned' and model.use_abs_pos
    vit.eval()  # mmpretrain's BaseBackbone.train returns None: no chaining
    with torch.no_grad():
        expected = vit(images())
    for got, want in zip(block_features(model, images()), expected):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


@pytest.fixture(scope='module')
def exports(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('attention_exports')
    return dict(mae=tiny_export(tmp, 'mae'), lomar=tiny_export(tmp, 'lomar'),
                images=write_images(tmp / 'images' / 'class_a', 4))


def test_tool_writes_figures_and_numbers(exports, tmp_path):
    out = tmp_path / 'out'
    folder = osp.dirname(osp.dirname(exports['images'][0]))
    result = run_tool([sys.executable, TOOL, exports['mae']['export'], exports['lomar']['export'],
                       '--labels', 'mae', 'lo mar', '--images', folder, '--batch-size', '3',
                       '--out-dir', str(out)], timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert 'attention distance per layer' in result.stdout

    for name in ('attention_distance.png', 'head_diversity.png', 'cka_layers_mae.png',
                 'cka_layers_lo_mar.png', 'cka_between.png'):
        width, height = png_size(out / name)
        assert width >= 300 and height >= 300, (name, width, height)

    summary = json.loads((out / 'attention_analysis.json').read_text())
    assert summary['img_size'] == IMG and summary['num_images'] == 4
    assert summary['images'] == exports['images']
    mae, lomar = summary['models']
    assert (mae['label'], lomar['label']) == ('mae', 'lo mar')
    assert mae['backbone']['pos_encoding'] == 'absolute_sincos'
    assert lomar['backbone']['pos_encoding'] == 'contextual_rpe_keys'
    farthest = brute_force_patch_distances((4, 4), PATCH).max()
    for model in (mae, lomar):
        assert model['grid_hw'] == [4, 4] and model['num_extra_tokens'] == 1
        distances = np.array(model['attention_distance'])
        assert distances.shape == (2, 4) and (distances > 0).all() and \
            (distances < farthest).all()
        assert np.allclose(model['attention_distance_mean'], distances.mean(1))
        assert len(model['head_diversity']) == 2 and min(model['head_diversity']) > 0
        cka = np.array(model['cka_layers'])
        assert cka.shape == (2, 2) and np.allclose(np.diag(cka), 1)
    between = np.array(summary['cka_between']['matrix'])
    assert summary['cka_between']['labels'] == ['mae', 'lo mar']
    assert between.shape == (2, 2) and ((between > 0) & (between < 1)).all()

    # the batched numbers (3 + 1 images) are the measures of all four images at once
    backbone, _ = build_analysis_backbone(exports['mae']['export'])
    maps = attention_maps(backbone, load_images(exports['images'], IMG))
    for layer, attn in enumerate(maps):
        np.testing.assert_allclose(mae['attention_distance'][layer],
                                   mean_attention_distance(attn, (4, 4), PATCH, 1).numpy(),
                                   rtol=1e-5)
        assert mae['head_diversity'][layer] == pytest.approx(head_diversity(attn, 1).item(),
                                                             rel=1e-5)


@pytest.fixture(scope='module')
def tool():
    """tools/analysis/attention_analysis.py as a module (``main(argv)`` runs in-process)."""
    spec = importlib.util.spec_from_file_location('attention_analysis_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_other_layouts_match_the_export_given_arch(exports, tmp_path):
    """The training checkpoint itself (mmpretrain names, no metadata) with its arch gives the
    same backbone as its export, so the same numbers."""
    from_pth = analyse_checkpoints([exports['mae']['ckpt']], None, exports['images'],
                                   str(tmp_path / 'pth'), img_size=IMG, arch=ARCH)
    from_export = analyse_checkpoints([exports['mae']['export']], ['export'], exports['images'],
                                      str(tmp_path / 'export'))
    assert from_pth['models'][0]['label'] == 'mae_iter_1'
    assert from_pth['models'][0]['backbone']['pos_encoding'] == 'absolute_sincos'
    for key in ('attention_distance', 'head_diversity', 'cka_layers'):
        np.testing.assert_allclose(from_pth['models'][0][key], from_export['models'][0][key],
                                   rtol=1e-6)
    assert from_export['cka_between'] is None
    assert not osp.exists(tmp_path / 'export' / 'cka_between.png')


def test_tool_errors_are_one_line(tool, exports, tmp_path, capsys):
    image = exports['images'][0]
    empty = tmp_path / 'empty'
    empty.mkdir()
    cases = [
        ([exports['mae']['export'], '--images', str(empty)], 'no image files'),
        ([exports['mae']['ckpt'], '--images', image], 'pass its arch (--arch'),
        ([str(tmp_path / 'none.safetensors'), '--images', image], 'none.safetensors'),
        ([exports['mae']['export'], exports['lomar']['export'], '--labels', 'one',
          '--images', image], '--labels'),
        ([exports['mae']['ckpt'], '--arch', 'enormous', '--images', image], "--arch 'enormous'"),
    ]
    for argv, words in cases:
        argv = argv + ['--out-dir', str(tmp_path / 'out')]
        with pytest.raises(SystemExit) as info:
            tool.run_cli(lambda: tool.main(argv), tool.PROG)
        err = capsys.readouterr().err.strip()
        assert info.value.code == 2 and len(err.splitlines()) == 1, err
        assert words in err, err


def test_collect_images_picks_evenly_spaced_files(tool, tmp_path):
    for i in range(10):
        (tmp_path / f'{i}.jpg').write_bytes(b'')
    (tmp_path / 'notes.txt').write_text('not an image')
    picked = tool.collect_images([str(tmp_path)], 4)
    assert [osp.basename(p) for p in picked] == ['0.jpg', '2.jpg', '5.jpg', '7.jpg']
