"""The shared ViT core (issue 10): old files still load and compute the same features, every
consumer goes through the one loader, and mmseg's MAE segmentation backbone is reproduced.

Fixtures in ``tests/fixtures/pre_refactor/`` were written by the code before the refactor
(commit 6d12736, see their ``make_fixtures.py``): a LoMaR pretraining checkpoint, its export, a
PlainViT detector checkpoint and the features that code computed.
"""
import copy
import logging
import os.path as osp

import pytest
import torch
from mmengine.registry import DefaultScope

from conftest import ROOT
from mim_det.checkpoint import CheckpointError, load_vit_checkpoint
from mim_det.downstream import PlainViT
from mim_det.models.selfsup.lomar import LoMaRViT

FIXTURES = osp.join(ROOT, 'tests', 'fixtures', 'pre_refactor')
ARCH = dict(embed_dims=64, num_layers=2, num_heads=4, feedforward_channels=128)
CONTEXTUAL = dict(type='ContextualRPE', alpha=1.9, beta=3.8, gamma=15.2)
DECOMPOSED = dict(type='DecomposedRelPos')
LOG = logging.getLogger('mim_det.test_shared_vit_core')


def fixture(name):
    return osp.join(FIXTURES, name)


@pytest.fixture(scope='module')
def reference():
    return torch.load(fixture('reference_outputs.pt'), weights_only=True)


def pretrained(cls, checkpoint, **kwargs):
    model = cls(init_cfg=dict(type='Pretrained', checkpoint=checkpoint), **kwargs)
    model.init_weights()
    return model.eval()


# ------------------------------------------------------------- files written before the change
def test_pre_refactor_export_gives_the_same_features(reference):
    """The old export into the new pretraining encoder and into the downstream ViT configured
    the LoMaR way: the features the old code computed, within float tolerance."""
    lomar = pretrained(LoMaRViT, fixture('lomar_backbone.safetensors'), arch=ARCH, img_size=56,
                       patch_size=8)
    plain = pretrained(PlainViT, fixture('lomar_backbone.safetensors'), arch=ARCH, img_size=56,
                       patch_size=8, with_cls_token=True, use_abs_pos=False,
                       rel_pos_cfgs=[CONTEXTUAL], window_size=0, final_norm=True,
                       out_type='raw', drop_path_rate=0.)
    with torch.no_grad():
        for model in (lomar, plain):
            out = model(reference['input'])[0]
            torch.testing.assert_close(out, reference['lomar_tokens'], rtol=1e-5, atol=1e-5)


def test_pre_refactor_pretraining_checkpoint_keeps_its_names():
    """The old LoMaR checkpoint loads strictly into the new LoMaR model (names unchanged), and
    the encoder alone takes it without a prefix (the old LoMaRViT loader loaded 0 tensors)."""
    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    ckpt = torch.load(fixture('lomar_iter_1.pth'), weights_only=True)
    cfg = Config.fromstring(ckpt['meta']['cfg'], '.py').model
    cfg.backbone.pop('rpe_cfg')  # the old key; rel_pos_cfgs defaults to LoMaR's tables
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg)
    model.load_state_dict(ckpt['state_dict'], strict=True)

    encoder = LoMaRViT(arch=ARCH, img_size=56, patch_size=8,
                       init_cfg=dict(type='Pretrained', checkpoint=fixture('lomar_iter_1.pth')))
    encoder.init_weights()
    state = encoder.state_dict()
    assert set(state) == {k[len('backbone.'):] for k in ckpt['state_dict']
                          if k.startswith('backbone.')}
    for key, value in state.items():
        assert torch.equal(value, ckpt['state_dict'][f'backbone.{key}']), key


