"""Building blocks shared by mim_det's models."""
from .backbone_export import (BackboneExportError, export_backbone, load_backbone_export,
                              load_pretrained_backbone)
from .contextual_rpe import ContextualRPE, bucket_matrix, piecewise_index
from .decomposed_rel_pos import DecomposedRelPos, resize_rel_pos
from .patch_ops import patchify, unpatchify
from .position_biased_attention import PositionBiasedAttention
from .rpe_transformer_layer import ContextualRPEAttention, RPETransformerEncoderLayer
from .vit_checkpoint import load_vit_checkpoint
from .window_attention_layer import (WindowAttentionLayer, window_partition,
                                     window_unpartition)
from .window_sampler import WindowSample, WindowSampler

__all__ = [
    'BackboneExportError', 'export_backbone', 'load_backbone_export', 'load_pretrained_backbone',
    'ContextualRPE', 'bucket_matrix', 'piecewise_index', 'patchify', 'unpatchify', 'ContextualRPEAttention',
    'RPETransformerEncoderLayer', 'WindowSample', 'WindowSampler', 'DecomposedRelPos',
    'resize_rel_pos', 'PositionBiasedAttention', 'WindowAttentionLayer', 'window_partition',
    'window_unpartition', 'load_vit_checkpoint'
]
