"""ScaleDet hard + soft visual-text alignment loss and a cosine classifier head.

Detector-agnostic; depends on torch only (``scaledet_labels`` is imported lazily, and only
by :meth:`ScaleDetLoss.from_bundle` given a path). Each loss is a plain function plus an
``nn.Module`` whose ``forward`` calls it.

Examples:
    >>> import torch
    >>> import scaledet_loss as sl
    >>> criterion = sl.ScaleDetLoss(torch.randn(4, 8), torch.eye(4))
    >>> head = sl.CosineClassifier(16, criterion.embeddings)
    >>> x = torch.randn(5, 16)
    >>> loss = criterion(head.embed(x), torch.tensor([0, 1, 4, 4, -1]))
    >>> loss.backward()
"""

from ._core import DEFAULT_LAM, DEFAULT_TAU
from ._validation import ClassMask, Reduction
from .cosine import CosineClassifier, cosine_logits
from .errors import (
    DeviceMismatchError,
    InputShapeError,
    InputTypeError,
    NonFiniteInputError,
    ScaleDetLossError,
)
from .federated import federated_class_mask
from .hard import HardLabelLoss, hard_label_loss
from .scaledet import LossTerms, ScaleDetLoss, scaledet_loss
from .soft import SoftLabelLoss, soft_label_loss

__all__ = [
    "DEFAULT_LAM",
    "DEFAULT_TAU",
    "ClassMask",
    "CosineClassifier",
    "DeviceMismatchError",
    "HardLabelLoss",
    "InputShapeError",
    "InputTypeError",
    "LossTerms",
    "NonFiniteInputError",
    "Reduction",
    "ScaleDetLoss",
    "ScaleDetLossError",
    "SoftLabelLoss",
    "cosine_logits",
    "federated_class_mask",
    "hard_label_loss",
    "scaledet_loss",
    "soft_label_loss",
]
