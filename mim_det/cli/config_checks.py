"""Checks that turn common config mistakes into one actionable line before a run starts.

Every check raises :class:`ConfigCheckError`, whose message names the config key or path and
the fix. ``tools/train.py`` and ``tools/test.py`` run them; the CLI wrapper prints the message
as ``<tool>: error: <message>`` and exits with status 2 instead of a long traceback.
"""
import difflib
import glob
import importlib
import inspect
import os.path as osp
import re
from typing import Any, Iterator, List, Optional, Tuple

from mmengine.config import Config

from .errors import UserError

GENERATE_HINT = 'python tools/generate_data.py'


class ConfigCheckError(UserError, ValueError):
    """A config problem with a one-line, user-facing explanation."""


# ----------------------------------------------------------------------------------------------
# helpers

def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=3, cutoff=0.6)
    return f' (did you mean {", ".join(repr(c) for c in close)}?)' if close else ''


def find_registered(type_name: str, scope: Optional[str]) -> Any:
    """The class/function registered as ``type_name`` in ``scope`` (or mmengine's root), else None."""
    from mmengine.registry import Registry
    modules = ['mmengine.registry']
    if scope and scope != 'mmengine':
        modules.insert(0, f'{scope}.registry')
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for registry in vars(module).values():
            if isinstance(registry, Registry):
                try:
                    obj = registry.get(type_name)
                except Exception:  # some registries raise on scoped names they do not own
                    obj = None
                if obj is not None:
                    return obj
    return None


def _accepted_kwargs(obj) -> Optional[set]:
    """Keyword names ``obj`` accepts, or None when it takes ``**kwargs`` (anything goes)."""
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        params = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return None
    names = set()
    for p in params:
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            return None
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            names.add(p.name)
    names.discard('self')
    return names


def _implicit_target(path: List[str], node: dict) -> Any:
    """What mmengine builds from an untyped top-level dict, so its keys can be checked."""
    if len(path) != 1:
        return None
    key = path[0]
    if key.endswith('_dataloader'):
        from torch.utils.data import DataLoader
        return DataLoader
    if key == 'train_cfg':
        from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop
        return EpochBasedTrainLoop if node.get('by_epoch', False) else IterBasedTrainLoop
    if key in ('val_cfg', 'test_cfg'):
        from mmengine.runner import TestLoop, ValLoop
        return ValLoop if key == 'val_cfg' else TestLoop
    if key == 'optim_wrapper':
        from mmengine.optim import OptimWrapper
        return OptimWrapper
    if key == 'randomness':
        from mmengine.runner import Runner
        return Runner.set_randomness
    return None


#: top-level keys mmengine's Runner reads from its config without taking them as arguments
#: (``cfg.get('compile')`` in ``Runner.train``: torch.compile of the model)
RUNNER_CONFIG_KEYS = {'compile', 'runner_type'}


def _runner_arguments() -> set:
    from mmengine.runner import Runner
    return (set(inspect.signature(Runner.__init__).parameters) - {'self'}) | RUNNER_CONFIG_KEYS


# ----------------------------------------------------------------------------------------------
# --cfg-options

def check_cfg_options(cfg: Config, options: dict) -> None:
    """Refuse ``--cfg-options`` keys that the config would silently add and nothing would read.

    ``Config.merge_from_dict`` creates any key it is given, so a typo such as
    ``train_cfg.max_iter=10`` is merged, ignored, and the run trains with the old value. A key
    is accepted when it exists in the config, when its parent is ``None`` (a sub-config being
    filled in), when it is a Runner argument at top level, or when the object its parent dict
    builds (``type=...``, or the implicit type of ``train_cfg``, ``*_dataloader``, ...) takes it
    as a keyword argument. Anything else raises :class:`ConfigCheckError` naming the key and
    the closest existing keys.
    """
    scope = cfg.get('default_scope')
    for full_key in options:
        parts = full_key.split('.')
        node: Any = cfg._cfg_dict if isinstance(cfg, Config) else cfg
        for depth, part in enumerate(parts):
            here = '.'.join(parts[:depth + 1])
            if node is None:
                break  # merging into a None sub-config creates it; nothing to check against
            if isinstance(node, (list, tuple)):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigCheckError(
                        f'--cfg-options key {full_key!r}: {here!r} indexes a list of length '
                        f'{len(node)}; use an index 0..{len(node) - 1}')
                node = node[int(part)]
                continue
            if not isinstance(node, dict):
                raise ConfigCheckError(
                    f'--cfg-options key {full_key!r}: {".".join(parts[:depth])!r} is a '
                    f'{type(node).__name__}, not a dict, so it has no key {part!r}')
            if part in node:
                node = node[part]
                continue
            if depth == 0 and part in _runner_arguments():
                break
            # A new key is fine when the object this dict builds takes it as an argument.
            target = None
            if isinstance(node.get('type'), str):
                target = find_registered(node['type'], scope)
            elif inspect.isclass(node.get('type')) or callable(node.get('type')):
                target = node['type']
            else:
                target = _implicit_target(parts[:depth], node)
            choices = set(node) | (_runner_arguments() if depth == 0 else set())
            if target is not None:
                accepted = _accepted_kwargs(target)
                if accepted is None or part in accepted:
                    break
                choices |= accepted
            raise ConfigCheckError(
                f'--cfg-options key {full_key!r}: the config has no key {here!r}'
                f'{_suggest(part, choices)}; fix the key, or add new keys in a config that '
                'inherits this one (_base_)')


