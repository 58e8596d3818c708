"""Prompts for labels: templates x names (x synonyms), per-label overrides, deduplication.

:func:`build_prompts` turns labels into the prompts whose embeddings are averaged into each
label's embedding. A label's prompts are every template rendered with its clean name and,
when ``synonyms=True`` (Detic's ``--avg_synonyms``), with each of its synonyms too. A
per-label mapping (CuPL style, ``{label: [prompt, ...]}``) replaces the templated prompts
of the labels it names. Prompts are then deduplicated across labels, templates and
datasets, so each distinct string is encoded once.

Labels can be a :class:`~scaledet_labels.vocab.vocabulary.Vocabulary`, a label space (anything
with ``.labels``), a sequence of label objects (with ``.clean_name`` and
``.prompt_names``) or a plain sequence of strings, each one label with one name, used
exactly as given.

Examples:
    >>> p = build_prompts(["dog", "cat"], ["a {}", "the {}"])
    >>> p.prompts
    (('a dog', 'the dog'), ('a cat', 'the cat'))
    >>> p.unique, p.counts
    (('a dog', 'the dog', 'a cat', 'the cat'), (2, 2))
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scaledet_labels.embed.templates import DEFAULT_TEMPLATES, TemplateSet, get_templates
from scaledet_labels.errors import PromptError, PromptTooLongError

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "LabelEntry",
    "LabelPrompts",
    "PromptError",
    "PromptTooLongError",
    "build_prompts",
    "label_entries",
    "load_label_prompts",
]

LabelPromptsArg = Mapping[str, Sequence[str]] | str | os.PathLike[str] | None


@dataclass(frozen=True)
class LabelEntry:
    """What prompt building needs from one label.

    Attributes:
        clean_name: The label's clean (prompt) name.
        prompt_names: The clean name and its synonyms, deduplicated.
        dataset: The label's dataset, when it belongs to a label space.
        raw_name: The name as the source spells it.
    """

    clean_name: str
    prompt_names: tuple[str, ...]
    dataset: str | None = None
    raw_name: str | None = None

    @property
    def display(self) -> str:
        """``dataset/clean name`` or the clean name, for messages."""
        return f"{self.dataset}/{self.clean_name}" if self.dataset else self.clean_name

    def match_keys(self) -> tuple[str, ...]:
        """Names a per-label prompt mapping may use for this label (compared casefolded)."""
        names = [self.clean_name]
        if self.raw_name:
            names.append(self.raw_name)
        keys = list(names)
        if self.dataset:
            keys += [f"{self.dataset}/{n}" for n in names]
        return tuple(dict.fromkeys(k.casefold() for k in keys))


def label_entries(labels: Any) -> list[LabelEntry]:
    """Normalize the accepted label inputs to a list of :class:`LabelEntry`.

    Raises:
        PromptError: Not a label container, an empty one, or an item that is neither a
            string nor a label object.

    Examples:
        >>> [e.prompt_names for e in label_entries(["dog", "hot dog"])]
        [('dog',), ('hot dog',)]
    """
    if isinstance(labels, (str, bytes)):
        raise PromptError(
            f"labels must be a list of names or a vocabulary/label space, got the single "
            f"string {labels!r}; wrap it in a list"
        )
    items = getattr(labels, "labels", labels)
    if not isinstance(items, Iterable):
        raise PromptError(
            "labels must be a Vocabulary, a LabelSpace, a sequence of labels or a sequence of "
            f"strings, got {type(labels).__name__}"
        )
    entries: list[LabelEntry] = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            if not item.strip():
                raise PromptError(f"label {i} is an empty or whitespace-only name {item!r}")
            entries.append(LabelEntry(item, (item,)))
            continue
        clean = getattr(item, "clean_name", None)
        names = getattr(item, "prompt_names", None)
        if not isinstance(clean, str) or names is None:
            raise PromptError(
                f"label {i} must be a string or a label with .clean_name and .prompt_names, "
                f"got {type(item).__name__} {item!r}"
            )
        prompt_names = tuple(dict.fromkeys(str(n) for n in names)) or (clean,)
        dataset = getattr(item, "dataset", None)
        raw = getattr(item, "name", None)
        entries.append(
            LabelEntry(
                clean,
                prompt_names,
                dataset if isinstance(dataset, str) else None,
                raw if isinstance(raw, str) else None,
            )
        )
    if not entries:
        raise PromptError("there are no labels to embed (the label list is empty)")
    return entries


def load_label_prompts(source: LabelPromptsArg) -> dict[str, tuple[str, ...]]:
    """Read per-label prompts (CuPL style): a mapping or a JSON file ``{label: [prompts]}``.

    Raises:
        PromptError: Unreadable file, wrong shape, or an empty/non-string prompt list.

    Examples:
        >>> load_label_prompts({"goldfish": ["a small orange fish."]})
        {'goldfish': ('a small orange fish.',)}
    """
    if source is None:
        return {}
    where = "label_prompts"
    data: Any = source
    if isinstance(source, (str, os.PathLike)):
        where = str(source)
        try:
            data = json.loads(Path(source).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PromptError(f"per-label prompt file {where} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PromptError(f"per-label prompt file {where} cannot be read: {exc}") from None
        except json.JSONDecodeError as exc:
            raise PromptError(
                f"{where}:{exc.lineno}: not valid JSON ({exc.msg}); expected "
                "{label: [prompt, ...]}"
            ) from None
    if not isinstance(data, Mapping):
        raise PromptError(
            f"{where}: per-label prompts must be a mapping {{label: [prompt, ...]}}, got "
            f"{type(data).__name__}"
        )
    out: dict[str, tuple[str, ...]] = {}
    for key, prompts in data.items():
        if not isinstance(key, str):
            raise PromptError(f"{where}: label keys must be strings, got {key!r}")
        if isinstance(prompts, str) or not isinstance(prompts, Sequence):
            raise PromptError(f"{where}: prompts of {key!r} must be a list of strings")
        cleaned = tuple(dict.fromkeys(prompts))
        if not cleaned or any(not isinstance(p, str) or not p.strip() for p in cleaned):
            raise PromptError(
                f"{where}: prompts of {key!r} must be a non-empty list of non-empty strings"
            )
        out[key] = cleaned
    return out


@dataclass(frozen=True)
class LabelPrompts:
    """The prompts of every label, and the deduplicated list to encode.

    Attributes:
        names: Each label's clean name, in input order.
        prompts: Each label's prompts, in order (templates within names).
        unique: Every distinct prompt once, in first-seen order.
        index: Positions in ``unique`` of all labels' prompts, concatenated.
        offsets: Label ``i``'s prompts are ``index[offsets[i]:offsets[i + 1]]``.
        templates: The template set used.
        synonyms: Whether synonyms were included.
        overridden: Per label, whether its prompts came from the per-label mapping.
        datasets: Per label, its dataset (``None`` for plain names and vocabularies).
    """

    names: tuple[str, ...]
    prompts: tuple[tuple[str, ...], ...]
    unique: tuple[str, ...]
    index: NDArray[np.int64]
    offsets: NDArray[np.int64]
    templates: TemplateSet
    synonyms: bool
    overridden: tuple[bool, ...]
    datasets: tuple[str | None, ...]

    @property
    def counts(self) -> tuple[int, ...]:
        """Number of prompts of each label."""
        return tuple(len(p) for p in self.prompts)

    @property
    def total(self) -> int:
        """Number of prompts over all labels, duplicates included."""
        return int(self.offsets[-1])

    def __len__(self) -> int:
        return len(self.names)


def build_prompts(
    labels: Any,
    templates: str | os.PathLike[str] | Sequence[str] | TemplateSet | None = DEFAULT_TEMPLATES,
    *,
    synonyms: bool = True,
    label_prompts: LabelPromptsArg = None,
) -> LabelPrompts:
    """Render and deduplicate the prompts of every label.

    Args:
        labels: A vocabulary, label space, sequence of labels or sequence of names.
        templates: See :func:`scaledet_labels.embed.templates.get_templates`.
        synonyms: Average over every synonym's prompts (``True``) or use the clean name
            only (``False``).
        label_prompts: Per-label prompts ``{label: [prompt, ...]}`` (or a JSON file of that
            shape) replacing the templated prompts of those labels. A key matches a
            label's clean or raw name, or ``"dataset/name"`` for one dataset of a label
            space (case-insensitive).

    Raises:
        PromptError: Bad labels, or a per-label key that matches no label.
        TemplateError: Bad templates.

    Examples:
        >>> p = build_prompts(["dog"], "photo", label_prompts={"dog": ["a loyal dog."]})
        >>> p.prompts
        (('a loyal dog.',),)
    """
    if not isinstance(synonyms, bool):
        raise PromptError(f"synonyms must be True or False, got {synonyms!r}")
    entries = label_entries(labels)
    template_set = get_templates(templates)
    overrides = load_label_prompts(label_prompts)
    by_key = {key.casefold(): prompts for key, prompts in overrides.items()}
    used: set[str] = set()

    unique: dict[str, int] = {}
    per_label: list[tuple[str, ...]] = []
    flags: list[bool] = []
    flat: list[int] = []
    offsets = [0]
    for entry in entries:
        chosen: tuple[str, ...] | None = None
        for key in entry.match_keys():
            if key in by_key:
                chosen = by_key[key]
                used.add(key)
                break
        if chosen is None:
            names = entry.prompt_names if synonyms else (entry.clean_name,)
            rendered = [p for n in names for p in template_set.render(n)]
            chosen = tuple(dict.fromkeys(rendered))
            flags.append(False)
        else:
            flags.append(True)
        per_label.append(chosen)
        for prompt in chosen:
            flat.append(unique.setdefault(prompt, len(unique)))
        offsets.append(len(flat))
    unused = [key for key in overrides if key.casefold() not in used]
    if unused:
        import difflib

        known = sorted({k for e in entries for k in e.match_keys()})
        hints = []
        for key in unused[:5]:
            close = difflib.get_close_matches(key.casefold(), known, n=2)
            hints.append(
                f"{key!r}" + (f" (did you mean {' or '.join(map(repr, close))}?)" if close else "")
            )
        raise PromptError(
            f"per-label prompts name {len(unused)} label(s) that are not in the label set: "
            f"{', '.join(hints)}{', ...' if len(unused) > 5 else ''}"
        )
    return LabelPrompts(
        names=tuple(e.clean_name for e in entries),
        prompts=tuple(per_label),
        unique=tuple(unique),
        index=np.asarray(flat, dtype=np.int64),
        offsets=np.asarray(offsets, dtype=np.int64),
        templates=template_set,
        synonyms=synonyms,
        overridden=tuple(flags),
        datasets=tuple(e.dataset for e in entries),
    )
