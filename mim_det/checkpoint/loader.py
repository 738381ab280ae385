"""The one loader of pretrained backbone weights, with one categorised report, for every consumer
(pretraining encoders, classifiers, detectors, segmentors, distillation teachers).

``load_backbone_checkpoint(model, checkpoint)`` loads into a ViT (:func:`load_vit_checkpoint`,
below) or a ResNet (mmpretrain's, mmdet's or mmseg's; :func:`load_resnet_checkpoint`).
For a ViT: read the file (:mod:`.io`), strip the prefix, pick
the layout's converter (:mod:`.converters`), reconcile shapes with the model and sort every key
into *loaded*, *interpolated*, *expected missing*, *expected unused* or *suspicious* (each with
the reason and the fix), copy the tensors in place and log the report.

Shape rules that are easy to get wrong, and why:

* ``pos_embed`` (1, E + G^2, D): the cls slot is kept only when the model has a cls token; the
  grid is resized bicubically (``align_corners=False``, the forward pass's own resize) to the
  grid the model holds (its pretraining grid, or the fine-tuning grid with
  ``abs_pos_grid='finetune'``). LoMaR's table was never added in pretraining and is never loaded.
* ViTDet's decomposed tables are linearly resized to the model's window/map; BEiT tables
  bicubically over the offset grid. Tables a checkpoint lacks stay zero (plain attention), how
  ViTDet and MAE's segmentation protocol start.
* A table shared by all blocks (BEiT/SimMIM, ``rel_pos_bias.relative_position_bias_table``)
  loads as is into a model with a shared table; into per-block ``RelPosBiasTable`` tables it is
  copied to every block, each resized to its block's grid (window or whole map), as BEiT's and
  mmseg's fine-tuning do with ``use_shared_rel_pos_bias`` checkpoints (reported under "from the
  shared table"). A model without per-head tables (e.g. ViTDet with only ``DecomposedRelPos``)
  cannot use it: that is reported as suspicious, with the fix.
* Loading nothing, or under half of a backbone's weights, is an error naming the checkpoint, its
  layout and the fix -- never a silent from-scratch run.

For a ResNet the names are torchvision's everywhere, so the work is the report: the classifier
``fc`` is expected unused; a plain-stem checkpoint (``conv1``) against a deep-stem model
(``ResNetV1c``/``V1d``: ``stem.*``) or another depth is named with its fix.
"""
import logging
import math
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.logging import print_log
from torch import nn

from ..models.layers import resize_abs_pos, resize_rel_pos, resize_rel_pos_bias_table
from .converters import (CONVERTERS, LAYOUT_EXPORT, LAYOUT_RESNET, SHARED_TABLE, Converted,
                         detect_layout, first_keys)
from .errors import CheckpointError
from .io import read_checkpoint

RPE = '.attn.rpe_k.lookup_table_weight'
REL_POS = '.attn.rel_pos.rel_pos_'
TABLE = '.attn.rel_pos_bias.relative_position_bias_table'
GAMMA = re.compile(r'^layers\.\d+\.gamma_[12]$')
CONTEXTUAL_RPE_CFG = "dict(type='ContextualRPE', alpha=1.9, beta=3.8, gamma=15.2)"
#: below this fraction of a backbone's weights loaded, loading is an error
MIN_LOADED_FRACTION = 0.5

# Checkpoint tensors that only pretraining or classification uses: unused by design.
_EXPECTED_UNUSED = (
    (('mask_token', ), 'pretraining mask token'),
    (('decoder', 'neck.'), 'MAE decoder (pretraining only)'),
    (('encoder_pred.', ), "LoMaR's pixel-prediction head (pretraining only)"),
    (('lm_head.', ), "BEiT's visual-token prediction head (pretraining only)"),
    (('head.', 'fc_norm.', 'ln2.'), 'classification head / pooled-feature norm (fine-tuning only)'),
)


def _group(keys: List[str]) -> str:
    """``layers.0.x, layers.1.x`` -> ``layers.*.x (x2)`` for a readable log line."""
    counts: 'OrderedDict[str, int]' = OrderedDict()
    for key in keys:
        pattern = re.sub(r'\.\d+\.', '.*.', key)
        counts[pattern] = counts.get(pattern, 0) + 1
    return ', '.join(p if n == 1 else f'{p} (x{n})' for p, n in counts.items())


