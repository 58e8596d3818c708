"""Argument checks shared by every public entry point.

Shape, type and device checks are free (metadata only). Checks that look at values (target
range, class-mask coverage, finiteness) are collected as 0-dim bool tensors and read back
with a single host synchronisation; the finiteness scans can be switched off with
``check_finite=False``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Literal, get_args

import torch
from torch import Tensor

from ._fused import MaskRows
from .errors import (
    DeviceMismatchError,
    InputShapeError,
    InputTypeError,
    NonFiniteInputError,
    ScaleDetLossError,
)

__all__ = [
    "REDUCTIONS",
    "ClassMask",
    "DeferredChecks",
    "Reduction",
    "check_chunk_size",
    "check_class_mask",
    "check_features_and_embeddings",
    "check_lam",
    "check_positive_int",
    "check_reduction",
    "check_targets",
    "check_tau",
    "check_weight",
    "finite_probe",
]

#: How per-row losses are combined; see :func:`scaledet_loss.scaledet_loss`.
Reduction = Literal["mean", "sum", "none"]
REDUCTIONS: tuple[str, ...] = get_args(Reduction)

#: A bool ``(N, n)`` mask, or ``(dataset_index (N,), dataset_masks (num_datasets, n))``.
ClassMask = Tensor | tuple[Tensor, Tensor]


def check_reduction(reduction: object) -> Reduction:
    """Return ``reduction`` if it is one of ``"mean"``, ``"sum"``, ``"none"``."""
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        allowed = ", ".join(repr(r) for r in REDUCTIONS)
        raise ScaleDetLossError(f"reduction must be one of {allowed}, got {reduction!r}")
    return reduction  # type: ignore[return-value]


def _real(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputTypeError(f"{name} must be a real number (int or float), got {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise ScaleDetLossError(f"{name} must be finite, got {value!r}")
    return result


def check_tau(tau: object) -> float:
    """Return ``tau`` as a float; it must be a finite number > 0."""
    result = _real(tau, "tau")
    if result <= 0.0:
        raise ScaleDetLossError(f"tau (temperature) must be > 0, got {tau!r}; the default is 0.05")
    return result


def check_lam(lam: object) -> float:
    """Return ``lam`` as a float; it must be a finite number >= 0."""
    result = _real(lam, "lam")
    if result < 0.0:
        raise ScaleDetLossError(f"lam (soft-term weight) must be >= 0, got {lam!r}")
    return result


def check_positive_int(value: object, name: str, what: str = "") -> int:
    """Return ``value`` as an int; it must be an integer >= 1 (a bool is refused).

    Python ints and other :class:`numbers.Integral` values (e.g. numpy integers) are
    accepted. ``what`` says in words what the number is, for the messages.

    Raises:
        InputTypeError: ``value`` is not an integer (floats and bools included).
        ScaleDetLossError: ``value`` is an integer < 1.
    """
    about = f" ({what})" if what else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputTypeError(f"{name}{about} must be a positive int, got {value!r}")
    result = int(value)
    if result < 1:
        raise ScaleDetLossError(f"{name}{about} must be a positive int (>= 1), got {result}")
    return result


def check_chunk_size(chunk_size: object) -> int:
    """Return the chunk size as an int (0 means automatic)."""
    if chunk_size is None:
        return 0
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InputTypeError(f"chunk_size must be None or a positive int, got {chunk_size!r}")
    return chunk_size


#: The dtype families an argument can be required to have.
_Kind = Literal["floating-point", "integer", "bool"]


def _has_kind(dtype: torch.dtype, kind: _Kind) -> bool:
    if kind == "floating-point":
        return dtype.is_floating_point
    if kind == "bool":
        return dtype == torch.bool
    return not (dtype.is_floating_point or dtype.is_complex or dtype == torch.bool)


def _check_tensor(
    value: object,
    name: str,
    dims: str,
    *,
    ndim: int | None = None,
    kind: _Kind | None = None,
    shape: tuple[int | str, ...] | None = None,
    device: torch.device | None = None,
    accepts: str = "",
    hint: str = "",
) -> Tensor:
    """Return ``value`` if it is a tensor that passes every check asked for.

    The checks run in this order, and the first that fails raises: ``value`` is a tensor
    (InputTypeError), has ``ndim`` dimensions (InputShapeError), a dtype of ``kind``
    (InputTypeError), exactly the sizes ``shape`` (InputShapeError; a str entry names a size
    that may be anything >= 1), and lives on ``device``, the features' device
    (DeviceMismatchError). Every message names ``name``; ``dims`` is the accepted shape in
    words (e.g. ``"(N, D)"``), ``accepts`` is added to the type and dtype messages and
    ``hint`` to the end of the shape messages.
    """
    if not isinstance(value, Tensor):
        raise InputTypeError(
            f"{name} must be a torch.Tensor of shape {dims}{accepts}, got {type(value).__name__}"
        )
    got = tuple(value.shape)
    if ndim is not None and value.dim() != ndim:
        raise InputShapeError(f"{name} must be {ndim}-D {dims}, got shape {got}{hint}")
    if kind is not None and not _has_kind(value.dtype, kind):
        article = "an" if kind == "integer" else "a"
        raise InputTypeError(f"{name} must be {article} {kind} tensor{accepts}, got {value.dtype}")
    if shape is not None and not (
        len(got) == len(shape)
        and all(g >= 1 if isinstance(s, str) else g == s for g, s in zip(got, shape, strict=True))
    ):
        expected = ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "")
        raise InputShapeError(f"{name} must have shape {dims} = ({expected}), got {got}{hint}")
    if device is not None and value.device != device:
        verb = "are" if name.endswith("s") else "is"
        raise DeviceMismatchError(f"{name} {verb} on {value.device} but features are on {device}")
    return value


def _autocast_on(device: torch.device) -> bool:
    try:
        return bool(torch.is_autocast_enabled(device.type))
    except (RuntimeError, TypeError):  # device type without autocast support
        return False


def check_features_and_embeddings(
    features: object, embeddings: object, *, features_name: str = "features"
) -> tuple[Tensor, Tensor]:
    """Check ``features`` (N, D) and ``embeddings`` (n, D): floating, same device and D.

    Different floating dtypes are accepted only inside ``torch.autocast`` for their device
    (low-precision features against float32 buffers); everything is computed in float32
    (or float64 when both are float64).
    """
    # Both tensors pass each check before the next check runs, so e.g. 1-D embeddings are
    # reported before integer features.
    v = _check_tensor(features, features_name, "(N, D)")
    t = _check_tensor(embeddings, "embeddings", "(n, D)")
    flatten = "; flatten region features to (num_regions, dim) first"
    _check_tensor(v, features_name, "(N, D)", ndim=2, hint=flatten)
    _check_tensor(t, "embeddings", "(n, D)", ndim=2)
    _check_tensor(v, features_name, "(N, D)", kind="floating-point")
    _check_tensor(t, "embeddings", "(n, D)", kind="floating-point")
    if t.shape[0] < 1 or t.shape[1] < 1:
        raise InputShapeError(
            f"embeddings must have at least one label and one dimension, got {tuple(t.shape)}"
        )
    if v.shape[1] != t.shape[1]:
        raise InputShapeError(
            f"{features_name} dimension D={v.shape[1]} does not match embeddings dimension "
            f"D={t.shape[1]}; project the region features to the text-embedding size"
        )
    if v.device != t.device:
        raise DeviceMismatchError(
            f"{features_name} is on {v.device} but embeddings are on {t.device}; move both "
            "to one device (e.g. loss.to(features.device))"
        )
    if v.dtype != t.dtype and not _autocast_on(v.device):
        raise DeviceMismatchError(
            f"{features_name} has dtype {v.dtype} but embeddings have dtype {t.dtype}; use "
            "one dtype, or run under torch.autocast (the loss then computes in float32)"
        )
    return v, t


def check_targets(targets: object, num: int, device: torch.device) -> Tensor:
    """Check ``targets``: an integer tensor of shape (N,) on ``device``."""
    y = _check_tensor(
        targets,
        "targets",
        "(N,)",
        kind="integer",
        shape=(num,),
        device=device,
        accepts=" (int64 class indices in -1..n)",
        hint="; N is the number of feature rows",
    )
    return y.long()


def check_weight(weight: object, num: int, device: torch.device) -> Tensor | None:
    """Check the optional per-row ``weight`` (N,) floating tensor."""
    if weight is None:
        return None
    return _check_tensor(
        weight,
        "weight",
        "(N,)",
        kind="floating-point",
        shape=(num,),
        device=device,
        hint="; one weight per region",
    )


def check_class_mask(
    class_mask: object, num: int, n: int, device: torch.device
) -> tuple[MaskRows | None, Tensor | None]:
    """Check a class mask; return its row accessor and the per-row dataset index (if any)."""
    if class_mask is None:
        return None, None
    alternative = " or a tuple (dataset_index (N,) int, dataset_masks (num_datasets, n) bool)"
    if isinstance(class_mask, Tensor):
        dense = _check_tensor(
            class_mask,
            "class_mask",
            "(N, n)",
            kind="bool",
            shape=(num, n),
            device=device,
            accepts=f" of shape (N, n){alternative}",
        )
        return MaskRows(dense=dense), None
    if not isinstance(class_mask, tuple) or len(class_mask) != 2:
        raise InputTypeError(
            f"class_mask must be a bool tensor of shape (N, n){alternative}; "
            f"got {type(class_mask).__name__}"
        )
    # As for features and embeddings, the checks are grouped: both parts are tensors before
    # either's dtype and shape are checked, and both devices are checked last.
    index_name, masks_name = "class_mask[0] (dataset_index)", "class_mask[1] (dataset_masks)"
    index = _check_tensor(class_mask[0], index_name, "(N,)")
    masks = _check_tensor(class_mask[1], masks_name, "(num_datasets, n)")
    _check_tensor(index, index_name, "(N,)", kind="integer", shape=(num,))
    _check_tensor(masks, masks_name, "(num_datasets, n)", kind="bool", shape=("num_datasets", n))
    _check_tensor(index, index_name, "(N,)", device=device)
    _check_tensor(masks, masks_name, "(num_datasets, n)", device=device)
    index = index.long()
    return MaskRows(index=index, masks=masks), index


class DeferredChecks:
    """Value checks gathered as 0-dim bool tensors ("is bad") and read with one sync."""

    def __init__(self) -> None:
        self._flags: list[Tensor] = []
        self._errors: list[Callable[[], Exception | None]] = []

    def add(self, bad: Tensor, error: Callable[[], Exception | None]) -> None:
        """Queue a check; ``error`` builds the exception (or None: a false alarm)."""
        self._flags.append(bad.reshape(()))
        self._errors.append(error)

    def add_non_finite(self, tensor: Tensor, name: str) -> None:
        """Queue "``tensor`` is all finite", scanned with one sum (no temporary copy).

        A NaN or inf makes the sum non-finite; a sum that overflows although every value is
        finite is re-checked element-wise before an error is raised.
        """
        if tensor.numel() == 0:
            return
        self.add(~torch.isfinite(finite_probe(tensor)), lambda: _non_finite(tensor, name))

    def run(self) -> None:
        if not self._flags:
            return
        device = self._flags[0].device
        flags = torch.stack([f.to(device) for f in self._flags]).tolist()
        for bad, make_error in zip(flags, self._errors, strict=True):
            if bad:
                error = make_error()
                if error is not None:
                    raise error


def finite_probe(tensor: Tensor) -> Tensor:
    """A 0-dim tensor that is non-finite if ``tensor`` holds a NaN or inf (its sum)."""
    acc = torch.float32 if tensor.dtype in (torch.float16, torch.bfloat16) else None
    return tensor.sum(dtype=acc)


def _non_finite(tensor: Tensor, name: str) -> Exception | None:
    if bool(torch.isfinite(tensor).all()):
        return None  # the sum overflowed, the values are fine
    return NonFiniteInputError(
        f"{name} contains NaN or infinite values; fix the input, or pass check_finite=False "
        "to skip this scan"
    )


def add_target_checks(
    checks: DeferredChecks,
    targets: Tensor,
    n: int,
    mask: MaskRows | None,
) -> None:
    """Queue the target-range check and, with a class mask, the "target is allowed" check."""
    if targets.numel() == 0:
        return

    def range_error() -> Exception | None:
        lo, hi = int(targets.min()), int(targets.max())
        return ScaleDetLossError(
            f"targets must lie in -1..n = -1..{n} (0..{n - 1} foreground, {n} background, -1 "
            f"ignore), got values in [{lo}, {hi}]"
        )

    checks.add(((targets < -1) | (targets > n)).any(), range_error)
    if mask is None:
        return
    if mask.index is not None and mask.masks is not None:
        index, num_sets = mask.index, mask.masks.shape[0]

        def index_error() -> Exception | None:
            lo, hi = int(index.min()), int(index.max())
            return ScaleDetLossError(
                f"class_mask[0] (dataset_index) must lie in 0..{num_sets - 1}, got values in "
                f"[{lo}, {hi}]"
            )

        checks.add(((index < 0) | (index >= num_sets)).any(), index_error)
    fg = (targets >= 0) & (targets < n)
    y = targets.clamp(0, n - 1)
    if mask.dense is not None:
        allowed = mask.dense.gather(1, y.unsqueeze(1)).squeeze(1)
    elif mask.index is not None and mask.masks is not None:
        allowed = mask.masks[mask.index.clamp(0, mask.masks.shape[0] - 1), y]
    else:  # pragma: no cover
        return

    def coverage_error() -> Exception | None:
        row = int(torch.nonzero(fg & ~allowed)[0, 0])
        return ScaleDetLossError(
            f"class_mask excludes the target label {int(targets[row])} of row {row}; a mask "
            "must allow every foreground row's own label"
        )

    checks.add((fg & ~allowed).any(), coverage_error)
