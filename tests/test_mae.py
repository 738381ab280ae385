"""MAE (mmpretrain's, He et al. CVPR 2022) in mim_det: the masking and loss the tiny recipe relies
on, the paper configs, and tiny pretraining -> export -> the loader report of both downstream
tiny configs."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config

import mim_det.downstream  # noqa: F401  (PlainViT for the fine-tuning configs)
from conftest import ROOT, build_in_scope, pretrain_and_export, training_losses

TINY = 'configs/mae/mae_vit-tiny-p8_embedded.py'
ITERS = 40
LOG = 'silent'


@pytest.fixture(scope='module')
def tiny_model():
    torch.manual_seed(0)
    model = build_in_scope(Config.fromfile(osp.join(ROOT, TINY)).model)
    model.init_weights()
    return model


def test_random_masking_keeps_a_quarter_of_each_image(tiny_model):
    backbone = tiny_model.backbone
    tokens = torch.randn(3, 144, 128)  # 96 px / patch 8 -> 12 x 12 patches
    kept, mask, ids_restore = backbone.random_masking(tokens, 0.75)
    assert kept.shape == (3, 36, 128)  # 25% of 144
    assert mask.shape == (3, 144) and torch.all(mask.sum(1) == 108)
    assert torch.equal(ids_restore.sort(1).values, torch.arange(144).expand(3, -1))
    # the kept tokens are the unmasked ones, in the shuffled order
    for b in range(3):
        visible = tokens[b][mask[b] == 0]
        assert torch.equal(kept[b].sort(0).values, visible.sort(0).values)
    # different images get different masks
    assert not torch.equal(mask[0], mask[1])


def test_decoder_predicts_every_patch(tiny_model):
    imgs = torch.randn(2, 3, 96, 96)
    latent, mask, ids_restore = tiny_model.backbone(imgs)
    assert latent.shape == (2, 1 + 36, 128)  # cls + visible
    pred = tiny_model.neck(latent, ids_restore)
    assert pred.shape == (2, 144, 8 * 8 * 3)


def test_loss_counts_masked_patches_only(tiny_model):
    head = tiny_model.head
    imgs = torch.randn(2, 3, 96, 96)
    pred = torch.randn(2, 144, 192)
    mask = torch.zeros(2, 144)
    mask[:, :100] = 1
    base = head.loss(pred, imgs, mask)
    changed_visible = pred.clone()
    changed_visible[:, 100:] += 5.0
    assert torch.allclose(head.loss(changed_visible, imgs, mask), base)
    changed_masked = pred.clone()
    changed_masked[:, :10] += 5.0
    assert head.loss(changed_masked, imgs, mask) > base + 0.1
    # norm_pix: a prediction of the per-patch normalised target scores zero
    target = head.construct_target(imgs)
    assert torch.allclose(target.mean(-1), torch.zeros(2, 144), atol=1e-5)
    assert head.loss(target, imgs, mask) < 1e-8


@pytest.mark.parametrize('arch,epochs', [('base', 1600), ('base', 800), ('base', 400),
                                         ('large', 1600), ('large', 800), ('large', 400)])
def test_paper_configs_hold_the_recipe(arch, epochs):
    cfg = Config.fromfile(osp.join(
        ROOT, f'configs/mae/mae_vit-{arch}-p16_8xb512-amp-coslr-{epochs}e_in1k.py'))
    model = cfg.model
    assert model.backbone.arch == arch[0] and model.backbone.mask_ratio == 0.75
    assert model.head.norm_pix is True
    assert (model.neck.decoder_depth, model.neck.decoder_embed_dim) == (8, 512)
    assert model.neck.embed_dim == {'base': 768, 'large': 1024}[arch]
    batch = cfg.train_dataloader.batch_size * 8
    assert batch == 4096 == cfg.auto_scale_lr.base_batch_size
    opt = cfg.optim_wrapper.optimizer
    assert opt.lr == pytest.approx(1.5e-4 * batch / 256)
    assert tuple(opt.betas) == (0.9, 0.95) and opt.weight_decay == 0.05
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    warmup, cosine = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and warmup.end == 40
    assert cosine.type == 'CosineAnnealingLR' and cosine.end == epochs == cfg.train_cfg.max_epochs
    crop = cfg.train_dataloader.dataset.pipeline[1]
    assert crop.type == 'RandomResizedCrop' and tuple(crop.crop_ratio_range) == (0.2, 1.0)
    assert crop.interpolation == 'bicubic' and crop.scale == 224
    assert 'mim_det' in cfg.custom_imports.imports


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory, small_data):
    """40 iterations of the tiny MAE config through tools/train.py, then the export."""
    return pretrain_and_export(tmp_path_factory.mktemp('mae_tiny'), TINY, small_data, ITERS,
                               ['log_processor.window_size=5'])


def test_tiny_pretraining_lowers_the_loss(pretrained):
    losses = [loss for _, loss in training_losses(pretrained['work'])]
    assert len(losses) >= ITERS // 5
    # norm_pix targets have unit variance per patch; the untrained model starts above 1
    assert losses[0] > 0.9 and losses[-1] < 0.85 * losses[0], losses
    # and TensorBoard got the same scalars
    assert glob.glob(osp.join(pretrained['work'], '*', 'vis_data', 'events.out.tfevents.*'))


@pytest.mark.parametrize('config,scope', [
    ('configs/vitdet/mae_maskrcnn_tiny_embedded.py', 'mmdet'),
    ('configs/upernet/mae_upernet_tiny_embedded.py', 'mmseg'),
])
def test_export_fills_the_downstream_backbones(pretrained, config, scope):
    from mim_det.checkpoint import load_backbone_export, load_vit_checkpoint
    state, meta = load_backbone_export(pretrained['export'])
    assert meta['method'] == 'mae' and meta['backbone_type'] == 'MAEViT'
    assert meta['pos_encoding'] == 'absolute_sincos'
    assert 'mask_token' not in state
    cfg = Config.fromfile(osp.join(ROOT, config))
    backbone = build_in_scope(dict(cfg.model.backbone, init_cfg=None), scope)
    report = load_vit_checkpoint(backbone, pretrained['export'], logger=LOG)
    assert report['suspicious'] == []
    loaded = set(report['loaded'])
    for i in range(4):
        for name in ('attn.qkv.weight', 'attn.proj.weight', 'ffn.layers.0.0.weight',
                     'ln1.weight'):
            assert f'layers.{i}.{name}' in loaded, (config, name)
    assert 'patch_embed.projection.weight' in loaded
    # the fixed sin-cos table is carried over (resized to the fine-tuning grid where needed)
    assert 'pos_embed' in loaded or 'pos_embed' in report['interpolated']
    own = backbone.state_dict()
    assert torch.equal(own['layers.2.attn.qkv.weight'], state['layers.2.attn.qkv.weight'])
