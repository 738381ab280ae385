"""load_vit_checkpoint (mim_det.checkpoint): every checkpoint layout into PlainViT, with its
categorised report.

Checkpoints are built here from a source PlainViT whose every tensor is random (zero-init tables
included, so a skipped or misplaced tensor shows), renamed by hand-written tables to the names
each release uses, with the extra keys that release holds.
"""
import json
import logging
import re

import pytest
import torch
import torch.nn.functional as F

from mim_det.checkpoint import (EXPORT_FORMAT, CheckpointError, export_backbone,
                                load_vit_checkpoint)
from mim_det.downstream import PlainViT  # also allow-lists mmengine's globals (import mim_det)
from mim_det.models.selfsup.lomar import LoMaRViT

D, HEAD_DIMS = 64, 16
ARCH = dict(embed_dims=D, num_layers=2, num_heads=4, feedforward_channels=128)
LOG = logging.getLogger('mim_det.test_vit_checkpoint')
CONTEXTUAL = dict(type='ContextualRPE', alpha=1.9, beta=3.8, gamma=15.2)
DECOMPOSED = dict(type='DecomposedRelPos')
BOTH = [DECOMPOSED, CONTEXTUAL]

# PlainViT (mmpretrain) block names -> timm block names, as the official releases spell them
TIMM_BLOCK = {'ln1.': 'norm1.', 'ln2.': 'norm2.', 'ffn.layers.0.0.': 'mlp.fc1.',
              'ffn.layers.1.': 'mlp.fc2.', 'attn.qkv.': 'attn.qkv.', 'attn.proj.': 'attn.proj.',
              'attn.rpe_k.': 'attn.rpe_k.'}


def small_vit(**kwargs) -> PlainViT:
    cfg = dict(arch=ARCH, img_size=64, patch_size=16, pretrain_img_size=64, window_size=2,
               global_attn_indexes=(1, ), drop_path_rate=0.)
    cfg.update(kwargs)
    return PlainViT(**cfg).eval()


def random_source(seed=0, **kwargs) -> PlainViT:
    torch.manual_seed(seed)
    model = small_vit(**kwargs)
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(std=0.2)
    return model


def timm_name(key: str) -> str:
    if key.startswith('patch_embed.projection.'):
        return 'patch_embed.proj.' + key[len('patch_embed.projection.'):]
    match = re.match(r'layers\.(\d+)\.(.+)$', key)
    assert match, key
    index, rest = match.groups()
    for plain, timm in TIMM_BLOCK.items():
        if rest.startswith(plain):
            return f'blocks.{index}.{timm}{rest[len(plain):]}'
    raise AssertionError(f'no timm name for {key}')


def timm_blocks(src: PlainViT) -> dict:
    return {timm_name(k): v.clone() for k, v in src.state_dict().items() if k != 'pos_embed'}


def with_cls_slot(pos: torch.Tensor) -> torch.Tensor:
    # a cls position far from the grid values: loading it by mistake cannot go unnoticed
    return torch.cat([torch.full((1, 1, pos.shape[-1]), 100.), pos.detach().clone()], dim=1)


def mae_release(src: PlainViT) -> dict:
    """facebookresearch/mae pretraining checkpoint content (``ckpt['model']``)."""
    state = timm_blocks(src)
    state.update({
        'cls_token': torch.randn(1, 1, D), 'pos_embed': with_cls_slot(src.pos_embed),
        'norm.weight': torch.randn(D), 'norm.bias': torch.randn(D),
        'mask_token': torch.randn(1, 1, 32), 'decoder_embed.weight': torch.randn(32, D),
        'decoder_embed.bias': torch.randn(32), 'decoder_pos_embed': torch.randn(1, 17, 32),
        'decoder_blocks.0.norm1.weight': torch.randn(32), 'decoder_norm.weight': torch.randn(32),
        'decoder_pred.weight': torch.randn(768, 32), 'decoder_pred.bias': torch.randn(768)})
    return state


