"""Masked Siamese ConvNets: the mask transforms, the branches and views, the multi-mask loss, the
NumPy-2 hue fix its colour jitter needs, the ladder configs and the views tool."""
import glob
import os.path as osp
import struct
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT, build_in_scope, run_tool

from mim_det.datasets.transforms import (HighPassFilter, SiameseMask, draw_siamese_mask,
                                         fill_masked, focal_masks, grid_masks, high_pass)

TINY = 'configs/mscn/mscn_resnet18_embedded.py'
PAPER = 'configs/mscn/mscn_resnet50_16xb256-lars-100e_in1k.py'


def _scene(seed=0, size=224):
    """A smooth image with a strong DC component and some edges."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    img = 120 + 60 * np.sin(xx / 17.0)[..., None] + 40 * (yy > size // 2)[..., None]
    img = img + rng.normal(0, 5, (size, size, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def test_grid_and_focal_masks_mask_the_requested_fraction():
    rng = np.random.default_rng(0)
    for ratio in (0.15, 0.3, 0.5):
        grid = grid_masks((224, 224), 32, ratio, 200, rng)
        assert grid.shape == (200, 224, 224)
        # 49 cells of 32 px: round(ratio * 49) of them, the same count in every mask
        assert np.allclose(grid.mean(axis=(1, 2)), round(ratio * 49) / 49)
        assert abs(grid.mean() - ratio) < 0.5 / 49 + 1e-9
        # masked pixels come in whole 32-px cells
        cells = grid[:, ::32, ::32]
        assert np.array_equal(grid, cells.repeat(32, 1).repeat(32, 2))
        focal = focal_masks((224, 224), ratio, 200, rng)
        assert np.all(np.abs(focal.mean(axis=(1, 2)) - ratio) < 0.01)
        # what a focal mask keeps is one rectangle (a crop), at different places
        kept = ~focal
        rows, cols = kept.any(axis=2), kept.any(axis=1)
        assert np.array_equal(kept, rows[:, :, None] & cols[:, None, :])
        assert len({int(np.argmax(r)) for r in rows}) > 10


def test_focal_and_grid_masks_mix_at_the_configured_rate():
    rng = np.random.default_rng(1)
    kinds = [draw_siamese_mask((64, 64, 3), 0.15, 8, 0.2, 0.0, rng)[1] for _ in range(3000)]
    share = sum(k == 'focal' for k in kinds) / len(kinds)
    assert abs(share - 0.2) < 0.025, share  # 3000 draws: std 0.0073
    kinds = [draw_siamese_mask((64, 64, 3), 0.15, 8, 0.0, 0.0, rng)[1] for _ in range(200)]
    assert set(kinds) == {'grid'}


def test_channel_masks_differ_per_channel_with_their_probability():
    rng = np.random.default_rng(2)
    per_channel = 0
    for _ in range(2000):
        mask, kind = draw_siamese_mask((64, 64, 3), 0.3, 8, 0.0, 0.7, rng)
        differs = not (np.array_equal(mask[..., 0], mask[..., 1])
                       and np.array_equal(mask[..., 1], mask[..., 2]))
        assert differs == kind.startswith('channel-')
        per_channel += differs
        assert abs(mask.mean() - round(0.3 * 64) / 64) < 1e-9  # each channel masks 19 of 64
    assert abs(per_channel / 2000 - 0.7) < 0.035, per_channel


def test_high_pass_removes_dc_and_low_frequencies():
    img = _scene()
    out = high_pass(img, sigma=5.0)
    assert out.dtype == np.float32 and out.shape == img.shape
    assert np.all(np.abs(out.mean(axis=(0, 1))) < 1e-3)
    for c in range(3):
        spec_in = np.abs(np.fft.fft2(img[..., c].astype(np.float64)))
        spec_out = np.abs(np.fft.fft2(out[..., c].astype(np.float64)))
        assert spec_out[0, 0] < 1e-6 * spec_in[0, 0]
        # the lowest non-DC frequencies lose most of their energy, the highest keep it
        low = (slice(0, 3), slice(0, 3))
        assert spec_out[low].sum() < 0.2 * (spec_in[low].sum() - spec_in[0, 0])
        high = (slice(100, 124), slice(100, 124))
        assert spec_out[high].sum() > 0.8 * spec_in[high].sum()
    # the transform adds the normalisation mean back, so normalised it is zero-mean
    res = HighPassFilter(sigma=5.0)(dict(img=img))
    assert np.allclose(res['img'].mean(axis=(0, 1)), (103.53, 116.28, 123.675), atol=1e-2)


def test_noise_fill_changes_only_the_masked_pixels():
    rng = np.random.default_rng(3)
    img = _scene().astype(np.float32)
    mask, _ = draw_siamese_mask(img.shape, 0.3, 32, 0.0, 0.7, rng)
    out = fill_masked(img, mask, 'noise', rng)
    assert np.array_equal(out[~mask], img[~mask])
    assert np.mean(out[mask] != img[mask]) > 0.99
    # the noise has each channel's visible statistics, not a constant
    for c in range(3):
        vis, filled = img[..., c][~mask[..., c]], out[..., c][mask[..., c]]
        assert abs(filled.mean() - vis.mean()) < 0.1 * vis.std()
        assert abs(filled.std() / vis.std() - 1) < 0.1
    const = fill_masked(img, mask, 'mean', rng)
    assert np.array_equal(const[~mask], img[~mask])
    assert np.allclose(const[..., 0][mask[..., 0]], img[..., 0][~mask[..., 0]].mean(),
                       rtol=1e-5)
    with pytest.raises(ValueError, match='noise'):
        fill_masked(img, mask, 'zeros', rng)


@pytest.mark.parametrize('make', [lambda: HighPassFilter(sigma=2.0, prob=0.5),
                                  lambda: SiameseMask(ratio=0.15, grid_size=12, prob=0.5)],
                         ids=['high_pass', 'mask'])
def test_views_collate_whether_or_not_the_transform_drew_them(make):
    """With prob < 1 a batch mixes changed and unchanged views; they must stack (mmengine's
    default_collate stacks into the first view's dtype, so a uint8 first view failed)."""
    from mmengine.dataset import default_collate
    transform = make()
    np.random.seed(1)
    outs = [transform(dict(img=_scene(seed=i, size=48))) for i in range(12)]
    changed = ['high_pass' in o or 'siamese_mask' in o for o in outs]
    assert any(changed) and not all(changed)
    assert {o['img'].dtype for o in outs} == {np.dtype(np.float32)}
    unchanged = [i for i, c in enumerate(changed) if not c][0]
    np.testing.assert_array_equal(outs[unchanged]['img'], _scene(seed=unchanged, size=48))
    order = sorted(range(12), key=lambda i: changed[i])  # an unchanged view first
    batch = default_collate([torch.from_numpy(outs[i]['img']) for i in order])
    assert batch.shape == (12, 48, 48, 3) and batch.dtype == torch.float32


def test_high_pass_with_the_mask_filters_exactly_the_masked_views():
    """SiameseMask(high_pass=...): a masked view is high-pass filtered before its mask (its
    visible pixels are the filtered scene), a view the coin skips stays the natural scene."""
    transform = SiameseMask(ratio=0.15, grid_size=12, prob=0.5, high_pass=dict(sigma=2.0))
    np.random.seed(3)
    outs = [transform(dict(img=_scene(seed=i, size=48))) for i in range(16)]
    masked = ['siamese_mask' in o for o in outs]
    assert any(masked) and not all(masked)
    for i, out in enumerate(outs):
        scene = _scene(seed=i, size=48)
        assert out['img'].dtype == np.float32
        if masked[i]:
            assert out.get('high_pass') is True
            filtered = HighPassFilter(sigma=2.0)(dict(img=scene))['img']
            visible = ~out['siamese_mask']
            np.testing.assert_allclose(out['img'][visible], filtered[visible], rtol=1e-6)
        else:
            assert 'high_pass' not in out
            np.testing.assert_array_equal(out['img'], scene)
    assert 'high_pass=HighPassFilter(sigma=2.0' in repr(transform)


def test_siamese_mask_refuses_bad_arguments_with_the_value():
    with pytest.raises(ValueError, match=r'ratio=1\.2'):
        SiameseMask(ratio=1.2)
    with pytest.raises(ValueError, match='channel_prob=1.5'):
        SiameseMask(channel_prob=1.5)
    with pytest.raises(ValueError, match="fill='zero'"):
        SiameseMask(fill='zero')


def _branch_pipelines(config):
    from mmengine.config import Config
    from mmengine.dataset import Compose
    from mmengine.registry import DefaultScope

    from mmpretrain.registry import TRANSFORMS
    cfg = Config.fromfile(osp.join(ROOT, config))
    [multiview] = [t for t in cfg.train_dataloader.dataset.pipeline if t['type'] == 'MultiView']
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return cfg, multiview, [Compose([TRANSFORMS.build(t) for t in branch])
                                for branch in multiview['transforms']]


def test_each_branch_draws_with_its_own_probabilities():
    """Asymmetric branches: branch A masks half its views, branch B every one."""
    _, multiview, (branch_a, branch_b) = _branch_pipelines(TINY)
    assert multiview['num_views'] == [1, 2]
    img = _scene(size=224)
    np.random.seed(0)
    masked_a = [('siamese_mask' in branch_a(dict(img=img.copy(), img_shape=(224, 224))))
                for _ in range(300)]
    masked_b = [('siamese_mask' in branch_b(dict(img=img.copy(), img_shape=(224, 224))))
                for _ in range(50)]
    assert abs(np.mean(masked_a) - 0.5) < 0.09, np.mean(masked_a)  # 300 draws: std 0.029
    assert all(masked_b)


def test_the_pipeline_gives_one_view_of_a_and_k_masked_views(small_data):
    from mmengine.dataset import Compose
    from mmengine.registry import DefaultScope

    from mmpretrain.registry import TRANSFORMS
    cfg, _, _ = _branch_pipelines(TINY)
    [path] = glob.glob(osp.join(small_data, 'pretrain', 'train', 'images', '000000.*'))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        pipeline = Compose([TRANSFORMS.build(t) for t in cfg.train_dataloader.dataset.pipeline])
        for k in (1, 3):
            pipeline.transforms[1] = TRANSFORMS.build(
                dict(cfg.train_dataloader.dataset.pipeline[1], num_views=[1, k]))
            out = pipeline(dict(img_path=path))
            assert len(out['inputs']) == 1 + k
            assert all(v.shape == (3, 96, 96) and v.dtype == torch.float32
                       for v in out['inputs'])


def _tiny_model(pairing='per_pair', algorithm=None):
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, TINY))
    model_cfg = cfg.model.to_dict()
    model_cfg['pairing'] = pairing
    if algorithm is not None:
        model_cfg['algorithm'] = algorithm
    return build_in_scope(model_cfg)