def _is_position_or_token(name: str) -> bool:
    """Model tensors a checkpoint of another family may legitimately lack."""
    return (name in ('pos_embed', 'cls_token', 'mask_token') or RPE in name or REL_POS in name
            or name.endswith(SHARED_TABLE) or bool(GAMMA.match(name)))


def _mismatch_fix(name: str, ckpt_shape: torch.Size, model_shape: torch.Size) -> str:
    if name == 'patch_embed.projection.weight':
        if ckpt_shape[0] != model_shape[0]:
            return f"set arch embed_dims={ckpt_shape[0]} (the checkpoint's width)"
        if ckpt_shape[2:] != model_shape[2:]:
            return f'set patch_size={ckpt_shape[-1]} as pretrained'
        return f'set in_channels={ckpt_shape[1]}'
    if name.endswith(RPE) and ckpt_shape[-1] != model_shape[-1]:
        return (f'the RPE table has {ckpt_shape[-1]} buckets, the model {model_shape[-1]}: set '
                'the ContextualRPE alpha/beta/gamma in rel_pos_cfgs to the pretraining values '
                '(LoMaR: 1.9/3.8/15.2, 50 buckets)')
    if name.endswith(RPE) or REL_POS in name or name.endswith(SHARED_TABLE):
        return 'the head width or count differs: set arch embed_dims / num_heads as pretrained'
    return "set arch (embed_dims, num_heads, feedforward_channels) to the checkpoint's"


class LoadReport:
    """What happened to every key of one checkpoint loaded into one model."""

    def __init__(self, model: nn.Module, checkpoint: str, layout: str, prefix: str,
                 meta: Optional[dict], loader: str = 'load_vit_checkpoint'):
        self.model_name, self.loader = type(model).__name__, loader
        self.checkpoint, self.layout, self.prefix, self.meta = checkpoint, layout, prefix, meta
        self.loaded: List[str] = []
        self.interpolated: Dict[str, str] = {}
        self.from_shared: Dict[str, str] = {}  # model table -> the shared checkpoint table
        self.expected_missing: List[str] = []
        self.expected_unused: List[str] = []
        self.suspicious: List[Tuple[str, str, str]] = []  # (missing|unused, key, why)
        self.reasons: Dict[str, str] = {}

    def expect_unused(self, key: str, why: str):
        self.expected_unused.append(key)
        self.reasons[key] = why

    def expect_missing(self, key: str, why: str):
        self.expected_missing.append(key)
        self.reasons[key] = why

    def suspect(self, kind: str, key: str, why: str):
        # each entry carries its own reason: a model key and a checkpoint key can share a
        # name (pos_embed), so ``reasons`` only covers the expected lists
        self.suspicious.append((kind, key, why))

    def as_dict(self) -> dict:
        return dict(layout=self.layout, prefix=self.prefix, meta=self.meta,
                    loaded=list(self.loaded), interpolated=dict(self.interpolated),
                    from_shared=dict(self.from_shared),
                    expected_missing=list(self.expected_missing),
                    expected_unused=list(self.expected_unused),
                    suspicious=[f'{kind} {key}: {why}' for kind, key, why in self.suspicious],
                    reasons=dict(self.reasons))

    def text(self, num_model_tensors: int) -> str:
        layout = self.layout
        if self.prefix:
            layout += f' (prefix {self.prefix!r} stripped)'
        if self.meta is not None and self.meta.get('patch_size'):
            layout += (f'; method={self.meta.get("method")}, pos_encoding='
                       f'{self.meta.get("pos_encoding")}, patch {self.meta.get("patch_size")}, '
                       f'img {self.meta.get("img_size")}')
        elif self.meta is not None:
            layout += (f'; method={self.meta.get("method")}, {self.meta.get("backbone_type")}, '
                       f'arch {self.meta.get("arch")}')
        lines = [f'{self.loader}: {self.checkpoint} -> {self.model_name}',
                 f'  layout: {layout}',
                 f'  loaded {len(self.loaded)}/{num_model_tensors} model tensors']
        if self.from_shared:
            by_source: 'OrderedDict[str, List[str]]' = OrderedDict()
            for key, src in self.from_shared.items():
                by_source.setdefault(src, []).append(key)
            lines.extend(f'  from the shared table {src} (copied to every block): '
                         f'{_group(keys)}' for src, keys in by_source.items())
        if self.interpolated:
            lines.append('  interpolated: ' + '; '.join(
                f'{k}: {v}' for k, v in self.interpolated.items()))
        for title, keys in (('expected missing', self.expected_missing),
                            ('expected unused', self.expected_unused)):
            if keys:
                by_reason: 'OrderedDict[str, List[str]]' = OrderedDict()
                for key in keys:
                    by_reason.setdefault(self.reasons[key], []).append(key)
                lines.append(f'  {title} ({len(keys)}): ' + '; '.join(
                    f'{_group(group)} [{why}]' for why, group in by_reason.items()))
        if self.suspicious:
            grouped: 'OrderedDict[tuple, List[str]]' = OrderedDict()
            for kind, key, why in self.suspicious:
                grouped.setdefault((kind, why), []).append(key)
            lines.append(f'  SUSPICIOUS ({len(self.suspicious)}):')
            lines.extend(f'    {kind} {_group(group)}: {why}'
                         for (kind, why), group in grouped.items())
        return '\n'.join(lines)


