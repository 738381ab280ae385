"""From a config file and command-line overrides to an mmengine Runner, and from its test
metrics to the report file (shared by the tools)."""
import json
import numbers
import os
import os.path as osp
from typing import Callable, Optional

from mmengine.config import Config

from .config_checks import check_cfg_options, config_exists_or_error, work_dir_for


def load_config(path: str, cfg_options: Optional[dict], launcher: str, work_dir: Optional[str],
                on_loaded: Callable[[Config], None] = lambda cfg: None) -> Config:
    """Load ``path``, validate and merge ``--cfg-options``, set the launcher and work dir.

    ``on_loaded`` sees the config before validation, so error messages can name its keys.
    The work dir follows OpenMMLab's order: ``--work-dir``, then the config's ``work_dir``,
    then ``./work_dirs/<config name>``.
    """
    config_exists_or_error(path)
    cfg = Config.fromfile(path)
    on_loaded(cfg)
    if cfg_options:
        check_cfg_options(cfg, cfg_options)
        cfg.merge_from_dict(cfg_options)
    cfg.launcher = launcher
    cfg.work_dir = work_dir or cfg.get('work_dir') or work_dir_for(path)
    return cfg


def build_runner(cfg: Config):
    """The config's ``runner_type`` if it names one, else mmengine's Runner."""
    if 'runner_type' in cfg:
        from mmengine.registry import RUNNERS
        return RUNNERS.build(cfg)
    from mmengine.runner import Runner
    return Runner.from_cfg(cfg)


def write_test_report(cfg: Config, config_path: str, checkpoint: str, metrics: Optional[dict],
                      prog: str) -> str:
    """Print ``metrics`` and write them to ``<work_dir>/test_metrics.json``; returns the path.

    Call on the main process only. mmseg reports numpy float32 scalars (``numbers.Real``),
    mmdet Python floats; both become JSON floats.
    """
    report = {k: (float(v) if isinstance(v, numbers.Real) else str(v))
              for k, v in (metrics or {}).items()}
    os.makedirs(cfg.work_dir, exist_ok=True)
    path = osp.join(cfg.work_dir, 'test_metrics.json')
    with open(path, 'w') as f:
        json.dump(dict(config=config_path, checkpoint=checkpoint, metrics=report), f, indent=2)
    width = max([len(k) for k in report] + [6])
    print(f'\nEvaluation report ({prog})')
    for key, value in report.items():
        print(f'  {key:<{width}}  {value:.4f}' if isinstance(value, float)
              else f'  {key:<{width}}  {value}')
    print(f'  (written to {path})')
    return path


def is_pretraining_model(cfg: Config) -> bool:
    """Whether ``cfg.model`` is a self-supervised pretraining algorithm (an mmpretrain
    ``BaseSelfSupervisor``), as opposed to a classifier, detector or segmentor."""
    try:
        from mmpretrain.models.selfsup import BaseSelfSupervisor
        from mmpretrain.registry import MODELS
        model_cls = MODELS.get(cfg.model.type)
    except (ImportError, KeyError, AttributeError):
        return False
    return isinstance(model_cls, type) and issubclass(model_cls, BaseSelfSupervisor)


def _config_nodes(node, types):
    """The dicts of a dataset config whose ``type`` is in ``types``, through dataset wrappers
    and pipelines."""
    if isinstance(node, dict):
        if node.get('type') in types:
            yield node
        for key in ('dataset', 'datasets', 'pipeline'):
            if key in node:
                yield from _config_nodes(node[key], types)
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from _config_nodes(item, types)


# mim_det's checked versions of these datasets take ``bad_annotations`` ('drop' | 'fail')
CHECKED_DATASETS = ('CocoDataset', 'BaseSegDataset', 'ADE20KDataset')


def apply_bad_annotation_policy(cfg: Config, policy: str = 'drop') -> None:
    """Training COCO / segmentation datasets drop bad annotations with a count in the log unless
    the config says otherwise; validation and test keep the datasets' default, 'fail'."""
    loader = cfg.get('train_dataloader') or {}
    datasets = list(_config_nodes(loader.get('dataset'), CHECKED_DATASETS))
    if datasets:
        # registers the checked classes under the toolboxes' names, also for configs that
        # import only mim_det (pretraining never gets here: it has none of these datasets)
        import mim_det.downstream  # noqa: F401
    for dataset in datasets:
        dataset.setdefault('bad_annotations', policy)


def apply_unreadable_image_policy(cfg: Config) -> str:
    """Set the training pipeline's image loading to the ``UnreadableImageHook`` policy
    (resolving ``None`` to 'skip' for pretraining, 'fail' otherwise); returns the policy.
    Validation and test pipelines keep 'fail'."""
    from mim_det.engine.hooks import SKIPPED_LIST
    hook = next(h for h in cfg.custom_hooks if h.get('type') == 'UnreadableImageHook')
    policy = hook.get('policy') or ('skip' if is_pretraining_model(cfg) else 'fail')
    hook['policy'] = policy
    loader = cfg.get('train_dataloader') or {}
    for step in _config_nodes(loader.get('dataset'), ('LoadImageFromFile',)):
        step.setdefault('on_error', policy)
        if step['on_error'] == 'skip':
            step.setdefault('skipped_list', osp.join(osp.abspath(cfg.work_dir), SKIPPED_LIST))
    return policy
