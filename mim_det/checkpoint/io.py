"""Reading checkpoint files: ``.pth`` (weights-only unpickling) and mim_det ``.safetensors``
exports, into (tensors, export metadata or ``None``)."""
import hashlib
import json
import os.path as osp
import pickle
import warnings
from typing import Dict, Optional, Tuple

import torch

from .errors import CheckpointError, unpickling_refusal

EXPORT_FORMAT = 'mim_det.backbone/1'


def tensors_sha256(tensors: Dict[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in name order: the checksum an
    export carries in its metadata (``sha256``) and the loader verifies."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f'{name}|{tensor.dtype}|{tuple(tensor.shape)}|'.encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def load_torch_checkpoint(path: str) -> dict:
    """``torch.load`` with ``weights_only=True`` (mim_det allow-lists mmengine's globals)."""
    if not osp.isfile(path):
        raise CheckpointError(f'checkpoint {path!r} does not exist; pass the .pth file a '
                              'training run wrote (e.g. work_dirs/<config>/iter_N.pth)')
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(unpickling_refusal(path, exc)) from exc


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
    tensors = load_file(path)
    stored = meta.get('sha256')
    if stored is None:
        warnings.warn(f'backbone export {path!r} carries no checksum (written before exports '
                      'had one); its tensors cannot be verified; export it again to add one')
    elif tensors_sha256(tensors) != stored:
        raise CheckpointError(f'backbone export {path!r} is corrupt: its tensors do not match '
                              f'the checksum in its metadata (sha256 {stored[:12]}...); copy it '
                              'again or export it again with tools/export_backbone.py')
    return tensors, meta


def read_checkpoint(path: str) -> Tuple[Dict[str, torch.Tensor], Optional[dict]]:
    """(tensors, export metadata or ``None``) of a ``.safetensors`` export or a ``.pth/.pt``."""
    if path.endswith('.safetensors'):
        return load_backbone_export(path)
    state = model_state_dict(load_torch_checkpoint(path))
    # an unwrapped checkpoint may carry counters next to the tensors (epoch, ...)
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}, None