def lomar_release(src: PlainViT) -> dict:
    """junchen14/LoMaR pretraining checkpoint content (``ckpt['model']``)."""
    state = timm_blocks(src)
    state.update({
        'cls_token': torch.randn(1, 1, D), 'mask_token': torch.randn(1, 1, D),
        # the fixed sin-cos table LoMaR builds and never adds
        'pos_embed': torch.randn(1, 17, D), 'norm.weight': torch.randn(D),
        'norm.bias': torch.randn(D), 'encoder_pred.weight': torch.randn(768, D),
        'encoder_pred.bias': torch.randn(768)})
    return state


def simmim_release(src: PlainViT) -> dict:
    """microsoft/SimMIM ViT pretraining checkpoint content (``ckpt['model']``): the encoder under
    ``encoder.`` (BEiT's attention: qkv without bias, separate q/v biases; one relative position
    table shared by all blocks, no absolute position, layer scale, final norm), then the linear
    decoder. ``src`` has per-block tables that are all the same table and a zero key bias."""
    encoder = {}
    for key, value in src.state_dict().items():
        if key.endswith('attn.qkv.bias'):
            q, k, v = value.clone().chunk(3)
            assert (k == 0).all()
            block = key[:-len('qkv.bias')].replace('layers.', 'blocks.')
            encoder[block + 'q_bias'], encoder[block + 'v_bias'] = q, v
        elif key.endswith('relative_position_bias_table'):
            encoder['rel_pos_bias.relative_position_bias_table'] = value.clone()
        elif re.match(r'layers\.\d+\.gamma_', key):
            encoder[key.replace('layers.', 'blocks.')] = value.clone()
        elif key == 'cls_token':
            encoder[key] = value.clone()
        else:
            encoder[timm_name(key)] = value.clone()
    encoder.update({
        'mask_token': torch.randn(1, 1, D), 'norm.weight': torch.randn(D),
        'norm.bias': torch.randn(D),
        'rel_pos_bias.relative_position_index': torch.zeros(17, 17, dtype=torch.long)})
    state = {f'encoder.{k}': v for k, v in encoder.items()}
    state.update({'decoder.0.weight': torch.randn(768, D, 1, 1), 'decoder.0.bias': torch.randn(768)})
    return state


def save(tmp_path, name, content) -> str:
    path = str(tmp_path / name)
    torch.save(content, path)
    return path


def assert_same(model: PlainViT, src: PlainViT, keys):
    own, ref = model.state_dict(), src.state_dict()
    for key in keys:
        torch.testing.assert_close(own[key], ref[key], rtol=0, atol=0, msg=key)


def image(seed=1):
    return torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(seed))


def test_official_mae_release(tmp_path, caplog):
    src = random_source(use_abs_pos=True)
    path = save(tmp_path, 'mae.pth', {'model': mae_release(src)})
    model = small_vit(use_abs_pos=True, rel_pos_cfgs=[DECOMPOSED])
    with caplog.at_level(logging.INFO, logger=LOG.name):
        report = load_vit_checkpoint(model, path, logger=LOG)

    assert report['layout'] == 'official MAE (timm names)'
    assert_same(model, src, [k for k in src.state_dict()])  # pos_embed: cls slot dropped
    rel_pos = [k for k in model.state_dict() if 'rel_pos' in k]
    assert len(rel_pos) == 4 and sorted(report['expected_missing']) == sorted(rel_pos)
    assert all((model.state_dict()[k] == 0).all() for k in rel_pos)
    assert set(report['expected_unused']) >= {
        'cls_token', 'pos_embed[cls]', 'mask_token', 'decoder_embed.weight',
        'decoder_pos_embed', 'decoder_pred.bias', 'norm.weight', 'norm.bias'}
    assert report['suspicious'] == [] and report['interpolated'] == {}
    assert len(report['loaded']) == len(src.state_dict())
    # rel_pos zero = plain attention: the loaded model computes what the source computes
    torch.testing.assert_close(model(image())[0], src(image())[0])
    [record] = caplog.records
    assert record.levelno == logging.INFO
    assert 'official MAE (timm names)' in record.getMessage()
    assert f'loaded {len(src.state_dict())}/{len(model.state_dict())}' in record.getMessage()


