"""A bundle's files: writing a bundle directory safely, reading and verifying one.

A bundle is a directory::

    manifest.json                      what the bundle means (see bundle.manifest), sealed
    embeddings.<sha>.safetensors       "embeddings": (n, D) float32 unit rows, unified order
    similarity.<sha>.safetensors       "similarity": dense (n, n)   -- or --
    similarity.<sha>.npz               top-k CSR (data, indices, indptr, shape), no pickle
    labels.<sha>.json                  the label space (LabelSpace.to_json)
    labels.<sha>.csv                   the same labels as a table, for people
    .lock                              serialises writers (readers never take it)

Data files are immutable and named by their content (``<sha>`` = the first 16 hex digits
of their SHA-256); the manifest names them. A save writes the new data files beside the
old ones, then replaces ``manifest.json`` in one atomic ``os.replace``, then removes the
files no manifest names any more. Hence:

* a reader of the path sees the complete old bundle or the complete new one, never a mix
  (a reader that read the old manifest just before the swap retries with the new one);
* a save killed at any point leaves the old bundle (or, after the swap, the new one) at
  the path, never nothing; what it had written is removed by the next save;
* concurrent saves to one path are serialised by a lock on ``.lock`` (``fcntl.flock``):
  they all succeed, one after another, and the last one's bundle is what remains;
* files and directories get ordinary modes under the user's umask;
* a symlinked path is followed: the bundle it points to is updated.

:func:`read_bundle` validates the manifest's schema and seal, every file's SHA-256 (with
``verify=True``), every shape and dtype against the manifest, and refuses NaN or infinite
values. Reading imports neither torch nor transformers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scaledet_labels.bundle.files import atomic_write, ensure_mode, fsync_dir, temp_name
from scaledet_labels.bundle.manifest import (
    MANIFEST,
    bundle_identity,
    seal,
    validate,
    verify_seal,
)
from scaledet_labels.digests import sha256_file
from scaledet_labels.errors import BundleError, LabelSpaceError
from scaledet_labels.vocab.label_space import LabelSpace

if TYPE_CHECKING:
    import numpy.typing as npt
    import pandas as pd

__all__ = [
    "BUNDLE_SCHEMA",
    "BUNDLE_VERSION",
    "arrays_hash",
    "check_bundle_path",
    "labels_table",
    "read_bundle",
    "save_csr",
    "write_bundle",
    "write_labels_csv",
]

logger = logging.getLogger(__name__)

BUNDLE_SCHEMA = "scaledet-labels/bundle"
BUNDLE_VERSION = 2
_LOCK = ".lock"
#: Names this package writes inside a bundle directory (anything else is left alone).
_OURS = re.compile(
    r"^(manifest\.json|\.lock|\..*\.tmp-\d+-[0-9a-f]+"
    r"|(embeddings|similarity|labels)(\.[0-9a-f]{16})?\.(safetensors|npz|json|csv))$"
)
_LEGACY_COPY = re.compile(r"^\..+\.(tmp|old)-[A-Za-z0-9_]+$")
_READ_ATTEMPTS = 5
#: A first save without a manifest this long after it started is abandoned, not running.
_ABANDONED_AFTER_S = 60.0
#: A step of a save, for tests that inject a crash between any two of them.
_STEP_HOOK: Any = None


def _step(name: str) -> None:
    if _STEP_HOOK is not None:
        _STEP_HOOK(name)


def arrays_hash(embeddings: npt.NDArray[Any], similarity: Any) -> str:
    """SHA-256 over the numbers of the embeddings and the similarity (dense or CSR)."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(embeddings, dtype=np.float32).tobytes())
    if isinstance(similarity, np.ndarray):
        digest.update(str(similarity.dtype).encode())
        digest.update(np.ascontiguousarray(similarity).tobytes())
    else:
        for part in (similarity.data, similarity.indices, similarity.indptr):
            digest.update(np.ascontiguousarray(part).tobytes())
    return digest.hexdigest()


def labels_table(space: LabelSpace) -> pd.DataFrame:
    """The label space as a flat table for CSV: list columns joined with ``|``.

    ``|`` is the synonym separator :func:`~scaledet_labels.load_vocabulary` reads back.

    Examples:
        >>> from scaledet_labels import LabelSpace
        >>> labels_table(LabelSpace.union(["cat, dog"])).name.tolist()
        ['cat', 'dog']
    """
    frame = space.to_frame()
    for column in ("synonyms", "sources"):
        frame[column] = frame[column].map("|".join)
    return frame


