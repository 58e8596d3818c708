"""Prompt building: names x templates x synonyms, overrides, deduplication."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scaledet_labels.embed.prompts import (
    PromptError,
    build_prompts,
    label_entries,
    load_label_prompts,
)
from scaledet_labels.vocab.vocabulary import Label, Vocabulary, make_label


def lvis_like() -> Vocabulary:
    labels = [
        make_label(0, "bow_(weapon)", synonyms=["longbow"]),
        make_label(1, "hot_dog", synonyms=["frankfurter", "hot_dog"]),
        make_label(2, "apple"),
    ]
    return Vocabulary("lvis-mini", labels)


def test_plain_strings_are_used_as_given() -> None:
    p = build_prompts(["American robin", "hot_dog"], ["a {}"])
    assert p.prompts == (("a American robin",), ("a hot_dog",))
    assert p.names == ("American robin", "hot_dog")


def test_synonyms_are_averaged_or_not() -> None:
    vocab = lvis_like()
    p = build_prompts(vocab, ["a {}", "the {}"])
    assert p.prompts[0] == ("a bow (weapon)", "the bow (weapon)", "a longbow", "the longbow")
    assert p.prompts[1] == ("a hot dog", "the hot dog", "a frankfurter", "the frankfurter")
    assert p.counts == (4, 4, 2) and p.synonyms
    clean = build_prompts(vocab, ["a {}", "the {}"], synonyms=False)
    assert clean.counts == (2, 2, 2)
    with pytest.raises(PromptError):
        build_prompts(vocab, ["a {}"], synonyms="yes")  # type: ignore[arg-type]


def test_deduplication_and_index() -> None:
    labels = [
        Label(0, 1, "dog", "dog", ("puppy",)),
        Label(1, 2, "puppy", "puppy"),
        Label(2, 3, "dog", "dog"),  # same name in another dataset
    ]
    p = build_prompts(labels, ["a {}", "the {}"])
    assert p.total == 8 and len(p.unique) == 4
    for i, own in enumerate(p.prompts):
        rows = p.index[p.offsets[i] : p.offsets[i + 1]]
        assert tuple(p.unique[r] for r in rows) == own
    assert p.offsets.dtype == np.int64


def test_templates_with_articles() -> None:
    assert build_prompts(["owl"], "{article} {}").prompts == (("an owl",),)


def test_label_prompts_override() -> None:
    vocab = lvis_like()
    p = build_prompts(vocab, "photo", label_prompts={"Hot Dog": ["a sausage in a bun."]})
    assert p.prompts[1] == ("a sausage in a bun.",)
    assert p.overridden == (False, True, False)
    raw = build_prompts(vocab, "photo", label_prompts={"bow_(weapon)": ["a bow for arrows."]})
    assert raw.prompts[0] == ("a bow for arrows.",)


def test_label_prompts_dataset_key() -> None:
    from scaledet_labels.vocab.label_space import LabelSpace

    space = LabelSpace.union(
        [Vocabulary.from_names(["dog", "cat"], name="a"), Vocabulary.from_names(["dog"], name="b")]
    )
    p = build_prompts(space, ["a {}"], label_prompts={"b/dog": ["a good boy."]})
    assert p.prompts == (("a dog",), ("a cat",), ("a good boy.",))
    assert p.datasets == ("a", "a", "b")
    both = build_prompts(space, ["a {}"], label_prompts={"dog": ["a good boy."]})
    assert both.prompts[0] == both.prompts[2] == ("a good boy.",)


def test_unknown_override_key_is_an_error() -> None:
    with pytest.raises(PromptError, match="did you mean 'apple'"):
        build_prompts(lvis_like(), "photo", label_prompts={"appel": ["x"]})


def test_label_prompts_file(tmp_path: Path) -> None:
    path = tmp_path / "cupl.json"
    path.write_text(json.dumps({"apple": ["A red fruit.", "A red fruit."]}), encoding="utf-8")
    assert load_label_prompts(path) == {"apple": ("A red fruit.",)}
    built = build_prompts(lvis_like(), "photo", label_prompts=str(path))
    assert built.prompts[2] == ("A red fruit.",)
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(PromptError, match="not valid JSON"):
        load_label_prompts(bad)
    with pytest.raises(PromptError, match="does not exist"):
        load_label_prompts(tmp_path / "nope.json")


@pytest.mark.parametrize(
    "value",
    [["x"], {"apple": "one string"}, {"apple": []}, {"apple": [""]}, {"apple": [3]}, {3: ["x"]}],
)
def test_bad_label_prompts(value: object) -> None:
    with pytest.raises(PromptError):
        load_label_prompts(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("labels", ["dog", [], [""], ["dog", 3], [object()], 42])
def test_bad_labels(labels: object) -> None:
    with pytest.raises(PromptError):
        label_entries(labels)


def test_entries_from_label_space() -> None:
    from scaledet_labels.vocab.label_space import LabelSpace

    space = LabelSpace.union([lvis_like(), Vocabulary.from_names(["Cabinet/shelf"], name="o365")])
    entries = label_entries(space)
    assert [e.dataset for e in entries] == ["lvis-mini"] * 3 + ["o365"]
    assert entries[3].prompt_names == ("cabinet or shelf", "cabinet", "shelf")
    assert entries[0].display == "lvis-mini/bow (weapon)"
