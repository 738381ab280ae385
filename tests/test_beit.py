"""BEiT v1 and PeCo with the toolkit's own tokenizer: the blockwise mask, the loss on masked
positions only, the frozen VQ tokenizer as target generator (loaded from a tokenizer run), a
DALL-E-layout encoder file, the configs, and tiny pretraining -> export -> both downstream
backbones."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mim_det.downstream  # noqa: F401  (PlainViT in the mmdet/mmseg scopes)
from conftest import ROOT, build_in_scope, pretrain_and_export, training_losses

TINY = 'configs/beit/beit_vit-tiny-p8_vq-tokenizer_embedded.py'
PAPER = 'configs/beit/beit_vit-base-p16_vq-tokenizer_8xb256-amp-800e_in1k.py'
DALLE = 'configs/beit/beit_vit-base-p16_dalle_8xb256-amp-800e_in1k.py'
PECO = ('configs/peco/peco_vit-base-p16_8xb256-amp-300e_in1k.py',
        'configs/peco/peco_vit-base-p16_8xb256-amp-800e_in1k.py')
PECO_TINY = 'configs/peco/peco_vit-tiny-p8_embedded.py'
VITDET_TINY = 'configs/vitdet/simmim_maskrcnn_tiny_embedded.py'
UPERNET_TINY = 'configs/upernet/simmim_upernet_tiny_embedded.py'
SHARED = 'rel_pos_bias.relative_position_bias_table'
ITERS = 30


def _cfg(path):
    return Config.fromfile(osp.join(ROOT, path))


def _mask_generator(path):
    from mmpretrain.registry import TRANSFORMS
    [gen] = [t for t in _cfg(path).train_dataloader.dataset.pipeline
             if t['type'] == 'BEiTMaskGenerator']
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return TRANSFORMS.build(gen)


# ---------------------------------------------------------------------------------- masking
@pytest.mark.parametrize('path, grid, target', [(PAPER, 14, 75), (TINY, 12, 55)])
def test_blockwise_mask_counts_and_block_shapes(path, grid, target):
    """At most ``target`` patches (BEiT: 75 of 196; the count may fall short), drawn as whole
    rectangles: a few connected blocks, the first of at least 16 patches (``min_num_patches``),
    where a random mask of the same count scatters into many pieces."""
    import cv2
    gen = _mask_generator(path)
    np.random.seed(0)
    rng = np.random.default_rng(0)
    counts, pieces, random_pieces, largest = [], [], [], []
    for _ in range(50):
        mask = gen({})['mask']
        assert mask.shape == (grid, grid) and set(np.unique(mask)) <= {0, 1}
        counts.append(int(mask.sum()))
        n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=4)
        pieces.append(n - 1)
        largest.append(np.bincount(labels.flatten())[1:].max())
        scattered = np.zeros(grid * grid, np.uint8)
        scattered[rng.choice(grid * grid, counts[-1], replace=False)] = 1
        random_pieces.append(cv2.connectedComponents(scattered.reshape(grid, grid),
                                                     connectivity=4)[0] - 1)
    assert max(counts) <= target and min(counts) >= 0.75 * target
    assert np.mean(counts) >= 0.9 * target, counts
    assert min(largest) >= 16
    assert np.mean(pieces) * 3 < np.mean(random_pieces), (pieces, random_pieces)


# ------------------------------------------------------------------------------------- loss
def test_loss_ignores_visible_positions():
    """BEiTV1Head: cross-entropy over masked positions only; changing the target scores of
    visible positions does not change the loss, changing a masked one does."""
    head = build_in_scope(_cfg(TINY).model.head)
    torch.manual_seed(0)
    feats = torch.randn(2, 1 + 144, 128)
    target = torch.randn(2, 512, 12, 12)
    mask = torch.zeros(2, 12, 12, dtype=torch.bool)
    mask[:, 2:6, 3:8] = True
    loss = head.loss(feats, target, mask)
    visible_changed = target.clone()
    visible_changed[:, :, 0, 0] = torch.randn(2, 512)  # (0, 0) is visible
    assert torch.equal(head.loss(feats, visible_changed, mask), loss)
    masked_changed = target.clone()
    masked_changed[:, :, 3, 4] = torch.randn(2, 512)
    assert not torch.equal(head.loss(feats, masked_changed, mask), loss)


# -------------------------------------------------------------------- the target generator
@pytest.fixture(scope='module')
def tokenizer_run(plain_tokenizer):
    """The tiny plain VQ-VAE tokenizer's checkpoint (trained once per session)."""
    return plain_tokenizer['ckpt']


