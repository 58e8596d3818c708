"""The label matcher (``scaledet_labels.bundle.matching``), ``match`` on a bundle
(``scaledet_labels.bundle.queries``) and merge files read back by ``LabelSpace.union``.

Embeddings are hand-made (no encoder): labels sit on orthonormal directions of a 32-d
space and a source label is placed at a chosen cosine to its target, at cosine 0 to
every other target, the way a real encoder puts different concepts apart.
"""

from __future__ import annotations

import doctest
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import scaledet_labels as sl
from scaledet_labels import LabelSpace, LabelSpaceError, load_vocabulary
from scaledet_labels.bundle import matching, queries
from scaledet_labels.bundle.matching import (
    FEATURES,
    SIGNALS,
    Candidates,
    Match,
    candidate_pairs,
    decide,
    fold,
    load_model,
    match_labels,
    normalize,
    score,
)
from scaledet_labels.bundle.queries import MATCH_COLUMNS, MERGE_COLUMNS, merges_table
from scaledet_labels.errors import BundleError
from scaledet_labels.vocab.merge import read_merges

DIM = 32
BASIS = np.linalg.qr(np.random.default_rng(0).standard_normal((DIM, DIM)))[0].T


def axis(i: int) -> np.ndarray:
    """A unit vector, orthogonal to every other ``axis(j)``."""
    return BASIS[i].astype(np.float32)


def near(i: int, cosine: float, spare: int) -> np.ndarray:
    """A unit vector at ``cosine`` to ``axis(i)`` (tilted towards ``axis(spare)``)."""
    v = cosine * BASIS[i] + math.sqrt(1.0 - cosine * cosine) * BASIS[spare]
    return v.astype(np.float32)


def vocab(items: Sequence[Any], name: str) -> sl.Vocabulary:
    """A vocabulary from names, or from ``{"name", ...}`` records (synonyms, synset)."""
    records = [item if isinstance(item, dict) else {"name": item} for item in items]
    return load_vocabulary(records, name=name)


def one(
    source: str | dict[str, Any],
    target: str | dict[str, Any],
    cosine: float,
    *,
    others: Sequence[tuple[str, float]] = (),
    **kwargs: Any,
) -> Match:
    """Match one source label against ``target`` (at ``cosine`` to it) and ``others``,
    ``(name, cosine)`` targets at their own cosines to the source."""
    a = vocab([source], "a")
    b = vocab([target, *(name for name, _ in others)], "b")
    cosines = [cosine, *(c for _, c in others)]
    targets = np.stack([near(0, c, 1 + j) for j, c in enumerate(cosines)])
    (found,) = match_labels(a.labels, axis(0)[None], b.labels, targets, **kwargs)
    return found


#: Neighbours of a sports-gear label at cosines like those of a sentence encoder
#: (MiniLM, the default) and of CLIP, whose unrelated names lie closer together.
MINILM_GEAR = (("baseball bat", 0.5), ("frisbee", 0.4), ("kite", 0.3))
CLIP_GEAR = (("baseball bat", 0.8), ("frisbee", 0.75), ("kite", 0.7))
STREET = (("fire hydrant", 0.45), ("bench", 0.4), ("bicycle", 0.3))


# -- names ------------------------------------------------------------------------------------
def test_module_doctests() -> None:
    assert doctest.testmod(matching).failed == 0


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("bow_(weapon)", "bow"),
        ("Table-tennis racket", "table tennis racket"),
        ("T-shirt", "t shirt"),
        ("  Traffic   Light ", "traffic light"),
        ("salt & pepper", "salt and pepper"),
        ("bat [animal]", "bat"),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("tennis rackets", "tennis racket"),
        ("geese", "goose"),
        ("dogs", "dog"),
        ("glasses", "glass"),
        ("dog", "dog"),
        ("grass", "grass"),  # not a plural
        ("zorblats", "zorblat"),  # unknown to WordNet: a plain -s is dropped
        ("bus", "bus"),
    ],
)
def test_fold(name: str, expected: str) -> None:
    assert fold(name) == expected


# -- decisions --------------------------------------------------------------------------------
def test_same_names_with_close_vectors_are_same() -> None:
    a = vocab(["dog", "cat", "car", "person"], "a")
    b = vocab(["person", "car", "cat", "dog", "bicycle"], "b")
    order = [3, 2, 1, 0]  # a[i] is b[order[i]]
    targets = np.stack([axis(j) for j in range(len(b))])
    sources = np.stack([near(j, 0.97, 20 + i) for i, j in enumerate(order)])
    found = match_labels(a.labels, sources, b.labels, targets)
    assert [m.source for m in found] == [0, 1, 2, 3]
    for m, j in zip(found, order, strict=True):
        assert (m.decision, m.target) == ("same", j), m
        assert m.confidence > 0.5 and m.confidence == m.p_same
        assert m.evidence.startswith("same name"), m.evidence
        assert "cosine 0.970" in m.evidence
        assert m.cosine == pytest.approx(0.97, abs=1e-5)


