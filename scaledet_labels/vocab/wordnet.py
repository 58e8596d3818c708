"""WordNet 3.0 nouns at run time: look a label name up, and relate two synsets.

The data is ``data/vocabularies/wordnet_nouns.json.gz``, derived from WordNet 3.0 by
``scripts/generate_vocabularies.py`` (every noun synset with its lemmas, hypernyms and
holonyms, the lemma index in WordNet's sense order, and ``noun.exc``), so nothing outside
the installed package is read. It is loaded once, on first use (about 0.4 s).

:func:`lookup` is what nltk's ``wordnet.synsets(name, pos="n")`` returns, with the same
``morphy`` folding of inflected forms (the exception list, then WordNet's noun suffix
rules, keeping forms that are lemmas), applied to the last word of a multi-word name.

Examples:
    >>> lookup("dogs")[:2]
    ('dog.n.01', 'frump.n.01')
    >>> lookup("Tennis racket")
    ('tennis_racket.n.01',)
    >>> relation("dog.n.01", "canine.n.02")
    'child'
    >>> relation("wheel.n.01", "wheeled_vehicle.n.01")
    'part'
"""

from __future__ import annotations

import functools
import gzip
import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Literal

__all__ = ["Relation", "WordNetNouns", "ancestors", "lookup", "morphy", "nouns", "relation"]

NOUNS_FILE = "wordnet_nouns.json.gz"
#: WordNet's noun detachment rules, as nltk's morphy applies them.
_SUFFIXES = (
    ("s", ""),
    ("ses", "s"),
    ("xes", "x"),
    ("zes", "z"),
    ("ches", "ch"),
    ("shes", "sh"),
    ("men", "man"),
    ("ies", "y"),
)
_QUALIFIER = re.compile(r"\s*[\(\[][^\)\]]*[\)\]]\s*")
_SEPARATORS = re.compile(r"[\s_]+")

#: How synset ``a`` relates to ``b``: the same, ``b`` is an ancestor of ``a`` (``child``),
#: ``a`` is an ancestor of ``b`` (``parent``), one is (an ancestor of) a part, member or
#: substance of the other (``part``), or ``None``.
Relation = Literal["same", "child", "parent", "part"]


@dataclass(frozen=True)
class WordNetNouns:
    """The loaded noun data (see the module docs)."""

    synsets: tuple[str, ...]
    position: dict[str, int]
    lemmas: tuple[tuple[str, ...], ...]
    parents: tuple[tuple[int, ...], ...]
    holonyms: tuple[tuple[int, ...], ...]
    index: dict[str, tuple[int, ...]]
    exceptions: dict[str, tuple[str, ...]]


@functools.cache
def nouns() -> WordNetNouns:
    """The WordNet noun data (loaded once)."""
    data = resources.files("scaledet_labels").joinpath("data", "vocabularies", NOUNS_FILE)
    record = json.loads(gzip.decompress(data.read_bytes()))
    synsets = tuple(record["synsets"])
    return WordNetNouns(
        synsets=synsets,
        position={name: i for i, name in enumerate(synsets)},
        lemmas=tuple(tuple(x) for x in record["lemmas"]),
        parents=tuple(tuple(x) for x in record["parents"]),
        holonyms=tuple(tuple(x) for x in record["holonyms"]),
        index={k: tuple(v) for k, v in record["index"].items()},
        exceptions={k: tuple(v) for k, v in record["exceptions"].items()},
    )


def morphy(word: str) -> tuple[str, ...]:
    """Base forms of a noun that are WordNet lemmas (the word itself first, if it is one).

    Examples:
        >>> morphy("geese"), morphy("boxes"), morphy("glasses")
        (('goose',), ('box',), ('glasses', 'glass'))
    """
    data = nouns()
    word = word.casefold()
    forms: list[str] = [word] if word in data.index else []
    forms += [base for base in data.exceptions.get(word, ()) if base in data.index]
    for suffix, ending in _SUFFIXES:
        if word.endswith(suffix) and len(word) > len(suffix):
            base = word[: len(word) - len(suffix)] + ending
            if base in data.index:
                forms.append(base)
    return tuple(dict.fromkeys(forms))


def _keys(name: str) -> list[str]:
    """Lemma spellings to try for a name: its words joined by ``_``, ``-`` or nothing.

    Every combination of joints for up to four words (``"table tennis table"`` finds
    ``table-tennis_table``), words split at hyphens too; longer names only with ``_``.
    """
    plain = _SEPARATORS.sub(" ", _QUALIFIER.sub(" ", name)).strip().casefold()
    if not plain:
        return []
    words = plain.replace("-", " ").split()
    if not words:
        return []
    if len(words) > 4:
        return list(dict.fromkeys(["_".join(words), plain.replace(" ", "_")]))
    spellings = [words[0]]
    for word in words[1:]:
        spellings = [f"{s}{joint}{word}" for s in spellings for joint in ("_", "-", "")]
    return list(dict.fromkeys([plain.replace(" ", "_"), "_".join(words), *spellings]))


@functools.lru_cache(maxsize=65536)
def lookup(name: str) -> tuple[str, ...]:
    """The noun synsets of a label name in WordNet's sense order (most frequent first).

    Case, spaces/underscores, a parenthesised qualifier (``"bow (weapon)"``) and the
    inflection of the last word are folded; ``()`` when WordNet has no such noun.

    Examples:
        >>> lookup("sports balls")
        ()
        >>> lookup("Teddy bear")
        ('teddy.n.01',)
    """
    data = nouns()
    found: list[int] = []
    for key in _keys(name):
        head, _, last = key.rpartition("_")
        for base in morphy(last) or (last,):
            lemma = f"{head}_{base}" if head else base
            found.extend(data.index.get(lemma, ()))
    return tuple(data.synsets[i] for i in dict.fromkeys(found))


@functools.lru_cache(maxsize=65536)
def _ancestor_positions(position: int) -> frozenset[int]:
    data = nouns()
    seen: set[int] = set()
    stack = list(data.parents[position])
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(data.parents[node])
    return frozenset(seen)


def ancestors(synset: str) -> frozenset[str]:
    """Every hypernym ancestor of a noun synset (empty for an unknown name)."""
    data = nouns()
    position = data.position.get(synset)
    if position is None:
        return frozenset()
    return frozenset(data.synsets[i] for i in _ancestor_positions(position))


@functools.lru_cache(maxsize=65536)
def _wholes(position: int) -> frozenset[int]:
    """The wholes of a synset or of any of its ancestors, with their ancestors."""
    data = nouns()
    lineage = {position, *_ancestor_positions(position)}
    wholes = {w for node in lineage for w in data.holonyms[node]}
    return frozenset(wholes | {a for w in wholes for a in _ancestor_positions(w)})


def relation(a: str, b: str) -> Relation | None:
    """How noun synset ``a`` relates to ``b`` (see :data:`Relation`); ``None`` if unrelated.

    Examples:
        >>> relation("table-tennis_racquet.n.01", "tennis_racket.n.01") is None
        True
    """
    if a == b:
        return "same"
    data = nouns()
    pa, pb = data.position.get(a), data.position.get(b)
    if pa is None or pb is None:
        return None
    if pb in _ancestor_positions(pa):
        return "child"
    if pa in _ancestor_positions(pb):
        return "parent"
    if pb in _wholes(pa) or pa in _wholes(pb):
        return "part"
    return None