def test_official_lomar_release_loads_rpe_tables_and_drops_pos_embed(tmp_path):
    src = random_source(use_abs_pos=False, rel_pos_cfgs=[CONTEXTUAL])
    path = save(tmp_path, 'lomar.pth', {'model': lomar_release(src)})
    model = small_vit(use_abs_pos=False, rel_pos_cfgs=[CONTEXTUAL])
    report = load_vit_checkpoint(model, path, logger=LOG)

    assert report['layout'] == 'official LoMaR'
    tables = [f'layers.{i}.attn.rpe_k.lookup_table_weight' for i in range(2)]
    assert set(tables) <= set(report['loaded'])
    assert model.state_dict()[tables[0]].shape == (1, HEAD_DIMS, 50)
    assert_same(model, src, src.state_dict())
    assert 'pos_embed' in report['expected_unused'] and 'pos_embed' not in report['loaded']
    assert 'never added' in report['reasons']['pos_embed']
    assert {'encoder_pred.weight', 'mask_token', 'cls_token', 'norm.weight'} <= set(
        report['expected_unused'])
    assert report['suspicious'] == [] and report['expected_missing'] == []
    out = model(image())[0]
    torch.testing.assert_close(out, src(image())[0])
    with torch.no_grad():
        for layer in model.layers:
            layer.attn.rpe_k.lookup_table_weight.zero_()
    assert not torch.allclose(model(image())[0], out, atol=1e-3)  # the tables take part


def test_official_simmim_release_merges_q_v_biases_and_copies_the_shared_table(tmp_path):
    table = dict(type='RelPosBiasTable')
    kwargs = dict(use_abs_pos=False, with_cls_token=True, window_size=0, global_attn_indexes=(),
                  rel_pos_cfgs=[table], layer_scale_init_value=0.1)
    src = random_source(**kwargs)
    with torch.no_grad():
        shared = src.layers[0].attn.rel_pos_bias.relative_position_bias_table
        for layer in src.layers:
            layer.attn.rel_pos_bias.relative_position_bias_table.copy_(shared)
            layer.attn.qkv.bias[D:2 * D] = 0  # BEiT's attention has no key bias
    path = save(tmp_path, 'simmim.pth', {'model': simmim_release(src), 'epoch': 800})
    model = small_vit(**kwargs)
    report = load_vit_checkpoint(model, path, logger=LOG)

    assert report['layout'] == 'official SimMIM / BEiT (timm names, q/v biases)'
    assert report['prefix'] == 'encoder.'
    assert_same(model, src, src.state_dict())  # fused qkv biases, copied tables, gammas
    assert report['suspicious'] == [] and report['expected_missing'] == []
    assert {'mask_token', 'norm.weight', 'rel_pos_bias.relative_position_index',
            'decoder.0.weight', 'decoder.0.bias'} <= set(report['expected_unused'])
    torch.testing.assert_close(model(image())[0], src(image())[0])


def test_official_simmim_release_without_v_bias_raises(tmp_path):
    src = random_source(use_abs_pos=False, with_cls_token=True)
    with torch.no_grad():
        src.layers[0].attn.qkv.bias[D:2 * D] = 0
        src.layers[1].attn.qkv.bias[D:2 * D] = 0
    state = simmim_release(src)
    del state['encoder.blocks.1.attn.v_bias']
    path = save(tmp_path, 'simmim_broken.pth', {'model': state})
    with pytest.raises(CheckpointError, match=r'blocks\.1\.attn\.v_bias'):
        load_vit_checkpoint(small_vit(use_abs_pos=False, with_cls_token=True), path, logger=LOG)


@pytest.mark.parametrize('kind', ['mae', 'classification'])
def test_mmpretrain_checkpoints(tmp_path, kind):
    src = random_source(use_abs_pos=True)
    state = {f'backbone.{k}': v.clone() for k, v in src.state_dict().items()}
    state['backbone.pos_embed'] = with_cls_slot(src.pos_embed)
    state.update({'backbone.cls_token': torch.randn(1, 1, D),
                  'backbone.ln1.weight': torch.randn(D), 'backbone.ln1.bias': torch.randn(D)})
    if kind == 'mae':
        state.update({'neck.mask_token': torch.randn(1, 1, 32),
                      'neck.decoder_embed.weight': torch.randn(32, D),
                      'neck.decoder_pos_embed': torch.randn(1, 17, 32)})
    else:
        state.update({'head.layers.head.weight': torch.randn(10, D),
                      'head.layers.head.bias': torch.randn(10)})
    path = save(tmp_path, f'{kind}.pth', {'state_dict': state, 'meta': {'epoch': 3}})
    model = small_vit(use_abs_pos=True)
    report = load_vit_checkpoint(model, path, logger=LOG)

    assert report['layout'] == 'mmpretrain' and report['prefix'] == 'backbone.'
    assert_same(model, src, src.state_dict())
    outside = [k for k in state if not k.startswith('backbone.')]
    assert set(report['expected_unused']) == {'cls_token', 'pos_embed[cls]', 'ln1.weight',
                                              'ln1.bias', *outside}
    assert report['suspicious'] == [] and report['expected_missing'] == []


