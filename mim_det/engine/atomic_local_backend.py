"""Crash-safe local file writes for checkpoints and the ``last_checkpoint`` marker.

mmengine 0.10.7 writes checkpoints with ``LocalBackend.put``, which opens the final path and
streams bytes into it. A job killed mid-write (pre-emption, OOM, Ctrl-C) leaves a truncated
``iter_N.pth`` that ``--resume auto`` then picks up and fails on. This module swaps in a backend
that writes to a temporary file in the same directory, fsyncs it and renames it over the target
(``os.replace`` is atomic on POSIX within one file system), so a reader sees either the old file
or the complete new one, never a partial one.

It is registered once, under mmengine's ``local`` name and the empty URI prefix, when
:mod:`mim_det` is imported; every local ``put``/``put_text`` in the process goes through it.
"""
import os
import tempfile
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend
from mmengine.fileio import io as mmengine_io


def atomic_write_bytes(data: bytes, filepath: Union[str, Path]) -> None:
    """Write ``data`` to ``filepath`` so that the file is either absent/old or complete."""
    filepath = os.fspath(filepath)
    directory = os.path.dirname(os.path.abspath(filepath))
    os.makedirs(directory, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(
        dir=directory, prefix='.' + os.path.basename(filepath) + '.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600 files; give checkpoints the usual umask-derived mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, filepath)
    except BaseException:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
        raise
    # Persist the rename itself; without this a power loss can still lose the new entry.
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class AtomicLocalBackend(LocalBackend):
    """:class:`mmengine.fileio.LocalBackend` whose writes are atomic (temp file + rename)."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write_bytes(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        atomic_write_bytes(obj.encode(encoding), filepath)


def install_atomic_local_backend() -> None:
    """Make ``AtomicLocalBackend`` mmengine's backend for local paths (idempotent)."""
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
    # get_file_backend caches instances; drop plain LocalBackend ones built before this call.
    for key, backend in list(mmengine_io.backend_instances.items()):
        if type(backend) is LocalBackend:
            del mmengine_io.backend_instances[key]
