"""Classification vs localisation losses of detection runs, side by side.

    python tools/analysis/detection_loss_curves.py NAME=WORK_DIR [NAME=WORK_DIR ...]
        [--out-dir work_dirs/detection_loss_curves] [--smooth 0.6] [--log-y]
        [--group GROUP=LOSS[,LOSS...] ...]

"Revealing the Dark Secrets of MIM" (arXiv 2205.13543): a detector fine-tuned from MIM weights
brings its localisation loss down faster than one from supervised weights, its classification
loss more slowly. Give each run a name and its tools/train.py work dir (or one of its
``<timestamp>`` folders, or a ``scalars.json``), e.g. the main job's rows:

    python tools/analysis/detection_loss_curves.py \
        mae=work_dirs/main/mae/seed0/detection scratch=work_dirs/main/scratch/seed0/detection

The losses are grouped as Mask R-CNN's (``--group`` replaces the groups, e.g.
``--group classification=loss_cls --group localisation=loss_bbox`` for the RoI head alone):

    classification  loss_rpn_cls + loss_cls
    localisation    loss_rpn_bbox + loss_bbox
    mask            loss_mask

Writes ``<out-dir>/detection_loss_curves.png`` (one panel per group, one line per run;
``--smooth W`` draws TensorBoard's debiased moving average with weight W over the faint raw
values), ``.csv`` (run, curve, kind, iter, value, smoothed; every group and every single loss)
and ``.json`` (the same curves and each group's first / last smoothed value), and prints how far
each group came down. A work dir without a scalar log is one ``detection_loss_curves: error:``
line naming it.
"""
import argparse
import os
import os.path as osp
import sys
from collections import OrderedDict

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _bootstrap  # noqa: F401,E402  (mim_det importable from a checkout)

from mim_det.analysis.loss_curves import (DETECTION_LOSS_GROUPS, convergence,  # noqa: E402
                                          plot_curves, run_curves, write_csv, write_json)
from mim_det.cli import CLIError, parse_named_values, run_cli  # noqa: E402

PROG = 'detection_loss_curves'
OUT_NAME = 'detection_loss_curves'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split('\n\n')[0])
    parser.add_argument('runs', nargs='+', metavar='NAME=WORK_DIR',
                        help='a label and the work dir of one detection run')
    parser.add_argument('--out-dir', default='work_dirs/detection_loss_curves',
                        help='where the PNG, CSV and JSON go')
    parser.add_argument('--smooth', type=float, default=0.0,
                        help='TensorBoard smoothing weight in [0, 1) (default 0: none)')
    parser.add_argument('--log-y', action='store_true', help='logarithmic loss axis')
    parser.add_argument('--group', action='append', default=None, metavar='GROUP=LOSS[,LOSS]',
                        help='a loss group (repeatable; replaces the default groups)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    runs = parse_named_values(args.runs, 'run', 'mae=work_dirs/main/mae/seed0/detection')
    groups = DETECTION_LOSS_GROUPS
    if args.group:
        groups = OrderedDict((name, tuple(k for k in keys.split(',') if k))
                             for name, keys in parse_named_values(args.group, '--group',
                                                                 'localisation=loss_bbox').items())
    if not 0.0 <= args.smooth < 1.0:
        raise CLIError(f'--smooth {args.smooth}: the weight must be in [0, 1) (0: no smoothing)')
    curves = []
    for name, work_dir in runs.items():
        try:
            curves.append(run_curves(name, work_dir, groups, args.smooth))
        except ValueError as exc:
            raise CLIError(f"run '{name}': {exc}") from None
    os.makedirs(args.out_dir, exist_ok=True)
    out = osp.join(args.out_dir, OUT_NAME)
    plot_curves(curves, list(groups), out + '.png', log_y=args.log_y)
    write_csv(curves, out + '.csv')
    write_json(curves, groups, args.smooth, out + '.json')

    width = max(len(n) for n in runs) + 2
    print(f'{"run":<{width}}{"group":<16}{"iters":>12}{"first":>10}{"last":>10}{"last/first":>12}')
    for run in curves:
        for group, curve in run.groups.items():
            s = convergence(curve)
            print(f'{run.name:<{width}}{group:<16}{s["first_iter"]:>5}-{s["last_iter"]:<6}'
                  f'{s["first"]:>10.4f}{s["last"]:>10.4f}{s["last_over_first"]:>12.3f}')
    print(f'{PROG}: wrote {out}.png, {out}.csv, {out}.json')
    return 0


if __name__ == '__main__':
    run_cli(main, PROG)
