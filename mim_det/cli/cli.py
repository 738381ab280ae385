"""The one place where command-line tools turn known user errors into one line.

Known errors (bad config keys, missing data or checkpoints, unknown registry types, a broken
environment, a run stopped by a fault it detected) print ``<tool>: error: <what and how to fix>`` on stderr and exit with status 2.
Anything else is a bug and keeps its full traceback. ``MIM_DET_TRACEBACK=1`` shows the
traceback for known errors too.
"""
import os
import pickle
import sys
from typing import Callable, Optional

from mmengine.config import Config

from ..checkpoint.errors import CheckpointError, unpickling_refusal
from ..engine.errors import RunStoppedError
from .config_checks import describe_registry_error
from .errors import UserError


class CLIError(UserError, RuntimeError):
    """A user-facing error raised by a tool itself."""


def _one_line(exc: BaseException, cfg: Optional[Config]) -> Optional[str]:
    if isinstance(exc, (UserError, CheckpointError, RunStoppedError)):
        return _worker_message(str(exc))
    if isinstance(exc, KeyError):
        return describe_registry_error(exc, cfg)
    if isinstance(exc, pickle.UnpicklingError):
        # raised inside mmengine's loading of load_from / --resume (mim_det's own loaders
        # already raise CheckpointError naming the file)
        return unpickling_refusal((cfg or {}).get('load_from') or '(the checkpoint)', exc)
    if isinstance(exc, FileNotFoundError):
        return f'{exc}; check the path'
    return None


def _worker_message(text: str) -> str:
    """The original message of an error that a DataLoader worker raised (torch re-raises it
    in the main process with the worker's whole traceback in front)."""
    if 'Original Traceback' not in text:
        return text
    last = text.strip().splitlines()[-1]
    return last.split(': ', 1)[1] if ': ' in last else last


def parse_named_values(items, what: str, example: str) -> dict:
    """``['a=x', 'b=y']`` -> ``{'a': 'x', 'b': 'y'}`` in the given order (a tool's
    ``NAME=VALUE`` arguments); a one-line :class:`CLIError` naming ``what`` and showing
    ``example`` for an item without both parts or a name given twice."""
    named = {}
    for item in items:
        name, sep, value = item.partition('=')
        if not sep or not name or not value:
            raise CLIError(f'{what} {item!r} is not NAME=VALUE (e.g. {example})')
        if name in named:
            raise CLIError(f'{what} name {name!r} is given twice; each needs its own name')
        named[name] = value
    return named


def run_cli(main: Callable[[], Optional[int]], prog: str,
            cfg_getter: Callable[[], Optional[Config]] = lambda: None) -> None:
    """Call ``main()`` and exit; known errors become one line (see module docstring)."""
    try:
        code = main()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # classify, then re-raise what we do not understand
        message = None
        chain: Optional[BaseException] = exc
        while chain is not None and message is None:
            message = _one_line(chain, cfg_getter())
            chain = chain.__cause__ or chain.__context__
        if message is None or os.environ.get('MIM_DET_TRACEBACK') == '1':
            raise
        print(f'{prog}: error: {" ".join(message.split())}', file=sys.stderr)
        sys.exit(2)
    sys.exit(code or 0)
