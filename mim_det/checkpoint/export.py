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
pos_encoding        ``contextual_rpe_keys`` (LoMaR: iRPE ctx on keys, no absolute position),
                    ``absolute_sincos`` (MAE) or ``shared_rel_pos_bias`` (SimMIM ViT: one
                    BEiT table ``rel_pos_bias.relative_position_bias_table`` for all blocks,
                    no absolute position)
rpe                 JSON of the RPE parameters (alpha, beta, gamma, num_buckets), if any
num_extra_tokens    tokens before the patch grid (1: cls)
source, iteration   the checkpoint exported and its training iteration
==================  =====================================================================

Pretraining-only tensors (the mask token, decoders, pixel heads) are not exported. Every
consumer reads exports through :func:`mim_det.checkpoint.load_vit_checkpoint`.
"""
import json
import os
import os.path as osp

from mmengine.config import Config

from .errors import CheckpointError
from .io import EXPORT_FORMAT, load_torch_checkpoint, model_state_dict

POS_ENCODING = {'LoMaRViT': 'contextual_rpe_keys', 'MAEViT': 'absolute_sincos',
                'SimMIMViT': 'shared_rel_pos_bias'}
PRETRAINING_ONLY = ('mask_token', )
RPE_TABLE = 'layers.0.attn.rpe_k.lookup_table_weight'


def _arch_dict(backbone_cfg: dict) -> dict:
    from mmpretrain.registry import MODELS
    arch = backbone_cfg.get('arch', 'b')
    if isinstance(arch, str):
        arch = MODELS.get(backbone_cfg['type']).arch_zoo[arch.lower()]
    keep = ('embed_dims', 'num_layers', 'num_heads', 'feedforward_channels')
    return {k: int(arch[k]) for k in keep if k in arch}


def _rpe_cfg(backbone_cfg: dict) -> dict:
    for cfg in backbone_cfg.get('rel_pos_cfgs') or ():
        if cfg.get('type') == 'ContextualRPE':
            return {k: v for k, v in cfg.items() if k != 'type'}
    return dict(alpha=1.9, beta=3.8, gamma=15.2)  # LoMaR's (the class default)


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
        raise CheckpointError(f'checkpoint {checkpoint!r} has no meta.cfg (the config '
                              'mmengine stores); export needs a checkpoint written by '
                              'tools/train.py')
    model_cfg = Config.fromstring(cfg_text, file_format='.py').model
    backbone_cfg = dict(model_cfg.backbone)
    tensors = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not tensors:
        raise CheckpointError(f'checkpoint {checkpoint!r} has no keys starting with '
                              f'{prefix!r}; pass --prefix matching its backbone keys')
    tensors = {k: v.detach().clone().contiguous() for k, v in tensors.items()
               if k.split('.')[0] not in PRETRAINING_ONLY}
    rpe = None
    if RPE_TABLE in tensors:
        rpe = dict(_rpe_cfg(backbone_cfg), num_buckets=int(tensors[RPE_TABLE].shape[-1]))
    meta = {
        'format': EXPORT_FORMAT,
        'method': str(model_cfg.type).lower(),
        'backbone_type': backbone_cfg['type'],
        'arch': json.dumps(_arch_dict(backbone_cfg)),
        'patch_size': str(int(backbone_cfg.get('patch_size', 16))),
        'img_size': str(int(backbone_cfg.get('img_size', 224))),
        'pos_encoding': POS_ENCODING.get(backbone_cfg['type'], 'unknown'),
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