def _tiny_beit(tokenizer_ckpt):
    cfg = _cfg(TINY).model
    cfg.target_generator.init_cfg.checkpoint = tokenizer_ckpt
    torch.manual_seed(0)
    model = build_in_scope(cfg)
    model.init_weights()
    return model


def test_target_generator_is_the_trained_tokenizer_frozen(tokenizer_run):
    model = _tiny_beit(tokenizer_run)
    state = torch.load(tokenizer_run, map_location='cpu', weights_only=False)['state_dict']
    for key, value in model.target_generator.state_dict().items():
        assert torch.equal(value, state[f'tokenizer.{key}']), key
    model.train()
    assert not model.target_generator.training
    assert not any(p.requires_grad for p in model.target_generator.parameters())
    x = torch.randn(2, 3, 96, 96)
    mask = torch.zeros(2, 12, 12, dtype=torch.bool)
    mask[:, :4] = True
    from mmpretrain.structures import DataSample
    samples = [DataSample().set_mask(m) for m in mask]
    losses = model.loss([x, x], samples)
    losses['loss'].backward()
    assert all(p.grad is None for p in model.target_generator.parameters())
    assert model.backbone.patch_embed.projection.weight.grad is not None
    # the targets are the tokenizer's tokens of the second view
    assert model.target_generator(x).argmax(1).shape == (2, 12, 12)
    assert torch.equal(model.target_generator(x).argmax(1), model.target_generator.tokens(x))


def test_dalle_layout_file_loads(tmp_path):
    """mmpretrain's DALL-E target generator reads a user's encoder file (its layout, saved from
    a randomly initialised encoder; a narrow one keeps the test small)."""
    cfg = _cfg(DALLE).model.target_generator
    cfg.n_hid = 16
    torch.manual_seed(1)
    source = build_in_scope(dict(cfg, init_cfg=None))
    path = str(tmp_path / 'dalle_encoder.pth')
    torch.save(source.state_dict(), path)
    cfg.init_cfg.checkpoint = path
    torch.manual_seed(2)
    target = build_in_scope(cfg)
    target.init_weights()
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key
    scores = target(torch.rand(1, 3, 112, 112))
    assert scores.shape == (1, 8192, 14, 14)  # 112 px -> 14 x 14 tokens, as BEiT's 75 / 196


# ------------------------------------------------------------------------------- configs
def test_paper_configs_hold_the_beit_v1_recipe():
    for path in (PAPER, DALLE, *PECO):
        cfg = _cfg(path)
        assert cfg.model.type == 'BEiT' and cfg.model.backbone.layer_scale_init_value == 0.1
        assert cfg.model.backbone.drop_path_rate == 0.1
        assert cfg.optim_wrapper.optimizer.lr == 1.5e-3 and cfg.optim_wrapper.clip_grad.max_norm == 3.0
        assert cfg.optim_wrapper.optimizer.weight_decay == 0.05
        assert cfg.train_dataloader.batch_size * 8 == 2048
        assert cfg.param_scheduler[0].end == 10  # warm-up epochs
        [gen] = [t for t in cfg.train_dataloader.dataset.pipeline
                 if t['type'] == 'BEiTMaskGenerator']
        assert gen.num_masking_patches == 75 and tuple(gen.input_size) == (14, 14)
    epochs = [_cfg(p).train_cfg.max_epochs for p in (PAPER, DALLE, *PECO)]
    assert epochs == [800, 800, 300, 800]
    # the VQ tokenizers read the 224 px crop (16x -> 14 x 14), DALL-E a 112 px view
    pipes = {p: [t for t in _cfg(p).train_dataloader.dataset.pipeline
                 if t['type'] == 'RandomResizedCropAndInterpolationWithTwoPic'][0]
             for p in (PAPER, DALLE)}
    assert pipes[PAPER].second_size == 224 and pipes[DALLE].second_size == 112
    peco = _cfg(PECO[0]).model.target_generator.init_cfg.checkpoint
    assert 'no-perceptual' not in peco and 'no-perceptual' in _cfg(PAPER).model.target_generator.init_cfg.checkpoint


# ------------------------------------------------------------- pretraining, export, loading
@pytest.fixture(scope='module')
def pretrained(tmp_path_factory, small_data, tokenizer_run):
    """30 iterations of tiny PeCo (BEiT with the tokenizer run) through tools/train.py, then an
    export."""
    from mim_det.checkpoint import load_backbone_export
    run = pretrain_and_export(
        tmp_path_factory.mktemp('peco_tiny'), PECO_TINY, small_data, ITERS,
        options=[f'model.target_generator.init_cfg.checkpoint={tokenizer_run}'])
    run['state'], run['meta'] = load_backbone_export(run['export'])
    return run


