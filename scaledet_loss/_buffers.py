"""Turn user-supplied arrays (tensors, numpy, scipy.sparse) into module buffers.

Only torch is imported here; numpy arrays go through :func:`torch.as_tensor` and scipy
sparse matrices are recognised by duck typing, so neither library is needed at import.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._similarity import SimilarityRows, csr_arrays_from_scipy, similarity_rows
from ._validation import finite_probe
from .errors import InputShapeError, InputTypeError, NonFiniteInputError

__all__ = [
    "embeddings_tensor",
    "is_scipy_sparse",
    "register_similarity",
    "similarity_of",
]


def is_scipy_sparse(obj: object) -> bool:
    """True for scipy.sparse matrices and arrays (checked without importing scipy)."""
    module = type(obj).__module__ or ""
    return module.startswith("scipy.sparse") and hasattr(obj, "tocsr")


def _as_tensor(obj: object, name: str, what: str) -> Tensor:
    if isinstance(obj, Tensor):
        return obj.detach()
    if hasattr(obj, "__array__") or isinstance(obj, (list, tuple)):
        try:
            return torch.as_tensor(obj)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise InputTypeError(f"{name} could not be converted to a tensor: {exc}") from exc
    raise InputTypeError(
        f"{name} must be a torch.Tensor or numpy array {what}, got {type(obj).__name__}"
    )


def embeddings_tensor(obj: object, *, dtype: torch.dtype | None = None) -> Tensor:
    """Return label embeddings as an L2-normalized ``(n, D)`` floating tensor.

    Raises:
        InputTypeError: not array-like or not numeric.
        InputShapeError: not 2-D, or with no rows or columns.
        NonFiniteInputError: NaN or infinite values.
    """
    emb = _as_tensor(obj, "embeddings", "of shape (n, D)")
    if emb.dim() != 2 or emb.shape[0] < 1 or emb.shape[1] < 1:
        raise InputShapeError(
            f"embeddings must be 2-D (n_labels, dim) with n, dim >= 1, got {tuple(emb.shape)}"
        )
    if emb.dtype == torch.bool or emb.dtype.is_complex:
        raise InputTypeError(f"embeddings must be real numbers, got dtype {emb.dtype}")
    target = dtype or (emb.dtype if emb.dtype.is_floating_point else torch.get_default_dtype())
    emb = emb.to(target)
    if not _all_finite(emb):
        raise NonFiniteInputError("embeddings contain NaN or infinite values")
    return F.normalize(emb, dim=1)


def register_similarity(module: nn.Module, obj: object, n: int) -> bool:
    """Register S on ``module`` as buffers; return True when it is stored sparse.

    Dense S becomes buffer ``similarity`` (its floating dtype is kept; other numeric arrays
    become float32). Sparse S (torch sparse COO/CSR or scipy.sparse) becomes the three
    buffers ``similarity_crow``, ``similarity_col`` and ``similarity_values``, so the module
    moves, casts and saves like any other and only the gathered rows are ever densified.
    """
    if is_scipy_sparse(obj):
        shape = tuple(getattr(obj, "shape", ()))
        if shape != (n, n):
            raise InputShapeError(
                f"similarity must have shape (n, n) = ({n}, {n}) to match the embeddings, "
                f"got {shape}"
            )
        crow, col, values = csr_arrays_from_scipy(obj)
    elif isinstance(obj, Tensor) and obj.layout != torch.strided:
        rows = similarity_rows(obj.detach(), n)
        if rows.crow is None or rows.col is None or rows.values is None:  # pragma: no cover
            raise InputTypeError("similarity: sparse conversion failed")
        crow, col, values = rows.crow, rows.col, rows.values
    else:
        dense = _as_tensor(obj, "similarity", "of shape (n, n)")
        if dense.dtype == torch.bool or dense.dtype.is_complex:
            raise InputTypeError(f"similarity must be real numbers, got dtype {dense.dtype}")
        if not dense.dtype.is_floating_point:
            dense = dense.to(torch.float32)
        elif not isinstance(obj, Tensor) and dense.dtype == torch.float64:
            dense = dense.to(torch.float32)  # numpy float64 -> float32, as the embeddings
        similarity_rows(dense, n)  # shape check
        if not _all_finite(dense):
            raise NonFiniteInputError("similarity contains NaN or infinite values")
        module.register_buffer("similarity", dense.contiguous())
        return False
    if not values.dtype.is_floating_point:
        values = values.to(torch.float32)
    if not _all_finite(values):
        raise NonFiniteInputError("similarity contains NaN or infinite values")
    module.register_buffer("similarity_crow", crow.to(torch.int64).contiguous())
    module.register_buffer("similarity_col", col.to(torch.int64).contiguous())
    module.register_buffer("similarity_values", values.contiguous())
    return True


def similarity_of(module: Any, n: int) -> SimilarityRows:
    """Wrap the similarity buffers registered by :func:`register_similarity`."""
    if getattr(module, "similarity_is_sparse", False):
        return SimilarityRows(
            n,
            crow=module.similarity_crow,
            col=module.similarity_col,
            values=module.similarity_values,
        )
    return SimilarityRows(n, dense=module.similarity)


def _all_finite(tensor: Tensor) -> bool:
    """Element-wise finiteness, checked by a sum first (no full-size temporary)."""
    if tensor.numel() == 0 or bool(torch.isfinite(finite_probe(tensor))):
        return True
    return bool(torch.isfinite(tensor).all())
