"""File-system helpers for bundles and exports: ordinary modes, atomic writes, safe names.

Every file and directory this package writes gets the mode an ordinary write gets under
the user's umask (``0o666 & ~umask`` for files, ``0o777 & ~umask`` for directories), so a
bundle on a shared disk is as readable by the team as any other file. Writes go to a
temporary name in the same directory and are renamed into place, so a reader never sees
half a file under the final name.

Examples:
    >>> safe_file_stem("../../escaped")
    'escaped'
    >>> safe_file_stem("coco+lvis")
    'coco+lvis'
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = [
    "atomic_write",
    "ensure_mode",
    "file_mode",
    "fsync_dir",
    "safe_file_stem",
    "temp_name",
]

_UMASK_LOCK = threading.Lock()
_UNSAFE = re.compile(r"[^A-Za-z0-9._+\-]+")


def _umask() -> int:
    with _UMASK_LOCK:  # os.umask can only be read by setting it
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode of a newly created ordinary file: ``0o666 & ~umask``."""
    return 0o666 & ~_umask()


def ensure_mode(path: str | os.PathLike[str]) -> None:
    """Give ``path`` the mode an ordinary write gets (some writers create files 0600)."""
    os.chmod(path, file_mode())


def temp_name(directory: Path, name: str) -> Path:
    """A hidden, unique temporary name beside ``name`` in ``directory``."""
    return directory / f".{name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"


def fsync_dir(directory: Path) -> None:
    """Make renames in ``directory`` durable (a no-op where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _cleanup_on_error(path: Path) -> Iterator[None]:
    try:
        yield
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise


def atomic_write(target: Path, write: Callable[[Path], None]) -> None:
    """Write ``target`` through a temporary file renamed into place, with ordinary modes.

    ``write(path)`` writes the content to ``path``; it is fsynced, given the umask mode
    and renamed over ``target``. On any error the temporary file is removed.
    """
    tmp = temp_name(target.parent, target.name)
    with _cleanup_on_error(tmp):
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        ensure_mode(tmp)
        os.replace(tmp, target)


def safe_file_stem(name: str) -> str:
    """A file-name stem made from a dataset name that stays inside its directory.

    Characters other than letters, digits, ``.``, ``_``, ``+`` and ``-`` become ``_``;
    leading dots and separators are dropped, so ``..``, ``/``, NUL and absolute paths
    can never leave the output directory. An empty result becomes ``dataset``.
    """
    stem = _UNSAFE.sub("_", name).strip("._-")
    return stem or "dataset"
