"""The LoMaR paper-scale configs carry the paper's recipe (arXiv 2206.00790) exactly."""
import os.path as osp

import pytest
from mmengine.config import Config

from conftest import ROOT


def _cfg(name):
    return Config.fromfile(osp.join(ROOT, 'configs/lomar', name))


def _scheduler(cfg, kind):
    [s] = [s for s in cfg.param_scheduler if s.type == kind]
    return s


@pytest.mark.parametrize('name,size,windows,epochs,warmup,arch', [
    ('pretrain_in1k.py', 224, 4, 1600, 40, 'b'),
    ('pretrain_in1k_400e.py', 224, 4, 400, 20, 'b'),
    ('pretrain_in1k_384px.py', 384, 6, 1600, 40, 'b'),
    ('pretrain_in1k_448px.py', 448, 9, 1600, 40, 'b'),
    ('pretrain_vit-large_in1k.py', 224, 4, 1600, 40, 'l'),
])
def test_pretraining_recipe(name, size, windows, epochs, warmup, arch):
    cfg = _cfg(name)
    model = cfg.model
    assert model.type == 'LoMaR' and model.backbone.type == 'LoMaRViT'
    assert model.backbone.arch == arch and model.backbone.patch_size == 16
    assert model.backbone.img_size == size
    assert model.head.embed_dims == {'b': 768, 'l': 1024}[arch]
    assert model.head.norm_pix is True and model.head.patch_size == 16
    assert model.head.loss == dict(type='PixelReconstructionLoss', criterion='L2')
    assert dict(model.window_sampler) == dict(type='WindowSampler', window_size=7,
                                              num_windows=windows, mask_ratio=0.8,
                                              position_mode='per_image')
    assert model.backbone.rel_pos_cfgs == [
        dict(type='ContextualRPE', alpha=1.9, beta=3.8, gamma=15.2)]

    ow = cfg.optim_wrapper
    assert ow.type == 'AmpOptimWrapper'
    assert ow.optimizer.type == 'AdamW' and ow.optimizer.betas == (0.9, 0.95)
    assert ow.optimizer.weight_decay == 0.05
    assert ow.optimizer.lr == pytest.approx(1.5e-4 * 4096 / 256)
    # 8 GPUs: batch per GPU x accumulation x 8 = the paper's 4096
    assert cfg.train_dataloader.batch_size * ow.accumulative_counts * 8 == 4096
    assert cfg.auto_scale_lr.base_batch_size == 4096
    # the official groups (timm add_weight_decay): only 1-D parameters are exempt
    assert ow.paramwise_cfg == dict(flat_decay_mult=0.0)

    warm = _scheduler(cfg, 'LinearLR')
    cos = _scheduler(cfg, 'CosineAnnealingLR')
    assert warm.by_epoch and warm.convert_to_iter_based and warm.end == warmup
    assert cos.begin == warmup and cos.end == epochs and cos.T_max == epochs - warmup
    assert cos.convert_to_iter_based and cos.eta_min == 0.0
    assert cfg.train_cfg.max_epochs == epochs

    data = cfg.train_dataloader.dataset
    assert data.type == 'ImageNet' and data.data_root == 'data/imagenet/'
    crop = [t for t in data.pipeline if t.type == 'RandomResizedCrop'][0]
    assert crop.scale == size and crop.crop_ratio_range == (0.2, 1.0)
    assert crop.interpolation == 'bicubic'
    assert any(t.type == 'RandomFlip' and t.prob == 0.5 for t in data.pipeline)


