"""Registrations: read from the registries themselves, decorators only, and the split between
the pretraining core (``import mim_det``) and the downstream parts (``mim_det.downstream``)."""
import glob
import os.path as osp
import subprocess
import sys

import pytest

import mim_det
from conftest import ROOT
from mim_det.registry import SCOPES, registered_components, scope_registries

COMPONENTS = registered_components()


def test_the_generated_list_holds_every_kind_of_component():
    names = {(c.scope, c.registry, c.name) for c in COMPONENTS}
    # a spot check that the scan sees each scope (the list itself comes from the registries)
    assert ('mmpretrain', 'MODELS', 'LoMaR') in names
    assert ('mmdet', 'MODELS', 'PlainViT') in names and ('mmseg', 'MODELS', 'PlainViT') in names
    assert ('mmengine', 'HOOKS', 'RNGStateHook') in names
    assert ('mmseg', 'OPTIM_WRAPPER_CONSTRUCTORS', 'ViTLayerDecayOptimWrapperConstructor') in names


@pytest.mark.parametrize('component', COMPONENTS, ids=lambda c: f'{c.scope}.{c.name}')
def test_component_resolves_in_its_scope(component):
    import importlib
    registry = scope_registries(component.scope)[component.registry]
    obj = registry.get(component.name)
    assert obj is not None, f'{component.name} not found in {component.scope}::{registry.name}'
    assert obj.__module__ == component.module
    assert getattr(importlib.import_module(component.module), obj.__name__) is obj
    # Downstream scopes fall back to mmengine's root registries, so root parts resolve there too.
    if component.scope == 'mmengine':
        for scope in SCOPES[1:]:
            child = scope_registries(scope)[component.registry]
            assert child.get(component.name) is obj


def test_registration_by_decorators_only():
    """No component is registered by a call after its definition (a hand-kept list): every
    ``register_module(`` in the package is a decorator line."""
    offenders = []
    for path in glob.glob(osp.join(ROOT, 'mim_det', '**', '*.py'), recursive=True):
        for number, line in enumerate(open(path), 1):
            if 'register_module(' in line and not line.lstrip().startswith(('@', '#')):
                offenders.append(f'{osp.relpath(path, ROOT)}:{number}')
    assert offenders == []


def test_pretraining_does_not_import_the_downstream_toolboxes():
    """``import mim_det`` registers the pretraining components, and none of the mim_det modules
    it loads imports mmdet or mmseg (mmpretrain itself may import mmdet); ``import
    mim_det.downstream`` adds the detection/segmentation parts."""
    code = ('import re, sys, mim_det\n'
            'from mmpretrain.registry import MODELS\n'
            "from mmdet.registry import MODELS as DET\n"
            "assert MODELS.get('LoMaR') and MODELS.get('LoMaRViT') and MODELS.get('WindowSampler')\n"
            "own = [m for name, m in sys.modules.items() if name.startswith('mim_det')]\n"
            "bad = [m.__name__ for m in own if re.search(r'^(from|import) mm(det|seg)\\b',\n"
            "       open(m.__file__).read(), re.M)]\n"
            "print(bad, 'mmseg' in sys.modules, DET.get('PlainViT'))\n"
            'import mim_det.downstream\n'
            "print(DET.get('PlainViT').__name__)\n")
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ['[]', 'False', 'None', 'PlainViT']


def test_custom_imports_registers_mim_det(tmp_path):
    """A config that only names mim_det in custom_imports sees its components (upstream
    toolboxes' own train scripts load configs this way)."""
    from mmengine.config import Config
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text("custom_imports = dict(imports=['mim_det'], allow_failed_imports=False)\n"
                        "default_scope = 'mmdet'\ncustom_hooks = [dict(type='RNGStateHook')]\n")
    cfg = Config.fromfile(str(cfg_file))
    from mmdet.registry import HOOKS
    hook = HOOKS.build(cfg.custom_hooks[0])
    assert type(hook).__module__.startswith('mim_det')


def test_package_exports_version():
    assert mim_det.__version__
