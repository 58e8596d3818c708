"""Name cleaning: NFKC, white space, underscores, case folding, slashes, LVIS senses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaledet_labels import Vocabulary, clean_name
from scaledet_labels.vocab.names import normalize_text, split_alternatives


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # underscores, white space
        ("traffic_light", "traffic light"),
        ("  traffic_light\t ", "traffic light"),
        ("hot  _ dog", "hot dog"),
        ("hot\u00a0dog", "hot dog"),  # no-break space
        ("line\nbreak", "line break"),
        ("Formula 1 ", "formula 1"),  # Objects365 trailing space
        # LVIS senses in parentheses are kept: they tell the two bows apart
        ("bow_(weapon)", "bow (weapon)"),
        ("bow_(decorative_ribbons)", "bow (decorative ribbons)"),
        ("arctic_(type_of_shoe)", "arctic (type of shoe)"),
        # case folding: lower case and capitalised words fold, acronyms and mixed case stay
        ("Person", "person"),
        ("Human face", "human face"),
        ("A", "a"),
        ("Wood-burning stove", "wood-burning stove"),
        ("Kitchen & dining room table", "kitchen & dining room table"),
        ("TV", "TV"),
        ("tv", "tv"),
        ("iPod", "iPod"),
        ("DVD player", "DVD player"),
        ("Formula 1", "formula 1"),
        # NFKC
        ("\uff34\uff36", "TV"),  # full-width letters
        ("\ufb01re hydrant", "fire hydrant"),  # "fi" ligature
        ("cafe\u0301", "caf\u00e9"),  # combining accent composes
        # slashes: alternatives
        ("Cabinet/shelf", "cabinet or shelf"),
        ("Moniter/TV", "moniter or TV"),
        ("Monitor/TV", "monitor or TV"),
        ("Cutting/chopping Board", "cutting board or chopping board"),
        ("Tape Measure/ Ruler", "tape measure or ruler"),
        ("Cigar/Cigarette ", "cigar or cigarette"),
        ("Washing Machine/Drying Machine", "washing machine or drying machine"),
        ("Cosmetics Brush/Eyeliner Pencil", "cosmetics brush or eyeliner pencil"),
        ("person/person", "person"),  # the same alternative twice counts once
        # an empty side of a slash is not an alternative
        ("a/", "a/"),
        ("//", "//"),
        # nothing left
        ("", ""),
        ("   ", ""),
        ("_ _", ""),
    ],
)
def test_clean_name(raw: str, expected: str) -> None:
    assert clean_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("dog", ("dog",)),
        ("Monitor/TV", ("monitor", "TV")),
        ("Cutting/chopping Board", ("cutting board", "chopping board")),
        ("Pen/Pencil", ("pen", "pencil")),
        ("Tape Measur/ Ruler", ("tape measur", "ruler")),
        ("Washing Machine/Drying Machine", ("washing machine", "drying machine")),
        ("trash bin/can", ("trash bin", "can")),
        ("a/b/c", ("a", "b", "c")),
        ("a/", ("a/",)),
    ],
)
def test_split_alternatives(raw: str, expected: tuple[str, ...]) -> None:
    assert split_alternatives(raw) == expected


def test_normalize_text_keeps_case_and_slashes() -> None:
    assert normalize_text("  Traffic_Light\t/ TV ") == "Traffic Light / TV"
    assert normalize_text("\uff34\uff36") == "TV"


def test_raw_name_is_kept_next_to_the_clean_name() -> None:
    raws = ["Moniter/TV", "bow_(weapon)", "Formula 1 ", "\uff34\uff36 set"]
    vocab = Vocabulary.from_names(raws)
    assert vocab.names == tuple(raws)
    assert vocab.clean_names == ("moniter or TV", "bow (weapon)", "formula 1", "TV set")
    # slash alternatives become synonyms
    assert vocab[0].synonyms == ("moniter", "TV")
    assert vocab[0].prompt_names == ("moniter or TV", "moniter", "TV")


_ALPHABET = st.sampled_from(list("abcXYZ  _/-()1\t\n\u00a0\u00e9\uff34\ufb01&."))
_TEXT = st.text(alphabet=_ALPHABET, max_size=24)


@settings(max_examples=200, deadline=None)
@given(_TEXT)
def test_clean_name_is_deterministic_and_idempotent(raw: str) -> None:
    first = clean_name(raw)
    assert clean_name(raw) == first
    assert clean_name(first) == first
    assert first == " or ".join(split_alternatives(raw))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=24))
def test_clean_name_output_is_tidy(raw: str) -> None:
    clean = clean_name(raw)
    assert clean == clean.strip()
    assert "_" not in clean
    assert "  " not in clean
    for alternative in split_alternatives(raw):
        assert alternative == alternative.strip()


@settings(max_examples=100, deadline=None)
@given(_TEXT.filter(lambda s: clean_name(s) != ""))
def test_raw_name_never_lost(raw: str) -> None:
    label = Vocabulary.from_names([raw])[0]
    assert label.name == raw
    assert label.clean_name == clean_name(raw)
