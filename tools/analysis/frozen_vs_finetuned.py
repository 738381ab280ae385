"""Frozen vs fine-tuned: linear-probe and fine-tuning top-1 of tiny ViT checkpoints.

    python tools/analysis/frozen_vs_finetuned.py --checkpoints NAME=PATH [NAME=PATH ...]
        [--work-dir work_dirs/frozen_vs_finetuned] [--data-root data/classify]
        [--position NAME=KIND ...] [--read-only] [--cfg-options KEY=VALUE ...]

"Revealing the Dark Secrets of MIM" (arXiv 2205.13543): MIM features are weaker than supervised
ones when frozen, yet fine-tune as well or better. For every checkpoint this trains both
protocols on the embedded labelled one-object images (``data/classify``) through
``tools/train.py --test``, one run at a time:

    linear_probe  configs/linear_probe/vit-tiny-p8_linear-probe_embedded.py (backbone frozen)
    finetune      configs/linear_probe/vit-tiny-p8_finetune_embedded.py (every weight trained)

and prints / writes ``<work-dir>/table.md`` (method | frozen top-1 | fine-tuned top-1, in %)
and ``results.json``. With the configs' 240 iterations a checkpoint's two runs take 1-2 minutes
on 2 CPU cores. For example, the main job's MAE export against the supervised baseline and a
random initialisation:

    python tools/analysis/frozen_vs_finetuned.py --checkpoints \
        mae=work_dirs/main/mae/seed0/pretrain/backbone.safetensors \
        supervised=work_dirs/vit-tiny-p8_supervised_embedded/backbone.safetensors random=scratch

PATH is a mim_det export (``tools/export_backbone.py``), any other checkpoint the shared loader
reads (``.pth``), or ``scratch`` (no checkpoint: random weights). An export's metadata sets the
backbone's width and depth and its position handling (LoMaR's contextual RPE, SimMIM / BEiT
relative position tables, or MAE's absolute table); ``--position NAME=KIND`` (``absolute``,
``contextual_rpe``, ``shared_rel_pos_bias``) sets it for a ``.pth``. Each run lives in
``<work-dir>/<NAME>/<protocol>/`` with the config it ran (``config.py``), its log
(``train.log``) and ``test_metrics.json``; a rerun with the same command and config reuses a
finished run, and ``--read-only`` only reads the finished runs' results.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

TOOLS = osp.dirname(osp.dirname(osp.abspath(__file__)))
ROOT = osp.dirname(TOOLS)
sys.path.insert(0, TOOLS)
import _bootstrap  # noqa: F401,E402  (mim_det importable from a checkout)

from mim_det.analysis.steps import read_stamp  # noqa: E402
from mim_det.cli import CLIError, parse_named_values, run_cli  # noqa: E402
from mim_det.engine.atomic_local_backend import atomic_write_bytes  # noqa: E402

PROG = 'frozen_vs_finetuned'
PROTOCOLS = OrderedDict([
    ('linear_probe', 'configs/linear_probe/vit-tiny-p8_linear-probe_embedded.py'),
    ('finetune', 'configs/linear_probe/vit-tiny-p8_finetune_embedded.py'),
])
COLUMNS = OrderedDict([('linear_probe', 'frozen top-1'), ('finetune', 'fine-tuned top-1')])
METRIC = 'accuracy/top1'  # mmpretrain's Accuracy, in percent
SCRATCH = 'scratch'
STAMP = 'run_done.json'
#: export metadata pos_encoding -> the position handling of the downstream PlainViT
POSITION_OF_ENCODING = {'absolute_sincos': 'absolute', 'absolute_learned': 'absolute',
                        'contextual_rpe_keys': 'contextual_rpe',
                        'shared_rel_pos_bias': 'shared_rel_pos_bias'}
POSITIONS = ('absolute', 'contextual_rpe', 'shared_rel_pos_bias')


@dataclass
class Run:
    """One protocol of one checkpoint: where it runs, what it runs."""
    name: str
    protocol: str
    checkpoint: str
    position: str
    run_dir: str
    config_text: str
    cmd: List[str]


def parse_named(items: Sequence[str], what: str) -> Dict[str, str]:
    """``NAME=VALUE`` items whose names become folders of ``--work-dir``."""
    named = parse_named_values(items, what, 'mae=work_dirs/main/mae/seed0/pretrain/'
                               'backbone.safetensors')
    for name in named:
        if os.sep in name or name in ('.', '..'):
            raise CLIError(f'{what} name {name!r} names a folder of --work-dir; use a plain '
                           'name such as mae')
    return named


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split('\n\n')[0])
    parser.add_argument('--checkpoints', nargs='+', required=True, metavar='NAME=PATH',
                        help=f'a row name and a ViT checkpoint (or {SCRATCH!r}: random init)')
    parser.add_argument('--work-dir', default='work_dirs/frozen_vs_finetuned')
    parser.add_argument('--data-root', default='data/classify',
                        help='the labelled one-object images (python tools/generate_data.py)')
    parser.add_argument('--position', nargs='+', default=[], metavar='NAME=KIND',
                        help=f'position handling of a checkpoint without export metadata: '
                        f'one of {", ".join(POSITIONS)} (default absolute)')
    parser.add_argument('--read-only', action='store_true',
                        help='train nothing; tabulate the finished runs in --work-dir')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='passed to both protocols\' tools/train.py runs, e.g. '
                        'train_cfg.max_epochs=2')
    return parser.parse_args(argv)


def export_metadata(path: str) -> Optional[dict]:
    """An export's metadata (``None`` for a ``.pth``); a one-line error for an unusable file."""
    if not path.endswith('.safetensors'):
        return None
    from mim_det.checkpoint import load_backbone_export
    _, meta = load_backbone_export(path)
    if meta.get('patch_size') == 0:
        raise CLIError(f'{path} holds a ConvNet ({meta.get("backbone_type")}); this tool probes '
                       'ViTs: use configs/mscn/resnet18_linear-probe_embedded.py for a ResNet')
    return meta


