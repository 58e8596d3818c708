"""Registering user vocabularies by name; built-ins are protected; failures change nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scaledet_labels import (
    LabelSpace,
    Vocabulary,
    VocabularyError,
    available_vocabularies,
    load_vocabulary,
    register_vocabulary,
    unregister_vocabulary,
)

BUILTINS = ["coco", "lvis", "objects365", "oid", "oid500", "voc", "v3det", "imagenet21k"]

pytestmark = pytest.mark.usefixtures("clean_registry")


def _state() -> tuple[list[str], list[str]]:
    return available_vocabularies(), available_vocabularies(include_aliases=True)


def test_available_vocabularies() -> None:
    assert available_vocabularies() == BUILTINS
    with_aliases = available_vocabularies(include_aliases=True)
    assert with_aliases[: len(BUILTINS)] == BUILTINS
    assert {"openimages", "o365", "lvis_v1", "pascal_voc"} <= set(with_aliases)


def test_register_a_list() -> None:
    register_vocabulary("pets", ["cat", "Hot_dog"])
    assert available_vocabularies() == [*BUILTINS, "pets"]
    vocab = load_vocabulary("pets")
    assert vocab.name == "pets"
    assert vocab.clean_names == ("cat", "hot dog")
    assert load_vocabulary("PETS") == vocab  # case-insensitive
    assert load_vocabulary("pets", name="animals").name == "animals"


def test_register_a_vocabulary_is_renamed_to_the_key() -> None:
    original = Vocabulary.from_names(["cat", "dog"], name="whatever")
    register_vocabulary("Pets", original)
    vocab = load_vocabulary("pets")
    assert vocab.name == "pets"
    assert vocab.labels == original.labels


def test_register_a_file(tmp_vocab_file: Callable[..., Path]) -> None:
    path = tmp_vocab_file("classes.json", '[{"id": 4, "name": "cat"}, {"id": 9, "name": "dog"}]')
    register_vocabulary("mine", path)
    vocab = load_vocabulary("mine")
    assert vocab.name == "mine"
    assert vocab.ids == (4, 9)
    register_vocabulary("mine_str", str(path))
    assert load_vocabulary("mine_str").names == ("cat", "dog")


def test_register_a_callable_is_lazy_and_called_once() -> None:
    calls: list[int] = []

    def factory() -> Vocabulary:
        calls.append(1)
        return Vocabulary.from_names(["a", "b", "c"], name="ignored")

    register_vocabulary("lazy", factory)
    assert calls == []
    assert "lazy" in available_vocabularies()
    first = load_vocabulary("lazy")
    assert first.name == "lazy" and len(first) == 3
    second = load_vocabulary("lazy")
    assert second == first
    assert LabelSpace.union(["lazy", "coco"]).offsets.tolist() == [0, 3, 83]
    assert calls == [1]


def test_callable_returning_a_non_vocabulary() -> None:
    register_vocabulary("broken", lambda: ["a", "b"])  # type: ignore[arg-type,return-value]
    with pytest.raises(VocabularyError, match="'broken' returned list, expected a Vocabulary"):
        load_vocabulary("broken")


def test_aliases_and_unregister() -> None:
    register_vocabulary("pets", ["cat", "dog"], aliases=("animals", "Zoo"))
    assert load_vocabulary("animals") == load_vocabulary("pets")
    assert load_vocabulary("zoo").name == "pets"
    assert {"animals", "zoo"} <= set(available_vocabularies(include_aliases=True))
    unregister_vocabulary("pets")
    assert "pets" not in available_vocabularies()
    assert not {"pets", "animals", "zoo"} & set(available_vocabularies(include_aliases=True))
    with pytest.raises(VocabularyError, match="unknown vocabulary 'animals'"):
        load_vocabulary("animals")
    with pytest.raises(VocabularyError, match="unknown vocabulary 'pets'"):
        load_vocabulary("pets")


@pytest.mark.parametrize("name", ["coco", "COCO", "openimages", "lvis_v1", "voc"])
def test_builtin_names_are_refused(name: str) -> None:
    before = _state()
    with pytest.raises(VocabularyError, match="built-in"):
        register_vocabulary(name, ["a"])
    with pytest.raises(VocabularyError, match="built-in"):
        register_vocabulary(name, ["a"], overwrite=True)
    with pytest.raises(VocabularyError, match="built-in"):
        register_vocabulary("fresh", ["a"], aliases=(name,))
    assert _state() == before
    assert "fresh" not in available_vocabularies()


def test_taken_names_need_overwrite() -> None:
    register_vocabulary("pets", ["cat", "dog"], aliases=("animals",))
    before = _state()
    with pytest.raises(VocabularyError, match="'pets' is already registered; pass overwrite=True"):
        register_vocabulary("pets", ["bird"])
    with pytest.raises(VocabularyError, match="'animals' is already registered"):
        register_vocabulary("other", ["bird"], aliases=("animals",))
    assert _state() == before
    assert load_vocabulary("pets").names == ("cat", "dog")
    register_vocabulary("pets", ["bird"], overwrite=True)
    assert load_vocabulary("pets").names == ("bird",)


@pytest.mark.parametrize(
    ("source", "error"),
    [
        (["dog", "Dog"], VocabularyError),
        ([], VocabularyError),
        ("missing_file.txt", VocabularyError),
        ("cocoo", VocabularyError),
        (3, TypeError),
    ],
)
def test_a_bad_source_is_refused_and_nothing_is_registered(source: Any, error: type) -> None:
    register_vocabulary("pets", ["cat"])
    before = _state()
    with pytest.raises(error):
        register_vocabulary("newname", source)
    with pytest.raises(error):
        register_vocabulary("pets", source, overwrite=True)
    assert _state() == before
    assert load_vocabulary("pets").names == ("cat",)  # the old registration still works


def test_bad_file_is_refused_at_registration(tmp_vocab_file: Callable[..., Path]) -> None:
    path = tmp_vocab_file("bad.txt", "caf\u00e9\n", encoding="latin-1")
    before = _state()
    with pytest.raises(VocabularyError, match=r"bad\.txt:1: not valid UTF-8"):
        register_vocabulary("bad", path)
    assert _state() == before


def test_a_failing_factory_leaves_nothing_half_built() -> None:
    calls: list[int] = []

    def factory() -> Vocabulary:
        calls.append(1)
        if len(calls) == 1:
            raise VocabularyError("first call fails")
        return Vocabulary.from_names(["a"])

    register_vocabulary("flaky", factory)
    with pytest.raises(VocabularyError, match="first call fails"):
        load_vocabulary("flaky")
    assert load_vocabulary("flaky").names == ("a",)
    assert load_vocabulary("flaky").names == ("a",)
    assert calls == [1, 1]


def test_unregister_errors() -> None:
    before = _state()
    with pytest.raises(VocabularyError, match="'coco' is a built-in"):
        unregister_vocabulary("coco")
    with pytest.raises(VocabularyError, match="'openimages' is a built-in"):
        unregister_vocabulary("openimages")
    with pytest.raises(VocabularyError, match="'nope' is not registered"):
        unregister_vocabulary("nope")
    assert _state() == before


def test_empty_name_is_refused() -> None:
    before = _state()
    for bad in ["", "   "]:
        with pytest.raises(VocabularyError, match="non-empty"):
            register_vocabulary(bad, ["a"])
    assert _state() == before


def test_registry_is_clean_between_tests() -> None:
    # runs after tests that registered names: the fixture restored the registry
    assert available_vocabularies() == BUILTINS


# -- NAME=SOURCE on a command line -------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("coco", (None, "coco")),
        ("coco_2=coco", ("coco_2", "coco")),
        ("mine=data/classes.txt", ("mine", "data/classes.txt")),
        ("v1.2-x=a=b.txt", ("v1.2-x", "a=b.txt")),  # split at the first '='
        ("cat, dog", (None, "cat, dog")),
        ("pets=cat, dog", ("pets", "cat, dog")),
        ("a b=c, d", (None, "a b=c, d")),  # not a name before '=': an inline list
    ],
)
def test_split_named_source(text: str, expected: tuple[str | None, str]) -> None:
    from scaledet_labels.vocab.registry import split_named_source

    assert split_named_source(text) == expected


def test_an_existing_file_with_equals_in_its_path_is_that_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scaledet_labels.vocab.registry import split_named_source

    monkeypatch.chdir(tmp_path)
    (tmp_path / "run=3").mkdir()
    (tmp_path / "run=3" / "classes.txt").write_text("cat\n")
    (tmp_path / "k=v.txt").write_text("dog\n")
    assert split_named_source("run=3/classes.txt") == (None, "run=3/classes.txt")
    assert split_named_source("k=v.txt") == (None, "k=v.txt")
    assert split_named_source("mine=k=v.txt") == ("mine", "k=v.txt")
    name, source = split_named_source("mine=k=v.txt")
    assert load_vocabulary(source, name=name).name == "mine"


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("mine=", r"'mine=': nothing after '='; write NAME=SOURCE"),
        ("=coco", r"=coco: no such file, and '' before '=' is not a dataset name"),
        ("runs/x=1/c.txt", r"runs/x=1/c\.txt: no such file, and 'runs/x' before '='"),
    ],
)
def test_split_named_source_errors(text: str, pattern: str) -> None:
    from scaledet_labels.vocab.registry import split_named_source

    with pytest.raises(VocabularyError, match=pattern):
        split_named_source(text)


def test_load_vocabulary_passes_the_blank_policy(tmp_path: Path) -> None:
    path = tmp_path / "c.txt"
    path.write_text("  \nblack bishop\n")
    with pytest.raises(VocabularyError, match=r"c\.txt:1: empty or whitespace-only"):
        load_vocabulary(path)
    assert load_vocabulary(str(path), on_blank="skip").ids == (2,)
    assert load_vocabulary("a, , b", on_blank="skip").ids == (1, 3)
    assert load_vocabulary(["a", "", "b"], on_blank="skip").ids == (1, 3)
