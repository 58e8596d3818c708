"""Regenerate the derived vocabulary data: ImageNet-21k, WordNet hierarchy, COCO synsets.

The library ships three files under ``scaledet_labels/data/vocabularies/`` that are
*derived* (not copied) from other sources, so that at run time it needs nothing but its
own package data (no timm, no nltk, no WordNet files):

``imagenet21k.json.gz``
    The 21,841 ImageNet-21k (fall 2011) classes in the standard order used by timm
    (``ImageNetInfo("imagenet-22k")``, "as in fall11.tar") and Detic: the WordNet ids
    sorted, with their lemmas and glosses from timm's ``imagenet_synset_to_lemma.txt``
    and ``imagenet_synset_to_definition.txt`` and the NLTK synset name (``dog.n.01``)
    of each wnid (part of speech + offset) read from WordNet 3.0. 1,470 first lemmas
    are shared by 3,243 classes (``crane`` the bird and the machine); those classes get
    a clean name with a WordNet sense hint, as LVIS does (``crane (wading bird)``,
    ``crane (lifting device)``; see :func:`sense_hints`).
``wordnet_hierarchy.json.gz``
    The WordNet 3.0 hypernym graph (hypernyms and instance hypernyms) restricted to the
    synsets of the LVIS, ImageNet-21k and COCO labels and all their ancestors.
``coco_synsets.json``
    A WordNet synset for the COCO labels: the LVIS synset of the LVIS label with the same
    name, else the most frequent WordNet sense of the COCO name that is an LVIS synset.
``wordnet_nouns.json.gz``
    Every WordNet 3.0 noun synset (82,115) with its hypernyms and holonyms, the noun
    lemma index in WordNet's sense order and the noun exception list (``noun.exc``):
    what the label matcher needs to look a name up in WordNet (``morphy``-style plural
    folding included) and to tell a parent or a part from the same concept.

WordNet is read with NLTK's ``WordNetCorpusReader`` from the Princeton WordNet 3.0
database files, as Debian's ``wordnet-base`` package installs them in
``/usr/share/wordnet`` (``apt-get install wordnet-base``). That package has no
``lexnames`` file, which NLTK's reader needs; the script writes it, with the other files
copied, into a temporary directory, from the table of the package's ``lexnames(5WN)``
manual page (or the fixed WordNet 3.0 table below, when the page is absent).

Every file records its provenance (sources, versions, licenses, this script). The output
is deterministic: compact JSON with sorted keys, gzip with a zero timestamp, so running
the script again on the same inputs leaves the files byte for byte unchanged.

Examples:
    Rewrite the files, then check them (exit 1 when a file is stale)::

        apt-get install -y wordnet-base
        python scripts/generate_vocabularies.py
        python scripts/generate_vocabularies.py --check
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import shutil
import sys
import tempfile
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "scaledet_labels" / "data" / "vocabularies"
DEFAULT_WORDNET = Path("/usr/share/wordnet")
SCRIPT = "scripts/generate_vocabularies.py"

IMAGENET21K_FILE = "imagenet21k.json.gz"
HIERARCHY_FILE = "wordnet_hierarchy.json.gz"
COCO_SYNSETS_FILE = "coco_synsets.json"
NOUNS_FILE = "wordnet_nouns.json.gz"

TIMM_URL = "https://github.com/huggingface/pytorch-image-models"
TIMM_FILES = (
    "timm/data/_info/imagenet22k_synsets.txt",
    "timm/data/_info/imagenet_synset_to_lemma.txt",
    "timm/data/_info/imagenet_synset_to_definition.txt",
)
WORDNET_URL = "https://wordnet.princeton.edu/"
WORDNET_LICENSE_URL = "https://wordnet.princeton.edu/license-and-commercial-use"
WORDNET_LICENSE = (
    "WordNet 3.0 license (Princeton University): permission to use, copy, modify and "
    "distribute this software and database and its documentation for any purpose and "
    "without fee or royalty is granted, provided the copyright notice and statements, "
    "including the disclaimer, appear on all copies. WordNet 3.0 Copyright 2006 by "
    "Princeton University. All rights reserved. THIS SOFTWARE AND DATABASE IS PROVIDED "
    '"AS IS" AND PRINCETON UNIVERSITY MAKES NO REPRESENTATIONS OR WARRANTIES, EXPRESS OR '
    "IMPLIED. The name of Princeton University or Princeton may not be used in "
    "advertising or publicity pertaining to distribution of the software and/or database."
)
IMAGENET21K_COUNT = 21841

#: WordNet 3.0's lexicographer files (``lexnames(5WN)``), used when the man page is absent.
LEXNAMES_30: tuple[str, ...] = (
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
)
_LEXNAMES_MAN = Path("/usr/share/man/man5/lexnames.5WN.gz")
_POS_NUMBER = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


# -- WordNet ------------------------------------------------------------------------------
def _lexnames() -> list[str]:
    if _LEXNAMES_MAN.exists():
        text = gzip.decompress(_LEXNAMES_MAN.read_bytes()).decode("utf-8", "replace")
        rows = re.findall(r"^(\d\d)\t(\S+)\s*\t", text, re.MULTILINE)
        names = [name for number, name in rows]
        if [int(number) for number, _ in rows] == list(range(len(names))) and names:
            return names
    return list(LEXNAMES_30)


def open_wordnet(directory: Path, workdir: Path) -> Any:
    """NLTK's WordNet reader over Princeton database files (Debian's ``wordnet-base``).

    The files are copied into ``workdir`` with a ``lexnames`` file added; NLTK only reads
    inside its data path, so ``workdir`` is added to it.
    """
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    if not (directory / "data.noun").exists():
        raise SystemExit(
            f"{directory}: no WordNet 3.0 database (data.noun); install Debian's "
            "wordnet-base (apt-get install -y wordnet-base) or pass --wordnet DIR"
        )
    for path in directory.iterdir():
        if path.is_file() and re.fullmatch(r"(data|index)\.\w+|\w+\.exc", path.name):
            shutil.copyfile(path, workdir / path.name)
    lexnames = "".join(
        f"{i:02d}\t{name}\t{_POS_NUMBER[name.split('.')[0]]}\n"
        for i, name in enumerate(_lexnames())
    )
    (workdir / "lexnames").write_text(lexnames, encoding="utf-8")
    nltk.data.path.append(str(workdir))

    class Reader(WordNetCorpusReader):  # type: ignore[misc]
        """The plain reader without the mapping to NLTK's own WordNet copy (for OMW)."""

        def map_wn(self, version: str = "wordnet") -> None:
            return None

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available"
        reader = Reader(str(workdir), None)
    if reader.get_version() != "3.0":
        raise SystemExit(f"{directory}: WordNet {reader.get_version()}, expected 3.0")
    return reader


