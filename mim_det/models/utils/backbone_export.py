"""Backbone export files: pretraining checkpoint -> tensors-only backbone weights + metadata.

An export is a ``.safetensors`` file (no pickle, so loading it runs no code) holding the
backbone's parameters under their backbone-local names (``patch_embed.projection.weight``,
``layers.0.attn.rpe_k.lookup_table_weight``, ...) and string metadata:

==================  =====================================================================
key                 value
==================  =====================================================================
format              ``mim_det.backbone/1``
method              pretraining algorithm (``lomar``, ``mae``, ...)
backbone_type       the class that produced the weights (``LoMaRViT``, ``MAEViT``)
arch                JSON: embed_dims, num_layers, num_heads, feedforward_channels
patch_size          p
img_size            pretraining input size
pos_encoding        ``contextual_rpe_keys`` (LoMaR: iRPE ctx on keys, no absolute position)
                    or ``absolute_sincos`` (MAE)
rpe                 JSON of the RPE parameters (alpha, beta, gamma, num_buckets), if any
num_extra_tokens    tokens before the patch grid (1: cls)
source, iteration   the checkpoint exported and its training iteration
==================  =====================================================================

Pretraining-only tensors (the mask token, decoders, pixel heads) are not exported.
"""
import json
import os
import os.path as osp
from typing import Dict, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.logging import print_log

from mim_det.utils.config_checks import ConfigCheckError

EXPORT_FORMAT = 'mim_det.backbone/1'
POS_ENCODING = {'LoMaRViT': 'contextual_rpe_keys', 'MAEViT': 'absolute_sincos'}
PRETRAINING_ONLY = ('mask_token',)


class BackboneExportError(ConfigCheckError):
    """A checkpoint or export that cannot be used, with the reason and the fix."""


def load_torch_checkpoint(path: str) -> dict:
    """``torch.load`` with ``weights_only=True`` (mim_det allow-lists mmengine's globals)."""
    if not osp.isfile(path):
        raise BackboneExportError(f'checkpoint {path!r} does not exist; pass the .pth file a '
                                  'training run wrote (e.g. work_dirs/<config>/iter_N.pth)')
    return torch.load(path, map_location='cpu', weights_only=True)


def model_state_dict(checkpoint: dict) -> Dict[str, torch.Tensor]:
    for key in ('state_dict', 'model', 'module'):
        if isinstance(checkpoint.get(key), dict):
            return checkpoint[key]
    return checkpoint


def _arch_dict(backbone_cfg: dict, state: Dict[str, torch.Tensor]) -> dict:
    from mmpretrain.registry import MODELS
    arch = backbone_cfg.get('arch', 'b')
    if isinstance(arch, str):
        cls = MODELS.get(backbone_cfg['type'])
        arch = dict(cls.arch_zoo[arch.lower()])
    keep = ('embed_dims', 'num_layers', 'num_heads', 'feedforward_channels')
    return {k: int(arch[k]) for k in keep if k in arch}


def export_backbone(checkpoint: str, out: str, prefix: str = 'backbone.') -> dict:
    """Write ``out`` (.safetensors) from a mim_det/mmpretrain pretraining checkpoint.

    Returns the metadata written.
    """
    from safetensors.torch import save_file

    ckpt = load_torch_checkpoint(checkpoint)
    state = model_state_dict(ckpt)
    meta_in = ckpt.get('meta', {}) if isinstance(ckpt.get('meta'), dict) else {}
    cfg_text = meta_in.get('cfg')
    if not cfg_text:
        raise BackboneExportError(f'checkpoint {checkpoint!r} has no meta.cfg (the config '
                                  'mmengine stores); export needs a checkpoint written by '
                                  'tools/train.py')
    cfg = Config.fromstring(cfg_text, file_format='.py')
    model_cfg = cfg.model
    backbone_cfg = dict(model_cfg.backbone)
    tensors = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not tensors:
        raise BackboneExportError(f'checkpoint {checkpoint!r} has no keys starting with '
                                  f'{prefix!r}; pass --prefix matching its backbone keys')
    tensors = {k: v.detach().clone().contiguous() for k, v in tensors.items()
               if k.split('.')[0] not in PRETRAINING_ONLY}
    btype = backbone_cfg['type']
    rpe = None
    if 'layers.0.attn.rpe_k.lookup_table_weight' in tensors:
        rpe = dict(backbone_cfg.get('rpe_cfg', dict(alpha=1.9, beta=3.8, gamma=15.2)))
        rpe['num_buckets'] = int(tensors['layers.0.attn.rpe_k.lookup_table_weight'].shape[-1])
    patch = backbone_cfg.get('patch_size', 16)
    meta = {
        'format': EXPORT_FORMAT,
        'method': str(model_cfg.type).lower(),
        'backbone_type': btype,
        'arch': json.dumps(_arch_dict(backbone_cfg, tensors)),
        'patch_size': str(int(patch)),
        'img_size': str(int(backbone_cfg.get('img_size', 224))),
        'pos_encoding': POS_ENCODING.get(btype, 'unknown'),
        'rpe': json.dumps(rpe),
        'num_extra_tokens': '1',
        'source': osp.basename(checkpoint),
        'iteration': str(meta_in.get('iter', '')),
    }
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    tmp = f'{out}.tmp{os.getpid()}'
    save_file(tensors, tmp, metadata=meta)
    os.replace(tmp, out)  # readers never see a half-written export
    return meta