def backbone_overrides(protocol: str, checkpoint: str, position: str,
                       meta: Optional[dict]) -> dict:
    """The keys of ``model.backbone`` that fit the protocol's PlainViT to this checkpoint."""
    backbone: Dict = {}
    if checkpoint == SCRATCH:
        backbone['init_cfg'] = None
    else:
        backbone['init_cfg'] = dict(type='Pretrained', checkpoint=osp.abspath(checkpoint))
    if position == 'contextual_rpe':  # LoMaR: no absolute position, its pretrained tables
        rpe = {k: v for k, v in ((meta or {}).get('rpe') or {}).items()
               if k in ('alpha', 'beta', 'gamma')}
        backbone.update(use_abs_pos=False, rel_pos_cfgs=[dict(type='ContextualRPE', **rpe)])
    elif position == 'shared_rel_pos_bias':  # SimMIM / BEiT: the shared table in every block
        backbone.update(use_abs_pos=False, rel_pos_cfgs=[dict(type='RelPosBiasTable')],
                        layer_scale_init_value=0.1)
    arch = (meta or {}).get('arch')
    if arch:
        backbone['arch'] = dict(arch)
        if protocol == 'linear_probe':
            backbone['frozen_stages'] = int(arch['num_layers'])
    return backbone


def derived_config(run_name: str, protocol: str, checkpoint: str, position: str,
                   meta: Optional[dict], data_root: str) -> str:
    """The text of the config one run trains: the protocol's config with this checkpoint,
    its position handling and width, and the data root."""
    model: Dict = dict(backbone=backbone_overrides(protocol, checkpoint, position, meta))
    if (meta or {}).get('arch'):
        model['head'] = dict(in_channels=int(meta['arch']['embed_dims']))
    data = dict(dataset=dict(data_root=osp.abspath(data_root)))
    lines = [f'# Written by tools/analysis/{PROG}.py: the {protocol} run of {run_name!r} '
             f'({checkpoint}, {position} position)',
             f'_base_ = [{osp.join(ROOT, PROTOCOLS[protocol])!r}]',
             f'model = {model!r}',
             f'train_dataloader = {data!r}',
             f'val_dataloader = {data!r}',
             f'test_dataloader = {data!r}']
    return '\n'.join(lines) + '\n'


def plan_runs(args) -> List[Run]:
    """Every (checkpoint, protocol) run, checked before anything trains."""
    checkpoints = parse_named(args.checkpoints, '--checkpoints')
    positions = parse_named(args.position, '--position')
    for name, kind in positions.items():
        if name not in checkpoints:
            raise CLIError(f'--position {name}={kind}: no checkpoint is named {name!r}')
        if kind not in POSITIONS:
            raise CLIError(f'--position {name}={kind}: unknown kind; use one of '
                           f'{", ".join(POSITIONS)}')
    if not args.read_only and not osp.isdir(args.data_root):
        raise CLIError(f"--data-root '{args.data_root}' does not exist; generate the embedded "
                       'data with python tools/generate_data.py')
    runs = []
    for name, checkpoint in checkpoints.items():
        meta = None
        if checkpoint != SCRATCH and not args.read_only:  # reading results needs no weights
            if not osp.isfile(checkpoint):
                raise CLIError(f"checkpoint '{checkpoint}' of {name!r} does not exist; give an "
                               f'export (.safetensors), a .pth or {SCRATCH!r}')
            meta = export_metadata(checkpoint)
        position = positions.get(name) or POSITION_OF_ENCODING.get(
            (meta or {}).get('pos_encoding'), 'absolute')
        for protocol in PROTOCOLS:
            # absolute: tools/train.py runs from the repository root
            run_dir = osp.join(osp.abspath(args.work_dir), name, protocol)
            config_text = derived_config(name, protocol, checkpoint, position, meta,
                                         args.data_root)
            cmd = [osp.join(TOOLS, 'train.py'), osp.join(run_dir, 'config.py'), '--work-dir',
                   run_dir, '--test']
            if args.cfg_options:
                cmd += ['--cfg-options', *args.cfg_options]
            runs.append(Run(name, protocol, checkpoint, position, run_dir, config_text, cmd))
    return runs


