"""Reading checkpoint files: ``.pth`` (weights-only unpickling) and mim_det ``.safetensors``
exports, into (tensors, export metadata or ``None``)."""
import json
import os.path as osp
from typing import Dict, Optional, Tuple

import torch

from .errors import CheckpointError

EXPORT_FORMAT = 'mim_det.backbone/1'


def load_torch_checkpoint(path: str) -> dict:
    """``torch.load`` with ``weights_only=True`` (mim_det allow-lists mmengine's globals)."""
    if not osp.isfile(path):
        raise CheckpointError(f'checkpoint {path!r} does not exist; pass the .pth file a '
                              'training run wrote (e.g. work_dirs/<config>/iter_N.pth)')
    return torch.load(path, map_location='cpu', weights_only=True)


def model_state_dict(checkpoint: dict) -> Dict[str, torch.Tensor]:
    """The state dict inside an mmengine (``state_dict``), MAE/timm (``model``) or bare file."""
    for key in ('state_dict', 'model', 'module'):
        if isinstance(checkpoint.get(key), dict):
            return checkpoint[key]
    return checkpoint


def load_backbone_export(path: str) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Read an export: (state_dict, metadata with JSON fields decoded)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    if not osp.isfile(path):
        raise CheckpointError(f'backbone export {path!r} does not exist; create it with '
                              'python tools/export_backbone.py CHECKPOINT OUT.safetensors')
    with safe_open(path, framework='pt') as f:
        meta = dict(f.metadata() or {})
    if meta.get('format') != EXPORT_FORMAT:
        raise CheckpointError(f'{path!r} is not a mim_det backbone export (metadata format='
                              f'{meta.get("format")!r}, expected {EXPORT_FORMAT!r})')
    for key in ('arch', 'rpe'):
        meta[key] = json.loads(meta[key]) if meta.get(key) else None
    for key in ('patch_size', 'img_size', 'num_extra_tokens'):
        meta[key] = int(meta[key])
    return load_file(path), meta


def read_checkpoint(path: str) -> Tuple[Dict[str, torch.Tensor], Optional[dict]]:
    """(tensors, export metadata or ``None``) of a ``.safetensors`` export or a ``.pth/.pt``."""
    if path.endswith('.safetensors'):
        return load_backbone_export(path)
    state = model_state_dict(load_torch_checkpoint(path))
    # an unwrapped checkpoint may carry counters next to the tensors (epoch, ...)
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}, None
