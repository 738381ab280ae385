"""Let ``torch.load(weights_only=True)`` read mmengine checkpoints, and nothing more.

torch >= 2.6 loads with ``weights_only=True`` by default. mmengine 0.10.7 calls ``torch.load``
without the argument, so resuming fails on its own checkpoints::

    Unsupported global: GLOBAL mmengine.logging.history_buffer.HistoryBuffer

because ``checkpoint['message_hub']`` pickles ``HistoryBuffer`` objects (numpy arrays and
scalars inside). Instead of turning full pickle loading back on (``weights_only=False``, which
executes arbitrary code from an untrusted file), we extend torch's allow-list with exactly the
globals such a checkpoint holds:

* ``HistoryBuffer`` and the numpy reconstructors of its arrays / scalars / dtypes;
* ``builtins.getattr``, which ``HistoryBuffer.__getstate__`` uses to pickle its statistics
  methods (``getattr(HistoryBuffer, 'min')``). A general ``getattr`` would let a malicious file
  walk from any allowed object to arbitrary attributes, so it is mapped to
  :func:`history_buffer_attribute`, which only returns registered statistics methods of
  ``HistoryBuffer`` and refuses everything else.

The list was obtained with ``torch.serialization.get_unsafe_globals_in_checkpoint`` on
checkpoints written by mmengine runners; ``tests/test_checkpoint_safety.py`` re-derives it.
"""
import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer


def history_buffer_attribute(obj, name: str):
    """Restricted stand-in for ``getattr`` during safe unpickling.

    Only ``getattr(HistoryBuffer, <statistics method>)`` is answered; any other pair raises
    :class:`pickle.UnpicklingError`, which torch reports as an unsafe checkpoint.
    """
    import pickle
    allowed = set(HistoryBuffer._statistics_methods) | {'min', 'max', 'mean', 'current'}
    if obj is HistoryBuffer and isinstance(name, str) and name in allowed:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({obj!r}, {name!r}) while loading a checkpoint: only '
        'HistoryBuffer statistics methods are allowed (mim_det safe checkpoint loading)')


def _numpy_globals():
    core = getattr(np, '_core', None) or np.core
    reconstruct = core.multiarray._reconstruct
    scalar = core.multiarray.scalar
    entries = [np.ndarray, np.dtype]
    # numpy 2 pickles under ``numpy._core``, numpy 1 under ``numpy.core``; files written by
    # either must load on either.
    for module in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        entries.append((reconstruct, f'{module}._reconstruct'))
        entries.append((scalar, f'{module}.scalar'))
    # Typed dtype classes (numpy >= 1.25) appear when a dtype object itself is pickled.
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        for name in dir(dtypes):
            cls = getattr(dtypes, name)
            if isinstance(cls, type) and issubclass(cls, np.dtype):
                entries.append((cls, f'numpy.dtypes.{name}'))
    return entries


def mmengine_checkpoint_globals() -> list:
    """The exact allow-list entries for mmengine runner checkpoints (see module docstring)."""
    return [HistoryBuffer, (history_buffer_attribute, 'builtins.getattr')] + _numpy_globals()


def allow_mmengine_checkpoint_globals() -> None:
    """Register :func:`mmengine_checkpoint_globals` with torch (idempotent)."""
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:  # torch < 2.4 loads with full pickle by default; nothing to allow
        return
    add(mmengine_checkpoint_globals())
