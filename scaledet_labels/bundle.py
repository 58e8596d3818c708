"""Built label spaces on disk: labels, embeddings, similarity and a manifest.

A bundle is a directory::

    manifest.json           what was built and how (encoder, templates, recipe, hashes)
    labels.json             the label space (LabelSpace.to_json)
    labels.csv              the same labels as a table, for people
    embeddings.safetensors  "embeddings": (n, D) float32 unit rows, unified order
    similarity.safetensors  "similarity": dense (n, n)   -- or --
    similarity.npz          top-k CSR (data, indices, indptr, shape), no pickle

:func:`load` checks the schema, every file's SHA-256 and every shape, and refuses a
tampered or mismatched bundle. :meth:`LabelSpaceBundle.save` writes to a temporary
directory beside the target and renames it into place, so an interrupted save never
leaves a half bundle under the final name. Loading imports neither torch nor transformers.

Examples:
    >>> import numpy as np, tempfile
    >>> from scaledet_labels import LabelSpace, build_label_space, load
    >>> space = LabelSpace.union(["a, b", "c, d"], names=["x", "y"])
    >>> emb = np.eye(4, 8, dtype=np.float32)
    >>> bundle = build_label_space(space, precomputed={"x": emb[:2], "y": emb[2:]})
    >>> path = bundle.save(tempfile.mkdtemp() + "/demo")
    >>> load(path).classifier("y").shape
    (2, 8)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scaledet_labels.errors import ScaleDetError
from scaledet_labels.label_space import LabelSpace, UnifiedLabel

if TYPE_CHECKING:
    import numpy.typing as npt
    import pandas as pd
    import scipy.sparse

__all__ = ["BUNDLE_SCHEMA", "BundleError", "LabelSpaceBundle", "load"]

BUNDLE_SCHEMA = "scaledet-labels/bundle"
BUNDLE_VERSION = 1
_MANIFEST = "manifest.json"
_LABELS = "labels.json"
_TABLE = "labels.csv"
_EMBEDDINGS = "embeddings.safetensors"
_DENSE = "similarity.safetensors"
_SPARSE = "similarity.npz"


class BundleError(ScaleDetError, ValueError):
    """A bundle is missing, malformed, tampered with, or cannot do what was asked."""


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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


class LabelSpaceBundle:
    """A label space with its label embeddings, similarity matrix and manifest.

    Made by :func:`~scaledet_labels.build_label_space` or :func:`load`.

    Attributes:
        label_space: The :class:`~scaledet_labels.LabelSpace`.
        embeddings: ``(n, D)`` float32 unit rows in unified order.
        similarity: Dense ``(n, n)`` array or ``scipy.sparse.csr_matrix`` (top-k).
        manifest: What was built and how (see the module docs).
    """

    def __init__(
        self,
        label_space: LabelSpace,
        embeddings: npt.NDArray[np.float32],
        similarity: npt.NDArray[Any] | scipy.sparse.csr_matrix,
        manifest: Mapping[str, Any],
    ) -> None:
        n = len(label_space)
        if embeddings.ndim != 2 or embeddings.shape[0] != n:
            raise BundleError(
                f"embeddings have shape {embeddings.shape}, expected ({n}, D) for {n} labels"
            )
        if tuple(similarity.shape) != (n, n):
            raise BundleError(f"similarity has shape {similarity.shape}, expected ({n}, {n})")
        self.label_space = label_space
        self.embeddings = embeddings
        self.similarity = similarity
        self.manifest = dict(manifest)

    def __repr__(self) -> str:
        encoder = self.manifest.get("encoder", {}).get("spec")
        return (
            f"LabelSpaceBundle({len(self.label_space)} labels x {self.dim}, "
            f"datasets={list(self.label_space.datasets)}, encoder={encoder!r})"
        )

    @property
    def dim(self) -> int:
        """Embedding dimension D."""
        return int(self.embeddings.shape[1])

    @property
    def is_sparse(self) -> bool:
        """True when the similarity is a top-k CSR matrix."""
        return not isinstance(self.similarity, np.ndarray)

    # -- test-time label spaces ----------------------------------------------------------
    def dataset_indices(self, dataset: str | int) -> npt.NDArray[np.int64]:
        """Unified indices of one dataset's labels, in that dataset's order.

        This is the small protocol :meth:`scaledet_loss.ScaleDetLoss.from_bundle` uses to
        restrict the loss to one dataset.
        """
        return self.label_space.indices(dataset)

    def classifier(self, dataset: str | int | None = None) -> npt.NDArray[np.float32]:
        """Label embeddings of one dataset in its own label order (or all, unified order).

        This is the test-time label-space replacement of the paper: classify regions by
        cosine against these rows.

        Examples:
            >>> bundle.classifier("coco").shape  # doctest: +SKIP
            (80, 384)
        """
        if dataset is None:
            return self.embeddings
        return np.ascontiguousarray(self.embeddings[self.label_space.indices(dataset)])

    def encode_vocabulary(
        self, vocabulary: Any, *, device: str = "auto", cache: bool | str = True
    ) -> npt.NDArray[np.float32]:
        """Embed any vocabulary (seen or unseen) with this bundle's encoder and templates.

        Args:
            vocabulary: Anything :func:`~scaledet_labels.load_vocabulary` accepts.
            device: Where to run the encoder.
            cache: The prompt-embedding cache (see :func:`~scaledet_labels.embed_labels`).

        Raises:
            BundleError: The bundle was built without a reloadable encoder (precomputed
                embeddings or a Python callable), or the encoder's weights changed.
        """
        spec = self.manifest.get("encoder", {}).get("spec")
        if not isinstance(spec, str):
            raise BundleError(
                "this bundle has no reloadable encoder (it was built from precomputed "
                "embeddings or a Python callable); encode new names with the same model "
                "yourself"
            )
        from scaledet_labels.embeddings import embed_labels
        from scaledet_labels.encoders import load_encoder
        from scaledet_labels.registry import load_vocabulary

        encoder = load_encoder(spec, device=device)
        expected = self.manifest["encoder"].get("fingerprint")
        if expected and encoder.fingerprint != expected:
            raise BundleError(
                f"encoder {spec!r} now has fingerprint {encoder.fingerprint[:12]}..., but the "
                f"bundle was built with {str(expected)[:12]}...; its weights or tokenizer "
                "changed, so new embeddings would not be comparable"
            )
        vocab = load_vocabulary(vocabulary)
        result = embed_labels(
            vocab,
            encoder=encoder,
            templates=list(self.manifest["templates"]),
            synonyms=bool(self.manifest.get("synonyms", True)),
            cache=cache,
            progress=False,
        )
        return np.array(result.embeddings)  # a writable copy (the result's rows are read-only)

    # -- neighbours ----------------------------------------------------------------------
    def _query_vector(self, query: str | int) -> tuple[npt.NDArray[np.float32], int | None]:
        space = self.label_space
        if isinstance(query, (int, np.integer)) and not isinstance(query, bool):
            index = int(query)
            if not 0 <= index < len(space):
                raise BundleError(f"label index {index} is out of range 0..{len(space) - 1}")
            return self.embeddings[index], index
        if not isinstance(query, str) or not query.strip():
            raise BundleError(f"query must be a label, free text or an index, got {query!r}")
        dataset, sep, name = query.partition(":")
        if sep and dataset in space.datasets:
            label = space.find(name, dataset=dataset)
            return self.embeddings[label.index], label.index
        for ds in space.datasets:
            try:
                label = space.find(query, dataset=ds)
            except ValueError:
                continue
            return self.embeddings[label.index], label.index
        return self.encode_vocabulary([query])[0], None

    def neighbors(
        self,
        query: str | int,
        k: int = 10,
        *,
        datasets: Sequence[str] | str | None = None,
    ) -> pd.DataFrame:
        """The ``k`` labels nearest to a label (``"dataset:name"``, a name, an index) or text.

        A query that names a label uses its stored embedding and leaves the label itself
        out of the answer; any other text is embedded with the bundle's encoder.

        Args:
            query: ``"coco:person"``, ``"person"`` (first dataset that has it), an int
                unified index, or free text.
            k: How many neighbours.
            datasets: Only look in these datasets.

        Returns:
            A DataFrame: rank, index, dataset, id, name, clean_name, cosine.
        """
        import pandas as pd

        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise BundleError(f"k must be a positive integer, got {k!r}")
        vector, own = self._query_vector(query)
        candidates = self._candidates(datasets)
        if own is not None:
            candidates = candidates[candidates != own]
        scores = self.embeddings[candidates] @ vector
        order = np.argsort(-scores, kind="stable")[:k]
        rows = []
        for rank, position in enumerate(order, start=1):
            label = self.label_space[int(candidates[position])]
            rows.append(_label_row(label) | {"rank": rank, "cosine": float(scores[position])})
        columns = ["rank", "index", "dataset", "id", "name", "clean_name", "cosine"]
        return pd.DataFrame(rows, columns=columns)

    def _candidates(self, datasets: Sequence[str] | str | None) -> npt.NDArray[np.int64]:
        space = self.label_space
        if datasets is None:
            return np.arange(len(space), dtype=np.int64)
        names = [datasets] if isinstance(datasets, str) else list(datasets)
        mask = np.zeros(len(space), dtype=bool)
        for name in names:
            mask |= space.mask(name)
        return np.flatnonzero(mask).astype(np.int64)

    def relations(self, k: int = 1) -> pd.DataFrame:
        """Each label's ``k`` nearest labels in every other dataset, as a DataFrame.

        Columns: index, dataset, name, other_dataset, rank, other_index, other_name, cosine.
        """
        import pandas as pd

        space = self.label_space
        rows = []
        for ds in space.datasets:
            own = space.indices(ds)
            for other in space.datasets:
                if other == ds:
                    continue
                theirs = space.indices(other)
                scores = self.embeddings[own] @ self.embeddings[theirs].T
                top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
                for row, u in enumerate(own):
                    for rank, col in enumerate(top[row], start=1):
                        rows.append(
                            {
                                "index": int(u),
                                "dataset": ds,
                                "name": space[int(u)].name,
                                "other_dataset": other,
                                "rank": rank,
                                "other_index": int(theirs[col]),
                                "other_name": space[int(theirs[col])].name,
                                "cosine": float(scores[row, col]),
                            }
                        )
        return pd.DataFrame(rows)

    def same_name_pairs(self) -> list[tuple[UnifiedLabel, UnifiedLabel]]:
        """Pairs of labels from different datasets whose clean names are equal ignoring case.

        Example: ``coco:person`` and ``oid:Person``. A hand merge would join these; the
        disjoint union keeps both and lets the similarity matrix relate them.
        """
        groups: dict[str, list[UnifiedLabel]] = {}
        for label in self.label_space:
            groups.setdefault(label.clean_name.casefold(), []).append(label)
        return [
            (a, b)
            for members in groups.values()
            for i, a in enumerate(members)
            for b in members[i + 1 :]
            if a.dataset != b.dataset
        ]

    def near_duplicates(
        self, top: int = 10, *, skip_identical: bool = False
    ) -> list[tuple[UnifiedLabel, UnifiedLabel, float]]:
        """The ``top`` most similar pairs of labels from different datasets (best first).

        Args:
            top: How many pairs.
            skip_identical: Leave out pairs whose clean names are equal ignoring case
                (``coco:person`` ~ ``oid:Person``; see :meth:`same_name_pairs`), to see
                the pairs a name match would miss (``voc:sofa`` ~ ``coco:couch``).
        """
        space = self.label_space
        if len(space.datasets) < 2:
            return []
        owner = np.empty(len(space), dtype=np.int64)
        for d in range(len(space.datasets)):
            owner[space.indices(d)] = d
        pairs: list[tuple[float, int, int]] = []
        names = (
            np.array([u.clean_name.casefold() for u in space], dtype=object)
            if skip_identical
            else None
        )
        block = max(1, (1 << 22) // len(space))
        for start in range(0, len(space), block):
            stop = min(len(space), start + block)
            scores = self.embeddings[start:stop] @ self.embeddings.T
            rows = np.arange(start, stop)
            same_dataset = owner[rows][:, None] == owner[None, :]
            not_after = rows[:, None] >= np.arange(len(space))[None, :]
            scores[same_dataset | not_after] = -np.inf
            if names is not None:
                scores[names[rows][:, None] == names[None, :]] = -np.inf
            flat = scores.ravel()
            take = min(top, flat.size)
            best = np.argpartition(-flat, take - 1)[:take]
            for f in best:
                r, c = divmod(int(f), len(space))
                if np.isfinite(flat[f]):
                    pairs.append((float(flat[f]), start + r, c))
        pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
        return [(space[i], space[j], score) for score, i, j in pairs[:top]]

    def match(self, source: Any, to: str | Sequence[str] | None = None, k: int = 1) -> pd.DataFrame:
        """Map each label of a vocabulary to its ``k`` nearest labels of ``to``.

        ``source`` is a dataset of this bundle (its stored embeddings are used) or any
        vocabulary (embedded with the bundle's encoder). Useful to move a downstream
        dataset onto upstream labels.

        Returns:
            A DataFrame: source_index, source_name, rank, index, dataset, name, cosine.
        """
        import pandas as pd

        from scaledet_labels.registry import load_vocabulary

        if isinstance(source, str) and source in self.label_space.datasets:
            vocab = self.label_space.vocabulary(source)
            vectors = self.classifier(source)
        else:
            vocab = load_vocabulary(source)
            vectors = self.encode_vocabulary(vocab)
        candidates = self._candidates(to)
        scores = vectors @ self.embeddings[candidates].T
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        rows = []
        for i, label in enumerate(vocab):
            for rank, col in enumerate(top[i], start=1):
                target = self.label_space[int(candidates[col])]
                rows.append(
                    {
                        "source_index": label.index,
                        "source_name": label.name,
                        "rank": rank,
                        "index": target.index,
                        "dataset": target.dataset,
                        "name": target.name,
                        "cosine": float(scores[i, col]),
                    }
                )
        return pd.DataFrame(rows)

    # -- files ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the bundle directory atomically and return its path.

        Raises:
            BundleError: ``path`` exists and ``overwrite`` is off, or is not a bundle.
        """
        from safetensors.numpy import save_file

        target = Path(path)
        if target.exists() and not overwrite:
            raise BundleError(f"{target}: already exists; pass overwrite=True")
        if target.exists() and not (target / _MANIFEST).exists():
            raise BundleError(f"{target}: exists and is not a bundle; refusing to replace it")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            save_file(
                {"embeddings": np.ascontiguousarray(self.embeddings)}, str(staging / _EMBEDDINGS)
            )
            if self.is_sparse:
                csr: Any = self.similarity
                np.savez(
                    staging / _SPARSE,
                    data=csr.data,
                    indices=csr.indices,
                    indptr=csr.indptr,
                    shape=np.array(csr.shape, dtype=np.int64),
                )
                similarity_file = _SPARSE
            else:
                save_file(
                    {"similarity": np.ascontiguousarray(self.similarity)}, str(staging / _DENSE)
                )
                similarity_file = _DENSE
            self.label_space.to_json(staging / _LABELS)
            from scaledet_labels.export import labels_table

            labels_table(self.label_space).to_csv(staging / _TABLE, index=False)
            manifest = dict(self.manifest)
            manifest["schema"] = BUNDLE_SCHEMA
            manifest["version"] = BUNDLE_VERSION
            manifest["files"] = {
                name: {
                    "sha256": _sha256_file(staging / name),
                    "bytes": (staging / name).stat().st_size,
                }
                for name in (_EMBEDDINGS, similarity_file, _LABELS, _TABLE)
            }
            (staging / _MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", "utf-8")
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
        self.manifest = manifest
        return target

    def export(self, format: str, path: str | os.PathLike[str], **options: Any) -> list[Path]:
        """Export to another tool's format; see :func:`scaledet_labels.export.export_bundle`."""
        from scaledet_labels.export import export_bundle

        return export_bundle(self, format, path, **options)


def _label_row(label: UnifiedLabel) -> dict[str, Any]:
    return {
        "index": label.index,
        "dataset": label.dataset,
        "id": label.id,
        "name": label.name,
        "clean_name": label.clean_name,
    }


def load(path: str | os.PathLike[str], *, verify: bool = True) -> LabelSpaceBundle:
    """Load a bundle directory written by :meth:`LabelSpaceBundle.save`.

    Args:
        path: The bundle directory.
        verify: Check every file's SHA-256 against the manifest (default).

    Raises:
        BundleError: Missing or malformed files, a hash or shape mismatch, or a newer
            schema version.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    root = Path(path)
    if not (root / _MANIFEST).is_file():
        raise BundleError(f"{root}: not a bundle directory (no {_MANIFEST})")
    try:
        manifest = json.loads((root / _MANIFEST).read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{root / _MANIFEST}: unreadable manifest ({exc})") from None
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
        if verify and _sha256_file(file) != info.get("sha256"):
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
    return LabelSpaceBundle(space, embeddings, similarity, manifest)