# ----------------------------------------------------------------------------------------------
# data paths

def dataset_cfgs(cfg: Config) -> Iterator[Tuple[str, dict]]:
    def walk(path: str, node) -> Iterator[Tuple[str, dict]]:
        if isinstance(node, dict):
            if 'data_root' in node or 'ann_file' in node or 'data_prefix' in node:
                yield path, node
            for key in ('dataset', 'datasets'):
                if key in node:
                    yield from walk(f'{path}.{key}', node[key])
        elif isinstance(node, (list, tuple)):
            for i, item in enumerate(node):
                yield from walk(f'{path}.{i}', item)

    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if isinstance(loader, dict) and 'dataset' in loader:
            yield from walk(f'{split}_dataloader.dataset', loader['dataset'])


def _is_local(path: str) -> bool:
    return isinstance(path, str) and '://' not in path and not path.startswith('s3:')


# what tools/generate_data.py writes (under data/ by default)
GENERATED_ROOTS = ('pretrain', 'classify', 'coco', osp.join('ade', 'ADEChallengeData2016'))


def _missing_data_fix(cfg: Config, key: str, root: str) -> str:
    """How to get the data a config reads: generate it (the tiny configs and the generated
    folders), or bring the real dataset -- and then name the tiny configs that use the generated
    data instead."""
    where = f'--cfg-options {key}.data_root=PATH (see README, "Data")'
    filename = getattr(cfg, 'filename', None) or ''
    if osp.normpath(root).endswith(GENERATED_ROOTS) or 'embedded' in osp.basename(filename):
        return (f'generate the embedded default data with `{GENERATE_HINT}`, or point the '
                f'config at your copy with {where}')
    tiny = sorted(osp.relpath(p) for p in glob.glob(osp.join(osp.dirname(filename),
                                                              '*embedded*.py'))) if filename else []
    hint = (f'; to run on the generated data instead (`{GENERATE_HINT}`), use '
            f'{" or ".join(tiny)}' if tiny else f'; `{GENERATE_HINT}` makes only the embedded '
            'default data (data/pretrain, data/classify, data/coco, data/ade)')
    return f'this is a real dataset: put or symlink your copy there, or set {where}{hint}'


def check_data_paths(cfg: Config, splits=('train', 'val', 'test')) -> None:
    """Every dataset's ``data_root``, ``ann_file`` and ``data_prefix`` paths must exist."""
    for key, ds in dataset_cfgs(cfg):
        if key.split('_', 1)[0] not in splits:
            continue
        root = ds.get('data_root') or ''
        fix = _missing_data_fix(cfg, key, root)
        if root and _is_local(root) and not osp.isdir(root):
            raise ConfigCheckError(
                f'data root {root!r} ({key}.data_root) does not exist; {fix}')
        candidates = []
        ann = ds.get('ann_file')
        if ann:
            candidates.append(('ann_file', ann))
        prefix = ds.get('data_prefix')
        if isinstance(prefix, str):
            candidates.append(('data_prefix', prefix))
        elif isinstance(prefix, dict):
            candidates += [(f'data_prefix.{k}', v) for k, v in prefix.items() if isinstance(v, str)]
        for name, rel in candidates:
            if not rel or not _is_local(rel):
                continue
            full = rel if osp.isabs(rel) or not root else osp.join(root, rel)
            if not osp.exists(full):
                raise ConfigCheckError(f'{full!r} ({key}.{name}) does not exist; {fix}')


# ----------------------------------------------------------------------------------------------
# checkpoints

def _init_cfg_checkpoints(node, path='') -> Iterator[Tuple[str, str]]:
    if isinstance(node, dict):
        init = node.get('init_cfg')
        inits = init if isinstance(init, (list, tuple)) else [init]
        for i, item in enumerate(inits):
            if isinstance(item, dict) and item.get('type') == 'Pretrained' and item.get('checkpoint'):
                suffix = f'.{i}' if isinstance(init, (list, tuple)) else ''
                yield f'{path}init_cfg{suffix}.checkpoint', item['checkpoint']
        for key, value in node.items():
            if key != 'init_cfg':
                yield from _init_cfg_checkpoints(value, f'{path}{key}.')
    elif isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            yield from _init_cfg_checkpoints(item, f'{path}{i}.')


