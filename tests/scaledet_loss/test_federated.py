"""federated_class_mask."""

from __future__ import annotations

import pytest
import torch
from loss_reference import make_batch, reference_loss

from scaledet_loss import ScaleDetLossError, federated_class_mask, scaledet_loss


def test_positives_kept_and_total_is_num_sampled() -> None:
    counts = torch.arange(1, 101, dtype=torch.float32)
    y = torch.tensor([3, 3, 50, 100, -1, 7])  # 100 = background
    mask = federated_class_mask(
        y, counts, num_sampled=20, generator=torch.Generator().manual_seed(0)
    )
    assert mask.shape == (6, 100) and mask.dtype == torch.bool
    row = mask[0]
    assert all(bool(row[k]) for k in (3, 50, 7))
    assert int(row.sum()) == 20
    assert torch.equal(mask, row.expand(6, 100))


def test_zero_count_labels_never_drawn_and_cap() -> None:
    counts = torch.tensor([0.0, 0.0, 5.0, 1.0, 0.0])
    mask = federated_class_mask(torch.tensor([0, 5]), counts, num_sampled=50)
    # label 0 is a positive; only labels 2 and 3 can be drawn -> 3 labels in total
    assert mask[0].tolist() == [True, False, True, True, False]


def test_many_positives_keep_only_positives() -> None:
    counts = torch.ones(10)
    y = torch.arange(10)
    mask = federated_class_mask(y, counts, num_sampled=3)
    assert bool(mask[0].all())


def test_sampling_follows_count_power() -> None:
    counts = torch.tensor([10000.0, 1.0, 1.0, 1.0, 1.0])
    gen = torch.Generator().manual_seed(0)
    hits = torch.zeros(5)
    for _ in range(200):
        hits += federated_class_mask(torch.tensor([5]), counts, num_sampled=1, generator=gen)[0]
    # p(label 0) = 100 / (100 + 4) with power 0.5
    assert hits[0] > 170 and hits[1:].sum() < 30


def test_reproducible_with_generator() -> None:
    counts = torch.rand(40) * 100
    a = federated_class_mask(torch.tensor([1]), counts, generator=torch.Generator().manual_seed(3))
    b = federated_class_mask(torch.tensor([1]), counts, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_usable_as_class_mask() -> None:
    v, t, y, S = make_batch(10, 6, 4, seed=41)
    mask = federated_class_mask(y, torch.rand(6) + 0.1, num_sampled=4)
    out = scaledet_loss(v, t, y, S, class_mask=mask)
    torch.testing.assert_close(out, reference_loss(v, t, y, S, mask=mask))


def test_bad_inputs() -> None:
    with pytest.raises(ScaleDetLossError, match="non-negative"):
        federated_class_mask(torch.tensor([0]), torch.tensor([-1.0, 2.0]))
    with pytest.raises(ScaleDetLossError, match=r"-1\.\.2"):
        federated_class_mask(torch.tensor([3]), torch.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="integer"):
        federated_class_mask(torch.tensor([0.5]), torch.tensor([1.0, 2.0]))
    with pytest.raises(ScaleDetLossError, match=r"shape \(n,\)"):
        federated_class_mask(torch.tensor([0]), torch.ones(2, 2))
