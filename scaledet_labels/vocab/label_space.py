"""The unified label space: the disjoint union of several datasets' vocabularies.

Unified index of label ``i`` of dataset ``k`` is ``offset[k] + i``, datasets in the order
given (ScaleDet's disjoint union: nothing is merged). Mappings work both ways on Python
ints, numpy arrays and torch tensors (kept on their device); each dataset's own category
ids map through a dense lookup table (``-1`` for ids that do not exist).

Examples:
    >>> from scaledet_labels import LabelSpace
    >>> space = LabelSpace.union(["coco", "lvis"])
    >>> len(space)
    1283
    >>> space.to_unified("lvis", 0), space.from_unified(80)
    (80, ('lvis', 0))
    >>> int(space.map_category_ids("coco", [90])[0])
    79
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

import numpy as np

from scaledet_labels.errors import LabelSpaceError, VocabularyError
from scaledet_labels.vocab.indexing import lookup as _lookup
from scaledet_labels.vocab.vocabulary import Label, Vocabulary

if TYPE_CHECKING:
    import pandas as pd

    from scaledet_labels.vocab.hierarchy import HierarchyName
    from scaledet_labels.vocab.merge import MergeSpec
    from scaledet_labels.vocab.registry import VocabularySource

__all__ = ["SCHEMA", "SCHEMA_VERSION", "LabelSpace", "UnifiedLabel"]

SCHEMA = "scaledet-labels/label-space"
SCHEMA_VERSION = 1

T = TypeVar("T")


@dataclass(frozen=True)
class UnifiedLabel:
    """One label of the unified space.

    Attributes:
        index: The unified index.
        dataset: The dataset it comes from (the first source when labels were merged).
        label: That dataset's :class:`Label`.
        sources: Every ``(dataset, Label)`` it stands for; one entry unless merged.
    """

    index: int
    dataset: str
    label: Label
    sources: tuple[tuple[str, Label], ...]

    @property
    def local_index(self) -> int:
        """The label's index in its own dataset."""
        return self.label.index

    @property
    def id(self) -> int:
        """The dataset's own category id."""
        return self.label.id

    @property
    def name(self) -> str:
        """The raw name."""
        return self.label.name

    @property
    def clean_name(self) -> str:
        """The clean (prompt) name."""
        return self.label.clean_name

    @property
    def prompt_names(self) -> tuple[str, ...]:
        """Clean name and synonyms of every source, each once, in order."""
        return tuple(
            dict.fromkeys(name for _, label in self.sources for name in label.prompt_names)
        )

    @property
    def synonyms(self) -> tuple[str, ...]:
        """Every prompt name but the clean name."""
        return self.prompt_names[1:]

    @property
    def key(self) -> str:
        """``"dataset:clean name"``, unique within a label space."""
        return f"{self.dataset}:{self.clean_name}"


