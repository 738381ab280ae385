"""mim_det: masked-image-modeling pretraining and its transfer to detection and segmentation,
built on the OpenMMLab stack (mmengine, mmcv, mmpretrain, mmdet, mmseg).

Importing the package (directly, or through ``custom_imports = dict(imports=['mim_det'])`` in a
config) registers every component (see :mod:`mim_det.registry`) and installs two process-wide
fixes for mmengine 0.10.7 on torch >= 2.6: safe loading of mmengine checkpoints under
``weights_only=True`` and atomic checkpoint writes.
"""
__version__ = '0.1.0'

from .engine import allow_mmengine_checkpoint_globals, install_atomic_local_backend

allow_mmengine_checkpoint_globals()
install_atomic_local_backend()

from . import datasets, engine, evaluation, models  # noqa: E402,F401  (registers components)
from .registry import COMPONENTS  # noqa: E402

__all__ = ['__version__', 'COMPONENTS']