def test_a_label_without_counterpart_and_far_vector_is_none() -> None:
    a = vocab(["dog", "parking meter"], "a")
    b = vocab(["dog", "cat", "car"], "b")
    targets = np.stack([axis(j) for j in range(3)])
    sources = np.stack([near(0, 0.98, 20), axis(25)])  # parking meter: cosine 0 to all
    dog, meter = match_labels(a.labels, sources, b.labels, targets)
    assert (dog.decision, dog.target) == ("same", 0)
    assert meter.decision == "none"
    assert meter.p_same < 0.5 and meter.confidence == pytest.approx(1 - meter.p_same)
    assert meter.confidence > 0.5
    assert 0 <= meter.target < 3  # the best (rejected) candidate is still named
    assert "same name" not in meter.evidence


def test_a_name_that_extends_the_other_is_not_the_same_concept() -> None:
    """With CLIP-like neighbours, 'table tennis racket' at 0.96 is not 'tennis racket'."""
    found = one("tennis racket", "table tennis racket", 0.96, others=CLIP_GEAR)
    assert found.target == 0
    assert "one name extends the other with words" in found.evidence
    assert found.decision == "none", found
    assert found.confidence == pytest.approx(1 - found.p_same)


@pytest.mark.parametrize("others", [MINILM_GEAR, CLIP_GEAR], ids=["minilm-like", "clip-like"])
def test_the_same_name_wins_over_an_extended_one(others: tuple[tuple[str, float], ...]) -> None:
    """The issue's example: OpenImages has both 'Tennis racket' and 'Table tennis racket'
    close to COCO's 'tennis racket' (0.960); the decision is the one with the same name."""
    source = vocab(["tennis racket"], "src")
    names = ["Table tennis racket", "Tennis racket", *(name for name, _ in others)]
    target = vocab(names, "tgt")
    cosines = [0.96, 0.95, *(c for _, c in others)]
    targets = np.stack([near(0, c, 1 + j) for j, c in enumerate(cosines)])
    found = match_labels(source.labels, axis(0)[None], target.labels, targets)[0]
    assert (found.decision, target.labels[found.target].name) == ("same", "Tennis racket")


def test_synsets_given_by_the_datasets_that_differ_say_none() -> None:
    source = {"name": "tennis racket", "synset": "tennis_racket.n.01"}
    target = {"name": "table tennis racket", "synset": "table-tennis_racquet.n.01"}
    found = one(source, target, 0.96, others=CLIP_GEAR)
    assert found.decision == "none"
    assert "different WordNet synsets" in found.evidence
    assert "table-tennis_racquet.n.01" in found.evidence


@pytest.mark.parametrize("signals", SIGNALS)
def test_parking_meter_is_not_a_traffic_sign(signals: str) -> None:
    found = one("parking meter", "traffic sign", 0.586, others=STREET, signals=signals)
    assert (found.decision, found.target) == ("none", 0)
    assert found.confidence > 0.5
    assert "cosine 0.586" in found.evidence


def test_a_lone_target_at_a_low_cosine_is_not_the_same() -> None:
    """Matching against a one-label vocabulary: nothing to compare the cosine with, but
    0.586 between two different names is no more 'same' than in a larger vocabulary."""
    alone = one("parking meter", "traffic sign", 0.586)
    among = one("parking meter", "traffic sign", 0.586, others=STREET)
    assert among.decision == "none"
    assert alone.decision == "none", alone


@pytest.mark.parametrize(
    ("source", "target"),
    [("Dogs", "dog"), ("dog", "Dogs"), ("Geese", "goose"), ("Tennis rackets", "tennis racket")],
)
def test_plurals_are_folded(source: str, target: str) -> None:
    found = one(source, target, 0.97, others=(("cat", 0.5), ("car", 0.3)))
    assert (found.decision, found.target) == ("same", 0)
    assert found.evidence.startswith("same name after plural/case folding"), found.evidence


def test_case_alone_is_the_same_name() -> None:
    found = one("DOG", "dog", 0.97, others=(("cat", 0.5),))
    assert (found.decision, found.target) == ("same", 0)
    assert found.evidence.startswith("same name;")


def test_a_synonym_of_one_is_the_name_of_the_other() -> None:
    """Labels with synonyms, as a {name, synonyms} vocabulary source gives them."""
    a = vocab([{"name": "tvmonitor", "synonyms": ["television", "tv"]}, "dog"], "a")
    b = vocab(["cat", "television", "dog"], "b")
    assert a[0].synonyms == ("television", "tv")
    targets = np.stack([axis(j) for j in range(3)])
    sources = np.stack([near(1, 0.95, 20), near(2, 0.98, 21)])
    tv, dog = match_labels(a.labels, sources, b.labels, targets)
    assert (tv.decision, tv.target) == ("same", 1)
    assert "a synonym of one is a name of the other" in tv.evidence
    assert (dog.decision, dog.target) == ("same", 2)
    # the other way round: the target carries the synonym
    back = match_labels(b.labels, targets, a.labels, sources)
    assert (back[1].decision, back[1].target) == ("same", 0)
    assert "a synonym of one is a name of the other" in back[1].evidence


