"""SimMIM on a plain ViT: masking, the mask token, the shared relative position table, the
loss, the configs, a tiny pretraining through tools/train.py, export and downstream loading."""
import glob
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mim_det.downstream  # noqa: F401  (PlainViT in the mmdet/mmseg scopes)
from conftest import ROOT, build_in_scope, pretrain_and_export, run_tool, training_losses

TINY = 'configs/simmim/simmim_vit-tiny-p8_embedded.py'
PAPER = 'configs/simmim/simmim_vit-base-p16_16xb128-amp-800e_in1k.py'
VITDET_TINY = 'configs/vitdet/simmim_maskrcnn_tiny_embedded.py'
UPERNET_TINY = 'configs/upernet/simmim_upernet_tiny_embedded.py'
DOWNSTREAM = ('configs/vitdet/simmim_maskrcnn_coco.py', VITDET_TINY,
              'configs/upernet/simmim_upernet_ade20k.py', UPERNET_TINY)
SHARED = 'rel_pos_bias.relative_position_bias_table'
ITERS = 30


def _cfg(path):
    return Config.fromfile(osp.join(ROOT, path))


def _tiny_simmim(seed=0):
    torch.manual_seed(seed)
    model = build_in_scope(_cfg(TINY).model)
    model.init_weights()
    return model


