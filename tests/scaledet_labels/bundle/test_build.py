"""build_label_space forwards the embedding options a user sets (per-label prompts,
batch size) and records them in the bundle's identity."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import scaledet_labels as sl


class Recorder:
    """A deterministic fake text encoder that remembers every call."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        rng = [np.random.default_rng(sum(map(ord, t))) for t in texts]
        return np.stack([r.standard_normal(8) for r in rng]).astype(np.float32)


def test_label_prompts_reach_the_bundle(tmp_path: Path) -> None:
    fake = Recorder()
    descriptions = {"goldfish": ["a small orange fish.", "a pet fish in a bowl."]}
    bundle = sl.build_label_space(
        ["goldfish, shark"],
        encoder=sl.CallableEncoder(fake, fingerprint="recorder-v1"),
        templates="photo",
        label_prompts=descriptions,
        cache=tmp_path / "cache",
    )
    seen = {t for call in fake.calls for t in call}
    assert seen == {"a small orange fish.", "a pet fish in a bowl.", "a photo of a shark."}
    plain = sl.build_label_space(
        ["goldfish, shark"],
        encoder=sl.CallableEncoder(fake, fingerprint="recorder-v1"),
        templates="photo",
        cache=tmp_path / "cache",
    )
    assert not np.allclose(bundle.embeddings[0], plain.embeddings[0])
    assert np.allclose(bundle.embeddings[1], plain.embeddings[1])
    assert bundle.manifest["identity"] != plain.manifest["identity"]


def test_batch_size_is_forwarded_to_the_encoder() -> None:
    fake = Recorder()
    sl.build_label_space(
        ["cat, dog, car, bus, boat"],
        encoder=sl.CallableEncoder(fake, fingerprint="recorder-v2"),
        templates="photo",
        batch_size=2,
        cache=False,
    )
    assert [len(call) for call in fake.calls] == [2, 2, 1]