def load_backbone_export(path: str) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Read an export: (state_dict, metadata with JSON fields decoded)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    if not osp.isfile(path):
        raise BackboneExportError(f'backbone export {path!r} does not exist; create it with '
                                  'python tools/export_backbone.py CHECKPOINT OUT.safetensors')
    with safe_open(path, framework='pt') as f:
        meta = dict(f.metadata() or {})
    if meta.get('format') != EXPORT_FORMAT:
        raise BackboneExportError(f'{path!r} is not a mim_det backbone export (metadata format='
                                  f'{meta.get("format")!r}, expected {EXPORT_FORMAT!r})')
    for key in ('arch', 'rpe'):
        meta[key] = json.loads(meta[key]) if meta.get(key) else None
    for key in ('patch_size', 'img_size', 'num_extra_tokens'):
        meta[key] = int(meta[key])
    return load_file(path), meta


def load_pretrained_backbone(module: torch.nn.Module, checkpoint: str, prefix: str = '',
                             expected_missing: Tuple[str, ...] = ('ln2.', 'mask_token'),
                             expected_unexpected: Tuple[str, ...] = ('ln1.', 'mask_token'),
                             logger: Optional[str] = 'current') -> dict:
    """Load an export (``.safetensors``) or a ``.pth`` checkpoint into a backbone.

    Shapes must agree exactly; a mismatch raises :class:`BackboneExportError` naming the key.
    Missing and unexpected keys are reported, split into expected ones (a fresh fc_norm, the
    unused mask token or final norm) and suspicious ones.

    Returns:
        dict(missing=[...], unexpected=[...], suspicious=[...], meta=... or None).
    """
    meta = None
    if checkpoint.endswith('.safetensors'):
        state, meta = load_backbone_export(checkpoint)
        patch = getattr(module, 'patch_size', None)
        if patch is not None and meta['patch_size'] != patch:
            raise BackboneExportError(f'{checkpoint!r} was pretrained with patch '
                                      f'{meta["patch_size"]}, the backbone uses {patch}; set '
                                      f'patch_size={meta["patch_size"]} in the config')
    else:
        state = model_state_dict(load_torch_checkpoint(checkpoint))
    if prefix:
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if not state:
            raise BackboneExportError(f'checkpoint {checkpoint!r} has no keys starting with '
                                      f'prefix {prefix!r}; fix init_cfg.prefix')
    own = module.state_dict()
    bad = [f'{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}'
           for k, v in state.items() if k in own and own[k].shape != v.shape]
    if bad:
        raise BackboneExportError(f'checkpoint {checkpoint!r} does not fit the backbone: '
                                  + '; '.join(bad[:5]) + (' ...' if len(bad) > 5 else '')
                                  + '; check arch / patch_size in the config')
    result = module.load_state_dict(state, strict=False)
    suspicious = ([f'missing {k}' for k in result.missing_keys
                   if not k.startswith(expected_missing)]
                  + [f'unexpected {k}' for k in result.unexpected_keys
                     if not k.startswith(expected_unexpected)])
    loaded = len(state) - len(result.unexpected_keys)
    print_log(f'Loaded {loaded}/{len(own)} backbone tensors from {checkpoint}'
              + (f' (method={meta["method"]}, pos_encoding={meta["pos_encoding"]})' if meta
                 else '')
              + f'; expected missing {sorted(set(result.missing_keys))}'
              + f'; unused {sorted(set(result.unexpected_keys))}', logger=logger)
    if suspicious:
        print_log(f'Suspicious keys loading {checkpoint}: {suspicious}', logger=logger,
                  level=30)
    return dict(missing=list(result.missing_keys), unexpected=list(result.unexpected_keys),
                suspicious=suspicious, meta=meta)