def test_pre_refactor_detector_checkpoint_gives_the_same_map(reference):
    ckpt = torch.load(fixture('plain_vit_det.pth'), weights_only=True)['state_dict']
    model = PlainViT(arch=ARCH, img_size=64, patch_size=8, pretrain_img_size=56,
                     use_abs_pos=True, rel_pos_cfgs=[DECOMPOSED, CONTEXTUAL], window_size=4,
                     global_attn_indexes=(1, ), drop_path_rate=0.).eval()
    model.load_state_dict({k[len('backbone.'):]: v for k, v in ckpt.items()}, strict=True)
    with torch.no_grad():
        out = model(reference['input'])[0]
    torch.testing.assert_close(out, reference['plain_map'], rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------ one loader
def official_lomar_release(encoder: LoMaRViT) -> dict:
    """junchen14/LoMaR checkpoint content (timm names) of ``encoder``'s weights."""
    renames = (('patch_embed.projection.', 'patch_embed.proj.'), ('ln1.', 'norm.'))
    block = {'ln1.': 'norm1.', 'ln2.': 'norm2.', 'ffn.layers.0.0.': 'mlp.fc1.',
             'ffn.layers.1.': 'mlp.fc2.', 'attn.': 'attn.'}
    state = {}
    for key, value in encoder.state_dict().items():
        new = key
        if key.startswith('layers.'):
            _, index, rest = key.split('.', 2)
            prefix = next(p for p in block if rest.startswith(p))
            new = f'blocks.{index}.{block[prefix]}{rest[len(prefix):]}'
        else:
            for old, timm in renames:
                if key.startswith(old):
                    new = timm + key[len(old):]
        state[new] = value.clone()
    grid = (56 // 8)**2
    state['pos_embed'] = torch.randn(1, 1 + grid, 64)  # the sin-cos table LoMaR never adds
    state['encoder_pred.weight'] = torch.randn(192, 64)
    return state


def test_official_lomar_release_loads_into_the_pretraining_encoder(tmp_path):
    torch.manual_seed(0)
    src = LoMaRViT(arch=ARCH, img_size=56, patch_size=8)
    with torch.no_grad():
        for p in src.parameters():
            p.normal_(std=0.2)
    path = str(tmp_path / 'lomar_official.pth')
    torch.save({'model': official_lomar_release(src)}, path)
    model = LoMaRViT(arch=ARCH, img_size=56, patch_size=8)
    report = load_vit_checkpoint(model, path, logger=LOG)
    assert report['layout'] == 'official LoMaR' and report['suspicious'] == []
    assert report['loaded'] == list(model.state_dict())  # cls and mask token included
    for key, value in model.state_dict().items():
        assert torch.equal(value, src.state_dict()[key]), key
    assert {'pos_embed', 'encoder_pred.weight'} <= set(report['expected_unused'])


def test_loading_too_little_of_a_backbone_is_an_error(tmp_path):
    """A 2-block checkpoint into a 6-block model fills a third of its weights: an error naming
    the checkpoint, its layout and the fix, not a run that is mostly from scratch."""
    src = PlainViT(arch=ARCH, img_size=32, patch_size=8, window_size=0)
    path = str(tmp_path / 'two_blocks.pth')
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in src.state_dict().items()}}, path)
    deep = PlainViT(arch=dict(ARCH, num_layers=6), img_size=32, patch_size=8, window_size=0)
    with pytest.raises(CheckpointError) as info:
        load_vit_checkpoint(deep, path, logger=LOG)
    message = str(info.value)
    assert path in message and 'mmpretrain' in message and 'arch' in message
    assert '\n' not in message
    # half or more is loaded, with the rest reported as suspicious
    half = PlainViT(arch=dict(ARCH, num_layers=3), img_size=32, patch_size=8, window_size=0)
    report = load_vit_checkpoint(half, path, logger=LOG)
    assert any(s.startswith('missing layers.2.') for s in report['suspicious'])