def test_multi_mask_loss_is_the_mean_of_the_pair_losses():
    torch.manual_seed(0)
    model = _tiny_model()
    views = [torch.randn(4, 3, 64, 64) for _ in range(3)]  # A, B1, B2
    samples = [None] * 4
    total = model.loss(views, samples)['loss']
    pairs = [model.algorithm.loss([views[0], views[k]], samples)['loss'] for k in (1, 2)]
    assert torch.allclose(total, (pairs[0] + pairs[1]) / 2)
    assert not torch.allclose(pairs[0], pairs[1])
    # one masked view: exactly the wrapped algorithm
    assert torch.allclose(model.loss(views[:2], samples)['loss'], pairs[0])
    total.backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='MultiView'):
        model.loss(views[:1], samples)


def test_batched_pairing_steps_a_momentum_target_once():
    """BYOL through mmpretrain's own heads: K pairs in one call, one EMA step per iteration."""
    from mmengine.config import Config
    tiny = Config.fromfile(osp.join(ROOT, TINY)).model.algorithm.to_dict()
    byol = dict(
        type='BYOL', base_momentum=0.01, data_preprocessor=tiny['data_preprocessor'],
        backbone=tiny['backbone'],
        neck=dict(type='NonLinearNeck', in_channels=512, hid_channels=64, out_channels=32,
                  with_bias=True, with_last_bn=False, with_avg_pool=True),
        head=dict(type='LatentPredictHead', loss=dict(type='CosineSimilarityLoss'),
                  predictor=dict(type='NonLinearNeck', in_channels=32, hid_channels=64,
                                 out_channels=32, with_bias=True, with_last_bn=False,
                                 with_avg_pool=False)))
    model = _tiny_model('batched', byol)
    steps = []
    target = model.algorithm.target_net
    original = target.update_parameters
    target.update_parameters = lambda m: (steps.append(1), original(m))[1]
    views = [torch.randn(2, 3, 64, 64) for _ in range(4)]  # A and 3 masked views
    loss = model.loss(views, [None] * 2)['loss']
    assert torch.isfinite(loss) and len(steps) == 1
    with pytest.raises(ValueError, match='pairing'):
        _tiny_model('interleaved')


