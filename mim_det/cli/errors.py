"""The error base class of mim_det's command-line layer.

Every error a tool reports as one line derives from :class:`UserError`; the model and checkpoint
layers raise their own classes (:class:`mim_det.checkpoint.CheckpointError`), which the CLI
wrapper also prints as one line, so model code never depends on the CLI.
"""


class UserError(Exception):
    """A mistake the user can fix; its message names the key or path and the fix."""
