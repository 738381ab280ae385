"""The checkpoint layer's error: what cannot be loaded or exported, with the reason and fix."""


class CheckpointError(ValueError):
    """A checkpoint, export or prefix that cannot be used; the message names the file, the key
    and the fix on one line (tools print it as ``<tool>: error: ...``)."""
