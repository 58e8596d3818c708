"""Deterministic cleaning of raw category names into prompt-friendly names.

The rules, applied in this order (the raw name is always kept next to the result):

1. Unicode NFKC normalisation.
2. Underscores become spaces; runs of white space collapse to one space; both ends are
   trimmed. LVIS' ``bow_(weapon)`` becomes ``bow (weapon)``: the sense in parentheses is
   kept, as Detic's prompts keep it, because it is what tells the two bows apart.
3. Case: a word that is lower case or capitalised (``Person``, ``Wood-burning``) is lower
   cased; any other word keeps its case (``TV``, ``iPod``, ``DVD``), so acronyms survive.
4. Slash names (Objects365's ``Cabinet/shelf``) are read as alternatives: the clean name
   joins them with ``" or "`` (``cabinet or shelf``) and each alternative becomes a
   synonym. When a single word stands before the slash and several after it, the single
   word replaces the first word after it: ``Cutting/chopping Board`` gives
   ``cutting board`` and ``chopping board``.

Examples:
    >>> clean_name("bow_(weapon)")
    'bow (weapon)'
    >>> clean_name("Cabinet/shelf")
    'cabinet or shelf'
    >>> split_alternatives("Cutting/chopping Board")
    ('cutting board', 'chopping board')
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["clean_name", "normalize_text", "split_alternatives"]

_WHITESPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """NFKC-normalise, turn underscores into spaces and collapse white space.

    Examples:
        >>> normalize_text("  traffic_light\\t ")
        'traffic light'
    """
    text = unicodedata.normalize("NFKC", text).replace("_", " ")
    return _WHITESPACE.sub(" ", text).strip()


def _fold_case(word: str) -> str:
    rest = word[1:]
    if word.islower() or (
        word[:1].isupper() and (not rest or rest.islower() or not any(ch.isalpha() for ch in rest))
    ):
        return word.lower()
    return word


def _fold_words(text: str) -> str:
    return " ".join(_fold_case(word) for word in text.split(" "))


def split_alternatives(raw: str) -> tuple[str, ...]:
    """Return the cleaned alternatives of a slash name, or the one cleaned name.

    Examples:
        >>> split_alternatives("Monitor/TV")
        ('monitor', 'TV')
        >>> split_alternatives("dog")
        ('dog',)
    """
    text = normalize_text(raw)
    parts = [p.strip() for p in text.split("/")]
    if len(parts) < 2 or any(not p for p in parts):
        return (_fold_words(text),)
    if len(parts) == 2:
        left, right = parts
        right_words = right.split(" ")
        if " " not in left and len(right_words) > 1:
            parts = [" ".join([left, *right_words[1:]]), right]
    seen: dict[str, None] = {}
    for part in parts:
        seen.setdefault(_fold_words(part), None)
    return tuple(seen)


def clean_name(raw: str) -> str:
    """Clean one raw category name for use in prompts (see the module rules).

    Examples:
        >>> clean_name("Human face")
        'human face'
        >>> clean_name("Tape Measure/ Ruler")
        'tape measure or ruler'
    """
    return " or ".join(split_alternatives(raw))