def test_detector_checkpoint_round_trip(tmp_path):
    src = random_source(use_abs_pos=True, rel_pos_cfgs=BOTH)
    state = {f'backbone.{k}': v for k, v in src.state_dict().items()}
    state['roi_head.bbox_head.fc_cls.weight'] = torch.randn(3, 8)
    path = save(tmp_path, 'det.pth', {'state_dict': state})
    model = small_vit(use_abs_pos=True, rel_pos_cfgs=BOTH)
    report = load_vit_checkpoint(model, path, logger=LOG)

    assert report['layout'] == 'mmpretrain'
    assert report['loaded'] == list(model.state_dict())
    assert report['expected_missing'] == [] and report['suspicious'] == []
    assert report['expected_unused'] == ['roi_head.bbox_head.fc_cls.weight']
    torch.testing.assert_close(model(image())[0], src(image())[0], rtol=0, atol=0)


def test_mim_det_export_from_a_lomar_run(tmp_path):
    torch.manual_seed(0)
    lomar = LoMaRViT(arch=ARCH, img_size=64, patch_size=16)
    with torch.no_grad():
        for param in lomar.parameters():
            param.normal_(std=0.2)
    cfg = ("model = dict(type='LoMaR', backbone=dict(type='LoMaRViT', arch=dict("
           "embed_dims=64, num_layers=2, num_heads=4, feedforward_channels=128), "
           'patch_size=16, img_size=64))')
    ckpt = save(tmp_path, 'iter_10.pth', {
        'state_dict': {f'backbone.{k}': v for k, v in lomar.state_dict().items()},
        'meta': {'cfg': cfg, 'iter': 10}})
    export = str(tmp_path / 'backbone.safetensors')
    export_backbone(ckpt, export)  # the real export path
    model = small_vit(use_abs_pos=False, rel_pos_cfgs=[CONTEXTUAL])
    report = load_vit_checkpoint(model, export, logger=LOG)

    assert report['layout'] == 'mim_det export'
    assert report['meta']['method'] == 'lomar'
    own, ref = model.state_dict(), lomar.state_dict()
    assert report['loaded'] == list(own)
    for key in own:
        torch.testing.assert_close(own[key], ref[key], rtol=0, atol=0, msg=key)
    assert set(report['expected_unused']) == {'cls_token', 'ln1.weight', 'ln1.bias'}
    assert report['suspicious'] == []


def test_pos_embed_bicubic_interpolation(tmp_path):
    src = random_source(use_abs_pos=True)
    state = mae_release(src)
    grid = torch.randn(1, 4, D)  # a 2 x 2 pretraining grid
    state['pos_embed'] = with_cls_slot(grid)
    path = save(tmp_path, 'mae_2x2.pth', {'model': state})
    model = small_vit(use_abs_pos=True)  # 4 x 4 grid
    report = load_vit_checkpoint(model, path, logger=LOG)

    assert report['interpolated'] == {'pos_embed': '2x2 -> 4x4, bicubic'}
    expected = F.interpolate(grid.reshape(1, 2, 2, D).permute(0, 3, 1, 2), size=(4, 4),
                             mode='bicubic', align_corners=False)
    expected = expected.permute(0, 2, 3, 1).reshape(1, 16, D)
    torch.testing.assert_close(model.pos_embed.detach(), expected)
    assert 'pos_embed[cls]' in report['expected_unused']
    assert report['suspicious'] == []