class _Matcher:
    """Fits converted checkpoint tensors to one model and fills its report."""

    def __init__(self, model: nn.Module, converted: Converted, report: LoadReport):
        self.model, self.conv, self.report = model, converted, report
        self.own = model.state_dict()
        self.out: Dict[str, torch.Tensor] = {}
        names = list(converted.tensors)
        self.ckpt_has = dict(
            rpe=any(RPE in k for k in names), rel_pos=any(REL_POS in k for k in names),
            table=any(TABLE in k for k in names), final_norm=any(k.startswith('ln1.')
                                                                 for k in names))
        self.lomar_family = not converted.pos_embed_is_real or self.ckpt_has['rpe']

    def error(self, src: str, dst: str, ckpt_shape, model_shape, fix: str) -> CheckpointError:
        names = src if src == dst else f'{src} (-> {dst})'
        return CheckpointError(
            f'checkpoint {self.report.checkpoint!r}: {names} has shape {tuple(ckpt_shape)} but '
            f'the model expects {tuple(model_shape)}; {fix}')

    def run(self) -> Dict[str, torch.Tensor]:
        for key, why in self.conv.unused.items():
            self.report.expect_unused(key, why)
        # the patch embedding first: a width or patch-size mismatch is named there, where the
        # fix is plainest, rather than at whichever tensor the file happens to list first; a
        # shared table last: it adds to per-block tables a checkpoint may also hold (BEiT)
        order = {'patch_embed.projection.weight': 0, SHARED_TABLE: 2}
        for dst in sorted(self.conv.tensors, key=lambda k: order.get(k, 1)):
            self.convert(dst, self.conv.tensors[dst])
        for key in self.own:
            if key not in self.out:
                self.categorise_missing(key)
        return self.out

    def convert(self, dst: str, value: torch.Tensor):
        src = self.conv.renamed[dst]
        if dst == 'pos_embed':
            return self.convert_pos_embed(src, value)
        if dst == 'cls_token' and dst not in self.own:
            return self.report.expect_unused(src, 'cls token: the model has none')
        if dst == SHARED_TABLE and dst not in self.own:
            return self.convert_shared_table(src, value)
        if dst not in self.own:
            return self.categorise_unused(src, dst)
        target = self.own[dst]
        if value.shape != target.shape:
            value = self.resize_table(src, dst, value, target)
        self.out[dst] = value

    def resize_table(self, src, dst, value, target) -> torch.Tensor:
        if REL_POS in dst and value.dim() == 2 and value.shape[1] == target.shape[1]:
            self.report.interpolated[dst] = f'{value.shape[0]} -> {target.shape[0]} entries, linear'
            return resize_rel_pos(value.float(), target.shape[0])
        if (dst.endswith(SHARED_TABLE) and value.dim() == 2
                and value.shape[1] == target.shape[1]):
            src_side, dst_side = (math.isqrt(n - 3) for n in (value.shape[0], target.shape[0]))
            if src_side**2 + 3 == value.shape[0] and dst_side**2 + 3 == target.shape[0]:
                src_hw, dst_hw = ((src_side + 1) // 2, ) * 2, ((dst_side + 1) // 2, ) * 2
                self.report.interpolated[dst] = (f'{src_hw[0]}x{src_hw[1]} -> '
                                                 f'{dst_hw[0]}x{dst_hw[1]} grid, bicubic')
                return resize_rel_pos_bias_table(value.float(), src_hw, dst_hw)
        raise self.error(src, dst, value.shape, target.shape,
                         _mismatch_fix(dst, value.shape, target.shape))

    def convert_shared_table(self, src: str, value: torch.Tensor):
        """A table shared by all pretrained blocks -> every per-block ``RelPosBiasTable`` of the
        model, each resized to its block's grid; added to a block table the checkpoint also
        holds (BEiT adds both in attention)."""
        targets = [k for k in self.own if k.endswith(TABLE)]
        if not targets:
            return self.categorise_unused(src, SHARED_TABLE)
        for dst in targets:
            table = value
            if value.shape != self.own[dst].shape:
                table = self.resize_table(src, dst, value, self.own[dst])
            self.out[dst] = self.out[dst] + table if dst in self.out else table
            self.report.from_shared[dst] = src

    def convert_pos_embed(self, src: str, value: torch.Tensor):
        if not self.conv.pos_embed_is_real:
            return self.report.expect_unused(src, "LoMaR's fixed sin-cos table, never added in "
                                             'LoMaR (no absolute position)')
        if 'pos_embed' not in self.own:
            return self.report.suspect(
                'unused', src, "the checkpoint's absolute position is dropped because the "
                'model has use_abs_pos=False; set use_abs_pos=True to use it')
        target = self.own['pos_embed']
        pos = value[None] if value.dim() == 2 else value
        if pos.dim() != 3 or pos.shape[0] != 1 or pos.shape[-1] != target.shape[-1]:
            raise self.error(src, 'pos_embed', value.shape, target.shape,
                             _mismatch_fix('pos_embed', value.shape, target.shape))
        num = pos.shape[1]
        # 1 + G*G (with the cls slot) and G*G cannot both be squares for num > 1
        for extra in (0, 1):
            side = math.isqrt(max(num - extra, 0))
            if side > 0 and side * side == num - extra:
                break
        else:
            raise CheckpointError(
                f'checkpoint {self.report.checkpoint!r}: {src} has shape {tuple(value.shape)}, '
                f'i.e. {num} positions, neither G*G nor 1 + G*G for a square grid, so it cannot '
                f'be mapped onto the model {tuple(target.shape)}; convert it by hand or set '
                'use_abs_pos=False')
        model_extra = getattr(self.model, 'num_extra_tokens', 0)
        cls_pos = pos[:, :extra]
        if extra and not model_extra:
            self.report.expect_unused(f'{src}[cls]', 'cls position: the model has no cls token')
        elif model_extra and not extra:
            cls_pos = torch.zeros_like(pos[:, :1])  # MAE's cls position is 0 (sin-cos)
            self.report.expect_missing('pos_embed[cls]', 'the checkpoint has no cls position: '
                                       'zero, as the sin-cos table of MAE gives it')
        dst_hw = tuple(getattr(self.model, 'pos_embed_grid', (math.isqrt(
            target.shape[1] - model_extra), ) * 2))
        grid = resize_abs_pos(pos[:, extra:].float(), (side, side), dst_hw)
        if (side, side) != dst_hw:
            self.report.interpolated['pos_embed'] = (f'{side}x{side} -> {dst_hw[0]}x{dst_hw[1]}, '
                                                     'bicubic')
        grid = grid.reshape(1, -1, target.shape[-1])
        self.out['pos_embed'] = torch.cat([cls_pos.float(), grid], dim=1) if model_extra \
            else grid

    def categorise_unused(self, src: str, dst: str):
        for starts, why in _EXPECTED_UNUSED:
            if src.startswith(starts):
                return self.report.expect_unused(src, why)
        if dst.startswith('ln1.') and not getattr(self.model, 'final_norm', False):
            self.report.expect_unused(src, 'final norm: the model has final_norm=False (ViTDet, '
                                      'UperNet, fine-tuning)')
        elif RPE in dst:
            self.report.suspect('unused', src, "LoMaR's contextual RPE table is dropped, so the "
                                f'model sees no relative position; add {CONTEXTUAL_RPE_CFG} to '
                                'rel_pos_cfgs (and set use_abs_pos=False)')
        elif REL_POS in dst:
            self.report.suspect('unused', src, 'decomposed relative position table dropped; add '
                                "dict(type='DecomposedRelPos') to rel_pos_cfgs")
        elif dst == SHARED_TABLE:
            decomposed = ' (DecomposedRelPos tables cannot take it)' if any(
                REL_POS in k for k in self.own) else ''
            self.report.suspect('unused', src, 'the relative position table shared by all '
                                'pretrained blocks is dropped: the model has no per-head '
                                f"tables{decomposed}; add dict(type='RelPosBiasTable') to "
                                'rel_pos_cfgs (every block gets a copy)')
        elif TABLE in dst:
            self.report.suspect('unused', src, 'per-head relative position table dropped; add '
                                "dict(type='RelPosBiasTable') to rel_pos_cfgs")
        elif GAMMA.match(dst):
            self.report.suspect('unused', src, 'layer scale dropped; set '
                                'layer_scale_init_value > 0 as pretrained')
        else:
            self.report.suspect('unused', src, f'no {self.report.model_name} tensor of this '
                                'name; check arch (num_layers) and init_cfg.prefix')

    def categorise_missing(self, key: str):
        report = self.report
        if REL_POS in key and not self.ckpt_has['rel_pos']:
            report.expect_missing(key, 'not in the checkpoint: stays zero (plain attention), '
                                  'which is how ViTDet starts')
        elif key == SHARED_TABLE and self.ckpt_has['table']:
            report.suspect('missing', key, 'the checkpoint has per-block relative position '
                           'tables, the model one shared table, which stays zero; use '
                           "rel_pos_cfgs=[dict(type='RelPosBiasTable')] instead of "
                           'shared_rel_pos_cfg')
        elif key == SHARED_TABLE:
            report.expect_missing(key, 'shared relative position table not in the checkpoint: '
                                  'stays zero (plain attention), as BEiT/SimMIM start')
        elif TABLE in key and not self.ckpt_has['table']:
            report.expect_missing(key, 'not in the checkpoint: stays zero, as the BEiT/MAE '
                                  'segmentation protocol starts')
        elif GAMMA.match(key):
            report.expect_missing(key, 'layer scale not in the checkpoint: keeps '
                                  'layer_scale_init_value')
        elif key == 'mask_token':
            report.expect_missing(key, 'pretraining mask token (exports leave it out): '
                                  'initialised afresh')
        elif key == 'cls_token':
            report.expect_missing(key, 'the checkpoint has no cls token: initialised afresh')
        elif key.startswith('ln2.') and getattr(self.model, 'out_type', '') == 'avg_featmap':
            report.expect_missing(key, 'pooled-feature norm (fc_norm) of fine-tuning: '
                                  'initialised afresh')
        elif key.endswith(RPE) and not self.ckpt_has['rpe']:
            report.suspect('missing', key, f'the {report.layout} checkpoint has no contextual '
                           'RPE tables, so they stay zero and the model attends without '
                           'position bias; drop ContextualRPE from rel_pos_cfgs (and set '
                           'use_abs_pos=True) for MAE-family weights')
        elif key == 'pos_embed' and self.lomar_family:
            report.suspect('missing', key, 'LoMaR-family checkpoints have no usable absolute '
                           'position, so pos_embed keeps its initialisation; set '
                           'use_abs_pos=False')
        elif key == 'pos_embed':
            report.suspect('missing', key, 'the checkpoint has no pos_embed, so it keeps its '
                           'initialisation; set use_abs_pos=False or load a checkpoint with '
                           'absolute position')
        elif key.startswith('ln1.') and not self.ckpt_has['final_norm']:
            report.suspect('missing', key, 'the checkpoint has no final norm; set '
                           'final_norm=False')
        else:
            report.suspect('missing', key, 'not in the checkpoint, keeps its initialisation; '
                           'check arch and init_cfg.prefix')


def _split_prefix(state: Dict[str, torch.Tensor], checkpoint: str, prefix: Optional[str],
                  is_export: bool):
    """(backbone tensors with ``prefix`` stripped, tensors outside it, the prefix used)."""
    if prefix is None and not is_export and any(k.startswith('backbone.') for k in state):
        prefix = 'backbone.'  # mmpretrain / mmdet / mmseg model checkpoints
    elif prefix is None and not is_export and any(k.startswith('algorithm.backbone.')
                                                  for k in state):
        prefix = 'algorithm.backbone.'  # an algorithm wrapping another (MSCN)
    elif prefix is None and not is_export and any(k.startswith('encoder.') for k in state):
        prefix = 'encoder.'  # microsoft/SimMIM checkpoints: encoder.* + decoder.*
    if not prefix:
        return state, {}, ''
    inside = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not inside:
        raise CheckpointError(
            f'checkpoint {checkpoint!r} has no keys starting with prefix {prefix!r} (first keys: '
            f'{first_keys(state)}); fix init_cfg.prefix')
    return inside, {k: v for k, v in state.items() if not k.startswith(prefix)}, prefix


def load_vit_checkpoint(model: nn.Module, checkpoint: str, prefix: Optional[str] = None,
                        logger='current') -> dict:
    """Load a ViT checkpoint of any supported layout into ``model`` (any :class:`ViTBase`).

    Args:
        model: the backbone; its tensors are overwritten in place (an optimizer built before
            keeps training the loaded values).
        checkpoint: a mim_det export (``.safetensors``) or a ``.pth/.pt`` file (official MAE /
            LoMaR / SimMIM / BEiT release, mmpretrain / mmseg / mim_det / detector checkpoint).
        prefix: key prefix of the backbone tensors to keep and strip; ``None`` strips
            ``backbone.`` (OpenMMLab models) or else ``encoder.`` (microsoft/SimMIM) when the
            checkpoint has such keys.
        logger: where the report goes (mmengine ``print_log``); WARNING level when anything is
            suspicious.

    Returns:
        dict with ``layout``, ``prefix``, ``meta`` (export metadata or ``None``), ``loaded``
        (model names filled), ``interpolated`` (model name -> how it was resized),
        ``expected_missing``, ``expected_unused`` (names), ``suspicious`` (``'missing|unused
        name: why; fix'`` strings) and ``reasons`` (name -> why, for the expected names).

    Raises:
        CheckpointError: a shape that cannot be reconciled (width, patch size, RPE bucket
            count, a non-square position grid), a checkpoint without backbone keys, or one
            that fills under half of the model's backbone weights.
    """
    state, meta = read_checkpoint(checkpoint)
    backbone, outside, used_prefix = _split_prefix(state, checkpoint, prefix, meta is not None)
    layout = detect_layout(backbone, meta, checkpoint)
    if layout == LAYOUT_RESNET or (meta is not None and meta.get('patch_size') == 0):
        raise CheckpointError(f'checkpoint {checkpoint!r} holds a ResNet, the model '
                              f'{type(model).__name__} is a ViT; load it into a ResNet backbone')
    report = LoadReport(model, checkpoint, layout, used_prefix, meta)
    patch = getattr(model, 'patch_size', None)
    if meta is not None and patch is not None and meta['patch_size'] != patch:
        raise CheckpointError(
            f'export {checkpoint!r}: metadata patch_size={meta["patch_size"]} but the model has '
            f'patch_size={patch}; set patch_size={meta["patch_size"]}')
    converted = CONVERTERS[layout](backbone, meta)
    matcher = _Matcher(model, converted, report)
    tensors = matcher.run()
    for key in outside:
        report.expect_unused(key, f'outside {used_prefix!r}: not part of the backbone')
    own = matcher.own
    report.loaded = [k for k in own if k in tensors]
    weights = [k for k in own if not _is_position_or_token(k)]
    filled = [k for k in weights if k in tensors]
    if not weights or len(filled) < MIN_LOADED_FRACTION * len(weights):
        raise CheckpointError(
            f'checkpoint {checkpoint!r} ({layout}) fills only {len(filled)} of the '
            f'{len(weights)} weight tensors of {type(model).__name__} (first checkpoint keys: '
            f'{first_keys(backbone)}); set init_cfg.prefix to the prefix of its backbone keys '
            'and arch to the pretrained size')
    # copies into the existing parameters: an optimizer holding them sees the loaded values
    model.load_state_dict(tensors, strict=False)
    print_log(report.text(len(own)), logger=logger,
              level=logging.WARNING if report.suspicious else logging.INFO)
    return report.as_dict()


def is_resnet(model: nn.Module) -> bool:
    """An mmpretrain / mmdet / mmseg ``ResNet`` (or V1c / V1d): residual stages ``layer1..``."""
    return isinstance(getattr(model, 'layer1', None), nn.Module) and hasattr(model, 'depth')


def load_resnet_checkpoint(model: nn.Module, checkpoint: str, prefix: Optional[str] = None,
                           logger='current') -> dict:
    """Load ResNet weights (a mim_det export or a ``.pth``) into an mmpretrain / mmdet / mmseg
    ``ResNet``, with the same report and return value as :func:`load_vit_checkpoint`.

    BatchNorm running statistics load with the weights. Raises :class:`CheckpointError` for
    another depth, a ViT checkpoint, a shape that differs, or under half the weights filled.
    """
    state, meta = read_checkpoint(checkpoint)
    backbone, outside, used_prefix = _split_prefix(state, checkpoint, prefix, meta is not None)
    layout = detect_layout(backbone, meta, checkpoint)
    name = type(model).__name__
    if layout not in (LAYOUT_RESNET, LAYOUT_EXPORT) or (meta is not None
                                                        and meta.get('patch_size') != 0):
        raise CheckpointError(f'checkpoint {checkpoint!r} holds a ViT ({layout}), the model '
                              f'{name} is a ResNet; load it into a ViT backbone')
    depth = (meta.get('arch') or {}).get('depth') if meta is not None else None
    if depth is not None and depth != model.depth:
        raise CheckpointError(f'export {checkpoint!r} holds a ResNet-{depth}, the model is a '
                              f'{name}-{model.depth}; set depth={depth}')
    report = LoadReport(model, checkpoint, layout, used_prefix, meta, 'load_resnet_checkpoint')
    converted = CONVERTERS[layout](backbone, meta)
    for key, why in converted.unused.items():
        report.expect_unused(key, why)
    for key in outside:
        report.expect_unused(key, f'outside {used_prefix!r}: not part of the backbone')
    own = model.state_dict()
    deep_stem = any(k.startswith('stem.') for k in own)
    tensors = {}
    for key, value in converted.tensors.items():
        if key in own and own[key].shape != value.shape:
            raise CheckpointError(
                f'checkpoint {checkpoint!r}: {key} has shape {tuple(value.shape)} but {name} '
                f'expects {tuple(own[key].shape)}; set depth (and base_channels) as pretrained')
        if key in own:
            tensors[key] = value
        elif key.startswith(('conv1.', 'bn1.')) and deep_stem:
            report.suspect('unused', key, 'the checkpoint has the plain 7x7 stem, the model a '
                           "deep stem (ResNetV1c/V1d); use type='ResNet' as pretrained")
        else:
            report.suspect('unused', key, f'no {name} tensor of this name; check depth and '
                           'init_cfg.prefix')
    for key in own:
        if key in tensors:
            continue
        if key.startswith('stem.') and 'conv1.weight' in converted.tensors:
            report.suspect('missing', key, 'deep-stem tensor not in the plain-stem checkpoint '
                           "(keeps its initialisation); use type='ResNet' as pretrained")
        else:
            report.suspect('missing', key, 'not in the checkpoint, keeps its initialisation; '
                           'check depth and init_cfg.prefix')
    weights = [k for k in own if not k.endswith(('running_mean', 'running_var',
                                                 'num_batches_tracked'))]
    filled = [k for k in weights if k in tensors]
    if len(filled) < MIN_LOADED_FRACTION * len(weights):
        raise CheckpointError(
            f'checkpoint {checkpoint!r} ({layout}) fills only {len(filled)} of the '
            f'{len(weights)} weight tensors of {name} (first checkpoint keys: '
            f'{first_keys(backbone)}); set init_cfg.prefix to the prefix of its backbone keys '
            'and depth to the pretrained depth')
    report.loaded = [k for k in own if k in tensors]
    model.load_state_dict(tensors, strict=False)
    print_log(report.text(len(own)), logger=logger,
              level=logging.WARNING if report.suspicious else logging.INFO)
    return report.as_dict()


def load_backbone_checkpoint(model: nn.Module, checkpoint: str, prefix: Optional[str] = None,
                             logger='current') -> dict:
    """The one entry: :func:`load_resnet_checkpoint` for a ResNet, else
    :func:`load_vit_checkpoint`."""
    load = load_resnet_checkpoint if is_resnet(model) else load_vit_checkpoint
    return load(model, checkpoint, prefix=prefix, logger=logger)
