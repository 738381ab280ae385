"""Load a pretrained ViT checkpoint of any layout mim_det meets into a :class:`PlainViT`.

The downstream backbone (``PlainViT``, mmpretrain parameter names, no cls token) is fed from
four key layouts:

================================  ===========================================================
layout                            recognised by
================================  ===========================================================
``mim_det export``                a ``.safetensors`` file with mim_det metadata
                                  (:mod:`.backbone_export`; backbone-local mmpretrain names)
``mmpretrain``                    ``patch_embed.projection`` / ``layers.i.ln1`` names, usually
                                  under ``backbone.`` (mmpretrain MAE or classification
                                  checkpoints, mim_det pretraining runs, PlainViT detectors)
``official MAE (timm names)``     ``patch_embed.proj`` / ``blocks.i.norm1`` names
``official LoMaR``                timm names plus ``blocks.i.attn.rpe_k.lookup_table_weight``
                                  or ``encoder_pred``
================================  ===========================================================

Conversion rules that are easy to get wrong, and why:

* LoMaR's checkpoints hold a fixed sin-cos ``pos_embed`` (1, 1 + G^2, D) that LoMaR builds but
  never adds (it has no absolute position at all); loading it as absolute position would add
  a signal the encoder never saw, so it is dropped and reported as expected-unused.
* MAE-family ``pos_embed`` (1, 1 + G^2, D) loses its cls slot (the dense backbone has no cls
  token) and is resized bicubically (``align_corners=False``, the resize the forward pass
  applies) when G differs from the model's pretraining grid.
* ViTDet's decomposed relative position tables are absent from MAE/LoMaR checkpoints; they stay
  zero, which is how ViTDet starts (plain attention). Tables of another length are resized
  linearly (:func:`resize_rel_pos`).
* LoMaR's contextual RPE tables (1, d, 50) are loaded into ``rpe_k.lookup_table_weight``; a
  model that expects them but gets a checkpoint without them (MAE) attends without any
  position bias, which is reported as suspicious.

Weights are copied into the model's existing tensors (``load_state_dict``), never replaced, so
an optimizer built before loading keeps training the loaded values.
"""
import logging
import math
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.logging import print_log
from torch import nn

from .backbone_export import (BackboneExportError, load_backbone_export, load_torch_checkpoint,
                              model_state_dict)
from .decomposed_rel_pos import resize_rel_pos

LAYOUT_EXPORT = 'mim_det export'
LAYOUT_MMPRETRAIN = 'mmpretrain'
LAYOUT_MAE = 'official MAE (timm names)'
LAYOUT_LOMAR = 'official LoMaR'

# timm names (official MAE / LoMaR / detectron2 ViTDet) -> PlainViT names. Keys matching none of
# these keep their name, so they end up unused and categorised.
_TIMM_TO_PLAIN = (
    (re.compile(r'^patch_embed\.proj\.'), 'patch_embed.projection.'),
    (re.compile(r'^blocks\.(\d+)\.norm1\.'), r'layers.\1.ln1.'),
    (re.compile(r'^blocks\.(\d+)\.norm2\.'), r'layers.\1.ln2.'),
    (re.compile(r'^blocks\.(\d+)\.attn\.(qkv|proj)\.'), r'layers.\1.attn.\2.'),
    (re.compile(r'^blocks\.(\d+)\.attn\.rpe_k\.lookup_table_weight$'),
     r'layers.\1.attn.rpe_k.lookup_table_weight'),
    # detectron2's ViTDet keeps the decomposed tables directly on the attention module
    (re.compile(r'^blocks\.(\d+)\.attn\.(rel_pos_[hw])$'), r'layers.\1.attn.rel_pos.\2'),
    (re.compile(r'^blocks\.(\d+)\.mlp\.fc1\.'), r'layers.\1.ffn.layers.0.0.'),
    (re.compile(r'^blocks\.(\d+)\.mlp\.fc2\.'), r'layers.\1.ffn.layers.1.'),
    (re.compile(r'^norm\.'), 'ln1.'),
)

# Checkpoint tensors that only pretraining or classification uses: unused by design.
_EXPECTED_UNUSED = (
    (('mask_token', ), 'pretraining mask token'),
    (('decoder', ), 'MAE decoder (pretraining only)'),
    (('encoder_pred.', ), "LoMaR's pixel-prediction head (pretraining only)"),
    (('head.', 'fc_norm.', 'ln2.'), 'classification head / pooled-feature norm (fine-tuning only)'),
    (('cls_token', ), 'cls token: the dense backbone has none'),
)

