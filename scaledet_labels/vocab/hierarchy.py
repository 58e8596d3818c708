"""Label hierarchies: WordNet 3.0 hypernyms and the OpenImages class tree.

Two hierarchies ship as package data and load on first use:

* **WordNet 3.0** (:func:`wordnet_hierarchy`): the hypernym graph, hypernyms and
  instance hypernyms, of every synset of the LVIS, ImageNet-21k and COCO labels and of
  all their ancestors up to ``entity.n.01``. WordNet has multiple inheritance: a synset
  may have several parents, and all are kept, sorted by name (hypernyms before instance
  hypernyms). Synsets are NLTK names (``dog.n.01``).
* **OpenImages** (:func:`oid_hierarchy`): the official ``bbox_labels_600_hierarchy``,
  subcategory and part edges between MIDs.

A label's hierarchy follows from its metadata: a ``synset`` places it in WordNet, a
``mid`` in OpenImages. :func:`label_parents` and :func:`label_ancestors` (also
``Vocabulary.parents``/``ancestors`` and ``LabelSpace.parents``/``ancestors``) return
synset names or MIDs, each once, in a fixed order: parents sorted by name; ancestors
nearest first, each after all of its descendants, so ``entity.n.01`` comes last.

Examples:
    >>> wordnet = wordnet_hierarchy()
    >>> wordnet.parents("dog.n.01")
    ('canine.n.02', 'domestic_animal.n.01')
    >>> wordnet.ancestors("dog.n.01")[:5]
    ('canine.n.02', 'domestic_animal.n.01', 'carnivore.n.01', 'placental.n.01', 'mammal.n.01')
    >>> wordnet.ancestors("dog.n.01")[-3:]
    ('object.n.01', 'physical_entity.n.01', 'entity.n.01')
    >>> wordnet.ancestors("entity.n.01")
    ()
"""

from __future__ import annotations

import gzip
import json
from collections import deque
from collections.abc import Callable, Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from scaledet_labels.errors import VocabularyError

if TYPE_CHECKING:
    from scaledet_labels.vocab.vocabulary import Label

__all__ = [
    "HIERARCHIES",
    "HierarchyName",
    "WordNetHierarchy",
    "label_ancestors",
    "label_parents",
    "oid_hierarchy",
    "read_vocabulary_data",
    "wordnet_hierarchy",
]

#: Which hierarchy :func:`label_parents` follows; ``"auto"``: WordNet when the label has a
#: ``synset``, else OpenImages when it has a ``mid``.
HierarchyName = Literal["auto", "wordnet", "openimages"]
HIERARCHIES: tuple[str, ...] = ("auto", "wordnet", "openimages")

_OID_ROOT = "/m/0bl9f"


def read_vocabulary_data(filename: str) -> Any:
    """Parse a JSON file of ``scaledet_labels/data/vocabularies`` (``.json.gz`` too)."""
    resource = resources.files("scaledet_labels").joinpath("data", "vocabularies", filename)
    if filename.endswith(".gz"):
        return json.loads(gzip.decompress(resource.read_bytes()).decode("utf-8"))
    return json.loads(resource.read_text(encoding="utf-8"))


def _upward(node: str, parents: Callable[[str], Sequence[str]]) -> tuple[str, ...]:
    """Every ancestor of ``node``, each after all of its descendants, nearest first.

    A topological order of the ancestors (Kahn's algorithm, first in first out): a
    synset comes only after every one of its hyponyms among the ancestors, so the root
    comes last, and otherwise the order is breadth first in :meth:`parents` order.
    """
    children: dict[str, int] = {}
    seen = {node}
    order = [node]
    for current in order:  # grows while it is walked: every reachable node once
        for parent in parents(current):
            children[parent] = children.get(parent, 0) + 1
            if parent not in seen:
                seen.add(parent)
                order.append(parent)
    found: list[str] = []
    queue = deque([node])
    while queue:
        for parent in parents(queue.popleft()):
            children[parent] -= 1
            if children[parent] == 0:
                found.append(parent)
                queue.append(parent)
    return tuple(found)