def test_finetune_recipe():
    cfg = _cfg('finetune_in1k.py')
    backbone = cfg.model.backbone
    assert cfg.model.type == 'ImageClassifier'
    # the downstream ViT with LoMaR's position handling: no mask token to leave unused
    assert backbone.type == 'PlainViT' and backbone.arch == 'b'
    assert backbone.with_cls_token is True and backbone.use_abs_pos is False
    assert backbone.window_size == 0 and backbone.rel_pos_cfgs == [
        dict(type='ContextualRPE', alpha=1.9, beta=3.8, gamma=15.2)]
    assert 'mim_det.downstream' in cfg.custom_imports.imports
    assert backbone.out_type == 'avg_featmap' and backbone.final_norm is False
    assert backbone.drop_path_rate == 0.1
    assert backbone.init_cfg.type == 'Pretrained'
    head = cfg.model.head
    assert head.loss == dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')
    assert head.init_cfg[0] == dict(type='TruncNormal', layer='Linear', std=2e-5)
    augments = {a.type: a.alpha for a in cfg.model.train_cfg.augments}
    assert augments == {'Mixup': 0.8, 'CutMix': 1.0}
    ow = cfg.optim_wrapper
    assert ow.constructor == 'LearningRateDecayOptimWrapperConstructor'
    assert ow.paramwise_cfg.layer_decay_rate == 0.65
    # util/lr_decay.py of the official code: no decay on 1-D, pos_embed and cls_token only
    assert ow.paramwise_cfg.flat_decay_mult == 0.0
    assert ow.paramwise_cfg.custom_keys == {'.cls_token': dict(decay_mult=0.0),
                                            '.pos_embed': dict(decay_mult=0.0)}
    assert ow.optimizer.lr == pytest.approx(5e-4 * 1024 / 256)
    assert ow.optimizer.betas == (0.9, 0.999) and ow.optimizer.weight_decay == 0.05
    assert cfg.train_dataloader.batch_size * 8 == 1024 == cfg.auto_scale_lr.base_batch_size
    assert cfg.train_cfg.max_epochs == 100
    warm = _scheduler(cfg, 'LinearLR')
    assert warm.end == 5 and _scheduler(cfg, 'CosineAnnealingLR').end == 100
    pipeline = {t.type: t for t in cfg.train_dataloader.dataset.pipeline}
    assert pipeline['RandAugment'].magnitude_level == 9
    assert pipeline['RandomErasing'].erase_prob == 0.25
    assert cfg.train_dataloader.dataset.data_root == 'data/imagenet'


def test_official_windows_config_reproduces_the_official_placement():
    cfg, default = _cfg('pretrain_in1k_official-windows.py'), _cfg('pretrain_in1k.py')
    assert cfg.model.window_sampler.position_mode == 'official'
    assert default.model.window_sampler.position_mode == 'per_image'
    a, b = cfg.to_dict(), default.to_dict()
    a['model']['window_sampler'].pop('position_mode')
    b['model']['window_sampler'].pop('position_mode')
    assert a == b  # nothing else differs


def _groups(model, optim_wrapper_cfg):
    """{parameter name: weight decay} of the optimizer the config builds for ``model``."""
    import copy
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope
    cfg = copy.deepcopy(optim_wrapper_cfg)
    cfg.update(type='OptimWrapper')  # AMP needs a GPU; the groups do not depend on it
    cfg.pop('loss_scale', None)
    cfg.pop('accumulative_counts', None)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        wrapper = build_optim_wrapper(model, cfg)
    decay = {id(p): g['weight_decay'] for g in wrapper.optimizer.param_groups
             for p in g['params']}
    named = dict(model.named_parameters())
    assert len(decay) == len(named)
    return {name: decay[id(p)] for name, p in named.items()}


SMALL_ARCH = dict(embed_dims=64, num_layers=2, num_heads=4, feedforward_channels=128)


def test_pretraining_weight_decay_groups_are_the_official_ones():
    """junchen14/LoMaR (timm add_weight_decay): every 1-D parameter and bias undecayed; the cls
    and mask tokens and the RPE tables (1, d, 50) decayed."""
    import copy
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    cfg = _cfg('pretrain_in1k.py')
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.arch = SMALL_ARCH
    model_cfg.head.embed_dims = 64
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(model_cfg)
    decay = _groups(model, cfg.optim_wrapper)
    for name, wd in decay.items():
        expected = 0.0 if dict(model.named_parameters())[name].ndim == 1 else 0.05
        assert wd == expected, name
    for name in ('backbone.cls_token', 'backbone.mask_token',
                 'backbone.layers.1.attn.rpe_k.lookup_table_weight'):
        assert decay[name] == 0.05, name
    assert decay['backbone.layers.0.attn.qkv.bias'] == 0.0
    assert decay['backbone.ln1.weight'] == 0.0


def test_finetune_weight_decay_groups_are_the_official_ones():
    """util/lr_decay.py of the official fine-tuning: 1-D, pos_embed and cls_token undecayed;
    the RPE tables decayed."""
    import copy
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    import mim_det.downstream  # noqa: F401  (PlainViT)
    cfg = _cfg('finetune_in1k.py')
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.arch = SMALL_ARCH
    model_cfg.backbone.pop('init_cfg')
    model_cfg.head.in_channels = 64
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(model_cfg)
    decay = _groups(model, cfg.optim_wrapper)
    named = dict(model.named_parameters())
    for name, wd in decay.items():
        exempt = named[name].ndim == 1 or name.endswith(('cls_token', 'pos_embed'))
        assert wd == (0.0 if exempt else 0.05), name
    assert decay['backbone.cls_token'] == 0.0
    assert decay['backbone.layers.1.attn.rpe_k.lookup_table_weight'] == 0.05
    assert not any('mask_token' in name for name in named)  # nothing pretraining-only