def test_a_synonym_is_a_candidate_however_far_its_embedding() -> None:
    """Candidates: the 10 nearest by cosine plus every target sharing a name form."""
    names = [f"zorblat{i}" for i in range(14)] + ["television"]
    a = vocab([{"name": "tvmonitor", "synonyms": ["television"]}], "a")
    b = vocab(names, "b")
    source = axis(0)
    # 14 decoys at cosines 0.7..0.4, the synonym target at cosine 0 (far beyond the 10)
    targets = np.stack(
        [near(0, 0.7 - 0.02 * i, 1 + i) for i in range(14)] + [axis(20)], dtype=np.float32
    )
    found = candidate_pairs(a.labels, source[None], b.labels, targets)
    pairs = set(zip(found.source.tolist(), found.target.tolist(), strict=True))
    assert (0, 14) in pairs
    assert len(pairs) == 11  # the 10 nearest and the synonym
    row = found.target.tolist().index(14)
    assert found.features[row, FEATURES.index("synonym")] == 1.0
    assert found.features[row, FEATURES.index("cosine")] == pytest.approx(0.0, abs=1e-6)
    assert found.features.shape == (11, len(FEATURES))
    assert len(found.evidence) == 11


# -- one-to-one -------------------------------------------------------------------------------
def test_one_to_one_keeps_at_most_one_source_per_target() -> None:
    a = vocab(["dog", "Dogs", "cat"], "a")
    b = vocab(["dog", "cat", "car"], "b")
    targets = np.stack([axis(j) for j in range(3)])
    sources = np.stack([near(0, 0.99, 20), near(0, 0.96, 21), near(1, 0.97, 22)])
    many = match_labels(a.labels, sources, b.labels, targets)
    assert [(m.decision, m.target) for m in many] == [("same", 0), ("same", 0), ("same", 1)]
    found = match_labels(a.labels, sources, b.labels, targets, one_to_one=True)
    same = [m for m in found if m.decision == "same"]
    assert len({m.target for m in same}) == len(same)  # one source per target
    assert [(m.decision, m.target) for m in found] == [("same", 0), ("none", 0), ("same", 1)]
    loser = found[1]
    assert loser.evidence.startswith("target assigned to another source (one-to-one)")
    assert loser.p_same == many[1].p_same and loser.confidence == pytest.approx(1 - loser.p_same)


def _candidates(pairs: list[tuple[int, int, float]]) -> Candidates:
    """Hand-made candidate pairs ``(source, target, cosine)`` with no name features."""
    features = np.zeros((len(pairs), len(FEATURES)))
    features[:, 0] = [c for _, _, c in pairs]
    return Candidates(
        np.array([s for s, _, _ in pairs], dtype=np.int64),
        np.array([t for _, t, _ in pairs], dtype=np.int64),
        features,
        [[] for _ in pairs],
    )


def test_one_to_one_maximises_the_summed_log_odds() -> None:
    """docs/matching.md: "among the pairs that reach the threshold it picks the assignment
    with the largest summed log-odds". Source 0 is almost surely target 0 (p 0.999,
    log-odds 6.9); giving it target 1 and source 1 target 0 (p 0.6 each, 0.4 + 0.4) is
    far less likely than source 0 -> target 0 alone."""
    candidates = _candidates([(0, 0, 0.99), (0, 1, 0.8), (1, 0, 0.8), (1, 1, 0.3)])
    p = np.array([0.999, 0.6, 0.6, 0.1])
    found = decide(candidates, p, 2, one_to_one=True, k=2)
    assert (found[0].decision, found[0].target) == ("same", 0), found[0]
    assert found[1].decision == "none", found[1]


def test_one_to_one_can_give_a_source_its_second_best_target() -> None:
    candidates = _candidates([(0, 0, 0.99), (0, 1, 0.3), (1, 0, 0.97), (1, 1, 0.93)])
    p = np.array([0.99, 0.1, 0.95, 0.7])
    first, second = decide(candidates, p, 2, one_to_one=True, k=2)
    assert (first.decision, first.target, first.p_same) == ("same", 0, 0.99)
    assert (second.decision, second.target, second.p_same) == ("same", 1, 0.7)
    assert second.confidence == 0.7
    # the decided target comes first; its best candidate (which went to source 0) next
    assert [c[0] for c in second.candidates] == [1, 0]


# -- options and errors ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def mixed() -> tuple[sl.Vocabulary, np.ndarray, sl.Vocabulary, np.ndarray]:
    a = vocab(["dog", "Cats", "parking meter", "sofa", "tennis racket", "zorblat"], "a")
    b = vocab(["dog", "cat", "traffic sign", "couch", "table tennis racket", "car"], "b")
    targets = np.stack([axis(j) for j in range(len(b))])
    sources = np.stack(
        [
            near(0, 0.98, 20),
            near(1, 0.96, 21),
            near(2, 0.586, 22),
            near(3, 0.93, 23),
            near(4, 0.96, 24),
            axis(25),
        ]
    )
    return a, sources, b, targets


