"""Every exception :mod:`scaledet_labels` raises on purpose, in one place.

All of them derive from :class:`ScaleDetError`. Each is also a :class:`ValueError` (or a
:class:`TypeError` / :class:`ImportError` where that is what went wrong), so code that
already catches those keeps working. The CLI turns a :class:`ScaleDetError` or an
:class:`OSError` into one line on stderr and exit code 2; anything else is a bug and shows
its traceback.

=============================  ==================================================
error                          raised when
=============================  ==================================================
:class:`VocabularyError`       a vocabulary source is malformed
:class:`UnknownVocabularyError` a name is neither a vocabulary nor a file
:class:`VocabularyTypeError`   a vocabulary source has an unusable Python type
:class:`LabelSpaceError`       a label space cannot be built or queried as asked
:class:`TemplateError`         a prompt template or template source is malformed
:class:`PromptError`           labels or per-label prompts are malformed
:class:`PromptTooLongError`    a prompt exceeds the encoder's context
:class:`CacheError`            the prompt-embedding cache cannot be used as asked
:class:`EncoderError`          an encoder cannot be built or used as asked
:class:`EncoderSpecError`      an encoder spec string is malformed
:class:`ModelNotAvailableError` model files are missing and cannot be fetched now
:class:`SimilarityError`       bad input to the similarity computation
:class:`BundleError`           a bundle is missing, malformed or tampered with
:class:`ReportDependencyError` matplotlib is missing for ``report``
=============================  ==================================================

Examples:
    >>> import scaledet_labels as sl
    >>> try:
    ...     sl.load_vocabulary("no-such-vocabulary")
    ... except sl.ScaleDetError as exc:
    ...     type(exc).__name__
    'UnknownVocabularyError'
"""

from __future__ import annotations

__all__ = [
    "BundleError",
    "CacheError",
    "EncoderError",
    "EncoderSpecError",
    "LabelSpaceError",
    "ModelNotAvailableError",
    "PromptError",
    "PromptTooLongError",
    "ReportDependencyError",
    "ScaleDetError",
    "SimilarityError",
    "TemplateError",
    "UnknownVocabularyError",
    "VocabularyError",
    "VocabularyTypeError",
]


class ScaleDetError(Exception):
    """Base class of every error raised on purpose by scaledet_labels."""


# -- vocabularies and label spaces -----------------------------------------------------------
class VocabularyError(ScaleDetError, ValueError):
    """A vocabulary source is malformed: wrong shape, bad names, duplicates, bad bytes.

    The message names the source (file and line, or label) and what would be accepted.
    """


class UnknownVocabularyError(VocabularyError):
    """A name is neither a built-in or registered vocabulary nor an existing file."""


class VocabularyTypeError(ScaleDetError, TypeError):
    """A vocabulary source of a Python type that cannot hold a vocabulary."""


class LabelSpaceError(ScaleDetError, ValueError):
    """A label space cannot be built or queried as asked (duplicate datasets, bad ids)."""


# -- embeddings ------------------------------------------------------------------------------
class TemplateError(ScaleDetError, ValueError):
    """A template or template source is malformed, or a set name is unknown.

    The message names the template (and its file) and what would be accepted.
    """


class PromptError(ScaleDetError, ValueError):
    """Labels or per-label prompts are malformed (wrong type, empty, unknown label)."""


class PromptTooLongError(PromptError):
    """A prompt has more tokens than the encoder's context; the message names the label."""


class CacheError(ScaleDetError, ValueError):
    """The cache cannot be used as asked (bad ``cache=`` value, unwritable directory,
    a cache written by a newer version)."""


class EncoderError(ScaleDetError, ValueError):
    """An encoder cannot be built or used as asked (bad spec, option, checkpoint or output)."""


class EncoderSpecError(EncoderError):
    """An encoder spec string is malformed; the message lists the accepted forms."""


class ModelNotAvailableError(EncoderError):
    """The model is not available locally and cannot be downloaded now.

    The message says how to supply it: a local path, or a one-time download.
    """


# -- bundles ---------------------------------------------------------------------------------
class SimilarityError(ScaleDetError, ValueError):
    """Bad input to the similarity computation (shape, values, options)."""


class BundleError(ScaleDetError, ValueError):
    """A bundle is missing, malformed, tampered with, or cannot do what was asked."""


class ReportDependencyError(ScaleDetError, ImportError, ValueError):
    """matplotlib, needed to draw the report's images, is not installed."""