LABEL_COLUMNS = (
    "index",
    "dataset",
    "local_index",
    "id",
    "name",
    "clean_name",
    "synonyms",
    "sources",
)


def write_labels_csv(
    space: LabelSpace, path: str | os.PathLike[str], indices: Iterable[Any] | None = None
) -> None:
    """Write :func:`labels_table` (of ``indices`` only, when given) as CSV, without pandas.

    The same columns and cells as ``labels_table(space).to_csv(path, index=False)``
    (a missing id is an empty cell); written with the standard library's ``csv`` module
    because importing pandas costs a bundle save about 0.15 s and 50 MB.

    Examples:
        >>> import tempfile, pathlib
        >>> from scaledet_labels import LabelSpace
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels.csv"
        >>> write_labels_csv(LabelSpace.union(["cat, dog"]), path)
        >>> path.read_text().splitlines()[1]
        '0,custom,0,1,cat,cat,,custom:0'
    """
    import csv

    labels = space.labels if indices is None else [space[int(i)] for i in indices]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(LABEL_COLUMNS)
        writer.writerows(
            (
                u.index,
                u.dataset,
                u.local_index,
                "" if u.id is None else u.id,
                u.name,
                u.clean_name,
                "|".join(u.synonyms),
                "|".join(f"{dataset}:{label.index}" for dataset, label in u.sources),
            )
            for u in labels
        )


def save_csr(path: Path, matrix: Any) -> None:
    """A CSR matrix as ``.npz`` of plain arrays (``data``, ``indices``, ``indptr``,
    ``shape``), no pickle; the file is written as named (no suffix added)."""
    with open(path, "wb") as handle:
        np.savez(
            handle,
            data=matrix.data,
            indices=matrix.indices,
            indptr=matrix.indptr,
            shape=np.array(matrix.shape, dtype=np.int64),
        )


