"""ViTDet parts besides the backbone: simple feature pyramid, layer-wise lr decay, fp16 DDP
gradient compression (Li et al., ECCV 2022)."""
import glob
import logging
import math
import os.path as osp

import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.model import BaseModel, MMDistributedDataParallel
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmpretrain.models.utils.norm import LayerNorm2d
from torch import nn
from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import fp16_compress_hook
from torch.nn.parallel import DistributedDataParallel

from mim_det.downstream import (PlainViT, SimpleFeaturePyramid,  # registers every component
                                ViTLayerDecayOptimWrapperConstructor)
from mim_det.engine.hooks.fp16_compression_hook import Fp16CompressionHook

from conftest import free_port

MMDET_CONFIGS = osp.join(osp.dirname(__import__('mmdet').__file__), '.mim', 'configs')
NUM_LAYERS = 4
ARCH = dict(embed_dims=64, num_layers=NUM_LAYERS, num_heads=4, feedforward_channels=128)
BASE_LR, BASE_WD, RATE = 1e-4, 0.1, 0.7
NO_DECAY_KEYS = ('pos_embed', 'rel_pos_h', 'rel_pos_w', 'rpe_k')
PARAMWISE = dict(layer_decay_rate=RATE, flat_decay_mult=0.,
                 custom_keys={k: dict(decay_mult=0.) for k in NO_DECAY_KEYS})


# ----------------------------------------------------------------- SimpleFeaturePyramid
def build_neck(**kwargs) -> SimpleFeaturePyramid:
    cfg = dict(type='SimpleFeaturePyramid', backbone_channel=64, out_channels=32, num_outs=5)
    cfg.update(kwargs)
    with DefaultScope.overwrite_default_scope('mmdet'):
        from mmdet.registry import MODELS
        neck = MODELS.build(cfg)
    neck.init_weights()
    return neck


@pytest.mark.parametrize('factors, in_channels, sizes', [
    ((4, 2, 1, 0.5), [16, 32, 64, 64], [64, 32, 16, 8, 4]),
    ((2, 1, 0.5, 0.25), [32, 64, 64, 64], [32, 16, 8, 4, 2]),
])
def test_neck_levels_shapes_and_gradients(factors, in_channels, sizes):
    neck = build_neck(scale_factors=factors, in_channels=in_channels)
    x = torch.randn(2, 64, 16, 16, requires_grad=True)
    # the backbone tuple: only its last element is used
    outs = neck((torch.randn(2, 64, 5, 5), x))
    assert [tuple(o.shape) for o in outs] == [(2, 32, s, s) for s in sizes]
    sum((o * torch.randn_like(o)).sum() for o in outs).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, p in neck.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_neck_norms_are_channel_layernorms():
    neck = build_neck(scale_factors=(4, 2, 1, 0.5))
    norms = [neck.rescales[0][1]] + [m.norm for m in (*neck.lateral_convs, *neck.fpn_convs)]
    seen = []
    for norm in norms:
        assert isinstance(norm, LayerNorm2d) and norm.eps == 1e-6
        assert torch.equal(norm.bias, torch.zeros_like(norm.bias))  # the default init
        norm.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
    neck((torch.randn(2, 64, 8, 8) * 3 + 1, ))
    assert len(seen) == len(norms)
    for out in seen:  # (B, C, H, W): normalised over C at every pixel
        assert out.mean(dim=1).abs().max() < 1e-4
        assert (out.var(dim=1, unbiased=False) - 1).abs().max() < 1e-2


def test_neck_init_cfg_reaches_the_convs():
    """Caffe2Xavier (kaiming-uniform a=1, bound sqrt(3 / fan_in)) and not ConvModule's own
    kaiming-normal, which would exceed the bound."""
    neck = build_neck()
    for conv in [m.conv for m in (*neck.lateral_convs, *neck.fpn_convs)]:
        bound = math.sqrt(3 / conv.weight[0].numel())
        assert conv.weight.abs().max() <= bound
        assert conv.weight.abs().max() > 0.9 * bound
        assert conv.bias is None


def test_neck_rejects_inconsistent_config():
    with pytest.raises(ValueError, match='in_channels'):
        build_neck(in_channels=[64, 64, 64, 64])
    with pytest.raises(ValueError, match='not supported'):
        build_neck(scale_factors=(3, 1))
    with pytest.raises(ValueError, match='decreasing'):
        build_neck(scale_factors=(0.5, 1, 2, 4))


# ---------------------------------------------------------------------- layer decay
def vit_cfg(**kwargs) -> dict:
    cfg = dict(type='PlainViT', arch=ARCH, patch_size=16, img_size=64, pretrain_img_size=64,
               window_size=2, global_attn_indexes=(1, 3),
               rel_pos_cfgs=[dict(type='DecomposedRelPos')], drop_path_rate=0.)
    cfg.update(kwargs)
    return cfg


