"""The ScaleDet classification loss: hard label loss + ``lam`` * soft label loss."""

from __future__ import annotations

import os
from typing import Any, Literal, NamedTuple, overload

import torch
from torch import Tensor, nn

from ._buffers import embeddings_tensor, register_similarity, similarity_of
from ._core import DEFAULT_LAM, DEFAULT_TAU, alignment_loss
from ._validation import ClassMask, Reduction, check_lam, check_reduction, check_tau
from .errors import InputShapeError, InputTypeError

__all__ = ["LossTerms", "ScaleDetLoss", "scaledet_loss"]


class LossTerms(NamedTuple):
    """The total loss and its two terms, ``loss = hard + lam * soft``.

    Only ``loss`` carries a gradient; ``hard`` and ``soft`` are detached values for logging
    (use :func:`hard_label_loss` / :func:`soft_label_loss` to differentiate one term alone).
    """

    loss: Tensor
    hard: Tensor
    soft: Tensor


@overload
def scaledet_loss(
    features: Tensor,
    embeddings: Tensor,
    targets: Tensor,
    similarity: Tensor,
    *,
    tau: float = ...,
    lam: float = ...,
    reduction: Reduction = ...,
    weight: Tensor | None = ...,
    class_mask: ClassMask | None = ...,
    return_terms: Literal[False] = ...,
    check_finite: bool = ...,
    chunk_size: int | None = ...,
) -> Tensor: ...


@overload
def scaledet_loss(
    features: Tensor,
    embeddings: Tensor,
    targets: Tensor,
    similarity: Tensor,
    *,
    tau: float = ...,
    lam: float = ...,
    reduction: Reduction = ...,
    weight: Tensor | None = ...,
    class_mask: ClassMask | None = ...,
    return_terms: Literal[True],
    check_finite: bool = ...,
    chunk_size: int | None = ...,
) -> LossTerms: ...


def scaledet_loss(
    features: Tensor,
    embeddings: Tensor,
    targets: Tensor,
    similarity: Tensor,
    *,
    tau: float = DEFAULT_TAU,
    lam: float = DEFAULT_LAM,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    class_mask: ClassMask | None = None,
    return_terms: bool = False,
    check_finite: bool = True,
    chunk_size: int | None = None,
) -> Tensor | LossTerms:
    r"""ScaleDet visual-text alignment loss: hard label loss plus weighted soft label loss.

    With :math:`c_{ij} = \cos(v_i, t_j)`, foreground rows :math:`F` (``0 <= y_i < n``),
    valid rows :math:`V` (``y_i != -1``; background ``y_i = n`` is valid),

    .. math::

        L_{hl} = \frac{1}{|V|} \sum_{i \in V} \sum_{j=1}^{n}
            \mathrm{BCEWithLogits}\big(c_{ij} / \tau,\ [y_i = j]\big)

        L_{sl} = \frac{1}{|F|\, n} \sum_{i \in F} \sum_{j=1}^{n} \big(c_{ij} - S_{y_i j}\big)^2

        L = L_{hl} + \lambda L_{sl}

    Background rows have an all-zero hard target and no soft term. An empty term (no valid
    or no foreground row) is 0 and still has a (zero) gradient. The gradient is computed by
    a fused, chunked kernel that never stores an ``N x n`` matrix.

    Args:
        features: region features :math:`v`, shape ``(N, D)``; any floating dtype.
        embeddings: label embeddings :math:`t`, shape ``(n, D)``; normalized internally.
        targets: int tensor ``(N,)`` with values in ``0..n-1`` (foreground), ``n``
            (background, the detectron2 convention) or ``-1`` (ignore).
        similarity: label similarity :math:`S`, ``(n, n)`` with values in ``[0, 1]``; dense,
            or a torch sparse COO/CSR tensor (missing entries are 0).
        tau: temperature :math:`\tau > 0` of the hard term (default 0.05, a logit
            scale of 20; chosen by our miniature ablation, see docs/loss.md; Detic uses 0.02).
        lam: weight :math:`\lambda \ge 0` of the soft term (default 1.0; chosen by the
            same ablation).
        reduction: ``"mean"`` as above; ``"sum"`` drops the normalizers :math:`|V|` and
            :math:`|F| n`; ``"none"`` returns the per-row sums (``(N,)``; ignored rows 0),
            so ``"sum"`` equals ``reduction="none"`` summed.
        weight: optional per-row weight ``(N,)`` multiplying each row's hard and soft sums
            (``"mean"`` still divides by the row counts, like ``BCEWithLogits``'s weight).
        class_mask: restrict the hard term of each row to some labels: a bool ``(N, n)``
            tensor, or ``(dataset_index (N,), dataset_masks (num_datasets, n))`` for
            UniDet-style partitioned negatives. See :func:`federated_class_mask`. A
            foreground row's own label must be allowed.
        return_terms: return :class:`LossTerms` ``(loss, hard, soft)`` instead of the loss.
        check_finite: scan features, embeddings, weight and S for NaN/inf (one reduction
            each); turn off in tight loops once inputs are trusted.
        chunk_size: rows per chunk of the fused kernel; default keeps each ``(chunk, n)``
            temporary near 16 MB (at least 128 rows).

    Returns:
        The loss (0-dim, or ``(N,)`` for ``reduction="none"``) in float32 (float64 when
        features and embeddings are float64), or :class:`LossTerms` if ``return_terms``.

    Raises:
        ScaleDetLossError: a bad value (targets out of range, ``tau <= 0``, unknown
            reduction, NaN/inf input); subclasses name shape, type and device problems.

    Examples:
        >>> import torch
        >>> from scaledet_loss import scaledet_loss
        >>> v = torch.randn(6, 8, requires_grad=True)
        >>> t = torch.randn(4, 8)
        >>> S = torch.eye(4)
        >>> y = torch.tensor([0, 3, 4, -1, 2, 4])  # 4 = background, -1 = ignore
        >>> loss = scaledet_loss(v, t, y, S)
        >>> loss.backward()
        >>> terms = scaledet_loss(v, t, y, S, lam=0.5, return_terms=True)
        >>> torch.allclose(terms.loss, terms.hard + 0.5 * terms.soft)
        True
    """
    total, hard, soft = alignment_loss(
        features,
        embeddings,
        targets,
        similarity,
        tau=tau,
        lam=lam,
        hard=True,
        soft=True,
        reduction=reduction,
        weight=weight,
        class_mask=class_mask,
        check_finite=check_finite,
        chunk_size=chunk_size,
    )
    return LossTerms(total, hard, soft) if return_terms else total


