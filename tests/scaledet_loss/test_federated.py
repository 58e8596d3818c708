"""federated_class_mask."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from loss_reference import make_batch, reference_loss

from scaledet_loss import (
    DeviceMismatchError,
    InputShapeError,
    InputTypeError,
    NonFiniteInputError,
    ScaleDetLoss,
    ScaleDetLossError,
    federated_class_mask,
    scaledet_loss,
)


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


def test_num_sampled_above_num_classes_keeps_every_drawable_label() -> None:
    counts = torch.tensor([3.0, 0.0, 1.0, 2.0])
    mask = federated_class_mask(torch.tensor([1, 4]), counts, num_sampled=1000)
    assert mask[0].tolist() == [True, True, True, True]  # label 1 is a positive


def test_power_zero_is_uniform_over_nonzero_counts() -> None:
    counts = torch.tensor([1e6, 1.0, 0.0, 1.0])
    gen = torch.Generator().manual_seed(0)
    hits = torch.zeros(4)
    for _ in range(300):
        hits += federated_class_mask(
            torch.tensor([4]), counts, num_sampled=1, power=0, generator=gen
        )[0]
    assert hits[2] == 0 and all(60 < h < 140 for h in hits[[0, 1, 3]].tolist())


@pytest.mark.parametrize("power", [50, 1000.0, 1e300])
def test_huge_finite_power_does_not_overflow(power: float) -> None:
    # counts ** power overflows float64; the weights are taken in log space instead.
    counts = torch.tensor([1e6, 1e3, 10.0, 0.5, 0.0])
    mask = federated_class_mask(torch.tensor([5]), counts, num_sampled=3, power=power)
    assert mask[0].tolist() == [True, True, True, False, False]  # the 3 largest counts
    # Weights that underflow to 0 are still drawn once the larger ones are taken.
    mask = federated_class_mask(torch.tensor([5]), counts, num_sampled=4, power=power)
    assert mask[0].tolist() == [True, True, True, True, False]


def test_integer_counts_and_numpy_ints_are_accepted() -> None:
    counts = torch.tensor([5, 0, 2])
    two, three = np.int64(2), np.int64(3)
    mask = federated_class_mask(torch.tensor([0]), counts, num_sampled=two, num_classes=three)  # type: ignore[arg-type]
    assert mask[0].tolist() == [True, False, True]


def test_num_classes_checks_the_length_of_image_counts() -> None:
    criterion = ScaleDetLoss(torch.randn(6, 4), torch.eye(6))
    y = torch.tensor([0, 5, 6])
    mask = federated_class_mask(y, torch.ones(6), num_classes=criterion.num_classes)
    assert mask.shape == (3, 6)
    # One entry short: label 5 would silently become the background without num_classes.
    with pytest.raises(InputShapeError, match=r"image_counts .*num_classes=6, got length 5"):
        federated_class_mask(y, torch.ones(5), num_classes=criterion.num_classes)
    with pytest.raises(InputShapeError, match="num_classes=6, got length 7"):
        federated_class_mask(y, torch.ones(7), num_classes=6)
    # Without num_classes, a target beyond n + 1 hints at the length of image_counts.
    with pytest.raises(ScaleDetLossError, match=r"len\(image_counts\) = 4.*wrong length"):
        federated_class_mask(y, torch.ones(4))


_Y, _COUNTS = torch.tensor([0, 3, -1]), torch.tensor([4.0, 1.0, 0.0])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"power": math.nan}, ScaleDetLossError, r"^power .*finite number >= 0, got nan"),
        ({"power": math.inf}, ScaleDetLossError, r"^power .*finite number >= 0, got inf"),
        ({"power": -math.inf}, ScaleDetLossError, r"^power .*got -inf"),
        ({"power": -0.5}, ScaleDetLossError, r"^power .*>= 0, got -0\.5"),
        ({"power": "0.5"}, InputTypeError, r"^power must be a real number .*got '0\.5'"),
        ({"power": True}, InputTypeError, r"^power must be a real number .*got True"),
        ({"power": None}, InputTypeError, r"^power must be a real number .*got None"),
        ({"num_sampled": 0}, ScaleDetLossError, r"^num_sampled .*positive int \(>= 1\), got 0"),
        ({"num_sampled": -3}, ScaleDetLossError, r"^num_sampled .*got -3"),
        ({"num_sampled": True}, InputTypeError, r"^num_sampled .*positive int, got True"),
        ({"num_sampled": 50.0}, InputTypeError, r"^num_sampled .*positive int, got 50\.0"),
        ({"num_classes": 0}, ScaleDetLossError, r"^num_classes must be a positive int"),
        ({"num_classes": 3.0}, InputTypeError, r"^num_classes must be a positive int"),
        ({"num_classes": 4}, InputShapeError, r"^image_counts .*num_classes=4, got length 3"),
        ({"image_counts": [4.0, 1.0, 0.0]}, InputTypeError, r"^image_counts must be a torch"),
        ({"image_counts": torch.ones(3, 1)}, InputShapeError, r"^image_counts .*got \(3, 1\)"),
        ({"image_counts": torch.ones(0)}, InputShapeError, r"^image_counts .*n >= 1"),
        ({"image_counts": torch.ones(3).bool()}, InputTypeError, r"^image_counts .*torch\.bool"),
        (
            {"image_counts": torch.tensor([1.0, math.nan, 2.0])},
            NonFiniteInputError,
            r"^image_counts must be finite, got nan at index 1",
        ),
        (
            {"image_counts": torch.tensor([1.0, 2.0, math.inf])},
            NonFiniteInputError,
            r"^image_counts must be finite, got inf at index 2",
        ),
        (
            {"image_counts": torch.tensor([1, -2, 3])},
            ScaleDetLossError,
            r"^image_counts must be non-negative, got -2 at index 1",
        ),
        (
            {"image_counts": _COUNTS.to("meta")},
            DeviceMismatchError,
            r"^image_counts are on meta but targets are on cpu",
        ),
        ({"targets": [0, 1]}, InputTypeError, r"^targets must be a torch\.Tensor"),
        ({"targets": _Y[None]}, InputShapeError, r"^targets must be 1-D"),
        ({"targets": _Y.float()}, InputTypeError, r"^targets must be an integer tensor"),
        ({"generator": 0}, InputTypeError, r"^generator must be None or a torch\.Generator"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, object], error: type, match: str) -> None:
    call: dict[str, object] = {"targets": _Y, "image_counts": _COUNTS, **kwargs}
    with pytest.raises(error, match=match):
        federated_class_mask(**call)  # type: ignore[arg-type]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_generator_on_another_device_is_refused() -> None:
    with pytest.raises(DeviceMismatchError, match=r"^generator is on cuda"):
        federated_class_mask(_Y, _COUNTS, generator=torch.Generator(device="cuda"))