@pytest.fixture(scope='module')
def mask_rcnn():
    """mmdet's Mask R-CNN with the PlainViT backbone and the simple feature pyramid."""
    cfg = Config.fromfile(osp.join(MMDET_CONFIGS, '_base_/models/mask-rcnn_r50_fpn.py')).model
    cfg.backbone = vit_cfg()
    cfg.neck = dict(type='SimpleFeaturePyramid', backbone_channel=64,
                    in_channels=[16, 32, 64, 64], out_channels=256, num_outs=5)
    with DefaultScope.overwrite_default_scope('mmdet'):
        from mmdet.registry import MODELS
        model = MODELS.build(cfg)
    return model


@pytest.fixture(scope='module')
def segmentor():
    """An mmseg EncoderDecoder whose PlainViT uses contextual RPE (``rpe_k``) too."""
    cfg = dict(type='EncoderDecoder',
               data_preprocessor=dict(type='SegDataPreProcessor', size=(64, 64)),
               backbone=vit_cfg(window_size=0, rel_pos_cfgs=[dict(type='ContextualRPE')]),
               decode_head=dict(type='FCNHead', in_channels=64, channels=16, num_convs=1,
                                num_classes=3, norm_cfg=dict(type='BN')))
    with DefaultScope.overwrite_default_scope('mmseg'):
        from mmseg.registry import MODELS
        model = MODELS.build(cfg)
    return model


def expected_depth(name: str) -> int:
    if name.startswith(('backbone.patch_embed', 'backbone.pos_embed')):
        return 0
    if name.startswith('backbone.layers.'):
        return int(name.split('.')[2]) + 1
    return NUM_LAYERS + 1


def expected_wd(name: str, param: torch.Tensor) -> float:
    return 0. if param.ndim == 1 or any(k in name for k in NO_DECAY_KEYS) else BASE_WD


def wrapper_cfg() -> dict:
    """The ``optim_wrapper_cfg`` a constructor receives (config less constructor and
    paramwise_cfg)."""
    return dict(optimizer=dict(type='AdamW', lr=BASE_LR, betas=(0.9, 0.999),
                               weight_decay=BASE_WD))


def optim_cfg() -> dict:
    return dict(wrapper_cfg(), constructor='ViTLayerDecayOptimWrapperConstructor',
                paramwise_cfg=PARAMWISE)


