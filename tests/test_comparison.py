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
    # 2 x (det train + test, draw, seg train + test) + pretraining, export, reconstruction,
    # and the attention analysis of the MAE export
    assert len(started) == 10
    attention = json.loads((work / 'attention' / 'attention_analysis.json').read_text())
    assert [m['label'] for m in attention['models']] == ['mae']
    assert (work / 'attention' / 'attention_distance.png').read_bytes()[:4] == b'\x89PNG'
    assert 'Evaluation report (train.py --test)' in report
    assert again.stdout.count('done before, skipped') == len(started)
    assert not [line for line in again.stdout.splitlines() if line.endswith(' ...')]


def _record_steps(monkeypatch, tool, seconds: dict, default_seconds: float,
                  spans: dict = None, sleep: dict = None, reads: dict = None) -> list:
    """Replace ``Job.run`` of the compare tool by a recorder: each step's (name, command) is
    appended to the returned list (its ``inputs`` to ``reads``, when given), trainings leave a ``last_checkpoint``, fine-tunings a
    ``test_metrics.json``, and a step of kind k takes ``seconds.get(k, default_seconds)``.
    With ``sleep`` (kind -> seconds), a step really lasts that long and ``spans`` gets its
    (start, end) times."""
    import json
    import os
    import time
    steps = []

    def record(self, name, kind, out_dir, cmd, inputs=()):
        start = time.monotonic()
        steps.append((name, cmd))
        if reads is not None:
            reads[name] = list(inputs)
        if sleep:
            time.sleep(sleep.get(kind, 0.0))
            spans[name] = (start, time.monotonic())
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
    reads = {}
    steps = _record_steps(monkeypatch, tool, dict(tokenizer=60.0), default_seconds=100.0,
                          reads=reads)
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
    # each step names the files of earlier steps it reads, so rerunning one of those reruns it
    peco_export = str(work / 'peco' / 'seed0' / 'pretrain' / 'backbone.safetensors')
    assert reads['tokenizer-perceptual-seed0'] == [mae_export]
    assert reads['tokenizer-vq_vae-seed0'] == []
    assert reads['peco-seed0-pretrain'] == [tok_ckpt]
    assert reads['peco-seed0-export'] == [str(work / 'peco' / 'seed0' / 'pretrain' / 'iter_1.pth')]
    assert reads['peco-seed0-detection'] == reads['peco-seed0-segmentation'] == [peco_export]
    assert reads['scratch-shared_rel_pos_bias-seed0-detection'] == []
    assert reads['peco-seed0-draw'] == [
        str(work / 'peco' / 'seed0' / 'detection' / 'iter_1.pth')]
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


def _overlaps(spans: dict) -> int:
    """The most steps running at the same moment."""
    edges = sorted([(t0, 1) for t0, _ in spans.values()] + [(t1, -1) for _, t1 in spans.values()])
    most = running = 0
    for _, step in edges:  # an end sorts before a start at the same instant
        running += step
        most = max(most, running)
    return most


@pytest.mark.parametrize('jobs', [1, 2])
def test_side_by_side_steps_wait_for_their_dependencies(tmp_path, monkeypatch, jobs):
    """--methods tinymim with --jobs 1 and 2 (steps recorded, each lasting a while): never more
    than `jobs` steps at once; the distillation starts after its teacher's export, the student's
    fine-tunings after its export; with two threads, the free one fine-tunes the scratch twin
    while the teacher pretrains instead of waiting for it."""
    tool = _tool()
    spans = {}
    _record_steps(monkeypatch, tool, {}, default_seconds=1.0, spans=spans,
                  sleep=dict(pretrain=0.8, detection=0.1, segmentation=0.1))
    data, work = _empty_data(tmp_path), tmp_path / 'main'
    assert tool.main(['--methods', 'tinymim', '--jobs', str(jobs), '--data', str(data),
                      '--work-dir', str(work)]) == 0
    assert _overlaps(spans) == jobs
    assert spans['tinymim-seed0-pretrain'][0] >= spans['mae-seed0-export'][1]
    for kind in ('detection', 'segmentation'):
        assert spans[f'tinymim-seed0-{kind}'][0] >= spans['tinymim-seed0-export'][1]
    twin_start = min(spans[f'scratch-vit_student-seed0-{k}'][0]
                     for k in ('detection', 'segmentation'))
    assert (twin_start < spans['mae-seed0-pretrain'][1]) == (jobs == 2)


def test_first_failure_stops_the_steps_running_beside_it(tmp_path):
    """Two real steps side by side, one OpenMP thread each: when one fails, the other is
    stopped (no stamp, so a rerun repeats it) and the failure is raised naming its log."""
    import sys
    tool = _tool()
    job = tool.Job(str(tmp_path), total_weight=2.0, threads=1)
    slow = [sys.executable, '-c', 'import os, time; print("threads", os.environ["OMP_NUM_'
            'THREADS"], os.environ["MKL_NUM_THREADS"], flush=True); time.sleep(120)']
    fail = [sys.executable, '-c', 'import time; time.sleep(2); raise SystemExit(3)']
    tasks = [(None, [], lambda: job.run('slow', 'draw', str(tmp_path / 'slow'), slow)),
             (None, [], lambda: job.run('fail', 'draw', str(tmp_path / 'fail'), fail))]
    with pytest.raises(tool.CLIError, match=r'step "fail" failed \(exit 3\); full log: .*fail\.log'):
        tool.run_side_by_side(tasks, 2, job, tool.Once())
    assert not (tmp_path / 'slow' / 'step_done.json').exists()
    assert (tmp_path / 'logs' / 'slow.log').read_text() == 'threads 1 1\n'