def test_hue_jitter_runs_under_numpy_2_and_wraps_like_numpy_1():
    import mmcv

    from mim_det.engine.numpy2_hue_fix import _shift_hue
    hue = np.arange(256, dtype=np.uint8)
    for factor in (-0.5, -0.2, -0.01, 0.0, 0.01, 0.2, 0.5):
        expected = (hue.astype(int) + int(factor * 255)) % 256  # NumPy 1's uint8 wrap-around
        assert np.array_equal(_shift_hue(hue, factor), expected)
    img = _scene(size=32)
    for backend in ('pillow', 'cv2'):
        left, right = mmcv.adjust_hue(img, -0.2, backend=backend), mmcv.adjust_hue(
            img, 0.2, backend=backend)
        assert left.shape == img.shape and left.dtype == np.uint8
        assert not np.array_equal(left, right)
    # the regression: mmpretrain's ColorJitter(hue=0.2) draws negative shifts half the time
    from mmengine.registry import DefaultScope

    from mmpretrain.registry import TRANSFORMS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        jitter = TRANSFORMS.build(dict(type='ColorJitter', hue=0.2))
    np.random.seed(0)
    for _ in range(40):
        assert jitter(dict(img=img.copy()))['img'].shape == img.shape


def test_ladder_and_paper_configs_hold_the_recipe():
    from mmengine.config import Config
    paper = Config.fromfile(osp.join(ROOT, PAPER))
    algo = paper.model.algorithm
    assert paper.model.type == 'MultiMaskSiamese' and algo.type == 'SimCLR'
    assert algo.backbone.depth == 50 and algo.backbone.norm_cfg.type == 'SyncBN'
    assert algo.head.temperature == 0.1 and algo.neck.out_channels == 128
    assert paper.optim_wrapper.optimizer.type == 'LARS'
    assert paper.optim_wrapper.optimizer.lr == pytest.approx(0.3 * 4096 / 256)
    assert paper.train_cfg.max_epochs == 100 and paper.auto_scale_lr.base_batch_size == 4096
    masks = [t for branch in paper.train_pipeline[1]['transforms'] for t in branch
             if t['type'] == 'SiameseMask']
    assert {(m.ratio, m.grid_size, m.focal_prob, m.channel_prob, m.fill) for m in masks} \
        == {(0.15, 32, 0.2, 0.7, 'noise')}
    steps = sorted(glob.glob(osp.join(ROOT, 'configs/mscn/ladder/step*.py')))
    assert len(steps) == 10
    seen = []
    for path in steps:
        cfg = Config.fromfile(path)
        [mv] = [t for t in cfg.train_dataloader.dataset.pipeline if t['type'] == 'MultiView']
        types = [[t['type'] for t in branch] for branch in mv['transforms']]
        seen.append((mv['num_views'], types))
        assert cfg.optim_wrapper.optimizer.lr == paper.optim_wrapper.optimizer.lr
    assert 'SiameseMask' not in seen[0][1][0]
    assert all('SiameseMask' in s[1][0] and 'HighPassFilter' in s[1][0] for s in seen[1:])
    assert seen[8][0] == [1, 1] and seen[9][0] == [1, 2]
    linear = Config.fromfile(osp.join(ROOT, 'configs/mscn/'
                                      'resnet50_linear-probe_8xb512-coslr-100e_in1k.py'))
    assert linear.train_cfg.max_epochs == 100
    assert linear.model.backbone.frozen_stages == 4
    assert linear.model.backbone.init_cfg.prefix == 'algorithm.backbone.'


