"""One small converter per checkpoint layout, chosen by looking at the keys (timm's
``checkpoint_filter_fn`` + ``_convert_*`` pattern).

Every converter maps a backbone state dict (prefix already stripped) to mim_det's canonical
names -- mmpretrain's ViT names, which every :class:`~mim_det.models.backbones.ViTBase` uses:
``patch_embed.projection.*``, ``cls_token``, ``pos_embed``, ``layers.i.{ln1, attn.qkv,
attn.proj, ln2, ffn.layers.0.0, ffn.layers.1, gamma_1, gamma_2}``, relative positions under
``layers.i.attn.{rel_pos.rel_pos_h/w, rpe_k.lookup_table_weight,
rel_pos_bias.relative_position_bias_table}``, a table shared by all blocks (BEiT/SimMIM
``use_shared_rel_pos_bias``) at the top level as :data:`SHARED_TABLE` (the official name too),
final norm ``ln1`` -- and says which source tensors are unused by design, and why. The loader
copies a shared table into every block's table when the model has per-block tables.

==========================  =========================================================
layout                      recognised by
==========================  =========================================================
mim_det export              a ``.safetensors`` file with mim_det metadata
mmpretrain                  ``patch_embed.projection`` / ``layers.i.ln1`` names (mmpretrain
                            MAE/BEiT/classification, mmseg MAE/BEiT, mim_det runs, mim_det
                            detectors and segmentors)
official MAE (timm names)   ``patch_embed.proj`` / ``blocks.i.norm1`` names
official LoMaR              timm names plus ``blocks.i.attn.rpe_k.lookup_table_weight`` or
                            ``encoder_pred``
official SimMIM / BEiT      timm names plus BEiT's split ``blocks.i.attn.q_bias`` /
                            ``v_bias`` (microsoft/SimMIM ``VisionTransformerForSimMIM`` under
                            ``encoder.``, microsoft/unilm BEiT)
ResNet                      ``conv1`` / ``stem.`` and ``layer1.`` names: torchvision's, which
                            mmpretrain's, mmdet's and mmseg's ResNets share (MSCN and other
                            siamese pretraining, ImageNet classifiers)
==========================  =========================================================
"""
import re
from typing import Callable, Dict, NamedTuple, Optional

import torch

from .errors import CheckpointError

LAYOUT_EXPORT = 'mim_det export'
LAYOUT_MMPRETRAIN = 'mmpretrain'
LAYOUT_MAE = 'official MAE (timm names)'
LAYOUT_LOMAR = 'official LoMaR'
LAYOUT_BEIT = 'official SimMIM / BEiT (timm names, q/v biases)'
LAYOUT_RESNET = 'ResNet (torchvision / OpenMMLab names)'

RPE = '.attn.rpe_k.lookup_table_weight'
Q_BIAS = re.compile(r'^blocks\.(\d+)\.attn\.q_bias$')
MMPRETRAIN_Q_BIAS = re.compile(r'^layers\.(\d+)\.attn\.q_bias$')
#: BEiT/SimMIM's relative position bias shared by all blocks (``ViTBase.shared_rel_pos_cfg``)
SHARED_TABLE = 'rel_pos_bias.relative_position_bias_table'


class Converted(NamedTuple):
    """A converter's result.

    Attributes:
        tensors: canonical name -> tensor, for every source tensor that may be loaded.
        unused: source name -> why it is unused by design (never loaded).
        renamed: canonical name -> source name, for messages.
        pos_embed_is_real: ``False`` when the source's ``pos_embed`` was never added to the
            tokens (LoMaR builds a sin-cos table and never uses it).
    """
    tensors: Dict[str, torch.Tensor]
    unused: Dict[str, str]
    renamed: Dict[str, str]
    pos_embed_is_real: bool = True


def first_keys(state: Dict[str, torch.Tensor], n: int = 4) -> str:
    keys = list(state)[:n]
    return ', '.join(keys) + (' ...' if len(state) > n else '')


