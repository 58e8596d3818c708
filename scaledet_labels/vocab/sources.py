"""Reading vocabularies from files and Python objects.

Accepted sources, detected from the extension and the content (override with ``format=``):

- ``.txt``: one name per line; blank lines and lines starting with ``#`` are ignored.
- ``.json``: a list of names; a list of ``{"id", "name", ...}`` objects; a COCO- or
  LVIS-format annotation file (its ``categories``); a ``{id: name}`` object.
- ``.csv`` / ``.tsv``: read with pandas; a ``name`` column, optional ``id`` and
  ``synonyms`` (separated by ``|`` or ``;``) columns; other columns become metadata.
- an inline comma-separated string (``"cat, dog, bird"``);
- a Python list of names or of dicts, a ``{id: name}`` dict or a pandas DataFrame.

Files must be UTF-8 (a BOM and CRLF line ends are fine). Every error names the file and,
where it can, the line or the label.

Examples:
    >>> vocab = vocabulary_from_object(["cat", "dog"], name="pets")
    >>> vocab.clean_names
    ('cat', 'dog')
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from scaledet_labels.errors import VocabularyError, VocabularyTypeError
from scaledet_labels.vocab.vocabulary import DuplicatePolicy, Label, Vocabulary, make_label

__all__ = [
    "FORMATS",
    "VocabularyFormat",
    "parse_inline",
    "read_vocabulary_file",
    "vocabulary_from_object",
]

VocabularyFormat = Literal["auto", "txt", "json", "csv", "tsv"]
FORMATS: tuple[str, ...] = ("auto", "txt", "json", "csv", "tsv")
_EXTENSIONS = {".txt": "txt", ".json": "json", ".csv": "csv", ".tsv": "tsv"}
_SYNONYM_SEPARATORS = ("|", ";")


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
) -> Vocabulary:
    """Read a vocabulary file (``.txt``, ``.json``, ``.csv``, ``.tsv``).

    Args:
        path: The file.
        name: The dataset name; defaults to the file's stem.
        format: ``"auto"`` (from extension, then content) or one of ``txt``, ``json``,
            ``csv``, ``tsv``.
        on_duplicate: See :class:`~scaledet_labels.Vocabulary`.

    Raises:
        VocabularyError: Missing, binary or non-UTF-8 file, wrong shape, bad names.

    Examples:
        >>> import pathlib, tempfile
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "pets.txt"
        >>> _ = p.write_text("# my classes\\ncat\\n\\ndog\\n")
        >>> read_vocabulary_file(p).names
        ('cat', 'dog')
    """
    if format not in FORMATS:
        raise VocabularyError(f"format={format!r} is not one of {list(FORMATS)}")
    path = Path(path)
    text = _read_text(path)
    if not text.strip():
        raise VocabularyError(f"{path}: the file is empty; the vocabulary has no labels")
    fmt = _detect_format(path, text) if format == "auto" else format
    vocab_name = name or path.stem
    source = str(path)
    if fmt == "txt":
        labels = _labels_from_txt(text, source)
    elif fmt == "json":
        labels = _labels_from_json(text, source)
    else:
        labels = _labels_from_table(path, text, source, sep="\t" if fmt == "tsv" else ",")
    return Vocabulary(vocab_name, labels, source=source, on_duplicate=on_duplicate)


def _labels_from_txt(text: str, source: str) -> list[Label]:
    labels: list[Label] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        labels.append(make_label(len(labels), stripped, where=f"{source}:{line_no}"))
    return labels


def _labels_from_json(text: str, source: str) -> list[Label]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise VocabularyError(f"{source}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    return _labels_from_data(data, source)


def _labels_from_data(data: Any, source: str) -> list[Label]:
    if isinstance(data, Mapping):
        if "categories" in data:
            categories = data["categories"]
            if not isinstance(categories, list):
                raise VocabularyError(
                    f"{source}: 'categories' must be a list of {{'id', 'name'}} objects"
                )
            return _labels_from_records(categories, source, sort_by_id=True)
        if {"images", "annotations"} & set(data):
            raise VocabularyError(
                f"{source}: a COCO-format file without 'categories'; add the "
                "'categories' list ([{'id': 1, 'name': ...}, ...])"
            )
        if data and all(isinstance(v, str) for v in data.values()):
            return _labels_from_id_map(data, source)
        raise VocabularyError(
            f"{source}: unsupported JSON object; expected a list of names, a list of "
            "{'id', 'name'} objects, a COCO/LVIS annotation file with 'categories', or "
            "an {id: name} object"
        )
    if isinstance(data, list):
        if all(isinstance(item, str) for item in data):
            return [make_label(i, item, where=f"{source}: item {i}") for i, item in enumerate(data)]
        if all(isinstance(item, Mapping) for item in data):
            return _labels_from_records(data, source, sort_by_id=False)
        first_is_str = isinstance(data[0], str)
        bad = next(
            i
            for i, item in enumerate(data)
            if not isinstance(item, (str, Mapping)) or isinstance(item, str) != first_is_str
        )
        raise VocabularyError(
            f"{source}: item {bad} is {type(data[bad]).__name__} {data[bad]!r}; expected "
            "every item to be a name string, or every item an {'id', 'name'} object"
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


def _labels_from_id_map(data: Mapping[Any, Any], source: str) -> list[Label]:
    pairs = sorted(
        ((_parse_id(key, f"{source}: key {key!r}"), value) for key, value in data.items()),
        key=lambda pair: pair[0],
    )
    return [
        make_label(i, value, id=cid, where=f"{source}: id {cid}")
        for i, (cid, value) in enumerate(pairs)
    ]


def _split_synonyms(value: Any, where: str) -> list[str]:
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
        return [s for s in value]
    raise VocabularyError(f"{where}: synonyms must be a list or a '|'-separated string")


_RECORD_FIELDS = {"id", "name", "synonyms", "def", "definition"}


def _labels_from_records(records: Sequence[Any], source: str, *, sort_by_id: bool) -> list[Label]:
    rows: list[tuple[int | None, Mapping[str, Any], str]] = []
    for i, record in enumerate(records):
        where = f"{source}: category {i}"
        if not isinstance(record, Mapping):
            raise VocabularyError(f"{where}: expected an object with 'name', got {record!r}")
        if "name" not in record:
            raise VocabularyError(f"{where}: missing 'name' (keys: {sorted(record)})")
        cid = _parse_id(record["id"], where) if record.get("id") is not None else None
        rows.append((cid, record, where))
    has_ids = [cid is not None for cid, _, _ in rows]
    if any(has_ids) and not all(has_ids):
        missing = has_ids.index(False)
        raise VocabularyError(f"{source}: category {missing} has no 'id' but others do")
    if sort_by_id and all(has_ids):
        rows.sort(key=lambda row: row[0] if row[0] is not None else 0)
    return [
        _label_from_record(i, record, cid, where) for i, (cid, record, where) in enumerate(rows)
    ]


def _label_from_record(index: int, record: Mapping[str, Any], cid: int | None, where: str) -> Label:
    """One label from a record with ``name`` and optional synonyms/def(inition)/extras."""
    definition = record.get("def", record.get("definition"))
    return make_label(
        index,
        record["name"],
        id=cid,
        synonyms=_split_synonyms(record.get("synonyms"), where),
        definition=None if definition is None else str(definition),
        metadata={k: v for k, v in record.items() if k not in _RECORD_FIELDS},
        where=where,
    )


def _labels_from_table(path: Path, text: str, source: str, *, sep: str) -> list[Label]:
    import io

    import pandas as pd

    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise VocabularyError(
            f"{source}: cannot parse as {'TSV' if sep == chr(9) else 'CSV'}: {exc}"
        ) from None
    return _labels_from_frame(frame, source, first_line=2)


def _labels_from_frame(frame: Any, source: str, *, first_line: int | None = None) -> list[Label]:
    columns = {str(c).strip().lower(): c for c in frame.columns}
    if "name" not in columns:
        raise VocabularyError(
            f"{source}: no 'name' column (columns: {[str(c) for c in frame.columns]}); "
            "a table vocabulary needs a 'name' column, optionally 'id' and 'synonyms'"
        )
    records: list[dict[str, Any]] = []
    for position, row in enumerate(frame.to_dict("records")):
        where = f"{source}:{first_line + position}" if first_line else f"{source}: row {position}"
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
            raise VocabularyError(f"{where}: 'name' must be text, got {record.get('name')!r}")
        record["__where__"] = where
        records.append(record)
    labels: list[Label] = []
    has_ids = ["id" in record for record in records]
    if any(has_ids) and not all(has_ids):
        missing = records[has_ids.index(False)]["__where__"]
        raise VocabularyError(f"{missing}: empty 'id' while other rows have one")
    for index, record in enumerate(records):
        where = record.pop("__where__")
        cid = _parse_id(record["id"], where) if "id" in record else None
        labels.append(_label_from_record(index, record, cid, where))
    return labels


def parse_inline(
    text: str, *, name: str = "custom", on_duplicate: DuplicatePolicy = "error"
) -> Vocabulary:
    """Parse an inline comma-separated list of names (empty items are errors).

    Examples:
        >>> parse_inline("cat, dog").names
        ('cat', 'dog')
    """
    items = [item.strip() for item in text.split(",")]
    if items and items[-1] == "":
        items = items[:-1]  # allow a trailing comma ("cat," is a one-label vocabulary)
    for i, item in enumerate(items):
        if not item:
            raise VocabularyError(f"inline vocabulary {text!r}: item {i} is empty")
    return Vocabulary(
        name,
        [make_label(i, item, where=f"inline vocabulary: item {i}") for i, item in enumerate(items)],
        source="<inline>",
        on_duplicate=on_duplicate,
    )


def vocabulary_from_object(
    obj: Any, *, name: str = "custom", on_duplicate: DuplicatePolicy = "error"
) -> Vocabulary:
    """Build a vocabulary from a list of names or dicts, an ``{id: name}`` dict or a DataFrame.

    Raises:
        VocabularyError: The object has the wrong shape or holds bad names.
        TypeError: The object is of a type that cannot hold a vocabulary.

    Examples:
        >>> vocabulary_from_object({1: "person", 3: "car"}).ids
        (1, 3)
    """
    source = "<object>"
    if type(obj).__name__ == "DataFrame" and hasattr(obj, "to_dict"):
        labels = _labels_from_frame(obj, "<DataFrame>")
        source = "<DataFrame>"
    elif isinstance(obj, Mapping):
        if all(isinstance(v, str) for v in obj.values()) and obj:
            labels = _labels_from_id_map(obj, "<dict>")
        else:
            labels = _labels_from_data(obj, "<dict>")
        source = "<dict>"
    elif isinstance(obj, (list, tuple)):
        labels = _labels_from_data(list(obj), "<list>")
        source = "<list>"
    else:
        raise VocabularyTypeError(
            f"cannot build a vocabulary from {type(obj).__name__}; pass a built-in name, a "
            "file path, a comma-separated string, a list of names, an {id: name} dict or a "
            "DataFrame"
        )
    return Vocabulary(name, labels, source=source, on_duplicate=on_duplicate)