def _png_size(path):
    with open(path, 'rb') as f:
        head = f.read(24)
    assert head[:8] == b'\x89PNG\r\n\x1a\n' and head[12:16] == b'IHDR'
    return struct.unpack('>II', head[16:24])


def test_views_tool_writes_one_grid_per_config(small_data, tmp_path):
    images = sorted(glob.glob(osp.join(small_data, 'pretrain', 'train', 'images', '*')))[:2]
    configs = ['configs/mscn/ladder/step0_crop-only.py', 'configs/mscn/ladder/step9_multi-mask.py']
    res = run_tool([sys.executable, 'tools/visualize_siamese_views.py', *configs, '--images',
                    *images, '--out-dir', str(tmp_path), '--panel-size', '64'])
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    # panels of 64 px + a 22-px caption band, 4 px gaps: 2 rows; 2 and 3 views per image
    assert _png_size(tmp_path / 'step0_crop-only.png') == (2 * 68 + 4, 2 * 90 + 4)
    assert _png_size(tmp_path / 'step9_multi-mask.png') == (3 * 68 + 4, 2 * 90 + 4)
    res = run_tool([sys.executable, 'tools/visualize_siamese_views.py',
                    'configs/mae/mae_vit-tiny-p8_embedded.py', '--images', images[0],
                    '--out-dir', str(tmp_path)])
    assert res.returncode == 2 and 'no MultiView' in res.stderr