class LabelSpace:
    """The union of several vocabularies with vectorised index maps.

    Build it with :meth:`union`. The constructor takes vocabularies and, optionally,
    merge groups (see :mod:`scaledet_labels.vocab.merge`).

    Args:
        vocabularies: The datasets, in order; their names must be distinct.
        groups: Groups of ``(dataset_position, local_index)`` that become one label.
        merge: A description of how ``groups`` were made, kept for the record.

    Raises:
        LabelSpaceError: No vocabularies, or two with the same name.
    """

    def __init__(
        self,
        vocabularies: Sequence[Vocabulary],
        *,
        groups: Sequence[Sequence[tuple[int, int]]] = (),
        merge: str | None = None,
    ) -> None:
        vocabs = tuple(vocabularies)
        if not vocabs:
            raise LabelSpaceError("a label space needs at least one vocabulary")
        for vocab in vocabs:
            if not isinstance(vocab, Vocabulary):
                raise LabelSpaceError(
                    f"expected Vocabulary objects, got {type(vocab).__name__}; use "
                    "LabelSpace.union(...) to load names, files or lists"
                )
        seen: set[str] = set()
        for vocab in vocabs:
            if vocab.name in seen:
                builtin = vocab.source.startswith(("builtin:", "<"))
                cli_source = vocab.name if builtin else vocab.source
                raise LabelSpaceError(
                    f"dataset {vocab.name!r} appears twice; the same vocabulary twice is an "
                    "error unless the copies are named differently, e.g. "
                    f"LabelSpace.union([...], names=[{vocab.name!r}, '{vocab.name}_2']), or "
                    f"on the command line NAME=SOURCE: {vocab.name}_2={cli_source}"
                )
            seen.add(vocab.name)
        self._vocabs = vocabs
        self._positions = {vocab.name: d for d, vocab in enumerate(vocabs)}
        self._groups: list[list[tuple[int, int]]] = [
            sorted((int(node[0]), int(node[1])) for node in group) for group in groups
        ]
        self._merge = merge if self._groups else None

        leader: dict[tuple[int, int], tuple[int, int]] = {}
        for group in self._groups:
            for node in group:
                if node in leader:
                    raise LabelSpaceError(f"label {node} is in two merge groups")
                d, i = node
                if not (0 <= d < len(vocabs) and 0 <= i < len(vocabs[d])):
                    raise LabelSpaceError(f"merge group member {node} is out of range")
                leader[node] = group[0]
        members: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for node, lead in leader.items():
            members.setdefault(lead, []).append(node)

        local_to_unified = [np.full(len(v), -1, dtype=np.int64) for v in vocabs]
        labels: list[UnifiedLabel] = []
        for d, vocab in enumerate(vocabs):
            for label in vocab:
                node = (d, label.index)
                if local_to_unified[d][label.index] >= 0:
                    continue
                group = sorted(members.get(leader.get(node, node), [node]))
                unified = len(labels)
                for gd, gi in group:
                    local_to_unified[gd][gi] = unified
                labels.append(
                    UnifiedLabel(
                        index=unified,
                        dataset=vocab.name,
                        label=label,
                        sources=tuple((vocabs[gd].name, vocabs[gd][gi]) for gd, gi in group),
                    )
                )
        for array in local_to_unified:
            array.setflags(write=False)
        self._local_to_unified = local_to_unified
        self._labels = tuple(labels)
        self._unified_dataset = np.array([self._positions[u.dataset] for u in labels], np.int64)
        self._unified_local = np.array([u.local_index for u in labels], np.int64)
        self._id_tables: dict[int, np.ndarray[Any, np.dtype[np.int64]]] = {}

    # -- construction --------------------------------------------------------------------
    @classmethod
    def union(
        cls,
        vocabularies: Sequence[VocabularySource],
        *,
        names: Sequence[str] | None = None,
        merge: MergeSpec | None = None,
        fold_plurals: bool = True,
    ) -> LabelSpace:
        """The disjoint union of vocabularies (ScaleDet's label space), in the order given.

        Args:
            vocabularies: Anything :func:`scaledet_labels.load_vocabulary` accepts.
            names: Dataset names to use instead of the vocabularies' own (one each).
            merge: Optional, never the default: ``"exact"``, ``"synset"`` or a user mapping
                (see :mod:`scaledet_labels.vocab.merge`).
            fold_plurals: With ``merge="exact"``, fold plural and singular.

        Raises:
            LabelSpaceError: Duplicate dataset names, wrong number of ``names``, a bad merge.
            VocabularyError: A vocabulary cannot be loaded.

        Examples:
            >>> len(LabelSpace.union(["coco", "lvis", "objects365", "oid"]))
            2249
        """
        from scaledet_labels.vocab.registry import load_vocabulary

        if isinstance(vocabularies, (str, Vocabulary)):
            vocabularies = [vocabularies]
        sources = list(vocabularies)
        if names is not None and len(names) != len(sources):
            raise LabelSpaceError(f"names has {len(names)} entries for {len(sources)} vocabularies")
        vocabs = [
            load_vocabulary(src, name=names[k] if names is not None else None)
            for k, src in enumerate(sources)
        ]
        if merge is None:
            return cls(vocabs)
        from scaledet_labels.vocab.merge import merge_groups

        groups = merge_groups(vocabs, merge, fold_plurals=fold_plurals)
        description = merge if isinstance(merge, str) else "mapping"
        return cls(vocabs, groups=groups, merge=description)

    # -- basics --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._labels)

    def __iter__(self) -> Iterator[UnifiedLabel]:
        return iter(self._labels)

    @overload
    def __getitem__(self, index: int) -> UnifiedLabel: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[UnifiedLabel, ...]: ...

    def __getitem__(self, index: int | slice) -> UnifiedLabel | tuple[UnifiedLabel, ...]:
        return self._labels[index]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelSpace):
            return NotImplemented
        return self._vocabs == other._vocabs and self._groups == other._groups

    def __hash__(self) -> int:
        return hash(self.content_hash())

    def __repr__(self) -> str:
        sizes = ", ".join(f"{v.name}={len(v)}" for v in self._vocabs)
        merged = f", merge={self._merge!r}" if self._merge else ""
        return f"LabelSpace({len(self)} labels: {sizes}{merged})"

    @property
    def labels(self) -> tuple[UnifiedLabel, ...]:
        """Every unified label, in unified order."""
        return self._labels

    @property
    def datasets(self) -> tuple[str, ...]:
        """Dataset names in order."""
        return tuple(v.name for v in self._vocabs)

    @property
    def vocabularies(self) -> tuple[Vocabulary, ...]:
        """The vocabularies in order."""
        return self._vocabs

    @property
    def is_disjoint(self) -> bool:
        """True when nothing was merged (the ScaleDet default)."""
        return not self._groups

    @property
    def merge(self) -> str | None:
        """How labels were merged (``"exact"``, ``"synset"``, ``"mapping"``), or None."""
        return self._merge

    @property
    def merge_groups(self) -> list[list[tuple[int, int]]]:
        """The merge groups as ``(dataset_position, local_index)`` lists."""
        return [list(group) for group in self._groups]

    @property
    def offsets(self) -> np.ndarray[Any, np.dtype[np.int64]]:
        """Start of each dataset in the unified index, plus the total: ``(num_datasets + 1,)``.

        Raises:
            LabelSpaceError: The space has merged labels, so datasets are not contiguous.
        """
        if not self.is_disjoint:
            raise LabelSpaceError(
                "offsets exist only for a disjoint union; this space has merged labels, "
                "use to_unified() instead"
            )
        return np.cumsum([0, *(len(v) for v in self._vocabs)]).astype(np.int64)

    def dataset_index(self, dataset: str | int) -> int:
        """Position of a dataset given by name or position.

        Raises:
            LabelSpaceError: Unknown dataset.
        """
        if isinstance(dataset, (int, np.integer)) and not isinstance(dataset, bool):
            if 0 <= int(dataset) < len(self._vocabs):
                return int(dataset)
            raise LabelSpaceError(
                f"dataset position {dataset} is out of range 0..{len(self._vocabs) - 1}"
            )
        if isinstance(dataset, str) and dataset in self._positions:
            return self._positions[dataset]
        raise LabelSpaceError(f"unknown dataset {dataset!r}; datasets: {list(self.datasets)}")

    def vocabulary(self, dataset: str | int) -> Vocabulary:
        """The vocabulary of one dataset."""
        return self._vocabs[self.dataset_index(dataset)]

    # -- mappings ------------------------------------------------------------------------
    def to_unified(self, dataset: str | int, local: T) -> T:
        """Map local (contiguous) indices of ``dataset`` to unified indices.

        Args:
            dataset: Dataset name or position.
            local: An int, a sequence, a numpy array or a torch tensor of local indices.

        Returns:
            The unified indices, of the same kind (a tensor stays on its device).

        Raises:
            LabelSpaceError: Unknown dataset or an index out of range.
        """
        d = self.dataset_index(dataset)
        table = self._local_to_unified[d]
        result: T = _lookup(table, local, strict=f"{self.datasets[d]} local index")
        return result

    def from_unified(self, unified: Any) -> Any:
        """Map unified indices back to ``(dataset, local index)``.

        An int gives ``(dataset_name, local_index)``; an array or tensor gives
        ``(dataset_positions, local_indices)`` of the same kind. A merged label maps to its
        first source.
        """
        if isinstance(unified, (int, np.integer)) and not isinstance(unified, bool):
            u = int(unified)
            if not 0 <= u < len(self):
                raise LabelSpaceError(f"unified index {u} is out of range 0..{len(self) - 1}")
            return self._labels[u].dataset, self._labels[u].local_index
        what = "unified index"
        return (
            _lookup(self._unified_dataset, unified, strict=what),
            _lookup(self._unified_local, unified, strict=what),
        )

    def category_id_table(self, dataset: str | int) -> np.ndarray[Any, np.dtype[np.int64]]:
        """Dense lookup ``table[category_id] -> unified index`` (``-1`` where no label).

        Examples:
            >>> space = LabelSpace.union(["coco"])
            >>> table = space.category_id_table("coco")
            >>> int(table[1]), int(table[12])
            (0, -1)
        """
        d = self.dataset_index(dataset)
        if d not in self._id_tables:
            vocab = self._vocabs[d]
            ids = np.array(vocab.ids, dtype=np.int64)
            if ids.min() < 0:
                raise LabelSpaceError(
                    f"{vocab.name}: negative category ids cannot use a dense table"
                )
            if ids.max() > 10_000_000:
                raise LabelSpaceError(
                    f"{vocab.name}: category ids up to {ids.max()} are too large for a dense table"
                )
            table = np.full(int(ids.max()) + 1, -1, dtype=np.int64)
            table[ids] = self._local_to_unified[d]
            table.setflags(write=False)
            self._id_tables[d] = table
        return self._id_tables[d]

    def map_category_ids(self, dataset: str | int, ids: T) -> T:
        """Map a dataset's own category ids to unified indices; unknown ids give ``-1``.

        Works on ints, sequences, numpy arrays and torch tensors (on their device).
        """
        result: T = _lookup(self.category_id_table(dataset), ids, strict=None)
        return result

    def mask(self, dataset: str | int) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """Boolean ``(n,)`` mask of the unified labels that belong to ``dataset``."""
        d = self.dataset_index(dataset)
        mask = np.zeros(len(self), dtype=bool)
        mask[self._local_to_unified[d]] = True
        return mask

    def masks(self) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """Boolean ``(num_datasets, n)`` masks, one row per dataset."""
        return np.stack([self.mask(d) for d in range(len(self._vocabs))])

    def indices(self, dataset: str | int) -> np.ndarray[Any, np.dtype[np.int64]]:
        """Unified indices of a dataset's labels, in the dataset's own order."""
        return self._local_to_unified[self.dataset_index(dataset)].copy()

    def find(self, name: str, dataset: str | int | None = None) -> UnifiedLabel:
        """The unified label for a name (raw, clean or synonym), optionally in one dataset.

        Raises:
            LabelSpaceError: No dataset has such a label, or several do and ``dataset`` is
                not given.
        """
        if dataset is not None:
            d = self.dataset_index(dataset)
            try:
                local = self._vocabs[d].find(name).index
            except VocabularyError as exc:
                raise LabelSpaceError(str(exc)) from None
            return self._labels[int(self._local_to_unified[d][local])]
        hits: list[UnifiedLabel] = []
        for d, vocab in enumerate(self._vocabs):
            try:
                local = vocab.find(name).index
            except VocabularyError:
                continue
            hit = self._labels[int(self._local_to_unified[d][local])]
            if hit not in hits:
                hits.append(hit)
        if not hits:
            raise LabelSpaceError(f"no dataset has a label named {name!r}")
        if len(hits) > 1:
            raise LabelSpaceError(
                f"{name!r} is a label of several datasets ({[h.dataset for h in hits]}); "
                "pass dataset="
            )
        return hits[0]

    # -- hierarchy -----------------------------------------------------------------------
    def parents(
        self,
        label: int | UnifiedLabel | str,
        dataset: str | int | None = None,
        *,
        hierarchy: HierarchyName = "auto",
    ) -> tuple[str, ...]:
        """The direct parents of a unified label in its hierarchy (WordNet or OpenImages).

        Args:
            label: A unified index, a :class:`UnifiedLabel`, or a name (see :meth:`find`).
            dataset: With a name, the dataset to look it up in.
            hierarchy: ``"auto"``, ``"wordnet"`` or ``"openimages"`` (see
                :func:`scaledet_labels.vocab.hierarchy.label_parents`).

        Returns:
            Synset names or MIDs; for a merged label, those of every source, each once.

        Examples:
            >>> LabelSpace.union(["coco", "lvis"]).parents("dog", "coco")
            ('canine.n.02', 'domestic_animal.n.01')
        """
        from scaledet_labels.vocab.hierarchy import label_parents

        unified = self._resolve(label, dataset)
        found = (label_parents(source, hierarchy) for _, source in unified.sources)
        return tuple(dict.fromkeys(name for names in found for name in names))

    def ancestors(
        self,
        label: int | UnifiedLabel | str,
        dataset: str | int | None = None,
        *,
        hierarchy: HierarchyName = "auto",
    ) -> tuple[str, ...]:
        """Every ancestor of a unified label, nearest first (arguments as :meth:`parents`).

        Examples:
            >>> space = LabelSpace.union(["lvis", "imagenet21k"])
            >>> "animal.n.01" in space.ancestors("dog", "imagenet21k")
            True
        """
        from scaledet_labels.vocab.hierarchy import label_ancestors

        unified = self._resolve(label, dataset)
        found = (label_ancestors(source, hierarchy) for _, source in unified.sources)
        return tuple(dict.fromkeys(name for names in found for name in names))

    def _resolve(self, label: int | UnifiedLabel | str, dataset: str | int | None) -> UnifiedLabel:
        if isinstance(label, UnifiedLabel):
            return label
        if isinstance(label, str):
            return self.find(label, dataset)
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
            if not 0 <= int(label) < len(self):
                raise LabelSpaceError(f"unified index {label} is out of range 0..{len(self) - 1}")
            return self._labels[int(label)]
        raise LabelSpaceError(
            f"expected a unified index, a UnifiedLabel or a label name, got {type(label).__name__}"
        )

    # -- tables and files ----------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """A DataFrame of every unified label: index, dataset, local index, id, names."""
        import pandas as pd

        rows = [
            {
                "index": u.index,
                "dataset": u.dataset,
                "local_index": u.local_index,
                "id": u.id,
                "name": u.name,
                "clean_name": u.clean_name,
                "synonyms": list(u.synonyms),
                "sources": [f"{ds}:{label.index}" for ds, label in u.sources],
            }
            for u in self._labels
        ]
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with a schema name and version."""
        return {
            "schema": SCHEMA,
            "version": SCHEMA_VERSION,
            "merge": self._merge,
            "groups": [[list(node) for node in group] for group in self._groups],
            "vocabularies": [vocab.to_dict() for vocab in self._vocabs],
        }

    @classmethod
    def from_dict(cls, data: Any) -> LabelSpace:
        """Rebuild a label space from :meth:`to_dict` output.

        Raises:
            LabelSpaceError: Not a label-space record, or a newer schema version.
        """
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise LabelSpaceError(f"not a label space: expected 'schema': {SCHEMA!r}")
        version = data.get("version")
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise LabelSpaceError(
                f"label space schema version {version!r} is not supported (this library "
                f"reads versions up to {SCHEMA_VERSION}); upgrade scaledet-labels"
            )
        try:
            vocabs = [Vocabulary.from_dict(v) for v in data["vocabularies"]]
            groups = [[(int(d), int(i)) for d, i in group] for group in data.get("groups", [])]
        except (KeyError, TypeError, ValueError) as exc:
            raise LabelSpaceError(f"malformed label space record: {exc}") from None
        return cls(vocabs, groups=groups, merge=data.get("merge"))

    def to_json(self, path: str | os.PathLike[str] | None = None, *, indent: int | None = 1) -> str:
        """Serialise to JSON text; also write it to ``path`` when given.

        ``indent=None`` writes one compact line, several times faster for large spaces
        (bundles use it).
        """
        text = json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    @classmethod
    def from_json(cls, text_or_path: str | os.PathLike[str]) -> LabelSpace:
        """Read JSON text, or a file holding it, written by :meth:`to_json`."""
        text = os.fspath(text_or_path)
        if not text.lstrip().startswith(("{", "[")):
            path = Path(text)
            if not path.exists():
                raise LabelSpaceError(f"{path}: no such file")
            text = path.read_text(encoding="utf-8-sig")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LabelSpaceError(f"invalid label-space JSON: {exc}") from None
        return cls.from_dict(data)

    def content_hash(self) -> str:
        """SHA-256 over every dataset's name and content and the merge groups."""
        digest = hashlib.sha256()
        for vocab in self._vocabs:
            digest.update(f"{vocab.name}\0{vocab.content_hash()}\0".encode())
        digest.update(json.dumps(self._groups).encode())
        return digest.hexdigest()
