"""The engine's error base: a run stopped by a fault it detected (a full disk, training that
diverged). The message says on one line what happened, what is safe on disk and how to go on;
the command-line tools print it as ``<tool>: error: ...`` (see :mod:`mim_det.cli.cli`)."""


class RunStoppedError(RuntimeError):
    """A training run stopped on purpose, with everything before the fault kept."""
