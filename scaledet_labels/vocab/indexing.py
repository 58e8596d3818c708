"""Vectorised table lookups for ints, sequences, numpy arrays and torch tensors.

The index maps of :class:`~scaledet_labels.LabelSpace` are small int64 tables; this module
applies one to whatever the caller holds and returns the same kind of thing (a tensor
stays a tensor on its device; torch is imported only when a tensor is passed).

Examples:
    >>> import numpy as np
    >>> table = np.array([5, 6, 7])
    >>> lookup(table, [2, 0], strict=None), lookup(table, 9, strict=None)
    ([7, 5], -1)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from scaledet_labels.errors import LabelSpaceError

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["lookup"]


def lookup(table: np.ndarray[Any, np.dtype[np.int64]], values: Any, *, strict: str | None) -> Any:
    """``table[values]`` for ints, sequences, numpy arrays and torch tensors.

    With ``strict`` set, out-of-range values raise; otherwise they give ``-1``.
    """
    if type(values).__module__.startswith("torch"):
        import torch

        tensor: Any = values
        if tensor.dtype.is_floating_point or tensor.dtype == torch.bool:
            raise LabelSpaceError(
                f"{strict or 'category id'} values must be integers, got {tensor.dtype}"
            )
        torch_table = torch.tensor(table, device=tensor.device)
        idx = tensor.long()
        inside = (idx >= 0) & (idx < len(table))
        if strict and not bool(inside.all()):
            bad = int(idx[~inside].flatten()[0])
            raise LabelSpaceError(f"{strict} {bad} is out of range 0..{len(table) - 1}")
        out = torch.full_like(idx, -1)
        out[inside] = torch_table[idx[inside]]
        return out
    scalar = isinstance(values, (int, np.integer)) and not isinstance(values, bool)
    array: npt.NDArray[Any] = np.asarray(values)
    if array.dtype.kind not in "iu":
        if array.size == 0:
            array = array.astype(np.int64)
        else:
            raise LabelSpaceError(
                f"{strict or 'category id'} values must be integers, "
                f"got {array.dtype} {values!r:.60}"
            )
    inside_np = (array >= 0) & (array < len(table))
    if strict and not inside_np.all():
        bad = array[~inside_np].flat[0]
        raise LabelSpaceError(f"{strict} {bad} is out of range 0..{len(table) - 1}")
    result = np.full(array.shape, -1, dtype=np.int64)
    result[inside_np] = table[array[inside_np]]
    if scalar:
        return int(result.item())
    if isinstance(values, list):
        return list(result.ravel().tolist()) if result.ndim == 1 else result.tolist()
    if isinstance(values, tuple):
        return tuple(result.ravel().tolist())
    return result
