"""Naive autograd reference of the ScaleDet loss, written straight from the issue's formula.

Independent of the package's fused kernel: it materializes c, the one-hot targets and the
gathered similarity rows, and lets autograd differentiate everything.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def reference_terms(
    v: Tensor,
    t: Tensor,
    y: Tensor,
    S: Tensor,
    *,
    tau: float = 0.05,  # the library default
    reduction: str = "mean",
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Return (hard, soft) per the formula; per-row vectors for reduction='none'."""
    N, n = v.shape[0], t.shape[0]
    c = F.cosine_similarity(v.unsqueeze(1), t.unsqueeze(0), dim=2, eps=1e-12)
    valid = y >= 0
    fg = valid & (y < n)
    onehot = torch.zeros(N, n, dtype=c.dtype)
    rows = torch.nonzero(fg).squeeze(1)
    onehot[rows, y[rows]] = 1.0
    bce = F.binary_cross_entropy_with_logits(c / tau, onehot, reduction="none")
    if mask is not None:
        bce = bce * mask.to(c.dtype)
    hard_rows = bce.sum(1) * valid.to(c.dtype)
    S_rows = S[y.clamp(0, n - 1)].to(c.dtype)
    soft_rows = ((c - S_rows) ** 2).sum(1) * fg.to(c.dtype)
    if weight is not None:
        hard_rows = hard_rows * weight
        soft_rows = soft_rows * weight
    if reduction == "none":
        return hard_rows, soft_rows
    hard, soft = hard_rows.sum(), soft_rows.sum()
    if reduction == "mean":
        n_valid = int(valid.sum())
        n_fg = int(fg.sum())
        hard = hard / n_valid if n_valid else hard * 0.0
        soft = soft / (n_fg * n) if n_fg else soft * 0.0
    return hard, soft


def reference_loss(
    v: Tensor, t: Tensor, y: Tensor, S: Tensor, *, lam: float = 1.0, **kw: object
) -> Tensor:
    hard, soft = reference_terms(v, t, y, S, **kw)  # type: ignore[arg-type]
    return hard + lam * soft


def make_batch(
    num: int = 12,
    n: int = 5,
    dim: int = 7,
    *,
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
    grad: bool = True,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Random (v, t, y, S) with foreground, background (n) and ignored (-1) rows."""
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(num, dim, generator=gen, dtype=dtype).requires_grad_(grad)
    t = torch.randn(n, dim, generator=gen, dtype=dtype).requires_grad_(grad)
    y = torch.randint(-1, n + 1, (num,), generator=gen)
    if num >= 3:
        y[0], y[1], y[2] = 0, n, -1  # at least one of each kind
    S = torch.rand(n, n, generator=gen, dtype=dtype)
    S = (S + S.t()) / 2
    S.fill_diagonal_(1.0)
    return v, t, y, S


def random_mask(y: Tensor, n: int, seed: int = 1) -> Tensor:
    """A bool (N, n) class mask that keeps every foreground row's own label."""
    gen = torch.Generator().manual_seed(seed)
    mask = torch.rand(y.shape[0], n, generator=gen) > 0.4
    fg = torch.nonzero((y >= 0) & (y < n)).squeeze(1)
    mask[fg, y[fg]] = True
    return mask
