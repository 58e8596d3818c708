"""Labels and vocabularies: one dataset's categories, with raw and clean names.

A :class:`Vocabulary` is an immutable, ordered sequence of :class:`Label`. Label ``i`` has
``index == i`` (contiguous 0..K-1) and keeps the dataset's own category id (COCO ids have
gaps; OpenImages labels also carry their MID in ``metadata["mid"]``), the raw name exactly
as the source spells it, the clean name used in prompts, synonyms, a definition and any
other metadata the source has.

Examples:
    >>> vocab = Vocabulary.from_names(["cat", "Hot_dog"], name="pets")
    >>> [label.clean_name for label in vocab]
    ['cat', 'hot dog']
    >>> vocab[1].id, vocab[1].name
    (2, 'Hot_dog')
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, overload

from scaledet_labels.errors import VocabularyError
from scaledet_labels.vocab.names import clean_name as _clean_name
from scaledet_labels.vocab.names import normalize_text, split_alternatives

if TYPE_CHECKING:
    import pandas as pd

    from scaledet_labels.vocab.hierarchy import HierarchyName

__all__ = ["DuplicatePolicy", "Label", "Vocabulary"]

DuplicatePolicy = Literal["error", "disambiguate"]
_DUPLICATE_POLICIES: tuple[str, ...] = ("error", "disambiguate")


@dataclass(frozen=True)
class Label:
    """One category of one dataset.

    Attributes:
        index: Position in the dataset's vocabulary, contiguous from 0.
        id: The dataset's own category id (COCO: 1..90 with gaps).
        name: The raw name exactly as the source spells it.
        clean_name: The prompt-friendly name (see :mod:`scaledet_labels.vocab.names`).
        synonyms: Further clean names for the same category, without ``clean_name``.
        definition: A gloss, when the source has one (LVIS ``def``).
        metadata: Everything else the source records (synset, frequency, MID, ...).

    Examples:
        >>> label = Label(0, 1, "bow_(weapon)", "bow (weapon)")
        >>> label.prompt_names
        ('bow (weapon)',)
    """

    index: int
    id: int
    name: str
    clean_name: str
    synonyms: tuple[str, ...] = ()
    definition: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @property
    def prompt_names(self) -> tuple[str, ...]:
        """The clean name followed by its synonyms, each once, in order."""
        return tuple(dict.fromkeys((self.clean_name, *self.synonyms)))

    @property
    def synset(self) -> str | None:
        """The WordNet synset (``metadata["synset"]``, e.g. ``"dog.n.01"``), or None."""
        synset = self.metadata.get("synset")
        return synset if isinstance(synset, str) and synset else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {
            "index": self.index,
            "id": self.id,
            "name": self.name,
            "clean_name": self.clean_name,
            "synonyms": list(self.synonyms),
            "definition": self.definition,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Label:
        """Rebuild a label written by :meth:`to_dict`."""
        return cls(
            index=int(data["index"]),
            id=int(data["id"]),
            name=str(data["name"]),
            clean_name=str(data["clean_name"]),
            synonyms=tuple(str(s) for s in data.get("synonyms", ())),
            definition=data.get("definition"),
            metadata=dict(data.get("metadata") or {}),
        )


def make_label(
    index: int,
    raw_name: str,
    *,
    id: int | None = None,
    clean_name: str | None = None,
    fixed_name: str | None = None,
    synonyms: Iterable[str] = (),
    definition: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    where: str = "",
) -> Label:
    """Build a :class:`Label`, cleaning its name and synonyms and checking them.

    Args:
        index: The label's contiguous index.
        raw_name: The name as the source spells it.
        id: The dataset's category id; ``index + 1`` when the source has none.
        clean_name: Override the cleaned name verbatim (the raw name is still kept).
        fixed_name: A corrected spelling (Objects365 typo fixes) to clean instead of the
            raw name; the raw name is still kept.
        synonyms: Raw synonyms; cleaned, and the clean name itself dropped.
        definition: Optional gloss.
        metadata: Any other fields.
        where: Where the label came from, for error messages (``"file.txt:3"``).

    Raises:
        VocabularyError: The name is not a string or is empty after cleaning.
    """
    place = where or f"label {index}"
    if not isinstance(raw_name, str):
        raise VocabularyError(
            f"{place}: a label name must be a string, got {type(raw_name).__name__} {raw_name!r}"
        )
    base = fixed_name if fixed_name is not None else raw_name
    clean = clean_name if clean_name is not None else _clean_name(base)
    if not clean:
        raise VocabularyError(f"{place}: empty or whitespace-only label name {raw_name!r}")
    alternatives = split_alternatives(base) if clean_name is None else ()
    cleaned_synonyms: dict[str, None] = {}
    for synonym in (*alternatives, *synonyms):
        if not isinstance(synonym, str):
            raise VocabularyError(
                f"{place}: synonyms of {raw_name!r} must be strings, got {synonym!r}"
            )
        cleaned = _clean_name(synonym)
        if cleaned and cleaned != clean:
            cleaned_synonyms.setdefault(cleaned, None)
    if id is None:
        id = index + 1
    if isinstance(id, bool) or not isinstance(id, int):
        raise VocabularyError(
            f"{place}: category id of {raw_name!r} must be an integer, got {id!r}"
        )
    return Label(
        index=index,
        id=id,
        name=raw_name,
        clean_name=clean,
        synonyms=tuple(cleaned_synonyms),
        definition=definition,
        metadata=dict(metadata or {}),
    )


class Vocabulary(Sequence[Label]):
    """An ordered, immutable set of one dataset's labels.

    Build one with :func:`scaledet_labels.load_vocabulary` (built-ins, files, inline
    lists) or :meth:`from_names`; the constructor checks that indices are contiguous, ids
    and clean names unique.

    Args:
        name: The dataset name, used as its key in a label space.
        labels: The labels, ``labels[i].index == i``.
        source: Where the labels came from (a built-in name, a path, ``"<list>"``).
        on_duplicate: ``"error"`` (default) rejects two labels whose clean names are equal
            ignoring case; ``"disambiguate"`` keeps both and appends `` (2)``, `` (3)``...
            to the later clean names.

    Raises:
        VocabularyError: Empty vocabulary, non-contiguous indices, duplicate ids or names.

    Examples:
        >>> voc = Vocabulary.from_names(["Dog", "dog"], name="x", on_duplicate="disambiguate")
        >>> voc.clean_names
        ('dog', 'dog (2)')
    """

    def __init__(
        self,
        name: str,
        labels: Iterable[Label],
        *,
        source: str = "",
        on_duplicate: DuplicatePolicy = "error",
    ) -> None:
        if on_duplicate not in _DUPLICATE_POLICIES:
            raise VocabularyError(
                f"on_duplicate={on_duplicate!r} is not one of {list(_DUPLICATE_POLICIES)}"
            )
        if not isinstance(name, str) or not name.strip():
            raise VocabularyError(f"a vocabulary name must be a non-empty string, got {name!r}")
        self._name = name.strip()
        self._source = source or self._name
        items = list(labels)
        where = self._source
        if not items:
            raise VocabularyError(f"{where}: the vocabulary is empty (it has no labels)")
        seen_ids: dict[int, Label] = {}
        seen_names: dict[str, Label] = {}
        counts: dict[str, int] = {}
        later = {label.clean_name.casefold() for label in items}  # names a suffix must avoid
        checked: list[Label] = []
        for position, label in enumerate(items):
            if label.index != position:
                raise VocabularyError(
                    f"{where}: label {label.name!r} has index {label.index}, expected {position}"
                )
            if label.id in seen_ids:
                raise VocabularyError(
                    f"{where}: category id {label.id} is used by both "
                    f"{seen_ids[label.id].name!r} and {label.name!r}"
                )
            seen_ids[label.id] = label
            key = label.clean_name.casefold()
            if key in seen_names:
                if on_duplicate == "error":
                    first = seen_names[key]
                    raise VocabularyError(
                        f"{where}: duplicate label name {label.clean_name!r}: "
                        f"{first.name!r} (index {first.index}) and {label.name!r} "
                        f"(index {label.index}) clean to the same name; rename one, or pass "
                        "on_duplicate='disambiguate' (CLI: --on-duplicate disambiguate) to "
                        "keep both"
                    )
                number = counts.get(key, 1)
                while True:  # skip suffixes another label already has ("dog (2)" given)
                    number += 1
                    new_clean = f"{label.clean_name} ({number})"
                    if new_clean.casefold() not in seen_names and new_clean.casefold() not in later:
                        break
                counts[key] = number
                label = Label(
                    label.index,
                    label.id,
                    label.name,
                    new_clean,
                    label.synonyms,
                    label.definition,
                    label.metadata,
                )
                key = new_clean.casefold()
            seen_names[key] = label
            checked.append(label)
        self._labels = tuple(checked)
        self._by_id = {label.id: label for label in self._labels}

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_names(
        cls,
        names: Iterable[str],
        *,
        name: str = "custom",
        source: str = "<list>",
        on_duplicate: DuplicatePolicy = "error",
    ) -> Vocabulary:
        """Build a vocabulary from plain names; ids are 1..K (the COCO convention).

        Examples:
            >>> Vocabulary.from_names(["cat", "dog"]).ids
            (1, 2)
        """
        labels = [make_label(i, raw, where=f"{source}: label {i}") for i, raw in enumerate(names)]
        return cls(name, labels, source=source, on_duplicate=on_duplicate)

    # -- sequence protocol ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._labels)

    @overload
    def __getitem__(self, index: int) -> Label: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Label]: ...

    def __getitem__(self, index: int | slice) -> Label | Sequence[Label]:
        return self._labels[index]

    def __iter__(self) -> Iterator[Label]:
        return iter(self._labels)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return self._name == other._name and self._labels == other._labels

    def __hash__(self) -> int:
        return hash((self._name, self.content_hash()))

    def __repr__(self) -> str:
        return f"Vocabulary(name={self._name!r}, labels={len(self)}, source={self._source!r})"

    # -- views ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The dataset name (its key in a label space)."""
        return self._name

    @property
    def source(self) -> str:
        """Where the labels came from."""
        return self._source

    @property
    def labels(self) -> tuple[Label, ...]:
        """All labels in index order."""
        return self._labels

    @property
    def names(self) -> tuple[str, ...]:
        """Raw names in index order."""
        return tuple(label.name for label in self._labels)

    @property
    def clean_names(self) -> tuple[str, ...]:
        """Clean (prompt) names in index order."""
        return tuple(label.clean_name for label in self._labels)

    @property
    def ids(self) -> tuple[int, ...]:
        """The dataset's own category ids in index order."""
        return tuple(label.id for label in self._labels)

    def by_id(self, category_id: int) -> Label:
        """The label with this dataset category id.

        Raises:
            VocabularyError: No label has that id.
        """
        try:
            return self._by_id[int(category_id)]
        except (KeyError, ValueError, TypeError):
            raise VocabularyError(
                f"{self._name}: no label has category id {category_id!r}"
            ) from None

    def find(self, name: str) -> Label:
        """The label whose raw or clean name, or a synonym, matches ``name`` (any case).

        Examples:
            >>> Vocabulary.from_names(["Hot_dog"]).find("hot dog").index
            0

        Raises:
            VocabularyError: Nothing matches; the message suggests close names.
        """
        key = normalize_text(name).casefold()
        for label in self._labels:
            if key in (normalize_text(label.name).casefold(), label.clean_name.casefold()):
                return label
        for label in self._labels:
            if any(key == synonym.casefold() for synonym in label.synonyms):
                return label
        import difflib

        close = difflib.get_close_matches(key, [c.casefold() for c in self.clean_names], n=3)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise VocabularyError(f"{self._name}: no label named {name!r}{hint}")

    def parents(self, label: Label | str, *, hierarchy: HierarchyName = "auto") -> tuple[str, ...]:
        """The direct parents of a label (or a name :meth:`find` resolves) in its hierarchy.

        WordNet synset names for a label with a ``synset`` (LVIS, ImageNet-21k, most of
        COCO), OpenImages MIDs for one with a ``mid``; ``()`` for any other label. See
        :func:`scaledet_labels.vocab.hierarchy.label_parents`.

        Examples:
            >>> from scaledet_labels import load_vocabulary
            >>> load_vocabulary("lvis").parents("dog")
            ('canine.n.02', 'domestic_animal.n.01')
        """
        from scaledet_labels.vocab.hierarchy import label_parents

        return label_parents(self.find(label) if isinstance(label, str) else label, hierarchy)

    def ancestors(
        self, label: Label | str, *, hierarchy: HierarchyName = "auto"
    ) -> tuple[str, ...]:
        """Every ancestor of a label (see :meth:`parents`), each after its descendants.

        Each ancestor comes after all of its own descendants among them (the root last),
        otherwise nearest first; see :func:`scaledet_labels.vocab.hierarchy.label_ancestors`.

        Examples:
            >>> from scaledet_labels import load_vocabulary
            >>> ancestors = load_vocabulary("lvis").ancestors("dog")
            >>> "canine.n.02" in ancestors and "animal.n.01" in ancestors
            True
        """
        from scaledet_labels.vocab.hierarchy import label_ancestors

        return label_ancestors(self.find(label) if isinstance(label, str) else label, hierarchy)

    def renamed(self, name: str) -> Vocabulary:
        """The same labels under another dataset name."""
        return Vocabulary(name, self._labels, source=self._source)

    def to_frame(self) -> pd.DataFrame:
        """A pandas DataFrame with one row per label (metadata keys become columns)."""
        import pandas as pd

        rows = []
        for label in self._labels:
            row = {
                "index": label.index,
                "id": label.id,
                "name": label.name,
                "clean_name": label.clean_name,
                "synonyms": list(label.synonyms),
                "definition": label.definition,
            }
            row.update({k: v for k, v in label.metadata.items() if k not in row})
            rows.append(row)
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (name, source and every label)."""
        return {
            "name": self._name,
            "source": self._source,
            "labels": [label.to_dict() for label in self._labels],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Vocabulary:
        """Rebuild a vocabulary written by :meth:`to_dict`."""
        try:
            labels = [Label.from_dict(item) for item in data["labels"]]
            return cls(str(data["name"]), labels, source=str(data.get("source", "")))
        except (KeyError, TypeError) as exc:
            raise VocabularyError(f"malformed vocabulary record: missing or bad {exc}") from None

    def content_hash(self) -> str:
        """SHA-256 of the labels' ids, names, clean names, synonyms and definitions.

        It identifies the vocabulary's content, independent of its name and source.
        """
        payload = [
            [label.id, label.name, label.clean_name, list(label.synonyms), label.definition]
            for label in self._labels
        ]
        blob = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()
