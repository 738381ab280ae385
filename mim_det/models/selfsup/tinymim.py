"""TinyMIM (Ren et al., "TinyMIM: An Empirical Study of Distilling MIM Pre-trained Models",
CVPR 2023, arXiv 2301.01296; official code OliverRensu/TinyMIM).

A MIM-pretrained ViT (the teacher, frozen) is distilled into a smaller ViT (the student) without
masking: both see the same crop, the student's copy colour-jittered. The targets are the token
RELATIONS of one teacher block (Sec. 3.2-3.3): per head, with q, k, v the block's projections
of its normalised input and d the head width,

    R_qk = softmax(q k^T / sqrt(d)),    R_vv = softmax(v v^T / sqrt(d))      (B, h, N, N)

rows over keys, cls token included. The student's LAST block gives the same two maps, and

    L = KL(R_qk^T || R_qk^S) + KL(R_vv^T || R_vv^S),

each KL summed over keys and averaged over queries, heads and images (the official
``KLDivLoss(reduction='none')(student.log(), teacher).sum(-1).mean()``). The teacher block is
the last of a ViT-B teacher and block 18 of 24 of a ViT-L (Table 6: an intermediate block beats
the last when depths differ). The student's last block is split into the teacher block's head
count (the official ``last_heads``) so the maps match; its parameter shapes do not change, so the
export is an ordinary ViT. ``target='cls_token'`` and ``'feature'`` are the paper's weaker
alternatives (Table 3) for ablations.

Relations use no relative position bias (the official teachers, MAE ViTs, have none; a BEiT-
family teacher's shared table is left out of its maps) and are computed in fp32.
"""
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn.bricks.drop import DropPath
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import nn

from ..backbones.base_vit import ViTBase, _block_index
from ..layers import Attention, ViTBlock, sincos_2d_embedding

TARGETS = ('relation', 'cls_token', 'feature')


def block_relations(block: ViTBlock, tokens: torch.Tensor
                    ) -> Tuple[torch.Tensor, torch.Tensor]:
    """The QK and VV relation logits of ``block`` for the sequence (B, N, D) entering it.

    Returns two (B, h, N, N) fp32 tensors, ``q k^T / sqrt(d)`` and ``v v^T / sqrt(d)``
    (h and d: the block's head count and width); their softmax over the last axis are TinyMIM's
    R_qk and R_vv.
    """
    q, k, v = block.attn.project_qkv(block.ln1(tokens))
    scale = block.attn.head_dims**-0.5
    # fp32 even under AMP: autocast would run these products in half precision
    with torch.autocast(device_type=tokens.device.type, enabled=False):
        q, k, v = q.float(), k.float(), v.float()
        return (q @ k.transpose(-2, -1)) * scale, (v @ v.transpose(-2, -1)) * scale