def _parents(synset: Any) -> list[Any]:
    """Hypernyms, then instance hypernyms, each sorted by name.

    Sorted because nltk keeps a synset's pointers in a set, whose order changes from one
    process to the next.
    """
    by_name = sorted(synset.hypernyms(), key=lambda s: s.name())
    return by_name + sorted(synset.instance_hypernyms(), key=lambda s: s.name())


def hypernym_graph(roots: Iterable[Any]) -> dict[str, list[str]]:
    """``{synset name: parent names}`` for ``roots`` and every ancestor (see _parents)."""
    graph: dict[str, list[str]] = {}
    stack = list(roots)
    while stack:
        synset = stack.pop()
        if synset.name() in graph:
            continue
        parents = _parents(synset)
        graph[synset.name()] = [p.name() for p in parents]
        stack.extend(parents)
    return graph


# -- ImageNet-21k -------------------------------------------------------------------------
def read_timm() -> tuple[list[str], dict[str, str], dict[str, str], str]:
    """timm's ImageNet-21k (fall 2011) wnids, lemmas and glosses, and timm's version."""
    import pkgutil

    import timm
    from timm.data.imagenet_info import ImageNetInfo

    info: Any = ImageNetInfo("imagenet-22k")  # timm's name for fall11's 21,841 classes
    wnids = list(info.label_names())

    def table(filename: str) -> dict[str, str]:
        data = pkgutil.get_data("timm.data", f"_info/{filename}")
        if data is None:
            raise SystemExit(f"timm {timm.__version__} has no _info/{filename}")
        return dict(line.split("\t", 1) for line in data.decode("utf-8").splitlines() if line)

    lemmas = table("imagenet_synset_to_lemma.txt")
    definitions = table("imagenet_synset_to_definition.txt")
    if len(wnids) != IMAGENET21K_COUNT or len(set(wnids)) != IMAGENET21K_COUNT:
        raise SystemExit(f"timm's imagenet-22k list has {len(wnids)} wnids, expected 21841")
    if wnids != sorted(wnids):
        raise SystemExit("timm's imagenet-22k list is not in sorted wnid order")
    return wnids, lemmas, definitions, str(timm.__version__)


