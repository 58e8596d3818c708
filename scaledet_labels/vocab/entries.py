"""Checking what a vocabulary source holds, and reporting every problem at once.

A reader (:mod:`scaledet_labels.vocab.sources`) turns a file or a Python object into
:class:`Entry` objects: a raw name, an optional id and the other fields, with where each
one is. :func:`vocabulary_from_entries` checks them all and builds the
:class:`~scaledet_labels.Vocabulary`, under two policies that hold for every format:

- **blank names** (empty, white space only, or nothing left after cleaning):
  ``on_blank="error"`` (default) refuses them; ``"skip"`` leaves the label out and keeps
  every other id. An entry without an id gets its position + 1, blanks counted, so a
  skipped blank shifts no other id;
- **duplicates** (clean names equal ignoring case) and duplicate ids: ``on_duplicate``,
  see :class:`~scaledet_labels.Vocabulary`.

Every problem found goes into a :class:`ProblemReport`, raised as one
:class:`~scaledet_labels.VocabularyError` that lists them all in the source's order (up
to :data:`MAX_REPORTED_PROBLEMS`), then says how to fix each kind. The message is one line.

Examples:
    >>> names = ["cat", " ", "Cat"]
    >>> entries = [Entry(n, f"<list>: item {i}", f"item {i}", i) for i, n in enumerate(names)]
    >>> vocabulary_from_entries("x", entries, ProblemReport("<list>"), on_blank="skip",
    ...                         on_duplicate="disambiguate").ids
    (1, 3)
    >>> try:
    ...     vocabulary_from_entries("x", entries, ProblemReport("<list>"))
    ... except VocabularyError as exc:
    ...     print(str(exc)[:62])
    <list>: 2 problems: (1) <list>: item 1: empty or whitespace-on
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from scaledet_labels.errors import VocabularyError
from scaledet_labels.vocab.names import clean_name
from scaledet_labels.vocab.vocabulary import DuplicatePolicy, Label, Vocabulary, make_label

__all__ = [
    "BLANK_POLICIES",
    "DUPLICATE_POLICIES",
    "MAX_REPORTED_PROBLEMS",
    "BlankPolicy",
    "Entry",
    "ProblemReport",
    "check_policies",
    "vocabulary_from_entries",
]

logger = logging.getLogger(__name__)

#: What to do with a blank label name: refuse it (default) or leave the label out.
BlankPolicy = Literal["error", "skip"]
BLANK_POLICIES: tuple[str, ...] = get_args(BlankPolicy)
#: What to do with two labels whose clean names are equal ignoring case (see Vocabulary).
DUPLICATE_POLICIES: tuple[str, ...] = get_args(DuplicatePolicy)
#: At most this many problems are listed in one error (the count says how many there are).
MAX_REPORTED_PROBLEMS = 20

#: How to fix each kind of problem: (after a single problem, after a list of them).
_HINTS = {
    "blank": (
        "remove it or give it a name, or pass on_blank='skip' (CLI: --on-blank skip) to "
        "leave blank-named labels out; every other label keeps its id",
        "Blank names: remove them or give them a name, or pass on_blank='skip' (CLI: "
        "--on-blank skip) to leave blank-named labels out; every other label keeps its id.",
    ),
    "duplicate": (
        "rename one, or pass on_duplicate='disambiguate' (CLI: --on-duplicate "
        "disambiguate) to keep both",
        "Duplicate names: rename one of each pair, or pass on_duplicate='disambiguate' "
        "(CLI: --on-duplicate disambiguate) to keep both.",
    ),
}


class ProblemReport:
    """Collects every problem of one source and raises them as one VocabularyError.

    Args:
        source: The source as messages name it (a path, ``"<list>"``).
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self._items: list[tuple[int, str, str]] = []

    def add(self, order: int, message: str, kind: str = "") -> None:
        """Record a problem; ``order`` sorts them in file order, ``kind`` picks its hint."""
        self._items.append((order, message, kind))

    def __len__(self) -> int:
        return len(self._items)

    def raise_if_any(self) -> None:
        """Raise one VocabularyError listing every problem recorded, if there is any."""
        if not self._items:
            return
        items = sorted(self._items, key=lambda item: item[0])
        if len(items) == 1:
            _, message, kind = items[0]
            raise VocabularyError(f"{message}; {_HINTS[kind][0]}" if kind else message)
        shown = items[:MAX_REPORTED_PROBLEMS]
        listed = "; ".join(f"({n}) {message}" for n, (_, message, _) in enumerate(shown, 1))
        if len(items) > len(shown):
            listed += f"; and {len(items) - len(shown)} more"
        kinds = dict.fromkeys(kind for _, _, kind in items if kind)
        hints = "".join(f" {_HINTS[kind][1]}" for kind in kinds)
        raise VocabularyError(f"{self.source}: {len(items)} problems: {listed}.{hints}")