class ListHandler(logging.Handler):
    """Keeps the formatted messages of the records it receives."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def log_messages(request):
    logger = MMLogger.get_instance(f'test_vitdet_parts_{request.node.name}', log_level='INFO')
    handler = ListHandler()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def check_groups(model: nn.Module, param_groups: list, required: tuple):
    """Every trainable parameter in exactly one group, with the ViTDet lr and weight decay."""
    by_id = {id(p): (name, p) for name, p in model.named_parameters()}
    seen = []
    for group in param_groups:
        for p in group['params']:
            name, param = by_id[id(p)]
            seen.append(id(p))
            depth = expected_depth(name)
            assert group['layer_id'] == depth, name
            assert group['lr_scale'] == pytest.approx(RATE ** (NUM_LAYERS + 1 - depth)), name
            assert group['lr'] == pytest.approx(BASE_LR * RATE ** (NUM_LAYERS + 1 - depth)), name
            assert group['weight_decay'] == expected_wd(name, param), name
    assert len(seen) == len(set(seen)) == len(by_id)
    names = [by_id[i][0] for i in seen]
    # the model really has what the rules are about
    for part in required + ('backbone.patch_embed', f'backbone.layers.{NUM_LAYERS - 1}.'):
        assert any(part in n for n in names), part
    assert {expected_depth(n) for n in names} == set(range(NUM_LAYERS + 2))


def test_layer_decay_on_mask_rcnn(mask_rcnn, log_messages):
    with DefaultScope.overwrite_default_scope('mmdet'):
        optim_wrapper = build_optim_wrapper(mask_rcnn, optim_cfg())
    assert type(optim_wrapper.optimizer).__name__ == 'AdamW'
    check_groups(mask_rcnn, optim_wrapper.optimizer.param_groups,
                 required=('pos_embed', 'rel_pos_h', 'rel_pos_w', 'neck.', 'rpn_head.',
                           'roi_head.mask_head.'))
    # the head really trains at base lr, block 0 at 0.7^4 of it
    lrs = {g['param_name']: g['lr'] for g in optim_wrapper.optimizer.param_groups}
    assert lrs['roi_head.bbox_head.fc_cls.weight'] == pytest.approx(BASE_LR)
    assert lrs['backbone.layers.0.attn.qkv.weight'] == pytest.approx(BASE_LR * RATE ** 4)

    table = [m for m in log_messages if 'ViTLayerDecayOptimWrapperConstructor' in m]
    assert len(table) == 1
    lines = table[0].splitlines()
    assert lines[1].split()[:6] == ['layer', 'lr_scale', 'lr', 'weight_decay', 'tensors',
                                    'params']
    rows = [line.split() for line in lines[2:-1]]
    assert {int(r[0]) for r in rows} == set(range(NUM_LAYERS + 2))
    for r in rows:
        assert float(r[1]) == pytest.approx(RATE ** (NUM_LAYERS + 1 - int(r[0])), rel=1e-3)
        assert float(r[3]) in (0., BASE_WD)
    assert sum(int(r[4]) for r in rows) == len(list(mask_rcnn.parameters()))
    assert sum(int(r[5]) for r in rows) == sum(p.numel() for p in mask_rcnn.parameters())
    assert 'FIRST parameter group' in lines[-1] and 'not an average' in lines[-1]


def test_mask_rcnn_features_from_the_pyramid(mask_rcnn):
    feats = mask_rcnn.extract_feat(torch.randn(1, 3, 64, 64))
    assert [tuple(f.shape) for f in feats] == [(1, 256, s, s) for s in (16, 8, 4, 2, 1)]


def test_layer_decay_through_mmseg_registry(segmentor):
    from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS
    # as an mmseg runner builds it: Registry.build looks in the *current* default scope, which
    # an earlier test's Runner may have left at 'mmengine'
    with DefaultScope.overwrite_default_scope('mmseg'):
        constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
            type='ViTLayerDecayOptimWrapperConstructor', optim_wrapper_cfg=wrapper_cfg(),
            paramwise_cfg=PARAMWISE))
    assert type(constructor) is ViTLayerDecayOptimWrapperConstructor
    optim_wrapper = constructor(segmentor)
    groups = optim_wrapper.optimizer.param_groups
    check_groups(segmentor, groups, required=('pos_embed', 'rpe_k', 'decode_head.'))
    by_name = {g['param_name']: g for g in groups}
    assert by_name['backbone.layers.2.attn.rpe_k.lookup_table_weight']['weight_decay'] == 0.
    assert by_name['backbone.layers.2.attn.rpe_k.lookup_table_weight']['layer_id'] == 3
    assert by_name['backbone.layers.2.attn.qkv.weight']['weight_decay'] == BASE_WD


def test_layer_decay_clear_errors():
    from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS
    cfg = wrapper_cfg()
    with DefaultScope.overwrite_default_scope('mmdet'):
        constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
            type='ViTLayerDecayOptimWrapperConstructor', optim_wrapper_cfg=cfg,
            paramwise_cfg=PARAMWISE))
    model = nn.Module()
    model.backbone = nn.Linear(2, 2)
    with pytest.raises(NotImplementedError, match='get_layer_depth'):
        constructor(model)
    with pytest.raises(ValueError, match='layer_decay_rate'):
        ViTLayerDecayOptimWrapperConstructor(cfg, dict(flat_decay_mult=0.))
    with pytest.raises(ValueError, match='lr_mult'):
        ViTLayerDecayOptimWrapperConstructor(
            cfg, dict(PARAMWISE, custom_keys={'pos_embed': dict(lr_mult=0.1)}))


# -------------------------------------------------------------------------- DDP parts
@pytest.fixture(scope='module')
def gloo_group():
    """A real one-process gloo process group on CPU."""
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{free_port()}', rank=0,
                            world_size=1)
    yield
    dist.destroy_process_group()


class ToyModel(BaseModel):
    """Two linear layers and a squared loss, enough for a runner to train."""

    def __init__(self):
        super().__init__()
        self.backbone = PlainViT(arch=ARCH, patch_size=16, img_size=32, pretrain_img_size=32,
                                 window_size=0, drop_path_rate=0.)
        self.head = nn.Linear(64, 1)

    def forward(self, inputs, target=None, mode='tensor'):
        out = self.head(self.backbone(inputs)[-1].mean(dim=(2, 3))).squeeze(1)
        if mode == 'loss':
            return dict(loss=((out - target) ** 2).mean())
        return out


def data(n=4):
    g = torch.Generator().manual_seed(0)
    return [dict(inputs=torch.randn(3, 32, 32, generator=g), target=torch.randn((), generator=g))
            for _ in range(n)]


def make_runner(tmp_path, model, launcher, name, max_iters=1, **kwargs):
    return Runner(
        model=model, work_dir=str(tmp_path / name), experiment_name=name, launcher=launcher,
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
        train_dataloader=torch.utils.data.DataLoader(data(), batch_size=2),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False)),
        custom_hooks=[dict(type='Fp16CompressionHook')], **kwargs)


def runner_log(runner) -> str:
    return ''.join(open(p).read() for p in glob.glob(osp.join(runner.log_dir, '*.log')))


def test_layer_decay_unwraps_ddp(gloo_group, mask_rcnn):
    ddp = DistributedDataParallel(mask_rcnn, find_unused_parameters=True)
    constructor = ViTLayerDecayOptimWrapperConstructor(wrapper_cfg(), PARAMWISE)
    params = []
    constructor.add_params(params, ddp)  # the wrapper itself, not only through __call__
    check_groups(mask_rcnn, params, required=('neck.', 'roi_head.'))
    assert not any(g['param_name'].startswith('module.') for g in params)


def test_fp16_compression_on_ddp(gloo_group, tmp_path):
    torch.manual_seed(0)
    ddp = MMDistributedDataParallel(module=ToyModel(), device_ids=None)
    runner = make_runner(tmp_path, ddp, 'pytorch', 'fp16_ddp')
    assert runner.distributed and isinstance(runner.model, DistributedDataParallel)
    hooks = [h for h in runner.hooks if isinstance(h, Fp16CompressionHook)]
    assert len(hooks) == 1
    runner.train()  # before_train registers; one iteration runs with compression
    assert [h for h, _ in ddp._comm_hooks] == [fp16_compress_hook]
    assert 'DDP gradients are all-reduced in float16' in runner_log(runner)
    # a second before_train (train() again, as on the same model) must not raise
    hooks[0].before_train(runner)
    assert [h for h, _ in ddp._comm_hooks] == [fp16_compress_hook]

    # gradients: DDP's are exactly the uncompressed ones rounded to float16
    batch = data(2)
    inputs = torch.stack([d['inputs'] for d in batch])
    target = torch.stack([d['target'] for d in batch])
    reference = ToyModel()
    reference.load_state_dict(ddp.module.state_dict())
    reference(inputs, target, mode='loss')['loss'].backward()
    ddp.zero_grad()
    ddp(inputs, target, mode='loss')['loss'].backward()
    rounded_somewhere = False
    for (name, p), ref in zip(ddp.module.named_parameters(), reference.parameters()):
        assert torch.equal(p.grad, ref.grad.half().float()), name
        rounded_somewhere |= not torch.equal(p.grad, ref.grad)
    assert rounded_somewhere  # the check above is not vacuous


def test_fp16_compression_resume(gloo_group, tmp_path):
    """A resumed run (fresh DDP model, checkpoint from a run with the hook) registers again."""
    torch.manual_seed(0)
    first = make_runner(tmp_path, MMDistributedDataParallel(module=ToyModel(), device_ids=None),
                        'pytorch', 'first')
    first.train()
    ckpt = osp.join(first.work_dir, 'iter_1.pth')
    assert osp.isfile(ckpt)
    ddp = MMDistributedDataParallel(module=ToyModel(), device_ids=None)
    second = make_runner(tmp_path, ddp, 'pytorch', 'second', max_iters=2, resume=True,
                         load_from=ckpt)
    second.train()
    assert second.iter == 2
    assert [h for h, _ in ddp._comm_hooks] == [fp16_compress_hook]


def test_fp16_compression_is_a_noop_without_ddp(tmp_path):
    runner = make_runner(tmp_path, ToyModel(), 'none', 'single')
    assert not isinstance(runner.model, DistributedDataParallel)
    runner.train()
    assert 'gradients are not compressed' in runner_log(runner)
    assert runner.iter == 1


def test_pad_keep_img_shape_pads_the_canvas_but_not_img_shape():
    """mmdet's Pad reports the canvas as image (img_shape = padded size), so detections may be
    clipped into the fill region and crash mask pasting on CPU; PadKeepImgShape keeps the
    image's own size while padding the same way."""
    import numpy as np
    from mmdet.datasets.transforms import Pad
    from mim_det.datasets.transforms.pad_keep_img_shape import PadKeepImgShape
    img = np.full((150, 100, 3), 7, dtype=np.uint8)
    upstream = Pad(size=(256, 256), pad_val=dict(img=(114, 114, 114)))(dict(img=img.copy()))
    ours = PadKeepImgShape(size=(256, 256), pad_val=dict(img=(114, 114, 114)))(dict(img=img.copy()))
    assert upstream['img_shape'] == (256, 256)  # the behaviour being worked around
    assert ours['img_shape'] == (150, 100)
    assert ours['pad_shape'][:2] == (256, 256) and ours['img'].shape == (256, 256, 3)
    assert np.array_equal(ours['img'], upstream['img'])
