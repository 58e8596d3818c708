"""Federated negative sampling (Detic's federated loss) as a class mask for the hard term."""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor

from ._validation import _check_tensor, check_positive_int, check_targets
from .errors import (
    DeviceMismatchError,
    InputShapeError,
    InputTypeError,
    NonFiniteInputError,
    ScaleDetLossError,
)

__all__ = ["federated_class_mask"]


def federated_class_mask(
    targets: Tensor,
    image_counts: Tensor,
    *,
    num_sampled: int = 50,
    power: float = 0.5,
    num_classes: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Class mask of the batch's positive labels plus frequency-sampled negatives.

    As Detic's federated loss: every label that is the target of some foreground row is
    kept, and if fewer than ``num_sampled`` labels are kept, more are drawn **without
    replacement** with probability

    .. math::

        p_j \propto \mathrm{image\_count}_j^{\,\mathrm{power}}

    among the labels not yet kept (labels with count 0 are never drawn), up to
    ``num_sampled`` labels in total. A ``num_sampled`` larger than the number of labels is
    not an error: when too few labels can be drawn, every label with a non-zero count is
    kept (and the result has fewer than ``num_sampled`` labels). Pass the result as
    ``class_mask`` to :func:`scaledet_loss` / :func:`hard_label_loss`.

    Args:
        targets: int ``(N,)`` targets (``0..n-1`` foreground, ``n`` background, ``-1``
            ignore).
        image_counts: ``(n,)`` finite, non-negative counts of images per label (e.g. LVIS
            ``image_count``), integer or floating; its length ``n`` is the number of labels.
        num_sampled: total number of labels to keep, an int >= 1 (Detic: 50).
        power: exponent on the counts, a finite number >= 0 (Detic: 0.5). ``0`` draws
            uniformly among the labels with a non-zero count; ``1`` in proportion to the
            counts. Negative powers (favouring rare labels) are refused.
        num_classes: optional number of labels of the loss (e.g. ``criterion.num_classes``);
            if given, ``image_counts`` must have exactly this length. Recommended: an
            ``image_counts`` one entry short would otherwise silently turn the last label
            into the background index.
        generator: random generator for reproducible draws, on the device of the inputs.

    Returns:
        A bool ``(N, n)`` mask: one ``(n,)`` row expanded over the rows (a view, no copy).

    Raises:
        InputTypeError: a non-tensor or non-integer ``targets``, a non-tensor or non-real
            ``image_counts``, a non-int ``num_sampled`` / ``num_classes``, a non-number
            ``power`` or a ``generator`` that is not a :class:`torch.Generator`.
        InputShapeError: ``targets`` not 1-D, ``image_counts`` not ``(n,)`` with ``n >= 1``
            or (with ``num_classes``) of another length.
        NonFiniteInputError: NaN or infinite ``image_counts``.
        DeviceMismatchError: ``image_counts`` or ``generator`` on another device than
            ``targets``.
        ScaleDetLossError: ``num_sampled < 1``, a NaN, infinite or negative ``power``,
            negative ``image_counts``, ``targets`` outside ``-1..n``.

    Examples:
        >>> import torch
        >>> from scaledet_loss import federated_class_mask
        >>> counts = torch.tensor([10.0, 0.0, 5.0, 1.0, 7.0])
        >>> mask = federated_class_mask(torch.tensor([1, 5, 1]), counts, num_sampled=3,
        ...                             num_classes=5,
        ...                             generator=torch.Generator().manual_seed(0))
        >>> mask.shape, int(mask[0].sum()), bool(mask[0, 1])
        (torch.Size([3, 5]), 3, True)
    """
    num_sampled = check_positive_int(num_sampled, "num_sampled", "the number of labels to keep")
    power_f = _check_power(power)
    if num_classes is not None:
        num_classes = check_positive_int(num_classes, "num_classes")
    counts_in = _check_image_counts(image_counts, num_classes)
    n = counts_in.shape[0]
    _check_tensor(targets, "targets", "(N,)", accepts=" (int64 class indices in -1..n)")
    _check_tensor(targets, "targets", "(N,)", ndim=1)
    y = check_targets(targets, targets.shape[0], targets.device)
    if counts_in.device != y.device:
        raise DeviceMismatchError(
            f"image_counts are on {counts_in.device} but targets are on {y.device}; move both "
            "to one device"
        )
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise InputTypeError(
                f"generator must be None or a torch.Generator, got {type(generator).__name__}"
            )
        if generator.device.type != y.device.type:
            raise DeviceMismatchError(
                f"generator is on {generator.device} but targets and image_counts are on "
                f"{y.device}; create it with torch.Generator(device={str(y.device)!r})"
            )
    counts = counts_in.to(torch.float64)
    flags = torch.stack(
        [(~torch.isfinite(counts)).any(), (counts < 0).any(), ((y < -1) | (y > n)).any()]
    ).tolist()
    if flags[0]:
        raise NonFiniteInputError(
            f"image_counts must be finite, got {_first_bad(counts_in, ~torch.isfinite(counts))}"
        )
    if flags[1]:
        raise ScaleDetLossError(
            f"image_counts must be non-negative, got {_first_bad(counts_in, counts < 0)}"
        )
    if flags[2]:
        hint = (
            ""
            if num_classes is not None
            else "; if that is not your number of labels, image_counts has the wrong length "
            "(pass num_classes= to check it)"
        )
        raise ScaleDetLossError(
            f"targets must lie in -1..n = -1..{n} (n = len(image_counts) = {n}: 0..{n - 1} "
            f"foreground, {n} background, -1 ignore), got values in "
            f"[{int(y.min())}, {int(y.max())}]{hint}"
        )
    keep = torch.zeros(n, dtype=torch.bool, device=y.device)
    keep[y[(y >= 0) & (y < n)]] = True
    drawable = (counts > 0) & ~keep
    kept, available = torch.stack([keep.sum(), drawable.sum()]).tolist()
    missing = min(num_sampled - int(kept), int(available))
    if missing > 0:
        _draw(keep, drawable, counts.log() * power_f, missing, generator)
    return keep.unsqueeze(0).expand(y.shape[0], n)


def _draw(
    keep: Tensor,
    drawable: Tensor,
    log_weights: Tensor,
    missing: int,
    generator: torch.Generator | None,
) -> None:
    """Draw ``missing`` labels among ``drawable`` without replacement; mark them in ``keep``.

    The weights are taken in log space relative to the largest, so no finite power
    overflows. Weights that underflow to 0 (only for huge powers) are drawn in a later
    round, after the larger ones, which is what sampling without replacement does anyway.
    """
    while missing > 0:
        log_w = torch.where(drawable, log_weights, torch.full_like(log_weights, -math.inf))
        prob = (log_w - log_w.max()).exp()
        draw = min(missing, int((prob > 0).sum()))
        extra = torch.multinomial(prob, draw, replacement=False, generator=generator)
        keep[extra] = True
        drawable[extra] = False
        missing -= draw


def _check_power(power: object) -> float:
    """Return ``power`` as a float: a finite real number >= 0."""
    if isinstance(power, bool) or not isinstance(power, numbers.Real):
        raise InputTypeError(
            f"power must be a real number (int or float) >= 0, got {power!r} "
            f"({type(power).__name__})"
        )
    result = float(power)
    if not math.isfinite(result) or result < 0:
        raise ScaleDetLossError(
            f"power (exponent on image_counts) must be a finite number >= 0, got {power!r}; "
            "Detic uses 0.5, 0 samples uniformly"
        )
    return result


def _check_image_counts(image_counts: object, num_classes: int | None) -> Tensor:
    """Check the type, dtype and shape of ``image_counts`` (values are checked later)."""
    counts = _check_tensor(image_counts, "image_counts", "(n,)", accepts=" (images per label)")
    if counts.dim() != 1 or counts.shape[0] < 1:
        raise InputShapeError(
            f"image_counts must have shape (n,) with n >= 1 (one count per label), got "
            f"{tuple(counts.shape)}"
        )
    if counts.dtype == torch.bool or counts.dtype.is_complex:
        raise InputTypeError(
            f"image_counts must be an integer or floating-point tensor, got {counts.dtype}"
        )
    if num_classes is not None and counts.shape[0] != num_classes:
        raise InputShapeError(
            f"image_counts must have one entry per label: length num_classes={num_classes}, "
            f"got length {counts.shape[0]}"
        )
    return counts


def _first_bad(values: Tensor, bad: Tensor) -> str:
    index = int(torch.nonzero(bad)[0, 0])
    return f"{values[index].item()} at index {index}"
