"""embed_labels: the l2-mean-l2 recipe, inputs, incremental caching, the light warm path."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest

from scaledet_labels.embed import embeddings as embeddings_module
from scaledet_labels.embed.embeddings import (
    RECIPE,
    embed_labels,
    encode_prompts,
    ensemble,
    resolve_encoder,
)
from scaledet_labels.embed.encoders import CallableEncoder, EncoderError, MiniLMEncoder
from scaledet_labels.embed.prompts import PromptError
from scaledet_labels.vocab.vocabulary import Label, Vocabulary


def fake_vectors(texts: list[str], dim: int = 6) -> np.ndarray:
    return np.stack(
        [np.random.default_rng(zlib.crc32(t.encode())).standard_normal(dim) for t in texts]
    ).astype(np.float32)


def counting(
    fingerprint: str | None = "fake-v1", dim: int = 6
) -> tuple[CallableEncoder, list[str]]:
    seen: list[str] = []

    def fn(texts: list[str]) -> np.ndarray:
        seen.extend(texts)
        return fake_vectors(texts, dim) * 3.0  # not unit: the recipe normalizes

    return CallableEncoder(fn, fingerprint=fingerprint, dim=dim), seen


def manual(prompts: list[str]) -> np.ndarray:
    v = fake_vectors(prompts).astype(np.float64)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    m = v.mean(0)
    return m / np.linalg.norm(m)


@pytest.fixture(scope="module")
def minilm() -> MiniLMEncoder:
    return MiniLMEncoder(device="cpu")


def test_ensemble_recipe() -> None:
    v = np.array([[3.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    out = ensemble(v, np.array([0, 1, 2, 2]), np.array([0, 2, 3, 4]))
    assert out.dtype == np.float32 and out.shape == (3, 2)
    np.testing.assert_allclose(out[0], [2**-0.5, 2**-0.5], atol=1e-7)
    np.testing.assert_allclose(out[1], out[2], atol=1e-7)
    with pytest.raises(PromptError):
        ensemble(v, np.array([0]), np.array([0, 1, 1]))


def test_result_contents(tmp_path: Path) -> None:
    enc, _ = counting()
    vocab = Vocabulary.from_names(["dog", "Hot_dog", "cat"], name="pets")
    r = embed_labels(vocab, enc, ["a {}", "the {}"], cache=tmp_path)
    assert r.embeddings.shape == (3, 6) and r.embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(r.embeddings, axis=1), 1, atol=1e-6)
    assert r.names == ("dog", "hot dog", "cat") and r.prompt_counts == (2, 2, 2)
    assert r.prompts[1] == ("a hot dog", "the hot dog")
    assert r.templates == ("a {}", "the {}") and r.template_set == "custom"
    assert r.recipe == RECIPE == "l2-mean-l2" and r.fingerprint == "fake-v1"
    stats = r.stats
    assert (stats.prompts_total, stats.prompts_unique, stats.from_cache, stats.encoded) == (
        6,
        6,
        0,
        6,
    )
    for i, prompts in enumerate(r.prompts):
        np.testing.assert_allclose(r.embeddings[i], manual(list(prompts)), atol=1e-6)
    assert not r.embeddings.flags.writeable
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.fingerprint = "x"  # type: ignore[misc]
    manifest = r.manifest()
    assert manifest["recipe"] == RECIPE and manifest["dim"] == 6 and len(manifest["identity"]) == 64


def test_synonyms_are_averaged() -> None:
    enc, _ = counting()
    label = Label(0, 1, "hot_dog", "hot dog", ("frankfurter",))
    with_syn = embed_labels([label], enc, ["a {}"], cache=False)
    expected = manual(["a hot dog", "a frankfurter"])
    np.testing.assert_allclose(with_syn.embeddings[0], expected, atol=1e-6)
    without = embed_labels([label], enc, ["a {}"], synonyms=False, cache=False)
    np.testing.assert_allclose(without.embeddings[0], manual(["a hot dog"]), atol=1e-6)
    assert with_syn.identity() != without.identity()


def test_label_space_input_keeps_order() -> None:
    from scaledet_labels.vocab.label_space import LabelSpace

    enc, _ = counting()
    space = LabelSpace.union(
        [
            Vocabulary.from_names(["dog", "cat"], name="a"),
            Vocabulary.from_names(["car", "dog"], name="b"),
        ]
    )
    r = embed_labels(space, enc, ["a {}"], cache=False)
    assert r.names == ("dog", "cat", "car", "dog") and r.datasets == ("a", "a", "b", "b")
    np.testing.assert_array_equal(r.embeddings[0], r.embeddings[3])
    assert r.stats.prompts_total == 4 and r.stats.prompts_unique == 3


def test_incremental_cache(tmp_path: Path) -> None:
    enc, seen = counting()
    coco = ["person", "bicycle", "car"]
    embed_labels(coco, enc, ["a {}"], cache=tmp_path)
    assert len(seen) == 3
    seen.clear()
    r = embed_labels(coco, enc, ["a {}", "a photo of a {}."], cache=tmp_path)  # new template
    assert sorted(seen) == sorted(f"a photo of a {n}." for n in coco)
    assert (r.stats.from_cache, r.stats.encoded) == (3, 3)
    seen.clear()
    r = embed_labels([*coco, "car", "truck"], enc, ["a {}", "a photo of a {}."], cache=tmp_path)
    assert sorted(seen) == ["a photo of a truck.", "a truck"]  # only the new dataset's label
    seen.clear()
    again = embed_labels([*coco, "car", "truck"], enc, ["a {}", "a photo of a {}."], cache=tmp_path)
    assert seen == [] and again.stats.encoded == 0
    np.testing.assert_array_equal(again.embeddings, r.embeddings)
    other, other_seen = counting(fingerprint="fake-v2")
    embed_labels(coco, other, ["a {}"], cache=tmp_path)
    assert len(other_seen) == 3  # another fingerprint shares nothing


def test_default_cache_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SCALEDET_CACHE", str(tmp_path / "home-cache"))
    enc, _ = counting()
    r = embed_labels(["dog"], enc, ["a {}"])
    assert r.stats.cache_path == str(tmp_path / "home-cache" / "prompt_embeddings.sqlite3")


def test_unfingerprinted_callable_bypasses_the_cache(tmp_path: Path) -> None:
    enc, seen = counting(fingerprint=None)
    embed_labels(["dog"], enc, ["a {}"], cache=tmp_path)
    embed_labels(["dog"], enc, ["a {}"], cache=tmp_path)
    assert len(seen) == 2 and not (tmp_path / "prompt_embeddings.sqlite3").exists()
    r = embed_labels(["dog"], lambda t: fake_vectors(t), ["a {}"], cache=tmp_path)
    assert r.fingerprint.startswith("callable:")


def test_dimension_conflict_under_one_fingerprint(tmp_path: Path) -> None:
    embed_labels(["dog"], counting(dim=6)[0], ["a {}"], cache=tmp_path)
    sneaky = CallableEncoder(lambda t: fake_vectors(t, 4), fingerprint="fake-v1")
    with pytest.raises(EncoderError, match="several dimensions"):
        embed_labels(["dog", "cat"], sneaky, ["a {}"], cache=tmp_path)


def test_bad_options() -> None:
    enc, _ = counting()
    with pytest.raises(PromptError, match=r"\['error', 'warn'\]"):
        embed_labels(["dog"], enc, too_long="truncate", cache=False)  # type: ignore[arg-type]
    with pytest.raises(PromptError, match="progress"):
        embed_labels(["dog"], enc, progress="yes", cache=False)  # type: ignore[arg-type]
    with pytest.raises(EncoderError, match="batch_size"):
        embed_labels(["dog"], enc, batch_size=0, cache=False)
    with pytest.raises(EncoderError, match="spec string"):
        resolve_encoder(42)  # type: ignore[arg-type]


def test_progress_only_on_long_work_at_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    show = embeddings_module._show_progress
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert show(None, 5000) and not show(None, 10) and show(True, 10) and not show(False, 5000)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert not show(True, 5000) and not show(None, 5000)


def test_encode_prompts() -> None:
    enc, seen = counting()
    out = encode_prompts(["a dog", "a cat", "a dog"], enc, cache=False)
    assert out.shape == (3, 6) and seen == ["a dog", "a cat"]
    np.testing.assert_array_equal(out[0], out[2])
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1, atol=1e-6)
    with pytest.raises(PromptError):
        encode_prompts("a dog", enc, cache=False)


def test_minilm_default_semantics(minilm: MiniLMEncoder) -> None:
    r = embed_labels(["dog", "puppy", "car", "truck"], minilm, cache=False)
    e = r.embeddings
    assert e[0] @ e[1] > e[0] @ e[2] and e[2] @ e[3] > e[2] @ e[1]
    assert r.template_set == "simple" and r.prompt_counts == (7, 7, 7, 7)


def test_warm_build_imports_no_heavy_modules(minilm: MiniLMEncoder, tmp_path: Path) -> None:
    vocab = ["dog", "hot dog", "traffic light"]
    cold = embed_labels(vocab, minilm, cache=tmp_path)
    assert cold.stats.encoded == 21
    code = textwrap.dedent(
        f"""
        import sys
        from scaledet_labels.embed.embeddings import embed_labels
        r = embed_labels({vocab!r}, cache={str(tmp_path)!r}, device="cpu")
        assert r.stats.encoded == 0 and r.stats.from_cache == 21, r.stats
        heavy = [m for m in ("torch", "open_clip", "transformers") if m in sys.modules]
        assert not heavy, heavy
        sys.stdout.buffer.write(r.embeddings.tobytes())
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert out.returncode == 0, out.stderr.decode()
    warm = np.frombuffer(out.stdout, dtype=np.float32).reshape(cold.embeddings.shape)
    np.testing.assert_array_equal(warm, cold.embeddings)


