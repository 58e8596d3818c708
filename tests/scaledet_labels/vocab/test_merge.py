"""Optional merge strategies (never the default): exact names, synsets, user mappings."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest

from scaledet_labels import LabelSpace, LabelSpaceError, Vocabulary
from scaledet_labels.vocab.merge import merge_groups


@pytest.fixture(scope="module")
def coco_lvis_exact() -> LabelSpace:
    return LabelSpace.union(["coco", "lvis"], merge="exact")


def test_default_is_the_disjoint_union() -> None:
    space = LabelSpace.union(["coco", "lvis"])
    assert space.is_disjoint
    assert space.merge is None
    assert len(space) == 1283


def test_exact_merges_same_clean_names(coco_lvis_exact: LabelSpace) -> None:
    space = coco_lvis_exact
    assert space.merge == "exact"
    assert not space.is_disjoint
    groups = space.merge_groups
    assert groups and all(len(g) == 2 for g in groups)
    assert len(space) == 1283 - len(groups)
    for (d0, i), (d1, j) in groups:
        assert (d0, d1) == (0, 1)
        assert space.to_unified("coco", i) == space.to_unified("lvis", j)
    dog = space.find("dog", "coco")
    assert space.find("dog", "lvis") is dog
    assert space.find("dog") is dog  # one label now, so no ambiguity
    assert [(ds, label.name) for ds, label in dog.sources] == [("coco", "dog"), ("lvis", "dog")]
    assert dog.dataset == "coco"
    with pytest.raises(LabelSpaceError, match="only for a disjoint union"):
        _ = space.offsets


def test_every_dataset_mapping_still_works(coco_lvis_exact: LabelSpace) -> None:
    space = coco_lvis_exact
    coco_u = space.to_unified("coco", np.arange(80))
    lvis_u = space.to_unified("lvis", np.arange(1203))
    assert set(coco_u.tolist()) | set(lvis_u.tolist()) == set(range(len(space)))
    assert len(set(coco_u.tolist())) == 80 and len(set(lvis_u.tolist())) == 1203
    coco_dog = space.vocabulary("coco").find("dog")
    lvis_dog = space.vocabulary("lvis").find("dog")
    assert space.map_category_ids("coco", coco_dog.id) == space.map_category_ids(
        "lvis", lvis_dog.id
    )
    u = space.to_unified("lvis", lvis_dog.index)
    assert space.from_unified(u) == ("coco", coco_dog.index)  # the first source
    masks = space.masks()
    assert masks.shape == (2, len(space))
    assert masks[:, u].all()
    assert int(masks.sum()) == 1283
    assert LabelSpace.from_json(space.to_json()) == space


def test_exact_folds_plurals_with_porter_stemmer(monkeypatch: pytest.MonkeyPatch) -> None:
    import nltk

    def no_download(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("merge must not download nltk data")

    monkeypatch.setattr(nltk, "download", no_download)
    monkeypatch.setattr(nltk.data, "path", [])
    a = Vocabulary.from_names(["dog", "glove", "cat"], name="a")
    b = Vocabulary.from_names(["Dogs", "gloves", "mouse"], name="b")
    space = LabelSpace.union([a, b], merge="exact")
    assert space.merge_groups == [[(0, 0), (1, 0)], [(0, 1), (1, 1)]]
    assert len(space) == 4
    assert space.to_unified("b", 0) == space.to_unified("a", 0)
    assert merge_groups([a, b], "exact", fold_plurals=False) == []
    plain = LabelSpace.union([a, b], merge="exact", fold_plurals=False)
    assert len(plain) == 6 and plain.is_disjoint


def test_exact_never_merges_within_one_dataset(caplog: pytest.LogCaptureFixture) -> None:
    a = Vocabulary.from_names(["glove", "gloves"], name="a")
    b = Vocabulary.from_names(["glove"], name="b")
    with caplog.at_level(logging.WARNING, logger="scaledet_labels.vocab.merge"):
        groups = merge_groups([a, b], "exact")
    assert groups == [[(0, 0), (1, 0)]]
    assert "only the first is merged" in caplog.text
    space = LabelSpace.union([a, b], merge="exact")
    assert space.to_unified("a", 0) != space.to_unified("a", 1)


def test_synset_merge_with_a_user_vocabulary() -> None:
    mine = [
        {"name": "sprayer", "synset": "aerosol.n.02"},
        {"name": "thing"},
        {"name": "hound", "synset": "dog.n.01"},
    ]
    space = LabelSpace.union(["lvis", mine], names=["lvis", "mine"], merge="synset")
    assert space.merge == "synset"
    lvis = space.vocabulary("lvis")
    can, dog = lvis.by_id(1), lvis.find("dog")
    assert space.merge_groups == [[(0, can.index), (1, 0)], [(0, dog.index), (1, 2)]]
    assert len(space) == 1203 + 3 - 2
    assert space.to_unified("mine", 0) == space.to_unified("lvis", can.index)
    assert space.to_unified("mine", 2) == space.to_unified("lvis", dog.index)
    merged = space[space.to_unified("mine", 0)]
    assert "sprayer" in merged.prompt_names and "spray can" in merged.prompt_names
    assert space.to_unified("mine", 1) == 1203 + 3 - 2 - 1
    # coco's synsets come from LVIS (77 of 80 labels): those merge with their LVIS label
    coco_lvis = LabelSpace.union(["coco", "lvis"], merge="synset")
    assert len(coco_lvis) == 80 + 1203 - 77
    assert coco_lvis.to_unified("coco", 0) == coco_lvis.to_unified(
        "lvis", coco_lvis.vocabulary("lvis").find("person").index
    )
    assert LabelSpace.union(["voc", "lvis"], merge="synset").is_disjoint  # voc has none


def test_user_mapping_list_of_groups() -> None:
    space = LabelSpace.union(
        ["coco", "lvis", "objects365"],
        merge=[
            ["coco:tv", "lvis:television_set", "objects365:Moniter/TV"],
            ["coco:dog", "lvis:dog"],
        ],
    )
    assert space.merge == "mapping"
    tv = space.find("tv", "coco")
    assert {ds for ds, _ in tv.sources} == {"coco", "lvis", "objects365"}
    assert space.find("monitor", "objects365") is tv
    assert space.find("television set", "lvis") is tv
    assert len(space) == 80 + 1203 + 365 - 3
    lvis_tv = space.vocabulary("lvis").find("television_set")
    assert space.map_category_ids("lvis", lvis_tv.id) == tv.index
    assert space.map_category_ids("objects365", 38) == tv.index


def test_user_mapping_dict_and_tuple_references() -> None:
    as_dict = LabelSpace.union(
        ["coco", "lvis"], merge={"coco:dog": "lvis:dog", "lvis:cat": "coco:cat"}
    )
    as_tuples = LabelSpace.union(
        ["coco", "lvis"],
        merge=[[("coco", "dog"), ("lvis", "dog")], [("coco", 15), ("lvis", "cat")]],
    )
    assert as_dict.vocabulary("coco")[15].name == "cat"
    assert as_dict.merge_groups == as_tuples.merge_groups
    assert len(as_dict.merge_groups) == 2
    chained = LabelSpace.union(
        ["coco", "lvis", "objects365"],
        merge={"coco:dog": "lvis:dog", "objects365:Dog": "lvis:dog"},
    )
    assert len(chained.merge_groups) == 1 and len(chained.merge_groups[0]) == 3


@pytest.mark.parametrize(
    ("merge", "pattern"),
    [
        ([["cocoo:dog", "lvis:dog"]], "unknown dataset 'cocoo'"),
        ([["coco:dogg", "lvis:dog"]], "no label named 'dogg'; did you mean 'dog'"),
        ([["coco:dog", "coco:cat"]], "would merge two labels of the same dataset"),
        ([["coco:dog", "lvis:dog"], ["lvis:dog", "coco:cat"]], "two labels of the same dataset"),
        ({"coco:dog": "coco:cat"}, "two labels of the same dataset"),
        ([["dog", "lvis:dog"]], "must look like 'dataset:label name'"),
        ([[("coco", 80), ("lvis", 0)]], "coco has labels 0..79, got index 80"),
        (["coco:dog"], "must be a list of references"),
        ("fuzzy", r"merge='fuzzy' is not one of \['exact', 'synset'\]"),
        (3, "is not one of"),
    ],
)
def test_merge_errors(merge: Any, pattern: str) -> None:
    with pytest.raises(LabelSpaceError, match=pattern):
        LabelSpace.union(["coco", "lvis"], merge=merge)


def test_constructor_refuses_bad_groups() -> None:
    a = Vocabulary.from_names(["x", "y"], name="a")
    b = Vocabulary.from_names(["x"], name="b")
    with pytest.raises(LabelSpaceError, match="in two merge groups"):
        LabelSpace([a, b], groups=[[(0, 0), (1, 0)], [(1, 0), (0, 1)]])
    with pytest.raises(LabelSpaceError, match="out of range"):
        LabelSpace([a, b], groups=[[(0, 0), (1, 5)]])