_RPE = '.attn.rpe_k.lookup_table_weight'
_REL_POS = '.attn.rel_pos.rel_pos_'


def _timm_to_plain(key: str) -> str:
    for pattern, repl in _TIMM_TO_PLAIN:
        if pattern.match(key):
            return pattern.sub(repl, key, count=1)
    return key


def _first_keys(state: Dict[str, torch.Tensor], n: int = 4) -> str:
    keys = list(state)[:n]
    return ', '.join(keys) + (' ...' if len(state) > n else '')


def _read_checkpoint(checkpoint: str) -> Tuple[Dict[str, torch.Tensor], Optional[dict]]:
    """(tensors, export metadata or ``None``) of a ``.safetensors`` export or a ``.pth/.pt``."""
    if checkpoint.endswith('.safetensors'):
        return load_backbone_export(checkpoint)
    state = model_state_dict(load_torch_checkpoint(checkpoint))
    # an unwrapped checkpoint may carry counters next to the tensors (epoch, ...)
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}, None


def _split_prefix(state: Dict[str, torch.Tensor], checkpoint: str, prefix: Optional[str],
                  is_export: bool):
    """(backbone tensors with ``prefix`` stripped, tensors outside it, the prefix used)."""
    if prefix is None and not is_export and any(k.startswith('backbone.') for k in state):
        prefix = 'backbone.'  # mmpretrain / mmdet / mmseg model checkpoints
    if not prefix:
        return state, {}, ''
    inside = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not inside:
        raise BackboneExportError(
            f'checkpoint {checkpoint!r} has no keys starting with prefix {prefix!r} (first keys: '
            f'{_first_keys(state)}); fix init_cfg.prefix')
    outside = {k: v for k, v in state.items() if not k.startswith(prefix)}
    return inside, outside, prefix


def _detect_layout(state: Dict[str, torch.Tensor], meta: Optional[dict], checkpoint: str) -> str:
    if meta is not None:
        return LAYOUT_EXPORT
    keys = list(state)
    if any(k.startswith(('blocks.', 'patch_embed.proj.')) for k in keys):
        lomar = any(_RPE in k for k in keys) or any(k.startswith('encoder_pred.') for k in keys)
        return LAYOUT_LOMAR if lomar else LAYOUT_MAE
    if any(k.startswith(('layers.', 'patch_embed.projection.')) for k in keys):
        return LAYOUT_MMPRETRAIN
    raise BackboneExportError(
        f'checkpoint {checkpoint!r} holds no ViT backbone keys (looked for patch_embed.proj*, '
        f'blocks.*, layers.*; first keys: {_first_keys(state)}); set init_cfg.prefix to the '
        "prefix of its backbone keys (e.g. 'backbone.' or 'module.')")


def _mismatch_fix(name: str, ckpt_shape: torch.Size, model_shape: torch.Size) -> str:
    if name == 'patch_embed.projection.weight':
        if ckpt_shape[0] != model_shape[0]:
            return f"set arch embed_dims={ckpt_shape[0]} (the checkpoint's width)"
        if ckpt_shape[2:] != model_shape[2:]:
            return f'set patch_size={ckpt_shape[-1]} as pretrained'
        return f'set in_channels={ckpt_shape[1]}'
    if name.endswith(_RPE) and ckpt_shape[-1] != model_shape[-1]:
        return (f'the RPE table has {ckpt_shape[-1]} buckets, the model {model_shape[-1]}: set '
                'rpe_cfg alpha/beta/gamma to the pretraining values (LoMaR: 1.9/3.8/15.2, '
                '50 buckets)')
    if name.endswith(_RPE) or _REL_POS in name:
        return 'the head width differs: set arch embed_dims / num_heads as pretrained'
    return "set arch (embed_dims, num_heads, feedforward_channels) to the checkpoint's"


def _group(keys: List[str]) -> str:
    """``layers.0.x, layers.1.x`` -> ``layers.*.x (x2)`` for a readable log line."""
    counts: 'OrderedDict[str, int]' = OrderedDict()
    for key in keys:
        pattern = re.sub(r'\.\d+\.', '.*.', key)
        counts[pattern] = counts.get(pattern, 0) + 1
    return ', '.join(p if n == 1 else f'{p} (x{n})' for p, n in counts.items())


