"""CallableEncoder: bring your own function."""

from __future__ import annotations

import numpy as np
import pytest

from scaledet_labels.embed.encoders import CallableEncoder, EncoderError


def ones(texts: list[str]) -> np.ndarray:
    return np.ones((len(texts), 3))


def test_wraps_and_checks() -> None:
    enc = CallableEncoder(ones, fingerprint="ones-v1", batch_size=2)
    out = enc.encode(["a", "b", "c"])
    assert out.shape == (3, 3) and out.dtype == np.float32
    assert enc.dim == 3 and enc.fingerprint == "ones-v1" and enc.cache_safe
    assert enc.context_length is None


def test_unfingerprinted_is_not_cache_safe() -> None:
    enc = CallableEncoder(ones)
    assert not enc.cache_safe
    assert enc.fingerprint == f"callable:{__name__}.ones"


def test_dim_is_probed_once() -> None:
    calls: list[int] = []

    def fn(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        return np.zeros((len(texts), 5))

    enc = CallableEncoder(fn)
    assert enc.dim == 5 and enc.dim == 5
    assert calls == [1]


def test_torch_tensor_output() -> None:
    import torch

    enc = CallableEncoder(lambda t: torch.ones(len(t), 2, dtype=torch.float64))
    assert enc.encode(["x"]).dtype == np.float32


@pytest.mark.parametrize(
    ("fn", "match"),
    [
        (lambda t: np.ones((len(t) + 1, 2)), "shape"),
        (lambda t: np.ones(len(t)), "shape"),
        (lambda t: np.full((len(t), 2), np.inf), "non-finite"),
    ],
)
def test_bad_outputs(fn, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EncoderError, match=match):
        CallableEncoder(fn).encode(["a", "b"])


def test_bad_arguments() -> None:
    with pytest.raises(EncoderError):
        CallableEncoder(42)  # type: ignore[arg-type]
    with pytest.raises(EncoderError):
        CallableEncoder(ones, fingerprint="")
    with pytest.raises(EncoderError):
        CallableEncoder(ones, dim=0)


def test_count_tokens() -> None:
    assert CallableEncoder(ones).count_tokens(["a b c"]) == [5]
    enc = CallableEncoder(ones, count_tokens=lambda t: [len(x) for x in t], context_length=4)
    assert enc.count_tokens(["abcde"]) == [5] and enc.context_length == 4
