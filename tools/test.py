"""Evaluate a checkpoint with a config's test dataloader and evaluator.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl]
                         [--show-dir DIR] [--cfg-options ...] [--launcher ...]

Prints the metrics (e.g. mmdet's CocoMetric ``coco/bbox_mAP``, mmseg's ``mIoU``) and writes
them to ``<work_dir>/test_metrics.json``. ``--out`` dumps the raw predictions (pickle);
``--show-dir`` saves drawn predictions through the config's visualization hook.
"""
import argparse
import os
import os.path as osp

import _bootstrap  # noqa: F401

from mmengine.config import Config, DictAction

from mim_det.engine import finish_distributed, prepare_cpu_distributed
from mim_det.cli import CLIError, check_checkpoint_paths, check_data_paths, run_cli
from mim_det.cli.config_checks import drop_pretrained_init_cfgs, find_registered
from mim_det.cli.runner_setup import build_runner, load_config, write_test_report

_state = {'cfg': None}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a checkpoint (mim_det, mmengine Runner)')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where logs and metrics go')
    parser.add_argument('--out', help='dump predictions to this pickle file (.pkl)')
    parser.add_argument('--show-dir', help='save images with drawn predictions here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys (unknown keys are refused)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def _enable_visualization(cfg: Config, show_dir: str) -> None:
    hooks = cfg.get('default_hooks') or {}
    hook = hooks.get('visualization')
    if not isinstance(hook, dict):
        raise CLIError('--show-dir: the config has no default_hooks.visualization; add the '
                       "toolbox's visualization hook (e.g. DetVisualizationHook) to draw results")
    target = find_registered(hook['type'], cfg.get('default_scope'))
    import inspect
    params = set(inspect.signature(target.__init__).parameters) if target else set()
    # mmdet/mmseg hooks draw when ``draw=True``; mmpretrain's when ``enable=True``.
    for flag in ('draw', 'enable'):
        if flag in params:
            hook[flag] = True
    for key in ('test_out_dir', 'out_dir'):
        if key in params:
            hook[key] = osp.abspath(show_dir)
            break
    else:
        raise CLIError(f'--show-dir: {hook["type"]} has no output-directory argument')


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.launcher, args.work_dir,
                      on_loaded=lambda loaded: _state.update(cfg=loaded))
    if not osp.isfile(args.checkpoint):
        raise CLIError(f'checkpoint {args.checkpoint!r} does not exist; train one with '
                       f'`python tools/train.py {args.config}` or fix the path')
    cfg.load_from, cfg.resume = args.checkpoint, False
    # the trained checkpoint holds every weight: the pretraining file is neither needed nor
    # loaded over it
    dropped = drop_pretrained_init_cfgs(cfg)
    if dropped:
        print(f'test.py: weights come from {args.checkpoint}; not loading the pretrained '
              f'checkpoint of {", ".join(dropped)}')
    check_checkpoint_paths(cfg)
    check_data_paths(cfg, splits=('test', ))
    if args.show_dir:
        _enable_visualization(cfg, args.show_dir)
    if args.out:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise CLIError(f'--out {args.out!r}: the output file must end with .pkl')
        evaluator = cfg.test_evaluator
        dump = dict(type='DumpResults', out_file_path=args.out)
        cfg.test_evaluator = (list(evaluator) if isinstance(evaluator, (list, tuple))
                              else [evaluator]) + [dump]

    prepare_cpu_distributed(cfg)
    runner = build_runner(cfg)
    metrics = runner.test()

    from mmengine.dist import is_main_process
    if is_main_process():
        write_test_report(cfg, args.config, args.checkpoint, metrics, 'test.py')
    del runner  # its DDP wrapper holds the process group (finish_distributed's docstring)
    finish_distributed()
    return 0


if __name__ == '__main__':
    run_cli(main, 'test.py', lambda: _state['cfg'])