class _Conversion:
    """One checkpoint -> one model: renames, reconciles shapes and categorises every key.

    Attributes filled by :meth:`run`: ``converted`` (model name -> tensor in the model's
    shape) and the report lists.
    """

    def __init__(self, model: nn.Module, checkpoint: str, layout: str, meta: Optional[dict],
                 backbone: Dict[str, torch.Tensor]):
        self.model = model
        self.checkpoint = checkpoint
        self.layout = layout
        self.meta = meta
        self.own = model.state_dict()
        self.rename = (_timm_to_plain if layout in (LAYOUT_MAE, LAYOUT_LOMAR) else
                       (lambda key: key))
        self.backbone = backbone
        names = [self.rename(k) for k in backbone]
        self.ckpt_has_rpe = any(_RPE in k for k in names)
        self.ckpt_has_rel_pos = any(_REL_POS in k for k in names)
        self.ckpt_has_final_norm = any(k.startswith('ln1.') for k in names)
        # LoMaR pretraining has no absolute position: the sin-cos table its official release
        # holds was never added. Decided by the source, not by the presence of RPE tables: a
        # fine-tuned PlainViT may train both, and then its pos_embed is real.
        self.pos_embed_unused_by_design = (
            layout == LAYOUT_LOMAR
            or (meta or {}).get('pos_encoding') == 'contextual_rpe_keys')
        self.lomar_family = self.pos_embed_unused_by_design or self.ckpt_has_rpe
        self.converted: Dict[str, torch.Tensor] = {}
        self.interpolated: Dict[str, str] = {}
        self.expected_missing: List[str] = []
        self.expected_unused: List[str] = []
        self.suspicious: List[Tuple[str, str, str]] = []  # (missing|unused, key, why)
        self.reasons: Dict[str, str] = {}

    # ------------------------------------------------------------ categories
    def _expect_unused(self, key: str, why: str):
        self.expected_unused.append(key)
        self.reasons[key] = why

    def _expect_missing(self, key: str, why: str):
        self.expected_missing.append(key)
        self.reasons[key] = why

    def _suspect(self, kind: str, key: str, why: str):
        # each entry carries its own reason: a model key and a checkpoint key can share a
        # name (pos_embed), so ``reasons`` only covers the expected lists
        self.suspicious.append((kind, key, why))

    def _shape_error(self, src: str, dst: str, ckpt_shape, model_shape, fix: str):
        names = src if src == dst else f'{src} (-> {dst})'
        return BackboneExportError(
            f'checkpoint {self.checkpoint!r}: {names} has shape {tuple(ckpt_shape)} but the '
            f'model expects {tuple(model_shape)}; {fix}')

    # ------------------------------------------------------------ conversion
    def run(self, outside: Dict[str, torch.Tensor], prefix: str):
        if self.meta is not None:
            self._check_export_meta()
        # the patch embedding first: a width or patch-size mismatch is named there, where the
        # fix is plainest, rather than at whichever tensor the file happens to list first
        for src in sorted(self.backbone, key=lambda k: not k.startswith('patch_embed')):
            self._convert(src, self.backbone[src])
        for key in outside:
            self._expect_unused(key, f'outside {prefix!r}: not part of the backbone')
        if not self.converted:
            raise BackboneExportError(
                f'checkpoint {self.checkpoint!r} ({self.layout}) fills no tensor of '
                f'{type(self.model).__name__} (first keys: {_first_keys(self.backbone)}); '
                'set init_cfg.prefix to the prefix of its backbone keys')
        for key in self.own:
            if key not in self.converted:
                self._categorise_missing(key)

    def _check_export_meta(self):
        patch = getattr(self.model, 'patch_size', None)
        if patch is not None and self.meta['patch_size'] != patch:
            raise BackboneExportError(
                f'export {self.checkpoint!r}: metadata patch_size={self.meta["patch_size"]} but '
                f'the model has patch_size={patch}; set patch_size={self.meta["patch_size"]}')

    def _convert(self, src: str, value: torch.Tensor):
        dst = self.rename(src)
        if dst == 'pos_embed':
            self._convert_pos_embed(src, value)
            return
        if dst not in self.own:
            self._categorise_unused(src, dst)
            return
        target = self.own[dst]
        if value.shape != target.shape:
            resizable = (_REL_POS in dst and value.dim() == 2
                         and value.shape[1] == target.shape[1])
            if not resizable:
                raise self._shape_error(src, dst, value.shape, target.shape,
                                        _mismatch_fix(dst, value.shape, target.shape))
            self.interpolated[dst] = f'{value.shape[0]} -> {target.shape[0]} entries, linear'
            value = resize_rel_pos(value.float(), target.shape[0])
        self.converted[dst] = value

    def _convert_pos_embed(self, src: str, value: torch.Tensor):
        if self.pos_embed_unused_by_design:
            self._expect_unused(src, "LoMaR's fixed sin-cos table, never added in LoMaR (no "
                                'absolute position)')
            return
        if 'pos_embed' not in self.own:
            self._suspect('unused', src, "the checkpoint's absolute position is dropped because "
                          'the model has use_abs_pos=False; set use_abs_pos=True to use it')
            return
        target = self.own['pos_embed']
        pos = value[None] if value.dim() == 2 else value
        if pos.dim() != 3 or pos.shape[0] != 1 or pos.shape[-1] != target.shape[-1]:
            raise self._shape_error(src, 'pos_embed', value.shape, target.shape,
                                    _mismatch_fix('pos_embed', value.shape, target.shape))
        num = pos.shape[1]
        # 1 + G*G (with the cls slot) and G*G cannot both be squares for num > 1
        for extra in (0, 1):
            side = math.isqrt(max(num - extra, 0))
            if side > 0 and side * side == num - extra:
                break
        else:
            model_side = math.isqrt(target.shape[1])
            raise BackboneExportError(
                f'checkpoint {self.checkpoint!r}: {src} has shape {tuple(value.shape)}, i.e. '
                f'{num} positions, neither G*G nor 1 + G*G for a square grid, so it cannot be '
                f'mapped onto the model {model_side}x{model_side} grid {tuple(target.shape)}; '
                'convert it by hand or set use_abs_pos=False')
        if extra:
            self._expect_unused(f'{src}[cls]', 'cls position: the dense backbone has no cls '
                                'token')
        dst_hw = tuple(getattr(self.model, 'pretrain_grid', (math.isqrt(target.shape[1]), ) * 2))
        # the forward pass's own resize, so loading a resized grid equals resizing at run time
        from ..backbones.plain_vit import resize_abs_pos
        grid = resize_abs_pos(pos[:, extra:].float(), (side, side), dst_hw)
        if (side, side) != dst_hw:
            self.interpolated['pos_embed'] = (f'{side}x{side} -> {dst_hw[0]}x{dst_hw[1]}, '
                                              'bicubic')
        self.converted['pos_embed'] = grid.reshape(1, -1, target.shape[-1])

    def _categorise_unused(self, src: str, dst: str):
        for starts, why in _EXPECTED_UNUSED:
            if src.startswith(starts):
                self._expect_unused(src, why)
                return
        if dst.startswith('ln1.') and not getattr(self.model, 'final_norm', False):
            self._expect_unused(src, 'final norm: the model has final_norm=False (ViTDet, '
                                'UperNet)')
        elif _RPE in dst:
            self._suspect('unused', src, "LoMaR's contextual RPE table is dropped, so the model "
                          'sees no relative position; set use_contextual_rpe=True (and '
                          'use_abs_pos=False)')
        elif _REL_POS in dst:
            self._suspect('unused', src, 'decomposed relative position table dropped; set '
                          'use_rel_pos=True')
        else:
            self._suspect('unused', src, f'no {type(self.model).__name__} tensor of this name; '
                          'check arch (num_layers) and init_cfg.prefix')

    def _categorise_missing(self, key: str):
        if _REL_POS in key and not self.ckpt_has_rel_pos:
            self._expect_missing(key, 'not in the checkpoint: stays zero (plain attention), '
                                 'which is how ViTDet starts')
        elif key.endswith(_RPE) and not self.ckpt_has_rpe:
            self._suspect('missing', key, f'the {self.layout} checkpoint has no contextual '
                          'RPE tables, so they stay zero and the model attends without '
                          'position bias; set use_contextual_rpe=False (and use_abs_pos=True) '
                          'for MAE-family weights')
        elif key == 'pos_embed' and self.lomar_family:
            self._suspect('missing', key, 'LoMaR-family checkpoints have no usable absolute '
                          'position, so pos_embed keeps its initialisation; set use_abs_pos=False')
        elif key == 'pos_embed':
            self._suspect('missing', key, 'the checkpoint has no pos_embed, so it keeps its '
                          'initialisation; set use_abs_pos=False or load a checkpoint with '
                          'absolute position')
        elif key.startswith('ln1.') and not self.ckpt_has_final_norm:
            self._suspect('missing', key, 'the checkpoint has no final norm; set '
                          'final_norm=False')
        else:
            self._suspect('missing', key, 'not in the checkpoint, keeps its initialisation; '
                          'check arch and init_cfg.prefix')

    # ---------------------------------------------------------------- report
    def log_text(self, loaded: List[str], prefix: str) -> str:
        layout = self.layout
        if prefix:
            layout += f' (prefix {prefix!r} stripped)'
        if self.meta is not None:
            layout += (f'; method={self.meta.get("method")}, pos_encoding='
                       f'{self.meta.get("pos_encoding")}, patch {self.meta.get("patch_size")}, '
                       f'img {self.meta.get("img_size")}')
        lines = [f'load_vit_checkpoint: {self.checkpoint} -> {type(self.model).__name__}',
                 f'  layout: {layout}',
                 f'  loaded {len(loaded)}/{len(self.own)} model tensors']
        if self.interpolated:
            lines.append('  interpolated: ' + '; '.join(
                f'{k}: {v}' for k, v in self.interpolated.items()))
        for title, keys in (('expected missing', self.expected_missing),
                            ('expected unused', self.expected_unused)):
            if not keys:
                continue
            by_reason: 'OrderedDict[str, List[str]]' = OrderedDict()
            for key in keys:
                by_reason.setdefault(self.reasons[key], []).append(key)
            lines.append(f'  {title} ({len(keys)}): ' + '; '.join(
                f'{_group(group)} [{why}]' for why, group in by_reason.items()))
        if self.suspicious:
            by_reason = OrderedDict()
            for kind, key, why in self.suspicious:
                by_reason.setdefault((kind, why), []).append(key)
            lines.append(f'  SUSPICIOUS ({len(self.suspicious)}):')
            lines.extend(f'    {kind} {_group(group)}: {why}'
                         for (kind, why), group in by_reason.items())
        return '\n'.join(lines)


