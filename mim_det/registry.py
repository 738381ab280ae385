"""Where mim_det's components are registered, read from the registries themselves.

The rule: a component registers (by decorator, in the module that defines it) in the registry of
the upstream toolbox whose runner builds it, so configs keep the ``default_scope`` users know and
work both with ``tools/train.py`` and with the toolbox's own train script:

========================================  ===================================================
what                                      registry
========================================  ===================================================
pretraining algorithms, their backbones,  ``mmpretrain.registry`` (``MODELS``, ...)
maskers, heads
detection/segmentation parts              ``mmdet.registry`` / ``mmseg.registry`` (imported by
                                          :mod:`mim_det.downstream` only)
layers and runner parts used by every     ``mmengine.registry`` (the root; every scope's
scope (relative position biases, hooks)   registries fall back to it)
========================================  ===================================================

:func:`registered_components` lists every registration of a mim_det class found in those
registries (``tests/test_registry.py`` checks each resolves in its scope).
"""
import importlib
from typing import List, NamedTuple

SCOPES = ('mmengine', 'mmpretrain', 'mmdet', 'mmseg')


class Component(NamedTuple):
    scope: str  # 'mmengine', 'mmpretrain', 'mmdet' or 'mmseg'
    registry: str  # attribute name in ``<scope>.registry``, e.g. 'MODELS'
    name: str  # the ``type=`` string used in configs
    module: str  # the mim_det module that defines and registers it


def scope_registries(scope: str) -> dict:
    """The registries a scope owns, by attribute name (``MODELS``, ``HOOKS``, ...)."""
    from mmengine.registry import Registry
    module = importlib.import_module(f'{scope}.registry')
    return {name: reg for name, reg in vars(module).items()
            if isinstance(reg, Registry) and reg.scope == scope}


def registered_components(downstream: bool = True) -> List[Component]:
    """Every mim_det class registered in the four scopes (after importing
    :mod:`mim_det.downstream` too, unless ``downstream=False``)."""
    importlib.import_module('mim_det.downstream' if downstream else 'mim_det')
    found = []
    for scope in SCOPES:
        for attr, registry in sorted(scope_registries(scope).items()):
            for name, obj in sorted(registry.module_dict.items()):
                module = getattr(obj, '__module__', '')
                if module.startswith('mim_det'):
                    found.append(Component(scope, attr, name, module))
    return found
