"""The "Dark secrets of MIM" tools (issue 15): image-level labels of the pretraining images, the
supervised baseline, the frozen / fine-tuned classification protocols and their table, and the
detection loss curves."""
import csv
import importlib.util
import json
import os
import os.path as osp
import struct
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT, build_in_scope, logged_scalars, run_tool

from mim_det.datasets.synthetic import (CATEGORIES, PRETRAIN_LABELED_LIST,
                                        generate_pretrain_images, image_rng, render_scene)
from mim_det.datasets.synthetic.writers import (NUM_OBJECTS, PRETRAIN_SIZE, encode_jpeg,
                                                largest_object_label)

SUPERVISED = 'configs/supervised/vit-tiny-p8_supervised_embedded.py'
PROBE = 'configs/linear_probe/vit-tiny-p8_linear-probe_embedded.py'
FINETUNE = 'configs/linear_probe/vit-tiny-p8_finetune_embedded.py'


def _analysis_tool(name):
    """Import ``tools/analysis/<name>.py`` (its ``main(argv)`` runs in-process)."""
    spec = importlib.util.spec_from_file_location(
        f'mim_det_analysis_{name}', osp.join(ROOT, 'tools', 'analysis', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read_list(path):
    with open(path) as f:
        return [line.split() for line in f.read().splitlines()]


# ------------------------------------------------------------------ labels of pretraining images
def test_pretrain_labels_are_the_largest_visible_object_of_unchanged_images(tmp_path):
    info = generate_pretrain_images(str(tmp_path / 'a'), num=8, seed=3)
    labeled = _read_list(info['labeled_ann_file'])
    assert info['num_labeled'] == len(labeled) == 8  # every scene here has objects
    assert _read_list(info['ann_file']) == [[f'images/{i:06d}.jpg', '0'] for i in range(8)]
    for i, (rel, label) in enumerate(labeled):
        assert rel == f'train/images/{i:06d}.jpg'
        scene = render_scene(image_rng(3, 'pretrain', i), *PRETRAIN_SIZE, NUM_OBJECTS)
        # the image on disk is exactly this scene: no random draw was added for the labels
        with open(osp.join(info['root'], rel), 'rb') as f:
            assert f.read() == encode_jpeg(scene.image)
        areas = [np.count_nonzero(inst.mask) for inst in scene.instances]
        largest = scene.instances[areas.index(max(areas))].category_id
        assert CATEGORIES[int(label)]['id'] == largest
    assert len({label for _, label in labeled}) > 1
    # the same request elsewhere: the same bytes, labels included
    again = generate_pretrain_images(str(tmp_path / 'b'), num=8, seed=3)
    for key in ('ann_file', 'labeled_ann_file'):
        with open(info[key], 'rb') as f, open(again[key], 'rb') as g:
            assert f.read() == g.read()


def test_largest_object_label_of_a_scene_without_objects_is_none():
    scene = render_scene(image_rng(0, 'pretrain', 0), 64, 64, (0, 0))
    assert scene.instances == [] and largest_object_label(scene) is None


def test_a_folder_from_before_the_labels_gets_them_without_rewriting_images(tmp_path):
    out = str(tmp_path / 'd')
    first = generate_pretrain_images(out, num=5, seed=0)
    with open(first['labeled_ann_file']) as f:
        expected = f.read()
    # what the generator left before labels existed: no list, no count in the stamp
    os.remove(first['labeled_ann_file'])
    stamp_path = osp.join(first['root'], 'generator_meta.json')
    with open(stamp_path) as f:
        stamp = json.load(f)
    stamp['stats'] = {'images': 5}
    with open(stamp_path, 'w') as f:
        json.dump(stamp, f)
    images = sorted(os.listdir(first['img_dir']))
    mtimes = [os.stat(osp.join(first['img_dir'], p)).st_mtime_ns for p in images]

    second = generate_pretrain_images(out, num=5, seed=0)
    assert second['skipped'] and second['labels_added'] and second['num_labeled'] == 5
    with open(second['labeled_ann_file']) as f:
        assert f.read() == expected
    assert [os.stat(osp.join(first['img_dir'], p)).st_mtime_ns for p in images] == mtimes
    with open(stamp_path) as f:
        assert json.load(f)['stats'] == {'images': 5, 'labeled': 5}
    third = generate_pretrain_images(out, num=5, seed=0)
    assert third['skipped'] and not third['labels_added']


# ------------------------------------------------------------------------- supervised baseline
@pytest.fixture(scope='module')
def supervised_run(small_data, tmp_path_factory):
    """Two iterations of the supervised config through tools/train.py on the small data's
    labelled pretraining images (validation on its one-object images), and its export."""
    work = str(tmp_path_factory.mktemp('supervised'))
    result = run_tool([
        sys.executable, 'tools/train.py', SUPERVISED, '--work-dir', work, '--cfg-options',
        f'train_dataloader.dataset.data_root={small_data}/pretrain',
        f'val_dataloader.dataset.data_root={small_data}/classify',
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1'])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    from mim_det.checkpoint import export_backbone
    export = osp.join(work, 'backbone.safetensors')
    meta = export_backbone(osp.join(work, 'iter_2.pth'), export)
    return dict(work=work, export=export, meta=meta)


def test_supervised_config_trains_on_the_labelled_pretraining_images(supervised_run, small_data):
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, SUPERVISED))
    assert cfg.model.type == 'ImageClassifier' and cfg.model.head.type == 'LinearClsHead'
    # the tiny MAE's encoder
    mae = Config.fromfile(osp.join(ROOT, 'configs/mae/mae_vit-tiny-p8_embedded.py'))
    for key in ('arch', 'img_size', 'patch_size'):
        assert cfg.model.backbone[key] == mae.model.backbone[key]
    assert cfg.train_dataloader.dataset.ann_file == PRETRAIN_LABELED_LIST
    rows = logged_scalars(supervised_run['work'])
    assert [r['iter'] for r in rows if 'loss' in r] == [1, 2]
    assert all(np.isfinite(r['loss']) for r in rows if 'loss' in r)
    assert any('accuracy/top1' in r for r in rows)  # validated on the one-object images
    meta = supervised_run['meta']
    assert (meta['method'], meta['backbone_type'], meta['pos_encoding']) == (
        'supervised', 'VisionTransformer', 'absolute_learned')
    assert json.loads(meta['arch']) == dict(mae.model.backbone.arch)


# --------------------------------------------------------------- frozen and fine-tuned protocols
def _classifier(config, checkpoint):
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, config))
    cfg.model.backbone.init_cfg.checkpoint = checkpoint
    import mim_det.downstream  # noqa: F401  (PlainViT in the mmpretrain scope)
    model = build_in_scope(cfg.model, 'mmpretrain')
    model.init_weights()
    return cfg, model


