"""The built-in vocabularies: counts, known entries and every documented dataset quirk."""

from __future__ import annotations

import gzip
import hashlib
import importlib
import importlib.util
import json
import re
import subprocess
import sys
import time
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from scaledet_labels import Vocabulary, clean_name, load_vocabulary
from scaledet_labels.vocab.builtin import (
    BUILTIN_ALIASES,
    BUILTIN_COUNTS,
    BUILTIN_FACTORIES,
    oid_hierarchy,
)
from scaledet_labels.vocab.vocabulary import make_label

COUNTS = {
    "coco": 80,
    "lvis": 1203,
    "objects365": 365,
    "oid": 601,
    "oid500": 500,
    "voc": 20,
    "v3det": 13204,
    "imagenet21k": 21841,
}


def _package_data(filename: str) -> Any:
    resource = resources.files("scaledet_labels") / "data" / "vocabularies" / filename
    return json.loads(resource.read_text(encoding="utf-8"))


def _package_data_gz(filename: str) -> Any:
    resource = resources.files("scaledet_labels") / "data" / "vocabularies" / filename
    return json.loads(gzip.decompress(resource.read_bytes()).decode("utf-8"))


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


def test_builtin_counts_are_the_loaded_sizes() -> None:
    assert BUILTIN_COUNTS == COUNTS
    assert list(BUILTIN_COUNTS) == list(BUILTIN_FACTORIES)


def test_builtin_names_and_aliases() -> None:
    assert list(BUILTIN_FACTORIES) == [
        "coco",
        "lvis",
        "objects365",
        "oid",
        "oid500",
        "voc",
        "v3det",
        "imagenet21k",
    ]
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


# -- V3Det --------------------------------------------------------------------------------
V3DET_SHA256 = "f85169608aa6315fd677ecdfd38970b2ca650b07eb4595e0e4fbe109b6d0f1f9"


def _v3det_lines() -> list[str]:
    resource = resources.files("scaledet_labels") / "data" / "vocabularies" / "v3det_13204.txt"
    data = resource.read_bytes()
    assert hashlib.sha256(data).hexdigest() == V3DET_SHA256  # V3Det's file, byte for byte
    return data.decode("utf-8").splitlines()


def test_v3det_raw_names_are_the_file_in_order() -> None:
    v3det = load_vocabulary("v3det")
    lines = _v3det_lines()
    assert len(lines) == len(set(lines)) == 13204
    assert v3det.names == tuple(lines)
    assert v3det.ids == tuple(range(1, 13205))
    assert v3det.source == "builtin:v3det"
    assert v3det[0].name == "ashtray"
    assert {"joëlette", "pesäpallo", "würstelstand"} <= set(v3det.names)
    assert v3det.find("compass (drawing tool)").clean_name == "compass (drawing tool)"
    board = v3det.find("blackboard/whiteboard")
    assert board.clean_name == "blackboard or whiteboard"
    assert board.synonyms == ("blackboard", "whiteboard")
    assert v3det.find("mazama  temama").clean_name == "mazama temama"


def test_v3det_case_variant_pairs_stay_distinct() -> None:
    v3det = load_vocabulary("v3det")
    by_key: dict[str, list[Any]] = {}
    for label in v3det:
        by_key.setdefault(clean_name(label.name).casefold(), []).append(label)
    pairs = [group for group in by_key.values() if len(group) > 1]
    assert len(pairs) == 45
    assert all(len(group) == 2 for group in pairs)
    for first, second in pairs:
        assert first.index < second.index
        assert first.name != second.name  # raw names differ by case or spacing
        plain = clean_name(first.name)
        assert first.clean_name == plain and first.synonyms == ()
        assert second.clean_name == f"{plain} (2)"
        assert second.synonyms == (plain,)  # prompts still say the plain name
        assert second.prompt_names == (f"{plain} (2)", plain)
        assert first.metadata == {"case_variants": [second.id]}
        assert second.metadata == {"case_variants": [first.id]}
    timer, upper = v3det.by_id(99), v3det.by_id(106)
    assert (timer.name, timer.clean_name) == ("timer", "timer")
    assert (upper.name, upper.clean_name) == ("Timer", "timer (2)")
    assert v3det.find("timer (2)") is upper
    bottle = v3det.by_id(1134)
    assert bottle.name == "Bottle Opener" and bottle.clean_name == "bottle opener (2)"
    # find() ignores case, so a raw name finds the first of its pair: use ids or clean names
    assert v3det.find("Bottle Opener").id == 1091
    assert v3det.find("bottle opener (2)") is bottle
    # every other label is exactly what make_label makes of its raw name
    others = [label for label in v3det if not label.metadata]
    assert len(others) == 13204 - 90
    assert all(label == make_label(label.index, label.name) for label in others)


