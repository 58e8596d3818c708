"""Bad input gives clear errors (ValueError/TypeError subclasses naming the argument)."""

from __future__ import annotations

import math
import re

import pytest
import torch

from scaledet_loss import (
    CosineClassifier,
    DeviceMismatchError,
    InputShapeError,
    InputTypeError,
    NonFiniteInputError,
    ScaleDetLoss,
    ScaleDetLossError,
    cosine_logits,
    hard_label_loss,
    scaledet_loss,
    soft_label_loss,
)


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    return torch.randn(4, 3), torch.randn(5, 3), torch.tensor([0, 5, -1, 2]), torch.eye(5)


def test_error_hierarchy() -> None:
    for cls in (InputShapeError, InputTypeError, NonFiniteInputError, DeviceMismatchError):
        assert issubclass(cls, ScaleDetLossError) and issubclass(cls, ValueError)
    assert issubclass(InputTypeError, TypeError)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda b: {"features": b[0][:, :2]}, InputShapeError, "features dimension D=2"),
        (lambda b: {"features": b[0][0]}, InputShapeError, r"features must be 2-D"),
        (lambda b: {"embeddings": b[1][None]}, InputShapeError, "embeddings must be 2-D"),
        (lambda b: {"embeddings": b[1][:0]}, InputShapeError, "at least one label"),
        (lambda b: {"targets": b[2][:3]}, InputShapeError, r"targets must have shape \(N,\)"),
        (lambda b: {"targets": b[2].float()}, InputTypeError, "targets must be an integer"),
        (lambda b: {"targets": b[2] > 0}, InputTypeError, "targets must be an integer"),
        (lambda b: {"targets": torch.tensor([0, 6, 1, 1])}, ScaleDetLossError, r"-1..5"),
        (lambda b: {"targets": torch.tensor([0, -2, 1, 1])}, ScaleDetLossError, r"\[-2, 1\]"),
        (lambda b: {"similarity": torch.eye(4)}, InputShapeError, r"similarity must have shape"),
        (lambda b: {"similarity": torch.ones(5, 5, 1)}, InputShapeError, "similarity"),
        (lambda b: {"similarity": torch.eye(5).long()}, InputTypeError, "floating-point"),
        (lambda b: {"similarity": [[1.0]]}, InputTypeError, "similarity must be a torch.Tensor"),
        (lambda b: {"features": b[0].tolist()}, InputTypeError, "features must be a torch.Tensor"),
        (lambda b: {"features": b[0].long()}, InputTypeError, "features must be a floating"),
        (lambda b: {"embeddings": b[1].double()}, DeviceMismatchError, "dtype"),
    ],
)
def test_bad_tensors(change, error, match) -> None:  # type: ignore[no-untyped-def]
    v, t, y, S = _batch()
    kwargs = {"features": v, "embeddings": t, "targets": y, "similarity": S}
    kwargs.update(change((v, t, y, S)))
    with pytest.raises(error, match=match):
        scaledet_loss(**kwargs)


@pytest.mark.parametrize("name", ["features", "embeddings", "weight", "similarity"])
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_inputs_are_named(name: str, bad: float) -> None:
    v, t, y, S = _batch()
    w = torch.ones(4)
    target = {"features": v, "embeddings": t, "weight": w, "similarity": S}[name]
    target.view(-1)[3] = bad
    with pytest.raises(NonFiniteInputError, match=f"^{name} contains NaN"):
        scaledet_loss(v, t, y, S, weight=w)
    # The scan can be switched off; the loss is then non-finite, not an error.
    out = scaledet_loss(v, t, y, S, weight=w, check_finite=False)
    assert not torch.isfinite(out)


@pytest.mark.parametrize("tau", [0.0, -0.1, math.nan, math.inf])
def test_bad_tau(tau: float) -> None:
    v, t, y, S = _batch()
    with pytest.raises(ScaleDetLossError, match="tau"):
        scaledet_loss(v, t, y, S, tau=tau)
    with pytest.raises(ScaleDetLossError, match="tau"):
        ScaleDetLoss(t, S, tau=tau)