@dataclass
class Entry:
    """One would-be label of a source, before it is checked.

    Attributes:
        raw: The name as the source has it (not necessarily a string yet).
        where: Its place for a message of its own: ``"file.txt:3"``, ``"f.json: item 2"``.
        at: Its place inside a message about the whole source: ``"line 3"``, ``"item 2"``.
        order: Its position in the source; problems are listed in this order.
        id: The source's category id, or None (then: position among entries + 1).
        synonyms: Raw synonyms.
        definition: A gloss, if any.
        metadata: Every other field.
    """

    raw: Any
    where: str
    at: str
    order: int
    id: int | None = None
    synonyms: list[Any] = field(default_factory=list)
    definition: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def check_policies(on_duplicate: str, on_blank: str) -> None:
    """Refuse an unknown policy, listing the accepted ones."""
    if on_duplicate not in DUPLICATE_POLICIES:
        raise VocabularyError(
            f"on_duplicate={on_duplicate!r} is not one of {list(DUPLICATE_POLICIES)}"
        )
    if on_blank not in BLANK_POLICIES:
        raise VocabularyError(f"on_blank={on_blank!r} is not one of {list(BLANK_POLICIES)}")


def vocabulary_from_entries(
    name: str,
    entries: Sequence[Entry],
    problems: ProblemReport,
    *,
    on_duplicate: DuplicatePolicy = "error",
    on_blank: BlankPolicy = "error",
    vocab_source: str | None = None,
) -> Vocabulary:
    """Check every entry, report every problem at once, and build the vocabulary.

    An entry without an id gets ``position + 1``, counting blank entries too, so that
    leaving a blank out (``on_blank="skip"``) shifts no other id. ``vocab_source`` is the
    vocabulary's ``source`` when it differs from the name used in messages.

    Raises:
        VocabularyError: Every problem of the entries and any ``problems`` already
            recorded (by the reader), in one error.
    """
    labels: list[Label] = []
    kept: list[Entry] = []
    for position, entry in enumerate(entries):
        raw = entry.raw
        if not isinstance(raw, str):
            problems.add(
                entry.order,
                f"{entry.where}: a label name must be a string, got {type(raw).__name__} {raw!r}",
            )
            continue
        if not clean_name(raw):
            if on_blank == "skip":
                logger.info("%s: left out the blank label name %r", entry.where, raw)
                continue
            problems.add(
                entry.order, f"{entry.where}: empty or whitespace-only label name {raw!r}", "blank"
            )
            continue
        try:
            label = make_label(
                len(labels),
                raw,
                id=entry.id if entry.id is not None else position + 1,
                synonyms=entry.synonyms,
                definition=entry.definition,
                metadata=entry.metadata,
                where=entry.where,
            )
        except VocabularyError as exc:
            problems.add(entry.order, str(exc))
            continue
        labels.append(label)
        kept.append(entry)

    by_id: dict[int, tuple[Label, Entry]] = {}
    by_name: dict[str, tuple[Label, Entry]] = {}
    for label, entry in zip(labels, kept, strict=True):
        if label.id in by_id:
            first, first_entry = by_id[label.id]
            problems.add(
                entry.order,
                f"{entry.where}: category id {label.id} is used by both {first.name!r} "
                f"({first_entry.at}) and {label.name!r} ({entry.at})",
            )
        else:
            by_id[label.id] = (label, entry)
        key = label.clean_name.casefold()
        if on_duplicate == "error" and key in by_name:
            first, first_entry = by_name[key]
            problems.add(
                entry.order,
                f"{entry.where}: duplicate label name {label.clean_name!r}: {first.name!r} "
                f"({first_entry.at}) and {label.name!r} ({entry.at}) clean to the same name",
                "duplicate",
            )
        else:
            by_name.setdefault(key, (label, entry))
    problems.raise_if_any()
    return Vocabulary(
        name, labels, source=vocab_source or problems.source, on_duplicate=on_duplicate
    )