def test_a_checkpoint_that_fills_nothing_is_an_error(tmp_path):
    path = str(tmp_path / 'wrong.pth')
    torch.save({'state_dict': {'layers.0.conv.weight': torch.randn(3, 3),
                               'patch_embed.projection.scale': torch.randn(3)}}, path)
    with pytest.raises(CheckpointError, match=r"fills only 0 of the \d+ weight tensors"):
        load_vit_checkpoint(LoMaRViT(arch=ARCH, img_size=56, patch_size=8), path, logger=LOG)


def test_every_vit_consumer_uses_the_one_loader(monkeypatch):
    """Pretraining encoder and downstream backbone (detector/segmentor/classifier) both load
    through init_cfg with load_vit_checkpoint and its report."""
    from mim_det.models.backbones import base_vit
    reports = []

    def spy(model, checkpoint, prefix=None, logger='current'):
        reports.append((type(model).__name__, load_vit_checkpoint(model, checkpoint, prefix,
                                                                  logger=LOG)))
    monkeypatch.setattr(base_vit, 'load_vit_checkpoint', spy)
    path = fixture('lomar_backbone.safetensors')
    pretrained(LoMaRViT, path, arch=ARCH, img_size=56, patch_size=8)
    pretrained(PlainViT, path, arch=ARCH, img_size=56, patch_size=8, use_abs_pos=False,
               rel_pos_cfgs=[CONTEXTUAL])
    assert [name for name, _ in reports] == ['LoMaRViT', 'PlainViT']
    assert all(r['layout'] == 'mim_det export' and r['suspicious'] == [] for _, r in reports)


# -------------------------------------------------------------- mmseg's MAE segmentation ViT
def _mmseg_mae(**kwargs):
    from mmseg.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmseg'):
        cfg = dict(type='MAE', img_size=64, patch_size=16, embed_dims=64, num_layers=4,
                   num_heads=4, mlp_ratio=4, out_indices=(1, 3), init_values=1.0,
                   norm_cfg=dict(type='LN', eps=1e-6))
        return MODELS.build(dict(cfg, **kwargs))


def _ours(**kwargs):
    """mim_det's PlainViT with the protocol of configs/_base_/models/upernet_plain-vit-b16.py."""
    from mmengine.config import Config
    backbone = copy.deepcopy(Config.fromfile(osp.join(
        ROOT, 'configs/_base_/models/upernet_plain-vit-b16.py')).model.backbone)
    backbone.update(arch=dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=256),
                    img_size=64, out_indices=(1, 3), drop_path_rate=0., **kwargs)
    backbone.pop('type')
    return PlainViT(**backbone)


def test_segmentation_backbone_equals_mmsegs_mae_backbone(tmp_path):
    """Given the same weights (random, tables and layer scales included), mim_det's segmentation
    backbone computes mmseg's MAE features: cls token through the blocks, per-head relative
    position tables, layer scale, position table at the fine-tuning grid."""
    torch.manual_seed(0)
    theirs = _mmseg_mae()
    theirs.eval()  # (mmseg's BEiT.train returns None)
    with torch.no_grad():
        for p in theirs.parameters():
            p.normal_(std=0.2)
    path = str(tmp_path / 'mmseg_mae.pth')
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in theirs.state_dict().items()}},
               path)
    ours = _ours(init_cfg=dict(type='Pretrained', checkpoint=path))
    ours.init_weights()
    ours.eval()
    report = load_vit_checkpoint(_ours(), path, logger=LOG)
    assert report['suspicious'] == [] and report['expected_missing'] == []
    assert sorted(report['expected_unused']) == [
        f'layers.{i}.attn.relative_position_index' for i in range(4)]
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected, got = theirs(x), ours(x)
    assert len(got) == len(expected) == 2
    for a, b in zip(got, expected):
        assert a.shape == b.shape == (2, 64, 4, 4)
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    # the tables and layer scales take part (a model without them computes something else)
    plain = _ours(rel_pos_cfgs=[], layer_scale_init_value=0.)
    plain.load_state_dict({k: v for k, v in ours.state_dict().items()
                           if 'gamma' not in k and 'rel_pos_bias' not in k})
    with torch.no_grad():
        assert (plain.eval()(x)[0] - got[0]).abs().max() > 1e-3  # (ViTBase.eval returns it)