def sense_hints(groups: Sequence[Sequence[tuple[str, Any, list[str]]]]) -> dict[str, str]:
    """A short sense hint for every class whose first lemma another class shares.

    Each member of a group ``(wnid, synset, lemmas)`` gets the first of these that no
    other member of its group has among its own lemmas or parents' first lemmas: its
    first parent's first lemma (``crane (wading bird)``), then each of its other lemmas
    in order (``robin (American robin)``); failing all, the first of these with the
    WordNet sense number of its synset (``table (furniture, sense 2)``).
    """
    from scaledet_labels.vocab.names import clean_name

    hints: dict[str, str] = {}
    for group in groups:
        candidates: dict[str, list[str]] = {}
        for wnid, synset, lemmas in group:
            first = clean_name(lemmas[0]).casefold()
            own = [
                clean_name(parent.lemma_names()[0].replace("_", " ")) for parent in _parents(synset)
            ][:1]
            own += [clean_name(lemma) for lemma in lemmas[1:]]
            candidates[wnid] = [c for c in dict.fromkeys(own) if c.casefold() != first]
        for wnid, synset, _ in group:
            taken = {
                c.casefold() for other, names in candidates.items() if other != wnid for c in names
            }
            hint = next((c for c in candidates[wnid] if c.casefold() not in taken), None)
            if hint is None:  # WordNet's sense number of the first lemma tells them apart
                sense = f"sense {int(synset.name().rsplit('.', 1)[1])}"
                hint = f"{candidates[wnid][0]}, {sense}" if candidates[wnid] else sense
            hints[wnid] = hint
    return hints


