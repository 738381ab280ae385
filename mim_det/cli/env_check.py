"""Self-check of the OpenMMLab stack that mim_det runs on.

Run by ``tools/setup_env.sh`` after every set-up and by ``tests/test_env.py``::

    python tools/check_env.py

Each step imports or exercises one layer; a failure raises :class:`EnvCheckError` naming the
step and the fix, so the set-up script can print one actionable line.
"""
import importlib
import platform
from typing import Callable, Dict, List, Tuple

from .errors import UserError

# The versions mim_det is pinned to (requirements.txt); the check reports any drift.
PINNED = {
    'torch': '2.14.1',
    'torchvision': '0.29.1',
    'mmengine': '0.10.7',
    'mmcv': '2.1.0',
    'mmdet': '3.3.0',
    'mmseg': '1.2.2',
    'mmpretrain': '1.2.0',
}

SETUP_FIX = 'run `bash tools/setup_env.sh` (add --rebuild-mmcv if mmcv ops are broken)'


class EnvCheckError(UserError, RuntimeError):
    """A failed self-check step: ``step`` names it, ``fix`` says what to do."""

    def __init__(self, step: str, detail: str, fix: str = SETUP_FIX):
        self.step, self.detail, self.fix = step, detail, fix
        super().__init__(f'self-check step "{step}" failed: {detail}; fix: {fix}')


def _import_versions() -> Dict[str, str]:
    versions = {}
    for name in PINNED:
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # report any import failure as this step's failure
            raise EnvCheckError(f'import {name}', f'{type(exc).__name__}: {exc}') from exc
        versions[name] = getattr(module, '__version__', '?')
    return versions


def _check_mmcv_ops() -> None:
    try:
        from mmcv.ops import RoIAlign, nms  # noqa: F401
        import mmcv._ext  # noqa: F401  (the compiled extension itself)
    except Exception as exc:
        raise EnvCheckError(
            'import mmcv.ops', f'{type(exc).__name__}: {exc} (mmcv was installed without its '
            'compiled ops, or built against another torch)',
            'bash tools/setup_env.sh --rebuild-mmcv') from exc


def _check_roi_align() -> float:
    import torch
    import torchvision
    from mmcv.ops import RoIAlign

    generator = torch.Generator().manual_seed(0)
    feats = torch.rand(2, 3, 16, 16, generator=generator)
    rois = torch.tensor([[0, 1.0, 2.0, 9.5, 12.0], [1, 0.0, 0.0, 15.0, 15.0],
                         [1, 3.3, 4.1, 7.7, 6.2]])
    ours = RoIAlign((5, 5), spatial_scale=1.0, sampling_ratio=2, aligned=True)(feats, rois)
    ref = torchvision.ops.roi_align(feats, rois, (5, 5), 1.0, 2, aligned=True)
    err = float((ours - ref).abs().max())
    if ours.shape != (3, 3, 5, 5) or err > 1e-5:
        raise EnvCheckError('RoIAlign (CPU)', f'shape {tuple(ours.shape)}, max |mmcv - '
                            f'torchvision| = {err:.3g}', 'bash tools/setup_env.sh --rebuild-mmcv')
    return err


def _check_nms() -> List[int]:
    import torch
    import torchvision
    from mmcv.ops import nms

    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 9, 10.5],
                          [21, 19, 30, 31]], dtype=torch.float32)
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95, 0.6])
    _, keep = nms(boxes, scores, iou_threshold=0.5)
    ref = torchvision.ops.nms(boxes, scores, 0.5)
    if keep.tolist() != ref.tolist():
        raise EnvCheckError('nms (CPU)', f'kept {keep.tolist()}, torchvision keeps '
                            f'{ref.tolist()}', 'bash tools/setup_env.sh --rebuild-mmcv')
    return keep.tolist()


def _check_toolboxes() -> None:
    # These imports pull in every model/dataset module, so a missing run-time dependency
    # (ftfy, regex, pycocotools, ...) surfaces here rather than in the first training run.
    for module in ('mmdet.models', 'mmdet.datasets', 'mmdet.evaluation', 'mmseg.models',
                   'mmseg.datasets', 'mmseg.evaluation', 'mmpretrain.models',
                   'mmpretrain.datasets'):
        try:
            importlib.import_module(module)
        except Exception as exc:
            raise EnvCheckError(f'import {module}', f'{type(exc).__name__}: {exc}',
                                'bash tools/setup_env.sh (it installs requirements.txt)') from exc


def _check_mim_det() -> None:
    try:
        importlib.import_module('mim_det')
    except Exception as exc:
        raise EnvCheckError('import mim_det', f'{type(exc).__name__}: {exc}',
                            'bash tools/setup_env.sh (it installs mim_det in editable mode)') from exc


def run_self_check(verbose: bool = True) -> Dict[str, str]:
    """Run every step in order; return the versions found. Raises :class:`EnvCheckError`."""
    versions = _import_versions()
    steps: List[Tuple[str, Callable]] = [
        ('mmcv.ops import', _check_mmcv_ops), ('RoIAlign', _check_roi_align),
        ('nms', _check_nms), ('toolbox imports', _check_toolboxes),
        ('mim_det import', _check_mim_det)]
    results = {}
    for name, fn in steps:
        results[name] = fn()
    import torch
    versions['python'] = platform.python_version()
    versions['cuda (torch build)'] = str(torch.version.cuda)
    versions['cuda available'] = str(torch.cuda.is_available())
    if verbose:
        width = max(map(len, versions))
        for name, version in versions.items():
            drift = ''
            if name in PINNED and not version.startswith(PINNED[name]):
                drift = f'   (mim_det pins {PINNED[name]})'
            print(f'  {name:<{width}}  {version}{drift}')
        print(f'  RoIAlign max |mmcv - torchvision| = {results["RoIAlign"]:.2e};'
              f' nms kept {results["nms"]}')
    return versions
