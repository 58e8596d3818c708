"""cosine_logits / CosineClassifier."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from scaledet_loss import (
    CosineClassifier,
    DeviceMismatchError,
    InputShapeError,
    InputTypeError,
    ScaleDetLoss,
    ScaleDetLossError,
    cosine_logits,
    hard_label_loss,
)


def test_cosine_logits_values() -> None:
    v = torch.randn(5, 3, dtype=torch.float64)
    t = torch.randn(4, 3, dtype=torch.float64)
    expected = F.cosine_similarity(v.unsqueeze(1), t.unsqueeze(0), dim=2) / 0.1
    torch.testing.assert_close(cosine_logits(v, t, tau=0.1), expected)


def test_classifier_shapes_background_and_features() -> None:
    torch.manual_seed(0)
    emb = torch.randn(6, 8)
    head = CosineClassifier(12, emb, tau=0.05, append_background=True)
    x = torch.randn(3, 12)
    logits, feats = head(x, return_features=True)
    assert logits.shape == (3, 7) and feats.shape == (3, 8)
    assert logits[:, -1].abs().max() == 0  # Detic-style zero background column
    torch.testing.assert_close(logits[:, :6], cosine_logits(feats, emb, tau=0.05))
    torch.testing.assert_close(feats, head.embed(x))
    assert head(x.reshape(3, 3, 4)).shape == (3, 7)  # (N, ...) inputs are flattened
    with pytest.raises(InputShapeError, match=r"\(N, 12\)"):
        head(torch.randn(3, 5))


def test_set_label_space_any_size_keeps_device_dtype_and_normalizes() -> None:
    head = CosineClassifier(4, torch.randn(3, 6)).double()
    new = torch.randn(11, 6) * 7.0
    head.set_label_space(new)
    assert head.num_classes == 11 and head.embeddings.dtype == torch.float64
    torch.testing.assert_close(head.embeddings.norm(dim=1), torch.ones(11, dtype=torch.float64))
    assert head(torch.randn(2, 4, dtype=torch.float64)).shape == (2, 11)
    assert "embeddings" in dict(head.named_buffers())
    with pytest.raises(InputShapeError, match="D=6"):
        head.set_label_space(torch.randn(3, 5))


def test_loss_from_projected_features_equals_bce_on_head_logits() -> None:
    # Training path: feed head.embed(x) to the loss, which forms the cosines itself.
    torch.manual_seed(1)
    emb = torch.randn(5, 8)
    head = CosineClassifier(10, emb, tau=0.02)
    x = torch.randn(7, 10)
    y = torch.tensor([0, 1, 2, 3, 4, 5, 5])
    via_features = hard_label_loss(head.embed(x), head.embeddings, y, tau=head.tau)
    logits = head(x)
    target = F.one_hot(y, 6)[:, :5].float()
    via_logits = F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / 7
    torch.testing.assert_close(via_features, via_logits)
    criterion = ScaleDetLoss(emb, torch.eye(5))
    loss = criterion(head.embed(x), y)
    loss.backward()
    assert head.proj.weight.grad is not None and torch.isfinite(head.proj.weight.grad).all()


@pytest.mark.parametrize(
    ("in_features", "error", "match"),
    [
        (0, ScaleDetLossError, r"^in_features .*positive int \(>= 1\), got 0"),
        (-1, ScaleDetLossError, r"^in_features .*positive int \(>= 1\), got -1"),
        (True, InputTypeError, r"^in_features .*positive int, got True"),
        (12.0, InputTypeError, r"^in_features .*positive int, got 12\.0"),
        ("12", InputTypeError, r"^in_features .*positive int, got '12'"),
        (None, InputTypeError, r"^in_features .*positive int, got None"),
    ],
)
def test_bad_in_features(in_features: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        CosineClassifier(in_features, torch.randn(3, 4))  # type: ignore[arg-type]


def test_numpy_int_in_features_and_bad_embedding_sizes() -> None:
    assert CosineClassifier(np.int64(6), torch.randn(3, 4)).in_features == 6  # type: ignore[arg-type]
    with pytest.raises(InputShapeError, match=r"^embeddings .*n, dim >= 1, got \(0, 4\)"):
        CosineClassifier(6, torch.randn(0, 4))
    with pytest.raises(InputShapeError, match=r"^embeddings .*n, dim >= 1, got \(3, 0\)"):
        CosineClassifier(6, torch.randn(3, 0))


@pytest.mark.parametrize(
    ("x", "error", "match"),
    [
        (
            torch.randn(2, 8, dtype=torch.float64),
            InputTypeError,
            r"^x has dtype torch\.float64 but the head is torch\.float32; cast the input "
            r"\(x\.to\(torch\.float32\)\) or the head \(head\.to\(torch\.float64\)\)$",
        ),
        (
            torch.randn(2, 8, dtype=torch.float16),
            InputTypeError,
            r"^x has dtype torch\.float16 .*or run under torch\.autocast$",
        ),
        (torch.ones(2, 8, dtype=torch.long), InputTypeError, r"^x must be a floating-point"),
        (torch.ones(2, 8, dtype=torch.int32), InputTypeError, r"got torch\.int32"),
        (torch.ones(2, 8, dtype=torch.bool), InputTypeError, r"^x must be a floating-point"),
        (torch.randn(2, 8).tolist(), InputTypeError, r"^x must be a torch\.Tensor of shape"),
        (torch.randn(2, 7), InputShapeError, r"^x must have shape \(N, in_features\) = \(N, 8\)"),
        (torch.randn(8), InputShapeError, r"^x must have shape .*got \(8,\)"),
        (torch.randn(2, 8, device="meta"), DeviceMismatchError, r"^x is on meta but the head"),
    ],
)
def test_bad_inputs_to_the_head(x: object, error: type, match: str) -> None:
    head = CosineClassifier(8, torch.randn(3, 4))
    with pytest.raises(error, match=match):
        head(x)
    with pytest.raises(error, match=match):
        head.embed(x)  # type: ignore[arg-type]


def test_dtype_fixes_named_in_the_message_work() -> None:
    head = CosineClassifier(8, torch.randn(3, 4))
    x = torch.randn(2, 8, dtype=torch.float64)
    assert head(x.float()).dtype == torch.float32
    assert head.double()(x).dtype == torch.float64
    with pytest.raises(InputTypeError, match=r"head \(head\.to\(torch\.float32\)\)"):
        head(x.float())


def test_mixed_dtypes_are_accepted_under_autocast_except_float64() -> None:
    head = CosineClassifier(8, torch.randn(3, 4))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert head(torch.randn(2, 8, dtype=torch.float16)).shape == (2, 3)
        with pytest.raises(InputTypeError, match="float64"):
            head(torch.randn(2, 8, dtype=torch.float64))
