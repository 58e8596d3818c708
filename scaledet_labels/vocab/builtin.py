"""The built-in vocabularies, read from the package data (see its README for sources).

=============  =====  ==========================================================
name           count  notes
=============  =====  ==========================================================
``coco``       80     COCO 2017 instances; official ids 1..90 with gaps
``lvis``       1203   LVIS v1 with synonyms, definition, synset, frequency r/c/f,
                      image and instance counts (train split)
``objects365`` 365    Objects365 v2; prompts from Detic's typo-fixed names, the
                      official (raw) names kept
``oid``        601    OpenImages v6 boxable classes, ids in MID order (as in TF's
                      label map), MIDs and the class hierarchy in metadata
``oid500``     500    the OpenImages challenge-2019 list used by Detic/UniDet;
                      its duplicate "Bench" and "Mouse" get the 601-list names
``voc``        20     PASCAL VOC; devkit names kept raw, spaced for prompts
=============  =====  ==========================================================
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

from scaledet_labels.vocab.vocabulary import Label, Vocabulary, make_label

__all__ = ["BUILTIN_ALIASES", "BUILTIN_FACTORIES", "oid_hierarchy"]

_OID_ROOT = "/m/0bl9f"
_VOC_PROMPT_NAMES = {
    "diningtable": "dining table",
    "pottedplant": "potted plant",
    "tvmonitor": "tv monitor",
}


def _data(filename: str) -> Any:
    resource = (
        resources.files("scaledet_labels")
        .joinpath("data")
        .joinpath("vocabularies")
        .joinpath(filename)
    )
    return json.loads(resource.read_text(encoding="utf-8"))


def coco() -> Vocabulary:
    """COCO 2017 detection: 80 labels, official ids 1..90 with gaps."""
    labels = [
        make_label(i, row["name"], id=row["id"], metadata={"supercategory": row["supercategory"]})
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


@cache
def oid_hierarchy() -> dict[str, dict[str, list[str]]]:
    """OpenImages' class hierarchy as ``{mid: {"parents", "children", "part_of", "parts"}}``.

    The root ``/m/0bl9f`` ("Entity") is not a class and is left out of every list.

    Examples:
        >>> oid_hierarchy()["/m/0138tl"]["children"][:2]  # Toy
        ['/m/0167gd', '/m/01j51']
    """
    relations: dict[str, dict[str, list[str]]] = {}

    def entry(mid: str) -> dict[str, list[str]]:
        return relations.setdefault(
            mid, {"parents": [], "children": [], "part_of": [], "parts": []}
        )

    def add(bucket: list[str], mid: str) -> None:
        if mid not in bucket:
            bucket.append(mid)

    def walk(node: dict[str, Any]) -> None:
        mid = node["LabelName"]
        for child in node.get("Subcategory", []):
            if mid != _OID_ROOT:
                add(entry(child["LabelName"])["parents"], mid)
                add(entry(mid)["children"], child["LabelName"])
            else:
                entry(child["LabelName"])
            walk(child)
        for part in node.get("Part", []):
            if mid != _OID_ROOT:
                add(entry(part["LabelName"])["part_of"], mid)
                add(entry(mid)["parts"], part["LabelName"])
            walk(part)

    walk(_data("openimages_hierarchy.json"))
    return relations


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


BUILTIN_FACTORIES: dict[str, Callable[[], Vocabulary]] = {
    "coco": coco,
    "lvis": lvis,
    "objects365": objects365,
    "oid": oid,
    "oid500": oid500,
    "voc": voc,
}
BUILTIN_ALIASES: dict[str, str] = {
    "openimages": "oid",
    "o365": "objects365",
    "lvis_v1": "lvis",
    "pascal_voc": "voc",
}
