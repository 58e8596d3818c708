"""Finding vocabularies by name: built-ins, user registrations, files and inline lists.

On a command line a dataset can be named where its vocabulary is given, as
``NAME=SOURCE`` (:func:`split_named_source`): ``coco_2=coco``, ``mine=path/classes.txt``.

Examples:
    >>> from scaledet_labels import load_vocabulary, register_vocabulary
    >>> len(load_vocabulary("coco"))
    80
    >>> register_vocabulary("pets", ["cat", "dog"], overwrite=True)
    >>> load_vocabulary("pets").clean_names
    ('cat', 'dog')
"""

from __future__ import annotations

import difflib
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from scaledet_labels.errors import UnknownVocabularyError, VocabularyError
from scaledet_labels.vocab.builtin import BUILTIN_ALIASES, BUILTIN_FACTORIES
from scaledet_labels.vocab.sources import (
    _EXTENSIONS,
    BlankPolicy,
    VocabularyFormat,
    parse_inline,
    read_vocabulary_file,
    vocabulary_from_object,
)
from scaledet_labels.vocab.vocabulary import DuplicatePolicy, Vocabulary

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "VocabularySource",
    "available_vocabularies",
    "load_vocabulary",
    "register_vocabulary",
    "split_named_source",
    "unregister_vocabulary",
]

#: What :func:`load_vocabulary` accepts.
VocabularySource: TypeAlias = (
    "str | os.PathLike[str] | Vocabulary | Sequence[Any] | Mapping[Any, Any] | pd.DataFrame"
)

_lock = threading.RLock()
_factories: dict[str, Callable[[], Vocabulary]] = dict(BUILTIN_FACTORIES)
_aliases: dict[str, str] = dict(BUILTIN_ALIASES)
_loaded: dict[str, Vocabulary] = {}


def available_vocabularies(*, include_aliases: bool = False) -> list[str]:
    """Names of the built-in and registered vocabularies, built-ins first.

    Examples:
        >>> available_vocabularies()[:3]
        ['coco', 'lvis', 'objects365']
    """
    names = list(_factories)
    if include_aliases:
        names += list(_aliases)
    return names


def register_vocabulary(
    name: str,
    source: Vocabulary
    | Callable[[], Vocabulary]
    | str
    | os.PathLike[str]
    | list[Any]
    | dict[Any, Any],
    *,
    aliases: tuple[str, ...] = (),
    overwrite: bool = False,
) -> None:
    """Make a vocabulary loadable by name (in this process).

    Args:
        name: The new name (case-insensitive).
        source: A Vocabulary, a zero-argument callable returning one (called lazily, once),
            a file path, or a list/dict accepted by :func:`load_vocabulary`.
        aliases: Other names for it.
        overwrite: Replace an existing registration; built-ins can never be replaced.

    Raises:
        VocabularyError: The name is empty, a built-in, or taken and ``overwrite`` is off.
    """
    key = _key(name)
    if not key:
        raise VocabularyError("register_vocabulary: the name must be a non-empty string")
    for candidate in (key, *map(_key, aliases)):
        if candidate in BUILTIN_FACTORIES or candidate in BUILTIN_ALIASES:
            raise VocabularyError(
                f"register_vocabulary: {candidate!r} is a built-in vocabulary and cannot be "
                "replaced; choose another name"
            )
        if not overwrite and (candidate in _factories or candidate in _aliases):
            raise VocabularyError(
                f"register_vocabulary: {candidate!r} is already registered; pass overwrite=True"
            )

    if isinstance(source, Vocabulary):
        vocab = source.renamed(key)

        def factory() -> Vocabulary:
            return vocab
    elif callable(source):
        user_factory = source

        def factory() -> Vocabulary:
            result = user_factory()
            if not isinstance(result, Vocabulary):
                raise VocabularyError(
                    f"the factory registered as {key!r} returned {type(result).__name__}, "
                    "expected a Vocabulary"
                )
            return result.renamed(key)
    else:
        # read and check now, so that a bad source is refused here and nothing is registered
        loaded = load_vocabulary(source, name=key)

        def factory() -> Vocabulary:
            return loaded

    with _lock:
        _factories[key] = factory
        _loaded.pop(key, None)
        for alias in aliases:
            _aliases[_key(alias)] = key


def unregister_vocabulary(name: str) -> None:
    """Remove a user registration (and its aliases). Built-ins cannot be removed.

    Raises:
        VocabularyError: ``name`` is a built-in or was never registered.
    """
    key = _key(name)
    if key in BUILTIN_FACTORIES or key in BUILTIN_ALIASES:
        raise VocabularyError(f"unregister_vocabulary: {key!r} is a built-in vocabulary")
    with _lock:
        if key not in _factories:
            raise VocabularyError(f"unregister_vocabulary: {key!r} is not registered")
        del _factories[key]
        _loaded.pop(key, None)
        for alias in [a for a, target in _aliases.items() if target == key]:
            del _aliases[alias]


def _key(name: str) -> str:
    return name.strip().lower() if isinstance(name, str) else ""