def imagenet21k_record(wordnet: Any) -> tuple[dict[str, Any], list[Any]]:
    """The ``imagenet21k.json.gz`` record and the classes' synsets."""
    from scaledet_labels.vocab.names import clean_name

    wnids, lemma_table, definitions, timm_version = read_timm()
    synsets = [wordnet.synset_from_pos_and_offset(w[0], int(w[1:])) for w in wnids]
    lemmas = [lemma_table[w].split(", ") for w in wnids]
    for wnid, synset, names in zip(wnids, synsets, lemmas, strict=True):
        wordnet_names = [name.replace("_", " ") for name in synset.lemma_names()]
        if wordnet_names != names:
            raise SystemExit(f"{wnid}: timm lemmas {names} differ from WordNet's {wordnet_names}")
    groups: dict[str, list[tuple[str, Any, list[str]]]] = defaultdict(list)
    for wnid, synset, names in zip(wnids, synsets, lemmas, strict=True):
        groups[clean_name(names[0]).casefold()].append((wnid, synset, names))
    shared = [group for group in groups.values() if len(group) > 1]
    hints = sense_hints(shared)
    from scaledet_labels.vocab.vocabulary import make_label

    clean_names: list[str] = []
    synonyms: list[list[str]] = []
    for i, (wnid, names) in enumerate(zip(wnids, lemmas, strict=True)):
        hint = f"{clean_name(names[0])} ({hints[wnid]})" if wnid in hints else None
        label = make_label(i, names[0], clean_name=hint, synonyms=names[1:])
        clean_names.append(label.clean_name)
        synonyms.append(list(label.synonyms))
    finals = Counter(name.casefold() for name in clean_names)
    clashes = [name for name, n in finals.items() if n > 1]
    if clashes:
        raise SystemExit(f"ImageNet-21k clean names still clash: {clashes[:10]}")
    gloss_differs = sum(
        synset.definition() != definitions[w] for w, synset in zip(wnids, synsets, strict=True)
    )
    record = {
        "name": "imagenet21k",
        "description": (
            "ImageNet-21k (fall 2011 release, 21,841 classes) in the standard order of timm "
            "(ImageNetInfo('imagenet-22k'), 'as in fall11.tar') and Detic: WordNet 3.0 noun "
            "ids (wnid = 'n' + offset) sorted. Columns are parallel lists. 'lemmas' are the "
            "raw WordNet lemmas (the first is the label's name); 'clean_name' and 'synonyms' "
            "are made from them by scaledet_labels' make_label (so loading need not clean "
            "21,841 names again), with a WordNet sense hint in the clean name of classes whose "
            "first lemma another class shares."
        ),
        "provenance": {
            "source": TIMM_URL,
            "files": list(TIMM_FILES),
            "timm_version": timm_version,
            "timm_license": "Apache-2.0",
            "wordnet": "WordNet 3.0 (Debian wordnet-base), read with nltk's WordNetCorpusReader",
            "wordnet_license": WORDNET_LICENSE,
            "wordnet_license_url": WORDNET_LICENSE_URL,
            "script": SCRIPT,
            "notes": (
                "Lemmas and glosses as timm ships them (ImageNet's words.txt and gloss.txt); "
                "the lemmas equal WordNet 3.0's for every class, the glosses for all but "
                f"{gloss_differs} (WordNet's keep example fragments such as '; :')."
            ),
        },
        "count": len(wnids),
        "wnid": wnids,
        "synset": [synset.name() for synset in synsets],
        "lemmas": lemmas,
        "definition": [definitions[w] for w in wnids],
        "clean_name": clean_names,
        "synonyms": synonyms,
    }
    return record, synsets


# -- LVIS and COCO ------------------------------------------------------------------------
def _package_json(out: Path, filename: str) -> Any:
    return json.loads((out / filename).read_text(encoding="utf-8"))


