"""Check a config's datasets before a run: unreadable images and bad annotations.

    python tools/check_dataset.py CONFIG [--splits train,val,test] [--out report.json]
                                  [--examples 5] [--cfg-options KEY=VALUE ...]

For each dataset of the chosen dataloaders (wrappers such as RepeatDataset are looked
through) it reads every file the run would read:

- COCO instances (mmdet ``CocoDataset``): the annotation JSON as written, not as mmdet filters
  it, and every image;
- segmentation (mmseg, ``seg_map_path`` in ``data_prefix``): every image and label PNG
  (size, labels against the classes, ``reduce_zero_label`` and the ignore index);
- image folders / lists (mmpretrain): every image.

It prints per dataset the count of each problem kind with a few examples (file, image id,
annotation id; kinds in :mod:`mim_det.datasets.checks`) and exits with status 1 if it found
any, 0 if none; ``--out`` writes the same as JSON.
"""
import argparse
import json
import os.path as osp

import _bootstrap  # noqa: F401

from mmengine.config import DictAction

from mim_det.cli import CLIError, check_data_paths, run_cli
from mim_det.cli.config_checks import dataset_cfgs
from mim_det.cli.runner_setup import load_config
from mim_det.datasets.checks import (DatasetReport, check_coco, check_images,
                                     check_segmentation_pairs)

_state = {'cfg': None}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Check the datasets of a config')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--splits', default='train,val,test',
                        help='which dataloaders to check (comma list of train, val, test)')
    parser.add_argument('--examples', type=int, default=5, help='examples listed per kind')
    parser.add_argument('--out', help='also write the report as JSON to this file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. train_dataloader.dataset.data_root=DIR')
    return parser.parse_args(argv)


def _join(root: str, path: str) -> str:
    return path if not root or osp.isabs(path) else osp.join(root, path)


def _build(dataset_cfg: dict):
    from mmengine.registry import DATASETS
    dataset = DATASETS.build(dataset_cfg)
    dataset.full_init()
    return dataset


def check_dataset_cfg(key: str, ds: dict, examples: int) -> DatasetReport:
    """The report of one dataset config (``ds``), named by its config key."""
    report = DatasetReport(key, examples)
    root = ds.get('data_root') or ''
    prefix = ds.get('data_prefix') or {}
    ann_file = ds.get('ann_file') or ''
    if str(ann_file).endswith('.json') and 'seg_map_path' not in prefix:
        img_dir = _join(root, prefix.get('img', prefix.get('img_path', '')))
        return check_coco(_join(root, ann_file), img_dir, report)
    dataset = _build(ds)
    # get_data_info, not data_list: mmengine serialises the list away after full_init
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    if 'seg_map_path' in prefix:
        pairs = [(info['img_path'], info['seg_map_path']) for info in infos]
        return check_segmentation_pairs(
            pairs, len(dataset.metainfo['classes']), bool(dataset.reduce_zero_label),
            int(getattr(dataset, 'ignore_index', 255)), report)
    return check_images((info['img_path'] for info in infos), report)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, 'none', None,
                      on_loaded=lambda loaded: _state.update(cfg=loaded))
    splits = tuple(s.strip() for s in args.splits.split(',') if s.strip())
    unknown = set(splits) - {'train', 'val', 'test'}
    if unknown:
        raise CLIError(f'--splits: unknown split(s) {sorted(unknown)}; use train, val, test')
    check_data_paths(cfg, splits=splits)
    from mmengine.registry import init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    reports, seen = [], set()
    for key, ds in dataset_cfgs(cfg):
        if key.split('_', 1)[0] not in splits or ds.get('type') in (None, 'RepeatDataset'):
            continue
        identity = json.dumps({k: ds.get(k) for k in ('type', 'data_root', 'ann_file',
                                                      'data_prefix')}, sort_keys=True,
                              default=str)
        if identity in seen:  # val and test often read the same files
            continue
        seen.add(identity)
        print(f'check_dataset.py: checking {key} ...', flush=True)
        reports.append(check_dataset_cfg(key, ds, args.examples))
    for report in reports:
        print('\n'.join(report.lines()))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump([r.to_dict() for r in reports], f, indent=1)
    bad = sum(not r.ok for r in reports)
    print(f'check_dataset.py: {len(reports)} dataset(s) checked, '
          f'{bad} with problems' + ('' if bad else ': all clean'))
    return 1 if bad else 0


if __name__ == '__main__':
    run_cli(main, 'check_dataset.py', lambda: _state['cfg'])
