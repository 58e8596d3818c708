"""The built-in vocabularies: counts, known entries and every documented dataset quirk."""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from typing import Any

import pytest

from scaledet_labels import Vocabulary, clean_name, load_vocabulary
from scaledet_labels.vocab.builtin import BUILTIN_ALIASES, BUILTIN_FACTORIES, oid_hierarchy

COUNTS = {"coco": 80, "lvis": 1203, "objects365": 365, "oid": 601, "oid500": 500, "voc": 20}


def _package_data(filename: str) -> Any:
    resource = resources.files("scaledet_labels") / "data" / "vocabularies" / filename
    return json.loads(resource.read_text(encoding="utf-8"))


@pytest.mark.parametrize(("name", "count"), sorted(COUNTS.items()))
def test_counts_and_basic_invariants(name: str, count: int) -> None:
    vocab = load_vocabulary(name)
    assert isinstance(vocab, Vocabulary)
    assert len(vocab) == count
    assert vocab.name == name
    assert [label.index for label in vocab] == list(range(count))
    assert len(set(vocab.ids)) == count
    assert len({c.casefold() for c in vocab.clean_names}) == count
    for label in vocab:
        assert label.clean_name == label.clean_name.strip()
        assert "_" not in label.clean_name
        assert "  " not in label.clean_name
        assert label.clean_name not in label.synonyms


def test_builtin_names_and_aliases() -> None:
    assert list(BUILTIN_FACTORIES) == ["coco", "lvis", "objects365", "oid", "oid500", "voc"]
    assert BUILTIN_ALIASES["openimages"] == "oid"
    assert load_vocabulary("openimages") == load_vocabulary("oid")
    assert load_vocabulary("openimages").name == "oid"
    assert load_vocabulary("OpenImages").name == "oid"  # names are case-insensitive
    assert len(load_vocabulary(" COCO ")) == 80
    for alias, target in BUILTIN_ALIASES.items():
        assert load_vocabulary(alias) == load_vocabulary(target)


@pytest.mark.parametrize(
    ("name", "filename"),
    [
        ("coco", "coco.json"),
        ("lvis", "lvis_v1.json"),
        ("objects365", "objects365_v2.json"),
        ("oid", "openimages_v6.json"),
        ("oid500", "openimages_challenge2019_500.json"),
        ("voc", "voc.json"),
    ],
)
def test_raw_names_and_ids_are_the_source_data_verbatim(name: str, filename: str) -> None:
    rows = _package_data(filename)
    vocab = load_vocabulary(name)
    assert vocab.names == tuple(row["name"] for row in rows)
    assert vocab.ids == tuple(row["id"] for row in rows)


# -- COCO ---------------------------------------------------------------------------------
def test_coco() -> None:
    coco = load_vocabulary("coco")
    assert coco.by_id(90).name == "toothbrush"
    assert coco[79].name == "toothbrush"
    assert coco[0].name == "person" and coco[0].id == 1
    assert coco.by_id(90).metadata["supercategory"] == "indoor"
    gaps = {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}
    assert set(range(1, 91)) - set(coco.ids) == gaps
    assert list(coco.ids) == sorted(coco.ids)
    for missing in gaps:
        with pytest.raises(ValueError, match=f"no label has category id {missing}"):
            coco.by_id(missing)
    assert coco.find("hair drier").id == 89  # (sic) kept
    assert coco.find("tv").clean_name == "tv"


# -- LVIS ---------------------------------------------------------------------------------
def test_lvis_aerosol_can() -> None:
    lvis = load_vocabulary("lvis")
    can = lvis.by_id(1)
    assert can.index == 0
    assert can.name == "aerosol_can"
    assert can.clean_name == "aerosol can"
    assert "spray can" in can.synonyms
    assert can.metadata["synset"] == "aerosol.n.02"
    assert can.metadata["frequency"] == "c"
    assert isinstance(can.metadata["image_count"], int)
    assert isinstance(can.metadata["instance_count"], int)
    assert can.definition
    assert lvis.find("spray can") is can


def test_lvis_frequencies_and_metadata() -> None:
    lvis = load_vocabulary("lvis")
    assert Counter(label.metadata["frequency"] for label in lvis) == {"r": 337, "c": 461, "f": 405}
    assert all(label.definition for label in lvis)
    synsets = [label.metadata["synset"] for label in lvis]
    assert len(set(synsets)) == 1203
    assert sum("_" in name for name in lvis.names) == 412


def test_lvis_bows_and_bull() -> None:
    lvis = load_vocabulary("lvis")
    weapon = lvis.find("bow_(weapon)")
    ribbon = lvis.find("bow_(decorative_ribbons)")
    assert weapon is not ribbon
    assert weapon.name == "bow_(weapon)"
    assert ribbon.name == "bow_(decorative_ribbons)"
    assert weapon.clean_name == "bow (weapon)"
    assert ribbon.clean_name == "bow (decorative ribbons)"
    assert weapon.clean_name != ribbon.clean_name
    bull = lvis.by_id(162)
    assert bull.name == "bull"
    assert "horned cow" in bull.synonyms
    assert bull.prompt_names[0] == "bull"


# -- Objects365 ---------------------------------------------------------------------------
def test_objects365_typo_fixes_keep_the_raw_name() -> None:
    o365 = load_vocabulary("objects365")
    monitor = o365.by_id(38)
    assert monitor.name == "Moniter/TV"
    assert "monitor" in monitor.clean_name
    assert "moniter" not in monitor.clean_name
    assert "monitor" in monitor.synonyms and "TV" in monitor.synonyms
    basket = o365.by_id(53)
    assert basket.name == "Bakset"
    assert basket.clean_name == "basket"
    fixed = {38, 53, 99, 123, 203, 229, 290, 292, 300, 308, 314, 322, 355}
    differs = {label.id for label in o365 if label.clean_name != clean_name(label.name)}
    assert differs == fixed
    assert o365.by_id(99).clean_name == "dining table"
    assert o365.by_id(229).clean_name == "hot air balloon"
    # left unfixed on purpose
    assert o365.by_id(91).name == "Ballon"