def test_bad_scalars_and_reduction() -> None:
    v, t, y, S = _batch()
    with pytest.raises(InputTypeError, match="tau must be a real number"):
        scaledet_loss(v, t, y, S, tau=True)
    with pytest.raises(InputTypeError, match="tau must be a real number"):
        scaledet_loss(v, t, y, S, tau="0.02")  # type: ignore[arg-type]
    with pytest.raises(ScaleDetLossError, match="lam"):
        scaledet_loss(v, t, y, S, lam=-1.0)
    with pytest.raises(ScaleDetLossError, match="'mean', 'sum', 'none'"):
        scaledet_loss(v, t, y, S, reduction="avg")  # type: ignore[arg-type]
    with pytest.raises(ScaleDetLossError, match="'mean', 'sum', 'none'"):
        ScaleDetLoss(t, S, reduction="batchmean")  # type: ignore[arg-type]
    with pytest.raises(InputTypeError, match="chunk_size"):
        scaledet_loss(v, t, y, S, chunk_size=0)


def test_similarity_requiring_grad_is_refused() -> None:
    v, t, y, S = _batch()
    with pytest.raises(InputTypeError, match=r"similarity\.detach\(\)"):
        scaledet_loss(v, t, y, S.requires_grad_())


def test_bad_weight() -> None:
    v, t, y, S = _batch()
    with pytest.raises(InputShapeError, match=r"weight must have shape \(N,\)"):
        scaledet_loss(v, t, y, S, weight=torch.ones(3))
    with pytest.raises(InputTypeError, match="weight must be a floating"):
        scaledet_loss(v, t, y, S, weight=torch.ones(4, dtype=torch.long))


def test_bad_class_masks() -> None:
    v, t, y, S = _batch()
    good = torch.ones(4, 5, dtype=torch.bool)
    with pytest.raises(InputShapeError, match=r"class_mask must have shape \(N, n\)"):
        scaledet_loss(v, t, y, S, class_mask=good[:, :4])
    with pytest.raises(InputTypeError, match="bool"):
        scaledet_loss(v, t, y, S, class_mask=good.float())
    no_target = good.clone()
    no_target[3, 2] = False
    with pytest.raises(ScaleDetLossError, match="excludes the target label 2 of row 3"):
        scaledet_loss(v, t, y, S, class_mask=no_target)
    masks = torch.ones(2, 5, dtype=torch.bool)
    with pytest.raises(ScaleDetLossError, match=r"dataset_index\) must lie in 0..1"):
        scaledet_loss(v, t, y, S, class_mask=(torch.tensor([0, 1, 2, 0]), masks))
    with pytest.raises(InputShapeError, match="dataset_masks"):
        scaledet_loss(v, t, y, S, class_mask=(torch.zeros(4, dtype=torch.long), masks[:, :3]))
    with pytest.raises(InputTypeError, match="class_mask must be"):
        scaledet_loss(v, t, y, S, class_mask=[good])  # type: ignore[arg-type]


def test_device_mismatch_on_meta() -> None:
    v, t, y, S = _batch()
    with pytest.raises(DeviceMismatchError, match="embeddings are on meta"):
        scaledet_loss(v, t.to("meta"), y, S)
    with pytest.raises(DeviceMismatchError, match="targets are on meta"):
        scaledet_loss(v, t, y.to("meta"), S)
    with pytest.raises(DeviceMismatchError, match="similarity is on meta"):
        scaledet_loss(v, t, y, S.to("meta"))


def test_other_entry_points_validate_too() -> None:
    v, t, y, S = _batch()
    with pytest.raises(InputShapeError):
        hard_label_loss(v[:, :2], t, y)
    with pytest.raises(ScaleDetLossError, match=r"-1\.\.5"):
        soft_label_loss(v, t, torch.tensor([9, 0, 0, 0]), S)
    with pytest.raises(NonFiniteInputError, match="features"):
        cosine_logits(torch.full((2, 3), math.nan), t)
    with pytest.raises(NonFiniteInputError, match="embeddings"):
        CosineClassifier(4, torch.full((2, 3), math.inf))
    with pytest.raises(NonFiniteInputError, match="similarity"):
        ScaleDetLoss(t, torch.full((5, 5), math.nan))
    with pytest.raises(InputShapeError, match=r"\(5, 5\)"):
        ScaleDetLoss(t, torch.eye(4))
    with pytest.raises(InputTypeError, match=r"embeddings must be a torch\.Tensor or numpy"):
        ScaleDetLoss(object(), S)


