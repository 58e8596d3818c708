"""Hard label loss: sigmoid BCE between cosine logits and one-hot targets."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ._buffers import embeddings_tensor
from ._core import DEFAULT_TAU, alignment_loss
from ._validation import ClassMask, Reduction, check_reduction, check_tau

__all__ = ["HardLabelLoss", "hard_label_loss"]


def hard_label_loss(
    features: Tensor,
    embeddings: Tensor,
    targets: Tensor,
    *,
    tau: float = DEFAULT_TAU,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    class_mask: ClassMask | None = None,
    check_finite: bool = True,
    chunk_size: int | None = None,
) -> Tensor:
    r"""Hard label assignment loss: per-label sigmoid BCE on temperature-scaled cosines.

    .. math::

        L_{hl} = \frac{1}{|V|} \sum_{i \in V} \sum_{j=1}^{n} m_{ij}\,
            \mathrm{BCEWithLogits}\big(\cos(v_i, t_j) / \tau,\ [y_i = j]\big)

    where :math:`V` are the non-ignored rows (``y_i != -1``; background rows ``y_i = n``
    have an all-zero target) and :math:`m` is the optional class mask (1 by default).

    Args:
        features: region features ``(N, D)``.
        embeddings: label embeddings ``(n, D)``.
        targets: int ``(N,)``: ``0..n-1`` foreground, ``n`` background, ``-1`` ignore.
        tau: temperature > 0 (default 0.05).
        reduction: ``"mean"`` (divide by :math:`|V|`), ``"sum"`` or ``"none"`` (per row).
        weight: optional per-row weight ``(N,)``.
        class_mask: bool ``(N, n)`` or ``(dataset_index, dataset_masks)``; see
            :func:`scaledet_loss`.
        check_finite: scan inputs for NaN/inf.
        chunk_size: rows per chunk (None: automatic).

    Returns:
        The loss, float32 (float64 for float64 inputs).

    Examples:
        >>> import torch
        >>> from scaledet_loss import hard_label_loss
        >>> v = torch.randn(4, 8, requires_grad=True)
        >>> loss = hard_label_loss(v, torch.randn(3, 8), torch.tensor([0, 2, 3, -1]))
        >>> loss.backward()
    """
    total, _, _ = alignment_loss(
        features,
        embeddings,
        targets,
        None,
        tau=tau,
        lam=0.0,
        hard=True,
        soft=False,
        reduction=reduction,
        weight=weight,
        class_mask=class_mask,
        check_finite=check_finite,
        chunk_size=chunk_size,
    )
    return total


class HardLabelLoss(nn.Module):
    r"""Module form of :func:`hard_label_loss`; holds the label embeddings as a buffer.

    .. math::

        L_{hl} = \frac{1}{|V|} \sum_{i \in V} \sum_j
            \mathrm{BCEWithLogits}\big(\cos(v_i, t_j) / \tau,\ [y_i = j]\big)

    Args:
        embeddings: label embeddings ``(n, D)`` (tensor or numpy).
        tau: temperature (default 0.05).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        check_finite: scan inputs for NaN/inf.
        chunk_size: rows per chunk (None: automatic).

    Examples:
        >>> import torch
        >>> from scaledet_loss import HardLabelLoss
        >>> criterion = HardLabelLoss(torch.randn(3, 8))
        >>> criterion(torch.randn(4, 8), torch.tensor([0, 1, 3, -1])).shape
        torch.Size([])
    """

    embeddings: Tensor

    def __init__(
        self,
        embeddings: Any,
        *,
        tau: float = DEFAULT_TAU,
        reduction: Reduction = "mean",
        check_finite: bool = True,
        chunk_size: int | None = None,
    ) -> None:
        super().__init__()
        self.tau = check_tau(tau)
        self.reduction: Reduction = check_reduction(reduction)
        self.check_finite = check_finite
        self.chunk_size = chunk_size
        self.register_buffer("embeddings", embeddings_tensor(embeddings))

    def forward(
        self,
        features: Tensor,
        targets: Tensor,
        *,
        weight: Tensor | None = None,
        class_mask: ClassMask | None = None,
    ) -> Tensor:
        """Compute the hard label loss of ``features`` (N, D) against ``targets`` (N,)."""
        return hard_label_loss(
            features,
            self.embeddings,
            targets,
            tau=self.tau,
            reduction=self.reduction,
            weight=weight,
            class_mask=class_mask,
            check_finite=self.check_finite,
            chunk_size=self.chunk_size,
        )

    def extra_repr(self) -> str:
        n, dim = self.embeddings.shape
        return f"num_classes={n}, dim={dim}, tau={self.tau}, reduction={self.reduction!r}"
