"""Train a mim_det config with mmengine's Runner.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [auto|PATH]] [--amp]
                          [--auto-scale-lr] [--cfg-options KEY=VALUE ...]
                          [--launcher none|pytorch|slurm] [--no-validate] [--test]

``--test`` evaluates the final weights with the config's test dataloader and evaluator in the
same process after training, and writes ``<work_dir>/test_metrics.json`` as ``tools/test.py``
does (one start-up instead of two; the comparison job uses it for every fine-tuning run).

Every run skips optimiser steps with a non-finite loss or gradients (``NonFiniteStepHook``) and
answers SIGTERM / SIGUSR1 with a checkpoint at the next iteration boundary and exit status 75
(``PreemptionHook``); ``--resume`` then continues exactly. Unreadable training images are
skipped and listed in ``<work_dir>/skipped_files.txt`` for pretraining, an error naming the
file downstream (``UnreadableImageHook``). In a distributed run, a rank that dies or hangs ends
every rank within ``DistributedWatchdogHook.timeout`` with one line naming that rank, its
iteration and phase, and exit status 70.

Distributed: ``bash tools/dist_train.sh CONFIG GPUS`` (torchrun) or ``tools/slurm_train.sh``.
Known mistakes (missing data, missing checkpoint, unknown type, unknown --cfg-options key) end
with one ``train.py: error: ...`` line naming the key/path and the fix.
"""
import argparse
import os
import os.path as osp
import sys

import _bootstrap  # noqa: F401

from mmengine.config import Config, DictAction

from mim_det.engine import finish_distributed, prepare_cpu_distributed
from mim_det.engine.hooks import (PREEMPTED_EXIT_CODE, STALLED_EXIT_CODE, TrainingPreempted,
                                  collective_failure_message)
from mim_det.cli import CLIError, check_checkpoint_paths, check_data_paths, run_cli
from mim_det.cli.runner_setup import (apply_bad_annotation_policy, apply_unreadable_image_policy,
                                      build_runner, load_config, write_test_report)

_state = {'cfg': None}
RUN_SAFETY_HOOKS = ('RNGStateHook', 'NonFiniteStepHook', 'PreemptionHook', 'UnreadableImageHook',
                    'DistributedWatchdogHook')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model (mim_det, mmengine Runner)')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume training: with no value (or "auto") from the latest checkpoint in the '
        'work dir, or from the given checkpoint path')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (AmpOptimWrapper; needs a GPU)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by (GPUs x batch per GPU x accumulative_counts) / '
                        'auto_scale_lr.base_batch_size')
    parser.add_argument('--no-validate', action='store_true', help='skip validation during training')
    parser.add_argument('--test', action='store_true',
                        help='after training, test the final weights (test dataloader and '
                        'evaluator) and write <work_dir>/test_metrics.json, as tools/test.py')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, e.g. train_cfg.max_iters=100 '
        'train_dataloader.batch_size=4 (unknown keys are refused)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher (dist_train.sh sets pytorch)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_config(args) -> Config:
    """Load the config and apply the command-line flags, validating everything first."""
    cfg = load_config(args.config, args.cfg_options, args.launcher, args.work_dir,
                      on_loaded=lambda loaded: _state.update(cfg=loaded))

    if args.amp:
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper == 'AmpOptimWrapper':
            print('train.py: --amp: the config already uses AmpOptimWrapper')
        else:
            import torch
            if not torch.cuda.is_available():
                raise CLIError('--amp needs a CUDA device (mmengine AmpOptimWrapper); '
                               'drop --amp on a CPU machine')
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise CLIError(f'--auto-scale-lr: {args.config} has no auto_scale_lr.base_batch_size;'
                           ' add auto_scale_lr = dict(base_batch_size=N) (the batch the lr is for)')
        cfg.auto_scale_lr.enable = True
        accum = int(cfg.get('optim_wrapper', {}).get('accumulative_counts', 1) or 1)
        if accum > 1:
            # mmengine scales by GPUs x batch per GPU only; each optimizer step here sees
            # accum times that batch, so the lr must be scaled by it as well.
            cfg.auto_scale_lr.base_batch_size = cfg.auto_scale_lr.base_batch_size / accum
            print(f'train.py: --auto-scale-lr counts gradient accumulation x{accum} '
                  '(effective batch = GPUs x batch_size x accumulative_counts)')

    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None

    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume

    # Every run gets exact resume (generator states in checkpoints), skipped non-finite steps, a
    # checkpoint on SIGTERM / SIGUSR1, a policy for unreadable training images and a watchdog
    # for dead or hung ranks, unless the config configures these hooks itself.
    hooks = list(cfg.get('custom_hooks') or [])
    for hook_type in RUN_SAFETY_HOOKS:
        if not any(isinstance(h, dict) and h.get('type') == hook_type for h in hooks):
            hooks.append(dict(type=hook_type))
    cfg.custom_hooks = hooks
    apply_unreadable_image_policy(cfg)
    apply_bad_annotation_policy(cfg)

    check_checkpoint_paths(cfg)
    splits = ['train'] + ['val'] * bool(cfg.get('val_dataloader')) + ['test'] * bool(args.test)
    if args.test and not (cfg.get('test_dataloader') and cfg.get('test_evaluator')):
        raise CLIError(f'--test: {args.config} has no test_dataloader / test_evaluator; add them '
                       'or test later with tools/test.py')
    check_data_paths(cfg, splits=tuple(splits))
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = build_config(args)
    prepare_cpu_distributed(cfg)
    if args.resume == 'auto' and not _has_checkpoint(cfg.work_dir):
        print(f'train.py: --resume: no checkpoint in {cfg.work_dir} yet; starting from scratch')
    runner = build_runner(cfg)
    try:
        runner.train()
    except TrainingPreempted as exc:
        del runner
        finish_distributed()
        print(f'train.py: {exc}', file=sys.stderr)
        return PREEMPTED_EXIT_CODE
    except RuntimeError as exc:
        # a peer died: name it instead of gloo's "Connection closed by peer"
        message = collective_failure_message(exc)
        if message is None or os.environ.get('MIM_DET_TRACEBACK') == '1':
            raise
        print(f'train.py: error: {message}', file=sys.stderr, flush=True)
        return STALLED_EXIT_CODE
    if args.test:
        metrics = runner.test()
        from mmengine.dist import is_main_process
        if is_main_process():
            write_test_report(cfg, args.config, _final_checkpoint(runner), metrics,
                              'train.py --test')
    del runner  # its DDP wrapper holds the process group (finish_distributed's docstring)
    finish_distributed()
    return 0


def _has_checkpoint(work_dir: str) -> bool:
    return osp.isfile(osp.join(work_dir, 'last_checkpoint'))


def _final_checkpoint(runner) -> str:
    """The checkpoint holding the weights just tested: the last one saved if it was saved at
    the final iteration (or epoch), else a note that those weights were not saved."""
    if _has_checkpoint(runner.work_dir):
        with open(osp.join(runner.work_dir, 'last_checkpoint')) as f:
            path = f.read().strip()
        if osp.basename(path) in (f'iter_{runner.iter}.pth', f'epoch_{runner.epoch}.pth'):
            return path
    return '(final weights of this run, not saved as a checkpoint)'


if __name__ == '__main__':
    run_cli(main, 'train.py', lambda: _state['cfg'])
