"""A bundle's files: writing a bundle directory atomically, reading and verifying one.

A bundle is a directory::

    manifest.json           what was built and how (encoder, templates, recipe, hashes)
    labels.json             the label space (LabelSpace.to_json)
    labels.csv              the same labels as a table, for people
    embeddings.safetensors  "embeddings": (n, D) float32 unit rows, unified order
    similarity.safetensors  "similarity": dense (n, n)   -- or --
    similarity.npz          top-k CSR (data, indices, indptr, shape), no pickle

:func:`read_bundle` checks the schema, every file's SHA-256 and every shape, and refuses a
tampered or mismatched bundle. :func:`write_bundle` writes to a temporary directory beside
the target and renames it into place, so an interrupted save never leaves a half bundle
under the final name. Reading imports neither torch nor transformers.

This module knows files, not the :class:`~scaledet_labels.LabelSpaceBundle` class, which
calls it from :meth:`~scaledet_labels.LabelSpaceBundle.save` and
:func:`~scaledet_labels.load_bundle`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scaledet_labels.digests import sha256_file
from scaledet_labels.errors import BundleError
from scaledet_labels.vocab.label_space import LabelSpace

if TYPE_CHECKING:
    import numpy.typing as npt
    import pandas as pd

__all__ = [
    "BUNDLE_SCHEMA",
    "BUNDLE_VERSION",
    "arrays_hash",
    "labels_table",
    "read_bundle",
    "write_bundle",
]

BUNDLE_SCHEMA = "scaledet-labels/bundle"
BUNDLE_VERSION = 1
MANIFEST = "manifest.json"
_LABELS = "labels.json"
_TABLE = "labels.csv"
_EMBEDDINGS = "embeddings.safetensors"
_DENSE = "similarity.safetensors"
_SPARSE = "similarity.npz"


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


def write_bundle(
    path: str | os.PathLike[str],
    label_space: LabelSpace,
    embeddings: npt.NDArray[np.float32],
    similarity: Any,
    manifest: Mapping[str, Any],
    *,
    overwrite: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """Write a bundle directory atomically; returns its path and the manifest written.

    Raises:
        BundleError: ``path`` exists and ``overwrite`` is off, or is not a bundle.
    """
    from safetensors.numpy import save_file

    target = Path(path)
    if target.exists() and not overwrite:
        raise BundleError(f"{target}: already exists; pass overwrite=True")
    if target.exists() and not (target / MANIFEST).exists():
        raise BundleError(f"{target}: exists and is not a bundle; refusing to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        save_file({"embeddings": np.ascontiguousarray(embeddings)}, str(staging / _EMBEDDINGS))
        if isinstance(similarity, np.ndarray):
            save_file({"similarity": np.ascontiguousarray(similarity)}, str(staging / _DENSE))
            similarity_file = _DENSE
        else:
            np.savez(
                staging / _SPARSE,
                data=similarity.data,
                indices=similarity.indices,
                indptr=similarity.indptr,
                shape=np.array(similarity.shape, dtype=np.int64),
            )
            similarity_file = _SPARSE
        label_space.to_json(staging / _LABELS)
        labels_table(label_space).to_csv(staging / _TABLE, index=False)
        written = dict(manifest)
        written["schema"] = BUNDLE_SCHEMA
        written["version"] = BUNDLE_VERSION
        written["files"] = {
            name: {
                "sha256": sha256_file(staging / name),
                "bytes": (staging / name).stat().st_size,
            }
            for name in (_EMBEDDINGS, similarity_file, _LABELS, _TABLE)
        }
        (staging / MANIFEST).write_text(json.dumps(written, indent=1) + "\n", "utf-8")
        for item in staging.iterdir():
            with item.open("rb") as handle:
                os.fsync(handle.fileno())
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            old.rmdir()
            os.replace(target, old)
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target, written


def read_bundle(
    path: str | os.PathLike[str], *, verify: bool = True
) -> tuple[LabelSpace, npt.NDArray[np.float32], Any, dict[str, Any]]:
    """Read and check a bundle directory: ``(label_space, embeddings, similarity, manifest)``.

    Raises:
        BundleError: Missing or malformed files, a hash or shape mismatch, or a newer
            schema version.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    root = Path(path)
    if not (root / MANIFEST).is_file():
        raise BundleError(f"{root}: not a bundle directory (no {MANIFEST})")
    try:
        manifest = json.loads((root / MANIFEST).read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{root / MANIFEST}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != BUNDLE_SCHEMA:
        raise BundleError(f"{root}: not a scaledet-labels bundle (schema mismatch)")
    version = manifest.get("version")
    if not isinstance(version, int) or version > BUNDLE_VERSION:
        raise BundleError(
            f"{root}: bundle version {version!r} is newer than this library reads "
            f"({BUNDLE_VERSION}); upgrade scaledet-labels"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or _EMBEDDINGS not in files or _LABELS not in files:
        raise BundleError(f"{root}: manifest lists no bundle files")
    for name, info in files.items():
        file = root / name
        if not file.is_file():
            raise BundleError(f"{root}: missing file {name}")
        if verify and sha256_file(file) != info.get("sha256"):
            raise BundleError(
                f"{file}: content does not match the manifest's SHA-256 (modified or "
                "corrupted); rebuild the bundle"
            )
    try:
        space = LabelSpace.from_json(root / _LABELS)
        embeddings = load_file(str(root / _EMBEDDINGS))["embeddings"]
        if _SPARSE in files:
            import scipy.sparse

            with np.load(root / _SPARSE, allow_pickle=False) as npz:
                shape = tuple(int(v) for v in npz["shape"])
                similarity: Any = scipy.sparse.csr_matrix(
                    (npz["data"], npz["indices"], npz["indptr"]), shape=shape
                )
        elif _DENSE in files:
            similarity = load_file(str(root / _DENSE))["similarity"]
        else:
            raise BundleError(f"{root}: manifest lists no similarity file")
    except (KeyError, ValueError, OSError, SafetensorError) as exc:
        if isinstance(exc, BundleError):
            raise
        raise BundleError(f"{root}: unreadable bundle ({exc})") from None
    expected = manifest.get("arrays_hash")
    if verify and expected and arrays_hash(embeddings, similarity) != expected:
        raise BundleError(f"{root}: arrays do not match the manifest's content hash")
    if manifest.get("n_labels") not in (None, len(space)) or (
        manifest.get("dim") not in (None, embeddings.shape[-1])
    ):
        raise BundleError(
            f"{root}: manifest says {manifest.get('n_labels')} x {manifest.get('dim')}, files "
            f"hold {len(space)} labels x {embeddings.shape[-1]}"
        )
    return space, embeddings, similarity, manifest