def _rename(state: Dict[str, torch.Tensor], rules) -> Converted:
    tensors, renamed, unused = {}, {}, {}
    for key, value in state.items():
        new = key
        for pattern, repl in rules:
            if pattern.match(key):
                new = pattern.sub(repl, key, count=1)
                break
        if new.endswith('.relative_position_index'):
            unused[key] = 'relative position index buffer (recomputed from the grid)'
            continue
        tensors[new] = value
        renamed[new] = key
    return Converted(tensors, unused, renamed)


# OpenMMLab checkpoints: the names are canonical except BEiT-style attention tables
_MMPRETRAIN_RULES = (
    (re.compile(r'^layers\.(\d+)\.attn\.relative_position_bias_table$'),
     r'layers.\1.attn.rel_pos_bias.relative_position_bias_table'),
)

# timm names (official MAE / LoMaR / BEiT, detectron2 ViTDet) -> canonical names; keys matching
# none of these keep their name, so they end up unused and categorised
_TIMM_RULES = (
    (re.compile(r'^patch_embed\.proj\.'), 'patch_embed.projection.'),
    (re.compile(r'^blocks\.(\d+)\.norm1\.'), r'layers.\1.ln1.'),
    (re.compile(r'^blocks\.(\d+)\.norm2\.'), r'layers.\1.ln2.'),
    (re.compile(r'^blocks\.(\d+)\.attn\.(qkv|proj)\.'), r'layers.\1.attn.\2.'),
    (re.compile(r'^blocks\.(\d+)\.attn\.rpe_k\.lookup_table_weight$'),
     r'layers.\1.attn.rpe_k.lookup_table_weight'),
    # detectron2's ViTDet keeps the decomposed tables directly on the attention module
    (re.compile(r'^blocks\.(\d+)\.attn\.(rel_pos_[hw])$'), r'layers.\1.attn.rel_pos.\2'),
    (re.compile(r'^blocks\.(\d+)\.attn\.relative_position_bias_table$'),
     r'layers.\1.attn.rel_pos_bias.relative_position_bias_table'),
    (re.compile(r'^blocks\.(\d+)\.gamma_([12])$'), r'layers.\1.gamma_\2'),
    (re.compile(r'^blocks\.(\d+)\.mlp\.fc1\.'), r'layers.\1.ffn.layers.0.0.'),
    (re.compile(r'^blocks\.(\d+)\.mlp\.fc2\.'), r'layers.\1.ffn.layers.1.'),
    (re.compile(r'^norm\.'), 'ln1.'),
)


def convert_export(state: Dict[str, torch.Tensor], meta: Optional[dict]) -> Converted:
    """mim_det exports already hold canonical names; LoMaR exports have no absolute position."""
    converted = _rename(state, ())
    real = (meta or {}).get('pos_encoding') != 'contextual_rpe_keys'
    return converted._replace(pos_embed_is_real=real)


def convert_mmpretrain(state: Dict[str, torch.Tensor], meta: Optional[dict]) -> Converted:
    """mmpretrain / mmseg / mim_det ``.pth``: BEiT-style per-block tables move under
    ``rel_pos_bias``; BEiT's split ``layers.i.attn.q_bias`` / ``v_bias`` (mmpretrain ``BEiTViT``,
    mmseg ``BEiT``) are fused into ``qkv.bias``."""
    return _fuse_qv_biases(_rename(state, _MMPRETRAIN_RULES), state, MMPRETRAIN_Q_BIAS,
                           'layers.{}.attn.v_bias')


def convert_official_mae(state: Dict[str, torch.Tensor], meta: Optional[dict]) -> Converted:
    """facebookresearch/mae (timm names)."""
    return _rename(state, _TIMM_RULES)


def convert_official_lomar(state: Dict[str, torch.Tensor], meta: Optional[dict]) -> Converted:
    """junchen14/LoMaR: timm names + ``rpe_k`` tables; its fixed sin-cos ``pos_embed`` is built
    but never added (LoMaR has no absolute position), so it is never loaded."""
    return _rename(state, _TIMM_RULES)._replace(pos_embed_is_real=False)


