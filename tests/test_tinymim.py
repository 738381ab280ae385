"""TinyMIM (mim_det.models.selfsup.tinymim): relation maps, the KL loss, the frozen teacher read
from every supported layout, head counts, the two views, a tiny distillation and its export."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from conftest import ROOT, build_in_scope, pretrain_and_export, training_losses
from mim_det.checkpoint import EXPORT_FORMAT, load_backbone_export, load_vit_checkpoint
from mim_det.models.selfsup.tinymim import block_relations, relation_kl
from test_vit_checkpoint import ARCH, D, mae_release, random_source, save, with_cls_slot

TINY = 'configs/tinymim/tinymim_vit-tiny-p8_mae-teacher_embedded.py'
STUDENT = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def teacher_files(tmp_path) -> dict:
    """One random 64-d, 2-block, 4-head ViT/16 (64 px) in each layout a teacher comes in."""
    from safetensors.torch import save_file
    src = random_source(use_abs_pos=True)
    tensors = {k: v.clone() for k, v in src.state_dict().items()}
    tensors.update(pos_embed=with_cls_slot(src.pos_embed), cls_token=torch.randn(1, 1, D))
    export = str(tmp_path / 'mae.safetensors')
    meta = {'format': EXPORT_FORMAT, 'method': 'mae', 'backbone_type': 'MAEViT',
            'arch': json.dumps(ARCH), 'patch_size': '16', 'img_size': '64',
            'pos_encoding': 'absolute_sincos', 'rpe': json.dumps(None),
            'num_extra_tokens': '1', 'source': 'x.pth', 'iteration': '1'}
    save_file({k: v.contiguous() for k, v in tensors.items()}, export, metadata=meta)
    return dict(
        src=src,
        official_mae=save(tmp_path, 'official.pth', {'model': mae_release(src)}),
        mmpretrain=save(tmp_path, 'mmpretrain.pth', {'state_dict': {
            f'backbone.{k}': v for k, v in tensors.items()}}),
        export=export)


def build_tinymim(teacher: str, student=STUDENT, last_heads=4, **kwargs):
    cfg = dict(
        type='TinyMIM',
        backbone=dict(type='TinyMIMViT', arch=student, img_size=64, patch_size=16,
                      last_heads=last_heads, drop_path_rate=0.),
        target_generator=dict(
            type='PlainViT', arch=ARCH, img_size=64, pretrain_img_size=64, patch_size=16,
            with_cls_token=True, use_abs_pos=True, window_size=0, global_attn_indexes=(),
            drop_path_rate=0., init_cfg=dict(type='Pretrained', checkpoint=teacher)),
        **kwargs)
    model = build_in_scope(cfg)
    model.init_weights()
    return model


def images(seed=0):
    return torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope='module')
def teachers(tmp_path_factory):
    return teacher_files(tmp_path_factory.mktemp('teachers'))


def test_relation_maps_are_row_stochastic_with_the_teacher_head_count(teachers):
    model = build_tinymim(teachers['export'])
    x = images()
    tokens, _ = model.target_generator.tokens_entering(x, -1)
    t_qk, t_vv = block_relations(model.target_generator.layers[-1], tokens)
    s_tokens, _ = model.backbone.tokens_entering(x, -1)
    s_qk, s_vv = block_relations(model.backbone.layers[-1], s_tokens)
    for logits in (t_qk, t_vv, s_qk, s_vv):
        assert logits.shape == (2, 4, 17, 17) and logits.dtype == torch.float32
        rows = logits.softmax(-1).sum(-1)
        torch.testing.assert_close(rows, torch.ones_like(rows))
    # the student's other blocks keep its own 2 heads; only the last is split into 4
    assert [layer.attn.num_heads for layer in model.backbone.layers] == [2, 4]
    # v v^T is symmetric (before the row softmax), q k^T is not
    torch.testing.assert_close(t_vv, t_vv.transpose(-2, -1))
    assert not torch.allclose(t_qk, t_qk.transpose(-2, -1))


def test_kl_is_zero_for_equal_maps_and_positive_otherwise():
    logits = torch.randn(2, 3, 5, 5)
    assert relation_kl(logits, logits).item() == 0.0
    assert relation_kl(logits, logits + 7.0).abs().item() < 1e-6  # softmax ignores a shift
    other = torch.randn(2, 3, 5, 5)
    expected = torch.nn.functional.kl_div(other.softmax(-1).log(), logits.softmax(-1),
                                          reduction='none').sum(-1).mean()
    torch.testing.assert_close(relation_kl(logits, other), expected)  # the official formula
    assert relation_kl(logits, other).item() > 0


def test_loss_is_zero_when_student_and_teacher_blocks_agree(teachers):
    model = build_tinymim(teachers['export'], student=ARCH, last_heads=None)
    # the student holds the teacher's weights (and its position table)
    missing, unexpected = model.backbone.load_state_dict(model.target_generator.state_dict(),
                                                         strict=False)
    assert unexpected == [] and set(missing) == {'ln1.weight', 'ln1.bias'}
    model.eval()
    x = images()
    losses = model.loss(x, None)
    assert set(losses) == {'loss_qk', 'loss_vv'}
    assert losses['loss_qk'].item() < 1e-6 and losses['loss_vv'].item() < 1e-6
    # another view (the student's jittered copy) or other weights give a positive loss
    view = model.loss([x, x * 1.3 + 0.2], None)
    assert view['loss_qk'].item() > 1e-4 and view['loss_vv'].item() > 1e-4
    with torch.no_grad():
        model.backbone.layers[-1].attn.qkv.weight.add_(0.5 * torch.randn(3 * D, D))
    moved = model.loss(x, None)
    assert moved['loss_qk'].item() > 1e-4 and moved['loss_vv'].item() > 1e-4


def test_teacher_is_frozen_and_stays_in_eval_mode(teachers):
    model = build_tinymim(teachers['export'])
    model.train()
    teacher = model.target_generator
    assert model.backbone.training and not teacher.training
    assert not any(m.training for m in teacher.modules())
    assert not any(p.requires_grad for p in teacher.parameters())
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.1)
    losses = model.loss([images(0), images(1)], None)
    sum(losses.values()).backward()
    optimizer.step()
    assert all(p.grad is None for p in teacher.parameters())
    assert model.backbone.layers[-1].attn.qkv.weight.grad.abs().sum() > 0
    assert model.backbone.patch_embed.projection.weight.grad.abs().sum() > 0
    assert not model.backbone.pos_embed.requires_grad  # the fixed sin-cos table
    for key, value in teacher.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_mismatched_head_count_without_last_heads_is_a_clear_error(teachers):
    with pytest.raises(ValueError, match=r"teacher's block 1 has 4 heads but the student's "
                       r'last block 2.*model.backbone.last_heads=4'):
        build_tinymim(teachers['export'], last_heads=None)
    with pytest.raises(ValueError, match='last_heads=3 does not divide the width 32'):
        build_tinymim(teachers['export'], last_heads=3)
    with pytest.raises(ValueError, match=r'teacher \(target_generator\) has no init_cfg'):
        build_in_scope(dict(type='TinyMIM', backbone=dict(type='TinyMIMViT', arch=STUDENT),
                            target_generator=dict(type='PlainViT', arch=ARCH)))
    with pytest.raises(ValueError, match='block index 5 is out of range for 2 blocks'):
        build_tinymim(teachers['export'], teacher_block=5)


@pytest.mark.parametrize('layout,name', [
    ('official_mae', 'official MAE (timm names)'),
    ('mmpretrain', 'mmpretrain'),
    ('export', 'mim_det export'),
])
def test_a_teacher_from_each_layout_loads_and_reports(teachers, layout, name):
    import logging
    from mmengine.logging import MMLogger
    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        model = build_tinymim(teachers[layout])
    finally:
        logger.removeHandler(handler)
    report = '\n'.join(r for r in records if 'load_vit_checkpoint' in r)
    assert f'layout: {name}' in report and '-> PlainViT' in report, report[-2000:]
    assert 'suspicious' not in report.lower()
    src = teachers['src'].state_dict()
    own = model.target_generator.state_dict()
    for key in ('patch_embed.projection.weight', 'layers.1.attn.qkv.weight',
                'layers.1.ffn.layers.1.bias'):
        assert torch.equal(own[key], src[key]), (layout, key)


@pytest.mark.parametrize('target', ['cls_token', 'feature'])
def test_ablation_targets_train_the_projection(teachers, target):
    model = build_tinymim(teachers['export'], last_heads=None, target=target)
    losses = model.loss(images(), None)
    assert set(losses) == {'loss_feature'} and losses['loss_feature'].item() > 0
    losses['loss_feature'].backward()
    assert model.projector.weight.shape == (D, STUDENT['embed_dims'])
    assert model.projector.weight.grad.abs().sum() > 0
    assert model.backbone.ln1.weight.grad is not None  # the student's full last block runs


def test_views_share_the_crop_and_jitter_the_student_copy(small_data):
    from mmengine.dataset import Compose
    from mmengine.registry import DefaultScope
    cfg = Config.fromfile(osp.join(ROOT, TINY))
    image = sorted(__import__('glob').glob(osp.join(small_data, 'pretrain', 'train', '**',
                                                    '*.jpg'), recursive=True))[0]
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        import mmpretrain.datasets  # noqa: F401  (registers the transforms)
        pipeline = Compose(cfg.train_pipeline)
    np.random.seed(0)
    teacher_view, student_view = pipeline(dict(img_path=image))['inputs']
    assert teacher_view.shape == student_view.shape == (3, 96, 96)
    a, b = teacher_view.float().flatten(), student_view.float().flatten()
    assert not torch.equal(a, b)
    # colour jitter keeps the geometry: the two views are strongly correlated pixel by pixel
    assert torch.corrcoef(torch.stack([a, b]))[0, 1] > 0.8


def tiny_teacher(path: str) -> str:
    """A random ViT of the tiny MAE row's shape (128-d, 4 blocks, 4 heads, patch 8, 96 px,
    cls token + absolute position) in mmpretrain's layout."""
    from mim_det.downstream import PlainViT
    torch.manual_seed(0)
    vit = PlainViT(arch=dict(embed_dims=128, num_layers=4, num_heads=4,
                             feedforward_channels=512), img_size=96, pretrain_img_size=96,
                   patch_size=8, with_cls_token=True, use_abs_pos=True, window_size=0,
                   global_attn_indexes=(), drop_path_rate=0.)
    vit.init_weights()
    state = {f'backbone.{k}': v for k, v in vit.state_dict().items()}
    torch.save({'state_dict': state}, path)
    return path


