"""hf: encoders with a small random CLIP text model saved to a temporary directory."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from scaledet_labels.embed.embeddings import embed_labels
from scaledet_labels.embed.encoders import EncoderError, HFTextEncoder, ModelNotAvailableError


def test_clip_text_model(tiny_hf_clip_dir: Path) -> None:
    import torch
    from transformers import AutoTokenizer, CLIPTextModelWithProjection

    enc = HFTextEncoder(tiny_hf_clip_dir, device="cpu")
    assert enc.pooling == "clip" and enc.dim == 32 and enc.context_length == 77
    texts = ["a photo of a dog.", "itap of a hot dog.", "a"]
    out = enc.encode(texts, batch_size=2)
    model = CLIPTextModelWithProjection.from_pretrained(tiny_hf_clip_dir).eval()
    tok = AutoTokenizer.from_pretrained(tiny_hf_clip_dir)
    with torch.inference_mode():
        ref = np.concatenate(
            [model(**tok([t], return_tensors="pt")).text_embeds.numpy() for t in texts]
        )
    assert np.abs(out - ref).max() < 1e-5
    assert enc.count_tokens(["a photo of a dog."]) == [8]  # sot a photo of a dog . eot


def test_fingerprint_depends_on_content_not_path(tiny_hf_clip_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere"
    shutil.copytree(tiny_hf_clip_dir, copy)
    a = HFTextEncoder(tiny_hf_clip_dir).fingerprint
    assert HFTextEncoder(copy).fingerprint == a
    assert HFTextEncoder(copy, max_length=32).fingerprint != a
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert HFTextEncoder(copy).fingerprint != a


def test_embed_labels_through_spec(tiny_hf_clip_dir: Path, tmp_path: Path) -> None:
    result = embed_labels(
        ["dog", "cat"], f"hf:{tiny_hf_clip_dir}", ["a {}", "the {}"], cache=tmp_path, device="cpu"
    )
    assert result.embeddings.shape == (2, 32)
    assert result.fingerprint.startswith("hf-clip-")


def test_offline_bogus_model_fails_fast(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    start = time.monotonic()
    with pytest.raises(ModelNotAvailableError) as info:
        embed_labels(["dog"], "hf:bogus-org/no-such-model", cache=False)
    assert time.monotonic() - start < 5
    message = str(info.value)
    assert "HF_HUB_OFFLINE" in message
    assert "huggingface-cli download bogus-org/no-such-model" in message
    assert "hf:/path/to/model" in message


def use_hub_cache(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """Point the hub cache at ``path``: the variable, and huggingface_hub's copy of it."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_CACHE", str(path))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(path))


def test_no_network_fails_fast(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Online, but the hub (a closed local port here) does not answer: a quick, clear error."""
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    use_hub_cache(monkeypatch, tmp_path / "hub")
    start = time.monotonic()
    with pytest.raises(ModelNotAvailableError, match="cannot be reached"):
        _ = HFTextEncoder("bogus-org/no-such-model").fingerprint
    assert time.monotonic() - start < 10


def test_offline_subprocess_with_real_env(tmp_path: Path) -> None:
    """HF_HUB_OFFLINE set before anything is imported: still a clear, quick error."""
    code = textwrap.dedent(
        """
        from scaledet_labels.embed.embeddings import embed_labels
        from scaledet_labels.embed.encoders import ModelNotAvailableError
        try:
            embed_labels(["dog"], "hf:bogus-org/no-such-model", cache=False)
        except ModelNotAvailableError as exc:
            print("OK", exc)
        """
    )
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.stdout.startswith("OK"), out.stderr


def test_cached_snapshot_is_found_offline(
    tiny_hf_clip_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    snapshot = tmp_path / "hub" / "models--me--tiny" / "snapshots" / "abc123"
    shutil.copytree(tiny_hf_clip_dir, snapshot)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("abc123")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    use_hub_cache(monkeypatch, tmp_path / "hub")
    enc = HFTextEncoder("me/tiny")
    assert enc.model_dir == snapshot
    assert enc.fingerprint == HFTextEncoder(tiny_hf_clip_dir).fingerprint


def test_bad_directories(tmp_path: Path) -> None:
    with pytest.raises(EncoderError, match=r"no config\.json"):
        _ = HFTextEncoder(tmp_path).fingerprint
    with pytest.raises(ModelNotAvailableError, match="does not exist"):
        _ = HFTextEncoder(tmp_path / "missing" / "dir" / "x").fingerprint
    with pytest.raises(EncoderError, match="pooling"):
        HFTextEncoder(tmp_path, pooling="max")
