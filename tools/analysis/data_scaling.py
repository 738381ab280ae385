"""The data-scaling study of MIM: fraction x model size x length, and the validation-loss proxy.

    python tools/analysis/data_scaling.py [--grid configs/data_scaling/grid_embedded.py]
        [--models tiny,small] [--fractions 0.1,0.2,0.5,1.0] [--iters 1000,4000] [--seed 0]
        [--data data] [--work-dir work_dirs/data_scaling] [--jobs auto]
    python tools/analysis/data_scaling.py --imagenet     # prints the paper-scale commands

Xie et al., *On Data Scaling in Masked Image Modeling* (CVPR 2023, arXiv 2206.04664). Per cell
of the grid (``configs/data_scaling/grid_embedded.py`` by default; the options narrow it):

1. pretraining on a seeded fraction of ``<data>/pretrain`` (nested subsets, 300 images held out
   for every fraction) with the held-out MIM loss logged by ``ValidationMIMLossHook``;
2. backbone export, and reconstructions of two TRAINING images (``recon/train``) next to two
   HELD-OUT ones (``recon/heldout``): the paper's memorisation-vs-inference picture;
3. fine-tuning and testing with the model's downstream config (the tiny UperNet on
   ``<data>/ade``: mIoU).

Writes under the work dir ``cells.csv`` and ``results.json`` (per cell: final training loss,
final and minimum held-out loss, whether it overfits, the downstream metric),
``loss_curves.png`` (training and held-out loss per cell), ``proxy.png`` (the metric against
the final held-out loss and against the final training loss) and prints Pearson's r of each.
Steps run side by side and finished steps are skipped on a rerun, as in the main job
(:mod:`mim_det.analysis.steps`).
"""
import argparse
import csv
import json
import os
import os.path as osp
import sys
from typing import List

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _bootstrap  # noqa: F401,E402  (mim_det importable from a checkout)

from mim_det.analysis.steps import Job, Once, parse_jobs, run_side_by_side, usable_cores  # noqa: E402,E501
from mim_det.cli import CLIError, run_cli  # noqa: E402

PROG = 'data_scaling'
ROOT = _bootstrap.ROOT
STEP_WEIGHT = {'pretrain': 5.0, 'export': 0.05, 'reconstruct': 0.1, 'segmentation': 2.0}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split('\n\n')[0])
    parser.add_argument('--grid', default='configs/data_scaling/grid_embedded.py')
    parser.add_argument('--models', default=None, help='comma list of the grid\'s models')
    parser.add_argument('--fractions', default=None, help='comma list, e.g. 0.1,1.0')
    parser.add_argument('--iters', default=None, help='comma list of pretraining lengths')
    parser.add_argument('--seed', type=int, default=0, help='the runs\' seed')
    parser.add_argument('--data', default='data', help='generated data (tools/generate_data.py)')
    parser.add_argument('--work-dir', default='work_dirs/data_scaling')
    parser.add_argument('--jobs', default='auto',
                        help='steps side by side ("auto": one per two cores, at most 4)')
    parser.add_argument('--pretrain-options', nargs='+', default=[],
                        help='extra KEY=VALUE overrides for every pretraining run')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='extra KEY=VALUE overrides for every fine-tuning run')
    parser.add_argument('--imagenet', action='store_true',
                        help='print the ImageNet-1K commands of the grid and exit')
    return parser.parse_args(argv)


def _pick(text, default: list, cast, what: str) -> list:
    if text is None:
        return list(default)
    try:
        values = [cast(v) for v in text.split(',') if v.strip()]
    except ValueError:
        raise CLIError(f'--{what} {text!r}: give a comma list, e.g. '
                       f'{",".join(map(str, default))}')
    if not values:
        raise CLIError(f'--{what}: give at least one value')
    return values


def imagenet_commands(grid) -> List[str]:
    spec = grid.imagenet
    lines = [f'# {len(spec["fractions"]) * len(spec["epochs"])} pretrainings of '
             f'{spec["pretrain"]} on {spec["gpus"]} GPUs each; the held-out loss is logged as '
             'val_mim_loss (TensorBoard / vis_data/scalars.json)']
    for fraction in spec['fractions']:
        for epochs in spec['epochs']:
            work = f'work_dirs/data_scaling_in1k/f{fraction:g}_{epochs}e'
            lines.append(
                f'bash tools/dist_train.sh {spec["pretrain"]} {spec["gpus"]} --work-dir {work} '
                f'--cfg-options train_dataloader.dataset.fraction={fraction} '
                f'train_cfg.max_epochs={epochs} param_scheduler.1.end={epochs} '
                f'param_scheduler.1.milestones=[{epochs * 7 // 8}]')
    lines.append('# then per run: python tools/export_backbone.py <work>/epoch_<E>.pth '
                 '<work>/backbone.safetensors, and fine-tune it (ImageNet or the downstream '
                 'configs); python tools/analysis/data_scaling.py reads the loss curves of the '
                 'embedded grid only')
    return lines


