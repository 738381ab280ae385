"""mim_det: masked-image-modeling pretraining and its transfer to detection and segmentation,
built on the OpenMMLab stack (mmengine, mmcv, mmpretrain, mmdet, mmseg).

Importing the package (directly, or through ``custom_imports = dict(imports=['mim_det'])`` in a
config) registers the pretraining components (mmpretrain scope) and the runner-level hooks;
``import mim_det.downstream`` adds the detection/segmentation parts (:mod:`mim_det.registry`
lists what is registered where). It also installs four process-wide
fixes: for mmengine 0.10.7 on torch >= 2.6, safe loading of mmengine checkpoints under
``weights_only=True`` and atomic checkpoint writes; for mmcv 2.1.0 on NumPy 2, negative hue
jitter (``mim_det.engine.numpy2_hue_fix``); and a cache for mmengine's yapf formatting of configs,
which otherwise costs seconds per run (``mim_det.engine.config_text_cache``).
"""
__version__ = '0.1.0'

import warnings

# mmengine 0.10.7 and mmcv 2.1.0 import pkg_resources, which is why setuptools is pinned below
# 81; the resulting deprecation warning on every start says nothing actionable to our users.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning)

from .engine import (allow_mmengine_checkpoint_globals, install_atomic_local_backend,  # noqa: E402
                     install_config_text_cache, install_numpy2_adjust_hue)

allow_mmengine_checkpoint_globals()
install_atomic_local_backend()
install_numpy2_adjust_hue()
install_config_text_cache()

# models before checkpoint: the loader uses models.layers, the backbones use the loader
from . import models  # noqa: E402,F401,I001  (registers components)
from . import checkpoint, datasets, engine  # noqa: E402,F401

__all__ = ['__version__']
