"""build_label_space forwards the embedding options a user sets (per-label prompts,
batch size) and records them in the bundle's identity."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

import scaledet_labels as sl
import scaledet_labels.bundle.similarity


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


def test_large_spaces_keep_a_top_k_similarity_by_default(caplog: pytest.LogCaptureFixture) -> None:
    """Above 10,000 labels "auto" keeps the top 64 per row, with a message; smaller spaces
    and topk=None stay dense."""
    import scipy.sparse

    rng = np.random.default_rng(0)
    n = sl.bundle.similarity.AUTO_DENSE_MAX + 1
    space = sl.LabelSpace.union([sl.Vocabulary.from_names([f"l{i}" for i in range(n)], name="d")])
    emb = rng.standard_normal((n, 4)).astype(np.float32)
    with caplog.at_level(logging.WARNING):
        big = sl.build_label_space(space, precomputed={"d": emb})
    assert isinstance(big.similarity, scipy.sparse.csr_matrix)
    assert big.manifest["similarity"]["topk"] == 64
    assert "keeping each label's top 64" in caplog.text and "topk=None" in caplog.text
    small_space = sl.LabelSpace.union(["cat, dog"], names=["s"])
    small = sl.build_label_space(small_space, precomputed={"s": np.eye(2, 4)})
    assert isinstance(small.similarity, np.ndarray)
    with pytest.raises(sl.SimilarityError, match="'auto' or None"):
        sl.build_label_space(small_space, precomputed={"s": np.eye(2, 4)}, topk=0)


def test_cli_dense_and_topk_flags() -> None:
    from scaledet_labels.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["build", "coco"]).topk == "auto"
    assert parser.parse_args(["build", "coco", "--dense"]).topk is None
    assert parser.parse_args(["build", "coco", "--topk", "8"]).topk == 8
    with pytest.raises(SystemExit):
        parser.parse_args(["build", "coco", "--dense", "--topk", "8"])


@pytest.mark.parametrize("topk", [None, 2])
def test_a_repeated_build_reads_its_similarity_whole(
    topk: int | None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from scaledet_labels.bundle import build as build_module

    def make() -> sl.LabelSpaceBundle:
        return sl.build_label_space(
            ["cat, dog, car, bus, boat"],
            encoder=sl.CallableEncoder(Recorder(), fingerprint="recorder-sim"),
            templates="photo",
            topk=topk,
            cache=tmp_path,
        )

    first = make()
    with monkeypatch.context() as patch:

        def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError("the similarity was recomputed")

        patch.setattr(build_module, "label_similarity", refuse)
        again = make()
    a, b = first.similarity, again.similarity
    if topk is None:
        np.testing.assert_array_equal(a, b)
    else:
        assert (a != b).nnz == 0 and a.shape == b.shape and b.has_sorted_indices
    assert again.manifest["identity"] == first.manifest["identity"]
    assert again.manifest["arrays_hash"] == first.manifest["arrays_hash"]
    other = sl.build_label_space(
        ["cat, dog, car, bus, boat"],
        encoder=sl.CallableEncoder(Recorder(), fingerprint="recorder-sim"),
        templates="photo",
        topk=topk,
        similarity="affine",
        cache=tmp_path,
    )
    assert other.manifest["arrays_hash"] != first.manifest["arrays_hash"]  # other options


def test_no_cache_means_no_similarity_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCALEDET_CACHE", str(tmp_path / "default"))
    sl.build_label_space(
        ["cat, dog"],
        encoder=sl.CallableEncoder(Recorder(), fingerprint="recorder-sim"),
        templates="photo",
        cache=False,
    )
    assert not (tmp_path / "default").exists()