def _is_pretrained(init) -> bool:
    return isinstance(init, dict) and init.get('type') == 'Pretrained'


def drop_pretrained_init_cfgs(cfg: Config) -> List[str]:
    """Remove every ``init_cfg=dict(type='Pretrained', ...)`` of the model config; return where
    they were. A test run loads a trained checkpoint that holds every weight: the pretraining
    file must neither be needed nor loaded over the trained weights."""
    dropped = []

    def walk(node, path):
        if isinstance(node, dict):
            init = node.get('init_cfg')
            if _is_pretrained(init):
                node['init_cfg'] = None
                dropped.append(f'{path}init_cfg')
            elif isinstance(init, (list, tuple)) and any(map(_is_pretrained, init)):
                node['init_cfg'] = [i for i in init if not _is_pretrained(i)] or None
                dropped.append(f'{path}init_cfg')
            for key, value in node.items():
                if key != 'init_cfg':
                    walk(value, f'{path}{key}.')
        elif isinstance(node, (list, tuple)):
            for i, item in enumerate(node):
                walk(item, f'{path}{i}.')

    walk(cfg.get('model', {}), 'model.')
    return dropped


def check_checkpoint_paths(cfg: Config) -> None:
    """``load_from``, a resume path and ``init_cfg=dict(type='Pretrained')`` files must exist."""
    load_from = cfg.get('load_from')
    if load_from and _is_local(load_from) and not osp.isfile(load_from):
        what = 'resume checkpoint' if cfg.get('resume') else 'load_from checkpoint'
        raise ConfigCheckError(
            f'{what} {load_from!r} does not exist; check the path (use --resume with no path to '
            'continue from the latest checkpoint in --work-dir)')
    for key, path in _init_cfg_checkpoints(cfg.get('model', {}), 'model.'):
        if _is_local(path) and not osp.isfile(path):
            raise ConfigCheckError(
                f'pretrained checkpoint {path!r} ({key}) does not exist; train/export it first '
                f'or fix the path with --cfg-options {key}=PATH')


# ----------------------------------------------------------------------------------------------
# registry errors raised while building

_REGISTRY_MISS = re.compile(r'([\w.:-]+) is not in the (?:(\w+)::)?([\w ]+?) registry')


def _type_paths(node, name: str, path: str = '') -> Iterator[str]:
    if isinstance(node, dict):
        if node.get('type') == name:
            yield f'{path}type'
        for key, value in node.items():
            yield from _type_paths(value, name, f'{path}{key}.')
    elif isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            yield from _type_paths(item, name, f'{path}{i}.')


def describe_registry_error(exc: BaseException, cfg: Optional[Config]) -> Optional[str]:
    """One line for mmengine's "X is not in the scope::name registry" KeyError, else None."""
    match = _REGISTRY_MISS.search(str(exc))
    if not match:
        return None
    name, scope, registry_name = match.groups()
    if scope is None and cfg is not None:
        scope = cfg.get('default_scope') or 'mmengine'
    scope = scope or 'mmengine'
    where = ''
    if cfg is not None:
        paths = list(_type_paths(cfg._cfg_dict if isinstance(cfg, Config) else cfg, name))
        if paths:
            where = f' at {", ".join(paths)}'
    suggestion = ''
    try:
        registry_module = importlib.import_module(f'{scope}.registry')
        from mmengine.registry import Registry
        for registry in vars(registry_module).values():
            if (isinstance(registry, Registry) and registry.name == registry_name
                    and registry.scope == scope):
                registry.import_from_location()
                suggestion = _suggest(name, registry.module_dict)
                break
    except ImportError:
        pass
    return (f'unknown type {name!r}{where}: not in the {scope}::{registry_name} registry'
            f'{suggestion}; fix the name, or import the module that registers it with '
            "custom_imports = dict(imports=['mim_det'])")


def work_dir_for(config_path: str) -> str:
    """OpenMMLab's default work dir: ``./work_dirs/<config file stem>``."""
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def config_exists_or_error(path: str) -> None:
    if not osp.isfile(path):
        raise ConfigCheckError(f'config file {path!r} does not exist; list the configs with '
                               '`ls configs/*/`')


__all__ = [
    'ConfigCheckError', 'check_cfg_options', 'check_data_paths', 'check_checkpoint_paths',
    'describe_registry_error', 'find_registered', 'work_dir_for', 'config_exists_or_error',
    'drop_pretrained_init_cfgs'
]
