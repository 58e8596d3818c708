"""The unified label space: disjoint union, index maps on every array type, masks, JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scaledet_labels import LabelSpace, LabelSpaceError, Vocabulary, load_vocabulary
from scaledet_labels.vocab.label_space import SCHEMA, SCHEMA_VERSION


@pytest.fixture(scope="module")
def big() -> LabelSpace:
    return LabelSpace.union(["coco", "lvis", "objects365", "oid"])


# -- union --------------------------------------------------------------------------------
def test_counts_and_offsets(big: LabelSpace) -> None:
    assert len(LabelSpace.union(["coco", "lvis"])) == 1283
    assert len(big) == 2249
    assert big.offsets.tolist() == [0, 80, 1283, 1648, 2249]
    assert big.offsets.dtype == np.int64
    assert big.datasets == ("coco", "lvis", "objects365", "oid")
    assert big.is_disjoint and big.merge is None and big.merge_groups == []
    assert "2249 labels" in repr(big)


def test_union_order_follows_the_input(big: LabelSpace) -> None:
    assert big[79].name == "toothbrush" and big[79].dataset == "coco"
    assert big[80].name == "aerosol_can" and big[80].dataset == "lvis"
    assert big[80].local_index == 0 and big[80].id == 1
    assert big[1283].dataset == "objects365" and big[1283].name == "Person"
    assert big[2248].dataset == "oid"
    reverse = LabelSpace.union(["lvis", "coco"])
    assert reverse.offsets.tolist() == [0, 1203, 1283]
    assert reverse[0].name == "aerosol_can"
    assert reverse.to_unified("coco", 79) == 1282
    assert [u.index for u in big] == list(range(2249))
    # nothing is merged: "person" appears once per dataset
    assert sum(u.clean_name == "person" for u in big) == 4


def test_same_vocabulary_twice_needs_names() -> None:
    with pytest.raises(LabelSpaceError, match="'coco' appears twice") as info:
        LabelSpace.union(["coco", "coco"])
    assert "names=" in str(info.value)
    assert "on the command line NAME=SOURCE: coco_2=coco" in str(info.value)
    space = LabelSpace.union(["coco", "coco"], names=["coco_a", "coco_b"])
    assert space.datasets == ("coco_a", "coco_b")
    assert space.offsets.tolist() == [0, 80, 160]
    assert space.to_unified("coco_b", 79) == 159
    with pytest.raises(LabelSpaceError, match="names has 1 entries for 2 vocabularies"):
        LabelSpace.union(["coco", "coco"], names=["a"])
    with pytest.raises(LabelSpaceError, match="appears twice"):
        LabelSpace.union(["coco", "voc"], names=["x", "x"])


def test_same_file_twice_names_the_file_in_the_command_line_hint(tmp_vocab_file: Any) -> None:
    path = tmp_vocab_file("extra.txt", "cat\ndog\n")
    with pytest.raises(LabelSpaceError, match="'extra' appears twice") as info:
        LabelSpace.union([path, path])
    assert f"extra_2={path}" in str(info.value)


def test_union_of_mixed_sources(tmp_vocab_file: Any) -> None:
    path = tmp_vocab_file("extra.txt", "cat\ndog\n")
    space = LabelSpace.union(["voc", path, ["a", "b", "c"]], names=["voc", "file", "inline"])
    assert space.datasets == ("voc", "file", "inline")
    assert space.offsets.tolist() == [0, 20, 22, 25]
    single = LabelSpace.union("coco")
    assert single.datasets == ("coco",) and len(single) == 80


def test_constructor_errors() -> None:
    with pytest.raises(LabelSpaceError, match="at least one vocabulary"):
        LabelSpace([])
    with pytest.raises(LabelSpaceError, match="expected Vocabulary objects"):
        LabelSpace(["coco"])  # type: ignore[list-item]
    with pytest.raises(LabelSpaceError, match="unknown dataset 'cocoo'"):
        LabelSpace.union(["coco"]).to_unified("cocoo", 0)
    with pytest.raises(LabelSpaceError, match="out of range"):
        LabelSpace.union(["coco"]).to_unified(1, 0)


# -- mappings on every array type ---------------------------------------------------------
def test_mappings_on_ints_lists_arrays_and_tensors(big: LabelSpace) -> None:
    assert big.to_unified("lvis", 0) == 80
    assert isinstance(big.to_unified("lvis", 0), int)
    assert big.to_unified(1, np.int64(2)) == 82
    assert big.to_unified("lvis", [0, 1]) == [80, 81]
    assert big.to_unified("lvis", (0, 1)) == (80, 81)

    array = big.to_unified("objects365", np.array([[0, 1], [2, 364]], dtype=np.int32))
    assert isinstance(array, np.ndarray) and array.shape == (2, 2)
    assert array.tolist() == [[1283, 1284], [1285, 1647]]

    tensor = torch.tensor([[0, 600], [1, 2]], dtype=torch.int32)
    out = big.to_unified("oid", tensor)
    assert isinstance(out, torch.Tensor)
    assert out.device == tensor.device
    assert out.shape == tensor.shape
    assert out.dtype == torch.int64
    assert out.tolist() == [[1648, 2248], [1649, 1650]]

    assert big.from_unified(80) == ("lvis", 0)
    assert big.from_unified(np.int64(2248)) == ("oid", 600)
    datasets, local = big.from_unified(np.array([0, 80, 2248]))
    assert datasets.tolist() == [0, 1, 3] and local.tolist() == [0, 0, 600]
    t_datasets, t_local = big.from_unified(torch.tensor([0, 80, 2248]))
    assert isinstance(t_datasets, torch.Tensor) and isinstance(t_local, torch.Tensor)
    assert t_datasets.tolist() == [0, 1, 3] and t_local.tolist() == [0, 0, 600]
    assert big.from_unified([0, 1283]) == ([0, 2], [0, 0])


def test_empty_inputs(big: LabelSpace) -> None:
    assert big.to_unified("coco", []) == []
    assert big.to_unified("coco", np.zeros(0, dtype=np.int64)).shape == (0,)
    assert big.to_unified("coco", torch.zeros(0, dtype=torch.long)).shape == (0,)
    assert big.map_category_ids("coco", np.zeros((0, 3), dtype=np.int64)).shape == (0, 3)


@pytest.mark.parametrize(
    "bad",
    [80, -1, [0, 80], np.array([5, -2]), torch.tensor([0, 99]), torch.tensor([-1])],
    ids=["int", "negative", "list", "numpy", "tensor", "tensor-negative"],
)
def test_out_of_range_local_indices_raise(bad: Any) -> None:
    space = LabelSpace.union(["coco", "voc"])
    with pytest.raises(LabelSpaceError, match=r"coco local index -?\d+ is out of range 0\.\.79"):
        space.to_unified("coco", bad)


@pytest.mark.parametrize("bad", [100, -1, [0, 100], np.array([100]), torch.tensor([100])])
def test_out_of_range_unified_indices_raise(bad: Any) -> None:
    space = LabelSpace.union(["coco", "voc"])
    with pytest.raises(LabelSpaceError, match=r"unified index -?\d+ is out of range 0\.\.99"):
        space.from_unified(bad)


@pytest.mark.parametrize(
    "bad", [1.0, [0.5], np.array([1.0]), torch.tensor([1.0]), True, torch.tensor([True])]
)
def test_non_integer_indices_raise(bad: Any) -> None:
    with pytest.raises(LabelSpaceError, match="must be integers"):
        LabelSpace.union(["voc"]).to_unified("voc", bad)


def test_category_ids(big: LabelSpace) -> None:
    table = big.category_id_table("coco")
    assert table.shape == (91,)
    assert table[1] == 0 and table[90] == 79
    for gap in (0, 12, 26, 29, 30, 45, 66, 68, 69, 71, 83):
        assert table[gap] == -1
    with pytest.raises(ValueError):
        table[0] = 5  # read-only
    assert big.map_category_ids("coco", 90) == 79
    assert big.map_category_ids("coco", 12) == -1
    assert big.map_category_ids("coco", [1, 12, 90, 1000, -3]) == [0, -1, 79, -1, -1]
    ids = torch.tensor([1, 12, 90, 1000, -3])
    mapped = big.map_category_ids("coco", ids)
    assert isinstance(mapped, torch.Tensor) and mapped.device == ids.device
    assert mapped.tolist() == [0, -1, 79, -1, -1]
    assert big.map_category_ids("lvis", np.array([1, 1203])).tolist() == [80, 1282]
    assert big.map_category_ids("oid", [1]) == [1648]


def test_masks_and_indices(big: LabelSpace) -> None:
    masks = big.masks()
    assert masks.shape == (4, 2249) and masks.dtype == bool
    assert masks.sum(axis=0).tolist() == [1] * 2249  # a partition
    assert masks.sum(axis=1).tolist() == [80, 1203, 365, 601]
    lvis = big.mask("lvis")
    assert lvis.shape == (2249,)
    assert np.array_equal(lvis, masks[1])
    assert lvis[80:1283].all() and not lvis[:80].any() and not lvis[1283:].any()
    assert big.indices("objects365").tolist() == list(range(1283, 1648))


def test_find(big: LabelSpace) -> None:
    brush = big.find("toothbrush", "coco")
    assert (brush.index, brush.dataset, brush.id) == (79, "coco", 90)
    assert big.find("spray can").index == 80  # an LVIS synonym, only LVIS has it
    assert big.find("Moniter/TV").dataset == "objects365"  # raw name
    oid_person = big.vocabulary("oid").find("person").index
    assert big.find("person", dataset="oid").index == big.to_unified("oid", oid_person)
    with pytest.raises(LabelSpaceError, match="several datasets") as info:
        big.find("person")
    assert "'coco'" in str(info.value) and "'lvis'" in str(info.value)
    with pytest.raises(LabelSpaceError, match="no dataset has a label named 'zzz'"):
        big.find("zzz")
    with pytest.raises(LabelSpaceError, match="coco: no label named"):
        big.find("spray can", "coco")


def test_unified_label_views(big: LabelSpace) -> None:
    can = big[80]
    assert can.key == "lvis:aerosol can"
    assert can.prompt_names[0] == "aerosol can"
    assert "spray can" in can.synonyms
    assert can.sources == (("lvis", big.vocabulary("lvis")[0]),)
    assert len({u.key for u in big}) == len(big)


def test_to_frame(big: LabelSpace) -> None:
    frame = big.to_frame()
    assert list(frame.columns) == [
        "index",
        "dataset",
        "local_index",
        "id",
        "name",
        "clean_name",
        "synonyms",
        "sources",
    ]
    assert len(frame) == 2249
    row = frame.iloc[79]
    assert (row["dataset"], row["local_index"], row["id"], row["name"]) == (
        "coco",
        79,
        90,
        "toothbrush",
    )
    assert frame["index"].tolist() == list(range(2249))
    assert frame.iloc[80]["sources"] == ["lvis:0"]


# -- JSON ---------------------------------------------------------------------------------
def test_json_round_trip_string_and_file(big: LabelSpace, tmp_path: Path) -> None:
    text = big.to_json()
    data = json.loads(text)
    assert data["schema"] == SCHEMA == "scaledet-labels/label-space"
    assert data["version"] == SCHEMA_VERSION == 1
    again = LabelSpace.from_json(text)
    assert again == big
    assert again.content_hash() == big.content_hash()
    assert again.offsets.tolist() == big.offsets.tolist()
    assert again.vocabulary("oid")[0].metadata == big.vocabulary("oid")[0].metadata
    path = tmp_path / "space.json"
    assert big.to_json(path) == text
    assert LabelSpace.from_json(path) == big
    assert LabelSpace.from_json(str(path)) == big
    assert LabelSpace.from_dict(big.to_dict()) == big


def test_newer_schema_and_foreign_json_are_refused(tmp_path: Path) -> None:
    space = LabelSpace.union(["voc"])
    data = space.to_dict()
    data["version"] = SCHEMA_VERSION + 1
    with pytest.raises(LabelSpaceError, match=r"version 2 is not supported.*upgrade"):
        LabelSpace.from_dict(data)
    with pytest.raises(LabelSpaceError, match="version 2 is not supported"):
        LabelSpace.from_json(json.dumps(data))
    for foreign in ['{"categories": []}', "[1, 2]", '{"schema": "something/else", "version": 1}']:
        with pytest.raises(LabelSpaceError, match="not a label space"):
            LabelSpace.from_json(foreign)
    with pytest.raises(LabelSpaceError, match="malformed"):
        LabelSpace.from_dict({"schema": SCHEMA, "version": 1})
    with pytest.raises(LabelSpaceError, match="invalid label-space JSON"):
        LabelSpace.from_json('{"schema": ')
    with pytest.raises(LabelSpaceError, match="no such file"):
        LabelSpace.from_json(tmp_path / "missing.json")
    not_a_space = tmp_path / "coco.json"
    not_a_space.write_text('{"images": [], "categories": []}', encoding="utf-8")
    with pytest.raises(LabelSpaceError, match="not a label space"):
        LabelSpace.from_json(not_a_space)


def test_content_hash() -> None:
    a = LabelSpace.union(["coco", "voc"])
    assert a.content_hash() == LabelSpace.union(["coco", "voc"]).content_hash()
    assert a.content_hash() != LabelSpace.union(["voc", "coco"]).content_hash()
    renamed = LabelSpace.union(["coco", "voc"], names=["coco", "pascal"])
    assert a.content_hash() != renamed.content_hash()
    assert hash(a) == hash(LabelSpace.union(["coco", "voc"]))


# -- property tests -----------------------------------------------------------------------
@st.composite
def vocab_ids(draw: st.DrawFn) -> list[list[int]]:
    """Category ids of 1..4 small datasets (unique per dataset, with gaps, any order)."""
    n = draw(st.integers(1, 4))
    return [
        draw(st.lists(st.integers(0, 40), min_size=1, max_size=8, unique=True)) for _ in range(n)
    ]


def _space(ids_per_dataset: list[list[int]]) -> LabelSpace:
    vocabs = [
        load_vocabulary([{"id": cid, "name": f"class {cid}"} for cid in ids], name=f"d{d}")
        for d, ids in enumerate(ids_per_dataset)
    ]
    return LabelSpace(vocabs)


@settings(max_examples=40, deadline=None)
@given(vocab_ids())
def test_disjoint_union_invariants(ids_per_dataset: list[list[int]]) -> None:
    space = _space(ids_per_dataset)
    sizes = [len(ids) for ids in ids_per_dataset]
    n = sum(sizes)
    assert len(space) == n
    assert space.offsets.tolist() == np.cumsum([0, *sizes]).tolist()

    seen: list[int] = []
    for d, ids in enumerate(ids_per_dataset):
        name = f"d{d}"
        for i in range(len(ids)):
            u = space.to_unified(name, i)
            assert u == space.offsets[d] + i
            assert space.from_unified(u) == (name, i)
            assert space[u].id == ids[i]
            seen.append(u)
        local = np.arange(len(ids))
        unified = space.to_unified(name, local)
        assert np.array_equal(unified, space.indices(name))
        positions, back = space.from_unified(unified)
        assert positions.tolist() == [d] * len(ids) and back.tolist() == local.tolist()
        as_tensor = space.to_unified(d, torch.from_numpy(local))
        assert as_tensor.tolist() == unified.tolist()

        table = space.category_id_table(name)
        for i, cid in enumerate(ids):
            assert table[cid] == space.to_unified(name, i)
        probes = np.arange(-3, 50)
        mapped = space.map_category_ids(name, probes)
        expected = [space.to_unified(name, ids.index(p)) if p in ids else -1 for p in probes]
        assert mapped.tolist() == expected
    assert sorted(seen) == list(range(n))  # a permutation of range(n)

    masks = space.masks()
    assert masks.shape == (len(sizes), n)
    assert (masks.sum(axis=0) == 1).all()
    assert masks.sum(axis=1).tolist() == sizes


@st.composite
def merged_pairs(draw: st.DrawFn) -> tuple[int, int, list[tuple[int, int]]]:
    size_a = draw(st.integers(1, 6))
    size_b = draw(st.integers(1, 6))
    left = draw(st.lists(st.integers(0, size_a - 1), unique=True, max_size=min(size_a, size_b)))
    right = draw(st.permutations(range(size_b)))
    return size_a, size_b, list(zip(left, right[: len(left)], strict=True))


@settings(max_examples=40, deadline=None)
@given(merged_pairs())
def test_merged_space_invariants(case: tuple[int, int, list[tuple[int, int]]]) -> None:
    size_a, size_b, pairs = case
    a = Vocabulary.from_names([f"a{i}" for i in range(size_a)], name="a")
    b = Vocabulary.from_names([f"b{i}" for i in range(size_b)], name="b")
    space = LabelSpace.union([a, b], merge=[[("a", i), ("b", j)] for i, j in pairs])
    assert len(space) == size_a + size_b - len(pairs)
    assert space.is_disjoint == (not pairs)
    partner = dict(pairs)
    for i in range(size_a):
        u = space.to_unified("a", i)
        assert space.from_unified(u) == ("a", i)
        if i in partner:
            assert space.to_unified("b", partner[i]) == u
            assert {ds for ds, _ in space[u].sources} == {"a", "b"}
    for j in range(size_b):
        u = space.to_unified("b", j)
        assert 0 <= u < len(space)
        dataset, local = space.from_unified(u)
        assert (dataset, local) == ("b", j) or (dataset == "a" and partner[local] == j)
    all_unified = set(space.indices("a").tolist()) | set(space.indices("b").tolist())
    assert all_unified == set(range(len(space)))
    masks = space.masks()
    assert (masks.sum(axis=0) >= 1).all()
    assert int(masks.sum()) == size_a + size_b
    assert LabelSpace.from_json(space.to_json()) == space