def test_a_repeated_build_reads_its_label_embeddings_whole(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from scaledet_labels.embed.cache import PromptCache

    enc, seen = counting()
    names = ["person", "bicycle", "car", "traffic light"]
    first = embed_labels(names, enc, ["a {}", "a photo of a {}."], cache=tmp_path)
    assert len(seen) == 8

    def no_lookup(*args: object, **kwargs: object) -> None:
        raise AssertionError("the prompt vectors were read again")

    with monkeypatch.context() as patch:
        patch.setattr(PromptCache, "lookup", no_lookup)
        again = embed_labels(names, enc, ["a {}", "a photo of a {}."], cache=tmp_path)
    assert len(seen) == 8  # nothing encoded
    np.testing.assert_array_equal(again.embeddings, first.embeddings)
    assert again.identity() == first.identity() and again.prompts == first.prompts
    assert (again.stats.from_cache, again.stats.encoded, again.stats.prompts_unique) == (8, 0, 8)
    assert not again.embeddings.flags.writeable
    # other prompts (a template more) miss the whole result but reuse the prompt vectors
    more = embed_labels(names, enc, ["a {}", "a photo of a {}.", "{}"], cache=tmp_path)
    assert sorted(seen[8:]) == sorted(names)
    assert more.stats.from_cache == 8 and more.stats.encoded == 4
    # the same numbers as computing from the prompt vectors (the results dropped)
    with PromptCache(tmp_path) as store:
        store._db.execute("DELETE FROM results")
    recomputed = embed_labels(names, enc, ["a {}", "a photo of a {}."], cache=tmp_path)
    np.testing.assert_array_equal(recomputed.embeddings, first.embeddings)