def test_rel_pos_tables_resized_linearly(tmp_path):
    # global-block tables for a 128 px map (8 x 8 -> 15 offsets) into a 64 px model (7)
    src = random_source(use_abs_pos=True, rel_pos_cfgs=[DECOMPOSED], img_size=128)
    path = save(tmp_path, 'det128.pth', {'state_dict': {
        f'backbone.{k}': v for k, v in src.state_dict().items()}})
    model = small_vit(use_abs_pos=True, rel_pos_cfgs=[DECOMPOSED])
    report = load_vit_checkpoint(model, path, logger=LOG)

    name = 'layers.1.attn.rel_pos.rel_pos_h'
    assert report['interpolated'] == {name: '15 -> 7 entries, linear',
                                      name[:-1] + 'w': '15 -> 7 entries, linear'}
    table = src.state_dict()[name]
    expected = F.interpolate(table.t()[None], size=7, mode='linear', align_corners=False)[0].t()
    torch.testing.assert_close(model.state_dict()[name], expected)
    # window-block tables (2 x 2 windows at either size) load unchanged
    assert_same(model, src, ['layers.0.attn.rel_pos.rel_pos_h', 'pos_embed'])
    assert report['loaded'] == list(model.state_dict())


def test_lomar_into_abs_pos_model_is_suspicious(tmp_path, caplog):
    src = random_source(use_abs_pos=False, rel_pos_cfgs=[CONTEXTUAL])
    path = save(tmp_path, 'lomar.pth', {'model': lomar_release(src)})
    model = small_vit(use_abs_pos=True, rel_pos_cfgs=[CONTEXTUAL])
    before = model.pos_embed.detach().clone()
    with caplog.at_level(logging.INFO, logger=LOG.name):
        report = load_vit_checkpoint(model, path, logger=LOG)

    assert 'pos_embed' in report['expected_unused']  # LoMaR's table is still not loaded
    torch.testing.assert_close(model.pos_embed.detach(), before, rtol=0, atol=0)
    [entry] = report['suspicious']
    assert entry.startswith('missing pos_embed') and 'use_abs_pos=False' in entry
    [record] = caplog.records
    assert record.levelno == logging.WARNING and 'use_abs_pos=False' in record.getMessage()


def test_mae_into_rpe_model_is_suspicious(tmp_path):
    src = random_source(use_abs_pos=True)
    path = save(tmp_path, 'mae.pth', {'model': mae_release(src)})
    model = small_vit(use_abs_pos=True, rel_pos_cfgs=[CONTEXTUAL])
    report = load_vit_checkpoint(model, path, logger=LOG)

    tables = [f'layers.{i}.attn.rpe_k.lookup_table_weight' for i in range(2)]
    assert [s.split(':')[0] for s in report['suspicious']] == [f'missing {t}' for t in tables]
    assert all('drop ContextualRPE from rel_pos_cfgs' in s for s in report['suspicious'])
    assert not set(tables) & set(report['expected_missing'])


def test_mae_into_model_without_abs_pos_is_suspicious(tmp_path):
    src = random_source(use_abs_pos=True)
    path = save(tmp_path, 'mae.pth', {'model': mae_release(src)})
    report = load_vit_checkpoint(small_vit(use_abs_pos=False, rel_pos_cfgs=[DECOMPOSED]), path,
                                 logger=LOG)
    [entry] = report['suspicious']
    assert entry.startswith('unused pos_embed') and 'use_abs_pos=True' in entry


def test_lomar_tables_into_model_without_rpe_are_suspicious(tmp_path):
    src = random_source(use_abs_pos=False, rel_pos_cfgs=[CONTEXTUAL])
    path = save(tmp_path, 'lomar.pth', {'model': lomar_release(src)})
    report = load_vit_checkpoint(small_vit(use_abs_pos=False), path, logger=LOG)
    assert sorted(s.split(':')[0] for s in report['suspicious']) == [
        f'unused blocks.{i}.attn.rpe_k.lookup_table_weight' for i in range(2)]


