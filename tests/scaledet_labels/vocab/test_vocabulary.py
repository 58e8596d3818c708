"""Label and Vocabulary: construction checks, duplicates, look-ups, views, docstrings."""

from __future__ import annotations

import dataclasses
import doctest
import importlib

import pytest

from scaledet_labels import Label, Vocabulary, VocabularyError
from scaledet_labels.vocab.vocabulary import make_label


def test_from_names_gives_contiguous_indices_and_ids_one_to_k() -> None:
    vocab = Vocabulary.from_names(["cat", "Hot_dog", "TV"], name="pets")
    assert vocab.name == "pets"
    assert len(vocab) == 3
    assert [label.index for label in vocab] == [0, 1, 2]
    assert vocab.ids == (1, 2, 3)
    assert vocab.names == ("cat", "Hot_dog", "TV")
    assert vocab.clean_names == ("cat", "hot dog", "TV")
    assert vocab[1] is vocab.labels[1]
    assert [label.name for label in vocab[1:]] == ["Hot_dog", "TV"]


def test_label_is_frozen_and_round_trips_through_dict() -> None:
    label = make_label(
        3,
        "aerosol_can",
        id=7,
        synonyms=["aerosol_can", "spray_can"],
        definition="a can",
        metadata={"synset": "aerosol.n.02"},
    )
    assert label.synonyms == ("spray can",)  # cleaned, without the clean name itself
    assert label.prompt_names == ("aerosol can", "spray can")
    with pytest.raises(dataclasses.FrozenInstanceError):
        label.name = "x"  # type: ignore[misc]
    assert Label.from_dict(label.to_dict()) == label


def test_make_label_fixed_name_and_clean_override_keep_the_raw_name() -> None:
    fixed = make_label(0, "Bakset", fixed_name="Basket")
    assert (fixed.name, fixed.clean_name) == ("Bakset", "basket")
    override = make_label(0, "weird_Name", clean_name="My Name")
    assert (override.name, override.clean_name, override.synonyms) == ("weird_Name", "My Name", ())


@pytest.mark.parametrize("bad", ["", "   ", "_", "\t\n"])
def test_make_label_rejects_empty_names(bad: str) -> None:
    with pytest.raises(VocabularyError, match=r"classes\.txt:4: empty or whitespace-only"):
        make_label(0, bad, where="classes.txt:4")


def test_make_label_rejects_non_string_names_and_ids() -> None:
    with pytest.raises(VocabularyError, match="must be a string"):
        make_label(0, 5)  # type: ignore[arg-type]
    with pytest.raises(VocabularyError, match="must be an integer"):
        make_label(0, "cat", id="x")  # type: ignore[arg-type]
    with pytest.raises(VocabularyError, match="must be an integer"):
        make_label(0, "cat", id=True)
    with pytest.raises(VocabularyError, match="synonyms"):
        make_label(0, "cat", synonyms=[3])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("names", "first", "second"),
    [
        (["Dog", "dog "], "'Dog'", "'dog '"),
        (["hot_dog", "hot dog"], "'hot_dog'", "'hot dog'"),
        (["TV", "tv"], "'TV'", "'tv'"),
        (["cat", "Dog", "bird", "DOG"], "'Dog'", "'DOG'"),
    ],
)
def test_duplicate_names_after_cleaning_are_an_error(
    names: list[str], first: str, second: str
) -> None:
    with pytest.raises(VocabularyError, match="duplicate label name") as info:
        Vocabulary.from_names(names)
    message = str(info.value)
    assert first in message and second in message
    assert "on_duplicate='disambiguate'" in message


def test_duplicates_can_be_disambiguated() -> None:
    vocab = Vocabulary.from_names(
        ["hot_dog", "hot dog", "cat", "Hot Dog"], on_duplicate="disambiguate"
    )
    assert vocab.clean_names == ("hot dog", "hot dog (2)", "cat", "hot dog (3)")
    assert vocab.names == ("hot_dog", "hot dog", "cat", "Hot Dog")  # raw names kept
    assert vocab.ids == (1, 2, 3, 4)


def test_bad_duplicate_policy() -> None:
    with pytest.raises(VocabularyError, match="on_duplicate"):
        Vocabulary.from_names(["a"], on_duplicate="merge")  # type: ignore[arg-type]