class ScaleDetLoss(nn.Module):
    r"""Module form of :func:`scaledet_loss` holding the label embeddings and S as buffers.

    .. math::

        L = L_{hl} + \lambda L_{sl}

    The buffers follow the module through ``.to(device)``, ``state_dict`` and DDP. S may be
    dense (tensor or numpy) or sparse (torch sparse or ``scipy.sparse``, e.g. a top-k
    matrix): sparse S is kept as CSR buffers and only the rows ``S[y]`` of each chunk are
    densified. S is checked once here, not on every call.

    Args:
        embeddings: label embeddings ``(n, D)`` (tensor or numpy), stored L2-normalized in
            ``dtype`` (default: their own floating dtype, else float32).
        similarity: ``(n, n)`` label similarity in ``[0, 1]``.
        tau: temperature (default 0.05).
        lam: soft-term weight (default 1.0).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        check_finite: scan the inputs of each call for NaN/inf.
        chunk_size: rows per chunk of the fused kernel (None: automatic).
        dtype: dtype of the stored embeddings.

    Examples:
        >>> import torch
        >>> from scaledet_loss import ScaleDetLoss
        >>> criterion = ScaleDetLoss(torch.randn(5, 16), torch.eye(5), lam=0.5)
        >>> features = torch.randn(8, 16, requires_grad=True)
        >>> targets = torch.randint(-1, 6, (8,))
        >>> loss, hard, soft = criterion(features, targets, return_terms=True)
        >>> loss.backward()
    """

    embeddings: Tensor

    def __init__(
        self,
        embeddings: Any,
        similarity: Any,
        *,
        tau: float = DEFAULT_TAU,
        lam: float = DEFAULT_LAM,
        reduction: Reduction = "mean",
        check_finite: bool = True,
        chunk_size: int | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.tau = check_tau(tau)
        self.lam = check_lam(lam)
        self.reduction: Reduction = check_reduction(reduction)
        self.check_finite = check_finite
        self.chunk_size = chunk_size
        self.register_buffer("embeddings", embeddings_tensor(embeddings, dtype=dtype))
        self.similarity_is_sparse = register_similarity(self, similarity, self.num_classes)

    @property
    def num_classes(self) -> int:
        """Number of labels ``n``; the background target is ``n``."""
        return int(self.embeddings.shape[0])

    @overload
    def forward(
        self,
        features: Tensor,
        targets: Tensor,
        *,
        weight: Tensor | None = ...,
        class_mask: ClassMask | None = ...,
        return_terms: Literal[False] = ...,
    ) -> Tensor: ...

    @overload
    def forward(
        self,
        features: Tensor,
        targets: Tensor,
        *,
        weight: Tensor | None = ...,
        class_mask: ClassMask | None = ...,
        return_terms: Literal[True],
    ) -> LossTerms: ...

    def forward(
        self,
        features: Tensor,
        targets: Tensor,
        *,
        weight: Tensor | None = None,
        class_mask: ClassMask | None = None,
        return_terms: bool = False,
    ) -> Tensor | LossTerms:
        """Compute the loss of region ``features`` (N, D) against ``targets`` (N,)."""
        total, hard, soft = alignment_loss(
            features,
            self.embeddings,
            targets,
            similarity_of(self, self.num_classes),
            tau=self.tau,
            lam=self.lam,
            hard=True,
            soft=True,
            reduction=self.reduction,
            weight=weight,
            class_mask=class_mask,
            check_finite=self.check_finite,
            chunk_size=self.chunk_size,
            check_similarity=False,
        )
        return LossTerms(total, hard, soft) if return_terms else total

    def extra_repr(self) -> str:
        n, dim = self.embeddings.shape
        kind = "sparse" if self.similarity_is_sparse else "dense"
        return (
            f"num_classes={n}, dim={dim}, tau={self.tau}, lam={self.lam}, "
            f"reduction={self.reduction!r}, similarity={kind}"
        )

    @classmethod
    def from_bundle(
        cls,
        bundle_or_path: Any,
        dataset: str | None = None,
        **kwargs: Any,
    ) -> ScaleDetLoss:
        """Build the loss from a label-space bundle.

        Args:
            bundle_or_path: an object with ``.embeddings`` ``(n, D)`` and ``.similarity``
                ``(n, n)`` attributes (numpy, tensors or scipy.sparse), or a path to a
                bundle on disk, loaded with ``scaledet_labels.load(path)`` (imported only
                here, so ``scaledet_loss`` itself never needs ``scaledet_labels``).
            dataset: restrict the loss to one dataset's labels. The bundle must then offer
                ``dataset_indices(dataset)`` returning the unified indices of that
                dataset's labels; embeddings and S are sliced to them.
            **kwargs: passed to :class:`ScaleDetLoss` (``tau``, ``lam``, ...).

        Raises:
            ImportError: a path was given but ``scaledet_labels.load`` is not available.
            InputTypeError: the bundle lacks ``embeddings``/``similarity`` (or
                ``dataset_indices`` when ``dataset`` is given).

        Examples:
            >>> import torch
            >>> from types import SimpleNamespace
            >>> bundle = SimpleNamespace(embeddings=torch.randn(3, 4), similarity=torch.eye(3))
            >>> ScaleDetLoss.from_bundle(bundle, tau=0.05).num_classes
            3
        """
        bundle = _load_bundle(bundle_or_path)
        missing = [a for a in ("embeddings", "similarity") if not hasattr(bundle, a)]
        if missing:
            raise InputTypeError(
                f"bundle {type(bundle).__name__} lacks attribute(s) {', '.join(missing)}; "
                "from_bundle needs .embeddings (n, D) and .similarity (n, n), or a path to "
                "a scaledet-labels bundle"
            )
        embeddings: Any = bundle.embeddings
        similarity: Any = bundle.similarity
        if dataset is not None:
            selector = getattr(bundle, "dataset_indices", None)
            if not callable(selector):
                raise InputTypeError(
                    f"dataset={dataset!r} needs a bundle with a dataset_indices(name) method; "
                    f"{type(bundle).__name__} has none"
                )
            index = torch.as_tensor(selector(dataset)).to(torch.int64).reshape(-1)
            embeddings, similarity = _select(embeddings, similarity, index, dataset)
        return cls(embeddings, similarity, **kwargs)


def _load_bundle(bundle_or_path: Any) -> Any:
    if not isinstance(bundle_or_path, (str, os.PathLike)):
        return bundle_or_path
    hint = (
        "loading a bundle from a path needs scaledet-labels bundles support "
        "(scaledet_labels.load_bundle); install scaledet-labels, or pass an object with "
        ".embeddings and .similarity"
    )
    try:
        import scaledet_labels
    except ImportError as exc:
        raise ImportError(hint) from exc
    # load_bundle since 0.2; older releases only have load
    load = getattr(scaledet_labels, "load_bundle", None) or getattr(scaledet_labels, "load", None)
    if not callable(load):
        raise ImportError(hint + " (this scaledet_labels has no load_bundle function)")
    return load(bundle_or_path)


def _select(embeddings: Any, similarity: Any, index: Tensor, dataset: str) -> tuple[Any, Any]:
    from ._buffers import is_scipy_sparse

    emb = embeddings if isinstance(embeddings, Tensor) else torch.as_tensor(embeddings)
    n = emb.shape[0]
    if index.numel() == 0 or int(index.min()) < 0 or int(index.max()) >= n:
        raise InputShapeError(
            f"dataset_indices({dataset!r}) must return a non-empty list of label indices in "
            f"0..{n - 1}"
        )
    emb = emb.index_select(0, index)
    if is_scipy_sparse(similarity):
        idx = index.numpy()
        return emb, similarity.tocsr()[idx][:, idx]
    sim = similarity if isinstance(similarity, Tensor) else torch.as_tensor(similarity)
    if sim.layout != torch.strided:  # stay sparse: slice the COO form
        sim = sim.to_sparse() if sim.layout != torch.sparse_coo else sim
        return emb, sim.index_select(0, index).index_select(1, index).coalesce()
    return emb, sim.index_select(0, index).index_select(1, index)
