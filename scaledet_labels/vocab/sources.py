"""Reading vocabularies from files and Python objects.

Accepted sources, detected from the extension and the content (override with ``format=``):

- ``.txt``: one name per line, kept exactly as the line spells it (white space included;
  the clean name is trimmed); lines starting with ``#`` are comments.
- ``.json``: a list of names; a list of ``{"id", "name", ...}`` objects; a COCO- or
  LVIS-format annotation file (its ``categories``); a ``{id: name}`` object.
- ``.csv`` / ``.tsv``: read with pandas; a ``name`` column, optional ``id`` and
  ``synonyms`` (separated by ``|`` or ``;``) columns; other columns become metadata.
- an inline comma-separated string (``"cat, dog, bird"``);
- a Python list of names or of dicts, a ``{id: name}`` dict or a pandas DataFrame.

Files must be UTF-8 (a BOM and CRLF line ends are fine).

Each reader turns its source into entries that :mod:`scaledet_labels.vocab.entries`
checks the same way for every format:

- **Blank names** (empty, white space only, or nothing left after cleaning) are an error
  by default, because label ids follow the order of the names and leaving one out would
  shift every later id; with ``on_blank="skip"`` the blank-named label is left out and
  every other label keeps its id (in a ``.txt`` file or a list without ids, a blank still
  takes its place in the count). Blank lines after the last name of a
  ``.txt``/``.csv``/``.tsv`` file are formatting, not labels, and are ignored.
- **Every problem at once**: a source with several bad entries (blank names, bad ids,
  duplicate ids or names, ...) raises one :class:`~scaledet_labels.VocabularyError` that
  lists all of them (up to :data:`MAX_REPORTED_PROBLEMS`), each with its file and line,
  item or category, followed by how to fix each kind.

Examples:
    >>> vocab = vocabulary_from_object(["cat", "dog"], name="pets")
    >>> vocab.clean_names
    ('cat', 'dog')
    >>> vocabulary_from_object(["cat", "", "dog"], on_blank="skip").ids
    (1, 3)
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from scaledet_labels.errors import VocabularyError, VocabularyTypeError
from scaledet_labels.vocab.entries import (
    BLANK_POLICIES,
    DUPLICATE_POLICIES,
    MAX_REPORTED_PROBLEMS,
    BlankPolicy,
    Entry,
    ProblemReport,
    check_policies,
    vocabulary_from_entries,
)
from scaledet_labels.vocab.names import clean_name
from scaledet_labels.vocab.vocabulary import DuplicatePolicy, Vocabulary

__all__ = [
    "BLANK_POLICIES",
    "DUPLICATE_POLICIES",
    "FORMATS",
    "MAX_REPORTED_PROBLEMS",
    "BlankPolicy",
    "VocabularyFormat",
    "parse_inline",
    "read_vocabulary_file",
    "vocabulary_from_object",
]

VocabularyFormat = Literal["auto", "txt", "json", "csv", "tsv"]
FORMATS: tuple[str, ...] = ("auto", "txt", "json", "csv", "tsv")

_EXTENSIONS = {".txt": "txt", ".json": "json", ".csv": "csv", ".tsv": "tsv"}
_SYNONYM_SEPARATORS = ("|", ";")
_LINE_END = re.compile(r"\r\n|\r|\n")


# -- files -----------------------------------------------------------------------------------
def _read_text(path: Path) -> str:
    """Read a UTF-8 text file (BOM allowed), refusing binary and non-UTF-8 content."""
    if not path.exists():
        raise VocabularyError(f"{path}: no such file")
    if path.is_dir():
        raise VocabularyError(f"{path}: is a directory, expected a vocabulary file")
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise VocabularyError(
            f"{path}: looks like a binary file (it contains NUL bytes); expected a UTF-8 "
            ".txt, .json, .csv or .tsv vocabulary"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise VocabularyError(
            f"{path}:{line}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}); save the file as UTF-8"
        ) from None
    return text


def _detect_format(path: Path, text: str) -> str:
    by_extension = _EXTENSIONS.get(path.suffix.lower())
    if by_extension:
        return by_extension
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")):
        return "json"
    first = stripped.splitlines()[0] if stripped else ""
    if "\t" in first and "name" in first.lower().split("\t"):
        return "tsv"
    if "," in first and "name" in [c.strip().lower() for c in first.split(",")]:
        return "csv"
    return "txt"


def read_vocabulary_file(
    path: str | Path,
    *,
    name: str | None = None,
    format: VocabularyFormat = "auto",
    on_duplicate: DuplicatePolicy = "error",
    on_blank: BlankPolicy = "error",
) -> Vocabulary:
    """Read a vocabulary file (``.txt``, ``.json``, ``.csv``, ``.tsv``).

    Args:
        path: The file.
        name: The dataset name; defaults to the file's stem.
        format: ``"auto"`` (from extension, then content) or one of ``txt``, ``json``,
            ``csv``, ``tsv``.
        on_duplicate: See :class:`~scaledet_labels.Vocabulary`.
        on_blank: ``"error"`` (default) refuses a blank label name; ``"skip"`` leaves
            the label out and keeps every other label's id.

    Raises:
        VocabularyError: Missing, binary or non-UTF-8 file, wrong shape, bad names; every
            bad entry of the file is listed in the one error.

    Examples:
        >>> import pathlib, tempfile
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "pets.txt"
        >>> _ = p.write_text("# my classes\\ncat\\ndog \\n\\n")
        >>> read_vocabulary_file(p).names
        ('cat', 'dog ')
        >>> _ = p.write_text("cat\\n\\ndog\\n")
        >>> read_vocabulary_file(p, on_blank="skip").ids
        (1, 3)
    """
    if format not in FORMATS:
        raise VocabularyError(f"format={format!r} is not one of {list(FORMATS)}")
    check_policies(on_duplicate, on_blank)
    path = Path(path)
    text = _read_text(path)
    if not text.strip():
        raise VocabularyError(f"{path}: the file is empty; the vocabulary has no labels")
    fmt = _detect_format(path, text) if format == "auto" else format
    problems = ProblemReport(str(path))
    if fmt == "txt":
        entries = _entries_from_txt(text, problems)
    elif fmt == "json":
        entries = _entries_from_json(text, problems)
    else:
        entries = _entries_from_table(text, problems, sep="\t" if fmt == "tsv" else ",")
    return vocabulary_from_entries(
        name or path.stem, entries, problems, on_duplicate=on_duplicate, on_blank=on_blank
    )


def _entries_from_txt(text: str, problems: ProblemReport) -> list[Entry]:
    """One entry per line that is not a comment, up to the last name (blank lines after it
    are formatting). The raw name is the line without its line end."""
    source = problems.source
    lines = _LINE_END.split(text)
    names = [i for i, line in enumerate(lines) if line.strip() and not line.strip().startswith("#")]
    last = names[-1] if names else -1
    return [
        Entry(line, f"{source}:{line_no}", f"line {line_no}", line_no)
        for line_no, line in enumerate(lines[: last + 1], start=1)
        if not line.strip().startswith("#")
    ]


def _entries_from_json(text: str, problems: ProblemReport) -> list[Entry]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise VocabularyError(f"{problems.source}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    return _entries_from_data(data, problems)


def _entries_from_data(data: Any, problems: ProblemReport) -> list[Entry]:
    source = problems.source
    if isinstance(data, Mapping):
        if "categories" in data:
            categories = data["categories"]
            if not isinstance(categories, list):
                raise VocabularyError(
                    f"{source}: 'categories' must be a list of {{'id', 'name'}} objects"
                )
            return _entries_from_records(categories, problems, sort_by_id=True)
        if {"images", "annotations"} & set(data):
            raise VocabularyError(
                f"{source}: a COCO-format file without 'categories'; add the "
                "'categories' list ([{'id': 1, 'name': ...}, ...])"
            )
        if data and all(isinstance(v, str) for v in data.values()):
            return _entries_from_id_map(data, problems)
        raise VocabularyError(
            f"{source}: unsupported JSON object; expected a list of names, a list of "
            "{'id', 'name'} objects, a COCO/LVIS annotation file with 'categories', or "
            "an {id: name} object"
        )
    if isinstance(data, list):
        if all(isinstance(item, str) for item in data):
            return [
                Entry(item, f"{source}: item {i}", f"item {i}", i) for i, item in enumerate(data)
            ]
        if all(isinstance(item, Mapping) for item in data):
            return _entries_from_records(data, problems, sort_by_id=False)
        first_is_str = isinstance(data[0], str)
        bad = [
            i
            for i, item in enumerate(data)
            if not isinstance(item, (str, Mapping)) or isinstance(item, str) != first_is_str
        ]
        also = f" (also items {', '.join(map(str, bad[1:6]))}{', ...' * (len(bad) > 6)})"
        raise VocabularyError(
            f"{source}: item {bad[0]} is {type(data[bad[0]]).__name__} {data[bad[0]]!r}"
            f"{also if len(bad) > 1 else ''}; expected every item to be a name string, or "
            "every item an {'id', 'name'} object"
        )
    raise VocabularyError(f"{source}: expected a JSON list or object, got {type(data).__name__}")


def _parse_id(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise VocabularyError(f"{where}: category id must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise VocabularyError(f"{where}: category id must be an integer, got {value!r}")


def _entries_from_id_map(data: Mapping[Any, Any], problems: ProblemReport) -> list[Entry]:
    source = problems.source
    pairs: list[tuple[int, int, Any]] = []
    for position, (key, value) in enumerate(data.items()):
        try:
            pairs.append((_parse_id(key, f"{source}: key {key!r}"), position, value))
        except VocabularyError as exc:
            problems.add(position, str(exc))
    pairs.sort(key=lambda pair: pair[0])
    return [
        Entry(value, f"{source}: id {cid}", f"id {cid}", position, id=cid)
        for cid, position, value in pairs
    ]


def _split_synonyms(value: Any, where: str) -> list[Any]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                parsed = None
            if isinstance(parsed, list):
                return [str(s) for s in parsed]
        for separator in _SYNONYM_SEPARATORS:
            if separator in text:
                return [s.strip() for s in text.split(separator) if s.strip()]
        return [text] if text else []
    if isinstance(value, (list, tuple)):
        return list(value)
    raise VocabularyError(f"{where}: synonyms must be a list or a '|'-separated string")


_RECORD_FIELDS = {"id", "name", "synonyms", "def", "definition"}


def _entry_from_record(
    record: Mapping[str, Any], where: str, at: str, order: int, problems: ProblemReport
) -> Entry | None:
    """An entry from a record with ``name`` and optional id/synonyms/def(inition)/extras;
    None (and the problem recorded) when the record is unusable."""
    if "name" not in record:
        problems.add(order, f"{where}: missing 'name' (keys: {sorted(map(str, record))})")
        return None
    try:
        cid = _parse_id(record["id"], where) if record.get("id") is not None else None
        synonyms = _split_synonyms(record.get("synonyms"), where)
    except VocabularyError as exc:
        problems.add(order, str(exc))
        return None
    definition = record.get("def", record.get("definition"))
    return Entry(
        record["name"],
        where,
        at,
        order,
        id=cid,
        synonyms=synonyms,
        definition=None if definition is None else str(definition),
        metadata={k: v for k, v in record.items() if k not in _RECORD_FIELDS},
    )


def _complete_ids(entries: list[Entry], has_id: list[bool], problems: ProblemReport) -> None:
    """Either every entry has an id or none has: report each one missing among others
    (a blank-named entry needs none: it is reported, or left out, as blank)."""
    if any(has_id) and not all(has_id):
        for entry, present in zip(entries, has_id, strict=True):
            if not present and not (isinstance(entry.raw, str) and not clean_name(entry.raw)):
                problems.add(entry.order, f"{entry.where}: no 'id' while others have one")


def _entries_from_records(
    records: Sequence[Any], problems: ProblemReport, *, sort_by_id: bool
) -> list[Entry]:
    source = problems.source
    entries: list[Entry] = []
    has_id: list[bool] = []
    for i, record in enumerate(records):
        where = f"{source}: category {i}"
        if not isinstance(record, Mapping):
            problems.add(i, f"{where}: expected an object with 'name', got {record!r}")
            continue
        entry = _entry_from_record(record, where, f"category {i}", i, problems)
        if entry is not None:
            entries.append(entry)
            has_id.append(record.get("id") is not None)
    _complete_ids(entries, has_id, problems)
    if sort_by_id and all(has_id):
        entries.sort(key=lambda entry: entry.id if entry.id is not None else 0)
    return entries


def _entries_from_table(text: str, problems: ProblemReport, *, sep: str) -> list[Entry]:
    import io

    import pandas as pd

    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=False
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise VocabularyError(
            f"{problems.source}: cannot parse as {'TSV' if sep == chr(9) else 'CSV'}: {exc}"
        ) from None
    return _entries_from_frame(frame, problems, first_line=2)


def _is_blank(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, str) and not value.strip())
    )


def _entries_from_frame(
    frame: Any, problems: ProblemReport, *, first_line: int | None = None
) -> list[Entry]:
    """Entries from a table; with ``first_line`` (a file), rows are named by line and empty
    rows after the last name are dropped (they are blank lines at the end of the file)."""
    source = problems.source
    columns = {str(c).strip().lower(): c for c in frame.columns}
    if "name" not in columns:
        raise VocabularyError(
            f"{source}: no 'name' column (columns: {[str(c) for c in frame.columns]}); "
            "a table vocabulary needs a 'name' column, optionally 'id' and 'synonyms'"
        )
    rows = frame.to_dict("records")
    if first_line is not None:
        while rows and all(_is_blank(value) for value in rows[-1].values()):
            rows.pop()
    entries: list[Entry] = []
    has_id: list[bool] = []
    for position, row in enumerate(rows):
        at = f"line {first_line + position}" if first_line else f"row {position}"
        where = f"{source}:{first_line + position}" if first_line else f"{source}: {at}"
        record: dict[str, Any] = {}
        for key, column in columns.items():
            value = row[column]
            if isinstance(value, str) and key != "name":
                value = value.strip()
                if value == "":
                    continue
            if isinstance(value, float) and math.isnan(value):
                continue
            record[key] = value
        if not isinstance(record.get("name"), str):
            problems.add(position, f"{where}: 'name' must be text, got {record.get('name')!r}")
            continue
        entry = _entry_from_record(record, where, at, position, problems)
        if entry is not None:
            entries.append(entry)
            has_id.append("id" in record)
    _complete_ids(entries, has_id, problems)
    return entries


# -- inline strings and Python objects -------------------------------------------------------
def parse_inline(
    text: str,
    *,
    name: str = "custom",
    on_duplicate: DuplicatePolicy = "error",
    on_blank: BlankPolicy = "error",
) -> Vocabulary:
    """Parse an inline comma-separated list of names.

    Items are trimmed (the spaces around a comma are separators). One trailing comma is
    allowed (``"cat,"`` is a one-label list); any other empty item is a blank name.

    Examples:
        >>> parse_inline("cat, dog").names
        ('cat', 'dog')
        >>> parse_inline("cat, , dog", on_blank="skip").ids
        (1, 3)
    """
    check_policies(on_duplicate, on_blank)
    items = [item.strip() for item in text.split(",")]
    if items and items[-1] == "":
        items = items[:-1]  # allow a trailing comma ("cat," is a one-label vocabulary)
    where = f"inline vocabulary {text!r}"
    entries = [Entry(item, f"{where}: item {i}", f"item {i}", i) for i, item in enumerate(items)]
    return vocabulary_from_entries(
        name,
        entries,
        ProblemReport(where),
        on_duplicate=on_duplicate,
        on_blank=on_blank,
        vocab_source="<inline>",
    )


def vocabulary_from_object(
    obj: Any,
    *,
    name: str = "custom",
    on_duplicate: DuplicatePolicy = "error",
    on_blank: BlankPolicy = "error",
) -> Vocabulary:
    """Build a vocabulary from a list of names or dicts, an ``{id: name}`` dict or a DataFrame.

    Raises:
        VocabularyError: The object has the wrong shape or holds bad names (all listed).
        TypeError: The object is of a type that cannot hold a vocabulary.

    Examples:
        >>> vocabulary_from_object({1: "person", 3: "car"}).ids
        (1, 3)
    """
    check_policies(on_duplicate, on_blank)
    if type(obj).__name__ == "DataFrame" and hasattr(obj, "to_dict"):
        problems = ProblemReport("<DataFrame>")
        entries = _entries_from_frame(obj, problems)
    elif isinstance(obj, Mapping):
        problems = ProblemReport("<dict>")
        if all(isinstance(v, str) for v in obj.values()) and obj:
            entries = _entries_from_id_map(obj, problems)
        else:
            entries = _entries_from_data(obj, problems)
    elif isinstance(obj, (list, tuple)):
        problems = ProblemReport("<list>")
        entries = _entries_from_data(list(obj), problems)
    else:
        raise VocabularyTypeError(
            f"cannot build a vocabulary from {type(obj).__name__}; pass a built-in name, a "
            "file path, a comma-separated string, a list of names, an {id: name} dict or a "
            "DataFrame"
        )
    return vocabulary_from_entries(
        name, entries, problems, on_duplicate=on_duplicate, on_blank=on_blank
    )
