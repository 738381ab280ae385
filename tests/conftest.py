"""Shared fixtures: the repository paths, a small generated dataset, and tool runners."""
import glob
import importlib
import importlib.util
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
from mmengine.registry import DefaultScope

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS = osp.join(ROOT, 'tools')
sys.path.insert(0, TOOLS)  # tools/*.py import their _bootstrap helper

# The same small sizes everywhere keep the suite fast; the generator is deterministic.
SMALL_DATA = dict(num_pretrain=24, num_coco_train=8, num_coco_val=4, num_ade_train=6,
                  num_ade_val=3, num_classify_train=12, num_classify_val=6)


# The test files that take longest (measured with --durations; several minutes each), longest
# first. Under pytest-xdist's ``--dist loadfile`` (tools/run_tests.sh) a file runs whole on one
# worker and files are handed out in collection order, so starting these first keeps one of them
# from being the last thing running while the other worker idles.
LONGEST_FILES = ('test_vitdet_pipeline.py', 'test_comparison.py', 'test_upernet.py',
                 'test_faults.py', 'test_beit.py', 'test_mscn.py')


def pytest_collection_modifyitems(config, items):
    """Move the files of ``LONGEST_FILES`` to the front (their own order kept within each)."""
    def rank(item):
        name = osp.basename(str(item.fspath))
        return LONGEST_FILES.index(name) if name in LONGEST_FILES else len(LONGEST_FILES)
    items.sort(key=rank)  # stable: the rest keep their collection order


@pytest.fixture(scope='session')
def small_data(tmp_path_factory):
    """A small embedded dataset (all four formats) generated once per test session."""
    from mim_det.datasets import generate_default_data
    out = tmp_path_factory.mktemp('data')
    generate_default_data(out_dir=str(out), seed=0, **SMALL_DATA)
    return str(out)


@pytest.fixture
def small_data_copy(tmp_path, small_data):
    """A writable copy of the small dataset, for tests that break files in it."""
    import pathlib
    import shutil
    copy = tmp_path / 'data'
    shutil.copytree(small_data, copy)
    return pathlib.Path(copy)


def break_coco_training_set(data):
    """One problem of each kind in ``<data>/coco``'s training set: a 2-point polygon, a
    zero-area box, a box beyond the right edge, an unknown category, an annotation of an image
    that does not exist (annotations 0-4), and a missing image file (the last image). Returns
    the JSON as written."""
    import json
    ann_file = data / 'coco' / 'annotations' / 'instances_train2017.json'
    coco = json.load(open(ann_file))
    anns = coco['annotations']
    anns[0]['segmentation'] = [[1.0, 1.0, 5.0, 5.0]]
    anns[1]['bbox'] = [3.0, 3.0, 0.0, 7.0]
    image = next(i for i in coco['images'] if i['id'] == anns[2]['image_id'])
    anns[2]['bbox'] = [image['width'] - 2.0, 0.0, 30.0, 10.0]
    anns[3]['category_id'] = 999
    anns[4]['image_id'] = 10 ** 6
    json.dump(coco, open(ann_file, 'w'))
    (data / 'coco' / 'train2017' / coco['images'][-1]['file_name']).unlink()
    return coco


def break_ade_training_maps(data):
    """The first ADE20k training label map resized to 7 x 5, label 200 (not a class) in the
    second; returns the sorted map paths."""
    import numpy as np
    from PIL import Image
    maps = sorted((data / 'ade' / 'ADEChallengeData2016' / 'annotations' / 'training')
                  .glob('*.png'))
    Image.open(maps[0]).resize((7, 5), Image.NEAREST).save(maps[0])
    labels = np.array(Image.open(maps[1]))
    labels[0, 0] = 200
    Image.fromarray(labels).save(maps[1])
    return maps


