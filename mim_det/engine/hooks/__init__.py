from .checkpoint_hook import CheckpointWriteError, SafeOrderCheckpointHook
from .distributed_watchdog_hook import (STALLED_EXIT_CODE, DistributedWatchdogHook,
                                        collective_failure_message)
from .fp16_compression_hook import Fp16CompressionHook
from .non_finite_step_hook import NonFiniteStepHook, NonFiniteTrainingError
from .preemption_hook import PREEMPTED_EXIT_CODE, PreemptionHook, TrainingPreempted
from .unreadable_image_hook import (SKIPPED_LIST, TooManyUnreadableImagesError,
                                    UnreadableImageHook, skipped_files)
from .rng_state_hook import RNGStateHook, capture_rng_state, restore_rng_state
from .validation_mim_loss_hook import ValidationMIMLossHook

__all__ = ['CheckpointWriteError', 'SafeOrderCheckpointHook', 'Fp16CompressionHook',
           'STALLED_EXIT_CODE', 'DistributedWatchdogHook', 'collective_failure_message',
           'NonFiniteStepHook', 'NonFiniteTrainingError', 'PREEMPTED_EXIT_CODE', 'PreemptionHook',
           'TrainingPreempted', 'RNGStateHook', 'capture_rng_state', 'restore_rng_state',
           'SKIPPED_LIST', 'TooManyUnreadableImagesError', 'UnreadableImageHook', 'skipped_files',
           'ValidationMIMLossHook']