# -- writing ---------------------------------------------------------------------------------
@contextlib.contextmanager
def _writer_lock(directory: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``directory/.lock`` (writers only)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: saves are not serialised
        yield
        return
    fd = os.open(directory / _LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _is_ours(directory: Path) -> bool:
    """An existing directory a save may write into: a bundle, or an interrupted first save."""
    if (directory / MANIFEST).is_file():
        return True
    return all(_OURS.match(entry.name) for entry in directory.iterdir())


def _only_ours(directory: Path) -> bool:
    return all(_OURS.match(entry.name) for entry in directory.iterdir())


def _abandoned(directory: Path) -> bool:
    """A first save killed before its manifest: our files, a lock nobody holds, no manifest."""
    lock = directory / _LOCK
    if (directory / MANIFEST).exists() or not lock.is_file():
        return False
    if time.time() - lock.stat().st_mtime < _ABANDONED_AFTER_S or not _only_ours(directory):
        return False
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: never guess
        return False
    fd = os.open(directory / _LOCK, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # a save is writing it right now
    finally:
        os.close(fd)
    return True


def _sweep_parent(parent: Path, target: Path) -> None:
    """Remove what interrupted saves left in ``parent``: first saves killed before their
    manifest, and the ``.NAME.tmp-*`` / ``.NAME.old-*`` copies of format-1 saves. Only
    directories that hold nothing but files this module writes are touched."""
    with contextlib.suppress(OSError):
        for entry in parent.iterdir():
            if entry == target or entry.is_symlink() or not entry.is_dir():
                continue
            legacy = _LEGACY_COPY.match(entry.name) is not None
            with contextlib.suppress(OSError):
                if (legacy and _only_ours(entry)) or (not legacy and _abandoned(entry)):
                    shutil.rmtree(entry, ignore_errors=True)


def _write_data_file(directory: Path, role: str, suffix: str, write: Any) -> tuple[str, int, str]:
    """Write one immutable data file named by its content; returns (name, bytes, sha256)."""
    tmp = temp_name(directory, f"{role}{suffix}")
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        digest = sha256_file(tmp)
        name = f"{role}.{digest[:16]}{suffix}"
        size = tmp.stat().st_size
        ensure_mode(tmp)
        _step(f"written:{role}{suffix}")
        os.replace(tmp, directory / name)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return name, size, digest


def _collect_garbage(directory: Path, keep: set[str]) -> None:
    """Remove our files that the current manifest does not name (and stale temp files)."""
    for entry in directory.iterdir():
        if entry.name in keep or entry.name in (MANIFEST, _LOCK) or not _OURS.match(entry.name):
            continue
        with contextlib.suppress(OSError):
            entry.unlink()
            _step("garbage")


def _named_by_manifest(directory: Path) -> set[str] | None:
    try:
        files = json.loads((directory / MANIFEST).read_text("utf-8")).get("files")
    except (OSError, ValueError, AttributeError):
        return None
    return set(files) if isinstance(files, dict) else None


@contextlib.contextmanager
def _tidy_on_failure(directory: Path, created: bool) -> Iterator[None]:
    """On an error (not a kill), remove what the failed save wrote.

    The bundle at the path is untouched: a save fails before its manifest replaces the old
    one, or after, when the new bundle is complete. A first save that created the
    directory removes it again.
    """
    try:
        yield
    except BaseException:
        keep = _named_by_manifest(directory)
        if keep is not None:
            _collect_garbage(directory, keep)
        elif created:
            shutil.rmtree(directory, ignore_errors=True)
        raise


def _refuse_foreign(target: Path, directory: Path) -> None:
    """Refuse a path that holds a file, or a directory that is not a bundle."""
    if directory.exists() and not directory.is_dir():
        raise BundleError(f"{target}: exists and is not a directory; refusing to replace it")
    if directory.is_dir() and not _is_ours(directory):
        raise BundleError(f"{target}: exists and is not a bundle; refusing to replace it")


def _name_max(directory: Path) -> int:
    try:
        return int(os.pathconf(directory, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):  # pragma: no cover - not POSIX
        return 255


def check_bundle_path(path: str | os.PathLike[str]) -> Path:
    """Check, writing nothing, that a bundle can be saved at ``path``; returns it.

    Call it before expensive work (encoding) whose result is to be saved there. It refuses
    what :func:`write_bundle` would refuse, and what the file system would: a path that
    holds a file or a directory that is not a bundle, a name longer than the file system
    allows (``NAME_MAX``, 255 bytes on most), a parent that is a file, or a directory
    that cannot be written.

    Raises:
        BundleError: The bundle could not be saved at ``path``; the message says why.

    Examples:
        >>> import tempfile
        >>> check_bundle_path(tempfile.mkdtemp() + "/labelspaces/coco+voc").name
        'coco+voc'
    """
    target = Path(path)
    existing = Path(os.path.abspath(target))
    while not os.path.exists(existing) and existing != existing.parent:  # False if too long
        existing = existing.parent
    limit = _name_max(existing)
    for part in Path(os.path.abspath(target)).parts:
        size = len(os.fsencode(part))
        if size > limit:
            raise BundleError(
                f"{target}: the name {part[:40]!r}... is {size} bytes, longer than the file "
                f"system allows ({limit}); choose a shorter path"
            )
    directory = target.resolve() if target.is_symlink() else target
    _refuse_foreign(target, directory)
    if not existing.is_dir():
        raise BundleError(f"{target}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BundleError(f"{target}: cannot write in {existing} (permission denied)")
    return target


def write_bundle(
    path: str | os.PathLike[str],
    label_space: LabelSpace,
    embeddings: npt.NDArray[np.float32],
    similarity: Any,
    manifest: Mapping[str, Any],
    *,
    overwrite: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """Write (or replace) a bundle directory safely; returns its path and the manifest.

    See the module docs for the guarantees.

    Raises:
        BundleError: ``path`` holds a bundle and ``overwrite`` is off, or is a file or a
            directory that is not a bundle.
    """
    from safetensors.numpy import save_file

    target = Path(path)
    directory = target.resolve() if target.is_symlink() else target
    _refuse_foreign(target, directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    _sweep_parent(directory.parent, directory)
    created = False
    with contextlib.suppress(FileExistsError):
        os.mkdir(directory)  # ordinary mode under the umask
        created = True
    _step("directory")
    with _writer_lock(directory), _tidy_on_failure(directory, created):
        if (directory / MANIFEST).is_file() and not overwrite:
            raise BundleError(f"{target}: already exists; pass overwrite=True")
        files: dict[str, dict[str, Any]] = {}
        roles: dict[str, str] = {}

        def add(role: str, prefix: str, suffix: str, write: Any) -> None:
            name, size, digest = _write_data_file(directory, prefix, suffix, write)
            files[name] = {"sha256": digest, "bytes": size}
            roles[role] = name
            _step(f"file:{role}")

        add(
            "embeddings",
            "embeddings",
            ".safetensors",
            lambda p: save_file({"embeddings": np.ascontiguousarray(embeddings)}, str(p)),
        )
        if isinstance(similarity, np.ndarray):
            add(
                "similarity",
                "similarity",
                ".safetensors",
                lambda p: save_file({"similarity": np.ascontiguousarray(similarity)}, str(p)),
            )
        else:
            add("similarity", "similarity", ".npz", lambda p: save_csr(p, similarity))
        add("labels", "labels", ".json", lambda p: label_space.to_json(p, indent=None))
        add("table", "labels", ".csv", lambda p: write_labels_csv(label_space, p))
        body = {k: v for k, v in manifest.items() if k not in ("digests", "manifest_sha256")}
        body.update(
            schema=BUNDLE_SCHEMA,
            version=BUNDLE_VERSION,
            files=files,
            roles=roles,
        )
        written = seal(body)
        text = json.dumps(written, indent=1, ensure_ascii=False) + "\n"
        fsync_dir(directory)
        _step("manifest:before")
        atomic_write(directory / MANIFEST, lambda p: _write_text(p, text))
        fsync_dir(directory)
        _step("manifest:after")
        _collect_garbage(directory, set(files))
    return target, written


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, "utf-8")


# -- reading ---------------------------------------------------------------------------------
def _read_manifest(root: Path) -> tuple[bytes, dict[str, Any]]:
    file = root / MANIFEST
    if not file.is_file():
        raise BundleError(f"{root}: not a bundle directory (no {MANIFEST})")
    raw = file.read_bytes()
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{file}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != BUNDLE_SCHEMA:
        raise BundleError(f"{root}: not a scaledet-labels bundle (schema mismatch)")
    version = manifest.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version > BUNDLE_VERSION:
        raise BundleError(
            f"{root}: bundle version {version!r} is newer than this library reads "
            f"({BUNDLE_VERSION}); upgrade scaledet-labels"
        )
    validate(manifest, str(root))
    if version >= 2 or "manifest_sha256" in manifest or "digests" in manifest:
        verify_seal(manifest, str(root))
        if bundle_identity(manifest) != manifest["identity"]:
            raise BundleError(
                f"{file}: 'identity' does not match the labels, encoder, templates and "
                "options it names; rebuild the bundle"
            )
    else:
        logger.warning(
            "%s was written by scaledet-labels 0.1, before manifests were sealed: edits to "
            "its manifest cannot be detected; rebuild it to protect it",
            root,
        )
    return raw, manifest


def _role_file(manifest: Mapping[str, Any], role: str, root: Path) -> str:
    roles = manifest.get("roles")
    if isinstance(roles, dict):
        name = roles.get(role)
        if not isinstance(name, str) or name not in manifest["files"]:
            raise BundleError(f"{root}/{MANIFEST}: 'roles.{role}' names no listed file")
        return name
    legacy = {  # version 1 bundles: fixed names
        "embeddings": ("embeddings.safetensors",),
        "similarity": ("similarity.npz", "similarity.safetensors"),
        "labels": ("labels.json",),
        "table": ("labels.csv",),
    }[role]
    for name in legacy:
        if name in manifest["files"]:
            return name
    raise BundleError(f"{root}/{MANIFEST}: lists no {role} file")


def _load_arrays(
    root: Path, manifest: Mapping[str, Any], verify: bool
) -> tuple[LabelSpace, npt.NDArray[np.float32], Any]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    for name, info in manifest["files"].items():
        file = root / name
        if not file.is_file():
            raise FileNotFoundError(f"{root}: missing file {name}")
        if verify and sha256_file(file) != info["sha256"]:
            raise _Mismatch(
                f"{file}: content does not match the manifest's SHA-256 (modified or "
                "corrupted); rebuild the bundle"
            )
    try:
        space = LabelSpace.from_json(root / _role_file(manifest, "labels", root))
        embeddings = load_file(str(root / _role_file(manifest, "embeddings", root)))["embeddings"]
        sim_name = _role_file(manifest, "similarity", root)
        if sim_name.endswith(".npz"):
            import scipy.sparse

            with np.load(root / sim_name, allow_pickle=False) as npz:
                shape = tuple(int(v) for v in npz["shape"])
                similarity: Any = scipy.sparse.csr_matrix(
                    (npz["data"], npz["indices"], npz["indptr"]), shape=shape
                )
        else:
            similarity = load_file(str(root / sim_name))["similarity"]
    except FileNotFoundError:
        raise
    except (KeyError, ValueError, OSError, SafetensorError, LabelSpaceError) as exc:
        if isinstance(exc, BundleError):
            raise
        raise BundleError(f"{root}: unreadable bundle ({exc})") from None
    return space, embeddings, similarity


class _Mismatch(BundleError):
    """A file does not match the manifest (maybe replaced by a concurrent save)."""


def _check_contents(
    root: Path, manifest: Mapping[str, Any], space: LabelSpace, embeddings: Any, similarity: Any
) -> None:
    where = f"{root}/{MANIFEST}"
    n, dim = manifest["n_labels"], manifest["dim"]
    if len(space) != n or embeddings.ndim != 2 or embeddings.shape != (n, dim):
        raise BundleError(
            f"{root}: manifest says {n} x {dim}, files hold {len(space)} labels x "
            f"{embeddings.shape[-1] if embeddings.ndim else '?'}"
        )
    if embeddings.dtype != np.float32:
        raise BundleError(f"{root}: embeddings are {embeddings.dtype}, expected float32")
    sim = manifest["similarity"]
    sparse = not isinstance(similarity, np.ndarray)
    if tuple(similarity.shape) != (n, n):
        raise BundleError(f"{root}: similarity has shape {similarity.shape}, expected ({n}, {n})")
    if sparse != bool(sim["topk"]):
        raise BundleError(
            f"{where}: 'similarity.topk' is {sim['topk']!r} but the file holds a "
            f"{'sparse' if sparse else 'dense'} matrix"
        )
    values = similarity.data if sparse else similarity
    if str(values.dtype) != sim["dtype"]:
        raise BundleError(
            f"{where}: 'similarity.dtype' is {sim['dtype']!r} but the file holds {values.dtype}"
        )
    if not np.isfinite(embeddings).all():
        raise BundleError(f"{root}: embeddings contain NaN or infinite values")
    if not np.isfinite(values).all():
        raise BundleError(f"{root}: the similarity contains NaN or infinite values")
    if space.content_hash() != manifest["label_space_hash"]:
        raise BundleError(f"{where}: 'label_space_hash' does not match the labels file")
    datasets = [(d["name"], d["count"]) for d in manifest["datasets"]]
    if datasets != [(v.name, len(v)) for v in space.vocabularies]:
        raise BundleError(f"{where}: 'datasets' does not match the labels file")


def read_bundle(
    path: str | os.PathLike[str], *, verify: bool = True
) -> tuple[LabelSpace, npt.NDArray[np.float32], Any, dict[str, Any]]:
    """Read and check a bundle directory: ``(label_space, embeddings, similarity, manifest)``.

    Args:
        path: The bundle directory.
        verify: Hash every data file and compare with the manifest (default). The
            manifest's schema, seal and identity, shapes, dtypes and finiteness are
            always checked.

    Raises:
        BundleError: Missing or malformed files, an edited manifest, a hash, shape or
            dtype mismatch, non-finite values, or a newer schema version.
    """
    root = Path(path)
    for attempt in range(_READ_ATTEMPTS):
        raw, manifest = _read_manifest(root)
        try:
            space, embeddings, similarity = _load_arrays(root, manifest, verify)
        except (FileNotFoundError, _Mismatch) as exc:
            # A save may have replaced the bundle between reading the manifest and its
            # files: read again if the manifest changed, else the bundle is damaged.
            changed = (root / MANIFEST).is_file() and (root / MANIFEST).read_bytes() != raw
            if changed and attempt < _READ_ATTEMPTS - 1:
                continue
            raise BundleError(str(exc).splitlines()[0]) from None
        break
    if verify and manifest.get("arrays_hash") != arrays_hash(embeddings, similarity):
        raise BundleError(f"{root}: arrays do not match the manifest's content hash")
    _check_contents(root, manifest, space, embeddings, similarity)
    return space, embeddings, similarity, manifest
