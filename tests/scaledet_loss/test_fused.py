"""The fused kernel: no N x n tensor kept for backward, chunking invariance, both paths."""

from __future__ import annotations

import pytest
import torch
from loss_reference import make_batch, random_mask, reference_loss

from scaledet_loss import scaledet_loss
from scaledet_loss._fused import DEFAULT_CHUNK_ELEMENTS, MIN_CHUNK_ROWS, AlignmentPlan, _chunk_rows


def _saved_numels(fn) -> list[int]:  # type: ignore[no-untyped-def]
    sizes: list[int] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        sizes.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sizes


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_no_n_by_n_tensor_is_saved_for_backward(reduction: str) -> None:
    num, n, dim = 64, 50, 4
    v, t, y, S = make_batch(num, n, dim, dtype=torch.float32, seed=51)
    mask = random_mask(y, n)
    ours = _saved_numels(lambda: scaledet_loss(v, t, y, S, reduction=reduction, class_mask=mask))
    naive = _saved_numels(lambda: reference_loss(v, t, y, S, reduction=reduction))
    assert max(naive) >= num * n  # the hook sees the naive implementation's N x n tensors
    assert max(ours) <= max(num, n) * dim  # ours keeps only (N, D)/(n, D)/(N,) tensors


@pytest.mark.parametrize("chunk", [1, 2, 7, 64, None])
def test_chunk_size_does_not_change_results(chunk: int | None) -> None:
    v, t, y, S = make_batch(23, 9, 5, seed=52)
    mask = random_mask(y, 9)
    for reduction in ("mean", "none"):
        ref = scaledet_loss(v, t, y, S, reduction=reduction, class_mask=mask, chunk_size=23)
        out = scaledet_loss(v, t, y, S, reduction=reduction, class_mask=mask, chunk_size=chunk)
        torch.testing.assert_close(out, ref)
        go = torch.rand_like(out)
        for a, b in zip(
            torch.autograd.grad(out, (v, t), go), torch.autograd.grad(ref, (v, t), go), strict=True
        ):
            torch.testing.assert_close(a, b)


def test_fused_gradient_matches_naive_in_float32_at_moderate_size() -> None:
    v, t, y, S = make_batch(300, 700, 32, dtype=torch.float32, seed=53)
    out = scaledet_loss(v, t, y, S, chunk_size=64)
    ref = reference_loss(v, t, y, S)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    for a, b in zip(
        torch.autograd.grad(out, (v, t)), torch.autograd.grad(ref, (v, t)), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_chunk_rows_policy() -> None:
    plan = AlignmentPlan(0.02, 1.0, True, True, True, False, 0)
    assert _chunk_rows(plan, 10) == DEFAULT_CHUNK_ELEMENTS // 10
    assert _chunk_rows(plan, 10**7) == MIN_CHUNK_ROWS
    assert _chunk_rows(plan._replace(chunk=5), 10) == 5


def test_backward_twice_with_retain_graph_accumulates() -> None:
    v, t, y, S = make_batch(seed=54)
    out = scaledet_loss(v, t, y, S)
    out.backward(retain_graph=True)
    assert v.grad is not None
    first = v.grad.clone()
    out.backward()
    torch.testing.assert_close(v.grad, 2 * first)


def test_non_contiguous_inputs() -> None:
    v, t, y, S = make_batch(11, 4, 6, seed=55)
    v_t = v.detach().t().contiguous().t().requires_grad_()  # (N, D) view with swapped strides
    S_t = S.t().contiguous().t()
    assert not v_t.is_contiguous() and not S_t.is_contiguous()
    for reduction in ("mean", "none"):
        out = scaledet_loss(v_t, t, y, S_t, reduction=reduction, chunk_size=4)
        ref = reference_loss(v, t, y, S, reduction=reduction)
        torch.testing.assert_close(out, ref)
        go = torch.rand_like(out)
        torch.testing.assert_close(
            torch.autograd.grad(out, v_t, go)[0], torch.autograd.grad(ref, v, go)[0]
        )
