"""The main job's comparison table: pairing with scratch twins, the CSV/Markdown writers, the
bar chart PNG, method selection in tools/compare_methods.py."""
import csv
import importlib.util
import os.path as osp
import struct

import pytest
from mmengine.config import Config

from mim_det.analysis.comparison import (RunResult, build_table, format_console,
                                         format_markdown, metrics_from_reports,
                                         plot_bar_chart, write_csv)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
RECIPES = osp.join(ROOT, 'configs/comparison/tiny_embedded.py')


def _tool():
    spec = importlib.util.spec_from_file_location(
        'compare_methods', osp.join(ROOT, 'tools/compare_methods.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _two_rows(seeds=(0, )):
    runs = []
    for s in seeds:
        runs.append(RunResult('scratch', s, bbox_mAP=10.0 + s, segm_mAP=9.0 + s, mIoU=20.0 + s))
        runs.append(RunResult('mae', s, bbox_mAP=13.0 + 2 * s, segm_mAP=11.0 + s,
                              mIoU=19.0 + s, pretrain_s=125.0, twin='scratch'))
    return runs


def test_gains_are_paired_per_seed():
    rows = build_table(_two_rows(seeds=(0, 1, 2)))
    assert [r.method for r in rows] == ['scratch', 'mae']
    scratch, mae = rows
    assert scratch.gains == {} and scratch.twin is None
    # bbox gains per seed: 3, 4, 5 -> mean 4, sample std 1
    assert mae.gains['bbox_mAP'].mean == pytest.approx(4.0)
    assert mae.gains['bbox_mAP'].std == pytest.approx(1.0)
    # segm gains are 2 at every seed: the pairing removes the seed effect entirely
    assert mae.gains['segm_mAP'].std == pytest.approx(0.0)
    assert mae.gains['mIoU'].mean == pytest.approx(-1.0)
    assert mae.metrics['bbox_mAP'].mean == pytest.approx(15.0)
    assert mae.beats_scratch('bbox_mAP') and not mae.beats_scratch('mIoU')


def test_twin_must_cover_the_seeds():
    runs = _two_rows(seeds=(0, 1))
    runs = [r for r in runs if not (r.method == 'scratch' and r.seed == 1)]
    with pytest.raises(ValueError, match='lacks seeds'):
        build_table(runs)


def test_markdown_console_and_csv(tmp_path):
    rows = build_table(_two_rows())
    md = format_markdown(rows)
    lines = md.strip().splitlines()
    assert lines[0].startswith('| method | pretrain time | bbox mAP | segm mAP | mIoU |')
    assert len(lines) == 4
    assert '| mae | 2m05s | 13.0 | 11.0 | 19.0 | +3.0 / +2.0 / -1.0 (vs scratch) |' in md
    assert 'mae' in format_console(rows)
    path = tmp_path / 'table.csv'
    write_csv(rows, str(path))
    with open(path) as f:
        table = list(csv.DictReader(f))
    assert [r['method'] for r in table] == ['scratch', 'mae']
    assert float(table[1]['gain_bbox_mAP']) == pytest.approx(3.0)
    assert table[1]['gain_bbox_mAP_std'] == ''  # one seed: no spread
    assert table[0]['gain_mIoU'] == '' and table[1]['scratch_twin'] == 'scratch'


def test_bar_chart_is_a_png_of_the_requested_size(tmp_path):
    path = tmp_path / 'gains.png'
    plot_bar_chart(build_table(_two_rows(seeds=(0, 1))), str(path), width_px=800,
                   height_px=400)
    data = path.read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    assert data[12:16] == b'IHDR'
    width, height = struct.unpack('>II', data[16:24])
    assert (width, height) == (800, 400)
    assert len(data) > 5000  # bars, axes and labels, not an empty canvas


def test_metrics_from_test_reports_use_table_units():
    det = {'coco/bbox_mAP': 0.253, 'coco/segm_mAP': 0.241}
    seg = {'mIoU': 31.5, 'aAcc': 80.0}
    assert metrics_from_reports(det, seg) == pytest.approx(
        {'bbox_mAP': 25.3, 'segm_mAP': 24.1, 'mIoU': 31.5})
    with pytest.raises(KeyError, match='coco/segm_mAP'):
        metrics_from_reports({'coco/bbox_mAP': 0.1}, seg)


def test_method_selection_and_twins():
    tool = _tool()
    recipes = Config.fromfile(RECIPES)
    assert tool.select_methods(None, recipes) == list(recipes.default_methods)
    everything = tool.select_methods('all', recipes)
    assert everything[0] == 'scratch' and set(everything[1:]) == set(recipes.methods)
    assert tool.select_methods('mae,scratch', recipes) == ['scratch', 'mae']
    with pytest.raises(tool.CLIError, match='unknown method'):
        tool.select_methods('mae,dino', recipes)
    with pytest.raises(tool.CLIError, match='integers'):
        tool.parse_seeds('0,a')
    assert tool.twin_name('vit', 'vit') == 'scratch'
    assert tool.twin_name('contextual_rpe', 'vit') == 'scratch-contextual_rpe'


def test_recipes_name_existing_configs():
    recipes = Config.fromfile(RECIPES)
    for name, method in recipes.methods.items():
        assert osp.isfile(osp.join(ROOT, method['pretrain'])), name
        assert method['downstream'] in recipes.downstream, name
        if method.get('tokenizer'):
            assert method['tokenizer'] in recipes.tokenizers, name
            # the tokenizer's checkpoint goes where the pretraining config reads it
            pretrain = Config.fromfile(osp.join(ROOT, method['pretrain']))
            assert pretrain.model.target_generator.init_cfg.type == 'Pretrained', name
    for name, tok in recipes.tokenizers.items():
        assert osp.isfile(osp.join(ROOT, tok['config'])), name
        assert tok['perceptual_features'] in (None, *recipes.methods), name
    for name, ds in recipes.downstream.items():
        for kind in ('detection', 'segmentation'):
            cfg = Config.fromfile(osp.join(ROOT, ds[kind]))
            assert cfg.model.backbone.init_cfg['type'] == 'Pretrained', (name, kind)


@pytest.mark.slow
def test_compare_tool_end_to_end(tmp_path, small_data):
    """tools/compare_methods.py with scratch + MAE and a few iterations per run: every step,
    the table files, the drawn predictions and reconstructions; a rerun skips every step."""
    import json
    import sys
    from conftest import run_tool
    work = tmp_path / 'main'
    cmd = [sys.executable, 'tools/compare_methods.py', '--methods', 'scratch,mae',
           '--data', small_data, '--work-dir', str(work),
           '--cfg-options', 'train_cfg.max_iters=3',
           '--pretrain-options', 'train_cfg.max_iters=3', 'train_dataloader.num_workers=0',
           'train_dataloader.persistent_workers=False']
    result = run_tool(cmd)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert 'Comparison table' in out and 'scratch' in out and 'mae' in out
    with open(work / 'table.csv') as f:
        table = list(csv.DictReader(f))
    assert [r['method'] for r in table] == ['scratch', 'mae']
    assert table[1]['scratch_twin'] == 'scratch' and table[1]['gain_mIoU'] != ''
    assert (work / 'table.md').read_text().count('\n') == 4
    assert (work / 'gains.png').read_bytes()[:4] == b'\x89PNG'
    results = json.loads((work / 'results.json').read_text())
    assert {r['method'] for r in results['runs']} == {'scratch', 'mae'}
    assert list((work / 'mae' / 'seed0' / 'pretrain' / 'reconstructions').glob('*_mae.png'))
    assert list((work / 'mae' / 'seed0' / 'detection' / 'vis' / 'drawn').rglob('*.jpg'))
    report = (work / 'logs' / 'mae-seed0-detection.log').read_text()
    assert 'layout: mim_det export' in report and 'SUSPICIOUS' not in report
    scratch_log = (work / 'logs' / 'scratch-seed0-detection.log').read_text()
    assert 'load_vit_checkpoint' not in scratch_log  # the twin starts from scratch
    # an interrupted or repeated job continues: every finished step is skipped
    again = run_tool(cmd)
    assert again.returncode == 0, again.stderr[-3000:]
    started = [line for line in out.splitlines() if line.endswith(' ...')]
    # 2 x (det train + test, draw, seg train + test) + pretraining, export, reconstruction
    assert len(started) == 9
    assert 'Evaluation report (train.py --test)' in report
    assert again.stdout.count('done before, skipped') == len(started)
    assert not [line for line in again.stdout.splitlines() if line.endswith(' ...')]


def _record_steps(monkeypatch, tool, seconds: dict, default_seconds: float) -> list:
    """Replace ``Job.run`` of the compare tool by a recorder: each step's (name, command) is
    appended to the returned list, trainings leave a ``last_checkpoint``, fine-tunings a
    ``test_metrics.json``, and a step of kind k takes ``seconds.get(k, default_seconds)``."""
    import json
    import os
    steps = []

    def record(self, name, kind, out_dir, cmd):
        steps.append((name, cmd))
        os.makedirs(out_dir, exist_ok=True)
        if kind in ('pretrain', 'tokenizer', 'detection', 'segmentation'):
            with open(osp.join(out_dir, 'last_checkpoint'), 'w') as f:
                f.write(osp.join(out_dir, 'iter_1.pth'))
        if kind in ('detection', 'segmentation'):
            metrics = {'coco/bbox_mAP': 0.05, 'coco/segm_mAP': 0.04, 'mIoU': 20.0}
            with open(osp.join(out_dir, 'test_metrics.json'), 'w') as f:
                json.dump(dict(metrics=metrics), f)
        return dict(cmd=cmd, seconds=seconds.get(kind, default_seconds))

    monkeypatch.setattr(tool.Job, 'run', record)
    return steps


def _empty_data(tmp_path):
    """A --data folder with the three subfolders the tool checks for (nothing in them)."""
    data = tmp_path / 'data'
    for sub in ('pretrain', 'coco', 'ade'):
        (data / sub).mkdir(parents=True)
    return data


def test_token_methods_train_their_tokenizers_first(tmp_path, monkeypatch):
    """The step plan of --methods peco,lomar_beit (each step's command recorded instead of
    run): the perceptual tokenizer needs MAE's export of the same seed, so MAE is pretrained
    and exported (not fine-tuned) before it; each tokenizer trains once per seed and its
    checkpoint is the pretraining's target generator; the pretrain time counts the
    tokenizer's and its feature network's."""
    import json
    tool = _tool()
    steps = _record_steps(monkeypatch, tool, dict(tokenizer=60.0), default_seconds=100.0)
    data, work = _empty_data(tmp_path), tmp_path / 'main'
    assert tool.main(['--methods', 'peco,lomar_beit', '--data', str(data),
                      '--work-dir', str(work)]) == 0
    names = [n for n, _ in steps]
    assert names.index('mae-seed0-export') < names.index('tokenizer-perceptual-seed0') \
        < names.index('peco-seed0-pretrain')
    assert names.index('tokenizer-vq_vae-seed0') < names.index('lomar_beit-seed0-pretrain')
    assert not any(n.startswith('mae-seed0-detection') for n in names)  # a dependency, no row
    cmds = dict(steps)
    perceptual = cmds['tokenizer-perceptual-seed0']
    mae_export = str(work / 'mae' / 'seed0' / 'pretrain' / 'backbone.safetensors')
    assert perceptual[perceptual.index('--perceptual-checkpoint') + 1] == mae_export
    assert '--no-perceptual' in cmds['tokenizer-vq_vae-seed0']
    tok_ckpt = osp.join(str(work / 'tokenizers' / 'perceptual' / 'seed0'), 'iter_1.pth')
    assert f'model.target_generator.init_cfg.checkpoint={tok_ckpt}' in cmds['peco-seed0-pretrain']
    assert {n for n in names if n.endswith('-reconstruct')} == {
        'mae-seed0-reconstruct', 'tokenizer-perceptual-seed0-reconstruct',
        'tokenizer-vq_vae-seed0-reconstruct'}
    results = json.loads((work / 'results.json').read_text())
    runs = {r['method']: r for r in results['runs']}
    assert set(runs) == {'scratch-shared_rel_pos_bias', 'scratch-contextual_rpe', 'peco',
                         'lomar_beit'}
    assert runs['peco']['pretrain_s'] == 260.0 and runs['peco']['twin'] == 'scratch-shared_rel_pos_bias'


def test_distillation_pretrains_its_teacher_first(tmp_path, monkeypatch):
    """The step plan of --methods tinymim (commands recorded instead of run): the teacher (MAE)
    is pretrained and exported, not fine-tuned, before the distillation, whose target generator
    is that export; the student is fine-tuned beside its own-size scratch twin; the pretrain
    time counts the teacher's."""
    import json
    tool = _tool()
    steps = _record_steps(monkeypatch, tool, dict(pretrain=100.0), default_seconds=10.0)
    data, work = _empty_data(tmp_path), tmp_path / 'main'
    assert tool.main(['--methods', 'tinymim', '--data', str(data), '--work-dir', str(work)]) == 0
    names = [n for n, _ in steps]
    assert names.index('mae-seed0-export') < names.index('tinymim-seed0-pretrain')
    assert not any(n.startswith('mae-seed0-detection') for n in names)  # a teacher, no row
    teacher = str(work / 'mae' / 'seed0' / 'pretrain' / 'backbone.safetensors')
    assert f'model.target_generator.init_cfg.checkpoint={teacher}' in \
        dict(steps)['tinymim-seed0-pretrain']
    runs = {r['method']: r for r in json.loads((work / 'results.json').read_text())['runs']}
    assert set(runs) == {'scratch-vit_student', 'tinymim'}
    assert runs['tinymim']['twin'] == 'scratch-vit_student'
    assert runs['tinymim']['pretrain_s'] == 200.0  # MAE's pretraining 100 + distillation 100