def test_pretraining_grid_is_resized_once_as_mmseg_does(tmp_path):
    """An MAE pretraining checkpoint (2 x 2 grid, no tables, no layer scale) into both: the
    position table is resized bicubically to the 4 x 4 fine-tuning grid when loading, the
    tables start at zero and the layer scales at 1, so the features agree."""
    torch.manual_seed(1)
    src = _mmseg_mae(img_size=32)
    with torch.no_grad():
        for p in src.parameters():
            p.normal_(std=0.2)
    state = {k: v for k, v in src.state_dict().items()
             if 'relative_position' not in k and 'gamma' not in k}
    path = str(tmp_path / 'mae_pretrain.pth')
    torch.save({'state_dict': state}, path)
    theirs = _mmseg_mae(init_cfg=dict(type='Pretrained', checkpoint=path))
    theirs.init_weights()
    ours = _ours(init_cfg=dict(type='Pretrained', checkpoint=path))
    ours.init_weights()
    report = load_vit_checkpoint(_ours(), path, logger=LOG)
    assert report['interpolated'] == {'pos_embed': '2x2 -> 4x4, bicubic'}
    assert report['suspicious'] == []
    x = torch.randn(1, 3, 64, 64)
    ours.eval()
    theirs.eval()
    with torch.no_grad():
        for a, b in zip(ours(x), theirs(x)):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- shared pieces
def test_arch_names_mean_what_they_mean_in_mmpretrain():
    from mmpretrain.models.backbones.vision_transformer import VisionTransformer
    from mim_det.models.layers import resolve_vit_arch
    for name in ('s', 'b', 'l', 'deit-s', 'deit-t'):
        expected = VisionTransformer.arch_zoo[name]
        assert resolve_vit_arch(name, 'test') == {k: expected[k] for k in ARCH}, name
    assert resolve_vit_arch('s', 'test')['embed_dims'] == 768  # mmpretrain's 8-layer ViT-S
    assert resolve_vit_arch('deit-s', 'test')['embed_dims'] == 384
    assert resolve_vit_arch('tinymim-t', 'test') == dict(
        embed_dims=192, num_layers=12, num_heads=6, feedforward_channels=768)
    with pytest.raises(ValueError, match='unknown arch'):
        resolve_vit_arch('tiny', 'test')


def test_sincos_table_is_maes():
    """facebookresearch/mae ``get_2d_sincos_pos_embed``: row-major tokens, the first half of
    the channels encodes the column. mmpretrain's ``build_2d_sincos_position_embedding`` builds
    the same values with rows and columns swapped (its meshgrid is 'ij' over (w, h))."""
    from mmpretrain.models.utils import build_2d_sincos_position_embedding
    from mim_det.models.layers import sincos_2d_embedding
    ours = sincos_2d_embedding((14, 14), 64).reshape(14, 14, 64)
    # column-only first half, row-only second half
    torch.testing.assert_close(ours[:, 3, :32], ours[:1, 3, :32].expand(14, 32))
    torch.testing.assert_close(ours[5, :, 32:], ours[5, :1, 32:].expand(14, 32))
    assert (ours[:, 3, 32:] - ours[:1, 3, 32:]).abs().max() > 0.1
    theirs = build_2d_sincos_position_embedding(14, 64, cls_token=True)[0, 1:]
    torch.testing.assert_close(ours.transpose(0, 1).reshape(196, 64), theirs, rtol=0, atol=1e-6)


def test_unknown_relative_position_type_is_named():
    from mim_det.models.layers import build_rel_pos
    with pytest.raises(ValueError, match=r"'Decomposed'.*'ContextualRPE'"):
        build_rel_pos(dict(type='Decomposed'), 16, 4, (7, 7))
