"""Encoder spec strings and load_encoder."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from scaledet_labels.embed.encoders import (
    EncoderError,
    EncoderSpec,
    EncoderSpecError,
    HFTextEncoder,
    MiniLMEncoder,
    OpenCLIPEncoder,
    load_encoder,
    parse_encoder_spec,
)
from scaledet_labels.errors import ScaleDetError


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("minilm", EncoderSpec("minilm")),
        ("MiniLM", EncoderSpec("minilm")),
        (
            "openclip:ViT-B-32/laion2b_s34b_b79k",
            EncoderSpec("openclip", "ViT-B-32", pretrained="laion2b_s34b_b79k"),
        ),
        (
            "openclip:ViT-B-32@/ckpt/dir/model.safetensors",
            EncoderSpec("openclip", "ViT-B-32", checkpoint="/ckpt/dir/model.safetensors"),
        ),
        ("openclip:ViT-B-32", EncoderSpec("openclip", "ViT-B-32")),
        (
            "openclip:hf-hub:timm/ViT-B-16-SigLIP",
            EncoderSpec("openclip", "hf-hub:timm/ViT-B-16-SigLIP"),
        ),
        ("openclip:local-dir:/models/x", EncoderSpec("openclip", "local-dir:/models/x")),
        ("hf:openai/clip-vit-base-patch32", EncoderSpec("hf", "openai/clip-vit-base-patch32")),
        ("hf:/models/my clip", EncoderSpec("hf", "/models/my clip")),
    ],
)
def test_parse_accepted_forms(spec: str, expected: EncoderSpec) -> None:
    assert parse_encoder_spec(spec) == expected


def test_spec_round_trips_through_str() -> None:
    for text in ("minilm", "hf:a/b", "openclip:ViT-B-32/openai", "openclip:RN50@/x.pt"):
        assert str(parse_encoder_spec(text)) == text


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "  ",
        "clip",
        "openclip:",
        "openclip:/tag",
        "openclip:ViT-B-32/",
        "openclip:ViT-B-32/openai@/x.pt",
        "openclip:@/x.pt",
        "hf:",
        "sbert:all",
    ],
)
def test_parse_rejects_malformed(spec: str) -> None:
    with pytest.raises(EncoderSpecError) as info:
        parse_encoder_spec(spec)
    assert isinstance(info.value, ValueError) and isinstance(info.value, ScaleDetError)
    if spec.strip() and ":" not in spec:
        assert "minilm" in str(info.value) and "openclip:" in str(info.value)


def test_parse_rejects_non_string() -> None:
    with pytest.raises(EncoderSpecError):
        parse_encoder_spec(42)  # type: ignore[arg-type]


def test_load_encoder_types(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(load_encoder("minilm", device="cpu"), MiniLMEncoder)
    assert isinstance(load_encoder(f"hf:{tmp_path}"), HFTextEncoder)
    enc = load_encoder("openclip:ViT-B-32@/nowhere.safetensors")
    assert isinstance(enc, OpenCLIPEncoder)
    assert enc.dim == 512 and enc.context_length == 77


def test_openclip_without_weights_is_refused() -> None:
    with pytest.raises(EncoderError, match="randomly initialised"):
        load_encoder("openclip:ViT-B-32")


def test_options_are_validated() -> None:
    with pytest.raises(EncoderError, match=r"\['auto', 'cpu', 'cuda'\]"):
        load_encoder("minilm", device="tpu")
    with pytest.raises(EncoderError, match=r"\['fp32', 'fp16', 'bf16'\]"):
        load_encoder("minilm", precision="int8")


def test_loading_and_fingerprints_stay_light(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Specs, dims and fingerprints come from files: no torch/transformers/open_clip."""
    ckpt = tmp_path / "w.safetensors"
    ckpt.write_bytes(b"not really weights, only hashed")
    code = textwrap.dedent(
        f"""
        import sys
        from scaledet_labels.embed.encoders import load_encoder
        a = load_encoder("minilm", device="cpu")
        b = load_encoder("openclip:ViT-B-32@{ckpt}")
        print(a.fingerprint, a.dim, b.fingerprint, b.dim)
        heavy = [m for m in ("torch", "transformers", "open_clip") if m in sys.modules]
        assert not heavy, heavy
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    fp_a, dim_a, fp_b, dim_b = out.stdout.split()
    assert fp_a.startswith("hf-mean-") and dim_a == "384"
    assert fp_b.startswith("openclip-") and dim_b == "512"