class WordNetHierarchy:
    """A WordNet hypernym graph: parents and ancestors of synsets by NLTK name.

    Get the shipped one with :func:`wordnet_hierarchy`.

    Args:
        synsets: Synset names.
        parents: For each synset, the positions in ``synsets`` of its parents.
        provenance: Where the graph came from.

    Examples:
        >>> tiny = WordNetHierarchy(["a.n.01", "b.n.01", "c.n.01"], [[], [0], [1, 0]])
        >>> tiny.parents("c.n.01"), tiny.ancestors("c.n.01")
        (('b.n.01', 'a.n.01'), ('b.n.01', 'a.n.01'))
        >>> "d.n.01" in tiny
        False
    """

    def __init__(
        self,
        synsets: Sequence[str],
        parents: Sequence[Sequence[int]],
        *,
        provenance: dict[str, Any] | None = None,
    ) -> None:
        names = tuple(synsets)
        if len(parents) != len(names):
            raise VocabularyError(
                f"a WordNet hierarchy needs one parent list per synset: {len(names)} synsets, "
                f"{len(parents)} parent lists"
            )
        self._parents = {
            name: tuple(names[p] for p in positions)
            for name, positions in zip(names, parents, strict=True)
        }
        self._ancestors: dict[str, tuple[str, ...]] = {}
        self.provenance: dict[str, Any] = dict(provenance or {})

    def __contains__(self, synset: object) -> bool:
        return synset in self._parents

    def __len__(self) -> int:
        return len(self._parents)

    def __repr__(self) -> str:
        return f"WordNetHierarchy({len(self)} synsets)"

    @property
    def synsets(self) -> tuple[str, ...]:
        """Every synset of the graph, sorted."""
        return tuple(sorted(self._parents))

    def _check(self, synset: str) -> tuple[str, ...]:
        try:
            return self._parents[synset]
        except (KeyError, TypeError):
            raise VocabularyError(
                f"synset {synset!r} is not in the WordNet hierarchy ({len(self)} synsets: those "
                "of the LVIS, ImageNet-21k and COCO labels and their ancestors); expected an "
                "NLTK synset name such as 'dog.n.01'"
            ) from None

    def parents(self, synset: str) -> tuple[str, ...]:
        """The direct hypernyms of ``synset``, sorted, then its instance hypernyms, sorted.

        Raises:
            VocabularyError: ``synset`` is not in the graph.
        """
        return self._check(synset)

    def ancestors(self, synset: str) -> tuple[str, ...]:
        """Every hypernym of ``synset`` up to ``entity.n.01``, each once.

        Each synset comes after all of its hyponyms among them (so ``entity.n.01`` is
        last); otherwise nearest first, parents in :meth:`parents` order.

        Raises:
            VocabularyError: ``synset`` is not in the graph.

        Examples:
            >>> "animal.n.01" in wordnet_hierarchy().ancestors("dog.n.01")
            True
        """
        found = self._ancestors.get(synset)
        if found is None:
            self._check(synset)
            found = _upward(synset, self._parents.__getitem__)
            self._ancestors[synset] = found
        return found


@cache
def wordnet_hierarchy() -> WordNetHierarchy:
    """The shipped WordNet 3.0 hypernym graph (read once, on first use).

    It holds the synsets of the LVIS, ImageNet-21k and COCO labels and all their
    ancestors; ``provenance`` names WordNet's license and the script that derived it.

    Examples:
        >>> wordnet_hierarchy().parents("entity.n.01")
        ()
    """
    record = read_vocabulary_data("wordnet_hierarchy.json.gz")
    return WordNetHierarchy(
        record["synsets"], record["parents"], provenance=record.get("provenance")
    )


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

    walk(read_vocabulary_data("openimages_hierarchy.json"))
    return relations


def _oid_parents(mid: str) -> list[str]:
    return oid_hierarchy().get(mid, {}).get("parents", [])


def _which(label: Label, hierarchy: HierarchyName) -> tuple[str, str] | None:
    """``("wordnet", synset)``, ``("openimages", mid)`` or None for a label."""
    if hierarchy not in HIERARCHIES:
        raise VocabularyError(f"hierarchy={hierarchy!r} is not one of {list(HIERARCHIES)}")
    metadata = label.metadata
    synset = metadata.get("synset")
    mid = metadata.get("mid")
    if hierarchy in ("auto", "wordnet") and isinstance(synset, str) and synset:
        return ("wordnet", synset) if synset in wordnet_hierarchy() else None
    if hierarchy in ("auto", "openimages") and isinstance(mid, str) and mid:
        return ("openimages", mid) if mid in oid_hierarchy() else None
    return None


def label_parents(label: Label, hierarchy: HierarchyName = "auto") -> tuple[str, ...]:
    """The direct parents of a label: WordNet synset names or OpenImages MIDs.

    Args:
        label: A label; its ``metadata["synset"]`` or ``metadata["mid"]`` places it.
        hierarchy: ``"auto"`` (WordNet when the label has a synset, else OpenImages when
            it has a MID), ``"wordnet"`` or ``"openimages"``.

    Returns:
        The parents, in the hierarchy's order; ``()`` for a label outside the hierarchy
        (no synset or MID, a synset missing from WordNet 3.0 such as LVIS's
        ``stop_sign.n.01``, or a root).

    Raises:
        VocabularyError: ``hierarchy`` is not one of :data:`HIERARCHIES`.
    """
    where = _which(label, hierarchy)
    if where is None:
        return ()
    kind, node = where
    if kind == "wordnet":
        return wordnet_hierarchy().parents(node)
    return tuple(_oid_parents(node))


def label_ancestors(label: Label, hierarchy: HierarchyName = "auto") -> tuple[str, ...]:
    """Every ancestor of a label (see :func:`label_parents`), each once, each after all
    of its descendants (the root last), otherwise nearest first.

    OpenImages ancestors follow subcategory edges only (not "part of"), and stop below
    the root "Entity".
    """
    where = _which(label, hierarchy)
    if where is None:
        return ()
    kind, node = where
    if kind == "wordnet":
        return wordnet_hierarchy().ancestors(node)
    return _upward(node, _oid_parents)
