"""Backbone export files: pretraining checkpoint -> tensors-only backbone weights + metadata.

An export is a ``.safetensors`` file (no pickle, so loading it runs no code) holding the
backbone's parameters under their backbone-local names (``patch_embed.projection.weight``,
``layers.0.attn.rpe_k.lookup_table_weight``, ...) and string metadata:

==================  =====================================================================
key                 value
==================  =====================================================================
format              ``mim_det.backbone/1``
method              pretraining algorithm (``lomar``, ``mae``, ``mscn``, ...; ``supervised``
                    for an mmpretrain ``ImageClassifier``)
backbone_type       the class that produced the weights (``LoMaRViT``, ``MAEViT``, ``ResNet``,
                    ``VisionTransformer``)
arch                JSON: embed_dims, num_layers, num_heads, feedforward_channels (ViT);
                    depth (ResNet)
patch_size          p (0 for a ConvNet)
img_size            pretraining input size (0 for a ConvNet: it takes any size)
pos_encoding        ``none`` (ConvNet), ``contextual_rpe_keys`` (LoMaR: iRPE ctx on keys, no absolute position),
                    ``absolute_sincos`` (MAE), ``absolute_learned`` (mmpretrain's supervised
                    ``VisionTransformer``) or ``shared_rel_pos_bias`` (SimMIM ViT: one
                    BEiT table ``rel_pos_bias.relative_position_bias_table`` for all blocks,
                    no absolute position)
rpe                 JSON of the RPE parameters (alpha, beta, gamma, num_buckets), if any
num_extra_tokens    tokens before the patch grid (1: cls)
source, iteration   the checkpoint exported and its training iteration
==================  =====================================================================

Pretraining-only tensors (the mask token, decoders, pixel heads, projectors) are not exported.
A ConvNet export keeps the BatchNorm running statistics (buffers). Algorithms that wrap another
one (MSCN's ``MultiMaskSiamese``: ``algorithm.backbone.*``) export the wrapped backbone. Every
consumer reads exports through :func:`mim_det.checkpoint.load_backbone_checkpoint`.
"""
import json
import os
import os.path as osp
from typing import Optional

from mmengine.config import Config

from .errors import CheckpointError
from .io import EXPORT_FORMAT, load_torch_checkpoint, model_state_dict, tensors_sha256

POS_ENCODING = {'LoMaRViT': 'contextual_rpe_keys', 'MAEViT': 'absolute_sincos',
                'SimMIMViT': 'shared_rel_pos_bias', 'BEiTPretrainViT': 'shared_rel_pos_bias',
                'TinyMIMViT': 'absolute_sincos', 'VisionTransformer': 'absolute_learned',
                'ResNet': 'none', 'ResNetV1c': 'none', 'ResNetV1d': 'none'}
#: backbones whose names are not mim_det's canonical ones: exported through their converter
#: (mmpretrain's BEiT: split q/v biases fused into qkv.bias, index buffers dropped)
CANONICALISE = ('BEiTPretrainViT', )
#: algorithm type -> method name, where the class name is not the method's name
METHOD = {'MultiMaskSiamese': 'mscn', 'LoMaRBEiT': 'lomar_beit', 'ImageClassifier': 'supervised'}
CONVNETS = ('ResNet', 'ResNetV1c', 'ResNetV1d')
PRETRAINING_ONLY = ('mask_token', )
RPE_TABLE = 'layers.0.attn.rpe_k.lookup_table_weight'


def _arch_dict(backbone_cfg: dict) -> dict:
    if backbone_cfg['type'] in CONVNETS:
        return {'depth': int(backbone_cfg['depth'])}
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


def _check_beit_positions(backbone_cfg: dict, checkpoint: str):
    """Exports record one position encoding; BEiT v1's is the shared table alone."""
    shared = backbone_cfg.get('use_shared_rel_pos_bias', True)
    if not shared or backbone_cfg.get('use_abs_pos_emb') or backbone_cfg.get('use_rel_pos_bias'):
        raise CheckpointError(
            f'checkpoint {checkpoint!r}: BEiTPretrainViT with use_shared_rel_pos_bias={shared}, '
            f"use_abs_pos_emb={backbone_cfg.get('use_abs_pos_emb')}, use_rel_pos_bias="
            f"{backbone_cfg.get('use_rel_pos_bias')}; exports support BEiT v1's shared table only "
            '(use_shared_rel_pos_bias=True, the other two False)')


def export_backbone(checkpoint: str, out: str, prefix: Optional[str] = None) -> dict:
    """Write ``out`` (.safetensors) from a mim_det/mmpretrain pretraining checkpoint.

    ``prefix``: the backbone's key prefix; ``None``: ``backbone.``, or ``algorithm.backbone.``
    for an algorithm that wraps another (``model.algorithm`` in the config).

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
    wrapped = 'algorithm' in model_cfg and 'backbone' not in model_cfg
    backbone_cfg = dict(model_cfg.algorithm.backbone if wrapped else model_cfg.backbone)
    if prefix is None:
        prefix = 'algorithm.backbone.' if wrapped else 'backbone.'
    convnet = backbone_cfg['type'] in CONVNETS
    tensors = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not tensors:
        raise CheckpointError(f'checkpoint {checkpoint!r} has no keys starting with '
                              f'{prefix!r}; pass --prefix matching its backbone keys')
    tensors = {k: v.detach().clone().contiguous() for k, v in tensors.items()
               if k.split('.')[0] not in PRETRAINING_ONLY}
    if backbone_cfg['type'] in CANONICALISE:
        _check_beit_positions(backbone_cfg, checkpoint)
        from .converters import convert_mmpretrain
        tensors = convert_mmpretrain(tensors, None).tensors
    rpe = None
    if RPE_TABLE in tensors:
        rpe = dict(_rpe_cfg(backbone_cfg), num_buckets=int(tensors[RPE_TABLE].shape[-1]))
    meta = {
        'format': EXPORT_FORMAT,
        'method': METHOD.get(str(model_cfg.type), str(model_cfg.type).lower()),
        'backbone_type': backbone_cfg['type'],
        'arch': json.dumps(_arch_dict(backbone_cfg)),
        'patch_size': '0' if convnet else str(int(backbone_cfg.get('patch_size', 16))),
        'img_size': '0' if convnet else str(int(backbone_cfg.get('img_size', 224))),
        'pos_encoding': POS_ENCODING.get(backbone_cfg['type'], 'unknown'),
        'rpe': json.dumps(rpe),
        'num_extra_tokens': '0' if convnet else '1',
        'source': osp.basename(checkpoint),
        'iteration': str(meta_in.get('iter', '')),
        'sha256': tensors_sha256(tensors),
    }
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    tmp = f'{out}.tmp{os.getpid()}'
    save_file(tensors, tmp, metadata=meta)
    os.replace(tmp, out)  # readers never see a half-written export
    return meta