def test_constructor_checks() -> None:
    with pytest.raises(VocabularyError, match="empty"):
        Vocabulary("x", [])
    with pytest.raises(VocabularyError, match="name"):
        Vocabulary("  ", [make_label(0, "a")])
    with pytest.raises(VocabularyError, match="index 1, expected 0"):
        Vocabulary("x", [make_label(1, "a")])
    with pytest.raises(VocabularyError, match="category id 4 is used by both 'a' and 'b'"):
        Vocabulary("x", [make_label(0, "a", id=4), make_label(1, "b", id=4)])


def test_by_id_and_find() -> None:
    vocab = Vocabulary(
        "x",
        [
            make_label(0, "aerosol_can", id=10, synonyms=["spray_can"]),
            make_label(1, "Hot_dog", id=20),
        ],
    )
    assert vocab.by_id(20).name == "Hot_dog"
    assert vocab.by_id("10").index == 0  # type: ignore[arg-type]
    with pytest.raises(VocabularyError, match="no label has category id 11"):
        vocab.by_id(11)
    assert vocab.find("Hot_dog").index == 1  # raw
    assert vocab.find("HOT DOG").index == 1  # clean, any case
    assert vocab.find("spray can").index == 0  # synonym
    with pytest.raises(VocabularyError, match="did you mean 'hot dog'"):
        vocab.find("hot dgo")


def test_renamed_equality_hash_and_content_hash() -> None:
    a = Vocabulary.from_names(["cat", "dog"], name="a")
    b = a.renamed("b")
    assert b.name == "b" and b.labels == a.labels and b.source == a.source
    assert a != b
    assert a == Vocabulary.from_names(["cat", "dog"], name="a")
    assert hash(a) == hash(Vocabulary.from_names(["cat", "dog"], name="a"))
    assert a.content_hash() == b.content_hash()  # independent of the name
    assert a.content_hash() != Vocabulary.from_names(["cat", "dogs"], name="a").content_hash()
    assert a.content_hash() != Vocabulary.from_names(["dog", "cat"], name="a").content_hash()
    assert "labels=2" in repr(a)


def test_to_frame_and_dict_round_trip() -> None:
    vocab = Vocabulary(
        "x",
        [
            make_label(
                0,
                "aerosol_can",
                id=10,
                synonyms=["spray_can"],
                definition="d",
                metadata={"synset": "aerosol.n.02"},
            ),
            make_label(1, "cat", id=20, metadata={"synset": "cat.n.01"}),
        ],
        source="somewhere",
    )
    frame = vocab.to_frame()
    assert list(frame.columns) == [
        "index",
        "id",
        "name",
        "clean_name",
        "synonyms",
        "definition",
        "synset",
    ]
    assert frame["id"].tolist() == [10, 20]
    assert frame["synset"].tolist() == ["aerosol.n.02", "cat.n.01"]
    restored = Vocabulary.from_dict(vocab.to_dict())
    assert restored == vocab
    assert restored.source == "somewhere"
    with pytest.raises(VocabularyError, match="malformed"):
        Vocabulary.from_dict({"name": "x"})


@pytest.mark.parametrize(
    "module",
    [
        "scaledet_labels",
        "scaledet_labels.vocab.names",
        "scaledet_labels.vocab.vocabulary",
        "scaledet_labels.vocab.sources",
        "scaledet_labels.vocab.builtin",
        "scaledet_labels.vocab.hierarchy",
        "scaledet_labels.vocab.registry",
        "scaledet_labels.vocab.label_space",
        "scaledet_labels.vocab.merge",
    ],
)
def test_docstring_examples(module: str, clean_registry: None) -> None:
    result = doctest.testmod(importlib.import_module(module), verbose=False)
    assert result.failed == 0
    assert result.attempted > 0


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["dog", "dog (2)", "Dog"], ["dog", "dog (2)", "dog (3)"]),
        (["dog", "Dog", "dog (2)"], ["dog", "dog (3)", "dog (2)"]),
        (["dog", "Dog", "DOG"], ["dog", "dog (2)", "DOG (3)"]),
    ],
)
def test_disambiguated_names_never_collide_with_given_ones(
    names: list[str], expected: list[str]
) -> None:
    vocab = Vocabulary.from_names(names, name="x", on_duplicate="disambiguate")
    assert [label.clean_name for label in vocab] == expected