def relation_kl(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """KL(softmax(teacher) || softmax(student)) over the last axis (keys), summed over keys and
    averaged over every other axis (queries, heads, images): a scalar, 0 iff the rows agree."""
    teacher_log = teacher_logits.log_softmax(dim=-1)
    student_log = student_logits.log_softmax(dim=-1)
    return (teacher_log.exp() * (teacher_log - student_log)).sum(dim=-1).mean()


def split_heads(attn: Attention, num_heads: int):
    """Make ``attn`` attend with ``num_heads`` heads: its projections are head-agnostic
    (D -> 3D, D -> D), so only the split of D changes. Per-head tables cannot be re-split."""
    if attn.embed_dims % num_heads:
        raise ValueError(f'last_heads={num_heads} does not divide the width '
                         f'{attn.embed_dims}; choose a divisor (the teacher block\'s heads)')
    if attn.rel_pos_names:
        raise ValueError(f'last_heads: the block has per-head position tables '
                         f'({", ".join(attn.rel_pos_names)}); a TinyMIM student has none')
    attn.num_heads, attn.head_dims = num_heads, attn.embed_dims // num_heads


@MODELS.register_module()
class TinyMIMViT(ViTBase):
    """TinyMIM's student (pretraining only): a plain ViT with a cls token, global attention and
    the fixed 2-D sin-cos position table of MAE (cls slot zero, not trained), as the official
    ``models_tinymim.py``.

    Args:
        arch: TinyMIM's sizes are T ``dict(embed_dims=192, num_layers=12, num_heads=6,
            feedforward_channels=768)`` (6 heads, not DeiT-T's 3), S ``'deit-s'`` (384/12/6),
            B ``'b'``.
        last_heads: heads of the last block (the teacher block's; ``None``: ``num_heads``).
        drop_path_rate: stochastic depth of every block but the last, the SAME rate in each (the
            official ``models_tinymim.py``, not the linear rule of other ViTs); 0.1 in TinyMIM's
            recipe. The last block only gives relations and has none.
        others: as :class:`ViTBase`.

    ``forward(x)``: images (B, 3, H, W) -> outputs at ``out_indices`` (``out_type='raw'``:
    (B, 1 + H W / p^2, D)). :class:`TinyMIM` uses :meth:`tokens_entering` instead.
    """

    def __init__(self, arch: Union[str, dict] = 'deit-s', img_size: int = 224,
                 patch_size: int = 16, last_heads: Optional[int] = None,
                 drop_path_rate: float = 0.1, out_type: str = 'raw', final_norm: bool = True,
                 **kwargs):
        for fixed in ('with_cls_token', 'use_abs_pos', 'window_size', 'rel_pos_cfgs',
                      'shared_rel_pos_cfg'):
            if fixed in kwargs:
                raise ValueError(f'TinyMIMViT: {fixed} is fixed (cls token, sin-cos absolute '
                                 'position, global attention); remove it from the config')
        super().__init__(arch=arch, img_size=img_size, patch_size=patch_size,
                         with_cls_token=True, use_abs_pos=True, window_size=0,
                         drop_path_rate=0., out_type=out_type, final_norm=final_norm, **kwargs)
        if drop_path_rate > 0:
            for layer in self.layers[:-1]:
                layer.drop_path = DropPath(drop_path_rate)
        self.pos_embed.requires_grad_(False)
        self.last_heads = int(last_heads or self.num_heads)
        if self.last_heads != self.num_heads:
            split_heads(self.layers[-1].attn, self.last_heads)

    def init_from_scratch(self):
        super().init_from_scratch()
        table = sincos_2d_embedding(self.pos_embed_grid, self.embed_dims)
        with torch.no_grad():
            self.pos_embed.zero_()
            self.pos_embed[0, self.num_extra_tokens:] = table


@MODELS.register_module()
class TinyMIM(BaseSelfSupervisor):
    """Distillation of a frozen MIM teacher into a student ViT through token relations.

    Args:
        backbone: the student, a ``TinyMIMViT`` config (``last_heads`` = the teacher block's
            heads).
        target_generator: the teacher, any ViT the shared loader reads, e.g. ``dict(type=
            'PlainViT', arch='l', img_size=224, patch_size=16, with_cls_token=True,
            use_abs_pos=True, window_size=0, drop_path_rate=0., init_cfg=dict(
            type='Pretrained', checkpoint='mae_pretrain_vit_large.pth'))``; frozen, in eval mode
            through ``train()``; its loader report is printed when the weights are initialised.
        teacher_block: the teacher block whose relations are the targets (0-based; -1: the last,
            for a ViT-B teacher; 17 = block 18 of 24 for a ViT-L).
        target: ``'relation'`` (TinyMIM), or the ablations ``'cls_token'`` / ``'feature'``:
            a Linear projection of the student's final cls token / all tokens regresses the
            teacher block's output normalised without affine parameters (parameter-free
            LayerNorm, as feature distillation's whitening), by mean squared error.
        data_preprocessor: ``SelfSupDataPreprocessor`` of the two views [teacher, student].

    ``loss(inputs, data_samples)``: inputs = [teacher view, student view], each (B, 3, H, W)
    (one tensor: the same images for both) -> ``dict(loss_qk, loss_vv)`` (relation) or
    ``dict(loss_feature)``.
    """

    def __init__(self, backbone: dict, target_generator: dict, teacher_block: int = -1,
                 target: str = 'relation', neck: Optional[dict] = None,
                 head: Optional[dict] = None, pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None, init_cfg: Optional[dict] = None):
        if target not in TARGETS:
            raise ValueError(f'TinyMIM: target={target!r}; use one of {TARGETS}')
        if not target_generator.get('init_cfg'):
            raise ValueError("TinyMIM: the teacher (target_generator) has no init_cfg; set "
                             "init_cfg=dict(type='Pretrained', checkpoint=<a MIM ViT "
                             "checkpoint or export>)")
        if data_preprocessor is None:
            data_preprocessor = dict(type='SelfSupDataPreprocessor')
        from ..backbones import plain_vit  # noqa: F401  (registers PlainViT; imports mmdet)
        super().__init__(backbone=backbone, neck=neck, head=head,
                         target_generator=target_generator, pretrained=pretrained,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        teacher = self.target_generator
        teacher.requires_grad_(False)
        teacher.eval()
        self.teacher_block = _block_index(teacher_block, teacher.num_layers, 'TinyMIM teacher')
        self.target = target
        student_heads = self.backbone.layers[-1].attn.num_heads
        teacher_heads = teacher.layers[self.teacher_block].attn.num_heads
        if target == 'relation' and student_heads != teacher_heads:
            raise ValueError(
                f"TinyMIM: the teacher's block {self.teacher_block} has {teacher_heads} heads "
                f"but the student's last block {student_heads}, so their relation maps differ; "
                f'set model.backbone.last_heads={teacher_heads}')
        self.projector = None
        if target != 'relation':
            self.projector = nn.Linear(self.backbone.embed_dims, teacher.embed_dims)

    def train(self, mode: bool = True):
        super().train(mode)
        self.target_generator.eval()
        return self

    def extract_feat(self, inputs: torch.Tensor):
        return self.backbone(inputs)

    def loss(self, inputs: Union[torch.Tensor, List[torch.Tensor]],
             data_samples: List[DataSample], **kwargs) -> Dict[str, torch.Tensor]:
        if isinstance(inputs, (list, tuple)):
            teacher_view, student_view = inputs[0], inputs[-1]
        else:
            teacher_view = student_view = inputs
        teacher = self.target_generator
        block = teacher.layers[self.teacher_block]
        with torch.no_grad():
            t_tokens, t_grid = teacher.tokens_entering(teacher_view, self.teacher_block)
        s_tokens, s_grid = self.backbone.tokens_entering(student_view, -1)
        if t_tokens.shape[1] != s_tokens.shape[1]:
            raise ValueError(f'TinyMIM: the teacher sees {t_tokens.shape[1]} tokens (grid '
                             f'{t_grid}), the student {s_tokens.shape[1]} (grid {s_grid}); give '
                             'both the same patch size, input size and cls token')
        last = self.backbone.layers[-1]
        if self.target == 'relation':
            with torch.no_grad():
                t_qk, t_vv = block_relations(block, t_tokens)
            s_qk, s_vv = block_relations(last, s_tokens)
            return dict(loss_qk=relation_kl(t_qk, s_qk), loss_vv=relation_kl(t_vv, s_vv))
        with torch.no_grad():
            target = block(t_tokens, t_grid).float()
            target = F.layer_norm(target, target.shape[-1:])
        student = last(s_tokens, s_grid)
        if self.backbone.final_norm:
            student = self.backbone.ln1(student)
        pred = self.projector(student).float()
        if self.target == 'cls_token':
            pred, target = pred[:, 0], target[:, 0]
        return dict(loss_feature=F.mse_loss(pred, target))