# -- ImageNet-21k -------------------------------------------------------------------------
def test_imagenet21k_order_and_fields() -> None:
    in21k = load_vocabulary("imagenet21k")
    assert load_vocabulary("in21k") is in21k
    wnids = [label.metadata["wnid"] for label in in21k]
    assert len(set(wnids)) == 21841
    assert wnids == sorted(wnids)  # timm's imagenet-22k order (fall11), Detic's too
    assert all(re.fullmatch(r"n\d{8}", wnid) for wnid in wnids)
    assert in21k.ids == tuple(range(1, 21842))
    first, last = in21k[0], in21k[21840]
    assert (first.metadata["wnid"], first.name, first.synonyms) == (
        "n00004475",
        "organism",
        ("being",),
    )
    assert first.definition == (
        "a living thing that has (or can develop) the ability to act or function independently"
    )
    assert first.synset == "organism.n.01"
    assert last.metadata["wnid"] == "n15102894"
    dog = in21k.find("dog")
    assert dog.metadata == {"wnid": "n02084071", "synset": "dog.n.01"}
    assert dog.synonyms == ("domestic dog", "canis familiaris")
    assert dog.definition is not None and dog.definition.startswith("a member of the genus Canis")
    assert all(label.definition for label in in21k)
    synsets = [label.synset for label in in21k]
    assert len(set(synsets)) == 21841
    assert all(s is not None and re.fullmatch(r".+\.n\.\d\d", s) for s in synsets)


def test_imagenet21k_matches_timm_lists() -> None:
    # timm's own files (read as text: importing timm would import torch)
    spec = importlib.util.find_spec("timm")
    assert spec is not None and spec.submodule_search_locations
    info = Path(next(iter(spec.submodule_search_locations))) / "data" / "_info"
    wnids = (info / "imagenet22k_synsets.txt").read_text(encoding="utf-8").split()
    lemmas = dict(
        line.split("\t", 1)
        for line in (info / "imagenet_synset_to_lemma.txt").read_text("utf-8").splitlines()
    )
    glosses = dict(
        line.split("\t", 1)
        for line in (info / "imagenet_synset_to_definition.txt").read_text("utf-8").splitlines()
    )
    in21k = load_vocabulary("imagenet21k")
    assert [label.metadata["wnid"] for label in in21k] == wnids
    assert [label.name for label in in21k] == [lemmas[w].split(", ")[0] for w in wnids]
    assert [label.definition for label in in21k] == [glosses[w] for w in wnids]


