"""The fused, chunked forward/backward of the hard + soft alignment loss.

Notation: ``vn`` (N, D) and ``tn`` (n, D) are L2-normalized region features and label
embeddings, ``c = vn @ tn.T`` (N, n), ``z = c / tau``. Per row ``i``:

* hard: ``h_i = sum_j m_ij * BCEWithLogits(z_ij, [y_i == j])``  (``m`` = class mask or 1)
* soft: ``s_i = sum_j (c_ij - S[y_i, j]) ** 2``                 (foreground rows only)

and the gradient of ``sum_i a_i h_i + b_i s_i`` with respect to ``c`` is

    G_ij = a_i / tau * m_ij * (sigmoid(z_ij) - [y_i == j]) + 2 b_i * (c_ij - S[y_i, j])

Both terms are linear in ``G``, so ``d/dvn = G @ tn`` and ``d/dtn = G.T @ vn``.

Design (why it is cheap):

* ``c`` is never stored. Rows are processed in chunks of ``chunk`` rows in three reusable
  ``(chunk, n)`` workspace buffers (no per-chunk allocation or page faults), so the extra
  memory is a few chunk buffers plus ``(N, D)``/``(n, D)`` tensors, independent of ``N x n``.
* Element-wise work is in place on the workspaces; ``softplus`` is evaluated as
  ``relu(z) + log1p(exp(-|z|))`` (overflow-free for any ``tau``, and faster on CPU than
  ``F.softplus``); the soft residual is formed in the gathered ``S[y]`` rows.
* For the scalar reductions (``mean``/``sum``) the gradient is a constant times
  ``d(loss)/d(vn, tn)``, and that constant is only the incoming scalar ``grad_output``. The
  forward therefore computes ``G`` chunk by chunk right after the loss values (``c`` is
  still in cache), reduces it to ``dvn = G @ tn`` (N, D) and ``dtn = G.T @ vn`` (n, D), and
  saves only those. Backward is two scalar multiplications. Cost: the same three
  ``N x n x D`` matmuls as plain autograd BCE (one fewer when ``tn`` needs no gradient) and
  no ``N x n`` tensor kept alive.
* For ``reduction="none"`` the per-row ``grad_output`` is unknown at forward time, so the
  backward recomputes ``c`` chunk by chunk (one extra matmul, still no ``N x n`` storage).
* The gradient is only computed when some input requires it and grad mode is on.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ._similarity import SimilarityRows

__all__ = ["DEFAULT_CHUNK_ELEMENTS", "AlignmentPlan", "MaskRows", "aligned_losses"]

#: Target number of elements of one ``(chunk, n)`` temporary (~16 MB in float32).
DEFAULT_CHUNK_ELEMENTS = 1 << 22
#: Fewer rows per chunk make the matmuls inefficient (measured on CPU).
MIN_CHUNK_ROWS = 128


class MaskRows:
    """Row access to a class mask: a dense ``(N, n)`` bool tensor or per-row dataset masks."""

    def __init__(
        self,
        dense: Tensor | None = None,
        index: Tensor | None = None,
        masks: Tensor | None = None,
    ) -> None:
        self.dense = dense
        self.index = index
        self.masks = masks

    def rows(self, start: int, stop: int) -> Tensor:
        if self.dense is not None:
            return self.dense[start:stop]
        if self.index is None or self.masks is None:  # pragma: no cover
            raise RuntimeError("MaskRows without data")
        return self.masks.index_select(0, self.index[start:stop])


class AlignmentPlan(NamedTuple):
    """Static settings of one loss evaluation."""

    tau: float
    lam: float
    hard: bool
    soft: bool
    mean: bool
    per_row: bool
    chunk: int


def _chunk_rows(plan: AlignmentPlan, n: int) -> int:
    if plan.chunk > 0:
        return plan.chunk
    return max(MIN_CHUNK_ROWS, DEFAULT_CHUNK_ELEMENTS // max(n, 1))


class _Workspace:
    """Three reusable ``(chunk, n)`` buffers, so chunks cause no allocation or page faults."""

    def __init__(self, rows: int, n: int, like: Tensor, hard: bool, soft: bool) -> None:
        self.z = like.new_empty(rows, n)
        self.b = like.new_empty(rows, n) if hard else like.new_empty(0, n)
        self.d = like.new_empty(rows, n) if soft else None


def _chunk(
    vn_c: Tensor,
    tn: Tensor,
    y_c: Tensor,
    fg_c: Tensor,
    mask_c: Tensor | None,
    s_rows: SimilarityRows | None,
    plan: AlignmentPlan,
    hard_scale: Tensor | None,
    soft_scale: Tensor | None,
    ws: _Workspace,
) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """Per-row hard/soft sums of one chunk and, if scales are given, its gradient block G.

    ``hard_scale``/``soft_scale`` are the per-row factors ``a_i``/``b_i`` of the gradient
    formula; when both are None no gradient is formed. G is returned in a workspace buffer.
    """
    rows, n = vn_c.shape[0], tn.shape[0]
    want_grad = hard_scale is not None or soft_scale is not None
    z = torch.mm(vn_c, tn.t(), out=ws.z[:rows])  # c for now, the logits c / tau later
    y_col = y_c.clamp(0, n - 1).unsqueeze(1)
    h_rows: Tensor | None = None
    s_out: Tensor | None = None
    d: Tensor | None = None
    if plan.soft and s_rows is not None and ws.d is not None:
        # d = S[y] - c, the soft residual with its sign flipped.
        d = s_rows.rows_into(y_col.squeeze(1), ws.d[:rows]).sub_(z)
        s_out = torch.linalg.vector_norm(d, dim=1).square_()
    grad: Tensor | None = None
    if plan.hard:
        z.mul_(1.0 / plan.tau)
        # softplus(z) = relu(z) + log1p(exp(-|z|)), overflow-free for any tau; in place on a
        # workspace, several times faster on CPU than F.softplus plus a temporary.
        b = torch.clamp(z, min=0.0, out=ws.b[:rows])
        if mask_c is not None:
            b.mul_(mask_c)
        relu_sum = b.sum(1)
        torch.abs(z, out=b).neg_().exp_().log1p_()
        if mask_c is not None:
            b.mul_(mask_c)
        h_rows = b.sum(1).add_(relu_sum)
        h_rows.sub_(fg_c * z.gather(1, y_col).squeeze(1))
        if want_grad and hard_scale is not None:
            grad = z.sigmoid_()
            grad.scatter_add_(1, y_col, -fg_c.unsqueeze(1))
            if mask_c is not None:
                grad.mul_(mask_c)
            grad.mul_((hard_scale * (1.0 / plan.tau)).unsqueeze(1))
    if want_grad and d is not None and soft_scale is not None:
        coef = (-2.0 * soft_scale).unsqueeze(1)
        grad = d.mul_(coef) if grad is None else grad.addcmul_(d, coef)
    return h_rows, s_out, grad


class _Saved(NamedTuple):
    """What the scalar-reduction backward needs: precomputed d(loss)/d(vn, tn, weight)."""

    dvn: Tensor | None
    dtn: Tensor | None
    dweight: Tensor | None


def _row_units(
    targets: Tensor, n: int, mean: bool, dtype: torch.dtype
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Return (valid, fg, hard_unit, soft_unit): per-row factors before the row weight."""
    valid = (targets >= 0).to(dtype)
    fg = ((targets >= 0) & (targets < n)).to(dtype)
    if mean:
        hard_unit = valid / valid.sum().clamp_min(1.0)
        soft_unit = fg / (fg.sum().clamp_min(1.0) * n)
    else:
        hard_unit, soft_unit = valid, fg
    return valid, fg, hard_unit, soft_unit