def test_tiny_pretraining_lowers_the_loss(pretrained):
    losses = training_losses(pretrained['work'])
    assert losses[-1][0] == ITERS
    # cross-entropy over 512 codes starts at ln 512 = 6.24 and moves little between batches;
    # measured 6.25 -> 6.12 in 20 iterations with the session's tokenizer
    assert losses[0][1] > 5.5 and losses[-1][1] < losses[0][1] - 0.1, losses


def test_export_holds_canonical_names(pretrained):
    state, meta = pretrained['state'], pretrained['meta']
    assert meta['method'] == 'beit' and meta['backbone_type'] == 'BEiTPretrainViT'
    assert meta['pos_encoding'] == 'shared_rel_pos_bias'
    assert 'mask_token' not in state and 'pos_embed' not in state
    assert not any(k.endswith(('q_bias', 'v_bias', 'relative_position_index')) for k in state)
    assert state['layers.0.attn.qkv.bias'].shape == (3 * 128, )
    assert torch.all(state['layers.0.attn.qkv.bias'][128:256] == 0)  # BEiT's key bias is 0
    assert state[SHARED].shape == (23 * 23 + 3, 4)
    assert 'layers.0.gamma_1' in state


@pytest.mark.parametrize('config, scope', [(VITDET_TINY, 'mmdet'), (UPERNET_TINY, 'mmseg')])
def test_export_fills_both_downstream_backbones(pretrained, config, scope):
    from mim_det.checkpoint import load_vit_checkpoint
    cfg = _cfg(config).model.backbone
    cfg.init_cfg = None
    model = build_in_scope(cfg, scope)
    report = load_vit_checkpoint(model, pretrained['export'])
    assert report['suspicious'] == []
    tables = [k for k in model.state_dict() if k.endswith('attn.' + SHARED)]
    assert report['from_shared'] == dict.fromkeys(tables, SHARED)
    assert all(report['interpolated'][t].startswith('12x12 -> ') for t in tables)
    gammas = [k for k in model.state_dict() if '.gamma_' in k]
    assert gammas and set(gammas) <= set(report['loaded'])  # layer scale kept
    for key in gammas:
        assert torch.equal(model.state_dict()[key], pretrained['state'][key])


def test_plain_vit_computes_the_pretrained_beit_encoder(pretrained):
    """mmpretrain's BEiTPretrainViT (split q/v biases, shared table) and a PlainViT with the
    table copied into every block, loaded from the export, are the same network."""
    from mim_det.checkpoint import load_vit_checkpoint
    from mim_det.models.backbones.plain_vit import PlainViT
    ckpt = torch.load(pretrained['ckpt'], map_location='cpu', weights_only=False)['state_dict']
    beit = build_in_scope(_cfg(TINY).model.backbone)
    beit.load_state_dict({k[len('backbone.'):]: v for k, v in ckpt.items()
                          if k.startswith('backbone.')})
    with torch.no_grad():  # make the table and the q/v biases matter
        beit.rel_pos_bias.relative_position_bias_table.normal_()
        for layer in beit.layers:
            layer.attn.q_bias.normal_()
            layer.attn.v_bias.normal_()
    path = osp.join(osp.dirname(pretrained['ckpt']), 'beit_backbone.pth')
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in beit.state_dict().items()}), path)
    plain = PlainViT(arch=dict(embed_dims=128, num_layers=4, num_heads=4,
                               feedforward_channels=512),
                     img_size=96, patch_size=8, with_cls_token=True, use_abs_pos=False,
                     rel_pos_cfgs=[dict(type='RelPosBiasTable')], window_size=0,
                     global_attn_indexes=(), layer_scale_init_value=0.1, final_norm=True,
                     drop_path_rate=0., out_type='raw')
    report = load_vit_checkpoint(plain, path)
    assert report['layout'] == 'mmpretrain' and report['suspicious'] == []
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        # an all-visible mask: BEiTPretrainViT's own (pretraining) path, nothing replaced
        beit.eval()  # (mmpretrain's ViT.train() returns None)
        unmasked = beit(x, torch.zeros(2, 12, 12))[0]
        assert torch.allclose(plain.eval()(x)[0], unmasked, atol=1e-5)