def test_linear_probe_freezes_the_backbone_and_loads_the_export(supervised_run):
    from mim_det.checkpoint import load_backbone_export, load_vit_checkpoint
    cfg, model = _classifier(PROBE, supervised_run['export'])
    backbone = [n for n, p in model.backbone.named_parameters()]
    assert backbone and not any(p.requires_grad for p in model.backbone.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    state, _ = load_backbone_export(supervised_run['export'])
    own = model.backbone.state_dict()
    for key in ('patch_embed.projection.weight', 'pos_embed', 'layers.3.ffn.layers.1.weight'):
        assert torch.equal(own[key], state[key])
    report = load_vit_checkpoint(model.backbone, supervised_run['export'])
    assert report['suspicious'] == [] and report['layout'] == 'mim_det export'

    # a training step moves the head only; the frozen blocks stay in eval mode (no drop path)
    model.train()
    frozen = [model.backbone.patch_embed, *model.backbone.layers, model.backbone.ln2]
    assert not any(m.training for part in frozen for m in part.modules())
    assert model.head.training
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    from mmengine.optim import build_optim_wrapper
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    images = torch.randn(4, 3, 96, 96)
    feats = model.extract_feat(images)
    loss = model.head.loss(feats, [_sample(i % 6) for i in range(4)])['loss']
    wrapper.update_params(loss)
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert moved == {'head.fc.weight', 'head.fc.bias'}


def _sample(label):
    from mmpretrain.structures import DataSample
    return DataSample().set_gt_label(label)


def test_finetune_config_trains_everything_from_the_same_export(supervised_run):
    from mmengine.config import Config
    cfg, model = _classifier(FINETUNE, supervised_run['export'])
    assert all(p.requires_grad for p in model.parameters())
    probe = Config.fromfile(osp.join(ROOT, PROBE))
    # same model input, data and schedule length: only what trains differs
    assert cfg.train_dataloader == probe.train_dataloader
    assert cfg.test_dataloader == probe.test_dataloader
    assert cfg.train_cfg == probe.train_cfg
    assert probe.model.backbone.frozen_stages == cfg.model.backbone.arch.num_layers
    assert cfg.model.backbone.get('frozen_stages', -1) == -1


# ------------------------------------------------------------------- the frozen vs fine-tuned table
def _write_finished(run_dir, top1):
    os.makedirs(run_dir, exist_ok=True)
    with open(osp.join(run_dir, 'test_metrics.json'), 'w') as f:
        json.dump(dict(config='c.py', checkpoint='x.pth',
                       metrics={'accuracy/top1': top1, 'accuracy/top5': 100.0}), f)


def test_frozen_vs_finetuned_tabulates_finished_runs(tmp_path):
    tool = _analysis_tool('frozen_vs_finetuned')
    work = str(tmp_path / 'fvf')
    for name, probe, finetune in (('mae', 41.666, 78.333), ('supervised', 55.0, 71.25)):
        _write_finished(osp.join(work, name, 'linear_probe'), probe)
        _write_finished(osp.join(work, name, 'finetune'), finetune)
    assert tool.main(['--checkpoints', 'mae=gone.safetensors', 'supervised=gone.pth',
                      '--work-dir', work, '--read-only']) == 0
    with open(osp.join(work, 'table.md')) as f:
        assert f.read() == ('| method | frozen top-1 | fine-tuned top-1 |\n'
                            '|---|---|---|\n'
                            '| mae | 41.7 | 78.3 |\n'
                            '| supervised | 55.0 | 71.2 |\n')
    with open(osp.join(work, 'results.json')) as f:
        assert json.load(f)['mae']['finetune']['top1'] == 78.333
    assert tool.format_table({'x': {'linear_probe': 12.34}}).endswith('| x | 12.3 | - |\n')
    with pytest.raises(tool.CLIError, match="no finished linear_probe run of 'new': .*missing"):
        tool.main(['--checkpoints', 'mae=gone.pth', 'new=gone.pth', '--work-dir', work,
                   '--read-only'])


def test_frozen_vs_finetuned_reuses_only_the_same_runs(tmp_path, monkeypatch):
    tool = _analysis_tool('frozen_vs_finetuned')
    argv = ['--checkpoints', 'random=scratch', '--work-dir', str(tmp_path / 'w'),
            '--data-root', str(tmp_path)]
    for run in tool.plan_runs(tool.parse_args(argv)):
        _write_finished(run.run_dir, 30.0)
        with open(osp.join(run.run_dir, tool.STAMP), 'w') as f:
            json.dump(dict(cmd=run.cmd, config=run.config_text), f)
    trained = []
    monkeypatch.setattr(tool, 'train', lambda run: trained.append(run.protocol) or 1.0)
    assert tool.main(argv) == 0 and trained == []
    # another command (here: options) is another run
    assert tool.main(argv + ['--cfg-options', 'train_cfg.max_epochs=2']) == 0
    assert trained == ['linear_probe', 'finetune']


def test_frozen_vs_finetuned_fits_the_config_to_the_export(supervised_run, tmp_path):
    from mmengine.config import Config
    tool = _analysis_tool('frozen_vs_finetuned')
    argv = ['--checkpoints', f'sup={supervised_run["export"]}', '--work-dir', str(tmp_path),
            '--data-root', str(tmp_path), '--position', 'sup=contextual_rpe']
    runs = tool.plan_runs(tool.parse_args(argv))
    assert [r.protocol for r in runs] == ['linear_probe', 'finetune']
    for run in runs:
        path = tmp_path / f'{run.protocol}.py'
        path.write_text(run.config_text)
        cfg = Config.fromfile(str(path))
        backbone = cfg.model.backbone
        assert backbone.init_cfg.checkpoint == supervised_run['export']
        assert backbone.use_abs_pos is False and backbone.rel_pos_cfgs[0].type == 'ContextualRPE'
        assert backbone.arch.num_layers == 4 and cfg.model.head.in_channels == 128
        assert backbone.get('frozen_stages', -1) == (4 if run.protocol == 'linear_probe' else -1)
        assert cfg.test_dataloader.dataset.data_root == str(tmp_path)
    with pytest.raises(tool.CLIError, match="checkpoint 'nope.pth' of 'x' does not exist"):
        tool.plan_runs(tool.parse_args(['--checkpoints', 'x=nope.pth', '--data-root',
                                        str(tmp_path)]))


# ------------------------------------------------------------------------ detection loss curves
def _png_size(path):
    with open(path, 'rb') as f:
        head = f.read(24)
    assert head[:8] == b'\x89PNG\r\n\x1a\n' and head[12:16] == b'IHDR'
    return struct.unpack('>II', head[16:24])


def _scalar_log(work_dir, timestamp, rows):
    vis = osp.join(work_dir, timestamp, 'vis_data')
    os.makedirs(vis, exist_ok=True)
    with open(osp.join(vis, 'scalars.json'), 'w') as f:
        f.write(''.join(json.dumps(r) + '\n' for r in rows))


def _losses(it, cls, bbox, rpn_cls=0.5, rpn_bbox=0.25, mask=0.75):
    return dict(lr=1e-3, loss=cls + bbox + rpn_cls + rpn_bbox + mask, loss_rpn_cls=rpn_cls,
                loss_rpn_bbox=rpn_bbox, loss_cls=cls, loss_bbox=bbox, loss_mask=mask, iter=it,
                step=it)


def test_detection_loss_curves_split_the_losses_of_several_runs(tmp_path):
    tool = _analysis_tool('detection_loss_curves')
    mim, sup = str(tmp_path / 'mim'), str(tmp_path / 'sup')
    _scalar_log(mim, '20240101_000000', [_losses(20, 1.0, 0.5), _losses(40, 0.8, 0.25),
                                         {'coco/bbox_mAP': 0.1, 'step': 40}])
    # resumed from iteration 40: its rows replace the first run's from there on
    _scalar_log(mim, '20240102_000000', [_losses(40, 0.75, 0.125), _losses(60, 0.5, 0.0625)])
    _scalar_log(sup, '20240101_000000', [_losses(20, 1.0, 0.5, mask=1.0),
                                         _losses(40, 0.5, 0.5, mask=1.0)])
    out = str(tmp_path / 'out')
    assert tool.main([f'mim={mim}', f'sup={sup}', '--out-dir', out, '--smooth', '0.5']) == 0

    png = osp.join(out, 'detection_loss_curves.png')
    assert _png_size(png) == (3 * 480, 400)  # one 480 x 400 panel per group
    with open(osp.join(out, 'detection_loss_curves.csv')) as f:
        rows = list(csv.DictReader(f))
    loc = [(int(r['iter']), float(r['value']), float(r['smoothed'])) for r in rows
           if r['run'] == 'mim' and r['curve'] == 'localisation']
    # loss_rpn_bbox 0.25 + loss_bbox; EMA 0.5 debiased: 0.75, (0.25*0.75+0.5*0.375)/0.75, ...
    assert [(i, v) for i, v, _ in loc] == [(20, 0.75), (40, 0.375), (60, 0.3125)]
    assert [s for _, _, s in loc] == pytest.approx(
        [0.75, 0.5, (0.125 * 0.75 + 0.25 * 0.375 + 0.5 * 0.3125) / 0.875])
    single = [float(r['value']) for r in rows if r['run'] == 'sup' and r['curve'] == 'loss_cls']
    assert single == [1.0, 0.5]
    with open(osp.join(out, 'detection_loss_curves.json')) as f:
        data = json.load(f)
    assert data['runs']['sup']['groups']['classification']['values'] == [1.5, 1.0]
    assert data['runs']['mim']['groups']['mask']['members'] == ['loss_mask']
    assert data['runs']['mim']['logs'][0].endswith(osp.join('20240101_000000', 'vis_data',
                                                            'scalars.json'))


def test_detection_loss_curves_name_a_work_dir_without_a_log(tmp_path, capsys):
    tool = _analysis_tool('detection_loss_curves')
    empty = tmp_path / 'empty_run'
    empty.mkdir()
    with pytest.raises(SystemExit) as exit_info:
        tool.run_cli(lambda: tool.main([f'x={empty}', '--out-dir', str(tmp_path)]), tool.PROG)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("detection_loss_curves: error: run 'x': ") and str(empty) in err
    assert 'scalars.json' in err
    with pytest.raises(tool.CLIError, match="not NAME=VALUE"):
        tool.main([str(empty)])