def load_tool(name: str):
    """Import ``tools/<name>.py`` as a module (its ``main(argv)`` runs in-process)."""
    spec = importlib.util.spec_from_file_location(f'mim_det_tool_{name}', osp.join(TOOLS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tool_env(env=None) -> dict:
    """This interpreter's environment for a tool subprocess (the repo on PYTHONPATH, one
    OpenMP thread unless set), updated with ``env``."""
    full_env = dict(os.environ)
    full_env['PYTHONPATH'] = ROOT + os.pathsep + full_env.get('PYTHONPATH', '')
    full_env.setdefault('OMP_NUM_THREADS', '1')
    full_env.update(env or {})
    return full_env


def run_tool(args, cwd=ROOT, timeout=900, env=None):
    """Run a command in a subprocess with this interpreter's environment; return the result."""
    return subprocess.run(args, cwd=cwd, env=tool_env(env), capture_output=True, text=True,
                          timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def build_in_scope(cfg_model, scope: str = 'mmpretrain'):
    """Build a model config with ``<scope>.registry.MODELS`` while that scope is the default one
    (as a runner of a config with ``default_scope=<scope>`` would)."""
    registry = importlib.import_module(f'{scope}.registry')
    with DefaultScope.overwrite_default_scope(scope):
        return registry.MODELS.build(cfg_model)


def logged_scalars(work_dir: str) -> list:
    """The rows of the one run under ``work_dir`` (``<run>/vis_data/scalars.json``)."""
    [scalars] = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(scalars) as f:
        return [json.loads(line) for line in f]


def training_losses(work_dir: str) -> list:
    """(iteration, loss) of every logged training row of the run under ``work_dir``."""
    return [(r['iter'], r['loss']) for r in logged_scalars(work_dir) if 'loss' in r]


def pretrain_and_export(work_dir: str, config: str, data_root: str, iters: int,
                        options=()) -> dict:
    """``iters`` iterations of a pretraining ``config`` on ``<data_root>/pretrain`` through
    tools/train.py (a log row every 5), then tools/export_backbone.py; asserts both succeed.

    Returns ``dict(work, ckpt, export, export_log)``.
    """
    result = run_tool([
        sys.executable, 'tools/train.py', config, '--work-dir', str(work_dir), '--cfg-options',
        f'train_dataloader.dataset.data_root={data_root}/pretrain', f'train_cfg.max_iters={iters}',
        f'default_hooks.checkpoint.interval={iters}', 'default_hooks.logger.interval=5',
        *options])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    ckpt = osp.join(str(work_dir), f'iter_{iters}.pth')
    export = osp.join(str(work_dir), 'backbone.safetensors')
    result = run_tool([sys.executable, 'tools/export_backbone.py', ckpt, export])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return dict(work=str(work_dir), ckpt=ckpt, export=export, export_log=result.stdout)


TOKENIZER_TINY = 'configs/peco/vq-tokenizer_perceptual_tiny_embedded.py'
TOKENIZER_ITERS = 20


def train_tiny_tokenizer(work_dir, data_root: str, *flags) -> str:
    """``TOKENIZER_ITERS`` iterations of the tiny VQ tokenizer through tools/train_tokenizer.py
    on ``<data_root>/pretrain`` (a log row every 5; dead codes restarted after 5 unused steps
    instead of the config's 20, so that restarts happen in so short a run); asserts success,
    returns the checkpoint."""
    result = run_tool([
        sys.executable, 'tools/train_tokenizer.py', TOKENIZER_TINY, *flags,
        '--work-dir', str(work_dir), '--cfg-options',
        f'train_dataloader.dataset.data_root={data_root}/pretrain',
        f'train_cfg.max_iters={TOKENIZER_ITERS}',
        f'default_hooks.checkpoint.interval={TOKENIZER_ITERS}',
        'default_hooks.logger.interval=5', 'log_processor.window_size=5',
        'model.tokenizer.restart_after=5'])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return osp.join(str(work_dir), f'iter_{TOKENIZER_ITERS}.pth')


@pytest.fixture(scope='session')
def plain_tokenizer(tmp_path_factory, small_data):
    """The tiny tokenizer trained without the perceptual loss (the plain VQ-VAE), once per
    session: BEiT's and LoMaR-BEiT's target generator in the tests."""
    work = tmp_path_factory.mktemp('plain_tokenizer')
    return dict(work=str(work), ckpt=train_tiny_tokenizer(work, small_data, '--no-perceptual'))