# ------------------------------------------------------------------------------ LoMaR-BEiT
LOMAR_BEIT_TINY = 'configs/lomar_beit/lomar-beit_vit-tiny-p8_vq-tokenizer_embedded.py'
LOMAR_BEIT_PAPER = 'configs/lomar_beit/lomar-beit_vit-base-p16_vq-tokenizer_8xb256-amp-800e_in1k.py'


def _windows(batch=2, grid=(12, 12), num_windows=2, seed=0):
    from mim_det.models.maskers import WindowSampler
    torch.manual_seed(seed)
    return WindowSampler(window_size=7, num_windows=num_windows, mask_ratio=0.8)(batch, grid)


def test_lomar_beit_targets_are_the_whole_image_tokens_at_the_window_positions():
    from mim_det.models.selfsup.lomar_beit import window_token_scores
    windows = _windows()
    scores = torch.randn(2, 50, 12, 12)
    tokens = scores.argmax(1)  # (2, 12, 12) whole-image tokens
    target = window_token_scores(scores, windows).argmax(1)  # (B*M, 7, 7)
    assert target.shape == (4, 7, 7)
    for b in range(2):
        for m in range(2):
            r, c = windows.positions[b, m].tolist()
            assert torch.equal(target[b * 2 + m], tokens[b, r:r + 7, c:c + 7])


def test_lomar_beit_loss_is_on_masked_window_patches_only(tokenizer_run):
    cfg = _cfg(LOMAR_BEIT_TINY).model
    cfg.target_generator.init_cfg.checkpoint = tokenizer_run
    model = build_in_scope(cfg)
    model.init_weights()
    head = model.head
    windows = _windows(num_windows=1)
    latent = torch.randn(2, 50, 128)
    scores = torch.randn(2, 512, 12, 12)
    from mim_det.models.selfsup.lomar_beit import window_token_scores
    mask = windows.mask.view(-1, 7, 7)
    loss = head.loss(latent, window_token_scores(scores, windows), mask)
    # a visible patch of window 0: changing its whole-image scores leaves the loss alone
    visible = (~windows.mask[0]).nonzero()[0].item()
    row, col = divmod(windows.token_index[0, visible].item(), 12)
    changed = scores.clone()
    changed[0, :, row, col] = torch.randn(512)
    assert torch.equal(head.loss(latent, window_token_scores(changed, windows), mask), loss)
    masked = windows.mask[0].nonzero()[0].item()
    row, col = divmod(windows.token_index[0, masked].item(), 12)
    changed[0, :, row, col] = torch.randn(512)
    assert not torch.equal(head.loss(latent, window_token_scores(changed, windows), mask), loss)


def test_lomar_beit_paper_config_is_beit_with_lomar_windows():
    cfg = _cfg(LOMAR_BEIT_PAPER)
    assert cfg.model.type == 'LoMaRBEiT' and cfg.model.backbone.type == 'LoMaRViT'
    sampler = cfg.model.window_sampler
    assert (sampler.window_size, sampler.num_windows, sampler.mask_ratio) == (7, 4, 0.8)
    assert cfg.model.head.num_embed == 8192 and cfg.train_cfg.max_epochs == 800
    assert not any(t['type'] == 'BEiTMaskGenerator' for t in cfg.train_dataloader.dataset.pipeline)


def test_tiny_lomar_beit_pretrains_and_loads_into_lomar_downstream(tmp_path, small_data,
                                                                  tokenizer_run):
    from mim_det.checkpoint import load_backbone_export, load_vit_checkpoint
    iters = 10
    run = pretrain_and_export(
        tmp_path, LOMAR_BEIT_TINY, small_data, iters,
        options=[f'model.target_generator.init_cfg.checkpoint={tokenizer_run}'])
    losses = training_losses(run['work'])
    assert losses[-1][0] == iters and losses[-1][1] < losses[0][1], losses
    state, meta = load_backbone_export(run['export'])
    assert meta['method'] == 'lomar_beit' and meta['pos_encoding'] == 'contextual_rpe_keys'
    assert 'mask_token' not in state
    for config, scope in [('configs/vitdet/lomar_maskrcnn_tiny_embedded.py', 'mmdet'),
                          ('configs/upernet/lomar_upernet_tiny_embedded.py', 'mmseg')]:
        cfg = _cfg(config).model.backbone
        cfg.init_cfg = None
        report = load_vit_checkpoint(build_in_scope(cfg, scope), run['export'])
        assert report['suspicious'] == [], (config, report['suspicious'])
        assert any('rpe_k' in k for k in report['loaded'])
