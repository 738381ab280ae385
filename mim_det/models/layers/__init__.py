"""Building blocks of every mim_det ViT: attention, one block, positions, window and patch ops.

Pure tensor maths (window partition, relative tables, bucket matrices, sin-cos tables, patch
order) are small functions; modules are thin around them.
"""
from .arch import VIT_ARCHS, resolve_vit_arch
from .attention import Attention
from .patch_ops import patchify, unpatchify
from .position_embedding import resize_abs_pos, sincos_2d_embedding
from .relative_position import (ContextualRPE, DecomposedRelPos,
                                RelPosBiasTable, bucket_matrix, build_rel_pos,
                                decomposed_query_terms, grid_key_codes, piecewise_index,
                                rel_pos_table_index, relative_table, resize_rel_pos,
                                resize_rel_pos_bias_table)
from .vit_block import ViTBlock
from .window_ops import window_padding_bias, window_partition, window_unpartition

__all__ = [
    'VIT_ARCHS', 'resolve_vit_arch', 'Attention', 'patchify', 'unpatchify', 'resize_abs_pos',
    'sincos_2d_embedding', 'ContextualRPE', 'DecomposedRelPos',
    'RelPosBiasTable', 'bucket_matrix', 'build_rel_pos', 'decomposed_query_terms',
    'grid_key_codes', 'piecewise_index',
    'rel_pos_table_index', 'relative_table', 'resize_rel_pos', 'resize_rel_pos_bias_table',
    'ViTBlock', 'window_padding_bias', 'window_partition', 'window_unpartition'
]