def _sweep(
    vn: Tensor,
    tn: Tensor,
    targets: Tensor,
    fg: Tensor,
    mask: MaskRows | None,
    s_rows: SimilarityRows | None,
    plan: AlignmentPlan,
    hard_scale: Tensor | None,
    soft_scale: Tensor | None,
    need_v: bool,
    need_t: bool,
    losses: bool,
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """Loop over row chunks; return per-row hard, soft sums and dvn, dtn (if requested)."""
    num, n = vn.shape[0], tn.shape[0]
    h_all = vn.new_zeros(num)
    s_all = vn.new_zeros(num)
    dvn = torch.empty_like(vn) if need_v else None
    dtn = torch.zeros_like(tn) if need_t else None
    want_grad = need_v or need_t
    step = _chunk_rows(plan, n)
    ws = _Workspace(min(step, num), n, vn, plan.hard, plan.soft and s_rows is not None)
    for start in range(0, num, step):
        stop = min(start + step, num)
        h, s, grad = _chunk(
            vn[start:stop],
            tn,
            targets[start:stop],
            fg[start:stop],
            mask.rows(start, stop) if mask is not None else None,
            s_rows,
            plan,
            hard_scale[start:stop] if (want_grad and hard_scale is not None) else None,
            soft_scale[start:stop] if (want_grad and soft_scale is not None) else None,
            ws,
        )
        if losses:
            if h is not None:
                h_all[start:stop] = h
            if s is not None:
                s_all[start:stop] = s
        if grad is not None:
            if dvn is not None:
                torch.mm(grad, tn, out=dvn[start:stop])
            if dtn is not None:
                dtn.addmm_(grad.t(), vn[start:stop])
        elif dvn is not None:
            dvn[start:stop] = 0
    return h_all, s_all, dvn, dtn


class _AlignmentFunction(torch.autograd.Function):
    """Autograd node of the fused loss; outputs ``(total, hard, soft)``.

    Only ``total`` is differentiable; ``hard`` and ``soft`` are the two terms for logging.
    """

    @staticmethod
    def forward(
        ctx: Any,
        vn: Tensor,
        tn: Tensor,
        weight: Tensor | None,
        targets: Tensor,
        mask: MaskRows | None,
        s_rows: SimilarityRows | None,
        plan: AlignmentPlan,
        need_v: bool,
        need_t: bool,
        need_w: bool,
    ) -> tuple[Tensor, Tensor, Tensor]:
        n = tn.shape[0]
        _, fg, hard_unit, soft_unit = _row_units(targets, n, plan.mean, vn.dtype)
        w = weight.detach() if weight is not None else None
        hard_coef = hard_unit * w if w is not None else hard_unit
        soft_coef = soft_unit * w if w is not None else soft_unit
        if not plan.hard:
            hard_coef = torch.zeros_like(hard_coef)
        if not plan.soft:
            soft_coef = torch.zeros_like(soft_coef)
        lam = plan.lam
        precompute = not plan.per_row and (need_v or need_t)
        h_raw, s_raw, dvn, dtn = _sweep(
            vn,
            tn,
            targets,
            fg,
            mask,
            s_rows,
            plan,
            hard_coef if precompute else None,
            soft_coef * lam if precompute else None,
            need_v and precompute,
            need_t and precompute,
            losses=True,
        )
        hard_rows = hard_coef * h_raw
        soft_rows = soft_coef * s_raw
        dweight = None
        if need_w:
            dweight = hard_unit * h_raw * float(plan.hard) + soft_unit * s_raw * (
                lam * float(plan.soft)
            )
        if plan.per_row:
            total, hard, soft = hard_rows + lam * soft_rows, hard_rows, soft_rows
            ctx.save_for_backward(vn, tn, targets, fg, hard_coef, soft_coef, dweight)
            ctx.mask = mask
            ctx.s_rows = s_rows
        else:
            hard, soft = hard_rows.sum(), soft_rows.sum()
            total = hard + lam * soft
            ctx.save_for_backward(dvn, dtn, dweight)
        ctx.plan = plan
        ctx.needs = (need_v, need_t, need_w)
        ctx.mark_non_differentiable(hard, soft)
        return total, hard, soft

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_total: Tensor | None, *_unused: Any) -> tuple[Tensor | None, ...]:
        plan: AlignmentPlan = ctx.plan
        need_v, need_t, need_w = ctx.needs
        none_tail = (None,) * 7
        if grad_total is None:
            return (None, None, None, *none_tail)
        if not plan.per_row:
            dvn, dtn, dweight = ctx.saved_tensors
            return (
                dvn * grad_total if need_v and dvn is not None else None,
                dtn * grad_total if need_t and dtn is not None else None,
                dweight * grad_total if need_w and dweight is not None else None,
                *none_tail,
            )
        vn, tn, targets, fg, hard_coef, soft_coef, dweight = ctx.saved_tensors
        _, _, gvn, gtn = _sweep(
            vn,
            tn,
            targets,
            fg,
            ctx.mask,
            ctx.s_rows,
            plan,
            hard_coef * grad_total,
            soft_coef * (plan.lam * grad_total),
            need_v,
            need_t,
            losses=False,
        )
        return (
            gvn,
            gtn,
            dweight * grad_total if need_w and dweight is not None else None,
            *none_tail,
        )


def aligned_losses(
    vn: Tensor,
    tn: Tensor,
    weight: Tensor | None,
    targets: Tensor,
    mask: MaskRows | None,
    s_rows: SimilarityRows | None,
    plan: AlignmentPlan,
) -> tuple[Tensor, Tensor, Tensor]:
    """Apply the fused autograd function; inputs must already be validated and normalized."""
    grad_on = torch.is_grad_enabled()
    need_v = grad_on and vn.requires_grad
    need_t = grad_on and tn.requires_grad
    need_w = grad_on and weight is not None and weight.requires_grad
    out = _AlignmentFunction.apply(
        vn, tn, weight, targets, mask, s_rows, plan, need_v, need_t, need_w
    )
    total, hard, soft = out
    return total, hard, soft