def load_vit_checkpoint(model: nn.Module, checkpoint: str, prefix: Optional[str] = None,
                        logger='current') -> dict:
    """Load a ViT checkpoint of any supported layout into ``model`` (a ``PlainViT``).

    Args:
        model: the backbone; its tensors are overwritten in place.
        checkpoint: a mim_det export (``.safetensors``) or a ``.pth/.pt`` file (official MAE /
            LoMaR release, mmpretrain / mim_det / detector checkpoint).
        prefix: key prefix of the backbone tensors to keep and strip; ``None`` strips
            ``backbone.`` when the checkpoint has such keys.
        logger: where the report goes (mmengine ``print_log``); logged at WARNING level when
            anything is suspicious.

    Returns:
        dict with ``layout``, ``prefix``, ``meta`` (export metadata or ``None``), ``loaded``
        (model names filled), ``interpolated`` (model name -> how it was resized),
        ``expected_missing``, ``expected_unused`` (names), ``suspicious`` (``'missing|unused
        name: why; fix'`` strings) and ``reasons`` (name -> why, for the expected names).

    Raises:
        BackboneExportError: a shape that cannot be reconciled (width, patch size, RPE bucket
            count, a non-square position grid) or a checkpoint without backbone keys.
    """
    state, meta = _read_checkpoint(checkpoint)
    backbone, outside, used_prefix = _split_prefix(state, checkpoint, prefix, meta is not None)
    layout = _detect_layout(backbone, meta, checkpoint)
    conversion = _Conversion(model, checkpoint, layout, meta, backbone)
    conversion.run(outside, used_prefix)
    # copies into the existing parameters: an optimizer holding them sees the loaded values
    model.load_state_dict(conversion.converted, strict=False)
    loaded = [k for k in conversion.own if k in conversion.converted]
    print_log(conversion.log_text(loaded, used_prefix), logger=logger,
              level=logging.WARNING if conversion.suspicious else logging.INFO)
    return dict(layout=layout, prefix=used_prefix, meta=meta, loaded=loaded,
                interpolated=dict(conversion.interpolated),
                expected_missing=list(conversion.expected_missing),
                expected_unused=list(conversion.expected_unused),
                suspicious=[f'{kind} {key}: {why}' for kind, key, why in conversion.suspicious],
                reasons=dict(conversion.reasons))