def read_top1(run: Run) -> float:
    """Top-1 (%) of a finished run, or a one-line error naming the missing file."""
    path = osp.join(run.run_dir, 'test_metrics.json')
    try:
        with open(path) as f:
            metrics = json.load(f)['metrics']
    except FileNotFoundError:
        raise CLIError(f'no finished {run.protocol} run of {run.name!r}: {path} is missing; '
                       'run without --read-only to train it') from None
    except (ValueError, KeyError, TypeError):
        raise CLIError(f'{path} is not a tools/train.py --test report') from None
    if METRIC not in metrics:
        raise CLIError(f'{path} has no {METRIC} (metrics: {", ".join(metrics)}); is it a '
                       'classification run?')
    return float(metrics[METRIC])


def is_finished(run: Run) -> bool:
    """Whether the run dir holds this very run, finished (same command and config)."""
    stamp = read_stamp(osp.join(run.run_dir, STAMP))
    return (stamp is not None and stamp.get('cmd') == run.cmd
            and stamp.get('config') == run.config_text
            and osp.isfile(osp.join(run.run_dir, 'test_metrics.json')))


def train(run: Run) -> float:
    """Run ``tools/train.py`` for ``run`` (output in ``train.log``); seconds taken."""
    os.makedirs(run.run_dir, exist_ok=True)
    for stale in (STAMP, 'test_metrics.json'):  # never read an older run's result
        if osp.isfile(osp.join(run.run_dir, stale)):
            os.remove(osp.join(run.run_dir, stale))
    with open(osp.join(run.run_dir, 'config.py'), 'w') as f:
        f.write(run.config_text)
    log = osp.join(run.run_dir, 'train.log')
    start = time.perf_counter()
    with open(log, 'w') as f:
        code = subprocess.call([sys.executable, *run.cmd], stdout=f, stderr=subprocess.STDOUT,
                               cwd=ROOT)
    seconds = time.perf_counter() - start
    if code != 0:
        with open(log) as f:
            last = [line.strip() for line in f if line.strip()][-1:] or ['(no output)']
        raise CLIError(f'the {run.protocol} run of {run.name!r} failed (exit {code}): '
                       f'{last[0]} (full log: {log})')
    atomic_write_bytes(json.dumps(dict(cmd=run.cmd, config=run.config_text, seconds=seconds),
                                  indent=1).encode(), osp.join(run.run_dir, STAMP))
    return seconds


def format_table(results: 'OrderedDict[str, Dict[str, Optional[float]]]') -> str:
    """Markdown: method | frozen top-1 | fine-tuned top-1 (percent, one decimal; '-' when a
    protocol has no result)."""
    def cell(value):
        return '-' if value is None else f'{value:.1f}'

    lines = ['| method | ' + ' | '.join(COLUMNS.values()) + ' |',
             '|---|' + '---|' * len(COLUMNS)]
    for name, top1 in results.items():
        lines.append(f'| {name} | ' + ' | '.join(cell(top1.get(p)) for p in COLUMNS) + ' |')
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    args = parse_args(argv)
    runs = plan_runs(args)
    results: 'OrderedDict[str, Dict[str, Optional[float]]]' = OrderedDict()
    details: Dict[str, dict] = {}
    for run in runs:
        if not args.read_only:
            if is_finished(run):
                print(f'{PROG}: {run.name} {run.protocol}: finished run reused ({run.run_dir})')
            else:
                print(f'{PROG}: {run.name} {run.protocol}: training ({run.position} position; '
                      f'log {osp.join(run.run_dir, "train.log")})', flush=True)
                seconds = train(run)
                print(f'{PROG}: {run.name} {run.protocol}: done in {seconds:.0f} s', flush=True)
        top1 = read_top1(run)
        results.setdefault(run.name, {})[run.protocol] = top1
        entry = details.setdefault(run.name, dict(checkpoint=run.checkpoint,
                                                  position=run.position))
        entry[run.protocol] = dict(top1=top1, run_dir=run.run_dir)
    table = format_table(results)
    os.makedirs(args.work_dir, exist_ok=True)
    with open(osp.join(args.work_dir, 'table.md'), 'w') as f:
        f.write(table)
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump(details, f, indent=1)
    print('\n' + table)
    print(f'{PROG}: wrote {osp.join(args.work_dir, "table.md")} and results.json')
    return 0


if __name__ == '__main__':
    run_cli(main, PROG)
