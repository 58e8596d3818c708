"""SHA-256 of files, remembered so that large weight files are hashed once per change.

Encoder fingerprints name the exact weight and tokenizer files they were computed from.
Hashing a 600 MB CLIP checkpoint takes about a second, so :func:`file_digest` remembers
each digest by ``(path, size, mtime_ns)``: for the process, and in a persistent
:class:`DigestMemo` when the caller passes one (the prompt-embedding cache is one), so a
fully cached build in a new process hashes nothing.

Examples:
    >>> import tempfile
    >>> f = tempfile.NamedTemporaryFile(delete=False); _ = f.write(b"x"); f.close()
    >>> file_digest(f.name)[:12]
    '2d711642b726'
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Protocol

from scaledet_labels.errors import ScaleDetError

__all__ = ["DigestMemo", "file_digest", "sha256_file"]

logger = logging.getLogger(__name__)

_DIGESTS: dict[tuple[str, int, int], str] = {}


class DigestMemo(Protocol):
    """A persistent store of file digests keyed by path, size and modification time."""

    def get_digest(self, path: str, size: int, mtime_ns: int) -> str | None:
        """The remembered SHA-256 of a file, if its size and mtime are unchanged."""
        ...

    def put_digest(self, path: str, size: int, mtime_ns: int, sha256: str) -> None:
        """Remember a file's SHA-256 for its current size and mtime."""
        ...


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_digest(path: str | os.PathLike[str], memo: DigestMemo | None = None) -> str:
    """SHA-256 (hex) of a file, remembered by ``(path, size, mtime_ns)``.

    Args:
        path: The file.
        memo: A persistent store to consult and fill (optional). It is an optimisation:
            a memo that fails is logged and ignored, never an error.
    """
    resolved = Path(path).resolve()
    st = resolved.stat()
    key = (str(resolved), int(st.st_size), int(st.st_mtime_ns))
    found = _DIGESTS.get(key)
    if found:
        return found
    if memo is not None:
        try:
            found = memo.get_digest(*key)
        except ScaleDetError as exc:
            logger.debug("digest memo unavailable: %s", exc)
            memo = None
        if found:
            _DIGESTS[key] = found
            return found
    digest = sha256_file(resolved)
    _DIGESTS[key] = digest
    if memo is not None:
        try:
            memo.put_digest(*key, digest)
        except ScaleDetError as exc:
            logger.debug("could not remember the digest of %s: %s", resolved, exc)
    return digest