def test_imagenet21k_clean_names_are_current_and_unique() -> None:
    # the shipped clean names and synonyms are what make_label gives today
    record = _package_data_gz("imagenet21k.json.gz")
    in21k = load_vocabulary("imagenet21k")
    hinted = 0
    for label, lemmas in zip(in21k, record["lemmas"], strict=True):
        plain = clean_name(lemmas[0])
        hint = None if label.clean_name == plain else label.clean_name
        if hint is not None:
            hinted += 1
            assert hint.startswith(f"{plain} (") and hint.endswith(")")
        expected = make_label(label.index, lemmas[0], clean_name=hint, synonyms=lemmas[1:])
        assert (label.clean_name, label.synonyms) == (expected.clean_name, expected.synonyms)
    assert hinted == 3243
    cranes = {label.clean_name for label in in21k if label.name == "crane"}
    assert {"crane (wading bird)", "crane (lifting device)"} <= cranes
    assert in21k.find("crane (lifting device)").synset == "crane.n.04"
    tables = [label for label in in21k if label.name == "table"]
    assert {label.clean_name for label in tables} == {
        "table (furniture, sense 2)",
        "table (furniture, sense 3)",
    }


def test_imagenet21k_loads_quickly() -> None:
    from scaledet_labels.vocab.builtin import imagenet21k

    started = time.perf_counter()
    imagenet21k()
    assert time.perf_counter() - started < 2.0  # about 0.2 s; generous for slow runners


# -- WordNet synsets of COCO --------------------------------------------------------------
def test_coco_synsets_come_from_lvis() -> None:
    coco, lvis = load_vocabulary("coco"), load_vocabulary("lvis")
    with_synset = [label for label in coco if label.synset]
    assert len(with_synset) == 77
    missing = {label.name for label in coco if label.synset is None}
    assert missing == {"sports ball", "hot dog", "potted plant"}
    lvis_synsets = {label.synset for label in lvis}
    assert {label.synset for label in with_synset} <= lvis_synsets
    assert coco.find("dog").synset == "dog.n.01"
    assert coco.find("car").synset == "car.n.01"
    assert coco.find("mouse").synset == "mouse.n.04"  # the computer mouse
    assert coco.find("tv").synset == "television_receiver.n.01"
    assert coco.find("hair drier").synset == "hand_blower.n.01"
    assert coco.by_id(1).metadata == {"supercategory": "person", "synset": "person.n.01"}
    record = _package_data("coco_synsets.json")
    assert record["unmatched"] == ["sports ball", "hot dog", "potted plant"]
    assert record["provenance"]["script"] == "scripts/generate_vocabularies.py"


def test_list_does_not_load_the_big_vocabularies() -> None:
    code = (
        "import contextlib, io\n"
        "from scaledet_labels.cli import main\n"
        "from scaledet_labels.vocab import registry\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['list']) == 0\n"
        "assert not registry._loaded, sorted(registry._loaded)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# -- provenance and the generation script -------------------------------------------------
def test_derived_files_record_their_provenance() -> None:
    readme = resources.files("scaledet_labels") / "data" / "vocabularies" / "README.md"
    text = readme.read_text(encoding="utf-8")
    for filename in (
        "v3det_13204.txt",
        "imagenet21k.json.gz",
        "wordnet_hierarchy.json.gz",
        "coco_synsets.json",
    ):
        assert f"`{filename}`" in text
    assert V3DET_SHA256 in text and "CC BY 4.0" in text
    assert "WordNet 3.0 Copyright 2006 by Princeton University" in text
    for filename in ("imagenet21k.json.gz", "wordnet_hierarchy.json.gz"):
        provenance = _package_data_gz(filename)["provenance"]
        assert provenance["script"] == "scripts/generate_vocabularies.py"
        assert "Princeton" in provenance["wordnet_license"]
    assert _package_data_gz("imagenet21k.json.gz")["provenance"]["timm_license"] == "Apache-2.0"


SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "generate_vocabularies.py"


@pytest.mark.slow
@pytest.mark.skipif(  # .ci/run installs wordnet-base; timm comes with open_clip
    not Path("/usr/share/wordnet/data.noun").exists(),
    reason="needs WordNet 3.0 (apt-get install wordnet-base)",
)
def test_generated_files_are_up_to_date(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    monkeypatch.delitem(sys.modules, SCRIPT.stem, raising=False)
    script = importlib.import_module(SCRIPT.stem)
    assert script.main(["--check"]) == 0, capsys.readouterr().out
