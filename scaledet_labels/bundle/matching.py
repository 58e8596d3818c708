"""Decide which labels are the same concept: ``same`` with a target, or ``none``.

For every label of a source vocabulary the matcher scores candidate target labels (the
nearest by embedding, plus any that share a name form or a WordNet synset) with a small
logistic model over signals of four kinds, and keeps the best:

* **embeddings**: the cosine, its margin over the next-best target, and whether the two
  labels are each other's nearest;
* **names**: the same clean name ignoring case, punctuation and a parenthesised
  qualifier; the same after folding plurals (WordNet's ``morphy``); a synonym of one is a
  name of the other; one name extends the other with words (``table tennis racket`` /
  ``tennis racket``, a different object, but also ``computer keyboard`` / ``keyboard``,
  the same one: the fitted weight is mildly positive, so such pairs are decided by the
  embeddings and WordNet, and are the ones to review);
* **wordnet**: the same synset, given by the dataset (LVIS, ImageNet-21k, COCO) or looked
  up by name (:func:`scaledet_labels.vocab.wordnet.lookup`), weighted by how common that
  sense is; one synset the other's ancestor (a parent is not the same concept) or part;
  both known and unrelated;
* **definitions**: word overlap of the two definitions (LVIS, ImageNet-21k).

The model's weights are fitted by ``benchmarks/bench_match.py --fit`` on development
correspondences assembled from public metadata (see that script) and ship in
``data/matcher.json``; its output is a probability that the pair is the same concept,
calibrated on those correspondences. ``same`` when the best candidate's probability
reaches ``threshold`` (default 0.5); the confidence of a ``none`` is one minus it. With
``one_to_one=True`` the ``same`` pairs form a maximum-likelihood one-to-one assignment
(``scipy.optimize.linear_sum_assignment``), for datasets known to hold no duplicates.

Examples:
    >>> import numpy as np
    >>> from scaledet_labels import load_vocabulary
    >>> a = load_vocabulary(["Dogs", "parking meter"], name="a")
    >>> b = load_vocabulary(["dog", "traffic sign"], name="b")
    >>> vectors = np.array([[1, 0], [0.6, 0.8]], dtype=np.float32)
    >>> found = match_labels(a.labels, vectors, b.labels, vectors)
    >>> [(m.decision, m.target) for m in found]
    [('same', 0), ('none', 1)]
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from scaledet_labels.errors import BundleError
from scaledet_labels.vocab import wordnet
from scaledet_labels.vocab.vocabulary import Label

__all__ = [
    "FEATURES",
    "SIGNALS",
    "Candidates",
    "Match",
    "MatchSignals",
    "candidate_pairs",
    "decide",
    "load_model",
    "match_labels",
    "score",
]

MatchSignals = Literal["all", "wordnet", "names", "embeddings"]
SIGNALS: tuple[str, ...] = get_args(MatchSignals)
#: Every feature, grouped by signal; a signal set uses a prefix of this tuple.
FEATURES = (
    "cosine",
    "margin",
    "mutual_nearest",
    "same_name",
    "folded_name",
    "synonym",
    "name_extends",
    "qualifier",
    "synset_given",
    "synset_looked_up",
    "name_and_synset",
    "synonyms_by_wordnet",
    "given_sense_unlikely",
    "hierarchy",
    "part",
    "synsets_differ",
    "kind_or_part_by_name",
    "in_wordnet",
    "definition",
)
_WIDTH = {"embeddings": 3, "names": 8, "wordnet": 18, "all": 19}
#: Column of the ``in_wordnet`` feature: both labels have a (given or looked-up) synset.
IN_WORDNET = 17
MODEL_FILE = "matcher.json"
_NEAREST = 10  # candidates by cosine per source label
_QUALIFIER = re.compile(r"\s*[\(\[][^\)\]]*[\)\]]\s*")
_QUALIFIER_TEXT = re.compile(r"[\(\[]([^\)\]]*)[\)\]]")
_NON_WORD = re.compile(r"[^\w]+")
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "or",
        "and",
        "to",
        "in",
        "on",
        "for",
        "with",
        "by",
        "as",
        "at",
        "from",
        "its",
        "it",
        "is",
        "are",
        "be",
        "used",
        "that",
        "which",
        "this",
        "any",
        "usually",
        "especially",
        "often",
        "one",
        "some",
    ]
)


# -- per-label facts ---------------------------------------------------------------------------
def normalize(name: str) -> str:
    """Lower case, ``_``/``-``/punctuation as spaces, no parenthesised qualifier.

    Examples:
        >>> normalize("bow_(weapon)"), normalize("Table-tennis racket"), normalize("T-shirt")
        ('bow', 'table tennis racket', 't shirt')
    """
    plain = _QUALIFIER.sub(" ", name).replace("&", " and ").casefold()
    return " ".join(_NON_WORD.sub(" ", plain).replace("_", " ").split())


def fold(normalized: str) -> str:
    """A normalised name with its last word reduced to a base form (plural folding).

    Examples:
        >>> fold("tennis rackets"), fold("geese"), fold("glasses")
        ('tennis racket', 'goose', 'glass')
    """
    words = normalized.split(" ")
    if not words[-1]:
        return normalized
    forms = wordnet.morphy(words[-1])
    if forms:
        words[-1] = forms[-1]
    elif len(words[-1]) > 3 and words[-1].endswith("s") and not words[-1].endswith("ss"):
        words[-1] = words[-1][:-1]
    return " ".join(words)


@dataclass(frozen=True)
class _Facts:
    names: frozenset[str]  # normalised clean and raw names, also without spaces
    folded: frozenset[str]
    all_folded: frozenset[str]  # names and synonyms, folded
    words: tuple[str, ...]  # the clean name's words
    qualifier: frozenset[str]  # words of a parenthesised qualifier: "bow (weapon)"
    given: str | None  # the dataset's synset
    looked: tuple[tuple[str, float], ...]  # looked-up synsets with a weight (sense rank)
    primary: str | None  # given, else the first looked-up sense of the clean name
    definition: frozenset[str]


def _alternatives(name: str) -> list[str]:
    """A name and, for ``"Handbag/Satchel"``-style names, each alternative."""
    parts = [part.strip() for part in name.split("/")]
    return [name, *parts] if len(parts) > 1 and all(parts) else [name]


def _facts(label: Label, metadata: bool) -> _Facts:
    texts = [*_alternatives(label.clean_name), *_alternatives(label.name)]
    spaced = list(dict.fromkeys(n for n in map(normalize, texts) if n))
    names = frozenset(spaced) | {n.replace(" ", "") for n in spaced}  # "wine glass"
    synonyms = [normalize(s) for s in label.synonyms]
    folded = frozenset(fold(n) for n in spaced) | {fold(n).replace(" ", "") for n in spaced}
    all_folded = folded | {fold(s) for s in synonyms if s}
    qualifier = frozenset(
        word
        for text in (label.clean_name, label.name)
        for inside in _QUALIFIER_TEXT.findall(text)
        for word in normalize(inside).split()
        if word not in _STOP
    )
    looked: dict[str, float] = {}
    for text in [*texts, *label.synonyms]:
        senses = wordnet.lookup(text)
        fits = [_qualified(synset, qualifier) for synset in senses]
        for rank, (synset, fit) in enumerate(zip(senses, fits, strict=True)):
            # a qualifier that picks senses makes the others unlikely
            weight = 1.0 if fit else (0.1 if any(fits) else 1.0) / (1 + rank)
            looked[synset] = max(looked.get(synset, 0.0), weight)
    given = label.synset if metadata else None
    first = next((found for found in map(wordnet.lookup, texts) if found), ())
    fitting = [x for x in first if _qualified(x, qualifier)]
    primary = given or (fitting[0] if fitting else first[0] if first else None)
    definition = label.definition if metadata else None
    words = frozenset(
        w for w in _NON_WORD.sub(" ", (definition or "").casefold()).split() if w not in _STOP
    )
    return _Facts(
        names=names,
        folded=folded,
        all_folded=all_folded,
        words=tuple(normalize(label.clean_name).split(" ")),
        qualifier=qualifier,
        given=given,
        looked=tuple(looked.items()),
        primary=primary,
        definition=words,
    )


def _qualified(synset: str, qualifier: frozenset[str]) -> bool:
    """Whether a sense fits a label's qualifier: a qualifier word is a lemma word of the
    sense or of one of its ancestors (``bow (weapon)`` -> ``bow.n.04``, a weapon)."""
    if not qualifier:
        return False
    data = wordnet.nouns()
    position = data.position.get(synset)
    if position is None:
        return False
    for node in (synset, *wordnet.ancestors(synset)):
        for lemma in data.lemmas[data.position[node]]:
            if qualifier & set(lemma.casefold().replace("-", "_").split("_")):
                return True
    return False


def _extends(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """One name is the other with words added in front or behind (a kind of, a part of)."""
    if len(a) == len(b):
        return False
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return long[-len(short) :] == short or long[: len(short)] == short


def _pair_features(s: _Facts, t: _Facts) -> tuple[list[float], list[str]]:
    """Name, WordNet and definition features of one pair, and the evidence they give."""
    evidence: list[str] = []
    same_name = bool(s.names & t.names)
    folded = not same_name and bool(s.folded & t.folded)
    synonym = not same_name and not folded and bool(s.all_folded & t.all_folded)
    extends = not (same_name or folded or synonym) and _extends(s.words, t.words)
    if same_name:
        evidence.append("same name")
    elif folded:
        evidence.append("same name after plural/case folding")
    elif synonym:
        evidence.append("a synonym of one is a name of the other")
    elif extends:
        evidence.append("one name extends the other with words")
    qualifier = 0.0
    if s.qualifier and t.qualifier:
        qualifier = 1.0 if s.qualifier & t.qualifier else -1.0
        if qualifier > 0:
            evidence.append("same qualifier")
    # looked-up senses count as shared evidence beside a given synset: "refrigerator"
    # (given electric_refrigerator.n.01) and "Refrigerator" both look up refrigerator.n.01
    # (when both datasets give synsets, only those count)
    if s.given and t.given:
        source_synsets, target_synsets = {s.given: 1.0}, {t.given: 1.0}
    else:
        source_synsets = dict(s.looked) | ({s.given: 1.0} if s.given else {})
        target_synsets = dict(t.looked) | ({t.given: 1.0} if t.given else {})
    shared = [(w * target_synsets[x], x) for x, w in source_synsets.items() if x in target_synsets]
    given = float(bool(s.given) and s.given == t.given)
    looked_up = 0.0 if given else (max(shared)[0] if shared else 0.0)
    named = same_name or folded or synonym
    both = float(named and (given > 0 or looked_up >= 0.5))
    # different words whose most common senses are one synset: "sofa" / "couch"
    synonyms_by_wordnet = float(not named and looked_up >= 1.0)
    # one dataset gives a synset that is an unlikely sense of the other's name (COCO's
    # "mouse" is mouse.n.04, the device; a name lookup of "Mouse" puts the animal first)
    unlikely = 0.0
    given_synset, other = (s.given, t) if s.given else (t.given, s)
    if given_synset is not None and other.given is None and other.looked:
        unlikely = 1.0 - dict(other.looked).get(given_synset, 0.0)
        if unlikely >= 0.5:
            evidence.append(f"{given_synset} is not the usual WordNet sense of the other name")
    hierarchy = part = differ = 0.0
    if shared:
        weight, name = max(shared)
        how = "given by both datasets" if given else f"looked up, weight {weight:.2f}"
        evidence.append(f"shared WordNet synset {name} ({how})")
    elif s.given and t.given:
        # only synsets both datasets give: a looked-up first sense is a guess, and two
        # datasets often name one concept with senses a level apart (COCO's "cow" is
        # beef.n.01, a name lookup gives cow.n.01)
        related = wordnet.relation(s.given, t.given)
        if related in ("child", "parent"):
            hierarchy = 1.0
            kind = "a kind of" if related == "child" else "a parent of"
            evidence.append(f"{s.primary} is {kind} {t.primary} (WordNet hierarchy)")
        elif related == "part":
            part = 1.0
            evidence.append(f"{s.primary} and {t.primary}: one is part of the other (WordNet)")
        else:
            differ = 1.0
            evidence.append(f"different WordNet synsets {s.primary} / {t.primary}")
    kind_or_part = 0.0
    # different names whose (looked-up) senses are a kind or a part of each other:
    # "poodle" / "dog", "handlebar" / "bicycle"
    if (
        not (s.given and t.given)
        and s.primary is not None
        and t.primary is not None
        and not shared
        and not named
        and wordnet.relation(s.primary, t.primary) in ("child", "parent", "part")
    ):
        kind_or_part = 1.0
        evidence.append(f"{s.primary} and {t.primary}: a kind or part of the other (WordNet)")
    definition = 0.0
    if s.definition and t.definition:
        definition = len(s.definition & t.definition) / len(s.definition | t.definition)
        if definition >= 0.3:
            evidence.append(f"definitions overlap ({definition:.2f})")
    values = [
        float(same_name),
        float(folded),
        float(synonym),
        float(extends),
        qualifier,
        given,
        looked_up,
        both,
        synonyms_by_wordnet,
        unlikely,
        hierarchy,
        part,
        differ,
        kind_or_part,
        float(bool(source_synsets) and bool(target_synsets)),
        definition,
    ]
    return values, evidence


# -- candidates ------------------------------------------------------------------------------
@dataclass
class Candidates:
    """Candidate pairs and their features (rows aligned).

    Attributes:
        source: Source row of each pair.
        target: Target row of each pair.
        features: ``(pairs, len(FEATURES))`` feature values.
        evidence: The evidence strings of each pair (names and WordNet).
    """

    source: npt.NDArray[np.int64]
    target: npt.NDArray[np.int64]
    features: npt.NDArray[np.float64]
    evidence: list[list[str]] = field(default_factory=list)


def _checked_vectors(vectors: Any, n: int, what: str) -> npt.NDArray[np.float32]:
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2 or array.shape[0] != n:
        raise BundleError(f"{what}: expected ({n}, dim) vectors, got shape {array.shape}")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    unit: npt.NDArray[np.float32] = array / np.maximum(norms, 1e-12)
    return unit


def candidate_pairs(
    sources: Sequence[Label],
    source_vectors: Any,
    targets: Sequence[Label],
    target_vectors: Any,
    *,
    metadata: bool | tuple[bool, bool] = True,
    nearest: int = _NEAREST,
) -> Candidates:
    """Every candidate pair with its features (see the module docs).

    Candidates of a source label: its ``nearest`` targets by cosine, and every target
    that shares a folded name or synonym, or a (given or looked-up) synset with it.

    Args:
        sources: The source labels.
        source_vectors: Their embeddings, rows aligned.
        targets: The target labels.
        target_vectors: Their embeddings (same dimension).
        metadata: Use the datasets' own synsets and definitions (``False``: names only,
            synsets looked up; for vocabularies with no metadata and for evaluation); a
            pair ``(source, target)`` decides per side.
        nearest: How many nearest targets by cosine each source considers.
    """
    src = _checked_vectors(source_vectors, len(sources), "source vectors")
    tgt = _checked_vectors(target_vectors, len(targets), "target vectors")
    if src.shape[1] != tgt.shape[1]:
        raise BundleError(f"source vectors are {src.shape[1]}-d but targets {tgt.shape[1]}-d")
    if not sources or not targets:
        empty = np.zeros(0, dtype=np.int64)
        return Candidates(empty, empty, np.zeros((0, len(FEATURES))), [])
    source_metadata, target_metadata = (
        metadata if isinstance(metadata, tuple) else (metadata, metadata)
    )
    s_facts = [_facts(label, source_metadata) for label in sources]
    t_facts = [_facts(label, target_metadata) for label in targets]
    by_key: dict[str, set[int]] = {}
    for j, facts in enumerate(t_facts):
        keys = [*facts.all_folded, *(x for x, _ in facts.looked)]
        if facts.given:
            keys.append(facts.given)
        for key in keys:
            by_key.setdefault(key, set()).add(j)
    take = min(nearest, len(targets))
    best_source_of = np.full(len(targets), -1, dtype=np.int64)
    best_source_cos = np.full(len(targets), -np.inf, dtype=np.float32)
    rows: list[int] = []
    cols: list[int] = []
    cosines: list[float] = []
    margins: list[float] = []
    nearest_target = np.empty(len(sources), dtype=np.int64)
    block = max(1, (1 << 22) // len(targets))
    for start in range(0, len(sources), block):
        scores = src[start : start + block] @ tgt.T
        column_best = scores.argmax(axis=0)
        column_cos = scores[column_best, np.arange(len(targets))]
        better = column_cos > best_source_cos
        best_source_cos[better] = column_cos[better]
        best_source_of[better] = start + column_best[better]
        top = (
            np.argpartition(-scores, take - 1, axis=1)[:, :take]
            if take < len(targets)
            else (np.broadcast_to(np.arange(len(targets)), scores.shape))
        )
        for r in range(scores.shape[0]):
            i = start + r
            row = scores[r]
            order = np.argsort(-row, kind="stable")[:2]
            nearest_target[i] = order[0]
            first = float(row[order[0]])
            # a lone target has no competitor: margin 0, not a cosine's distance to -1
            second = float(row[order[1]]) if len(order) > 1 else first
            facts = s_facts[i]
            keys = [*facts.all_folded, *(x for x, _ in facts.looked)]
            if facts.given:
                keys.append(facts.given)
            chosen = set(map(int, top[r])).union(*(by_key.get(k, set()) for k in keys))
            for j in sorted(chosen):
                cos = float(row[j])
                rows.append(i)
                cols.append(j)
                cosines.append(cos)
                margins.append(cos - (second if j == order[0] else first))
    source = np.asarray(rows, dtype=np.int64)
    target = np.asarray(cols, dtype=np.int64)
    mutual = (nearest_target[source] == target) & (best_source_of[target] == source)
    features = np.zeros((len(source), len(FEATURES)), dtype=np.float64)
    features[:, 0] = cosines
    features[:, 1] = margins
    features[:, 2] = mutual
    evidence: list[list[str]] = []
    for p, (i, j) in enumerate(zip(rows, cols, strict=True)):
        values, said = _pair_features(s_facts[i], t_facts[j])
        features[p, 3:] = values
        evidence.append(said)
    return Candidates(source, target, features, evidence)


# -- the model ---------------------------------------------------------------------------------
@functools.cache
def load_model() -> dict[str, Any]:
    """The fitted matcher (``data/matcher.json``): per signal set, weights and a bias."""
    data = resources.files("scaledet_labels").joinpath("data", MODEL_FILE)
    model: dict[str, Any] = json.loads(data.read_text(encoding="utf-8"))
    if list(model.get("features", ())) != list(FEATURES):
        raise BundleError(f"{MODEL_FILE} was fitted for other features; refit it")
    return model


def score(
    features: npt.NDArray[np.float64],
    signals: MatchSignals = "all",
    model: dict[str, Any] | None = None,
) -> npt.NDArray[np.float64]:
    """The probability that each pair is the same concept (logistic model)."""
    if signals not in SIGNALS:
        raise BundleError(f"signals={signals!r} is not one of {list(SIGNALS)}")
    models = (model or load_model())["models"]

    def logistic(name: str) -> npt.NDArray[np.float64]:
        fitted = models[name]
        weights = np.asarray(fitted["weights"], dtype=np.float64)
        z = features[:, : _WIDTH[name]] @ weights + fitted["bias"]
        p: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))
        return p

    if _WIDTH[signals] <= IN_WORDNET:
        return logistic(signals)
    # a pair WordNet knows nothing about (a name it lacks) is scored on names and
    # embeddings alone, not as if WordNet had said "different"
    return np.where(features[:, IN_WORDNET] > 0, logistic(signals), logistic("names"))


@dataclass(frozen=True)
class Match:
    """The decision for one source label.

    Attributes:
        source: The source row.
        decision: ``"same"`` or ``"none"``.
        target: The best candidate's target row (the match for ``same``, the nearest
            candidate for ``none``); ``-1`` when there is no target at all.
        p_same: The model's probability that ``target`` is the same concept.
        confidence: The probability of the decision (``p_same`` or ``1 - p_same``).
        cosine: The embedding cosine of the pair.
        evidence: What decided it, strongest first.
        candidates: ``(target row, p_same, cosine)`` of the best candidates: the decided
            one (``target``) first, then the others by probability.
    """

    source: int
    decision: Literal["same", "none"]
    target: int
    p_same: float
    confidence: float
    cosine: float
    evidence: str
    candidates: tuple[tuple[int, float, float], ...] = ()


def decide(
    candidates: Candidates,
    p: npt.NDArray[np.float64],
    n_sources: int,
    *,
    threshold: float = 0.5,
    one_to_one: bool = False,
    k: int = 1,
) -> list[Match]:
    """Per source row: the best candidate and ``same`` / ``none`` (see the module docs)."""
    if not 0.0 < threshold < 1.0:
        raise BundleError(f"threshold must be between 0 and 1, got {threshold!r}")
    per_source: list[list[int]] = [[] for _ in range(n_sources)]
    for pair, i in enumerate(candidates.source):
        per_source[int(i)].append(pair)
    for pairs in per_source:
        pairs.sort(key=lambda q: (-p[q], -candidates.features[q, 0], int(candidates.target[q])))
    chosen: dict[int, int] = {}
    if one_to_one:
        from scipy.optimize import linear_sum_assignment

        eligible = [q for q in range(len(p)) if p[q] >= threshold]
        if eligible:
            rows = sorted({int(candidates.source[q]) for q in eligible})
            cols = sorted({int(candidates.target[q]) for q in eligible})
            r_at = {r: a for a, r in enumerate(rows)}
            c_at = {c: a for a, c in enumerate(cols)}
            # Maximise the summed log-odds (over the threshold's) of the pairs kept: one
            # "none" column per source (cost 0) lets a source stay unmatched, so a strong
            # pair is never traded for two weak ones.
            forbidden = 1e9
            cost = np.full((len(rows), len(cols) + len(rows)), forbidden)
            cost[:, len(cols) :][np.diag_indices(len(rows))] = 0.0
            floor = math.log(threshold) - math.log(1 - threshold)
            for q in eligible:
                odds = math.log(max(p[q], 1e-12)) - math.log(max(1 - p[q], 1e-12))
                r, c = r_at[int(candidates.source[q])], c_at[int(candidates.target[q])]
                cost[r, c] = floor - odds  # <= 0
            assigned_rows, assigned_cols = linear_sum_assignment(cost)
            for a, b in zip(assigned_rows, assigned_cols, strict=True):
                if b < len(cols) and cost[a, b] < forbidden:
                    for q in per_source[rows[a]]:
                        if int(candidates.target[q]) == cols[b]:
                            chosen[rows[a]] = q
    matches: list[Match] = []
    for i, pairs in enumerate(per_source):
        if not pairs:
            matches.append(Match(i, "none", -1, 0.0, 1.0, float("nan"), "no candidate"))
            continue
        best = pairs[0]
        if one_to_one:
            same = i in chosen
            if same:
                best = chosen[i]
        else:
            same = bool(p[best] >= threshold)
        prob = float(p[best])
        cosine = float(candidates.features[best, 0])
        said = list(candidates.evidence[best]) if candidates.evidence else []
        said.append(f"cosine {cosine:.3f} (margin {candidates.features[best, 1]:+.3f})")
        if one_to_one and not same and prob >= threshold:
            said.insert(0, "target assigned to another source (one-to-one)")
        matches.append(
            Match(
                source=i,
                decision="same" if same else "none",
                target=int(candidates.target[best]),
                p_same=prob,
                confidence=prob if same else 1.0 - prob,
                cosine=cosine,
                evidence="; ".join(said),
                candidates=tuple(  # the decided pair first
                    (int(candidates.target[q]), float(p[q]), float(candidates.features[q, 0]))
                    for q in [best, *(q for q in pairs if q != best)][:k]
                ),
            )
        )
    return matches


def match_labels(
    sources: Sequence[Label],
    source_vectors: Any,
    targets: Sequence[Label],
    target_vectors: Any,
    *,
    k: int = 1,
    threshold: float = 0.5,
    one_to_one: bool = False,
    signals: MatchSignals = "all",
    metadata: bool = True,
) -> list[Match]:
    """Decide ``same`` or ``none`` for every source label (see the module docs).

    Args:
        sources: Source labels.
        source_vectors: Their embeddings.
        targets: Target labels.
        target_vectors: Their embeddings (the same encoder and dimension).
        k: Candidates kept per decision (``Match.candidates``).
        threshold: ``same`` when the best candidate's probability reaches it.
        one_to_one: Keep at most one source per target (maximum-likelihood assignment).
        signals: ``"all"`` (default), ``"wordnet"`` (no definitions), ``"names"`` (names
            and embeddings) or ``"embeddings"`` (cosines only).
        metadata: Use the datasets' synsets and definitions.

    Returns:
        One :class:`Match` per source label, in order.
    """
    if signals not in SIGNALS:
        raise BundleError(f"signals={signals!r} is not one of {list(SIGNALS)}")
    candidates = candidate_pairs(
        sources, source_vectors, targets, target_vectors, metadata=metadata
    )
    p = score(candidates.features, signals)
    return decide(candidates, p, len(sources), threshold=threshold, one_to_one=one_to_one, k=k)