@pytest.fixture(scope='module')
def tiny_run(small_data, tmp_path_factory):
    """40 iterations of the tiny recipe (batch 8) through mmengine's Runner, the multi-mask loss
    on a fixed batch of views (the same 16 images, masks and crops) before and after, and the
    export of the checkpoint."""
    from mim_det.checkpoint import export_backbone
    from mmengine.config import Config
    from mmengine.dataset import Compose, default_collate
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    from mmpretrain.registry import TRANSFORMS
    cfg = Config.fromfile(osp.join(ROOT, TINY))
    tmp_path = tmp_path_factory.mktemp('mscn_tiny')
    cfg.work_dir = str(tmp_path)
    cfg.train_dataloader.dataset.data_root = f'{small_data}/pretrain'
    cfg.train_dataloader.batch_size = 8
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.train_cfg.max_iters = 40
    cfg.param_scheduler[0].end = 5
    cfg.param_scheduler[1].update(begin=5, T_max=35, end=40)
    cfg.default_hooks.checkpoint.interval = 40
    cfg.visualizer.vis_backends = [dict(type='LocalVisBackend')]

    def fixed_batch_loss():
        torch.manual_seed(0)
        with torch.no_grad():
            data = model.data_preprocessor(batch, True)
            return float(model.loss(data['inputs'], data['data_samples'])['loss'])

    with DefaultScope.overwrite_default_scope('mmpretrain'):
        runner = Runner.from_cfg(cfg)
        pipeline = Compose([TRANSFORMS.build(t) for t in cfg.train_dataloader.dataset.pipeline])
        images = sorted(glob.glob(osp.join(small_data, 'pretrain', 'train', 'images', '*')))[:16]
        np.random.seed(1)
        batch = default_collate([pipeline(dict(img_path=p)) for p in images])
        model = runner.model
        model.init_weights()
        before = fixed_batch_loss()
        runner.train()
        after = fixed_batch_loss()
    ckpt = str(tmp_path / 'iter_40.pth')
    export = str(tmp_path / 'backbone.safetensors')
    meta = export_backbone(ckpt, export)
    return dict(before=before, after=after, ckpt=ckpt, export=export, meta=meta)


