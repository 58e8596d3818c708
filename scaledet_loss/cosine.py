"""Cosine-similarity logits and the cosine classifier head with a swappable label space."""

from __future__ import annotations

from typing import Any, Literal, overload

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._buffers import embeddings_tensor
from ._core import DEFAULT_TAU
from ._validation import (
    DeferredChecks,
    check_features_and_embeddings,
    check_positive_int,
    check_tau,
)
from .errors import DeviceMismatchError, InputShapeError, InputTypeError

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

    The input ``x`` must be a floating-point tensor of the module's dtype on its device,
    as for :class:`torch.nn.Linear`: float64 input to a float32 head is refused with an
    :class:`InputTypeError` (cast the input with ``x.float()`` or the head with
    ``head.double()``), not silently cast. Under ``torch.autocast`` for the input's device,
    float16/bfloat16/float32 inputs are accepted whatever the head's (non-float64) dtype.

    Args:
        in_features: size of the incoming region feature (flattened), an int >= 1.
        embeddings: label embeddings ``(n, D)`` with ``n, D >= 1``; stored L2-normalized.
        tau: temperature of the logits (default 0.05; use the loss's value).
        append_background: add a zero logit column for the background at index ``n``.
        bias: whether the projection has a bias.

    Raises:
        InputTypeError: ``in_features`` is not an int; ``embeddings`` are not numeric.
        ScaleDetLossError: ``in_features < 1`` or a bad ``tau``; subclasses name shape
            and finiteness problems of ``embeddings``.

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
        in_features = check_positive_int(
            in_features, "in_features", "the size of the flattened region feature"
        )
        self.tau = check_tau(tau)
        emb = embeddings_tensor(embeddings, dtype=torch.get_default_dtype())
        self.in_features = in_features
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
        """Project region features ``(N, in_features)`` (or ``(N, ...)``) to ``(N, D)``.

        Raises:
            InputTypeError: ``x`` is not a floating-point tensor, or (outside autocast) its
                dtype differs from the head's.
            InputShapeError: ``x`` does not flatten to ``(N, in_features)``.
            DeviceMismatchError: ``x`` is on another device than the head.
        """
        x = self._check_input(x)
        out: Tensor = self.proj(x)
        return out

    def _check_input(self, x: object) -> Tensor:
        """Check ``x`` (metadata only, so ``torch.compile`` captures it without a break)."""
        if not isinstance(x, Tensor):
            raise InputTypeError(
                f"x must be a torch.Tensor of shape (N, {self.in_features}), got {type(x).__name__}"
            )
        if x.dim() > 2:
            x = torch.flatten(x, start_dim=1)
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise InputShapeError(
                f"x must have shape (N, in_features) = (N, {self.in_features}) (or flatten to "
                f"it), got {tuple(x.shape)}"
            )
        weight = self.proj.weight
        if not x.dtype.is_floating_point:
            raise InputTypeError(
                f"x must be a floating-point tensor (the head is {weight.dtype}), got "
                f"{x.dtype}; convert it, e.g. x.to({weight.dtype})"
            )
        if x.device != weight.device:
            raise DeviceMismatchError(
                f"x is on {x.device} but the head is on {weight.device}; move one of them "
                f"(x.to({str(weight.device)!r}) or head.to({str(x.device)!r}))"
            )
        if x.dtype != weight.dtype:
            mixable = torch.float64 not in (x.dtype, weight.dtype)
            if not (mixable and torch.is_autocast_enabled(x.device.type)):
                autocast = ", or run under torch.autocast" if mixable else ""
                raise InputTypeError(
                    f"x has dtype {x.dtype} but the head is {weight.dtype}; cast the input "
                    f"(x.to({weight.dtype})) or the head (head.to({x.dtype})){autocast}"
                )
        return x

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