@pytest.mark.parametrize("signals", SIGNALS)
def test_every_signal_set_runs(mixed: Any, signals: str) -> None:
    a, sources, b, targets = mixed
    found = match_labels(a.labels, sources, b.labels, targets, signals=signals, k=3)
    assert len(found) == len(a)
    for m in found:
        assert m.decision in ("same", "none")
        assert 0.0 <= m.p_same <= 1.0
        assert m.confidence == pytest.approx(m.p_same if m.decision == "same" else 1 - m.p_same)
        assert m.confidence >= 0.5
        assert 0 <= m.target < len(b)
        assert f"cosine {m.cosine:.3f}" in m.evidence
    assert found[0].target == 0 and found[0].decision == "same"  # dog, in every set


def test_signal_sets_use_a_prefix_of_the_features() -> None:
    model = load_model()
    assert model["features"] == list(FEATURES)
    assert set(model["models"]) == set(SIGNALS)
    widths = {s: len(model["models"][s]["weights"]) for s in SIGNALS}
    assert widths["embeddings"] == 3
    assert widths["embeddings"] < widths["names"] < widths["wordnet"] < widths["all"]
    assert widths["all"] == len(FEATURES)
    rng = np.random.default_rng(0)
    features = rng.uniform(0, 1, size=(7, len(FEATURES)))
    changed = features.copy()
    changed[:, widths["embeddings"] :] = rng.uniform(0, 1, size=(7, len(FEATURES) - 3))
    np.testing.assert_array_equal(score(features, "embeddings"), score(changed, "embeddings"))
    assert not np.array_equal(score(features, "all"), score(changed, "all"))
    p = score(features, "all")
    assert p.shape == (7,) and np.all((p >= 0) & (p <= 1))


@pytest.mark.parametrize("signals", ["bogus", "ALL", "", "name"])
def test_bad_signals_are_refused(mixed: Any, signals: str) -> None:
    a, sources, b, targets = mixed
    with pytest.raises(BundleError, match="signals=") as info:
        match_labels(a.labels, sources, b.labels, targets, signals=signals)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)
    assert repr(signals) in str(info.value)
    with pytest.raises(BundleError, match="signals="):
        score(np.zeros((1, len(FEATURES))), signals)  # type: ignore[arg-type]


@pytest.mark.parametrize("threshold", [0.0, 1.0, 1.5, -0.1, float("nan")])
def test_bad_thresholds_are_refused(mixed: Any, threshold: float) -> None:
    a, sources, b, targets = mixed
    with pytest.raises(BundleError, match="threshold"):
        match_labels(a.labels, sources, b.labels, targets, threshold=threshold)


def test_threshold_moves_the_decision_not_the_probability(mixed: Any) -> None:
    a, sources, b, targets = mixed
    default = match_labels(a.labels, sources, b.labels, targets)
    strict = match_labels(a.labels, sources, b.labels, targets, threshold=0.999999)
    lenient = match_labels(a.labels, sources, b.labels, targets, threshold=1e-6)
    for d, s, loose in zip(default, strict, lenient, strict=True):
        assert d.p_same == s.p_same == loose.p_same and d.target == s.target == loose.target
        assert s.decision == ("same" if s.p_same >= 0.999999 else "none")
        assert loose.decision == "same"
        assert loose.confidence == loose.p_same
    assert sum(m.decision == "same" for m in strict) < sum(m.decision == "same" for m in default)


def test_metadata_false_ignores_the_given_synsets_and_definitions() -> None:
    gloss = "a member of the genus Canis that has been domesticated by man"
    source = {"name": "qzxv", "synset": "dog.n.01", "definition": gloss}
    target = {"name": "wplk", "synset": "dog.n.01", "definition": gloss}
    a, b = vocab([source], "a"), vocab([target, "car", "cat"], "b")
    assert a[0].synset == "dog.n.01" and a[0].definition == gloss
    targets = np.stack([axis(j) for j in range(3)])
    sources = near(0, 0.9, 20)[None]
    given = match_labels(a.labels, sources, b.labels, targets)[0]
    ignored = match_labels(a.labels, sources, b.labels, targets, metadata=False)[0]
    assert "shared WordNet synset dog.n.01 (given by both datasets)" in given.evidence
    assert "definitions overlap (1.00)" in given.evidence
    assert "dog.n.01" not in ignored.evidence and "definitions" not in ignored.evidence
    assert given.p_same > ignored.p_same
    assert given.decision == "same"
    with_meta = candidate_pairs(a.labels, sources, b.labels, targets)
    without = candidate_pairs(a.labels, sources, b.labels, targets, metadata=False)
    for name in ("synset_given", "definition"):
        column = FEATURES.index(name)
        assert with_meta.features[with_meta.target.tolist().index(0), column] == 1.0
        assert np.all(without.features[:, column] == 0.0)