def _mask(batch=2, grid=12, seed=0):
    """Half of the 2 x 2 cells masked, as the tiny config's generator draws them."""
    g = torch.Generator().manual_seed(seed)
    cells = (torch.rand(batch, grid // 2, grid // 2, generator=g) < 0.5).long()
    return cells.repeat_interleave(2, 1).repeat_interleave(2, 2)


def _build_transform(cfg):
    # an earlier test may leave another scope (mmdet, mmseg) as the default one
    from mmpretrain.registry import TRANSFORMS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return TRANSFORMS.build(cfg)


def _generator(path):
    pipeline = _cfg(path).train_dataloader.dataset.pipeline
    [gen_cfg] = [t for t in pipeline if t['type'] == 'SimMIMMaskGenerator']
    return _build_transform(gen_cfg)


# ----------------------------------------------------------------------------------- masking
@pytest.mark.parametrize('path, grid, cells, masked', [(PAPER, 14, 7, 30), (TINY, 12, 6, 22)])
def test_mask_generator_draws_cells_upsampled_to_the_patch_grid(path, grid, cells, masked):
    """224 px: 30 of 7 x 7 32-px cells (ceil(0.6 * 49)); 96 px: 22 of 6 x 6 16-px cells; each
    cell covers 2 x 2 patches of the model's grid."""
    gen = _generator(path)
    np.random.seed(0)
    draws = [gen.transform({})['mask'] for _ in range(20)]
    for mask in draws:
        assert mask.shape == (grid, grid)
        coarse = mask[::2, ::2]
        assert coarse.shape == (cells, cells)
        assert np.array_equal(np.kron(coarse, np.ones((2, 2), dtype=mask.dtype)), mask)
        assert coarse.sum() == masked and mask.sum() == 4 * masked
    assert len({m.tobytes() for m in draws}) > 1  # random, not one fixed pattern


def test_pack_inputs_puts_the_mask_into_the_data_sample():
    pipeline = _cfg(TINY).train_dataloader.dataset.pipeline
    assert [t['type'] for t in pipeline][-2:] == ['SimMIMMaskGenerator', 'PackInputs']
    np.random.seed(0)
    results = _generator(TINY).transform({'img': np.zeros((96, 96, 3), np.uint8)})
    packed = _build_transform(pipeline[-1])(results)
    assert torch.equal(packed['data_samples'].mask, torch.from_numpy(results['mask']))


# ----------------------------------------------------------------------------------- encoder
def test_masked_tokens_are_the_mask_token_before_the_blocks():
    backbone = _tiny_simmim().backbone.eval()
    # official init: trunc_normal_(std=.02, a=-.02, b=.02)
    assert 0 < backbone.mask_token.abs().max() <= 0.02
    x, mask = torch.randn(2, 3, 96, 96), _mask()
    seen = []
    backbone.layers[0].register_forward_pre_hook(lambda mod, args: seen.append(args[0]))
    with torch.no_grad():
        backbone(x, mask)
        embedded, _ = backbone.patch_embed(x)
    tokens = seen[0]
    assert tokens.shape == (2, 1 + 144, 128)  # the encoder sees every token
    masked = mask.flatten(1).bool()
    assert torch.equal(tokens[:, 1:][masked],
                       backbone.mask_token[0].expand(int(masked.sum()), -1))
    assert torch.allclose(tokens[:, 1:][~masked], embedded[~masked])
    # cls token first, and no absolute position anywhere
    assert torch.equal(tokens[:, 0], backbone.cls_token[0].expand(2, -1))
    with pytest.raises(ValueError, match='model_patch_size=8'):
        backbone(x, mask[:, :6, :6])


def test_one_shared_table_feeds_every_block():
    from mim_det.models.layers import rel_pos_table_index
    backbone = _tiny_simmim().backbone.eval()
    tables = [n for n, _ in backbone.named_parameters() if 'relative_position_bias' in n]
    assert tables == [SHARED]
    table = backbone.rel_pos_bias.relative_position_bias_table
    assert table.shape == ((2 * 12 - 1)**2 + 3, 4)
    received = []
    for layer in backbone.layers:
        layer.attn.register_forward_pre_hook(
            lambda mod, args, kwargs: received.append(kwargs['attn_mask']), with_kwargs=True)
    with torch.no_grad():
        table.normal_()
    out = backbone(torch.randn(2, 3, 96, 96), _mask())[0]
    assert len(received) == 4 and all(r is received[0] for r in received)
    expected = table[rel_pos_table_index((12, 12), 1)].permute(2, 0, 1)[None]
    assert torch.equal(received[0], expected)
    out.sum().backward()
    assert table.grad is not None and table.grad.abs().sum() > 0


def test_paper_backbone_and_shared_table_options():
    from mim_det.models.selfsup import SimMIMViT
    vit_b = build_in_scope(_cfg(PAPER).model.backbone)
    assert isinstance(vit_b, SimMIMViT)
    # BEiT table of the 14 x 14 grid: (2 * 14 - 1)^2 + 3 entries x 12 heads
    assert vit_b.rel_pos_bias.relative_position_bias_table.shape == (732, 12)
    assert not hasattr(vit_b, 'pos_embed') and vit_b.with_cls_token and vit_b.final_norm
    assert float(vit_b.layers[0].gamma_1[0]) == pytest.approx(0.1)
    assert vit_b.layers[11].drop_path.drop_prob == pytest.approx(0.1)
    assert vit_b.layers[0].attn.qkv.bias is not None
    assert not any('relative_position' in n for n, _ in vit_b.layers.named_parameters())
    arch = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
    with pytest.raises(ValueError, match='window_size=0'):
        SimMIMViT(arch=arch, img_size=32, patch_size=8, window_size=2)
    with pytest.raises(ValueError, match='cannot be shared'):
        SimMIMViT(arch=arch, img_size=32, patch_size=8,
                  shared_rel_pos_cfg=dict(type='DecomposedRelPos'))


def test_decoder_output_shapes():
    model = _tiny_simmim().eval()
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        latent = model.backbone(x, _mask())
        unmasked = model.extract_feat(x)
        pred = model.neck(latent[0])
    assert len(latent) == 1 and latent[0].shape == (2, 128, 12, 12)  # cls dropped
    assert unmasked[0].shape == (2, 128, 12, 12)
    assert model.neck.decoder[0].out_channels == 8 * 8 * 3
    assert pred.shape == (2, 3, 96, 96)


def test_loss_only_on_masked_pixels_divided_by_channels():
    head = _tiny_simmim().head
    target, mask = torch.randn(2, 3, 96, 96), _mask()
    pixels = mask.repeat_interleave(8, 1).repeat_interleave(8, 2)[:, None].bool()
    pixels = pixels.expand(-1, 3, -1, -1)
    pred = target.clone()
    pred[pixels] += 1.0  # every masked value off by exactly 1
    # L1 summed over the masked pixels' 3 channels / masked pixels / 3 channels = 1
    assert float(head.loss(pred, target, mask)) == pytest.approx(1.0)
    changed_visible = pred.clone()
    changed_visible[~pixels] += torch.randn(int((~pixels).sum()))
    assert float(head.loss(changed_visible, target, mask)) == pytest.approx(1.0)
    changed_masked = pred.clone()
    changed_masked[pixels] += 1.0
    assert float(head.loss(changed_masked, target, mask)) == pytest.approx(2.0)
    # the official formula: (l1 * mask).sum() / (mask.sum() + 1e-5) / in_chans
    noisy = target + torch.randn_like(target)
    m = pixels[:, :1].float()
    official = ((noisy - target).abs() * m).sum() / (m.sum() + 1e-5) / 3
    assert float(head.loss(noisy, target, mask)) == pytest.approx(float(official), rel=1e-5)


# ----------------------------------------------------------------------------------- configs
def test_paper_config_is_the_official_recipe():
    cfg = _cfg(PAPER)
    opt = cfg.optim_wrapper
    assert opt.type == 'AmpOptimWrapper'
    # BASE_LR 1e-4 x (128 per GPU x 16 GPUs) / 512
    assert opt.optimizer.lr == pytest.approx(4e-4)
    assert cfg.train_dataloader.batch_size * 16 == cfg.auto_scale_lr.base_batch_size == 2048
    assert tuple(opt.optimizer.betas) == (0.9, 0.999) and opt.optimizer.eps == 1e-8
    assert opt.optimizer.weight_decay == 0.05 and opt.clip_grad.max_norm == 5.0
    warmup, steps = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and warmup.end == 10 and warmup.convert_to_iter_based
    assert warmup.start_factor * 1e-4 == pytest.approx(5e-7)  # WARMUP_LR / BASE_LR
    assert steps.type == 'MultiStepLR' and list(steps.milestones) == [700]
    assert steps.gamma == 0.1 and cfg.train_cfg.max_epochs == steps.end == 800
    crop = cfg.train_dataloader.dataset.pipeline[1]
    assert crop.scale == 224 and tuple(crop.crop_ratio_range) == (0.67, 1.0)
    assert tuple(crop.aspect_ratio_range) == pytest.approx((3 / 4, 4 / 3))
    assert cfg.train_dataloader.dataset.pipeline[2] == dict(type='RandomFlip', prob=0.5)
    pre = cfg.model.data_preprocessor
    assert list(pre.mean) == [123.675, 116.28, 103.53] and list(pre.std) == [58.395, 57.12, 57.375]
    assert cfg.model.neck == dict(type='SimMIMLinearDecoder', in_channels=768, encoder_stride=16)
    assert cfg.model.head.loss == dict(type='PixelReconstructionLoss', criterion='L1', channel=3)


def test_weight_decay_groups_are_the_official_ones():
    """get_pretrain_param_groups: no decay on 1-D parameters, biases and cls_token/pos_embed;
    the mask token and the shared table are decayed in the official ViT run."""
    from mmengine.optim import build_optim_wrapper
    model = _tiny_simmim()
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        wrapper = build_optim_wrapper(model, _cfg(TINY).optim_wrapper)
    decay = {id(p): g['weight_decay'] for g in wrapper.optimizer.param_groups for p in g['params']}
    for name, param in model.named_parameters():
        no_decay = param.ndim == 1 or name.endswith('.bias') or name == 'backbone.cls_token'
        assert decay[id(param)] == (0.0 if no_decay else 0.05), name
    assert decay[id(model.backbone.mask_token)] == 0.05


@pytest.mark.parametrize('path', DOWNSTREAM, ids=osp.basename)
def test_downstream_configs_keep_simmim_positions(path):
    backbone = _cfg(path).model.backbone
    assert backbone.type == 'PlainViT' and backbone.use_abs_pos is False
    types = [c['type'] for c in backbone.rel_pos_cfgs]
    assert 'RelPosBiasTable' in types and backbone.layer_scale_init_value > 0
    assert ('DecomposedRelPos' in types) == ('vitdet' in path)
    assert backbone.init_cfg.type == 'Pretrained'


def test_simmim_vit_is_registered():
    from mim_det.registry import registered_components
    found = {(c.scope, c.registry, c.name): c.module
             for c in registered_components(downstream=False)}
    assert found[('mmpretrain', 'MODELS', 'SimMIMViT')] == 'mim_det.models.selfsup.simmim'


# ------------------------------------------------------------- pretraining, export, loading
@pytest.fixture(scope='module')
def pretrained(tmp_path_factory, small_data):
    """30 iterations of the tiny config through tools/train.py, then an export."""
    from mim_det.checkpoint import load_backbone_export
    run = pretrain_and_export(tmp_path_factory.mktemp('simmim_tiny'), TINY, small_data, ITERS,
                              ['log_processor.window_size=5'])
    run['state'], run['meta'] = load_backbone_export(run['export'])
    return run


def test_tiny_pretraining_lowers_the_loss(pretrained):
    losses = training_losses(pretrained['work'])
    assert losses[-1][0] == ITERS
    # normalised pixels: predicting 0 everywhere scores E|x| ~ 0.8; measured 0.81 -> 0.62 in
    # the first 30 of the 100 warm-up iterations
    assert losses[0][1] > 0.6 and losses[-1][1] < 0.9 * losses[0][1], losses


def test_export_holds_the_shared_table_and_no_mask_token(pretrained):
    state, meta = pretrained['state'], pretrained['meta']
    assert meta['method'] == 'simmim' and meta['backbone_type'] == 'SimMIMViT'
    assert meta['pos_encoding'] == 'shared_rel_pos_bias' and meta['patch_size'] == 8
    assert 'mask_token' not in state and 'pos_embed' not in state
    assert state[SHARED].shape == (23 * 23 + 3, 4)
    assert not any(k.startswith(('neck.', 'head.')) for k in state)


def _gammas(model):
    return [k for k in model.state_dict() if '.gamma_' in k]


def _tables(model):
    return [k for k in model.state_dict() if k.endswith('attn.' + SHARED)]


def test_export_fills_the_tiny_vitdet_backbone(pretrained):
    from mim_det.checkpoint import load_vit_checkpoint
    from mim_det.models.layers import resize_rel_pos_bias_table
    cfg = _cfg(VITDET_TINY).model.backbone
    cfg.init_cfg = None
    model = build_in_scope(cfg, 'mmdet')
    report = load_vit_checkpoint(model, pretrained['export'])
    assert report['layout'] == 'mim_det export' and report['suspicious'] == []
    tables = _tables(model)
    assert len(tables) == 4 and report['from_shared'] == dict.fromkeys(tables, SHARED)
    assert set(tables + _gammas(model)) <= set(report['loaded'])
    # window blocks 0-2 attend in 8 x 8 windows, block 3 globally over the 32 x 32 map
    assert report['interpolated'][tables[0]] == '12x12 -> 8x8 grid, bicubic'
    assert report['interpolated'][tables[3]] == '12x12 -> 32x32 grid, bicubic'
    shared = pretrained['state'][SHARED]
    assert torch.allclose(model.state_dict()[tables[3]],
                          resize_rel_pos_bias_table(shared, (12, 12), (32, 32)))
    for key in _gammas(model):
        assert torch.equal(model.state_dict()[key], pretrained['state'][key])
    decomposed = [k for k in model.state_dict() if '.rel_pos.rel_pos_' in k]
    assert len(decomposed) == 8 and sorted(report['expected_missing']) == sorted(decomposed)
    assert {'cls_token', 'ln1.weight', 'ln1.bias'} <= set(report['expected_unused'])


def test_vitdet_without_per_block_tables_reports_the_shared_table(pretrained):
    from mim_det.checkpoint import load_vit_checkpoint
    cfg = _cfg(VITDET_TINY).model.backbone
    cfg.update(init_cfg=None, rel_pos_cfgs=[dict(type='DecomposedRelPos')])
    report = load_vit_checkpoint(build_in_scope(cfg, 'mmdet'), pretrained['export'])
    [line] = report['suspicious']
    assert line.startswith(f'unused {SHARED}:') and 'DecomposedRelPos' in line
    assert "add dict(type='RelPosBiasTable')" in line and SHARED not in report['expected_unused']


def test_export_fills_the_tiny_upernet_backbone(pretrained):
    from mim_det.checkpoint import load_vit_checkpoint
    cfg = _cfg(UPERNET_TINY).model.backbone
    cfg.init_cfg = None
    model = build_in_scope(cfg, 'mmseg')
    report = load_vit_checkpoint(model, pretrained['export'])
    assert report['suspicious'] == [] and report['expected_missing'] == []
    tables = _tables(model)
    assert len(tables) == 4 and report['from_shared'] == dict.fromkeys(tables, SHARED)
    assert report['interpolated'] == dict.fromkeys(tables, '12x12 -> 16x16 grid, bicubic')
    assert set(tables + _gammas(model) + ['cls_token']) <= set(report['loaded'])


def test_plain_vit_with_per_block_tables_computes_the_pretrained_encoder(pretrained, tmp_path):
    """At the pretraining grid, a copy of the shared table in every block is the same network."""
    from mim_det.checkpoint import load_vit_checkpoint
    from mim_det.models.backbones.plain_vit import PlainViT
    simmim = build_in_scope(_cfg(TINY).model.backbone)
    report = load_vit_checkpoint(simmim, pretrained['export'])
    assert report['expected_missing'] == ['mask_token'] and report['suspicious'] == []
    with torch.no_grad():  # 30 iterations barely move the table from zero: make it matter
        simmim.rel_pos_bias.relative_position_bias_table.normal_()
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in simmim.state_dict().items()}),
               tmp_path / 'simmim.pth')  # an mmpretrain-layout checkpoint this time
    plain = PlainViT(arch=simmim.arch_settings, img_size=96, patch_size=8, with_cls_token=True,
                     use_abs_pos=False, rel_pos_cfgs=[dict(type='RelPosBiasTable')],
                     window_size=0, global_attn_indexes=(), layer_scale_init_value=0.1,
                     final_norm=True, drop_path_rate=0.)
    report = load_vit_checkpoint(plain, str(tmp_path / 'simmim.pth'))
    assert report['layout'] == 'mmpretrain' and report['suspicious'] == []
    assert report['interpolated'] == {} and len(report['from_shared']) == 4
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        assert torch.allclose(plain.eval()(x)[0], simmim.eval()(x)[0], atol=1e-5)


