"""Federated negative sampling (Detic's federated loss) as a class mask for the hard term."""

from __future__ import annotations

import torch
from torch import Tensor

from ._validation import check_targets
from .errors import DeviceMismatchError, InputShapeError, InputTypeError, ScaleDetLossError

__all__ = ["federated_class_mask"]


def federated_class_mask(
    targets: Tensor,
    image_counts: Tensor,
    *,
    num_sampled: int = 50,
    power: float = 0.5,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Class mask of the batch's positive labels plus frequency-sampled negatives.

    As Detic's federated loss: every label that is the target of some foreground row is
    kept, and if fewer than ``num_sampled`` labels are kept, more are drawn **without
    replacement** with probability

    .. math::

        p_j \propto \mathrm{image\_count}_j^{\,\mathrm{power}}

    among the labels not yet kept (labels with count 0 are never drawn), up to
    ``num_sampled`` labels in total (fewer when too few labels can be drawn). Pass the result
    as ``class_mask`` to :func:`scaledet_loss` / :func:`hard_label_loss`.

    Args:
        targets: int ``(N,)`` targets (``0..n-1`` foreground, ``n`` background, ``-1``
            ignore).
        image_counts: ``(n,)`` non-negative counts of images per label (e.g. LVIS
            ``image_count``).
        num_sampled: total number of labels to keep (Detic: 50).
        power: exponent on the counts (Detic: 0.5).
        generator: random generator for reproducible draws.

    Returns:
        A bool ``(N, n)`` mask: one ``(n,)`` row expanded over the rows (a view, no copy).

    Examples:
        >>> import torch
        >>> from scaledet_loss import federated_class_mask
        >>> counts = torch.tensor([10.0, 0.0, 5.0, 1.0, 7.0])
        >>> mask = federated_class_mask(torch.tensor([1, 5, 1]), counts, num_sampled=3,
        ...                             generator=torch.Generator().manual_seed(0))
        >>> mask.shape, int(mask[0].sum()), bool(mask[0, 1])
        (torch.Size([3, 5]), 3, True)
    """
    if not isinstance(image_counts, Tensor):
        raise InputTypeError(
            f"image_counts must be a torch.Tensor of shape (n,), got {type(image_counts).__name__}"
        )
    if image_counts.dim() != 1 or image_counts.numel() < 1:
        raise InputShapeError(
            f"image_counts must have shape (n,) with n >= 1, got {tuple(image_counts.shape)}"
        )
    if isinstance(num_sampled, bool) or not isinstance(num_sampled, int) or num_sampled < 0:
        raise InputTypeError(f"num_sampled must be a non-negative int, got {num_sampled!r}")
    if isinstance(power, bool) or not isinstance(power, (int, float)) or power < 0:
        raise InputTypeError(f"power must be a non-negative number, got {power!r}")
    n = image_counts.numel()
    if not isinstance(targets, Tensor) or targets.dim() != 1:
        raise InputShapeError(
            f"targets must be a 1-D torch.Tensor (N,), got {getattr(targets, 'shape', targets)!r}"
        )
    y = check_targets(targets, targets.shape[0], targets.device)
    if image_counts.device != y.device:
        raise DeviceMismatchError(
            f"image_counts are on {image_counts.device} but targets are on {y.device}"
        )
    counts = image_counts.to(torch.float64)
    bad_counts = ~torch.isfinite(counts) | (counts < 0)
    bad_targets = (y < -1) | (y > n)
    flags = torch.stack([bad_counts.any(), bad_targets.any()]).tolist()
    if flags[0]:
        raise ScaleDetLossError("image_counts must be finite and non-negative")
    if flags[1]:
        raise ScaleDetLossError(
            f"targets must lie in -1..n = -1..{n} (n from image_counts), got values in "
            f"[{int(y.min())}, {int(y.max())}]"
        )
    keep = torch.zeros(n, dtype=torch.bool, device=y.device)
    positives = y[(y >= 0) & (y < n)]
    keep[positives] = True
    missing = num_sampled - int(keep.sum())
    if missing > 0:
        prob = counts.pow(power) if power != 0 else (counts > 0).to(torch.float64)
        prob = torch.where(counts > 0, prob, torch.zeros_like(prob))
        prob[keep] = 0
        available = int((prob > 0).sum())
        draw = min(missing, available)
        if draw > 0:
            extra = torch.multinomial(prob, draw, replacement=False, generator=generator)
            keep[extra] = True
    return keep.unsqueeze(0).expand(y.shape[0], n)