def test_tiny_pretraining_lowers_the_loss(tiny_run):
    before, after = tiny_run['before'], tiny_run['after']
    print(f'fixed-batch loss before {before:.3f}, after {after:.3f}')
    assert np.isfinite(after) and after < before - 0.2, (before, after)


def test_export_holds_the_resnet_with_its_batchnorm_statistics(tiny_run):
    from mim_det.checkpoint import load_backbone_export
    state, meta = load_backbone_export(tiny_run['export'])
    assert meta['method'] == 'mscn' and meta['backbone_type'] == 'ResNet'
    assert meta['arch'] == {'depth': 18} and meta['patch_size'] == 0
    assert 'bn1.running_mean' in state and 'layer4.1.conv2.weight' in state
    assert not [k for k in state if k.startswith(('neck', 'head', 'algorithm'))]


def _downstream_backbone(config, scope, checkpoint):
    from mmengine.config import Config

    import mim_det.downstream  # noqa: F401,I001  (the Pretrained initialiser of mmdet / mmseg)
    cfg = Config.fromfile(osp.join(ROOT, config))
    cfg.model.backbone.init_cfg.checkpoint = checkpoint
    model = build_in_scope(cfg.model, scope)
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope(scope):
        model.init_weights()
    return model.backbone


@pytest.mark.parametrize('config,scope', [
    ('configs/mask_rcnn/mscn_mask-rcnn_r18_fpn_tiny_embedded.py', 'mmdet'),
    ('configs/upernet/mscn_upernet_r18_tiny_embedded.py', 'mmseg')])
def test_export_loads_into_mmdet_and_mmseg_resnets(tiny_run, config, scope):
    from mim_det.checkpoint import load_backbone_checkpoint, load_backbone_export
    state, _ = load_backbone_export(tiny_run['export'])
    backbone = _downstream_backbone(config, scope, tiny_run['export'])
    assert type(backbone).__module__.startswith(scope)  # the toolbox's own ResNet
    own = backbone.state_dict()
    # init_cfg=Pretrained went through mim_det's loader: every tensor is the export's
    assert all(torch.equal(own[k], v) for k, v in state.items())
    report = load_backbone_checkpoint(backbone, tiny_run['export'])
    assert report['suspicious'] == [] and len(report['loaded']) == len(own) == len(state)


def test_resnet_loader_names_the_mismatch_and_its_fix(tiny_run):
    from mmseg.models.backbones import ResNetV1c

    from mim_det.checkpoint import CheckpointError, load_backbone_checkpoint
    from mmdet.models.backbones import ResNet
    # the .pth of the run: the wrapped backbone's prefix is found by itself
    report = load_backbone_checkpoint(ResNet(depth=18), tiny_run['ckpt'])
    assert report['prefix'] == 'algorithm.backbone.' and report['suspicious'] == []
    assert any('outside' in report['reasons'][k] for k in report['expected_unused'])
    deep = load_backbone_checkpoint(ResNetV1c(depth=18), tiny_run['export'])
    assert deep['suspicious'] and all("type='ResNet'" in s for s in deep['suspicious'])
    with pytest.raises(CheckpointError, match='set depth=18'):
        load_backbone_checkpoint(ResNet(depth=50), tiny_run['export'])
    with pytest.raises(CheckpointError, match='is a ResNet; load it into a ViT'):
        load_backbone_checkpoint(
            ResNet(depth=18),
            osp.join(ROOT, 'tests/fixtures/pre_refactor/lomar_backbone.safetensors'))
