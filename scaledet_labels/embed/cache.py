"""A persistent, content-addressed store of prompt embeddings (SQLite, standard library).

Each row holds one prompt's raw embedding, keyed by ``(encoder fingerprint, exact prompt
text)``, so adding a dataset or a template encodes only prompts never seen before, and a
rebuild of anything already seen encodes nothing.

Location: ``$SCALEDET_CACHE``, else ``$XDG_CACHE_HOME/scaledet``, else
``platformdirs.user_cache_dir("scaledet")``; the file is ``prompt_embeddings.sqlite3``.

Guarantees:

* No pickle: vectors are raw little-endian float32 bytes with their dimension, a CRC-32
  over (fingerprint, prompt, dim, bytes) and the prompt's token count.
* Crash safety: WAL journal; writers commit in chunks as encoding proceeds, so a process
  killed mid-build leaves a cache that opens and holds every committed entry.
* Concurrency: several processes may build at once (each write transaction waits up to
  ``timeout`` for the lock; the first writer of a prompt wins and later builds read its
  vector, so results agree).
* Corruption: a file that is not this cache (foreign, truncated, garbage, malformed: what
  SQLite reports as such) is renamed aside (``*.broken-<time>-<pid>``) with a warning and
  a fresh cache is started; a row whose dimension, checksum or finiteness is wrong is
  dropped and re-encoded. Never a wrong vector.

Schema (version 1, ``PRAGMA application_id`` = ``0x5344454D``)::

    prompt_embeddings(fingerprint, prompt, dim, n_tokens, vector BLOB, checksum)
        UNIQUE (fingerprint, prompt)
    encoders(fingerprint PRIMARY KEY, description, dim, created)
    file_digests(path PRIMARY KEY, size, mtime_ns, sha256)   -- weight-hash memo
    results(key PRIMARY KEY, kind, fingerprint, data BLOB, sha256, meta, used)
        -- whole results (a label set's embeddings, a similarity matrix) keyed by the
        -- SHA-256 of everything that determines them; safetensors bytes; least recently
        -- used dropped beyond RESULTS_BUDGET bytes

The ``results`` table was added without a version change: older versions of the library
ignore it and create files this version opens.

Examples:
    >>> import tempfile, numpy as np
    >>> with PromptCache(tempfile.mkdtemp()) as cache:
    ...     _ = cache.put("enc-1", ["a dog"], np.ones((1, 3), np.float32), [3])
    ...     cache.lookup("enc-1", ["a dog", "a cat"]).prompts
    ['a dog']
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from scaledet_labels.errors import CacheError

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "CACHE_ENV",
    "DB_FILENAME",
    "CacheError",
    "CacheInfo",
    "CachedVectors",
    "EncoderEntry",
    "PromptCache",
    "cache_info",
    "clear_cache",
    "default_cache_dir",
    "resolve_cache_dir",
]

logger = logging.getLogger(__name__)

CACHE_ENV = "SCALEDET_CACHE"
DB_FILENAME = "prompt_embeddings.sqlite3"
APPLICATION_ID = 0x5344454D  # "SDEM"
SCHEMA_VERSION = 1
_OUR_TABLES = frozenset({"prompt_embeddings", "encoders", "file_digests", "results"})
RESULTS_BUDGET = 512 * 1024 * 1024  # bytes of whole results kept (least recently used go)
_CHUNK = 500  # SQL parameters per IN (...) query (when SQLite lacks json_each)
_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS prompt_embeddings (
    fingerprint TEXT NOT NULL,
    prompt TEXT NOT NULL,
    dim INTEGER NOT NULL,
    n_tokens INTEGER,
    vector BLOB NOT NULL,
    checksum INTEGER NOT NULL,
    UNIQUE (fingerprint, prompt)
);
CREATE TABLE IF NOT EXISTS encoders (
    fingerprint TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    dim INTEGER,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS file_digests (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    fingerprint TEXT,
    data BLOB NOT NULL,
    sha256 TEXT NOT NULL,
    meta TEXT NOT NULL,
    used REAL NOT NULL
);
"""


class _Unusable(Exception):
    """Internal: the database file is not a usable cache (set it aside)."""


