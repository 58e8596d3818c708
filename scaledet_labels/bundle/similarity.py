"""The label-to-label similarity matrix S used by ScaleDet's soft label assignment.

``S[i, j]`` comes from the cosine of unit label embeddings, mapped to [0, 1]:

- ``"minmax"`` (default): per row, ``(cos[i, j] - min_k cos[i, k]) / (max_k cos[i, k] -
  min_k cos[i, k])``, so the diagonal is 1 and the row's least similar label is 0. This is
  our reading of the paper's "cosine similarity normalized between 0 and 1"; it is not
  symmetric in general. A constant row (a single label, or identical embeddings) maps to 1.
- ``"affine"``: ``(cos + 1) / 2``.
- ``"clamp"``: ``max(cos, 0)``.
- ``"none"``: the raw cosine in [-1, 1] (not a valid target for the soft loss).

The diagonal is set to exactly 1 in every mode. Rows are computed in blocks, so memory
beyond the result stays bounded; with ``topk=K`` only each row's diagonal and its K
largest other entries are kept, as a scipy CSR matrix, for vocabularies too large for a
dense ``n x n``.

Examples:
    >>> import numpy as np
    >>> emb = np.array([[1.0, 0.0], [0.6, 0.8], [-1.0, 0.0]], dtype=np.float32)
    >>> label_similarity(emb).astype(float).round(2).tolist()
    [[1.0, 0.8, 0.0], [0.75, 1.0, 0.0], [0.0, 0.2, 1.0]]
    >>> label_similarity(emb, topk=1).toarray().astype(float).round(2).tolist()
    [[1.0, 0.8, 0.0], [0.75, 1.0, 0.0], [0.0, 0.2, 1.0]]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from scaledet_labels.errors import SimilarityError

if TYPE_CHECKING:
    import numpy.typing as npt
    import scipy.sparse

__all__ = [
    "AUTO_DENSE_MAX",
    "AUTO_TOPK",
    "NORMALIZATIONS",
    "SIMILARITY_DTYPES",
    "Normalization",
    "SimilarityDtype",
    "SimilarityError",
    "dense_bytes",
    "label_similarity",
    "normalize_cosine",
    "resolve_topk",
]

Normalization = Literal["minmax", "affine", "clamp", "none"]
NORMALIZATIONS: tuple[str, ...] = get_args(Normalization)
SimilarityDtype = Literal["float32", "float16"]
SIMILARITY_DTYPES: tuple[str, ...] = get_args(SimilarityDtype)
_BLOCK_ELEMENTS = 1 << 24  # 16 M float32 cosines (64 MB) per block


def _check_embeddings(embeddings: Any) -> npt.NDArray[np.float32]:
    array = np.asarray(embeddings)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise SimilarityError(
            f"embeddings must be a non-empty (n_labels, dim) array, got shape {array.shape}"
        )
    if array.dtype.kind not in "fiu":
        raise SimilarityError(f"embeddings must be numeric, got dtype {array.dtype}")
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        bad = int(np.flatnonzero(~np.isfinite(array).all(axis=1))[0])
        raise SimilarityError(f"embeddings row {bad} has NaN or infinite values")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    if (norms == 0).any():
        bad = int(np.flatnonzero(norms[:, 0] == 0)[0])
        raise SimilarityError(f"embeddings row {bad} is all zeros; it has no direction")
    return np.ascontiguousarray(array / norms, dtype=np.float32)


def normalize_cosine(
    cos: npt.NDArray[np.float32],
    normalization: Normalization = "minmax",
    *,
    row_min: npt.NDArray[np.float32] | None = None,
    row_max: npt.NDArray[np.float32] | None = None,
) -> npt.NDArray[np.float32]:
    """Map a block of cosines to similarities, in place where possible.

    Args:
        cos: ``(rows, n)`` cosines.
        normalization: One of ``minmax``, ``affine``, ``clamp``, ``none``.
        row_min: Per-row minimum over the full row (``minmax``; default: from ``cos``).
        row_max: Per-row maximum over the full row (``minmax``; default: from ``cos``).

    Examples:
        >>> import numpy as np
        >>> normalize_cosine(np.array([[1.0, 0.0, -1.0]], np.float32), "affine").tolist()
        [[1.0, 0.5, 0.0]]
    """
    if normalization == "minmax":
        lo = cos.min(axis=1, keepdims=True) if row_min is None else row_min.reshape(-1, 1)
        hi = cos.max(axis=1, keepdims=True) if row_max is None else row_max.reshape(-1, 1)
        span = hi - lo
        constant = span[:, 0] <= 1e-12
        cos -= lo
        cos /= np.where(span > 1e-12, span, 1.0)
        cos[constant] = 1.0
        np.clip(cos, 0.0, 1.0, out=cos)
    elif normalization == "affine":
        cos += 1.0
        cos *= 0.5
        np.clip(cos, 0.0, 1.0, out=cos)
    elif normalization == "clamp":
        np.clip(cos, 0.0, 1.0, out=cos)
    elif normalization != "none":
        raise SimilarityError(
            f"normalization={normalization!r} is not one of {list(NORMALIZATIONS)}"
        )
    return cos


#: Above this many labels, ``topk="auto"`` keeps a sparse top-k matrix instead of a dense
#: one (10,000 labels dense: 400 MB float32; V3Det 13,204: 700 MB; ImageNet-21k: 1.9 GB).
AUTO_DENSE_MAX = 10_000
#: Neighbours kept per row when ``topk="auto"`` switches to sparse.
AUTO_TOPK = 64


def resolve_topk(n_labels: int, topk: int | Literal["auto"] | None) -> int | None:
    """The ``topk`` to use for ``n_labels`` labels: ``"auto"`` is dense (``None``) up to
    :data:`AUTO_DENSE_MAX` labels and :data:`AUTO_TOPK` above; anything else is checked
    and returned.

    Raises:
        SimilarityError: Not ``"auto"``, ``None`` or a positive integer.

    Examples:
        >>> resolve_topk(1_884, "auto") is None, resolve_topk(21_841, "auto")
        (True, 64)
    """
    if topk == "auto":
        return None if n_labels <= AUTO_DENSE_MAX else AUTO_TOPK
    if topk is not None and (isinstance(topk, bool) or not isinstance(topk, int) or topk < 1):
        raise SimilarityError(f"topk must be a positive integer, 'auto' or None, got {topk!r}")
    return topk


def dense_bytes(n_labels: int, dtype: SimilarityDtype = "float32") -> int:
    """Bytes a dense ``(n, n)`` similarity of ``dtype`` takes."""
    return n_labels * n_labels * np.dtype(dtype).itemsize


def label_similarity(
    embeddings: Any,
    *,
    normalization: Normalization = "minmax",
    topk: int | None = None,
    dtype: SimilarityDtype = "float32",
    block_size: int | None = None,
) -> npt.NDArray[np.floating[Any]] | scipy.sparse.csr_matrix:
    """The ``(n, n)`` label similarity matrix, dense or top-k sparse.

    Args:
        embeddings: ``(n, dim)`` label embeddings (normalised here if they are not).
        normalization: ``minmax`` (default), ``affine``, ``clamp`` or ``none``.
        topk: Keep each row's diagonal and its ``topk`` largest other entries, as a
            ``scipy.sparse.csr_matrix`` (sorted column indices). ``None``: dense array.
        dtype: ``float32`` (default) or ``float16``.
        block_size: Rows per block (default: about 16 M cosines a block).

    Returns:
        A dense ``(n, n)`` array, or a CSR matrix with ``min(n, topk + 1)`` entries a row.

    Raises:
        SimilarityError: Bad shape, non-finite or zero rows, or an unknown option.

    Examples:
        >>> import numpy as np
        >>> s = label_similarity(np.eye(4, dtype=np.float32) + 0.1, topk=2)
        >>> s.shape, s.nnz
        ((4, 4), 12)
    """
    if normalization not in NORMALIZATIONS:
        raise SimilarityError(
            f"normalization={normalization!r} is not one of {list(NORMALIZATIONS)}"
        )
    if dtype not in SIMILARITY_DTYPES:
        raise SimilarityError(f"dtype={dtype!r} is not one of {list(SIMILARITY_DTYPES)}")
    if topk is not None and (isinstance(topk, bool) or not isinstance(topk, int) or topk < 1):
        raise SimilarityError(f"topk must be a positive integer or None, got {topk!r}")
    if block_size is not None and (not isinstance(block_size, int) or block_size < 1):
        raise SimilarityError(f"block_size must be a positive integer, got {block_size!r}")
    unit = _check_embeddings(embeddings)
    n = unit.shape[0]
    rows = block_size or max(1, min(n, _BLOCK_ELEMENTS // n))
    out_dtype = np.dtype(dtype)
    if topk is None:
        dense = np.empty((n, n), dtype=out_dtype)
        for start in range(0, n, rows):
            stop = min(n, start + rows)
            block = unit[start:stop] @ unit.T
            normalize_cosine(block, normalization)
            block[np.arange(stop - start), np.arange(start, stop)] = 1.0
            dense[start:stop] = block
        return dense
    return _topk_similarity(unit, normalization, topk, rows, out_dtype)


def _largest(block: npt.NDArray[np.float32], keep: int) -> npt.NDArray[np.intp]:
    """Column indices of each row's ``keep`` largest entries (in no particular order).

    A strided sample of the columns gives each row a threshold its ``keep`` largest
    entries are almost surely above (the sample's ``j``-th largest, ``j`` chosen so that
    about ``3 * keep`` entries of the row pass it); only those candidates are ranked
    exactly. Rows where too few or too many entries pass (ties, odd distributions) are
    ranked over the whole row with ``argpartition``. Exact either way; on 21,841-wide
    rows about 3x faster than partitioning every row in full.
    """
    rows, width = block.shape
    stride = width // (16 * keep)
    if stride < 4:  # narrow rows: a full argpartition is as cheap
        return np.argpartition(block, width - keep, axis=1)[:, width - keep :]
    sample = block[:, ::stride]
    sampled = sample.shape[1]
    j = min(sampled, -(-3 * keep // stride) + 1)
    threshold = np.partition(sample, sampled - j, axis=1)[:, sampled - j]
    mask = block >= threshold[:, None]
    counts = mask.sum(axis=1)
    cap = 16 * keep
    good = (counts >= keep) & (counts <= cap)
    chosen = np.empty((rows, keep), dtype=np.intp)
    if good.any():
        good_rows = np.flatnonzero(good)
        r, c = np.nonzero(mask[good_rows])
        found = counts[good_rows]
        starts = np.concatenate([[0], np.cumsum(found)[:-1]])
        position = np.arange(len(c)) - starts[r]
        values = np.full((len(good_rows), int(found.max())), -np.inf, dtype=block.dtype)
        columns = np.zeros(values.shape, dtype=np.intp)
        values[r, position] = block[good_rows[r], c]
        columns[r, position] = c
        width_c = values.shape[1]
        top = np.argpartition(values, width_c - keep, axis=1)[:, width_c - keep :]
        chosen[good_rows] = np.take_along_axis(columns, top, axis=1)
    bad_rows = np.flatnonzero(~good)
    if len(bad_rows):
        chosen[bad_rows] = np.argpartition(block[bad_rows], width - keep, axis=1)[:, width - keep :]
    return chosen


def _topk_similarity(
    unit: npt.NDArray[np.float32],
    normalization: Normalization,
    topk: int,
    rows: int,
    out_dtype: np.dtype[Any],
) -> scipy.sparse.csr_matrix:
    import scipy.sparse

    n = unit.shape[0]
    keep = min(topk, n - 1)  # other entries per row
    per_row = keep + 1
    indices = np.empty((n, per_row), dtype=np.int64 if n > 2**31 - 1 else np.int32)
    values = np.empty((n, per_row), dtype=out_dtype)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        local = np.arange(stop - start)
        diagonal = np.arange(start, stop)
        block = unit[start:stop] @ unit.T
        row_min = block.min(axis=1)
        row_max = block.max(axis=1)
        block[local, diagonal] = -np.inf  # never chosen among the "other" entries
        if keep < n - 1:
            chosen = _largest(block, keep)
        else:
            order = np.argsort(block, axis=1)
            chosen = order[:, 1:]  # drop the diagonal (-inf sorts first)
        picked = np.take_along_axis(block, chosen, axis=1)
        normalize_cosine(picked, normalization, row_min=row_min, row_max=row_max)
        cols = np.concatenate([diagonal[:, None], chosen], axis=1)
        vals = np.concatenate([np.ones((stop - start, 1), np.float32), picked], axis=1)
        order = np.argsort(cols, axis=1, kind="stable")
        indices[start:stop] = np.take_along_axis(cols, order, axis=1)
        values[start:stop] = np.take_along_axis(vals, order, axis=1)
    indptr = np.arange(0, n * per_row + 1, per_row, dtype=indices.dtype)
    matrix = scipy.sparse.csr_matrix((values.ravel(), indices.ravel(), indptr), shape=(n, n))
    matrix.has_sorted_indices = True
    return matrix
