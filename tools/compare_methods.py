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

Independent steps run side by side (``--jobs``; default ``auto``: one per two CPU
cores, at most 4),
each with ``cores // jobs`` OpenMP threads (why: :mod:`mim_det.analysis.steps`). ``--jobs 1``
runs the steps one at a time with the caller's environment.
"""
import argparse
import json
import os.path as osp
import sys
from typing import Dict, List, Optional

import _bootstrap  # noqa: F401

from mim_det.analysis.steps import Job, Once, parse_jobs, run_side_by_side, usable_cores
from mim_det.cli import CLIError, run_cli

PROG = 'compare_methods'
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: relative cost of each step kind, to estimate the time left (measured on a 2-core CPU)
STEP_WEIGHT = {'pretrain': 7.0, 'export': 0.05, 'reconstruct': 0.1, 'detection': 2.8,
               'draw': 0.12, 'segmentation': 1.3, 'tokenizer': 4.0, 'attention': 0.05}


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
    parser.add_argument('--jobs', default='auto',
                        help='steps run side by side, each with cores // jobs OpenMP threads; '
                        '"auto" = one per two cores, at most 4; 1 = one at a time, threads as the '
                        'environment says (default: auto)')
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
        * (STEP_WEIGHT['detection'] + STEP_WEIGHT['draw'] + STEP_WEIGHT['segmentation'])
        + STEP_WEIGHT['attention'] * any(recipes.methods[n].get('attention', True)
                                         for n in pretrained))
    cores = usable_cores()
    jobs = parse_jobs(args.jobs, cores)
    threads = None if jobs == 1 else max(1, cores // jobs)
    job = Job(work, weight, threads, weights=STEP_WEIGHT, root=ROOT, jobs=jobs)
    side_by_side = 'one step at a time' if jobs == 1 else \
        f'{jobs} steps side by side, {threads} OpenMP thread(s) each ({cores} cores)'
    print(f'{PROG}: methods {", ".join(names)}; scratch twins {", ".join(twins.values())}; '
          f'seeds {", ".join(map(str, seeds))}; {side_by_side}; data {data}; work dir {work}',
          flush=True)

    def finetune(row: str, seed: int, ds: str, kind: str, pretrained: Optional[str]) -> dict:
        """Fine-tune and test one downstream recipe (``kind``: detection, with its drawn
        predictions, or segmentation) from method ``pretrained``'s export of this seed, or
        from scratch (None); returns the test report's metrics."""
        checkpoint = pretrain(pretrained, seed)['export'] if pretrained else None
        config = recipes.downstream[ds][kind]
        out = osp.join(work, row, f'seed{seed}', kind)
        init = [f'model.backbone.init_cfg.checkpoint={checkpoint}'] if checkpoint \
            else ['model.backbone.init_cfg=None']
        schedule = list(recipes.get('finetune_options', {}).get(kind, []))
        opts = _data_options(kind, data) + init + [f'randomness.seed={seed}'] + schedule \
            + list(args.cfg_options)
        job.run(f'{row}-seed{seed}-{kind}', kind, out,
                [py, 'tools/train.py', config, '--work-dir', out, '--no-validate',
                 '--test', '--cfg-options', *opts], inputs=[checkpoint] if checkpoint else [])
        if kind == 'detection':
            ckpt = _last_checkpoint(out)
            test_opts = [o for o in opts if not o.startswith('randomness.')]
            job.run(f'{row}-seed{seed}-draw', 'draw', osp.join(out, 'vis'),
                    [py, 'tools/test.py', config, ckpt, '--work-dir',
                     osp.join(out, 'vis'), '--show-dir', osp.join(out, 'vis', 'drawn'),
                     '--cfg-options', *test_opts, 'test_dataloader.dataset.indices=8'],
                    inputs=[ckpt])
        return _test_report(out)

    once = Once()  # a pretraining or tokenizer other steps need runs once per seed

    def train_tokenizer(name: str, seed: int) -> dict:
        """A tokenizer of ``recipes.tokenizers`` (once per seed): the plain VQ-VAE, or PeCo's
        perceptual one whose feature network is another method's export of the same seed."""
        return once(('tokenizer', name, seed), lambda: _train_tokenizer(name, seed))

    def _train_tokenizer(name: str, seed: int) -> dict:
        spec = recipes.tokenizers[name]
        out = osp.join(work, 'tokenizers', name, f'seed{seed}')
        features = spec.get('perceptual_features')
        network = pretrain(features, seed) if features else None
        flag = (['--perceptual-checkpoint', network['export']] if network
                else ['--no-perceptual'])
        stamp = job.run(f'tokenizer-{name}-seed{seed}', 'tokenizer', out,
                        [py, 'tools/train_tokenizer.py', spec['config'], *flag, '--work-dir', out,
                         '--cfg-options', *_data_options('pretrain', data),
                         f'randomness.seed={seed}'],
                        inputs=[network['export']] if network else [])
        ckpt = _last_checkpoint(out)
        job.run(f'tokenizer-{name}-seed{seed}-reconstruct', 'reconstruct',
                osp.join(out, 'reconstructions'),
                [py, 'tools/visualize_reconstruction.py', spec['config'], ckpt,
                 *_sample_images(data), '--out-dir', osp.join(out, 'reconstructions')],
                inputs=[ckpt])
        # the feature network's pretraining counts too: the tokenizer needed it
        return dict(ckpt=ckpt, seconds=stamp['seconds'] + (network['seconds'] if network else 0.))

    def pretrain(n: str, seed: int) -> dict:
        """Pretraining, export and reconstructions of method ``n`` (once per seed; a method
        another one depends on runs even when it is not a row)."""
        return once(('pretrain', n, seed), lambda: _pretrain(n, seed))

    def _pretrain(n: str, seed: int) -> dict:
        recipe = recipes.methods[n]
        extra, reads, seconds = [], [], 0.0
        # the target generator's checkpoint: a tokenizer, or a teacher's export (its pretraining
        # time counts: the row needed it)
        if recipe.get('tokenizer'):
            tok = train_tokenizer(recipe['tokenizer'], seed)
            extra, reads = [f'model.target_generator.init_cfg.checkpoint={tok["ckpt"]}'], \
                [tok['ckpt']]
            seconds += tok['seconds']
        elif recipe.get('teacher'):
            teacher = pretrain(recipe['teacher'], seed)
            extra, reads = [f'model.target_generator.init_cfg.checkpoint={teacher["export"]}'], \
                [teacher['export']]
            seconds += teacher['seconds']
        out = osp.join(work, n, f'seed{seed}', 'pretrain')
        stamp = job.run(f'{n}-seed{seed}-pretrain', 'pretrain', out,
                        [py, 'tools/train.py', recipe['pretrain'], '--work-dir', out,
                         '--cfg-options', *_data_options('pretrain', data),
                         f'randomness.seed={seed}', *extra, *args.pretrain_options],
                        inputs=reads)
        ckpt = _last_checkpoint(out)
        export = osp.join(out, 'backbone.safetensors')
        job.run(f'{n}-seed{seed}-export', 'export', osp.join(out, 'export'),
                [py, 'tools/export_backbone.py', ckpt, export], inputs=[ckpt])
        if recipe.get('reconstruct'):
            job.run(f'{n}-seed{seed}-reconstruct', 'reconstruct',
                    osp.join(out, 'reconstructions'),
                    [py, 'tools/visualize_reconstruction.py', recipe['pretrain'], ckpt,
                     *_sample_images(data), '--out-dir', osp.join(out, 'reconstructions')],
                    inputs=[ckpt])
        return dict(export=export, seconds=seconds + stamp['seconds'])

    # The work as independent chains, longest first so that the fine-tunings from scratch fill
    # the threads the pretrainings leave: each pretraining (its tokenizer or teacher first;
    # dependencies lead the list), then each fine-tuning (a pretrained row's waits for its
    # export).
    def needs(n: str, seed: int) -> List[tuple]:
        """The keys of ``once`` that method ``n``'s pretraining waits for first."""
        recipe = recipes.methods[n]
        if recipe.get('teacher'):
            return [('pretrain', recipe['teacher'], seed)]
        if recipe.get('tokenizer'):
            features = recipes.tokenizers[recipe['tokenizer']].get('perceptual_features')
            return [('tokenizer', recipe['tokenizer'], seed)] \
                + ([('pretrain', features, seed)] if features else [])
        return []

    tasks: List[tuple] = []  # (key it computes, keys it waits for, chain of steps)
    rows: List[tuple] = []  # (row, seed, downstream recipe, pretrained method or None)
    for seed in seeds:
        for n in dict.fromkeys(features + pretrained):
            tasks.append((('pretrain', n, seed), needs(n, seed),
                          lambda n=n, seed=seed: pretrain(n, seed)))
    for seed in seeds:
        rows += [(row, seed, ds, None) for ds, row in twins.items()]
        rows += [(n, seed, recipes.methods[n]['downstream'], n) for n in pretrained]
    for row in rows:
        for kind in ('detection', 'segmentation'):
            keys = [('pretrain', row[3], row[1])] if row[3] else []
            tasks.append((None, keys,
                          lambda row=row, kind=kind: finetune(*row[:3], kind, row[3])))
    results = run_side_by_side(tasks, jobs, job, once)[-2 * len(rows):]

    runs: List[RunResult] = []
    for i, (row, seed, ds, method) in enumerate(rows):
        metrics = metrics_from_reports(results[2 * i], results[2 * i + 1])
        if method is None:
            runs.append(RunResult(row, seed, **metrics))
        else:
            runs.append(RunResult(row, seed, pretrain_s=pretrain(method, seed)['seconds'],
                                  twin=twins[ds], **metrics))

    table = build_table(runs)
    with open(osp.join(work, 'results.json'), 'w') as f:
        json.dump(dict(methods=names, seeds=seeds, data=data,
                       runs=[vars(r) for r in runs]), f, indent=2)
    markdown = format_markdown(table)
    with open(osp.join(work, 'table.md'), 'w') as f:
        f.write(markdown)
    write_csv(table, osp.join(work, 'table.csv'))
    plot_bar_chart(table, osp.join(work, 'gains.png'))
    print(f'\nComparison table ({len(seeds)} seed(s); box/mask AP in points, mIoU in %; '
          f'gains paired per seed, ± is the seed std)\n')
    print(format_console(table))
    for row in table:
        losing = [k for k in row.gains if not row.beats_scratch(k)]
        if losing:
            print(f'NOTE: {row.method} does not beat {row.twin} on {", ".join(losing)} '
                  f'by more than the seed spread')
    written = 'table.md, table.csv, gains.png, results.json'
    if any(recipes.methods[n].get('attention', True) for n in pretrained):
        # Xie et al.'s "dark secrets" measures of the rows' encoders (first seed) on the same
        # pretraining images: attention distance, head diversity, layer CKA
        out = osp.join(work, 'attention')
        vits = [n for n in pretrained if recipes.methods[n].get('attention', True)]
        exports = [pretrain(n, seeds[0])['export'] for n in vits]
        job.run(f'attention-seed{seeds[0]}', 'attention', out,
                [py, 'tools/analysis/attention_analysis.py', *exports, '--labels', *vits,
                 '--images', osp.join(data, 'pretrain'), '--out-dir', out], inputs=exports)
        written += ', attention/*.png'
    print(f'written: {work}/{written}; TensorBoard: tensorboard --logdir {work}')
    return 0


if __name__ == '__main__':
    run_cli(main, 'compare_methods.py')
