"""The :class:`LabelSpaceBundle`: a label space with its embeddings, similarity and manifest.

A bundle is made by :func:`~scaledet_labels.build_label_space` or read back with
:func:`load_bundle`. Its files are written and verified by :mod:`scaledet_labels.bundle.io`;
its queries (neighbours, relations, matches) live in :mod:`scaledet_labels.bundle.queries`,
its exports in :mod:`scaledet_labels.bundle.export`. Loading imports neither torch nor
transformers.

Examples:
    >>> import numpy as np, tempfile
    >>> from scaledet_labels import LabelSpace, build_label_space, load_bundle
    >>> space = LabelSpace.union(["a, b", "c, d"], names=["x", "y"])
    >>> emb = np.eye(4, 8, dtype=np.float32)
    >>> bundle = build_label_space(space, precomputed={"x": emb[:2], "y": emb[2:]})
    >>> path = bundle.save(tempfile.mkdtemp() + "/demo")
    >>> load_bundle(path).classifier("y").shape
    (2, 8)
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scaledet_labels.bundle import export as _export
from scaledet_labels.bundle import queries
from scaledet_labels.bundle.io import read_bundle, write_bundle
from scaledet_labels.embed.distributed import is_main_process
from scaledet_labels.embed.embeddings import CacheArg, embed_labels
from scaledet_labels.embed.encoders.spec import load_encoder
from scaledet_labels.errors import BundleError
from scaledet_labels.vocab.label_space import LabelSpace, UnifiedLabel
from scaledet_labels.vocab.registry import VocabularySource, load_vocabulary

if TYPE_CHECKING:
    import numpy.typing as npt
    import pandas as pd
    import scipy.sparse

    from scaledet_labels.bundle.matching import MatchSignals

__all__ = ["LabelSpaceBundle", "load", "load_bundle"]


class LabelSpaceBundle:
    """A label space with its label embeddings, similarity matrix and manifest.

    Made by :func:`~scaledet_labels.build_label_space` or :func:`load_bundle`.

    Attributes:
        label_space: The :class:`~scaledet_labels.LabelSpace`.
        embeddings: ``(n, D)`` float32 unit rows in unified order.
        similarity: Dense ``(n, n)`` array or ``scipy.sparse.csr_matrix`` (top-k).
        manifest: What was built and how (see :mod:`scaledet_labels.bundle.io`).
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
        self, vocabulary: VocabularySource, *, device: str = "auto", cache: CacheArg = True
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
            distributed=False,  # a query: never a collective across ranks
        )
        return np.array(result.embeddings)  # a writable copy (the result's rows are read-only)

    # -- queries (see scaledet_labels.bundle.queries) ------------------------------------
    def neighbors(
        self,
        query: str | int,
        k: int = 10,
        *,
        datasets: Sequence[str] | str | None = None,
    ) -> pd.DataFrame:
        """The ``k`` labels nearest to a label or free text; see
        :func:`~scaledet_labels.bundle.queries.neighbors`.

        Examples:
            >>> bundle.neighbors("coco:dog", k=3).name.tolist()  # doctest: +SKIP
            ['dog', 'Dog', 'puppy']
        """
        return queries.neighbors(self, query, k, datasets=datasets)

    def relations(self, k: int = 1) -> pd.DataFrame:
        """Each label's ``k`` nearest labels in every other dataset; see
        :func:`~scaledet_labels.bundle.queries.relations`."""
        return queries.relations(self, k)

    def same_name_pairs(self) -> list[tuple[UnifiedLabel, UnifiedLabel]]:
        """Cross-dataset pairs with equal clean names ignoring case; see
        :func:`~scaledet_labels.bundle.queries.same_name_pairs`."""
        return queries.same_name_pairs(self)

    def near_duplicates(
        self, k: int = 10, *, skip_identical: bool = False, top: int | None = None
    ) -> list[tuple[UnifiedLabel, UnifiedLabel, float]]:
        """The ``k`` most similar cross-dataset pairs; see
        :func:`~scaledet_labels.bundle.queries.near_duplicates`.

        ``top=`` is the deprecated spelling of ``k`` (removed in the next release).
        """
        if top is not None:
            warnings.warn(
                "near_duplicates(top=...) is deprecated; use k=...",
                DeprecationWarning,
                stacklevel=2,
            )
            k = top
        return queries.near_duplicates(self, k, skip_identical=skip_identical)

    def match(
        self,
        source: Any,
        to: str | Sequence[str] | None = None,
        k: int = 1,
        *,
        threshold: float = 0.5,
        one_to_one: bool = False,
        signals: MatchSignals = "all",
        metadata: bool = True,
    ) -> pd.DataFrame:
        """For each label of a vocabulary: ``same`` as a label of ``to``, or ``none``, with a
        confidence and the evidence; see :func:`~scaledet_labels.bundle.queries.match`."""
        return queries.match(
            self,
            source,
            to=to,
            k=k,
            threshold=threshold,
            one_to_one=one_to_one,
            signals=signals,
            metadata=metadata,
        )

    # -- files ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the bundle directory atomically and return its path.

        In a distributed job (torchrun, or an initialised ``torch.distributed`` group) only
        rank 0 writes; the other ranks write nothing and return ``path``.

        Raises:
            BundleError: ``path`` exists and ``overwrite`` is off, or is not a bundle.
        """
        if not is_main_process():
            return Path(path)
        target, self.manifest = write_bundle(
            path,
            self.label_space,
            self.embeddings,
            self.similarity,
            self.manifest,
            overwrite=overwrite,
        )
        return target

    def export(
        self,
        format: _export.ExportFormat,
        path: str | os.PathLike[str],
        *,
        dataset: str | None = None,
        overwrite: bool = False,
        strict: bool = False,
    ) -> list[Path]:
        """Export to another tool's format; see :func:`~scaledet_labels.export_bundle`."""
        return _export.export_bundle(
            self, format, path, dataset=dataset, overwrite=overwrite, strict=strict
        )


def load_bundle(path: str | os.PathLike[str], *, verify: bool = True) -> LabelSpaceBundle:
    """Load a bundle directory written by :meth:`LabelSpaceBundle.save`.

    Args:
        path: The bundle directory.
        verify: Check every file's SHA-256 against the manifest (default).

    Raises:
        BundleError: Missing or malformed files, a hash or shape mismatch, or a newer
            schema version.

    Examples:
        >>> import scaledet_labels as sl
        >>> bundle = sl.load_bundle("labelspaces/coco+lvis+oid")  # doctest: +SKIP
    """
    return LabelSpaceBundle(*read_bundle(path, verify=verify))


def load(path: str | os.PathLike[str], *, verify: bool = True) -> LabelSpaceBundle:
    """Deprecated alias of :func:`load_bundle` (removed in the next release)."""
    warnings.warn(
        "scaledet_labels.load() is deprecated; use scaledet_labels.load_bundle()",
        DeprecationWarning,
        stacklevel=2,
    )
    return load_bundle(path, verify=verify)