def coco_synsets(out: Path, wordnet: Any) -> dict[str, Any]:
    """The ``coco_synsets.json`` record: a synset for each COCO label LVIS can give one."""
    from scaledet_labels.vocab.names import clean_name

    lvis = _package_json(out, "lvis_v1.json")
    by_name: dict[str, set[str]] = defaultdict(set)
    for row in lvis:
        for raw in (row["name"], *row["synonyms"]):
            name = clean_name(raw).casefold()
            by_name[name].add(row["synset"])
            by_name[name.replace(" ", "").replace("-", "")].add(row["synset"])
            plain = re.sub(r"\s*\([^)]*\)$", "", name)
            if plain != name:
                by_name[f"{plain} (sense)"].add(row["synset"])
    lvis_synsets = {row["synset"] for row in lvis}
    mapping: list[dict[str, Any]] = []
    unmatched: list[str] = []
    for row in _package_json(out, "coco.json"):
        name = clean_name(row["name"]).casefold()
        found: tuple[str, str] | None = None
        for key, how in (
            (name, "lvis-name"),
            (name.replace(" ", "").replace("-", ""), "lvis-name"),
            (f"{name} (sense)", "lvis-name"),
        ):
            hits = by_name.get(key, set())
            if len(hits) == 1:
                found = (next(iter(hits)), how)
                break
        if found is None:
            senses = wordnet.synsets(name.replace(" ", "_"), pos="n")
            first = next((s.name() for s in senses if s.name() in lvis_synsets), None)
            if first is not None:
                found = (first, "wordnet-sense")
        if found is None:
            unmatched.append(row["name"])
            continue
        mapping.append({"id": row["id"], "name": row["name"], "synset": found[0], "via": found[1]})
    return {
        "name": "coco_synsets",
        "description": (
            "WordNet 3.0 synsets of the COCO 2017 labels, in COCO order. 'lvis-name': "
            "the synset of the LVIS v1 label with the same clean name or synonym (also "
            "ignoring spaces and hyphens, or LVIS's parenthesised sense), when exactly one "
            "LVIS label has it; 'wordnet-sense': the most frequent WordNet noun sense of the "
            "COCO name that is an LVIS synset."
        ),
        "provenance": {
            "sources": ["lvis_v1.json (this directory)", "coco.json (this directory)"],
            "wordnet": "WordNet 3.0 (Debian wordnet-base), read with nltk's WordNetCorpusReader",
            "wordnet_license_url": WORDNET_LICENSE_URL,
            "script": SCRIPT,
        },
        "synsets": mapping,
        "unmatched": unmatched,
    }


def hierarchy_record(
    wordnet: Any, lvis_synsets: Sequence[str], imagenet_synsets: Sequence[Any]
) -> dict[str, Any]:
    """The ``wordnet_hierarchy.json.gz`` record."""
    roots: list[Any] = list(imagenet_synsets)
    missing: list[str] = []
    for name in lvis_synsets:
        try:
            roots.append(wordnet.synset(name))
        except Exception:  # nltk raises WordNetError/ValueError for unknown names
            missing.append(name)
    graph = hypernym_graph(roots)
    names = sorted(graph)
    position = {name: i for i, name in enumerate(names)}
    return {
        "name": "wordnet_hierarchy",
        "description": (
            "WordNet 3.0 hypernym graph (hypernyms, then instance hypernyms, each sorted by "
            "name) of the synsets of the LVIS v1, ImageNet-21k and COCO labels and all "
            "their ancestors up to entity.n.01. 'synsets' is sorted; 'parents'[i] lists the "
            "positions in 'synsets' of the parents of synsets[i]."
        ),
        "provenance": {
            "wordnet": "WordNet 3.0 (Debian wordnet-base), read with nltk's WordNetCorpusReader",
            "wordnet_url": WORDNET_URL,
            "wordnet_license": WORDNET_LICENSE,
            "wordnet_license_url": WORDNET_LICENSE_URL,
            "script": SCRIPT,
            "not_in_wordnet": missing,
        },
        "count": len(names),
        "synsets": names,
        "parents": [[position[p] for p in graph[name]] for name in names],
    }


