"""The built-in vocabularies, read from the package data (``data/vocabularies/README.md``
names the source, version and license of every file).

===============  ======  ========================================================
name             count   notes
===============  ======  ========================================================
``coco``         80      COCO 2017 instances; official ids 1..90 with gaps; a WordNet
                         synset for 77 labels (from LVIS)
``lvis``         1203    LVIS v1 with synonyms, definition, synset, frequency r/c/f,
                         image and instance counts (train split)
``objects365``   365     Objects365 v2; prompts from Detic's typo-fixed names, the
                         official (raw) names kept
``oid``          601     OpenImages v6 boxable classes, ids in MID order (as in TF's
                         label map), MIDs and the class hierarchy in metadata
``oid500``       500     the OpenImages challenge-2019 list used by Detic/UniDet;
                         its duplicate "Bench" and "Mouse" get the 601-list names
``voc``          20      PASCAL VOC; devkit names kept raw, spaced for prompts
``v3det``        13204   V3Det 2023 v1; 45 case-variant pairs (``timer``/``Timer``)
                         kept as distinct labels, the later one's clean name suffixed
``imagenet21k``  21841   ImageNet-21k fall 2011 in timm/Detic order: wnid, synset,
                         lemmas as name and synonyms, WordNet gloss
===============  ======  ========================================================

Files load on first use of a vocabulary (the registry calls a factory once), so importing
this module reads nothing; :data:`BUILTIN_COUNTS` gives the sizes without loading.

Examples:
    >>> BUILTIN_COUNTS["imagenet21k"]
    21841
    >>> timers = [label for label in v3det() if label.clean_name.startswith("timer")]
    >>> [(label.id, label.name, label.clean_name, label.synonyms) for label in timers]
    [(99, 'timer', 'timer', ()), (106, 'Timer', 'timer (2)', ('timer',))]
    >>> dog = imagenet21k()[2167]
    >>> dog.metadata, dog.synonyms
    ({'wnid': 'n02084071', 'synset': 'dog.n.01'}, ('domestic dog', 'canis familiaris'))
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

from scaledet_labels.vocab.hierarchy import oid_hierarchy, read_vocabulary_data
from scaledet_labels.vocab.names import split_alternatives
from scaledet_labels.vocab.vocabulary import Label, Vocabulary, make_label

__all__ = ["BUILTIN_ALIASES", "BUILTIN_COUNTS", "BUILTIN_FACTORIES", "oid_hierarchy"]

_VOC_PROMPT_NAMES = {
    "diningtable": "dining table",
    "pottedplant": "potted plant",
    "tvmonitor": "tv monitor",
}


def _data(filename: str) -> Any:
    return read_vocabulary_data(filename)


@cache
def _coco_synsets() -> dict[int, str]:
    return {row["id"]: row["synset"] for row in _data("coco_synsets.json")["synsets"]}


def coco() -> Vocabulary:
    """COCO 2017 detection: 80 labels, official ids 1..90 with gaps.

    77 labels carry the WordNet ``synset`` of the LVIS label of the same name (or the
    most frequent WordNet sense of their name that LVIS uses); ``sports ball``,
    ``hot dog`` and ``potted plant`` have none.
    """
    synsets = _coco_synsets()
    labels = [
        make_label(
            i,
            row["name"],
            id=row["id"],
            metadata={"supercategory": row["supercategory"]}
            | ({"synset": synsets[row["id"]]} if row["id"] in synsets else {}),
        )
        for i, row in enumerate(_data("coco.json"))
    ]
    return Vocabulary("coco", labels, source="builtin:coco")


def lvis() -> Vocabulary:
    """LVIS v1: 1203 labels with synonyms, definitions, synsets and frequencies."""
    labels = [
        make_label(
            i,
            row["name"],
            id=row["id"],
            synonyms=row["synonyms"],
            definition=row["def"],
            metadata={
                "synset": row["synset"],
                "frequency": row["frequency"],
                "image_count": row["image_count"],
                "instance_count": row["instance_count"],
            },
        )
        for i, row in enumerate(_data("lvis_v1.json"))
    ]
    return Vocabulary("lvis", labels, source="builtin:lvis")


def objects365() -> Vocabulary:
    """Objects365 v2: 365 labels; prompts from the typo-fixed names."""
    labels = [
        make_label(
            i,
            row["name"],
            id=row["id"],
            fixed_name=row["name_fixed"],
            metadata={"name_fixed": row["name_fixed"].strip()},
        )
        for i, row in enumerate(_data("objects365_v2.json"))
    ]
    return Vocabulary("objects365", labels, source="builtin:objects365")


def oid() -> Vocabulary:
    """OpenImages v6: the 601 boxable classes with MIDs and the class hierarchy."""
    hierarchy = oid_hierarchy()
    empty: dict[str, list[str]] = {"parents": [], "children": [], "part_of": [], "parts": []}
    labels = [
        make_label(
            i,
            row["name"],
            id=row["id"],
            metadata={"mid": row["mid"], **hierarchy.get(row["mid"], empty)},
        )
        for i, row in enumerate(_data("openimages_v6.json"))
    ]
    return Vocabulary("oid", labels, source="builtin:oid")


def oid500() -> Vocabulary:
    """The 500-class OpenImages challenge-2019 list (Detic/UniDet ids 1..500).

    Its two duplicate display names ("Bench", "Mouse") take the names of the same MIDs in
    the 601-class list ("Training bench", "Computer mouse") as their clean names.
    """
    rows = _data("openimages_challenge2019_500.json")
    full_names = {row["mid"]: row["name"] for row in _data("openimages_v6.json")}
    counts: dict[str, int] = {}
    for row in rows:
        key = row["name"].casefold()
        counts[key] = counts.get(key, 0) + 1
    labels: list[Label] = []
    for i, row in enumerate(rows):
        fixed = None
        if (
            counts[row["name"].casefold()] > 1
            and full_names.get(row["mid"], row["name"]) != row["name"]
        ):
            fixed = full_names[row["mid"]]
        labels.append(
            make_label(i, row["name"], id=row["id"], fixed_name=fixed, metadata={"mid": row["mid"]})
        )
    return Vocabulary("oid500", labels, source="builtin:oid500")


def voc() -> Vocabulary:
    """PASCAL VOC: 20 labels, devkit names (``pottedplant``) spaced for prompts."""
    labels = [
        make_label(i, row["name"], id=row["id"], fixed_name=_VOC_PROMPT_NAMES.get(row["name"]))
        for i, row in enumerate(_data("voc.json"))
    ]
    return Vocabulary("voc", labels, source="builtin:voc")


def v3det() -> Vocabulary:
    """V3Det (2023, v1): 13,204 labels, ids 1..13204 in V3Det's category order.

    45 pairs of names differ only by case or spacing (``timer``/``Timer``,
    ``Bottle Opener``/``bottle opener``); V3Det counts each as its own class, and so does
    this vocabulary. Both keep their raw names; the later one of a pair gets the clean
    name ``"timer (2)"`` (what ``on_duplicate="disambiguate"`` would give) with the plain
    ``"timer"`` as its first synonym, so that its prompts still say "timer". Both record
    the other's id in ``metadata["case_variants"]``.
    """
    resource = resources.files("scaledet_labels").joinpath(
        "data", "vocabularies", "v3det_13204.txt"
    )
    names = resource.read_text(encoding="utf-8").splitlines()
    # clean each name once (make_label would clean it again): what make_label(i, name) gives
    alternatives = [split_alternatives(name) for name in names]
    cleaned = [" or ".join(alts) for alts in alternatives]
    groups: dict[str, list[int]] = defaultdict(list)
    for i, clean in enumerate(cleaned):
        groups[clean.casefold()].append(i)
    labels: list[Label] = []
    for i, (raw, clean, alts) in enumerate(zip(names, cleaned, alternatives, strict=True)):
        group = groups[clean.casefold()]
        rank = group.index(i) + 1
        labels.append(
            make_label(
                i,
                raw,
                clean_name=clean if rank == 1 else f"{clean} ({rank})",
                synonyms=(*(alts if len(alts) > 1 else ()), *((clean,) if rank > 1 else ())),
                metadata={"case_variants": [j + 1 for j in group if j != i]}
                if len(group) > 1
                else None,
                where=f"v3det_13204.txt:{i + 1}",
            )
        )
    return Vocabulary("v3det", labels, source="builtin:v3det")


def imagenet21k() -> Vocabulary:
    """ImageNet-21k (fall 2011): 21,841 WordNet synsets in timm's and Detic's order.

    Label ``i`` is class ``i`` of timm's ``imagenet-22k`` list (the wnids sorted; ids are
    ``i + 1``). Its raw name is the first WordNet lemma, its synonyms the other lemmas,
    its definition the WordNet gloss; ``metadata`` holds ``wnid`` (``n02084071``) and
    ``synset`` (``dog.n.01``). 3,243 classes share their first lemma with another
    (``crane`` the bird and the machine); their clean names carry a WordNet sense hint,
    as LVIS names do: ``crane (wading bird)``, ``crane (lifting device)``.
    """
    record = _data("imagenet21k.json.gz")
    # clean names and synonyms were made by make_label when the file was generated
    # (scripts/generate_vocabularies.py; a test checks they are current): building the
    # labels directly loads 21,841 of them several times faster
    labels = [
        Label(
            index=i,
            id=i + 1,
            name=lemmas[0],
            clean_name=clean,
            synonyms=tuple(synonyms),
            definition=definition,
            metadata={"wnid": wnid, "synset": synset},
        )
        for i, (wnid, synset, lemmas, clean, synonyms, definition) in enumerate(
            zip(
                record["wnid"],
                record["synset"],
                record["lemmas"],
                record["clean_name"],
                record["synonyms"],
                record["definition"],
                strict=True,
            )
        )
    ]
    return Vocabulary("imagenet21k", labels, source="builtin:imagenet21k")


BUILTIN_FACTORIES: dict[str, Callable[[], Vocabulary]] = {
    "coco": coco,
    "lvis": lvis,
    "objects365": objects365,
    "oid": oid,
    "oid500": oid500,
    "voc": voc,
    "v3det": v3det,
    "imagenet21k": imagenet21k,
}
BUILTIN_ALIASES: dict[str, str] = {
    "openimages": "oid",
    "o365": "objects365",
    "lvis_v1": "lvis",
    "pascal_voc": "voc",
    "in21k": "imagenet21k",
}
#: Label counts of the built-ins, known without loading them (``scaledet-labels list``).
BUILTIN_COUNTS: dict[str, int] = {
    "coco": 80,
    "lvis": 1203,
    "objects365": 365,
    "oid": 601,
    "oid500": 500,
    "voc": 20,
    "v3det": 13204,
    "imagenet21k": 21841,
}