def test_shape_mismatches_are_refused() -> None:
    a = vocab(["dog", "cat"], "a")
    b = vocab(["dog", "cat", "car"], "b")
    good_a, good_b = np.eye(2, 4, dtype=np.float32), np.eye(3, 4, dtype=np.float32)
    with pytest.raises(BundleError, match=r"source vectors: expected \(2, dim\)"):
        match_labels(a.labels, np.eye(3, 4), b.labels, good_b)
    with pytest.raises(BundleError, match=r"target vectors: expected \(3, dim\)"):
        match_labels(a.labels, good_a, b.labels, np.eye(2, 4))
    with pytest.raises(BundleError, match="source vectors"):
        match_labels(a.labels, np.ones(4), b.labels, good_b)  # 1-d
    with pytest.raises(BundleError, match="4-d but targets 5-d"):
        match_labels(a.labels, good_a, b.labels, np.eye(3, 5))
    with pytest.raises(BundleError, match="target vectors"):
        candidate_pairs(a.labels, good_a, b.labels, np.ones((3, 4, 1)))


def test_k_lists_candidates_best_first(mixed: Any) -> None:
    a, sources, b, targets = mixed
    for k in (1, 3, 6):
        found = match_labels(a.labels, sources, b.labels, targets, k=k)
        for m in found:
            assert len(m.candidates) == min(k, len(b))
            ps = [p for _, p, _ in m.candidates]
            assert ps == sorted(ps, reverse=True)
            assert m.candidates[0] == (m.target, m.p_same, m.cosine)
            assert len({t for t, _, _ in m.candidates}) == len(m.candidates)
            for t, p, cos in m.candidates:
                assert 0 <= t < len(b) and 0.0 <= p <= 1.0
                assert cos == pytest.approx(float(sources[m.source] @ targets[t]), abs=1e-5)


def test_empty_sources_or_targets() -> None:
    a = vocab(["dog", "cat"], "a")
    b = vocab(["dog"], "b")
    assert match_labels([], np.zeros((0, 4)), b.labels, np.eye(1, 4)) == []
    found = match_labels(a.labels, np.eye(2, 4), [], np.zeros((0, 4)))
    assert [(m.decision, m.target, m.confidence, m.evidence) for m in found] == [
        ("none", -1, 1.0, "no candidate"),
        ("none", -1, 1.0, "no candidate"),
    ]
    assert math.isnan(found[0].cosine) and found[0].candidates == ()


# -- match on a bundle ------------------------------------------------------------------------
A_NAMES = ["dog", "Cats", "parking meter", "zorblat"]
B_NAMES = ["cat", "dog", "traffic sign", "car"]
C_NAMES = ["dog", "bicycle"]


@pytest.fixture(scope="module")
def bundle() -> sl.LabelSpaceBundle:
    space = LabelSpace.union([A_NAMES, B_NAMES, C_NAMES], names=["a", "b", "c"])
    b_rows = np.stack([axis(j) for j in range(4)])
    a_rows = np.stack([near(1, 0.98, 10), near(0, 0.97, 11), near(2, 0.586, 12), axis(13)])
    c_rows = np.stack([near(1, 0.95, 14), axis(4)])
    return sl.build_label_space(space, precomputed={"a": a_rows, "b": b_rows, "c": c_rows})


def test_match_on_a_bundle(bundle: sl.LabelSpaceBundle) -> None:
    frame = queries.match(bundle, "a", to="b")
    assert list(frame.columns) == MATCH_COLUMNS
    assert len(frame) == len(A_NAMES)
    assert frame["rank"].tolist() == [1, 1, 1, 1]
    assert frame["source_name"].tolist() == A_NAMES
    assert frame["source_index"].tolist() == [0, 1, 2, 3]
    assert set(frame["dataset"]) == {"b"}
    decided = dict(
        zip(frame["source_name"], zip(frame["decision"], frame["name"], strict=True), strict=True)
    )
    assert decided["dog"] == ("same", "dog")
    assert decided["Cats"] == ("same", "cat")
    assert decided["parking meter"] == ("none", "traffic sign")
    assert decided["zorblat"][0] == "none"
    for row in frame.itertuples():
        assert row.source_ref == f"a:{row.source_name}"
        assert row.target_ref == f"b:{row.name}"
        assert row.index == bundle.label_space.find(row.name, dataset="b").index
        expected = row.p_same if row.decision == "same" else 1 - row.p_same
        assert row.confidence == pytest.approx(expected)
        assert row.cosine == pytest.approx(
            float(
                bundle.embeddings[bundle.label_space.find(row.source_name, "a").index]
                @ bundle.embeddings[row.index]
            ),
            abs=1e-5,
        )
    # the bundle's method forwards to queries.match
    pd.testing.assert_frame_equal(bundle.match("a", to="b"), frame)


