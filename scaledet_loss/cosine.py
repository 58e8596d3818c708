"""Cosine-similarity logits and the cosine classifier head with a swappable label space."""

from __future__ import annotations

from typing import Any, Literal, overload

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._buffers import embeddings_tensor
from ._core import DEFAULT_TAU
from ._validation import DeferredChecks, check_features_and_embeddings, check_tau
from .errors import InputShapeError

__all__ = ["CosineClassifier", "cosine_logits"]


def cosine_logits(
    features: Tensor,
    embeddings: Tensor,
    *,
    tau: float = DEFAULT_TAU,
    check_finite: bool = True,
) -> Tensor:
    r"""Temperature-scaled cosine similarity of every feature to every label embedding.

    .. math::

        \mathrm{logit}_{ij} = \frac{\cos(v_i, t_j)}{\tau}
            = \frac{v_i^\top t_j}{\tau\, \lVert v_i \rVert\, \lVert t_j \rVert}

    These are the logits the hard label loss scores with a sigmoid; ``tau=1`` gives the
    raw cosines. Follows ``torch.autocast`` (the matmul runs in the autocast dtype).

    Args:
        features: ``(N, D)``.
        embeddings: ``(n, D)``.
        tau: temperature > 0 (default 0.05, i.e. a logit scale of 20).
        check_finite: scan both inputs for NaN/inf.

    Returns:
        ``(N, n)`` logits.

    Examples:
        >>> import torch
        >>> from scaledet_loss import cosine_logits
        >>> t = torch.eye(3)
        >>> cosine_logits(t[:2] * 5.0, t, tau=1.0)
        tensor([[1., 0., 0.],
                [0., 1., 0.]])
    """
    tau_f = check_tau(tau)
    v, t = check_features_and_embeddings(features, embeddings)
    if check_finite:
        checks = DeferredChecks()
        checks.add_non_finite(v, "features")
        checks.add_non_finite(t, "embeddings")
        checks.run()
    return _cosine(v, t, tau_f)


def _cosine(v: Tensor, t: Tensor, tau: float) -> Tensor:
    return torch.mm(F.normalize(v, dim=1), F.normalize(t, dim=1).t()) * (1.0 / tau)


class CosineClassifier(nn.Module):
    r"""Region classifier: a linear projection to the text space, then cosine logits.

    .. math::

        \mathrm{logit}_{ij} = \cos(W x_i + b,\ t_j) / \tau

    The label embeddings ``t`` are a frozen buffer. Scores are per-label sigmoids, so there
    is no background logit: a background region is one whose scores are all low. Code that
    expects detectron2/mmdetection's ``n + 1`` columns (background last) can set
    ``append_background=True`` to get a constant zero background column, as in Detic's
    zero-shot classifier. :meth:`set_label_space` swaps the vocabulary (any number of
    labels) for test-time label-space replacement.

    For training, use :meth:`embed` (or ``return_features=True``) and feed the projected
    features to :class:`ScaleDetLoss`: the loss forms the cosines itself in its fused
    kernel, so the ``N x n`` logits need not be computed at all during training.

    Args:
        in_features: size of the incoming region feature (flattened).
        embeddings: label embeddings ``(n, D)``; stored L2-normalized.
        tau: temperature of the logits (default 0.05; use the loss's value).
        append_background: add a zero logit column for the background at index ``n``.
        bias: whether the projection has a bias.

    Examples:
        >>> import torch
        >>> from scaledet_loss import CosineClassifier
        >>> head = CosineClassifier(32, torch.randn(5, 16))
        >>> head(torch.randn(4, 32)).shape
        torch.Size([4, 5])
        >>> head.set_label_space(torch.randn(9, 16))  # e.g. the test dataset's labels
        >>> logits, features = head(torch.randn(4, 32), return_features=True)
        >>> logits.shape, features.shape
        (torch.Size([4, 9]), torch.Size([4, 16]))
    """

    embeddings: Tensor

    def __init__(
        self,
        in_features: int,
        embeddings: Any,
        *,
        tau: float = DEFAULT_TAU,
        append_background: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        emb = embeddings_tensor(embeddings, dtype=torch.get_default_dtype())
        self.in_features = in_features
        self.tau = check_tau(tau)
        self.append_background = append_background
        self.proj = nn.Linear(in_features, int(emb.shape[1]), bias=bias)
        self.register_buffer("embeddings", emb)

    @property
    def num_classes(self) -> int:
        """Number of labels ``n`` currently in the label space."""
        return int(self.embeddings.shape[0])

    @property
    def embed_dim(self) -> int:
        """Dimension ``D`` of the label embeddings (the projection's output size)."""
        return int(self.embeddings.shape[1])

    def embed(self, x: Tensor) -> Tensor:
        """Project region features ``(N, in_features)`` (or ``(N, ...)``) to ``(N, D)``."""
        if x.dim() > 2:
            x = torch.flatten(x, start_dim=1)
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise InputShapeError(
                f"x must have shape (N, {self.in_features}) (or flatten to it), "
                f"got {tuple(x.shape)}"
            )
        out: Tensor = self.proj(x)
        return out

    @overload
    def forward(self, x: Tensor, *, return_features: Literal[False] = ...) -> Tensor: ...

    @overload
    def forward(self, x: Tensor, *, return_features: Literal[True]) -> tuple[Tensor, Tensor]: ...

    def forward(
        self, x: Tensor, *, return_features: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Return logits ``(N, n)`` (``(N, n + 1)`` with background), and the features."""
        features = self.embed(x)
        emb = self.embeddings
        if features.dtype != emb.dtype and not torch.is_autocast_enabled(features.device.type):
            emb = emb.to(features.dtype)
        logits = _cosine(features, emb, self.tau)
        if self.append_background:
            logits = torch.cat([logits, logits.new_zeros(logits.shape[0], 1)], dim=1)
        return (logits, features) if return_features else logits

    @torch.no_grad()
    def set_label_space(self, embeddings: Any) -> None:
        """Replace the label embeddings (any number of labels, same dimension ``D``).

        The new embeddings are L2-normalized and placed on the current buffer's device and
        dtype. Call it after ``load_state_dict`` (the buffer is part of the state dict).

        Raises:
            InputShapeError: the dimension differs from :attr:`embed_dim`.
        """
        emb = embeddings_tensor(embeddings)
        if emb.shape[1] != self.embed_dim:
            raise InputShapeError(
                f"embeddings must have dimension D={self.embed_dim} (the projection's output), "
                f"got shape {tuple(emb.shape)}"
            )
        self.embeddings = emb.to(device=self.embeddings.device, dtype=self.embeddings.dtype)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, num_classes={self.num_classes}, "
            f"embed_dim={self.embed_dim}, tau={self.tau}, "
            f"append_background={self.append_background}"
        )
