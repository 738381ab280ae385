"""Checkpoints in and out: the backbone exporter, the one loader with its categorised report,
and one converter per source layout (see :mod:`.converters`)."""
from .converters import CONVERTERS, detect_layout
from .errors import CheckpointError
from .export import export_backbone
from .io import EXPORT_FORMAT, load_backbone_export, load_torch_checkpoint, read_checkpoint
from .loader import (is_resnet, load_backbone_checkpoint, load_resnet_checkpoint,
                     load_vit_checkpoint)

__all__ = ['CONVERTERS', 'detect_layout', 'CheckpointError', 'export_backbone', 'EXPORT_FORMAT',
           'load_backbone_export', 'load_torch_checkpoint', 'read_checkpoint',
           'is_resnet', 'load_backbone_checkpoint', 'load_resnet_checkpoint', 'load_vit_checkpoint']
