"""Row access to the label similarity matrix S, dense or sparse.

The soft term only ever needs the rows ``S[y_i]`` of the regions in a chunk, so a sparse
(e.g. top-k) S never has to be densified as a whole: :class:`SimilarityRows` gathers the
rows of one chunk into a small dense block.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .errors import InputShapeError, InputTypeError

__all__ = ["SimilarityRows", "csr_arrays_from_scipy", "similarity_rows"]


class SimilarityRows:
    """A read-only view of S that hands out dense row blocks.

    Either ``dense`` is an ``(n, n)`` tensor, or ``crow``, ``col`` and ``values`` hold S in
    compressed-sparse-row form (missing entries are 0).
    """

    def __init__(
        self,
        n: int,
        dense: Tensor | None = None,
        crow: Tensor | None = None,
        col: Tensor | None = None,
        values: Tensor | None = None,
    ) -> None:
        self.n = n
        self.dense = dense
        self.crow = crow
        self.col = col
        self.values = values

    @property
    def device(self) -> torch.device:
        ref = self.dense if self.dense is not None else self.values
        if ref is None:  # pragma: no cover - constructor guarantees one of both
            raise InputTypeError("similarity: neither dense nor sparse data was given")
        return ref.device

    @property
    def is_sparse(self) -> bool:
        return self.dense is None

    @property
    def stored(self) -> Tensor:
        """The stored values: the dense matrix, or the sparse nonzeros."""
        ref = self.dense if self.dense is not None else self.values
        if ref is None:  # pragma: no cover - constructor guarantees one of both
            raise InputTypeError("similarity: neither dense nor sparse data was given")
        return ref

    def rows_into(self, index: Tensor, out: Tensor) -> Tensor:
        """Write ``S[index]`` densely into ``out`` (``(len(index), n)``) and return it."""
        if self.dense is not None:
            if self.dense.dtype == out.dtype:
                return torch.index_select(self.dense, 0, index, out=out)
            return out.copy_(self.dense.index_select(0, index))
        crow, col, values = self.crow, self.col, self.values
        if crow is None or col is None or values is None:  # pragma: no cover
            raise InputTypeError("similarity: incomplete sparse data")
        out.zero_()
        if index.numel() == 0:
            return out
        starts = crow.index_select(0, index)
        counts = crow.index_select(0, index + 1) - starts
        total = int(counts.sum())
        if total == 0:
            return out
        local = torch.arange(index.numel(), device=values.device)
        row_ids = torch.repeat_interleave(local, counts, output_size=total)
        offsets = torch.cumsum(counts, 0) - counts
        pos = torch.arange(total, device=values.device) - offsets[row_ids] + starts[row_ids]
        out.index_put_((row_ids, col[pos]), values[pos].to(out.dtype), accumulate=True)
        return out


def similarity_rows(similarity: Any, n: int) -> SimilarityRows:
    """Wrap a dense or torch-sparse ``(n, n)`` similarity tensor for row gathering.

    Raises:
        InputTypeError: ``similarity`` is not a floating tensor.
        InputShapeError: ``similarity`` is not ``(n, n)``.
    """
    if not isinstance(similarity, Tensor):
        raise InputTypeError(
            "similarity must be a torch.Tensor of shape (n, n) (dense, sparse COO or sparse "
            f"CSR), got {type(similarity).__name__}; ScaleDetLoss also accepts numpy arrays "
            "and scipy.sparse matrices"
        )
    if tuple(similarity.shape) != (n, n):
        raise InputShapeError(
            f"similarity must have shape (n, n) = ({n}, {n}) to match the {n} label "
            f"embeddings, got {tuple(similarity.shape)}"
        )
    if not (similarity.dtype.is_floating_point):
        raise InputTypeError(
            f"similarity must be a floating-point tensor, got dtype {similarity.dtype}"
        )
    if similarity.layout == torch.strided:
        return SimilarityRows(n, dense=similarity)
    if similarity.layout == torch.sparse_coo:
        similarity = similarity.coalesce().to_sparse_csr()
    if similarity.layout != torch.sparse_csr:
        raise InputTypeError(
            "similarity must be dense (strided), sparse COO or sparse CSR, got layout "
            f"{similarity.layout}"
        )
    return SimilarityRows(
        n,
        crow=similarity.crow_indices(),
        col=similarity.col_indices(),
        values=similarity.values(),
    )


def csr_arrays_from_scipy(matrix: Any) -> tuple[Tensor, Tensor, Tensor]:
    """Return ``(crow, col, values)`` int64/int64/float32 tensors of a scipy sparse matrix."""
    csr = matrix.tocsr()
    csr.sum_duplicates()
    crow = torch.as_tensor(csr.indptr).to(torch.int64)
    col = torch.as_tensor(csr.indices).to(torch.int64)
    values = torch.as_tensor(csr.data).to(torch.float32)
    return crow, col, values
