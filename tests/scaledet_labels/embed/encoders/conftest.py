"""Small models for the encoder tests (random weights, built offline, saved to tmp)."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import pytest

from scaledet_labels.embed.encoders._hub import package_dir

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # the fake_hub helper module, under either pytest import mode
    sys.path.insert(0, _HERE)

from fake_hub import offline_hub, unreachable_hub  # noqa: E402


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty fake Hugging Face cache; offline as huggingface_hub reads HF_HUB_OFFLINE=1."""
    return offline_hub(monkeypatch, tmp_path / "hub")


@pytest.fixture
def no_network(hub: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Online mode, but the hub endpoint refuses connections (as a missing network does)."""
    unreachable_hub(monkeypatch)
    return hub


def clip_bpe_tokenizer():  # type: ignore[no-untyped-def]
    """transformers' CLIPTokenizer built from open_clip's bundled BPE vocabulary (offline)."""
    from transformers import CLIPTokenizer

    root = package_dir("open_clip")
    assert root is not None
    with gzip.open(root / "bpe_simple_vocab_16e6.txt.gz") as f:
        lines = f.read().decode("utf-8").split("\n")
    merges = [tuple(m.split()) for m in lines[1 : 49152 - 256 - 2 + 1]]
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    chars = [chr(c) for c in cs]
    vocab = chars + [c + "</w>" for c in chars] + ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(vocab)}, merges=merges)


@pytest.fixture(scope="session")
def tiny_hf_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer transformers CLIP text model with projection, plus tokenizer."""
    import torch
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("tiny-hf-clip")
    config = CLIPTextConfig(
        hidden_size=64,
        intermediate_size=128,
        projection_dim=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=77,
    )
    CLIPTextModelWithProjection(config).eval().save_pretrained(directory)
    clip_bpe_tokenizer().save_pretrained(directory)
    return directory