def test_objects365_trailing_spaces_and_case() -> None:
    o365 = load_vocabulary("objects365")
    trailing = {label.id: label for label in o365 if label.name != label.name.rstrip()}
    assert set(trailing) == {197, 309, 365}
    assert trailing[309].name == "Formula 1 "  # raw kept verbatim
    assert trailing[309].clean_name == "formula 1"
    assert trailing[365].name == "Table Tennis "
    assert trailing[365].clean_name == "table tennis"
    assert o365.by_id(197).name == "Cigar/Cigarette "
    assert o365.by_id(197).clean_name == "cigar or cigarette"
    assert o365.by_id(1).name == "Person" and o365.by_id(1).clean_name == "person"
    assert o365.by_id(208).name == "earphone"


def test_objects365_slash_names_give_alternatives() -> None:
    o365 = load_vocabulary("objects365")
    slashed = [label for label in o365 if "/" in label.name]
    assert len(slashed) == 16
    for label in slashed:
        assert len(label.synonyms) >= 2
        assert " or " in label.clean_name
        assert "/" not in label.clean_name
    board = o365.find("Cutting/chopping Board")
    assert board.synonyms == ("cutting board", "chopping board")
    assert board.clean_name == "cutting board or chopping board"
    assert o365.find("chopping board") is board
    ruler = o365.find("Tape Measur/ Ruler")
    assert ruler.synonyms == ("tape measure", "ruler")
    assert o365.find("cabinet") is o365.find("Cabinet/shelf")


# -- OpenImages ---------------------------------------------------------------------------
def test_oid_mids_and_hierarchy() -> None:
    oid = load_vocabulary("oid")
    by_mid = {label.metadata["mid"]: label for label in oid}
    assert len(by_mid) == 601
    tortoise = by_mid["/m/011k07"]
    assert (tortoise.id, tortoise.index, tortoise.name) == (1, 0, "Tortoise")
    assert oid.by_id(1) is tortoise
    ancestors = []
    mid = "/m/011k07"
    while by_mid[mid].metadata["parents"]:
        mid = by_mid[mid].metadata["parents"][0]
        ancestors.append(by_mid[mid].name)
    assert ancestors == ["Turtle", "Reptile", "Animal"]
    turtle = oid.find("Turtle")
    assert "/m/011k07" in turtle.metadata["children"]
    body = oid.find("Human body")
    assert oid.find("Human face").metadata["mid"] in body.metadata["parts"]
    assert body.metadata["mid"] in oid.find("Human face").metadata["part_of"]


def test_oid_hierarchy_is_consistent() -> None:
    hierarchy = oid_hierarchy()
    assert "/m/0bl9f" not in hierarchy  # the root "Entity" is not a class
    oid = load_vocabulary("oid")
    mids = {label.metadata["mid"] for label in oid}
    assert set(hierarchy) == mids
    for mid, rel in hierarchy.items():
        assert "/m/0bl9f" not in rel["parents"] + rel["children"] + rel["part_of"] + rel["parts"]
        for parent in rel["parents"]:
            assert mid in hierarchy[parent]["children"]
        for whole in rel["part_of"]:
            assert mid in hierarchy[whole]["parts"]
    assert sum(not rel["parents"] for rel in hierarchy.values()) > 0
    assert oid.find("Kitchen & dining room table").clean_name == "kitchen & dining room table"
    assert oid.find("Human face").clean_name == "human face"


def test_oid500_duplicates_are_disambiguated_with_the_601_names() -> None:
    oid500 = load_vocabulary("oid500")
    assert Counter(oid500.names)["Bench"] == 2
    assert Counter(oid500.names)["Mouse"] == 2
    assert (oid500.by_id(15).name, oid500.by_id(15).clean_name) == ("Bench", "training bench")
    assert oid500.by_id(15).metadata["mid"] == "/m/076lb9"
    assert (oid500.by_id(72).name, oid500.by_id(72).clean_name) == ("Bench", "bench")
    assert oid500.by_id(72).metadata["mid"] == "/m/0cvnqh"
    assert (oid500.by_id(326).name, oid500.by_id(326).clean_name) == ("Mouse", "mouse")
    assert (oid500.by_id(450).name, oid500.by_id(450).clean_name) == ("Mouse", "computer mouse")
    assert oid500.by_id(450).metadata["mid"] == "/m/020lf"
    # every MID of the 500 list is one of the 601
    oid_mids = {label.metadata["mid"] for label in load_vocabulary("oid")}
    assert {label.metadata["mid"] for label in oid500} <= oid_mids
    assert oid500.find("studio couch").name == "studio couch"


# -- VOC ----------------------------------------------------------------------------------
def test_voc_devkit_names_are_spaced_for_prompts() -> None:
    voc = load_vocabulary("voc")
    plant = voc.find("pottedplant")
    assert plant.name == "pottedplant"
    assert plant.clean_name == "potted plant"
    assert voc.find("diningtable").clean_name == "dining table"
    assert voc.find("tvmonitor").name == "tvmonitor"
    assert voc.find("aeroplane").clean_name == "aeroplane"
    assert voc.ids == tuple(range(1, 21))
    assert voc.find("potted plant") is plant