def test_match_k_lists_alternatives_below_the_decision(bundle: sl.LabelSpaceBundle) -> None:
    frame = bundle.match("a", to="b", k=3)
    assert list(frame.columns) == MATCH_COLUMNS
    assert len(frame) == 3 * len(A_NAMES)
    assert frame["rank"].tolist() == [1, 2, 3] * len(A_NAMES)
    first = frame[frame["rank"] == 1]
    below = frame[frame["rank"] > 1]
    assert set(first["decision"]) <= {"same", "none"}
    assert set(below["decision"]) == {"alternative"}
    assert below["confidence"].isna().all() and (below["evidence"] == "").all()
    assert (first["evidence"] != "").all()
    for _, group in frame.groupby("source_index"):
        assert group["p_same"].is_monotonic_decreasing
        assert group["name"].nunique() == 3
    pd.testing.assert_frame_equal(
        first.reset_index(drop=True), bundle.match("a", to="b").reset_index(drop=True)
    )


def test_match_targets_every_other_dataset_by_default(bundle: sl.LabelSpaceBundle) -> None:
    frame = bundle.match("a", k=6)
    assert set(frame["dataset"]) == {"b", "c"}  # never the source itself
    assert "a" not in set(frame["dataset"])
    both = bundle.match("a", to=["b", "c"], k=6)
    pd.testing.assert_frame_equal(frame, both)
    only_c = bundle.match("a", to="c")
    assert set(only_c["dataset"]) == {"c"}
    assert only_c.loc[0, ["decision", "name"]].tolist() == ["same", "dog"]
    from_c = bundle.match("c")
    assert set(from_c["dataset"]) == {"a", "b"}


def test_match_with_no_target_labels(bundle: sl.LabelSpaceBundle) -> None:
    frame = bundle.match("a", to=[])
    assert list(frame.columns) == MATCH_COLUMNS
    assert frame["decision"].tolist() == ["none"] * len(A_NAMES)
    assert frame["evidence"].tolist() == ["no candidate"] * len(A_NAMES)
    assert frame["target_ref"].isna().all() and frame["name"].isna().all()
    assert merges_table(frame).empty


def test_match_errors(bundle: sl.LabelSpaceBundle) -> None:
    with pytest.raises(LabelSpaceError, match="unknown dataset 'zzz'"):
        bundle.match("a", to="zzz")
    with pytest.raises(BundleError, match="k must be a positive integer"):
        bundle.match("a", to="b", k=0)
    with pytest.raises(BundleError, match="threshold"):
        bundle.match("a", to="b", threshold=1.0)
    with pytest.raises(BundleError, match="signals="):
        bundle.match("a", to="b", signals="bogus")  # type: ignore[arg-type]
    # a vocabulary outside the bundle needs its encoder; this one has only precomputed rows
    with pytest.raises(BundleError, match="no reloadable encoder"):
        bundle.match(["kitten", "puppy"], to="b")


def test_match_one_to_one_on_a_bundle() -> None:
    space = LabelSpace.union([["dog", "Dogs"], ["dog", "cat"]], names=["a", "b"])
    rows = {"a": np.stack([near(0, 0.99, 5), near(0, 0.96, 6)]), "b": np.stack([axis(0), axis(1)])}
    bundle = sl.build_label_space(space, precomputed=rows)
    assert bundle.match("a", to="b")["decision"].tolist() == ["same", "same"]
    frame = bundle.match("a", to="b", one_to_one=True)
    assert frame["decision"].tolist() == ["same", "none"]
    assert merges_table(frame)["target"].tolist() == ["b:dog"]


