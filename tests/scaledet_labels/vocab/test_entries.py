"""vocab.entries: the checks every vocabulary source shares, and the one error listing
every problem (the formats themselves are tested in test_sources.py)."""

from __future__ import annotations

import doctest

import pytest

from scaledet_labels.errors import VocabularyError
from scaledet_labels.vocab import entries as entries_module
from scaledet_labels.vocab.entries import (
    BLANK_POLICIES,
    DUPLICATE_POLICIES,
    MAX_REPORTED_PROBLEMS,
    Entry,
    ProblemReport,
    check_policies,
    vocabulary_from_entries,
)


def _entries(*names: object, ids: tuple[int | None, ...] | None = None) -> list[Entry]:
    return [
        Entry(name, f"f.txt:{i + 1}", f"line {i + 1}", i, id=None if ids is None else ids[i])
        for i, name in enumerate(names)
    ]


def test_policies_come_from_the_literals() -> None:
    assert BLANK_POLICIES == ("error", "skip")
    assert DUPLICATE_POLICIES == ("error", "disambiguate")
    check_policies("disambiguate", "skip")
    with pytest.raises(VocabularyError, match=r"on_blank='keep' is not one of \['error', 'skip'\]"):
        check_policies("error", "keep")


def test_implicit_ids_count_skipped_blanks() -> None:
    vocab = vocabulary_from_entries(
        "x", _entries("a", "", "b", "  "), ProblemReport("f.txt"), on_blank="skip"
    )
    assert vocab.ids == (1, 3) and vocab.names == ("a", "b")
    assert [label.index for label in vocab] == [0, 1]


def test_explicit_ids_are_kept() -> None:
    vocab = vocabulary_from_entries(
        "x", _entries("", "a", "b", ids=(0, 1, 7)), ProblemReport("f.txt"), on_blank="skip"
    )
    assert vocab.ids == (1, 7)


def test_one_problem_reads_as_before_with_its_hint() -> None:
    with pytest.raises(VocabularyError) as info:
        vocabulary_from_entries("x", _entries("a", "A"), ProblemReport("f.txt"))
    assert str(info.value) == (
        "f.txt:2: duplicate label name 'a': 'a' (line 1) and 'A' (line 2) clean to the same "
        "name; rename one, or pass on_duplicate='disambiguate' (CLI: --on-duplicate "
        "disambiguate) to keep both"
    )


def test_problems_of_the_reader_and_the_checks_come_out_together_in_order() -> None:
    report = ProblemReport("f.json")
    report.add(5, "f.json: category 5: missing 'name'")
    with pytest.raises(VocabularyError) as info:
        vocabulary_from_entries("x", _entries("a", 3, "", ids=(1, 2, 3)), report)
    message = str(info.value)
    assert message.startswith("f.json: 3 problems: (1) f.txt:2: a label name must be a string")
    assert "(2) f.txt:3: empty or whitespace-only label name ''" in message
    assert "(3) f.json: category 5: missing 'name'." in message
    assert message.endswith("every other label keeps its id.")  # one hint per kind


def test_duplicate_ids_and_names_are_all_reported() -> None:
    with pytest.raises(VocabularyError) as info:
        vocabulary_from_entries(
            "x", _entries("a", "b", "A", "B", ids=(1, 1, 2, 3)), ProblemReport("f.txt")
        )
    message = str(info.value)
    assert message.startswith("f.txt: 3 problems: ")
    assert "f.txt:2: category id 1 is used by both 'a' (line 1) and 'b' (line 2)" in message
    assert "f.txt:3: duplicate label name 'a'" in message
    assert "f.txt:4: duplicate label name 'b'" in message


def test_the_list_is_capped() -> None:
    report = ProblemReport("f.txt")
    for i in range(MAX_REPORTED_PROBLEMS + 5):
        report.add(i, f"f.txt:{i}: bad")
    assert len(report) == MAX_REPORTED_PROBLEMS + 5
    with pytest.raises(VocabularyError, match=r"25 problems: .*; and 5 more\.$"):
        report.raise_if_any()


def test_doctests() -> None:
    result = doctest.testmod(entries_module)
    assert result.failed == 0 and result.attempted > 0