_MASKS = torch.ones(2, 5, dtype=torch.bool)
_INDEX = torch.zeros(4, dtype=torch.long)
_INDEX_NAME, _MASKS_NAME = "class_mask[0] (dataset_index)", "class_mask[1] (dataset_masks)"
#: (argument, bad value, error, name the message starts with)
_ONE_BAD_ARGUMENT = [
    ("features", [[1.0]], InputTypeError, "features"),
    ("features", torch.randn(4, 3, 1), InputShapeError, "features"),
    ("features", torch.ones(4, 3, dtype=torch.long), InputTypeError, "features"),
    ("embeddings", [[1.0]], InputTypeError, "embeddings"),
    ("embeddings", torch.randn(5), InputShapeError, "embeddings"),
    ("embeddings", torch.ones(5, 3, dtype=torch.long), InputTypeError, "embeddings"),
    ("targets", [0, 1, 2, 3], InputTypeError, "targets"),
    ("targets", torch.zeros(4), InputTypeError, "targets"),
    ("targets", torch.zeros(4, 1, dtype=torch.long), InputShapeError, "targets"),
    ("targets", torch.zeros(4, dtype=torch.long, device="meta"), DeviceMismatchError, "targets"),
    ("weight", [1.0] * 4, InputTypeError, "weight"),
    ("weight", torch.ones(4, dtype=torch.long), InputTypeError, "weight"),
    ("weight", torch.ones(4, 1), InputShapeError, "weight"),
    ("weight", torch.ones(4, device="meta"), DeviceMismatchError, "weight"),
    ("class_mask", torch.ones(4, 5), InputTypeError, "class_mask"),
    ("class_mask", torch.ones(5, 4, dtype=torch.bool), InputShapeError, "class_mask"),
    (
        "class_mask",
        torch.ones(4, 5, dtype=torch.bool, device="meta"),
        DeviceMismatchError,
        "class_mask",
    ),
    ("class_mask", ([0] * 4, _MASKS), InputTypeError, _INDEX_NAME),
    ("class_mask", (_INDEX.float(), _MASKS), InputTypeError, _INDEX_NAME),
    ("class_mask", (_INDEX[:3], _MASKS), InputShapeError, _INDEX_NAME),
    ("class_mask", (_INDEX.to("meta"), _MASKS), DeviceMismatchError, _INDEX_NAME),
    ("class_mask", (_INDEX, _MASKS.tolist()), InputTypeError, _MASKS_NAME),
    ("class_mask", (_INDEX, _MASKS.float()), InputTypeError, _MASKS_NAME),
    ("class_mask", (_INDEX, _MASKS[:, :3]), InputShapeError, _MASKS_NAME),
    ("class_mask", (_INDEX, _MASKS[:0]), InputShapeError, _MASKS_NAME),
    ("class_mask", (_INDEX, _MASKS.to("meta")), DeviceMismatchError, _MASKS_NAME),
]
_ENTRY_POINTS = {
    "scaledet_loss": scaledet_loss,
    "hard_label_loss": hard_label_loss,
    "soft_label_loss": soft_label_loss,
}
#: What each kind of error message must say is accepted.
_ACCEPTED = {
    InputTypeError: "must be a",
    InputShapeError: "shape",
    DeviceMismatchError: "but features are on cpu",
}


@pytest.mark.parametrize(
    ("entry_point", "argument", "bad", "error", "named"),
    [
        (entry_point, *case)
        for entry_point in _ENTRY_POINTS
        for case in _ONE_BAD_ARGUMENT
        if not (entry_point == "soft_label_loss" and case[0] == "class_mask")
    ],
)
def test_each_entry_point_names_the_bad_argument(
    entry_point: str, argument: str, bad: object, error: type[Exception], named: str
) -> None:
    v, t, y, S = _batch()
    kwargs: dict[str, object] = {"features": v, "embeddings": t, "targets": y, argument: bad}
    if entry_point != "hard_label_loss":
        kwargs["similarity"] = S
    with pytest.raises(error, match=f"^{re.escape(named)} ") as info:
        _ENTRY_POINTS[entry_point](**kwargs)
    assert _ACCEPTED[error] in str(info.value)
