"""Runner-level parts: exact resume, skipped non-finite steps, a checkpoint on preemption, safe
checkpoint loading, atomic checkpoint writes, DDP fp16
gradient compression, mmcv's hue jitter under NumPy 2, a cache for mmengine's config
formatting. (The layer-wise lr decay constructor of fine-tuning is a downstream
part: :mod:`mim_det.downstream` imports it.)

Generic engine parts register in mmengine's root registries, which every downstream scope
(mmpretrain, mmdet, mmseg) falls back to.
"""
from .atomic_local_backend import AtomicLocalBackend, atomic_write_bytes, install_atomic_local_backend
from .config_text_cache import install_config_text_cache
from .cpu_distributed import finish_distributed, prepare_cpu_distributed
from .hooks import (Fp16CompressionHook, NonFiniteStepHook, PreemptionHook, RNGStateHook,
                    capture_rng_state, restore_rng_state)
from .numpy2_hue_fix import install_numpy2_adjust_hue
from .safe_checkpoint_globals import allow_mmengine_checkpoint_globals, mmengine_checkpoint_globals

__all__ = [
    'AtomicLocalBackend', 'atomic_write_bytes', 'install_atomic_local_backend', 'RNGStateHook',
    'capture_rng_state', 'restore_rng_state', 'allow_mmengine_checkpoint_globals',
    'mmengine_checkpoint_globals', 'prepare_cpu_distributed', 'finish_distributed',
    'Fp16CompressionHook', 'install_numpy2_adjust_hue', 'install_config_text_cache',
    'NonFiniteStepHook', 'PreemptionHook'
]
