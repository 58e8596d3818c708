"""Soft label loss: squared error between cosines and the label-similarity row of the target."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ._buffers import embeddings_tensor, register_similarity, similarity_of
from ._core import DEFAULT_TAU, alignment_loss
from ._validation import Reduction, check_reduction

__all__ = ["SoftLabelLoss", "soft_label_loss"]


def soft_label_loss(
    features: Tensor,
    embeddings: Tensor,
    targets: Tensor,
    similarity: Tensor,
    *,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    check_finite: bool = True,
    chunk_size: int | None = None,
) -> Tensor:
    r"""Soft label assignment loss: cosines regressed onto the target's similarity row.

    .. math::

        L_{sl} = \frac{1}{|F|\, n} \sum_{i \in F} \sum_{j=1}^{n}
            \big(\cos(v_i, t_j) - S_{y_i j}\big)^2

    over the foreground rows :math:`F` (``0 <= y_i < n``); background and ignored rows do
    not contribute. Without foreground rows the loss is 0 (with a zero gradient).

    Args:
        features: region features ``(N, D)``.
        embeddings: label embeddings ``(n, D)``.
        targets: int ``(N,)``: ``0..n-1`` foreground, ``n`` background, ``-1`` ignore.
        similarity: ``(n, n)`` label similarity in ``[0, 1]``, dense or torch sparse.
        reduction: ``"mean"`` (divide by :math:`|F| n`), ``"sum"`` or ``"none"`` (per row).
        weight: optional per-row weight ``(N,)``.
        check_finite: scan inputs (S included) for NaN/inf.
        chunk_size: rows per chunk (None: automatic).

    Returns:
        The loss, float32 (float64 for float64 inputs).

    Examples:
        >>> import torch
        >>> from scaledet_loss import soft_label_loss
        >>> t = torch.eye(3)
        >>> v = t[[0, 2]] * 3.0  # features pointing exactly at their labels
        >>> float(soft_label_loss(v, t, torch.tensor([0, 2]), torch.eye(3)))
        0.0
    """
    total, _, _ = alignment_loss(
        features,
        embeddings,
        targets,
        similarity,
        tau=DEFAULT_TAU,
        lam=1.0,
        hard=False,
        soft=True,
        reduction=reduction,
        weight=weight,
        class_mask=None,
        check_finite=check_finite,
        chunk_size=chunk_size,
    )
    return total


class SoftLabelLoss(nn.Module):
    r"""Module form of :func:`soft_label_loss`; holds embeddings and S as buffers.

    .. math::

        L_{sl} = \frac{1}{|F|\, n} \sum_{i \in F} \sum_j \big(\cos(v_i, t_j) - S_{y_i j}\big)^2

    Args:
        embeddings: label embeddings ``(n, D)`` (tensor or numpy).
        similarity: ``(n, n)`` similarity: dense, torch sparse or scipy.sparse.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        check_finite: scan inputs for NaN/inf (S is checked once, here).
        chunk_size: rows per chunk (None: automatic).

    Examples:
        >>> import torch
        >>> from scaledet_loss import SoftLabelLoss
        >>> criterion = SoftLabelLoss(torch.randn(3, 8), torch.eye(3))
        >>> criterion(torch.randn(4, 8), torch.tensor([0, 1, 3, -1])).shape
        torch.Size([])
    """

    embeddings: Tensor

    def __init__(
        self,
        embeddings: Any,
        similarity: Any,
        *,
        reduction: Reduction = "mean",
        check_finite: bool = True,
        chunk_size: int | None = None,
    ) -> None:
        super().__init__()
        self.reduction: Reduction = check_reduction(reduction)
        self.check_finite = check_finite
        self.chunk_size = chunk_size
        self.register_buffer("embeddings", embeddings_tensor(embeddings))
        self.similarity_is_sparse = register_similarity(
            self, similarity, int(self.embeddings.shape[0])
        )

    def forward(self, features: Tensor, targets: Tensor, *, weight: Tensor | None = None) -> Tensor:
        """Compute the soft label loss of ``features`` (N, D) against ``targets`` (N,)."""
        total, _, _ = alignment_loss(
            features,
            self.embeddings,
            targets,
            similarity_of(self, int(self.embeddings.shape[0])),
            tau=DEFAULT_TAU,
            lam=1.0,
            hard=False,
            soft=True,
            reduction=self.reduction,
            weight=weight,
            class_mask=None,
            check_finite=self.check_finite,
            chunk_size=self.chunk_size,
            check_similarity=False,
        )
        return total

    def extra_repr(self) -> str:
        n, dim = self.embeddings.shape
        kind = "sparse" if self.similarity_is_sparse else "dense"
        return f"num_classes={n}, dim={dim}, reduction={self.reduction!r}, similarity={kind}"