def _fuse_qv_biases(converted: Converted, state: Dict[str, torch.Tensor], q_bias: re.Pattern,
                    v_name: str) -> Converted:
    """BEiT's attention has separate ``q_bias`` and ``v_bias`` and a key bias fixed at zero
    (``torch.cat((q_bias, zeros, v_bias))``); mim_det's fused ``qkv.bias`` (D -> 3D) holds the
    three. A zero key bias adds ``q_i . 0`` to every logit of a row, so the fused bias computes
    the same attention. ``v_name`` formats the block number into the source's v_bias name."""
    tensors, renamed = dict(converted.tensors), dict(converted.renamed)
    for key in [k for k in state if q_bias.match(k)]:
        block = q_bias.match(key).group(1)
        v_key = v_name.format(block)
        if v_key not in state:
            raise CheckpointError(f'{key} has no matching {v_key} (a BEiT/SimMIM attention has '
                                  'both); the checkpoint is incomplete')
        q, v = state[key], state[v_key]
        for source in (key, v_key):
            name = next(n for n, src in renamed.items() if src == source)
            del tensors[name], renamed[name]
        fused = f'layers.{block}.attn.qkv.bias'
        tensors[fused] = torch.cat([q, torch.zeros_like(q), v])
        renamed[fused] = f'{key} + {v_key} (key bias 0)'
    return converted._replace(tensors=tensors, renamed=renamed)


def convert_official_beit(state: Dict[str, torch.Tensor], meta: Optional[dict]) -> Converted:
    """microsoft/SimMIM's ViT (BEiT's code) and microsoft/unilm BEiT: timm names, split
    ``q_bias`` / ``v_bias`` fused into ``qkv.bias``. The shared table (``USE_SHARED_RPB``)
    keeps its name, :data:`SHARED_TABLE`; ``pos_embed`` only exists with ``USE_APE``."""
    return _fuse_qv_biases(_rename(state, _TIMM_RULES), state, Q_BIAS,
                           'blocks.{}.attn.v_bias')


def convert_resnet(state: Dict[str, torch.Tensor], meta: Optional[dict]) -> Converted:
    """torchvision / mmpretrain / mmdet / mmseg ResNets share their names; the ImageNet
    classifier ``fc.*`` is unused by design."""
    tensors = {k: v for k, v in state.items() if not k.startswith('fc.')}
    unused = {k: 'classification head (fine-tuning only)' for k in state if k.startswith('fc.')}
    return Converted(tensors, unused, {k: k for k in tensors})


CONVERTERS: Dict[str, Callable[[Dict[str, torch.Tensor], Optional[dict]], Converted]] = {
    LAYOUT_EXPORT: convert_export,
    LAYOUT_MMPRETRAIN: convert_mmpretrain,
    LAYOUT_MAE: convert_official_mae,
    LAYOUT_LOMAR: convert_official_lomar,
    LAYOUT_BEIT: convert_official_beit,
    LAYOUT_RESNET: convert_resnet,
}


def detect_layout(state: Dict[str, torch.Tensor], meta: Optional[dict], checkpoint: str) -> str:
    """The layout of a backbone state dict (see the module table)."""
    if meta is not None:
        return LAYOUT_EXPORT
    keys = list(state)
    if any(k.startswith(('blocks.', 'patch_embed.proj.')) for k in keys):
        if any(Q_BIAS.match(k) for k in keys):
            return LAYOUT_BEIT
        lomar = any(RPE in k for k in keys) or any(k.startswith('encoder_pred.') for k in keys)
        return LAYOUT_LOMAR if lomar else LAYOUT_MAE
    if any(k.startswith(('layers.', 'patch_embed.projection.')) for k in keys):
        return LAYOUT_MMPRETRAIN
    if any(k.startswith('layer1.') for k in keys):
        return LAYOUT_RESNET
    raise CheckpointError(
        f'checkpoint {checkpoint!r} holds no backbone keys (looked for the ViT names '
        f'patch_embed.proj*, blocks.*, layers.* and the ResNet name layer1.*; first keys: '
        f"{first_keys(state)}); set init_cfg.prefix to the prefix of its backbone keys (e.g. "
        "'backbone.', 'algorithm.backbone.' or 'module.')")