def test_per_block_tables_into_a_shared_model_are_suspicious(tmp_path):
    from mim_det.checkpoint import load_vit_checkpoint
    from mim_det.models.backbones.plain_vit import PlainViT
    from mim_det.models.selfsup import SimMIMViT
    arch = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
    src = PlainViT(arch=arch, img_size=32, patch_size=8, with_cls_token=True, use_abs_pos=False,
                   rel_pos_cfgs=[dict(type='RelPosBiasTable')], window_size=0,
                   global_attn_indexes=(), final_norm=True)
    torch.save(src.state_dict(), tmp_path / 'per_block.pth')
    report = load_vit_checkpoint(SimMIMViT(arch=arch, img_size=32, patch_size=8),
                                 str(tmp_path / 'per_block.pth'))
    flagged = [line.split(':')[0] for line in report['suspicious']]
    assert f'missing {SHARED}' in flagged and f'unused layers.0.attn.{SHARED}' in flagged


def test_reconstruction_visualisation(pretrained, small_data, tmp_path):
    import cv2
    images = sorted(glob.glob(f'{small_data}/pretrain/train/images/*.jpg'))[:2]
    result = run_tool([sys.executable, 'tools/visualize_reconstruction.py', TINY,
                       pretrained['ckpt'], *images, '--out-dir', str(tmp_path),
                       '--panel-size', '192'])
    assert result.returncode == 0, result.stderr[-3000:]
    grids = sorted(glob.glob(str(tmp_path / '*_simmim.png')))
    assert len(grids) == 2
    grid = cv2.imread(grids[0])
    assert grid.shape == (192, 4 * 192 + 3 * 4, 3)  # four 96-px panels upscaled x2, 3 gaps
    original, masked = grid[:, :192], grid[:, 196:388]
    # 22 of 36 cells are grey in the masked panel
    assert (original != masked).any(axis=2).mean() > 0.5
