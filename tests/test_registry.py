"""Every mim_det registration resolves in its scope, and every one is listed."""
import importlib

import pytest

import mim_det
from mim_det.registry import COMPONENTS

SCOPES = ('mmengine', 'mmpretrain', 'mmdet', 'mmseg')


def _registries(scope):
    """The registries a scope owns (downstream modules also re-export mmengine's as MMENGINE_*)."""
    from mmengine.registry import Registry
    module = importlib.import_module(f'{scope}.registry')
    return {name: reg for name, reg in vars(module).items()
            if isinstance(reg, Registry) and reg.scope == scope}


@pytest.mark.parametrize('component', COMPONENTS, ids=lambda c: f'{c.scope}.{c.name}')
def test_component_resolves_in_its_scope(component):
    registry = _registries(component.scope)[component.registry]
    obj = registry.get(component.name)
    assert obj is not None, f'{component.name} not found in {component.scope}::{registry.name}'
    assert obj.__module__ == component.module
    # Downstream scopes fall back to mmengine's root registries, so root parts resolve there too.
    if component.scope == 'mmengine':
        for scope in SCOPES[1:]:
            child = _registries(scope)[component.registry]
            assert child.get(component.name) is obj


def test_no_unlisted_mim_det_registration():
    """A mim_det class registered anywhere must appear in mim_det.registry.COMPONENTS."""
    listed = {(c.scope, c.registry, c.name) for c in COMPONENTS}
    found = set()
    for scope in SCOPES:
        for attr, registry in _registries(scope).items():
            registry.import_from_location()
            for name, obj in registry.module_dict.items():
                if getattr(obj, '__module__', '').startswith('mim_det'):
                    found.add((scope, attr, name))
    assert found == listed


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
