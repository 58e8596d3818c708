"""Optional merge strategies, for comparisons with hand-merged label spaces.

ScaleDet never merges: the default label space is the disjoint union. These strategies
exist to build the hand-merged baselines it is compared against. Each returns groups of
``(dataset_position, local_index)`` pairs that become one unified label; a merged label
remembers every source and every dataset's mapping keeps working.

- ``"exact"``: same clean name, ignoring case; with ``fold_plurals`` (default) the last
  word is reduced by nltk's Porter stemmer, so ``"glove"`` and ``"gloves"`` meet (no
  nltk data download is needed).
- ``"synset"``: same WordNet synset, where both labels have one (``metadata["synset"]``,
  as LVIS has).
- a user mapping: a list of groups, each a list of references ``"dataset:name"`` or
  ``(dataset, name_or_local_index)``; or a dict ``{reference: reference}``.
- a file of such a mapping: ``.csv``/``.tsv`` with ``source`` and ``target`` columns of
  references (what ``scaledet-labels match --format merges`` writes; a ``decision``
  column, if present, keeps only the ``same`` rows; other columns are ignored), or
  ``.json`` holding a list of groups or a dict.

Within one dataset labels are never merged with each other: when a key matches two labels
of the same dataset only the first joins the group, and a warning is logged.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeAlias

from scaledet_labels.errors import LabelSpaceError, VocabularyError
from scaledet_labels.vocab.vocabulary import Label, Vocabulary

__all__ = ["MergeSpec", "MergeStrategy", "merge_groups"]

logger = logging.getLogger(__name__)

MergeStrategy = Literal["exact", "synset"]
MERGE_STRATEGIES: tuple[str, ...] = ("exact", "synset")
LabelRef: TypeAlias = str | tuple[str, str | int]
#: A strategy name or a user mapping.
MergeSpec: TypeAlias = (
    MergeStrategy
    | Sequence[Sequence[LabelRef]]
    | Mapping[LabelRef, LabelRef]
    | str
    | os.PathLike[str]
)
_MERGE_FILES = (".csv", ".tsv", ".json")

Group = list[tuple[int, int]]


def _plural_folder() -> Callable[[str], str]:
    from nltk.stem.porter import PorterStemmer

    stemmer = PorterStemmer()

    def fold(name: str) -> str:
        words = name.split(" ")
        words[-1] = stemmer.stem(words[-1])
        return " ".join(words)

    return fold


def _group_by_key(
    vocabularies: Sequence[Vocabulary], key: Callable[[Label], str | None], what: str
) -> list[Group]:
    buckets: dict[str, Group] = {}
    for d, vocab in enumerate(vocabularies):
        for label in vocab:
            k = key(label)
            if k is None:
                continue
            bucket = buckets.setdefault(k, [])
            if any(member_d == d for member_d, _ in bucket):
                first = next(i for member_d, i in bucket if member_d == d)
                logger.warning(
                    "%s merge: %s labels %r and %r share the key %r; only the first is merged",
                    what,
                    vocab.name,
                    vocab[first].name,
                    label.name,
                    k,
                )
                continue
            bucket.append((d, label.index))
    return [group for group in buckets.values() if len(group) > 1]


def _resolve(ref: Any, vocabularies: Sequence[Vocabulary]) -> tuple[int, int]:
    positions = {vocab.name: d for d, vocab in enumerate(vocabularies)}
    if isinstance(ref, str):
        dataset, sep, label = ref.partition(":")
        if not sep:
            raise LabelSpaceError(
                f"merge mapping: reference {ref!r} must look like 'dataset:label name'"
            )
        target: str | int = label
    elif isinstance(ref, (tuple, list)) and len(ref) == 2:
        dataset, target = ref[0], ref[1]
    else:
        raise LabelSpaceError(
            f"merge mapping: reference {ref!r} must be 'dataset:name' or (dataset, name_or_index)"
        )
    if dataset not in positions:
        raise LabelSpaceError(
            f"merge mapping: unknown dataset {dataset!r} in {ref!r}; datasets: {list(positions)}"
        )
    d = positions[dataset]
    vocab = vocabularies[d]
    if isinstance(target, int) and not isinstance(target, bool):
        if not 0 <= target < len(vocab):
            raise LabelSpaceError(
                f"merge mapping: {dataset} has labels 0..{len(vocab) - 1}, got index {target}"
            )
        return d, target
    try:
        return d, vocab.find(str(target)).index
    except VocabularyError as exc:
        raise LabelSpaceError(f"merge mapping: {exc}") from None


def _mapping_groups(spec: Any, vocabularies: Sequence[Vocabulary]) -> list[Group]:
    if isinstance(spec, Mapping):
        raw_groups: list[Sequence[Any]] = [[a, b] for a, b in spec.items()]
    elif isinstance(spec, Sequence) and not isinstance(spec, str):
        raw_groups = [g for g in spec]
    else:
        raise LabelSpaceError(
            f"merge={spec!r} is not one of {list(MERGE_STRATEGIES)}, a list of groups or a dict"
        )
    # union-find over the resolved references
    parent: dict[tuple[int, int], tuple[int, int]] = {}

    def find(x: tuple[int, int]) -> tuple[int, int]:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for raw in raw_groups:
        if isinstance(raw, str) or not isinstance(raw, Sequence):
            raise LabelSpaceError(f"merge mapping: group {raw!r} must be a list of references")
        nodes = [_resolve(ref, vocabularies) for ref in raw]
        for node in nodes[1:]:
            parent[find(node)] = find(nodes[0])
    groups: dict[tuple[int, int], Group] = {}
    for node in list(parent):
        groups.setdefault(find(node), []).append(node)
    result = []
    for group in groups.values():
        group.sort()
        datasets = [d for d, _ in group]
        if len(set(datasets)) != len(datasets):
            names = [f"{vocabularies[d].name}:{vocabularies[d][i].name}" for d, i in group]
            raise LabelSpaceError(
                f"merge mapping would merge two labels of the same dataset: {names}"
            )
        if len(group) > 1:
            result.append(group)
    return result


def merge_groups(
    vocabularies: Sequence[Vocabulary], merge: MergeSpec, *, fold_plurals: bool = True
) -> list[Group]:
    """Groups of ``(dataset_position, local_index)`` to merge, each with 2+ members.

    Examples:
        >>> a = Vocabulary.from_names(["dog", "cat"], name="a")
        >>> b = Vocabulary.from_names(["Dogs"], name="b")
        >>> merge_groups([a, b], "exact")
        [[(0, 0), (1, 0)]]
    """
    if isinstance(merge, os.PathLike) or (
        isinstance(merge, str)
        and merge not in MERGE_STRATEGIES
        and merge.lower().endswith(_MERGE_FILES)
    ):
        return _mapping_groups(read_merges(merge), vocabularies)
    if isinstance(merge, str):
        if merge == "exact":
            fold = _plural_folder() if fold_plurals else None

            def exact_key(label: Label) -> str:
                name = label.clean_name.casefold()
                return fold(name) if fold else name

            return _group_by_key(vocabularies, exact_key, "exact")
        if merge == "synset":

            def synset_key(label: Label) -> str | None:
                synset = label.metadata.get("synset")
                return synset if isinstance(synset, str) and synset else None

            return _group_by_key(vocabularies, synset_key, "synset")
        raise LabelSpaceError(
            f"merge={merge!r} is not one of {list(MERGE_STRATEGIES)}, a list of groups or a dict"
        )
    return _mapping_groups(merge, vocabularies)


def read_merges(path: str | os.PathLike[str]) -> list[list[LabelRef]]:
    """The groups of a merge file (see the module docs), as lists of references.

    Raises:
        LabelSpaceError: No such file, an unknown suffix, or missing columns.

    Examples:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "merges.csv"
        >>> _ = path.write_text("source,target,confidence\\ncoco:person,oid:Person,0.99\\n")
        >>> read_merges(path)
        [['coco:person', 'oid:Person']]
    """
    import csv

    file = Path(path)
    if file.suffix.lower() not in _MERGE_FILES:
        raise LabelSpaceError(
            f"merge file {file}: expected one of {list(_MERGE_FILES)}, got {file.suffix!r}"
        )
    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise LabelSpaceError(f"cannot read the merge file {file}: {exc}") from None
    if file.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LabelSpaceError(f"merge file {file}: invalid JSON: {exc}") from None
        if isinstance(data, Mapping):
            return [[str(a), str(b)] for a, b in data.items()]
        if isinstance(data, list) and all(isinstance(g, list) for g in data):
            return [[str(ref) for ref in group] for group in data]
        raise LabelSpaceError(f"merge file {file}: expected a list of groups or a dict")
    delimiter = "\t" if file.suffix.lower() == ".tsv" else ","
    reader = csv.DictReader(text.splitlines(), delimiter=delimiter)
    missing = {"source", "target"} - set(reader.fieldnames or ())
    if missing:
        raise LabelSpaceError(
            f"merge file {file}: missing column(s) {sorted(missing)}; it needs 'source' and "
            "'target' references ('dataset:name'), as `scaledet-labels match --format "
            "merges` writes"
        )
    groups: list[list[LabelRef]] = []
    for line, row in enumerate(reader, start=2):
        if row.get("decision") not in (None, "", "same"):
            continue
        source, target = (row.get("source") or "").strip(), (row.get("target") or "").strip()
        if not source or not target:
            raise LabelSpaceError(f"merge file {file}, line {line}: empty source or target")
        groups.append(
            [
                _indexed(source, row.get("source_index"), file, line),
                _indexed(target, row.get("target_index"), file, line),
            ]
        )
    return groups


def _indexed(ref: str, index: str | None, file: Path, line: int) -> LabelRef:
    """``(dataset, local index)`` when the file gives the index, else the reference."""
    if index is None or not index.strip():
        return ref
    dataset, sep, _ = ref.partition(":")
    try:
        value = int(index)
    except ValueError:
        value = -1
    if not sep or value < 0:
        raise LabelSpaceError(
            f"merge file {file}, line {line}: index {index!r} of {ref!r} must be a label's "
            "non-negative index in its dataset, with a 'dataset:name' reference"
        )
    return (dataset, value)