def _error_case(tmp_path, case):
    src = random_source(use_abs_pos=False, rel_pos_cfgs=[CONTEXTUAL])
    state, prefix = lomar_release(src), None
    if case == 'embed_dims':
        narrow = random_source(arch=dict(ARCH, embed_dims=32), use_abs_pos=False)
        state = timm_blocks(narrow)
    elif case == 'patch_size':
        state['patch_embed.proj.weight'] = torch.randn(D, 3, 8, 8)
    elif case == 'rpe_buckets':
        state['blocks.0.attn.rpe_k.lookup_table_weight'] = torch.randn(1, HEAD_DIMS, 26)
    elif case == 'wrong_prefix':
        prefix = 'backbone.'
    elif case == 'no_backbone_keys':
        state = {f'student.{k}': v for k, v in state.items()}
    return save(tmp_path, f'{case}.pth', {'model': state}), prefix


@pytest.mark.parametrize('case, words', [
    ('embed_dims', ['patch_embed.proj.weight', '(32, 3, 16, 16)', '(64, 3, 16, 16)',
                    'embed_dims=32']),
    ('patch_size', ['patch_embed.proj.weight', '(64, 3, 8, 8)', 'patch_size=8']),
    ('rpe_buckets', ['blocks.0.attn.rpe_k.lookup_table_weight', '(1, 16, 26)', '(1, 16, 50)',
                     'buckets']),
    ('wrong_prefix', ["'backbone.'", 'init_cfg.prefix']),
    ('no_backbone_keys', ['student.', 'init_cfg.prefix']),
])
def test_irreconcilable_checkpoints_raise(tmp_path, case, words):
    path, prefix = _error_case(tmp_path, case)
    model = small_vit(use_abs_pos=False, rel_pos_cfgs=[CONTEXTUAL])
    with pytest.raises(CheckpointError) as info:
        load_vit_checkpoint(model, path, prefix=prefix, logger=LOG)
    message = str(info.value)
    assert '\n' not in message and path in message
    for word in words:
        assert word in message, message


def test_non_square_pos_grid_raises(tmp_path):
    state = mae_release(random_source(use_abs_pos=True))
    state['pos_embed'] = torch.randn(1, 7, D)  # neither G*G nor 1 + G*G
    path = save(tmp_path, 'odd.pth', {'model': state})
    with pytest.raises(CheckpointError, match=r'pos_embed has shape \(1, 7, 64\)'):
        load_vit_checkpoint(small_vit(use_abs_pos=True), path, logger=LOG)


def test_export_patch_size_mismatch_raises(tmp_path):
    from safetensors.torch import save_file
    src = random_source(use_abs_pos=False, rel_pos_cfgs=[CONTEXTUAL])
    meta = {'format': EXPORT_FORMAT, 'method': 'lomar', 'backbone_type': 'LoMaRViT',
            'arch': json.dumps(ARCH), 'patch_size': '8', 'img_size': '64',
            'pos_encoding': 'contextual_rpe_keys', 'rpe': json.dumps(None),
            'num_extra_tokens': '1', 'source': 'x.pth', 'iteration': '1'}
    path = str(tmp_path / 'p8.safetensors')
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, path, metadata=meta)
    with pytest.raises(CheckpointError, match='set patch_size=8'):
        load_vit_checkpoint(small_vit(use_abs_pos=False, rel_pos_cfgs=[CONTEXTUAL]), path,
                            logger=LOG)


def test_parameters_are_filled_in_place(tmp_path):
    src = random_source(use_abs_pos=True)
    path = save(tmp_path, 'mae.pth', {'model': mae_release(src)})
    model = small_vit(use_abs_pos=True)
    # an optimizer built before loading must keep training the loaded tensors
    before = {name: (param, param.data_ptr()) for name, param in model.named_parameters()}
    load_vit_checkpoint(model, path, logger=LOG)
    for name, param in model.named_parameters():
        assert param is before[name][0] and param.data_ptr() == before[name][1], name
    assert_same(model, src, ['layers.0.attn.qkv.weight'])


def test_init_cfg_pretrained(tmp_path):
    src = random_source(use_abs_pos=False, rel_pos_cfgs=[CONTEXTUAL])
    path = save(tmp_path, 'lomar.pth', {'model': lomar_release(src)})
    model = small_vit(use_abs_pos=False, rel_pos_cfgs=[CONTEXTUAL],
                      init_cfg=dict(type='Pretrained', checkpoint=path))
    model.init_weights()
    assert_same(model, src, src.state_dict())
