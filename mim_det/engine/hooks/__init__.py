from .fp16_compression_hook import Fp16CompressionHook
from .rng_state_hook import RNGStateHook, capture_rng_state, restore_rng_state

__all__ = ['Fp16CompressionHook', 'RNGStateHook', 'capture_rng_state', 'restore_rng_state']