def test_step_stamp_is_written_whole_and_a_truncated_one_reruns_the_step(tmp_path):
    """A finished step's stamp skips it on a rerun; a stamp cut short (a job killed while an
    older version wrote it) is not read as done, nor does it crash the job: the step runs again
    and leaves a complete stamp, with no temporary file beside it."""
    import json
    import sys
    tool = _tool()
    out = tmp_path / 'step'
    marker = tmp_path / 'runs.txt'
    cmd = [sys.executable, '-c', f'open({str(marker)!r}, "a").write("ran\\n")']
    job = tool.Job(str(tmp_path), total_weight=3.0, threads=1)
    first = job.run('step', 'draw', str(out), cmd)
    assert json.loads((out / 'step_done.json').read_text()) == first and first['cmd'] == cmd
    assert job.run('step', 'draw', str(out), cmd) == first  # skipped
    assert marker.read_text() == 'ran\n'
    (out / 'step_done.json').write_text(json.dumps(first)[:20])
    job.run('step', 'draw', str(out), cmd)
    assert marker.read_text() == 'ran\nran\n'
    assert json.loads((out / 'step_done.json').read_text())['cmd'] == cmd
    assert sorted(p.name for p in out.iterdir()) == ['step_done.json']


def test_a_step_reruns_when_a_file_it_reads_was_rewritten(tmp_path):
    """Two real steps, B reading what A wrote: a rerun with nothing changed skips both; when A
    runs again with another command (a pretraining with other options), B runs again on A's
    new file instead of keeping its result from the old one (the stamp records the digest of
    each input); a missing input is a one-line error naming it."""
    import sys
    tool = _tool()
    a_out, b_out = tmp_path / 'a', tmp_path / 'b'
    made, result = tmp_path / 'made.txt', tmp_path / 'result.txt'

    def make(text):
        return [sys.executable, '-c', f'open({str(made)!r}, "w").write({text!r})']

    use = [sys.executable, '-c',
           f'open({str(result)!r}, "a").write(open({str(made)!r}).read() + "\\n")']
    job = tool.Job(str(tmp_path), total_weight=6.0, threads=1)
    job.run('a', 'pretrain', str(a_out), make('old'))
    job.run('b', 'segmentation', str(b_out), use, inputs=[str(made)])
    job.run('a', 'pretrain', str(a_out), make('old'))  # skipped
    job.run('b', 'segmentation', str(b_out), use, inputs=[str(made)])  # skipped
    assert result.read_text() == 'old\n'
    job.run('a', 'pretrain', str(a_out), make('new'))
    job.run('b', 'segmentation', str(b_out), use, inputs=[str(made)])
    assert result.read_text() == 'old\nnew\n'
    made.unlink()
    with pytest.raises(tool.CLIError, match=r'made\.txt: a step needs this file'):
        job.run('b', 'segmentation', str(b_out), use, inputs=[str(made)])



def test_a_step_reruns_when_its_config_now_says_something_else(tmp_path):
    """A real step whose command names a config: a rerun skips it while the resolved config is
    the same (a comment added to it changes nothing), and runs it again when a value changes,
    in the config or in a ``_base_`` file it inherits (the stamp holds the digest of the
    resolved config, not only the command line). A config that cannot be read is a one-line
    error naming it."""
    import sys
    tool = _tool()
    base, child = tmp_path / 'base.py', tmp_path / 'child.py'
    base.write_text('lr = 1e-3\n')
    child.write_text("_base_ = ['./base.py']\noptim = dict(lr={{_base_.lr}})\n")
    marker, out = tmp_path / 'runs.txt', tmp_path / 'step'
    cmd = [sys.executable, '-c',
           f'import sys; open({str(marker)!r}, "a").write(sys.argv[1][-8:] + "\\n")',
           str(child)]
    job = tool.Job(str(tmp_path), total_weight=5.0, threads=1)
    stamp = job.run('step', 'segmentation', str(out), cmd)
    assert list(stamp['configs']) == [str(child)]
    child.write_text('# a comment\n' + child.read_text())
    job.run('step', 'segmentation', str(out), cmd)  # skipped: resolves to the same
    assert marker.read_text() == 'child.py\n'
    base.write_text('lr = 3e-3\n')  # the inherited value changes
    job.run('step', 'segmentation', str(out), cmd)
    assert marker.read_text() == 'child.py\n' * 2
    job.run('step', 'segmentation', str(out), cmd)  # skipped again
    assert marker.read_text() == 'child.py\n' * 2
    child.write_text("_base_ = ['./base.py']\noptim = dict(lr=1e-2)\n")
    job.run('step', 'segmentation', str(out), cmd)
    assert marker.read_text() == 'child.py\n' * 3
    child.write_text("_base_ = ['./missing_base.py']\n")
    with pytest.raises(tool.CLIError, match=r'child\.py: cannot read this config'):
        job.run('step', 'segmentation', str(out), cmd)
    assert marker.read_text() == 'child.py\n' * 3

def test_jobs_and_threads_per_step():
    tool = _tool()
    assert tool.parse_jobs('auto', 2) == 1 and tool.parse_jobs('auto', 64) == 4
    assert tool.parse_jobs('auto', 1) == 1 and tool.parse_jobs('auto', 6) == 3 and tool.parse_jobs('3', 2) == 3
    for bad in ('0', 'two', '-1'):
        with pytest.raises(tool.CLIError, match='--jobs'):
            tool.parse_jobs(bad, 2)