# -- location --------------------------------------------------------------------------------
def default_cache_dir() -> Path:
    """``$SCALEDET_CACHE``, else ``$XDG_CACHE_HOME/scaledet``, else the platform's cache dir.

    Examples:
        >>> import os
        >>> os.environ["SCALEDET_CACHE"] = "/tmp/sd-cache"
        >>> str(default_cache_dir())
        '/tmp/sd-cache'
        >>> del os.environ["SCALEDET_CACHE"]
    """
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    if xdg:
        return Path(xdg).expanduser() / "scaledet"
    import platformdirs

    return Path(platformdirs.user_cache_dir("scaledet"))


def resolve_cache_dir(cache: bool | str | os.PathLike[str] | None = True) -> Path | None:
    """The cache directory for a ``cache=`` argument: ``True`` (default location),
    ``False`` (no cache: ``None``) or a directory.

    Raises:
        CacheError: Any other value.
    """
    if cache is True or cache is None:
        return default_cache_dir()
    if cache is False:
        return None
    if isinstance(cache, (str, os.PathLike)) and str(cache).strip():
        return Path(cache).expanduser()
    raise CacheError(f"cache must be True, False or a directory path, got {cache!r}")


# -- stats types -----------------------------------------------------------------------------
@dataclass(frozen=True)
class EncoderEntry:
    """Cached prompts of one encoder fingerprint."""

    fingerprint: str
    description: str
    dim: int | None
    entries: int


@dataclass(frozen=True)
class CacheInfo:
    """Where the cache is and what it holds (for ``scaledet-labels cache info``)."""

    path: Path
    exists: bool
    entries: int = 0
    size_bytes: int = 0
    encoders: tuple[EncoderEntry, ...] = ()


@dataclass(frozen=True)
class CachedVectors:
    """Result of :meth:`PromptCache.lookup`: the prompts found, their vectors and token
    counts (rows aligned)."""

    prompts: list[str]
    vectors: NDArray[np.float32]
    n_tokens: list[int | None] = field(default_factory=list)