def nouns_record(wordnet: Any, directory: Path) -> dict[str, Any]:
    """The ``wordnet_nouns.json.gz`` record: every noun synset, the lemma index, noun.exc."""
    synsets = sorted(wordnet.all_synsets("n"), key=lambda s: s.name())
    names = [s.name() for s in synsets]
    position = {name: i for i, name in enumerate(names)}

    def positions(related: Iterable[Any]) -> list[int]:
        return sorted(position[r.name()] for r in related)

    index: dict[str, list[int]] = {}
    for lemma in sorted({name.casefold() for s in synsets for name in s.lemma_names()}):
        senses = wordnet.synsets(lemma, pos="n")  # WordNet's sense order (frequency)
        found = [position[s.name()] for s in senses if s.name() in position]
        if found:
            index[lemma] = found
    exceptions: dict[str, list[str]] = {}
    for line in (directory / "noun.exc").read_text(encoding="utf-8").splitlines():
        inflected, *bases = line.split()
        if bases:
            exceptions[inflected] = bases
    return {
        "name": "wordnet_nouns",
        "description": (
            "Every WordNet 3.0 noun synset, sorted by name. 'lemmas'[i]: its lemma names; "
            "'parents'[i]: positions of its hypernyms and instance hypernyms; "
            "'holonyms'[i]: positions of the wholes it is a part, member or substance of. "
            "'index': each lower-cased noun lemma (underscores for spaces) -> the positions "
            "of its synsets in WordNet's sense order (most frequent first). 'exceptions': "
            "noun.exc, irregular plural -> base forms (for morphy)."
        ),
        "provenance": {
            "wordnet": "WordNet 3.0 (Debian wordnet-base), read with nltk's WordNetCorpusReader",
            "wordnet_url": WORDNET_URL,
            "wordnet_license": WORDNET_LICENSE,
            "wordnet_license_url": WORDNET_LICENSE_URL,
            "script": SCRIPT,
        },
        "count": len(names),
        "synsets": names,
        "lemmas": [list(s.lemma_names()) for s in synsets],
        "parents": [positions(_parents(s)) for s in synsets],
        "holonyms": [
            positions({*s.part_holonyms(), *s.member_holonyms(), *s.substance_holonyms()})
            for s in synsets
        ],
        "index": index,
        "exceptions": exceptions,
    }


# -- files --------------------------------------------------------------------------------
def encode(record: dict[str, Any], *, compress: bool) -> bytes:
    """Deterministic bytes: sorted keys; compact and gzipped (zero mtime), or indented."""
    if compress:
        text = json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)
    text = json.dumps(record, ensure_ascii=False, sort_keys=True, indent=1)
    return (text + "\n").encode("utf-8")


def generate(out: Path, wordnet_dir: Path) -> dict[str, bytes]:
    """Every derived file's bytes, by file name."""
    with tempfile.TemporaryDirectory(prefix="scaledet-wordnet-") as tmp:
        wordnet = open_wordnet(wordnet_dir, Path(tmp))
        imagenet, imagenet_synsets = imagenet21k_record(wordnet)
        coco = coco_synsets(out, wordnet)
        lvis = [row["synset"] for row in _package_json(out, "lvis_v1.json")]
        hierarchy = hierarchy_record(wordnet, lvis, imagenet_synsets)
        nouns = nouns_record(wordnet, Path(tmp))
    known = set(hierarchy["synsets"]) | set(hierarchy["provenance"]["not_in_wordnet"])
    if any(entry["synset"] not in known for entry in coco["synsets"]):
        raise SystemExit("a COCO synset is neither in the hierarchy nor a known LVIS gap")
    return {
        IMAGENET21K_FILE: encode(imagenet, compress=True),
        HIERARCHY_FILE: encode(hierarchy, compress=True),
        COCO_SYNSETS_FILE: encode(coco, compress=False),
        NOUNS_FILE: encode(nouns, compress=True),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the data directory")
    parser.add_argument(
        "--wordnet",
        type=Path,
        default=DEFAULT_WORDNET,
        help="WordNet 3.0 database directory (default: Debian wordnet-base's /usr/share/wordnet)",
    )
    parser.add_argument(
        "--check", action="store_true", help="only compare; exit 1 when a file is stale"
    )
    args = parser.parse_args(argv)
    files = generate(args.out, args.wordnet)
    stale = 0
    for filename, data in files.items():
        path = args.out / filename
        current = path.read_bytes() if path.exists() else None
        if current == data:
            print(f"up to date  {path} ({len(data):,} bytes)")
            continue
        stale += 1
        if args.check:
            print(f"stale       {path}")
        else:
            path.write_bytes(data)
            print(f"wrote       {path} ({len(data):,} bytes)")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
