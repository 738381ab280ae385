"""The checkpoint layer's error: what cannot be loaded or exported, with the reason and fix."""


class CheckpointError(ValueError):
    """A checkpoint, export or prefix that cannot be used; the message names the file, the key
    and the fix on one line (tools print it as ``<tool>: error: ...``)."""


def unpickling_refusal(path, exc: BaseException) -> str:
    """The one-line message for a checkpoint that ``torch.load(weights_only=True)`` refused:
    the file, torch's reason (the global it would have imported) and what to do."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reason = next((line for line in lines if 'WeightsUnpickler error' in line),
                  lines[0] if lines else type(exc).__name__)
    reason = reason.split(' Please use ')[0]  # torch's advice is to trust the file; we do not
    return (f'refused to load checkpoint {path!r}: it holds pickled objects other than tensors '
            f'and plain containers, which could run code when loaded ({reason}); mim_det loads '
            'weights only: use a checkpoint saved from a state_dict, or re-save a file you '
            'trust with torch.save(state_dict)')