# -- helpers ---------------------------------------------------------------------------------
def _is_corruption(exc: sqlite3.Error) -> bool:
    """Whether an sqlite error means a bad file (not a lock, a full disk or permissions)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        return False
    return isinstance(exc, sqlite3.DatabaseError)


def _checksum(fingerprint: str, prompt: str, dim: int, blob: bytes) -> int:
    head = f"{fingerprint}\x00{prompt}\x00{dim}\x00".encode()
    return zlib.crc32(blob, zlib.crc32(head))


# -- the cache -------------------------------------------------------------------------------
class PromptCache:
    """One SQLite cache file of prompt embeddings.

    Args:
        directory: The cache directory (created if missing).
        timeout: Seconds to wait for another process's write lock.

    Raises:
        CacheError: The directory cannot be created, or the cache was written by a newer
            version of scaledet-labels.
    """

    def __init__(self, directory: str | os.PathLike[str], *, timeout: float = 60.0) -> None:
        self._directory = Path(directory).expanduser()
        self._path = self._directory / DB_FILENAME
        self._timeout = float(timeout)
        self._conn: sqlite3.Connection | None = None
        try:
            self._directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(
                f"cannot create the cache directory {self._directory}: {exc}; pass "
                "cache=False, another directory, or set SCALEDET_CACHE"
            ) from None
        self._open()

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    @property
    def directory(self) -> Path:
        """The cache directory."""
        return self._directory

    def close(self) -> None:
        """Close the connection (safe to call twice)."""
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def __enter__(self) -> PromptCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PromptCache({str(self._directory)!r})"

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise CacheError(f"the cache {self._path} is closed")
        return self._conn

    def _open(self) -> None:
        """Connect; a file SQLite calls damaged, or a foreign database, is set aside."""
        try:
            self._connect()
        except (sqlite3.Error, _Unusable) as exc:
            if isinstance(exc, sqlite3.Error) and not _is_corruption(exc):
                self.close()
                raise CacheError(f"cannot open the cache {self._path}: {exc}") from None
            self._start_fresh(str(exc))
        except BaseException:
            self.close()
            raise

    def _connect(self) -> None:
        # ``timeout`` is SQLite's busy timeout: each statement waits that long for a lock.
        conn = sqlite3.connect(
            self._path, timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        self._conn = conn
        # One consistent snapshot of (application id, version, tables). Reading it is where
        # SQLite reports a file that is not a database, truncated or with a damaged schema
        # (SQLITE_NOTADB, SQLITE_CORRUPT); ``_open`` then closes, which rolls back.
        conn.execute("BEGIN")
        app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        conn.execute("COMMIT")
        if app_id == APPLICATION_ID:
            if version > SCHEMA_VERSION:
                raise CacheError(
                    f"the cache {self._path} was written by a newer scaledet-labels (schema "
                    f"{version} > {SCHEMA_VERSION}); upgrade, or use another cache directory"
                )
        elif app_id != 0 or not tables <= _OUR_TABLES:
            raise _Unusable(
                f"a foreign SQLite database (application id {app_id:#x}, tables "
                f"{sorted(tables)[:5]})"
            )
        mode = self._journal_wal(conn)
        if mode != "wal":  # pragma: no cover - e.g. file systems without shared memory
            logger.warning("the cache %s runs in %s journal mode, not WAL", self._path, mode)
        conn.execute("PRAGMA synchronous = NORMAL")

        def init(db: sqlite3.Connection) -> None:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

        if app_id != APPLICATION_ID or version < SCHEMA_VERSION or not tables >= _OUR_TABLES:
            self._write(init)

    def _journal_wal(self, conn: sqlite3.Connection) -> str:
        """Switch the file to WAL (a no-op once it is); returns the journal mode.

        The one retry in this module. Switching a new, rollback-journal file to WAL
        upgrades a read transaction to a write one, and SQLite never calls the busy handler
        for an upgrade (it could deadlock): while another connection holds the write lock,
        e.g. another process switching the same new file, the PRAGMA fails at once with
        SQLITE_BUSY ("database is locked"), whatever the busy timeout. Seen with processes
        opening a new cache together; retried here until ``timeout``.
        """
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    def _set_aside(self, reason: str) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        suffix = f".broken-{stamp}-{os.getpid()}"
        target = self._path.with_name(self._path.name + suffix)
        for extra in ("", "-wal", "-shm"):
            src = self._path.with_name(self._path.name + extra)
            if src.exists():
                try:
                    os.replace(src, target.with_name(target.name + extra))
                except OSError as exc:
                    raise CacheError(
                        f"the cache {self._path} is unusable ({reason}) and cannot be moved "
                        f"aside: {exc}; delete it or pass cache=False"
                    ) from None
        logger.warning(
            "the prompt-embedding cache %s is unusable (%s); moved it aside to %s and started "
            "a fresh cache",
            self._path,
            reason,
            target.name,
        )

    def _start_fresh(self, reason: str) -> None:
        """Set an unusable database aside and open a fresh one."""
        self.close()
        self._set_aside(reason)
        self._connect()

    def _write(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``fn`` in one write transaction.

        ``BEGIN IMMEDIATE`` takes the write lock up front, waiting for it through the busy
        timeout; it never upgrades a read lock (see :meth:`_journal_wal`), so it needs no
        retry.
        """
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            result = fn(db)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return result

    def _guarded(self, fn: Callable[[], _T], fallback: Callable[[], _T]) -> _T:
        """Run a cache operation; on corruption set the file aside and use ``fallback``."""
        try:
            return fn()
        except sqlite3.Error as exc:
            if not _is_corruption(exc):
                raise CacheError(f"the cache {self._path} failed: {exc}") from None
            self._start_fresh(str(exc))
            return fallback()

    # -- vectors ---------------------------------------------------------------------------
    def lookup(
        self, fingerprint: str, prompts: Sequence[str], *, dim: int | None = None
    ) -> CachedVectors:
        """Vectors cached for these prompts under ``fingerprint``; bad rows are dropped.

        Args:
            fingerprint: The encoder fingerprint.
            prompts: Prompts to look up (order kept among those found).
            dim: Expected dimension; rows of another dimension are dropped. When ``None``,
                the dimension most rows share is taken.
        """
        return self._guarded(
            lambda: self._lookup(fingerprint, prompts, dim),
            lambda: CachedVectors([], np.zeros((0, dim or 0), np.float32), []),
        )

    def _select(self, fingerprint: str, prompts: list[str]) -> list[Any]:
        """The rows of ``prompts``: one query with the prompts as a JSON array (SQLite's
        ``json_each``; about 6x faster than chunks of ``IN (?, ...)`` for 90k prompts), or
        chunked ``IN`` lists where SQLite was built without JSON support."""
        db = self._db
        columns = "SELECT prompt, dim, n_tokens, vector, checksum FROM prompt_embeddings"
        try:
            query = (
                f"{columns} WHERE fingerprint = ? AND prompt IN (SELECT value FROM json_each(?))"
            )
            return db.execute(query, (fingerprint, json.dumps(prompts))).fetchall()
        except sqlite3.OperationalError as exc:
            if "json_each" not in str(exc):
                raise
        rows: list[Any] = []
        for start in range(0, len(prompts), _CHUNK):
            part = prompts[start : start + _CHUNK]
            query = f"{columns} WHERE fingerprint = ? AND prompt IN ({','.join('?' * len(part))})"
            rows += db.execute(query, (fingerprint, *part)).fetchall()
        return rows

    def _lookup(self, fingerprint: str, prompts: Sequence[str], dim: int | None) -> CachedVectors:
        rows: dict[str, tuple[int, int | None, bytes, int]] = {}
        unique = list(dict.fromkeys(prompts))
        for prompt, d, n_tok, blob, crc in self._select(fingerprint, unique):
            rows[prompt] = (int(d), n_tok, bytes(blob), int(crc))
        if dim is None and rows:
            dims = [r[0] for r in rows.values()]
            dim = max(set(dims), key=dims.count)
        good: list[str] = []
        bad: list[str] = []
        for prompt in unique:
            row = rows.get(prompt)
            if row is None:
                continue
            d, _, blob, crc = row
            if d != dim or len(blob) != 4 * d or _checksum(fingerprint, prompt, d, blob) != crc:
                bad.append(prompt)
            else:
                good.append(prompt)
        width = dim or 0
        vectors = np.frombuffer(b"".join(rows[p][2] for p in good), dtype="<f4")
        vectors = vectors.reshape(len(good), width).astype(np.float32, copy=True)
        finite = np.isfinite(vectors).all(axis=1)
        if not finite.all():
            bad += [p for p, ok in zip(good, finite, strict=True) if not ok]
            good = [p for p, ok in zip(good, finite, strict=True) if ok]
            vectors = vectors[finite]
        if bad:
            logger.warning(
                "dropping %d bad cached vector(s) of %s (wrong dimension, checksum or "
                "non-finite values), e.g. %r; they will be re-encoded",
                len(bad),
                fingerprint,
                bad[0],
            )
            self.delete(fingerprint, bad)
        return CachedVectors(good, vectors, [rows[p][1] for p in good])

    def put(
        self,
        fingerprint: str,
        prompts: Sequence[str],
        vectors: NDArray[np.floating[Any]],
        n_tokens: Sequence[int | None] | None = None,
    ) -> list[str]:
        """Store vectors in one transaction; returns the prompts that were already cached
        (their stored vectors are kept: the first writer wins).

        Raises:
            CacheError: Shape mismatch or non-finite vectors.
        """
        array = np.asarray(vectors, dtype="<f4")
        if array.ndim != 2 or array.shape[0] != len(prompts):
            raise CacheError(f"put: {len(prompts)} prompts but vectors of shape {array.shape}")
        if not np.isfinite(array).all():
            raise CacheError("put: refusing to cache non-finite vectors")
        tokens = list(n_tokens) if n_tokens is not None else [None] * len(prompts)
        dim = int(array.shape[1])

        def insert(db: sqlite3.Connection) -> list[str]:
            existing: list[str] = []
            for prompt, row, n_tok in zip(prompts, array, tokens, strict=True):
                blob = row.tobytes()
                cursor = db.execute(
                    "INSERT OR IGNORE INTO prompt_embeddings "
                    "(fingerprint, prompt, dim, n_tokens, vector, checksum) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        fingerprint,
                        prompt,
                        dim,
                        n_tok,
                        blob,
                        _checksum(fingerprint, prompt, dim, blob),
                    ),
                )
                if cursor.rowcount == 0:
                    existing.append(prompt)
            return existing

        return self._guarded(lambda: self._write(insert), lambda: self._write(insert))

    def delete(self, fingerprint: str, prompts: Sequence[str]) -> int:
        """Delete some prompts of one fingerprint; returns how many rows went."""

        def remove(db: sqlite3.Connection) -> int:
            count = 0
            for prompt in prompts:
                count += db.execute(
                    "DELETE FROM prompt_embeddings WHERE fingerprint = ? AND prompt = ?",
                    (fingerprint, prompt),
                ).rowcount
            return count

        return self._guarded(lambda: self._write(remove), lambda: 0)

    def register_encoder(self, fingerprint: str, description: str, dim: int | None) -> None:
        """Record a human-readable description of a fingerprint (for :meth:`info`)."""

        def register(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR IGNORE INTO encoders (fingerprint, description, dim, created) "
                "VALUES (?, ?, ?, ?)",
                (fingerprint, description, dim, time.time()),
            )

        self._guarded(lambda: self._write(register), lambda: None)

    def has_encoder(self, fingerprint: str) -> bool:
        """Whether :meth:`register_encoder` saw this fingerprint."""
        return self._guarded(
            lambda: (
                self._db.execute(
                    "SELECT 1 FROM encoders WHERE fingerprint = ?", (fingerprint,)
                ).fetchone()
                is not None
            ),
            lambda: False,
        )

    # -- digest memo -----------------------------------------------------------------------
    def get_digest(self, path: str, size: int, mtime_ns: int) -> str | None:
        """The remembered SHA-256 of a file, if its size and mtime are unchanged."""
        row = self._guarded(
            lambda: self._db.execute(
                "SELECT sha256 FROM file_digests WHERE path = ? AND size = ? AND mtime_ns = ?",
                (path, size, mtime_ns),
            ).fetchone(),
            lambda: None,
        )
        return str(row[0]) if row else None

    def put_digest(self, path: str, size: int, mtime_ns: int, sha256: str) -> None:
        """Remember a file's SHA-256 for its current size and mtime."""

        def store(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO file_digests (path, size, mtime_ns, sha256) "
                "VALUES (?, ?, ?, ?)",
                (path, size, mtime_ns, sha256),
            )

        self._guarded(lambda: self._write(store), lambda: None)

    # -- whole results ---------------------------------------------------------------------
    def get_result(self, key: str) -> tuple[dict[str, NDArray[Any]], dict[str, Any]] | None:
        """The arrays and metadata stored under ``key``, or ``None``.

        A row whose bytes do not match their SHA-256, or that cannot be read back, is
        deleted and reported as missing (it is recomputed).
        """
        row = self._guarded(
            lambda: self._db.execute(
                "SELECT data, sha256, meta FROM results WHERE key = ?", (key,)
            ).fetchone(),
            lambda: None,
        )
        if row is None:
            return None
        data, digest, meta = bytes(row[0]), str(row[1]), str(row[2])
        try:
            if hashlib.sha256(data).hexdigest() != digest:
                raise ValueError("checksum mismatch")
            from safetensors.numpy import load

            arrays, info = load(data), json.loads(meta)
        except Exception as exc:  # any damage: drop the row, recompute
            logger.warning("dropping the damaged cached result %s (%s)", key[:16], exc)
            self._guarded(
                lambda: self._write(
                    lambda db: db.execute("DELETE FROM results WHERE key = ?", (key,))
                ),
                lambda: None,
            )
            return None
        self._guarded(
            lambda: self._write(
                lambda db: db.execute(
                    "UPDATE results SET used = ? WHERE key = ?", (time.time(), key)
                )
            ),
            lambda: None,
        )
        return arrays, info

    def put_result(
        self,
        key: str,
        kind: str,
        arrays: dict[str, NDArray[Any]],
        meta: dict[str, Any] | None = None,
        *,
        fingerprint: str | None = None,
        budget: int = RESULTS_BUDGET,
    ) -> bool:
        """Store whole-result arrays under ``key`` (kept when already there).

        Results larger than ``budget`` are not stored; beyond ``budget`` bytes in all,
        the least recently used results are deleted. Returns whether it was stored.
        """
        from safetensors.numpy import save

        data = save({name: np.ascontiguousarray(a) for name, a in arrays.items()})
        if len(data) > budget:
            return False
        row = (
            key,
            kind,
            fingerprint,
            data,
            hashlib.sha256(data).hexdigest(),
            json.dumps(meta or {}, sort_keys=True),
            time.time(),
        )

        def store(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR IGNORE INTO results (key, kind, fingerprint, data, sha256, meta, used) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            total = 0
            for old, size in db.execute(
                "SELECT key, length(data) FROM results ORDER BY used DESC"
            ).fetchall():
                total += int(size)
                if total > budget:
                    db.execute("DELETE FROM results WHERE key = ?", (old,))

        self._guarded(lambda: self._write(store), lambda: None)
        return True

    # -- maintenance -----------------------------------------------------------------------
    def info(self) -> CacheInfo:
        """Entries, size on disk and per-encoder counts."""

        def query() -> CacheInfo:
            db = self._db
            described = {
                fp: (desc, dim)
                for fp, desc, dim in db.execute(
                    "SELECT fingerprint, description, dim FROM encoders"
                )
            }
            encoders = []
            total = 0
            for fp, count, dim in db.execute(
                "SELECT fingerprint, COUNT(*), MIN(dim) FROM prompt_embeddings "
                "GROUP BY fingerprint ORDER BY fingerprint"
            ):
                desc = described.get(fp, ("", None))[0]
                encoders.append(EncoderEntry(fp, desc, int(dim), int(count)))
                total += int(count)
            return CacheInfo(self._path, True, total, _db_size(self._path), tuple(encoders))

        return self._guarded(query, lambda: CacheInfo(self._path, True))

    def clear(self, fingerprint: str | None = None) -> int:
        """Delete every entry, or those of one fingerprint; returns the rows deleted."""

        def remove(db: sqlite3.Connection) -> int:
            if fingerprint is None:
                count = db.execute("DELETE FROM prompt_embeddings").rowcount
                db.execute("DELETE FROM encoders")
                db.execute("DELETE FROM file_digests")
                db.execute("DELETE FROM results")
            else:
                count = db.execute(
                    "DELETE FROM prompt_embeddings WHERE fingerprint = ?", (fingerprint,)
                ).rowcount
                db.execute("DELETE FROM encoders WHERE fingerprint = ?", (fingerprint,))
                # results made from its vectors (label embeddings, and the similarity
                # matrices, which name the fingerprint of the embeddings they came from)
                db.execute("DELETE FROM results WHERE fingerprint = ?", (fingerprint,))
            return int(count)

        count = self._guarded(lambda: self._write(remove), lambda: 0)
        with contextlib.suppress(sqlite3.Error):  # give the space back when nobody is busy
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.execute("VACUUM")
        return count


def _db_size(path: Path) -> int:
    total = 0
    for extra in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            total += path.with_name(path.name + extra).stat().st_size
    return total


def cache_info(cache: bool | str | os.PathLike[str] | None = True) -> CacheInfo:
    """What the cache at ``cache`` (default location, or a directory) holds.

    A missing cache is reported as ``exists=False`` without creating it.

    Raises:
        CacheError: ``cache=False`` (there is nothing to inspect) or a bad value.
    """
    directory = resolve_cache_dir(cache)
    if directory is None:
        raise CacheError("cache=False names no cache to inspect")
    path = directory / DB_FILENAME
    if not path.exists():
        return CacheInfo(path, False)
    with PromptCache(directory) as store:
        return store.info()


def clear_cache(
    fingerprint: str | None = None, cache: bool | str | os.PathLike[str] | None = True
) -> int:
    """Delete all cached prompt embeddings, or those of one encoder fingerprint.

    Returns:
        The number of entries deleted (0 when there is no cache).
    """
    directory = resolve_cache_dir(cache)
    if directory is None or not (directory / DB_FILENAME).exists():
        return 0
    with PromptCache(directory) as store:
        return store.clear(fingerprint)
