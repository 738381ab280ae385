"""Every config under configs/ loads and builds its model in its scope."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from conftest import ROOT

CONFIGS = sorted(p for p in glob.glob(f'{ROOT}/configs/**/*.py', recursive=True)
                 if '_base_' not in p and '/comparison/' not in p)  # recipes, not models


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, f'{ROOT}/configs'))
def test_config_builds_model(path):
    import importlib
    from mmengine.utils import import_modules_from_strings
    cfg = Config.fromfile(path)
    import_modules_from_strings(**cfg.custom_imports)  # what the runner does first
    scope = cfg.default_scope
    assert scope in ('mmpretrain', 'mmdet', 'mmseg')
    assert 'mim_det' in cfg.custom_imports['imports']
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