@pytest.fixture(scope='module')
def distilled(tmp_path_factory, small_data):
    """30 iterations of the tiny TinyMIM config through tools/train.py, then the export."""
    work = tmp_path_factory.mktemp('tinymim_tiny')
    teacher = tiny_teacher(str(work / 'teacher.pth'))
    return pretrain_and_export(work / 'run', TINY, small_data, 30, [
        f'model.target_generator.init_cfg.checkpoint={teacher}', 'log_processor.window_size=5',
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False'])


def test_tiny_distillation_lowers_the_loss(distilled):
    rows = training_losses(distilled['work'])
    losses = [loss for _, loss in rows]
    assert len(losses) >= 6 and losses[-1] < 0.7 * losses[0], losses


@pytest.mark.parametrize('config,scope', [
    ('configs/vitdet/tinymim_maskrcnn_tiny_embedded.py', 'mmdet'),
    ('configs/upernet/tinymim_upernet_tiny_embedded.py', 'mmseg'),
])
def test_student_export_fills_the_downstream_backbones(distilled, config, scope):
    state, meta = load_backbone_export(distilled['export'])
    assert meta['method'] == 'tinymim' and meta['backbone_type'] == 'TinyMIMViT'
    assert meta['pos_encoding'] == 'absolute_sincos'
    assert meta['arch']['embed_dims'] == 96
    assert not any(k.startswith(('target_generator', 'projector')) for k in state)
    cfg = Config.fromfile(osp.join(ROOT, config))
    backbone = build_in_scope(dict(cfg.model.backbone, init_cfg=None), scope)
    report = load_vit_checkpoint(backbone, distilled['export'])
    assert report['suspicious'] == []
    loaded = set(report['loaded'])
    assert {f'layers.{i}.attn.qkv.weight' for i in range(4)} <= loaded
    assert 'pos_embed' in loaded or 'pos_embed' in report['interpolated']
    assert torch.equal(backbone.state_dict()['layers.3.attn.qkv.weight'],
                       state['layers.3.attn.qkv.weight'])


CHAIN = [
    # config, student arch, last_heads, teacher arch, teacher block
    ('tinymim_vit-base-p16_mae-vit-large-teacher_8xb512-amp-300e_in1k.py', 'b', 16, 'l', 17),
    ('tinymim_vit-small-p16_vit-base-teacher_8xb512-amp-300e_in1k.py', 'deit-s', 12, 'b', -1),
    ('tinymim_vit-tiny-p16_vit-small-teacher_8xb512-amp-300e_in1k.py', 'tinymim-t', 6, 'deit-s',
     -1),
]


@pytest.mark.parametrize('name,student,last_heads,teacher,block', CHAIN)
def test_paper_configs_hold_the_recipe(name, student, last_heads, teacher, block):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'tinymim', name))
    model = cfg.model
    assert model.type == 'TinyMIM' and model.target == 'relation'
    assert model.backbone.arch == student and model.backbone.last_heads == last_heads
    assert model.backbone.drop_path_rate == 0.1
    if name == CHAIN[-1][0]:  # the official uniform rate, none in the last block
        student = build_in_scope(dict(model.backbone, img_size=32))
        rates = [getattr(layer.drop_path, 'drop_prob', 0.) for layer in student.layers]
        assert rates == [0.1] * 11 + [0.]
    assert model.target_generator.arch == teacher and model.teacher_block == block
    assert model.target_generator.init_cfg.type == 'Pretrained'
    # 300 epochs, batch 8 x 512 = 4096, blr 1.5e-4 -> 2.4e-3, AdamW (0.9, 0.95), wd 0.05,
    # 15 warm-up epochs, cosine, AMP
    assert cfg.train_cfg.max_epochs == 300 and cfg.train_dataloader.batch_size == 512
    optimizer = cfg.optim_wrapper.optimizer
    assert optimizer.type == 'AdamW' and optimizer.lr == pytest.approx(2.4e-3)
    assert tuple(optimizer.betas) == (0.9, 0.95) and optimizer.weight_decay == 0.05
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    warmup, cosine = cfg.param_scheduler
    assert warmup.end == 15 and cosine.type == 'CosineAnnealingLR' and cosine.end == 300
    assert cfg.auto_scale_lr.base_batch_size == 4096
    # one shared crop + flip, the student's copy colour-jittered (0.4, 0.4, 0.4), no masking
    crop, flip, views = cfg.train_pipeline[1:4]
    assert crop.crop_ratio_range == (0.2, 1.0) and crop.interpolation == 'bicubic'
    assert views.type == 'MultiView' and views.transforms[0] == []
    [jitter] = views.transforms[1]
    assert (jitter.brightness, jitter.contrast, jitter.saturation) == (0.4, 0.4, 0.4)


def test_relations_stay_fp32_under_autocast(teachers):
    model = build_tinymim(teachers['export'])
    with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
        tokens, _ = model.backbone.tokens_entering(images(), -1)
        qk, vv = block_relations(model.backbone.layers[-1], tokens)
        losses = model.loss(images(), None)
    assert tokens.dtype == torch.bfloat16  # the blocks did run in half precision
    assert qk.dtype == vv.dtype == torch.float32
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in losses.values())
