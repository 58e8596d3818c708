"""soft_label_loss / SoftLabelLoss."""

from __future__ import annotations

import pytest
import torch
from loss_reference import make_batch, reference_terms

from scaledet_loss import SoftLabelLoss, scaledet_loss, soft_label_loss


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_matches_reference_and_gradcheck(reduction: str) -> None:
    v, t, y, S = make_batch(9, 5, 4, seed=31)
    w = torch.rand(9, dtype=torch.float64, requires_grad=True)
    out = soft_label_loss(v, t, y, S, reduction=reduction, weight=w)
    _, ref = reference_terms(v, t, y, S, reduction=reduction, weight=w)
    torch.testing.assert_close(out, ref)

    def fn(v_: torch.Tensor, t_: torch.Tensor, w_: torch.Tensor) -> torch.Tensor:
        return soft_label_loss(v_, t_, y, S, reduction=reduction, weight=w_, chunk_size=4)

    assert torch.autograd.gradcheck(fn, (v, t, w))


def test_zero_when_cosines_equal_similarity_row() -> None:
    t = torch.eye(4, dtype=torch.float64)
    v = (t[[1, 3]] * 2.5).requires_grad_()
    out = soft_label_loss(v, t, torch.tensor([1, 3]), torch.eye(4, dtype=torch.float64))
    assert out.item() == 0.0
    out.backward()
    assert v.grad is not None and v.grad.abs().max() == 0


def test_only_foreground_rows_count() -> None:
    v, t, _, S = make_batch(3, 4, 3, seed=32)
    y = torch.tensor([2, 4, -1])
    per_row = soft_label_loss(v, t, y, S, reduction="none")
    c = torch.nn.functional.cosine_similarity(v[:1], t)
    torch.testing.assert_close(per_row[0], ((c - S[2]) ** 2).sum())
    assert per_row[1].item() == 0.0 and per_row[2].item() == 0.0
    mean = soft_label_loss(v, t, y, S)
    torch.testing.assert_close(mean, per_row[0] / 4)  # N_fg * n = 1 * 4


def test_module_equals_function_sparse_and_dense() -> None:
    v, t, y, S = make_batch(seed=33)
    dense = SoftLabelLoss(t.detach(), S)
    sparse = SoftLabelLoss(t.detach(), S.to_sparse_csr()).double()
    expected = soft_label_loss(v, t.detach(), y, S)
    torch.testing.assert_close(dense(v, y), expected)
    torch.testing.assert_close(sparse(v, y), expected)


def test_is_the_soft_term_of_scaledet_loss() -> None:
    v, t, y, S = make_batch(seed=34)
    terms = scaledet_loss(v, t, y, S, return_terms=True)
    torch.testing.assert_close(soft_label_loss(v, t, y, S).detach(), terms.soft)
