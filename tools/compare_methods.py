"""Pretrain, fine-tune and compare: the main job's comparison table.

    python tools/compare_methods.py [--methods scratch,lomar,mae | all] [--seeds 0[,1,2]]
        [--data data] [--work-dir work_dirs/main] [--recipes configs/comparison/tiny_embedded.py]

For every selected pretraining method (``methods`` of the recipes file) and every seed:
tiny pretraining on ``<data>/pretrain`` (``tools/train.py``), backbone export, reconstruction
grids; then the tiny Mask R-CNN (ViTDet for the ViTs) on ``<data>/coco`` and the tiny UperNet on
``<data>/ade``
fine-tuned from the export and evaluated in the same process (``tools/train.py --test``: mmdet
``CocoMetric``, mmseg ``IoUMetric``), with drawn detections of 8 validation images
(``tools/test.py --show-dir``). Each downstream recipe a method
uses is also trained from scratch with the same configs and seed (its *twin*); ``scratch`` rows
are those twins. Prints and writes the table (``table.md``, ``table.csv``, ``gains.png``) and
``results.json`` under the work dir; every run logs to TensorBoard under it.

Each step writes a stamp (``<step dir>/step_done.json``) holding its command line; a rerun with
the same arguments skips finished steps, so an interrupted job continues where it stopped.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional

import _bootstrap  # noqa: F401

from mim_det.cli import CLIError, run_cli

PROG = 'compare_methods'
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
STAMP = 'step_done.json'
#: relative cost of each step kind, to estimate the time left (measured on a 2-core CPU)
STEP_WEIGHT = {'pretrain': 7.0, 'export': 0.05, 'reconstruct': 0.1, 'detection': 2.8,
               'draw': 0.12, 'segmentation': 1.3, 'tokenizer': 4.0}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split('\n\n')[0])
    parser.add_argument('--methods', default=None,
                        help='comma list of methods ("scratch" included), or "all" for every '
                        'method of the recipes file (default: its default_methods)')
    parser.add_argument('--seeds', default='0',
                        help='comma list of seeds; each seed repeats pretraining and '
                        'fine-tuning and the table gives mean ± std (default: 0)')
    parser.add_argument('--data', default='data', help='generated data (tools/generate_data.py)')
    parser.add_argument('--work-dir', default='work_dirs/main')
    parser.add_argument('--recipes', default='configs/comparison/tiny_embedded.py')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='extra KEY=VALUE overrides for every fine-tuning run, e.g. '
                        'train_cfg.max_iters=20 (quick checks)')
    parser.add_argument('--pretrain-options', nargs='+', default=[],
                        help='extra KEY=VALUE overrides for every pretraining run')
    return parser.parse_args(argv)


def select_methods(requested: Optional[str], recipes) -> List[str]:
    """The methods to run, in table order; ``scratch`` is always first when present."""
    known = list(recipes.methods)
    if requested is None:
        names = list(recipes.default_methods)
    elif requested.strip() == 'all':
        names = ['scratch'] + known
    else:
        names = [n.strip() for n in requested.split(',') if n.strip()]
    unknown = [n for n in names if n != 'scratch' and n not in known]
    if unknown or not names:
        raise CLIError(f'--methods {requested!r}: unknown method(s) {", ".join(unknown)}; '
                       f'choose from scratch, {", ".join(known)} or "all"')
    return sorted(dict.fromkeys(names), key=lambda n: (n != 'scratch', names.index(n)))


def parse_seeds(text: str) -> List[int]:
    try:
        seeds = [int(s) for s in text.split(',') if s.strip()]
    except ValueError:
        raise CLIError(f'--seeds {text!r}: give integers separated by commas, e.g. 0,1,2')
    if not seeds:
        raise CLIError('--seeds: give at least one seed')
    return list(dict.fromkeys(seeds))


def twin_name(downstream: str, default: str) -> str:
    return 'scratch' if downstream == default else f'scratch-{downstream}'


class Job:
    """Runs the steps one at a time, logging each to ``<work>/logs/<name>.log``."""

    def __init__(self, work_dir: str, total_weight: float):
        self.work_dir = work_dir
        self.start = time.time()
        self.total = total_weight
        self.done = 0.0
        self.ran = 0.0  # weight of the steps run (not skipped) in this invocation
        self.count = 0
        os.makedirs(osp.join(work_dir, 'logs'), exist_ok=True)

    def _progress(self) -> str:
        elapsed = time.time() - self.start
        text = f'{elapsed / 60:.1f} min elapsed'
        if self.ran > 0 and self.done < self.total:
            # the pace of the steps this invocation ran; skipped steps cost nothing
            left = elapsed / self.ran * (self.total - self.done)
            text += f', about {left / 60:.0f} min left'
        return text

    def run(self, name: str, kind: str, out_dir: str, cmd: List[str]) -> dict:
        """Run ``cmd`` unless ``out_dir`` holds a stamp of the same command; returns the stamp
        (``seconds``: the step's wall time when it ran)."""
        self.count += 1
        stamp_path = osp.join(out_dir, STAMP)
        if osp.isfile(stamp_path):
            with open(stamp_path) as f:
                stamp = json.load(f)
            if stamp.get('cmd') == cmd:
                self.done += STEP_WEIGHT[kind]
                print(f'[{self.count}] {name}: done before, skipped ({self._progress()})',
                      flush=True)
                return stamp
        print(f'[{self.count}] {name} ...', flush=True)
        log = osp.join(self.work_dir, 'logs', f'{name}.log')
        begin = time.time()
        with open(log, 'w') as f:
            result = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
        seconds = time.time() - begin
        if result.returncode != 0:
            with open(log) as f:
                tail = f.read().splitlines()[-30:]
            print('\n'.join(tail), file=sys.stderr)
            raise CLIError(f'step "{name}" failed (exit {result.returncode}); full log: {log}')
        os.makedirs(out_dir, exist_ok=True)
        stamp = dict(cmd=cmd, seconds=seconds)
        with open(stamp_path, 'w') as f:
            json.dump(stamp, f)
        self.done += STEP_WEIGHT[kind]
        self.ran += STEP_WEIGHT[kind]
        print(f'[{self.count}] {name}: {seconds:.0f} s ({self._progress()})', flush=True)
        return stamp


def _data_options(kind: str, data: str) -> List[str]:
    if kind == 'pretrain':
        return [f'train_dataloader.dataset.data_root={data}/pretrain']
    if kind == 'detection':
        root, ann = f'{data}/coco/', f'{data}/coco/annotations/instances_val2017.json'
        return [f'{split}_dataloader.dataset.data_root={root}'
                for split in ('train', 'val', 'test')] \
            + [f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}']
    root = f'{data}/ade/ADEChallengeData2016'
    return [f'{split}_dataloader.dataset.data_root={root}' for split in ('train', 'val', 'test')]


def _sample_images(data: str) -> List[str]:
    """The two pretraining images every reconstruction grid shows."""
    return [osp.join(data, 'pretrain', 'train', 'images', f'{i:06d}.jpg') for i in range(2)]


def _last_checkpoint(work: str) -> str:
    with open(osp.join(work, 'last_checkpoint')) as f:
        return f.read().strip()


def _test_report(work: str) -> dict:
    with open(osp.join(work, 'test_metrics.json')) as f:
        return json.load(f)['metrics']


def main(argv=None) -> int:
    from mmengine.config import Config

    from mim_det.analysis.comparison import (RunResult, build_table, format_console,
                                             format_markdown, metrics_from_reports,
                                             plot_bar_chart, write_csv)

    args = parse_args(argv)
    if not osp.isfile(args.recipes):
        raise CLIError(f'--recipes {args.recipes}: no such file')
    recipes = Config.fromfile(args.recipes)
    names = select_methods(args.methods, recipes)
    seeds = parse_seeds(args.seeds)
    for sub in ('pretrain', 'coco', 'ade'):
        if not osp.isdir(osp.join(args.data, sub)):
            raise CLIError(f'--data {args.data}: no {sub}/ folder; run python '
                           f'tools/generate_data.py --out-dir {args.data} first')
    data = osp.abspath(args.data)
    work = osp.abspath(args.work_dir)
    py = sys.executable

    pretrained = [n for n in names if n != 'scratch']
    default_ds = recipes.get('scratch_downstream', 'vit')
    twins: Dict[str, str] = {}  # downstream recipe -> scratch row name
    for n in pretrained:
        ds = recipes.methods[n]['downstream']
        if ds not in recipes.downstream:
            raise CLIError(f'{args.recipes}: method {n!r} names downstream {ds!r}, which is not '
                           f'in downstream ({", ".join(recipes.downstream)})')
        twins.setdefault(ds, twin_name(ds, default_ds))
    if 'scratch' in names and not twins:
        twins[default_ds] = 'scratch'

    tokenizers = sorted({recipes.methods[n]['tokenizer'] for n in pretrained
                         if recipes.methods[n].get('tokenizer')})
    for tok in tokenizers:
        if tok not in recipes.get('tokenizers', {}):
            raise CLIError(f'{args.recipes}: a method names tokenizer {tok!r}, which is not in '
                           f'tokenizers ({", ".join(recipes.get("tokenizers", {}))})')
    # methods pretrained for another one's sake (a perceptual tokenizer's feature network, a
    # distillation teacher)
    features = [recipes.tokenizers[t]['perceptual_features'] for t in tokenizers
                if recipes.tokenizers[t].get('perceptual_features')]
    for n in features:
        if n not in recipes.methods:
            raise CLIError(f'{args.recipes}: a tokenizer takes its perceptual features from '
                           f'method {n!r}, which is not in methods')
    for n in pretrained:
        teacher = recipes.methods[n].get('teacher')
        if teacher and (teacher not in recipes.methods or teacher == n):
            raise CLIError(f'{args.recipes}: method {n!r} distils teacher {teacher!r}, which is '
                           'not another entry of methods')
        if teacher:
            features.append(teacher)
    needed = list(dict.fromkeys(pretrained + features))
    weight = len(seeds) * (
        sum(STEP_WEIGHT['pretrain'] + STEP_WEIGHT['export']
            + STEP_WEIGHT['reconstruct'] * bool(recipes.methods[n].get('reconstruct'))
            for n in needed)
        + len(tokenizers) * (STEP_WEIGHT['tokenizer'] + STEP_WEIGHT['reconstruct'])
        + (len(pretrained) + len(twins))
        * (STEP_WEIGHT['detection'] + STEP_WEIGHT['draw'] + STEP_WEIGHT['segmentation']))
    job = Job(work, weight)
    print(f'{PROG}: methods {", ".join(names)}; scratch twins {", ".join(twins.values())}; '
          f'seeds {", ".join(map(str, seeds))}; data {data}; work dir {work}', flush=True)

    def finetune(row: str, seed: int, ds: str, checkpoint: Optional[str]) -> Dict[str, float]:
        configs = recipes.downstream[ds]
        reports = {}
        for kind in ('detection', 'segmentation'):
            out = osp.join(work, row, f'seed{seed}', kind)
            init = [f'model.backbone.init_cfg.checkpoint={checkpoint}'] if checkpoint \
                else ['model.backbone.init_cfg=None']
            schedule = list(recipes.get('finetune_options', {}).get(kind, []))
            opts = _data_options(kind, data) + init + [f'randomness.seed={seed}'] + schedule \
                + list(args.cfg_options)
            job.run(f'{row}-seed{seed}-{kind}', kind, out,
                    [py, 'tools/train.py', configs[kind], '--work-dir', out, '--no-validate',
                     '--test', '--cfg-options', *opts])
            if kind == 'detection':
                ckpt = _last_checkpoint(out)
                test_opts = [o for o in opts if not o.startswith('randomness.')]
                job.run(f'{row}-seed{seed}-draw', 'draw', osp.join(out, 'vis'),
                        [py, 'tools/test.py', configs[kind], ckpt, '--work-dir',
                         osp.join(out, 'vis'), '--show-dir', osp.join(out, 'vis', 'drawn'),
                         '--cfg-options', *test_opts, 'test_dataloader.dataset.indices=8'])
            reports[kind] = _test_report(out)
        return metrics_from_reports(reports['detection'], reports['segmentation'])

    pretrained_runs: Dict[tuple, dict] = {}  # (method, seed) -> its pretraining's outputs
    tokenizer_runs: Dict[tuple, dict] = {}  # (tokenizer, seed) -> its checkpoint and time

    def train_tokenizer(name: str, seed: int) -> dict:
        """A tokenizer of ``recipes.tokenizers`` (once per seed): the plain VQ-VAE, or PeCo's
        perceptual one whose feature network is another method's export of the same seed."""
        if (name, seed) in tokenizer_runs:
            return tokenizer_runs[name, seed]
        spec = recipes.tokenizers[name]
        out = osp.join(work, 'tokenizers', name, f'seed{seed}')
        features = spec.get('perceptual_features')
        network = pretrain(features, seed) if features else None
        flag = (['--perceptual-checkpoint', network['export']] if network
                else ['--no-perceptual'])
        stamp = job.run(f'tokenizer-{name}-seed{seed}', 'tokenizer', out,
                        [py, 'tools/train_tokenizer.py', spec['config'], *flag, '--work-dir', out,
                         '--cfg-options', *_data_options('pretrain', data),
                         f'randomness.seed={seed}'])
        ckpt = _last_checkpoint(out)
        job.run(f'tokenizer-{name}-seed{seed}-reconstruct', 'reconstruct',
                osp.join(out, 'reconstructions'),
                [py, 'tools/visualize_reconstruction.py', spec['config'], ckpt,
                 *_sample_images(data), '--out-dir', osp.join(out, 'reconstructions')])
        # the feature network's pretraining counts too: the tokenizer needed it
        tokenizer_runs[name, seed] = dict(
            ckpt=ckpt, seconds=stamp['seconds'] + (network['seconds'] if network else 0.))
        return tokenizer_runs[name, seed]

    def pretrain(n: str, seed: int) -> dict:
        """Pretraining, export and reconstructions of method ``n`` (once per seed; a method
        another one depends on runs even when it is not a row)."""
        if (n, seed) in pretrained_runs:
            return pretrained_runs[n, seed]
        recipe = recipes.methods[n]
        extra, seconds = [], 0.0
        # the target generator's checkpoint: a tokenizer, or a teacher's export (its pretraining
        # time counts: the row needed it)
        if recipe.get('tokenizer'):
            tok = train_tokenizer(recipe['tokenizer'], seed)
            extra = [f'model.target_generator.init_cfg.checkpoint={tok["ckpt"]}']
            seconds += tok['seconds']
        elif recipe.get('teacher'):
            teacher = pretrain(recipe['teacher'], seed)
            extra = [f'model.target_generator.init_cfg.checkpoint={teacher["export"]}']
            seconds += teacher['seconds']
        out = osp.join(work, n, f'seed{seed}', 'pretrain')
        stamp = job.run(f'{n}-seed{seed}-pretrain', 'pretrain', out,
                        [py, 'tools/train.py', recipe['pretrain'], '--work-dir', out,
                         '--cfg-options', *_data_options('pretrain', data),
                         f'randomness.seed={seed}', *extra, *args.pretrain_options])
        ckpt = _last_checkpoint(out)
        export = osp.join(out, 'backbone.safetensors')
        job.run(f'{n}-seed{seed}-export', 'export', osp.join(out, 'export'),
                [py, 'tools/export_backbone.py', ckpt, export])
        if recipe.get('reconstruct'):
            job.run(f'{n}-seed{seed}-reconstruct', 'reconstruct',
                    osp.join(out, 'reconstructions'),
                    [py, 'tools/visualize_reconstruction.py', recipe['pretrain'], ckpt,
                     *_sample_images(data), '--out-dir', osp.join(out, 'reconstructions')])
        pretrained_runs[n, seed] = dict(export=export, seconds=seconds + stamp['seconds'])
        return pretrained_runs[n, seed]

    runs: List[RunResult] = []
    for seed in seeds:
        for ds, row in twins.items():
            runs.append(RunResult(row, seed, **finetune(row, seed, ds, None)))
        for n in pretrained:
            recipe = recipes.methods[n]
            run = pretrain(n, seed)
            metrics = finetune(n, seed, recipe['downstream'], run['export'])
            runs.append(RunResult(n, seed, pretrain_s=run['seconds'],
                                  twin=twins[recipe['downstream']], **metrics))

    rows = build_table(runs)
    with open(osp.join(work, 'results.json'), 'w') as f:
        json.dump(dict(methods=names, seeds=seeds, data=data,
                       runs=[vars(r) for r in runs]), f, indent=2)
    markdown = format_markdown(rows)
    with open(osp.join(work, 'table.md'), 'w') as f:
        f.write(markdown)
    write_csv(rows, osp.join(work, 'table.csv'))
    plot_bar_chart(rows, osp.join(work, 'gains.png'))
    print(f'\nComparison table ({len(seeds)} seed(s); box/mask AP in points, mIoU in %; '
          f'gains paired per seed, ± is the seed std)\n')
    print(format_console(rows))
    for row in rows:
        losing = [k for k in row.gains if not row.beats_scratch(k)]
        if losing:
            print(f'NOTE: {row.method} does not beat {row.twin} on {", ".join(losing)} '
                  f'by more than the seed spread')
    print(f'written: {work}/table.md, table.csv, gains.png, results.json; '
          f'TensorBoard: tensorboard --logdir {work}')
    return 0


if __name__ == '__main__':
    run_cli(main, 'compare_methods.py')