def heldout_and_train_images(pretrain_config: str, data: str, options=(), count: int = 2
                             ) -> tuple:
    """The first ``count`` training and held-out images of a data-scaling config's subset
    (after the KEY=VALUE ``options``)."""
    from mmengine.config import Config, DictAction
    from mmengine.registry import DATASETS, init_default_scope

    from mim_det.datasets import FractionSubset  # noqa: F401  (registers it)
    cfg = Config.fromfile(pretrain_config)
    if options:
        parser = argparse.ArgumentParser()
        parser.add_argument('--o', nargs='+', action=DictAction)
        cfg.merge_from_dict(parser.parse_args(['--o', *options]).o)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    dataset_cfg = cfg.train_dataloader.dataset.to_dict()
    dataset_cfg['dataset']['data_root'] = osp.join(data, 'pretrain')
    paths = []
    for split in ('train', 'heldout'):
        subset = DATASETS.build(dict(dataset_cfg, split=split))
        paths.append([subset.get_data_info(i)['img_path'] for i in range(min(count, len(subset)))])
    return tuple(paths)


def main(argv=None) -> int:
    from mmengine.config import Config

    from mim_det.analysis.data_scaling import (plot_loss_curves, plot_proxy,
                                               proxy_correlations, summarise_cell)

    args = parse_args(argv)
    if not osp.isfile(args.grid):
        raise CLIError(f'--grid {args.grid}: no such file')
    grid = Config.fromfile(args.grid)
    if args.imagenet:
        print('\n'.join(imagenet_commands(grid)))
        return 0
    models = _pick(args.models, list(grid.models), str, 'models')
    unknown = [m for m in models if m not in grid.models]
    if unknown:
        raise CLIError(f'--models: unknown {", ".join(unknown)}; the grid has '
                       f'{", ".join(grid.models)}')
    fractions = _pick(args.fractions, grid.fractions, float, 'fractions')
    lengths = _pick(args.iters, grid.iters, int, 'iters')
    bad = [f for f in fractions if not 0 < f <= 1] + [n for n in lengths
                                                      if n <= grid.warmup_iters]
    if bad:
        raise CLIError(f'fractions must be in (0, 1] and lengths above the {grid.warmup_iters} '
                       f'warm-up iterations; got {", ".join(map(str, bad))}')
    for sub in ('pretrain', 'ade'):
        if not osp.isdir(osp.join(args.data, sub)):
            raise CLIError(f'--data {args.data}: no {sub}/ folder; run python '
                           f'tools/generate_data.py --out-dir {args.data} first')
    data, work = osp.abspath(args.data), osp.abspath(args.work_dir)
    py, seed = sys.executable, args.seed
    cores = usable_cores()
    jobs = parse_jobs(args.jobs, cores)
    # the larger (later-listed) models and longer cells first, so the short ones fill the threads
    # at the end
    cells = sorted(((m, f, n) for m in models for f in fractions for n in lengths),
                   key=lambda c: (-models.index(c[0]), -c[2], c[1]))
    weight = sum(STEP_WEIGHT['pretrain'] * n / max(lengths) for _, _, n in cells) \
        + len(cells) * (STEP_WEIGHT['export'] + 2 * STEP_WEIGHT['reconstruct']
                        + STEP_WEIGHT['segmentation'])
    job = Job(work, weight, None if jobs == 1 else max(1, cores // jobs),
              weights=STEP_WEIGHT, root=ROOT, jobs=jobs)
    print(f'{PROG}: {len(cells)} cells (models {", ".join(models)}; fractions '
          f'{", ".join(map(str, fractions))}; iters {", ".join(map(str, lengths))}); seed '
          f'{seed}; {jobs} step(s) side by side; data {data}; work dir {work}', flush=True)
    ade = f'{data}/ade/ADEChallengeData2016'

    def run_cell(model: str, fraction: float, iters: int) -> dict:
        spec = grid.models[model]
        name = f'{model}_f{fraction:g}_{iters}it_seed{seed}'
        cell = osp.join(work, name)
        pre = osp.join(cell, 'pretrain')
        length = [o.format(iters=iters, cosine_iters=iters - grid.warmup_iters)
                  for o in grid.length_options]
        job.run(f'{name}-pretrain', 'pretrain', pre,
                [py, 'tools/train.py', spec['pretrain'], '--work-dir', pre, '--cfg-options',
                 f'train_dataloader.dataset.dataset.data_root={data}/pretrain',
                 f'train_dataloader.dataset.fraction={fraction}', *length,
                 f'randomness.seed={seed}', *args.pretrain_options])
        with open(osp.join(pre, 'last_checkpoint')) as f:
            ckpt = f.read().strip()
        export = osp.join(pre, 'backbone.safetensors')
        job.run(f'{name}-export', 'export', osp.join(pre, 'export'),
                [py, 'tools/export_backbone.py', ckpt, export], inputs=[ckpt])
        train_imgs, heldout_imgs = heldout_and_train_images(spec['pretrain'], data,
                                                            args.pretrain_options)
        for split, images in (('train', train_imgs), ('heldout', heldout_imgs)):
            out = osp.join(cell, 'recon', split)
            job.run(f'{name}-reconstruct-{split}', 'reconstruct', out,
                    [py, 'tools/visualize_reconstruction.py', spec['pretrain'], ckpt, *images,
                     '--out-dir', out], inputs=[ckpt])
        down = osp.join(cell, 'segmentation')
        job.run(f'{name}-segmentation', 'segmentation', down,
                [py, 'tools/train.py', spec['downstream'], '--work-dir', down, '--no-validate',
                 '--test', '--cfg-options',
                 *[f'{s}_dataloader.dataset.data_root={ade}' for s in ('train', 'val', 'test')],
                 f'model.backbone.init_cfg.checkpoint={export}', f'randomness.seed={seed}',
                 *grid.downstream_options, *args.cfg_options], inputs=[export])
        with open(osp.join(down, 'test_metrics.json')) as f:
            metrics = json.load(f)['metrics']
        return dict(pretrain=pre, metric=float(metrics[grid.downstream_metric]))

    outputs = run_side_by_side([(None, [], lambda c=c: run_cell(*c)) for c in cells], jobs,
                               job, Once())
    results = [summarise_cell(m, f, n, out['pretrain'], out['metric'])
               for (m, f, n), out in zip(cells, outputs)]
    results.sort(key=lambda r: (models.index(r.model), r.fraction, r.iters))
    os.makedirs(work, exist_ok=True)
    rows = [r.to_row() for r in results]
    with open(osp.join(work, 'cells.csv'), 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    corr = proxy_correlations(results)
    with open(osp.join(work, 'results.json'), 'w') as f:
        json.dump(dict(seed=seed, data=data, metric=grid.downstream_metric, pearson_r=corr,
                       cells=[dict(r.to_row(), train_curve=r.train_curve,
                                   val_curve=r.val_curve) for r in results]), f, indent=1)
    plot_loss_curves(results, osp.join(work, 'loss_curves.png'))
    plot_proxy(results, osp.join(work, 'proxy.png'), grid.downstream_metric)

    print(f'\n{"cell":<24} {"train loss":>10} {"held-out":>9} {"min (iter)":>16} '
          f'{grid.downstream_metric:>7}  overfits')
    for r in results:
        print(f'{r.name:<24} {r.train_loss:>10.4f} {r.val_loss:>9.4f} '
              f'{r.val_loss_min:>9.4f} ({r.val_loss_min_step:>5}) {r.metric:>7.2f}  '
              f'{"yes" if r.overfits() else "no"}')
    for key, label in (('val_loss', 'held-out MIM loss'), ('train_loss', 'training loss')):
        r = corr[key]
        print(f'Pearson r({grid.downstream_metric}, final {label}) = '
              + (f'{r:+.3f}' if r is not None else 'n/a (needs 3+ cells with spread)'))
    print(f'written: {work}/cells.csv, results.json, loss_curves.png, proxy.png; '
          f'reconstructions in <cell>/recon/{{train,heldout}}/')
    return 0


if __name__ == '__main__':
    run_cli(main, 'data_scaling.py')
