"""Every config under configs/ loads and builds its model in its scope."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from conftest import ROOT

#: recipes of the multi-run tools (the main job's, the data-scaling grid), not models
RECIPES = ('/comparison/', '/data_scaling/grid_')
CONFIGS = sorted(p for p in glob.glob(f'{ROOT}/configs/**/*.py', recursive=True)
                 if '_base_' not in p and not any(r in p for r in RECIPES))
#: model configs already built, checkpoint paths left out: configs that differ from another
#: only in the checkpoint they start from (e.g. configs/vitdet/beit_* and simmim_*) build once
BUILT = set()


def _without_checkpoints(node):
    if isinstance(node, dict):
        return {k: _without_checkpoints(v) for k, v in node.items() if k != 'checkpoint'}
    if isinstance(node, (list, tuple)):
        return [_without_checkpoints(v) for v in node]
    return node


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, f'{ROOT}/configs'))
def test_config_builds_model(path):
    import importlib
    from mmengine.utils import import_modules_from_strings
    cfg = Config.fromfile(path)
    import_modules_from_strings(**cfg.custom_imports)  # what the runner does first
    scope = cfg.default_scope
    assert scope in ('mmpretrain', 'mmdet', 'mmseg')
    assert 'mim_det' in cfg.custom_imports['imports']
    key = scope + repr(_without_checkpoints(cfg.model.to_dict()))
    if key in BUILT:
        return
    BUILT.add(key)
    registry = importlib.import_module(f'{scope}.registry')
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0


def test_baseline_detector_classes_match_the_generator():
    from mim_det.datasets.synthetic import CATEGORY_NAMES
    cfg = Config.fromfile(f'{ROOT}/configs/baselines/mask-rcnn_r18_fpn_2xb4-embedded.py')
    assert tuple(cfg.classes) == tuple(CATEGORY_NAMES)
    assert cfg.model.roi_head.bbox_head.num_classes == len(CATEGORY_NAMES)
    assert cfg.model.roi_head.mask_head.num_classes == len(CATEGORY_NAMES)
