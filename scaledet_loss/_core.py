"""The one code path behind every loss function and module: validate, normalize, apply."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ._fused import AlignmentPlan, MaskRows, aligned_losses
from ._similarity import SimilarityRows, similarity_rows
from ._validation import (
    DeferredChecks,
    add_target_checks,
    check_chunk_size,
    check_class_mask,
    check_features_and_embeddings,
    check_lam,
    check_reduction,
    check_targets,
    check_tau,
    check_weight,
)
from .errors import DeviceMismatchError, InputShapeError, InputTypeError

__all__ = ["DEFAULT_LAM", "DEFAULT_TAU", "alignment_loss", "compute_dtype"]

#: Default temperature (a logit scale of 20), chosen with ``DEFAULT_LAM`` from our miniature
#: ablation (docs/loss.md): with the soft term on, 0.05 beat Detic's 0.02 on both trained
#: and never-trained labels. The ScaleDet paper's value is unknown.
DEFAULT_TAU = 0.05
#: Default soft-term weight, chosen from our miniature ablation (docs/loss.md).
DEFAULT_LAM = 1.0


def compute_dtype(*dtypes: torch.dtype) -> torch.dtype:
    """float64 when every input is float64, else float32 (fp16/bf16 are upcast)."""
    return torch.float64 if all(d == torch.float64 for d in dtypes) else torch.float32


def _alignment_loss_eager(
    features: object,
    embeddings: object,
    targets: object,
    similarity: object,
    *,
    tau: object,
    lam: object,
    hard: bool,
    soft: bool,
    reduction: object,
    weight: object,
    class_mask: object,
    check_finite: bool,
    chunk_size: object,
    check_similarity: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:
    """Validate every argument and return ``(total, hard_term, soft_term)``.

    ``similarity`` may be a tensor or an already wrapped :class:`SimilarityRows` (modules
    wrap their buffers once). ``check_similarity=False`` skips the finiteness scan of S
    (modules scan it once at construction).
    """
    v, t, y, w, mask, s_rows, plan = _validate(
        features,
        embeddings,
        targets,
        similarity,
        tau=tau,
        lam=lam,
        hard=hard,
        soft=soft,
        reduction=reduction,
        weight=weight,
        class_mask=class_mask,
        check_finite=check_finite,
        chunk_size=chunk_size,
        check_similarity=check_similarity,
    )
    cdt = compute_dtype(v.dtype, t.dtype)
    with torch.autocast(device_type=v.device.type, enabled=False):
        vn = F.normalize(v.to(cdt), dim=1).contiguous()
        tn = F.normalize(t.to(cdt), dim=1).contiguous()
        wc = w.to(cdt) if w is not None else None
        return aligned_losses(vn, tn, wc, y, mask, s_rows, plan)


_Validated = tuple[
    Tensor, Tensor, Tensor, Tensor | None, MaskRows | None, SimilarityRows | None, AlignmentPlan
]


def _validate(
    features: object,
    embeddings: object,
    targets: object,
    similarity: object,
    *,
    tau: object,
    lam: object,
    hard: bool,
    soft: bool,
    reduction: object,
    weight: object,
    class_mask: object,
    check_finite: bool,
    chunk_size: object,
    check_similarity: bool,
) -> _Validated:
    red = check_reduction(reduction)
    tau_f = check_tau(tau)
    lam_f = check_lam(lam) if (hard and soft) else 1.0
    chunk = check_chunk_size(chunk_size)
    v, t = check_features_and_embeddings(features, embeddings)
    num, n = v.shape[0], t.shape[0]
    device = v.device
    y = check_targets(targets, num, device)
    w = check_weight(weight, num, device)
    mask, _ = check_class_mask(class_mask, num, n, device) if hard else (None, None)
    s_rows: SimilarityRows | None = None
    if soft:
        if isinstance(similarity, Tensor) and similarity.requires_grad:
            raise InputTypeError(
                "similarity requires grad, but S is a fixed soft target and receives no "
                "gradient; pass similarity.detach()"
            )
        s_rows = (
            similarity if isinstance(similarity, SimilarityRows) else similarity_rows(similarity, n)
        )
        if s_rows.n != n:
            raise InputShapeError(
                f"similarity must have shape (n, n) = ({n}, {n}), got ({s_rows.n}, {s_rows.n})"
            )
        if s_rows.device != device:
            raise DeviceMismatchError(
                f"similarity is on {s_rows.device} but features are on {device}"
            )

    checks = DeferredChecks()
    add_target_checks(checks, y, n, mask)
    if check_finite:
        checks.add_non_finite(v, "features")
        checks.add_non_finite(t, "embeddings")
        if w is not None:
            checks.add_non_finite(w, "weight")
        if s_rows is not None and check_similarity:
            checks.add_non_finite(s_rows.stored, "similarity")
    checks.run()
    plan = AlignmentPlan(
        tau=tau_f,
        lam=lam_f,
        hard=hard,
        soft=soft,
        mean=red == "mean",
        per_row=red == "none",
        chunk=chunk,
    )
    return v, t, y, w, mask, s_rows, plan


# torch.compile runs the loss eagerly (one graph break) while compiling the rest of the model:
# the argument checks read values back to the host, and the fused kernel is a Python loop over
# row chunks that would be unrolled (and recompiled for every batch size) if traced. The
# kernel is matmul-bound and already fused by hand, so tracing it would gain little.
alignment_loss: Callable[..., tuple[Tensor, Tensor, Tensor]] = torch.compiler.disable(  # type: ignore[no-untyped-call]
    _alignment_loss_eager
)
