"""hard_label_loss / HardLabelLoss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from loss_reference import make_batch, random_mask, reference_terms

from scaledet_loss import HardLabelLoss, hard_label_loss, scaledet_loss


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_matches_reference_and_gradcheck(reduction: str) -> None:
    v, t, y, S = make_batch(9, 5, 4, seed=21)
    mask = random_mask(y, 5)
    w = torch.rand(9, dtype=torch.float64, requires_grad=True)
    out = hard_label_loss(v, t, y, tau=0.25, reduction=reduction, weight=w, class_mask=mask)
    ref, _ = reference_terms(v, t, y, S, tau=0.25, reduction=reduction, weight=w, mask=mask)
    torch.testing.assert_close(out, ref)

    def fn(v_: torch.Tensor, t_: torch.Tensor, w_: torch.Tensor) -> torch.Tensor:
        return hard_label_loss(
            v_, t_, y, tau=0.25, reduction=reduction, weight=w_, class_mask=mask, chunk_size=2
        )

    assert torch.autograd.gradcheck(fn, (v, t, w))


def test_equals_sigmoid_bce_on_cosine_logits() -> None:
    v, t, _, _ = make_batch(6, 4, 3, seed=22)
    y = torch.tensor([0, 1, 2, 3, 4, 4])  # 4 = background
    logits = F.normalize(v, dim=1) @ F.normalize(t, dim=1).t() / 0.05  # default tau
    target = F.one_hot(y, 5)[:, :4].to(logits.dtype)
    expected = F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / 6
    torch.testing.assert_close(hard_label_loss(v, t, y), expected)


def test_dataset_masks_restrict_negatives() -> None:
    v, t, _, _ = make_batch(4, 4, 3, seed=23)
    y = torch.tensor([0, 3, 4, 1])
    masks = torch.tensor([[True, True, False, False], [False, False, True, True]])
    index = torch.tensor([0, 1, 1, 0])
    out = hard_label_loss(v, t, y, class_mask=(index, masks), reduction="none")
    logits = F.normalize(v, dim=1) @ F.normalize(t, dim=1).t() / 0.05  # default tau
    target = F.one_hot(y, 5)[:, :4].to(logits.dtype)
    per_elem = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    expected = (per_elem * masks[index]).sum(1)
    torch.testing.assert_close(out, expected)


def test_module_equals_function() -> None:
    v, t, y, _ = make_batch(seed=24)
    module = HardLabelLoss(t.detach(), tau=0.07, reduction="sum")
    torch.testing.assert_close(
        module(v, y), hard_label_loss(v, t.detach(), y, tau=0.07, reduction="sum")
    )


def test_is_the_hard_term_of_scaledet_loss() -> None:
    v, t, y, S = make_batch(seed=25)
    terms = scaledet_loss(v, t, y, S, return_terms=True)
    torch.testing.assert_close(hard_label_loss(v, t, y).detach(), terms.hard)