def _from_registry(key: str) -> Vocabulary | None:
    key = _aliases.get(key, key)
    factory = _factories.get(key)
    if factory is None:
        return None
    with _lock:
        if key not in _loaded:
            _loaded[key] = factory()
        return _loaded[key]


def load_vocabulary(
    source: VocabularySource,
    *,
    name: str | None = None,
    format: VocabularyFormat = "auto",
    on_duplicate: DuplicatePolicy = "error",
    on_blank: BlankPolicy = "error",
) -> Vocabulary:
    """Load a vocabulary from a built-in or registered name, a file, a list or a table.

    ``source`` is resolved in this order: a :class:`Vocabulary` (returned, renamed if
    ``name`` is given); a built-in or registered name (``coco``, ``lvis``, ``objects365``,
    ``oid``/``openimages``, ``oid500``, ``voc``); an existing file (``.txt``, ``.json``,
    ``.csv``, ``.tsv``); a string with a comma, read as inline names (``"cat, dog"``; a
    trailing comma makes a one-label list, ``"cat,"``); a list of names or dicts, an
    ``{id: name}`` dict or a pandas DataFrame.

    Args:
        source: See above.
        name: The dataset name; defaults to the built-in name, the file stem, or
            ``"custom"``.
        format: Force a file format instead of detecting it.
        on_duplicate: ``"error"`` (default) refuses two labels whose clean names are equal
            ignoring case; ``"disambiguate"`` keeps both (see :class:`Vocabulary`).
        on_blank: ``"error"`` (default) refuses a blank label name (empty or white space
            only); ``"skip"`` leaves that label out and keeps every other label's id.

    Raises:
        UnknownVocabularyError: Not a known name nor an existing file (suggests close names).
        VocabularyError: The source is malformed; the message names the file and line (or
            item) of every problem it found, not only the first.

    Examples:
        >>> load_vocabulary("coco").by_id(90).name
        'toothbrush'
        >>> load_vocabulary("cat, dog", name="pets").names
        ('cat', 'dog')
    """
    if isinstance(source, Vocabulary):
        return source.renamed(name) if name else source
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        if isinstance(source, str):
            found = _from_registry(_key(text))
            if found is not None:
                return found.renamed(name) if name else found
        path = Path(text)
        if text.strip() and path.exists():
            return read_vocabulary_file(
                path, name=name, format=format, on_duplicate=on_duplicate, on_blank=on_blank
            )
        if isinstance(source, str) and "," in text:
            return parse_inline(
                text, name=name or "custom", on_duplicate=on_duplicate, on_blank=on_blank
            )
        if not isinstance(source, str) or path.suffix.lower() in _EXTENSIONS or os.sep in text:
            raise VocabularyError(f"{text}: no such file")
        _raise_unknown(text)
    return vocabulary_from_object(
        source, name=name or "custom", on_duplicate=on_duplicate, on_blank=on_blank
    )


#: A dataset name in ``NAME=SOURCE``: letters, digits, ``_``, ``-`` and ``.``.
_DATASET_NAME = re.compile(r"[\w.-]+")


def split_named_source(text: str) -> tuple[str | None, str]:
    """Split a command-line vocabulary argument into ``(dataset name or None, source)``.

    ``NAME=SOURCE`` names the dataset of any source :func:`load_vocabulary` accepts:
    ``coco_2=coco``, ``mine=data/classes.txt``. The rule, in this order:

    1. an argument that is an existing path is that file, ``=`` or not;
    2. an argument with ``=`` whose part before the first ``=`` is a dataset name (letters,
       digits, ``_``, ``-``, ``.``) is ``NAME=SOURCE``;
    3. anything else is a source as it is (an inline list ``"a=b, c"`` stays inline).

    Raises:
        VocabularyError: ``NAME=`` with nothing after it, or an argument that is neither an
            existing file nor ``NAME=SOURCE``, and not an inline list.

    Examples:
        >>> split_named_source("coco_2=coco")
        ('coco_2', 'coco')
        >>> split_named_source("lvis")
        (None, 'lvis')
    """
    if "=" not in text or os.path.exists(text):
        return None, text
    name, source = text.split("=", 1)
    if _DATASET_NAME.fullmatch(name):
        if not source.strip():
            raise VocabularyError(
                f"{text!r}: nothing after '='; write NAME=SOURCE, e.g. {name}=classes.txt"
            )
        return name, source
    if "," in text:
        return None, text
    raise VocabularyError(
        f"{text}: no such file, and {name!r} before '=' is not a dataset name (letters, "
        "digits, '_', '-', '.'); to name a dataset write NAME=SOURCE, e.g. mine=classes.txt"
    )


def _raise_unknown(text: str) -> None:
    known = available_vocabularies(include_aliases=True)
    close = difflib.get_close_matches(_key(text), known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownVocabularyError(
        f"unknown vocabulary {text!r}: not a built-in or registered name, nor an existing "
        f"file.{hint} Known: {', '.join(available_vocabularies())}; or pass a .txt/.json/"
        ".csv/.tsv file, or inline names separated by commas"
    )
