"""Exception types raised by :mod:`scaledet_labels`.

Every user mistake raises a subclass of :class:`ValueError` or :class:`TypeError`, so code
that already catches those keeps working; the CLI turns any of them into one line on
stderr and exit code 2.
"""

from __future__ import annotations

__all__ = [
    "LabelSpaceError",
    "ScaleDetError",
    "UnknownVocabularyError",
    "VocabularyError",
    "VocabularyTypeError",
]


class ScaleDetError(Exception):
    """Base class of every error raised on purpose by scaledet_labels."""


class VocabularyError(ScaleDetError, ValueError):
    """A vocabulary source is malformed: wrong shape, bad names, duplicates, bad bytes.

    The message names the source (file and line, or label) and what would be accepted.
    """


class UnknownVocabularyError(VocabularyError):
    """A name is neither a built-in or registered vocabulary nor an existing file."""


class LabelSpaceError(ScaleDetError, ValueError):
    """A label space cannot be built or queried as asked (duplicate datasets, bad ids)."""


class VocabularyTypeError(ScaleDetError, TypeError):
    """A vocabulary source of a Python type that cannot hold a vocabulary."""
