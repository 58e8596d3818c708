"""Shared encoder helpers: options, fingerprints, output checks, the protocol."""

from __future__ import annotations

import numpy as np
import pytest

from scaledet_labels.embed.encoders import Encoder, EncoderError, MiniLMEncoder
from scaledet_labels.embed.encoders.base import (
    check_output,
    make_fingerprint,
    validate_device,
    validate_precision,
)


def test_validate_device() -> None:
    for ok in ("auto", "cpu", "cuda", "cuda:0", "cuda:12"):
        assert validate_device(ok) == ok
    for bad in ("gpu", "cuda:", "cuda:x", "mps", "", None):
        with pytest.raises(EncoderError, match="is not one of"):
            validate_device(bad)  # type: ignore[arg-type]


def test_validate_precision() -> None:
    assert validate_precision("fp16") == "fp16"
    with pytest.raises(EncoderError, match=r"\['fp32', 'fp16', 'bf16'\]"):
        validate_precision("float32")


def test_half_precision_needs_a_gpu() -> None:
    enc = MiniLMEncoder(device="cpu", precision="fp16")
    assert enc.fingerprint != MiniLMEncoder(device="cpu").fingerprint  # numbers differ
    with pytest.raises(EncoderError, match="needs a GPU"):
        enc.encode(["a dog"])


def test_fingerprint_is_canonical_and_ignores_device() -> None:
    one = make_fingerprint("k", {"a": 1, "b": [1, 2]})
    assert one == make_fingerprint("k", {"b": [1, 2], "a": 1})
    assert make_fingerprint("k", {"a": 1}) != make_fingerprint("k", {"a": 2})
    assert MiniLMEncoder(device="cpu").fingerprint == MiniLMEncoder(device="cuda").fingerprint


def test_check_output() -> None:
    out = check_output([[1, 2], [3, 4]], 2, 2, "x")
    assert out.dtype == np.float32 and out.flags.c_contiguous
    with pytest.raises(EncoderError, match="shape"):
        check_output(np.zeros((3, 2)), 2, None, "x")
    with pytest.raises(EncoderError, match="dimension 2, expected 3"):
        check_output(np.zeros((2, 2)), 2, 3, "x")
    with pytest.raises(EncoderError, match="non-finite"):
        check_output(np.array([[np.nan, 0.0]]), 1, None, "x")


def test_protocol_runtime_check() -> None:
    assert isinstance(MiniLMEncoder(device="cpu"), Encoder)
    assert not isinstance(object(), Encoder)