def test_match_table_reports_the_target_one_to_one_decided(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With one_to_one a source may be assigned its second-best candidate (its best went to
    a more likely source). The rank-1 row carries the decision, so it must name the target
    decided, as Match.target does, and the merge table must not send two sources to one
    target. A cosine-only model makes p_same a known function of the cosine."""
    model = {
        "features": list(FEATURES),
        "models": {"embeddings": {"weights": [40.0, 0.0, 0.0], "bias": -36.0}},
    }
    monkeypatch.setattr(matching, "load_model", lambda: model)
    c0, c1 = np.zeros(4), np.zeros(4)
    c0[0], c1[:2] = 1.0, (0.9, math.sqrt(1 - 0.81))
    r0 = np.array([0.99, -0.1, 0.0, 0.0])
    r0[3] = math.sqrt(1 - r0 @ r0)
    r1 = np.array([0.97, (0.93 - 0.9 * 0.97) / c1[1], 0.0, 0.0])
    r1[2] = math.sqrt(1 - r1 @ r1)
    sources, targets = np.stack([r0, r1]), np.stack([c0, c1])
    # alpha-gamma 0.99, alpha-delta 0.85 (below 0.9: p < 0.5); beta-gamma 0.97, beta-delta 0.93
    np.testing.assert_allclose(sources @ targets.T, [[0.99, 0.847], [0.97, 0.93]], atol=1e-3)
    space = LabelSpace.union([["alpha", "beta"], ["gamma", "delta"]], names=["a", "b"])
    bundle = sl.build_label_space(space, precomputed={"a": sources, "b": targets})

    decided = match_labels(
        space.vocabulary("a").labels,
        sources,
        space.vocabulary("b").labels,
        targets,
        signals="embeddings",
        one_to_one=True,
    )
    assert [(m.decision, m.target) for m in decided] == [("same", 0), ("same", 1)]

    frame = bundle.match("a", to="b", signals="embeddings", one_to_one=True)
    beta = frame[frame["source_name"] == "beta"].iloc[0]
    assert beta["decision"] == "same"
    assert beta["confidence"] == pytest.approx(decided[1].p_same)
    assert (beta["name"], beta["target_ref"]) == ("delta", "b:delta"), beta.to_dict()
    assert beta["p_same"] == pytest.approx(beta["confidence"])
    table = merges_table(frame)
    assert table["target"].is_unique, table


# -- merge files ------------------------------------------------------------------------------
A_VOCAB, B_VOCAB = A_NAMES, B_NAMES  # the bundle's vocabularies, loaded again


def test_merges_table(bundle: sl.LabelSpaceBundle) -> None:
    frame = bundle.match("a", to="b", k=2)
    table = merges_table(frame)
    assert list(table.columns) == MERGE_COLUMNS
    assert list(zip(table["source"], table["target"], strict=True)) == [
        ("a:dog", "b:dog"),
        ("a:Cats", "b:cat"),
    ]
    same = frame[frame["decision"] == "same"]
    assert table["confidence"].tolist() == same["confidence"].tolist()
    assert table["evidence"].tolist() == same["evidence"].tolist()
    assert table.index.tolist() == [0, 1]


def _merged_pairs(space: LabelSpace) -> set[tuple[str, str]]:
    return {
        tuple(f"{ds}:{label.name}" for ds, label in u.sources)  # type: ignore[misc]
        for u in space
        if len(u.sources) > 1
    }


def test_round_trip_through_a_csv_merge_file(bundle: sl.LabelSpaceBundle, tmp_path: Path) -> None:
    frame = bundle.match("a", to="b")
    path = tmp_path / "merges.csv"
    merges_table(frame).to_csv(path, index=False)
    header = "source,target,source_index,target_index,confidence,evidence"
    assert path.read_text().splitlines()[0] == header
    space = LabelSpace.union([A_VOCAB, B_VOCAB], names=["a", "b"], merge=str(path))
    assert not space.is_disjoint
    same = frame[frame["decision"] == "same"]
    assert _merged_pairs(space) == set(zip(same["source_ref"], same["target_ref"], strict=True))
    assert len(space) == len(A_VOCAB) + len(B_VOCAB) - len(same)
    assert space.to_unified("a", 0) == space.to_unified("b", 1)  # dog
    assert space.to_unified("a", 1) == space.to_unified("b", 0)  # Cats / cat
    # the labels decided none keep their own unified index
    assert space.to_unified("a", 2) != space.to_unified("b", 2)
    unified = [space.to_unified("a", i) for i in range(4)] + [
        space.to_unified("b", j) for j in range(4)
    ]
    assert len(set(unified)) == len(space)
    # a Path works the same as a str
    again = LabelSpace.union([A_VOCAB, B_VOCAB], names=["a", "b"], merge=path)
    assert again.merge_groups == space.merge_groups


def test_round_trip_keeps_case_variant_labels_apart(tmp_path: Path) -> None:
    """A vocabulary may hold 'Person' and 'person' (on_duplicate='disambiguate'). The
    merge file must bring back the label the matcher decided, not its case variant."""
    a = load_vocabulary(["person", "car"], name="a")
    b = load_vocabulary(["Person", "person", "truck"], name="b", on_duplicate="disambiguate")
    space = LabelSpace.union([a, b])
    rows = {"a": np.stack([axis(0), axis(1)]), "b": np.stack([axis(3), axis(0), axis(4)])}
    bundle = sl.build_label_space(space, precomputed=rows)
    frame = bundle.match("a", to="b")
    person = frame.iloc[0]
    assert (person["decision"], person["index"]) == ("same", space.to_unified("b", 1))
    path = tmp_path / "merges.csv"
    merges_table(frame).to_csv(path, index=False)
    merged = LabelSpace.union([a, b], merge=path)
    assert merged.to_unified("a", 0) == merged.to_unified("b", 1), merged.merge_groups
    assert merged.to_unified("b", 0) != merged.to_unified("a", 0)


def test_a_decision_column_keeps_only_same_rows(
    bundle: sl.LabelSpaceBundle, tmp_path: Path
) -> None:
    frame = bundle.match("a", to="b", k=2)
    assert {"same", "none", "alternative"} <= set(frame["decision"])
    path = tmp_path / "decisions.csv"
    frame.rename(columns={"source_ref": "source", "target_ref": "target"}).to_csv(path, index=False)
    # the source's own index column is used, the target is found by its reference
    assert read_merges(path) == [[("a", 0), "b:dog"], [("a", 1), "b:cat"]]
    space = LabelSpace.union([A_VOCAB, B_VOCAB], names=["a", "b"], merge=str(path))
    assert _merged_pairs(space) == {("a:dog", "b:dog"), ("a:Cats", "b:cat")}


def test_tsv_and_json_merge_files(tmp_path: Path) -> None:
    tsv = tmp_path / "m.tsv"
    tsv.write_text("source\ttarget\tnote\na:dog\tb:dog\tchecked\n")
    space = LabelSpace.union([A_VOCAB, B_VOCAB], names=["a", "b"], merge=str(tsv))
    assert _merged_pairs(space) == {("a:dog", "b:dog")}

    groups = tmp_path / "groups.json"
    groups.write_text(json.dumps([["a:dog", "b:dog", "c:dog"], ["a:Cats", "b:cat"]]))
    three = LabelSpace.union([A_VOCAB, B_VOCAB, C_NAMES], names=["a", "b", "c"], merge=str(groups))
    assert three.merge_groups == [[(0, 0), (1, 1), (2, 0)], [(0, 1), (1, 0)]]
    assert len(three) == 4 + 4 + 2 - 3

    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"a:dog": "b:dog", "a:Cats": "b:cat"}))
    assert read_merges(mapping) == [["a:dog", "b:dog"], ["a:Cats", "b:cat"]]
    two = LabelSpace.union([A_VOCAB, B_VOCAB], names=["a", "b"], merge=str(mapping))
    assert _merged_pairs(two) == {("a:dog", "b:dog"), ("a:Cats", "b:cat")}


def test_merge_file_errors_name_the_file(tmp_path: Path) -> None:
    def union(merge: Any) -> LabelSpace:
        return LabelSpace.union([A_VOCAB, B_VOCAB], names=["a", "b"], merge=merge)

    columns = tmp_path / "columns.csv"
    columns.write_text("from,to\na:dog,b:dog\n")
    with pytest.raises(LabelSpaceError, match=r"missing column\(s\) \['source', 'target'\]") as e:
        union(str(columns))
    assert str(columns) in str(e.value)

    half = tmp_path / "half.csv"
    half.write_text("source,confidence\na:dog,0.9\n")
    with pytest.raises(LabelSpaceError, match=r"missing column\(s\) \['target'\]"):
        union(half)

    suffix = tmp_path / "merges.txt"
    suffix.write_text("source,target\na:dog,b:dog\n")
    with pytest.raises(LabelSpaceError, match=r"merges\.txt") as e:
        union(suffix)
    assert "'.txt'" in str(e.value) and ".csv" in str(e.value)
    with pytest.raises(LabelSpaceError, match=r"merges\.txt"):
        union(str(suffix))

    empty = tmp_path / "empty.csv"
    empty.write_text("source,target\na:dog,b:dog\n,b:cat\n")
    with pytest.raises(LabelSpaceError, match="line 3: empty source or target") as e:
        union(str(empty))
    assert str(empty) in str(e.value)

    missing = tmp_path / "missing.csv"
    with pytest.raises(LabelSpaceError, match="cannot read the merge file") as e:
        union(str(missing))
    assert str(missing) in str(e.value)

    broken = tmp_path / "broken.json"
    broken.write_text("[[")
    with pytest.raises(LabelSpaceError, match="invalid JSON") as e:
        union(str(broken))
    assert str(broken) in str(e.value)

    scalar = tmp_path / "scalar.json"
    scalar.write_text("3")
    with pytest.raises(LabelSpaceError, match="expected a list of groups or a dict"):
        union(scalar)

    unknown = tmp_path / "unknown.csv"
    unknown.write_text("source,target\na:dog,z:dog\n")
    with pytest.raises(LabelSpaceError, match="unknown dataset 'z'"):
        union(unknown)

    same_dataset = tmp_path / "twice.csv"
    same_dataset.write_text("source,target\na:dog,b:dog\na:Cats,b:dog\n")
    with pytest.raises(LabelSpaceError, match="two labels of the same dataset"):
        union(same_dataset)


def test_metadata_can_be_chosen_per_side() -> None:
    """``metadata=(source, target)``: COCO gives synsets, OpenImages does not."""
    from scaledet_labels.bundle.matching import FEATURES, candidate_pairs

    a = vocab([{"name": "mouse", "synset": "mouse.n.04"}], "a")
    b = vocab([{"name": "Mouse", "synset": "mouse.n.01"}, "Computer mouse"], "b")
    vectors = np.stack([near(0, 0.95, 1), near(0, 0.9, 2)])
    column = FEATURES.index("given_sense_unlikely")
    both = candidate_pairs(a.labels, axis(0)[None], b.labels, vectors, metadata=True)
    source_only = candidate_pairs(
        a.labels, axis(0)[None], b.labels, vectors, metadata=(True, False)
    )
    pair = {int(t): q for q, t in enumerate(source_only.target)}
    # both given and different: a relation of given synsets; source only: the animal is
    # the first sense of "Mouse", so the device (mouse.n.04) is an unlikely reading of it
    assert both.features[:, column].max() == 0.0
    assert source_only.features[pair[0], column] == pytest.approx(0.75)
    assert "not the usual WordNet sense" in "; ".join(source_only.evidence[pair[0]])
    assert source_only.features[pair[1], column] == 0.0  # computer_mouse is mouse.n.04
