from .rng_state_hook import RNGStateHook, capture_rng_state, restore_rng_state

__all__ = ['RNGStateHook', 'capture_rng_state', 'restore_rng_state']
