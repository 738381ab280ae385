"""Shared fixtures: the repository paths, a small generated dataset, and tool runners."""
import importlib.util
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS = osp.join(ROOT, 'tools')
sys.path.insert(0, TOOLS)  # tools/*.py import their _bootstrap helper

# The same small sizes everywhere keep the suite fast; the generator is deterministic.
SMALL_DATA = dict(num_pretrain=24, num_coco_train=8, num_coco_val=4, num_ade_train=6,
                  num_ade_val=3, num_classify_train=12, num_classify_val=6)


@pytest.fixture(scope='session')
def small_data(tmp_path_factory):
    """A small embedded dataset (all four formats) generated once per test session."""
    from mim_det.datasets import generate_default_data
    out = tmp_path_factory.mktemp('data')
    generate_default_data(out_dir=str(out), seed=0, **SMALL_DATA)
    return str(out)


def load_tool(name: str):
    """Import ``tools/<name>.py`` as a module (its ``main(argv)`` runs in-process)."""
    spec = importlib.util.spec_from_file_location(f'mim_det_tool_{name}', osp.join(TOOLS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(args, cwd=ROOT, timeout=900, env=None):
    """Run a command in a subprocess with this interpreter's environment; return the result."""
    full_env = dict(os.environ)
    full_env['PYTHONPATH'] = ROOT + os.pathsep + full_env.get('PYTHONPATH', '')
    full_env.setdefault('OMP_NUM_THREADS', '1')
    if env:
        full_env.update(env)
    return subprocess.run(args, cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
