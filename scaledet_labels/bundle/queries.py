"""Questions asked of a built bundle: nearest labels, cross-dataset relations, matches.

Each function takes a :class:`~scaledet_labels.LabelSpaceBundle` and answers from its
stored embeddings; text that names no label is embedded with the bundle's own encoder
(:meth:`~scaledet_labels.LabelSpaceBundle.encode_vocabulary`). The bundle's methods of the
same names call these.

Examples:
    >>> import numpy as np
    >>> from scaledet_labels import LabelSpace, build_label_space
    >>> space = LabelSpace.union(["cat, dog", "kitten"], names=["a", "b"])
    >>> emb = np.array([[1, 0], [0, 1], [0.9, 0.1]], dtype=np.float32)
    >>> bundle = build_label_space(space, precomputed={"a": emb[:2], "b": emb[2:]})
    >>> neighbors(bundle, "b:kitten", k=1).name.tolist()
    ['cat']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from scaledet_labels.bundle.matching import MatchSignals, match_labels
from scaledet_labels.errors import BundleError
from scaledet_labels.vocab.label_space import UnifiedLabel
from scaledet_labels.vocab.registry import load_vocabulary

if TYPE_CHECKING:
    import numpy.typing as npt
    import pandas as pd

    from scaledet_labels.bundle.container import LabelSpaceBundle

__all__ = [
    "MATCH_COLUMNS",
    "MERGE_COLUMNS",
    "match",
    "merges_table",
    "near_duplicates",
    "neighbors",
    "relations",
    "same_name_pairs",
]


def check_k(k: object, name: str = "k") -> int:
    """Return ``k`` if it is a positive integer (how many results to return)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise BundleError(f"{name} must be a positive integer, got {k!r}")
    return int(k)


def _label_row(label: UnifiedLabel) -> dict[str, Any]:
    return {
        "index": label.index,
        "dataset": label.dataset,
        "id": label.id,
        "name": label.name,
        "clean_name": label.clean_name,
    }


def _query_vector(
    bundle: LabelSpaceBundle, query: str | int
) -> tuple[npt.NDArray[np.float32], int | None]:
    space = bundle.label_space
    if isinstance(query, (int, np.integer)) and not isinstance(query, bool):
        index = int(query)
        if not 0 <= index < len(space):
            raise BundleError(f"label index {index} is out of range 0..{len(space) - 1}")
        return bundle.embeddings[index], index
    if not isinstance(query, str) or not query.strip():
        raise BundleError(f"query must be a label, free text or an index, got {query!r}")
    dataset, sep, name = query.partition(":")
    if sep and dataset in space.datasets:
        label = space.find(name, dataset=dataset)
        return bundle.embeddings[label.index], label.index
    for ds in space.datasets:
        try:
            label = space.find(query, dataset=ds)
        except ValueError:
            continue
        return bundle.embeddings[label.index], label.index
    return bundle.encode_vocabulary([query])[0], None


def candidates(
    bundle: LabelSpaceBundle, datasets: Sequence[str] | str | None
) -> npt.NDArray[np.int64]:
    """Unified indices of the labels of ``datasets`` (all labels for ``None``)."""
    space = bundle.label_space
    if datasets is None:
        return np.arange(len(space), dtype=np.int64)
    names = [datasets] if isinstance(datasets, str) else list(datasets)
    mask = np.zeros(len(space), dtype=bool)
    for name in names:
        mask |= space.mask(name)
    return np.flatnonzero(mask).astype(np.int64)


def neighbors(
    bundle: LabelSpaceBundle,
    query: str | int,
    k: int = 10,
    *,
    datasets: Sequence[str] | str | None = None,
) -> pd.DataFrame:
    """The ``k`` labels nearest to a label (``"dataset:name"``, a name, an index) or text.

    A query that names a label uses its stored embedding and leaves the label itself
    out of the answer; any other text is embedded with the bundle's encoder.

    Args:
        bundle: The bundle.
        query: ``"coco:person"``, ``"person"`` (first dataset that has it), an int
            unified index, or free text.
        k: How many neighbours.
        datasets: Only look in these datasets.

    Returns:
        A DataFrame: rank, index, dataset, id, name, clean_name, cosine.
    """
    import pandas as pd

    k = check_k(k)
    vector, own = _query_vector(bundle, query)
    pool = candidates(bundle, datasets)
    if own is not None:
        pool = pool[pool != own]
    scores = bundle.embeddings[pool] @ vector
    order = np.argsort(-scores, kind="stable")[:k]
    rows = []
    for rank, position in enumerate(order, start=1):
        label = bundle.label_space[int(pool[position])]
        rows.append(_label_row(label) | {"rank": rank, "cosine": float(scores[position])})
    columns = ["rank", "index", "dataset", "id", "name", "clean_name", "cosine"]
    return pd.DataFrame(rows, columns=columns)


def relations(bundle: LabelSpaceBundle, k: int = 1) -> pd.DataFrame:
    """Each label's ``k`` nearest labels in every other dataset, as a DataFrame.

    Columns: index, dataset, name, other_dataset, rank, other_index, other_name, cosine.
    """
    import pandas as pd

    k = check_k(k)
    space = bundle.label_space
    emb = bundle.embeddings
    rows = []
    for ds in space.datasets:
        own = space.indices(ds)
        for other in space.datasets:
            if other == ds:
                continue
            theirs = space.indices(other)
            scores = emb[own] @ emb[theirs].T
            top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
            for row, u in enumerate(own):
                for rank, col in enumerate(top[row], start=1):
                    rows.append(
                        {
                            "index": int(u),
                            "dataset": ds,
                            "name": space[int(u)].name,
                            "other_dataset": other,
                            "rank": rank,
                            "other_index": int(theirs[col]),
                            "other_name": space[int(theirs[col])].name,
                            "cosine": float(scores[row, col]),
                        }
                    )
    return pd.DataFrame(rows)


def same_name_pairs(bundle: LabelSpaceBundle) -> list[tuple[UnifiedLabel, UnifiedLabel]]:
    """Pairs of labels from different datasets whose clean names are equal ignoring case.

    Example: ``coco:person`` and ``oid:Person``. A hand merge would join these; the
    disjoint union keeps both and lets the similarity matrix relate them.
    """
    groups: dict[str, list[UnifiedLabel]] = {}
    for label in bundle.label_space:
        groups.setdefault(label.clean_name.casefold(), []).append(label)
    return [
        (a, b)
        for members in groups.values()
        for i, a in enumerate(members)
        for b in members[i + 1 :]
        if a.dataset != b.dataset
    ]


def near_duplicates(
    bundle: LabelSpaceBundle, k: int = 10, *, skip_identical: bool = False
) -> list[tuple[UnifiedLabel, UnifiedLabel, float]]:
    """The ``k`` most similar pairs of labels from different datasets (best first).

    Args:
        bundle: The bundle.
        k: How many pairs.
        skip_identical: Leave out pairs whose clean names are equal ignoring case
            (``coco:person`` ~ ``oid:Person``; see :func:`same_name_pairs`), to see
            the pairs a name match would miss (``voc:sofa`` ~ ``coco:couch``).
    """
    k = check_k(k)
    space = bundle.label_space
    emb = bundle.embeddings
    if len(space.datasets) < 2:
        return []
    owner = np.empty(len(space), dtype=np.int64)
    for d in range(len(space.datasets)):
        owner[space.indices(d)] = d
    pairs: list[tuple[float, int, int]] = []
    names = (
        np.array([u.clean_name.casefold() for u in space], dtype=object) if skip_identical else None
    )
    block = max(1, (1 << 22) // len(space))
    for start in range(0, len(space), block):
        stop = min(len(space), start + block)
        scores = emb[start:stop] @ emb.T
        rows = np.arange(start, stop)
        same_dataset = owner[rows][:, None] == owner[None, :]
        not_after = rows[:, None] >= np.arange(len(space))[None, :]
        scores[same_dataset | not_after] = -np.inf
        if names is not None:
            scores[names[rows][:, None] == names[None, :]] = -np.inf
        flat = scores.ravel()
        take = min(k, flat.size)
        best = np.argpartition(-flat, take - 1)[:take]
        for f in best:
            r, c = divmod(int(f), len(space))
            if np.isfinite(flat[f]):
                pairs.append((float(flat[f]), start + r, c))
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    return [(space[i], space[j], score) for score, i, j in pairs[:k]]


def match(
    bundle: LabelSpaceBundle,
    source: Any,
    to: str | Sequence[str] | None = None,
    k: int = 1,
    *,
    threshold: float = 0.5,
    one_to_one: bool = False,
    signals: MatchSignals = "all",
    metadata: bool = True,
) -> pd.DataFrame:
    """Decide for each label of a vocabulary: the same concept as a label of ``to``, or none.

    ``source`` is a dataset of the bundle (its stored embeddings are used) or any
    vocabulary (embedded with the bundle's encoder). See
    :mod:`scaledet_labels.bundle.matching` for the signals and the model.

    Args:
        bundle: The bundle.
        source: A dataset name of the bundle, or anything
            :func:`~scaledet_labels.load_vocabulary` accepts.
        to: Target dataset(s) (default: every dataset of the bundle but ``source``).
        k: Candidates listed per source label (the first carries the decision).
        threshold: ``same`` when the best candidate's probability reaches it.
        one_to_one: At most one source label per target (for datasets without duplicates).
        signals: ``"all"``, ``"wordnet"``, ``"names"`` or ``"embeddings"``.
        metadata: Use the datasets' own synsets and definitions.

    Returns:
        A DataFrame, one row per source label and candidate rank: source_index,
        source_name, rank, decision (``same`` / ``none`` on rank 1, ``alternative``
        below), confidence (of the decision), p_same, index (unified), local_index (in
        its dataset), dataset, name, cosine, evidence, source_ref and target_ref
        (``"dataset:name"``, what :func:`merges_table` writes).

    Examples:
        >>> import numpy as np
        >>> from scaledet_labels import LabelSpace, build_label_space
        >>> space = LabelSpace.union(["dog, parking meter", "Dogs, traffic sign"], names=["a", "b"])
        >>> emb = np.array([[1, 0], [0.6, 0.8], [1, 0.05], [0.5, 0.85]], dtype=np.float32)
        >>> bundle = build_label_space(space, precomputed={"a": emb[:2], "b": emb[2:]})
        >>> match(bundle, "a", to="b")[["source_name", "decision", "name"]].values.tolist()
        [['dog', 'same', 'Dogs'], ['parking meter', 'none', 'traffic sign']]
    """
    import pandas as pd

    k = check_k(k)
    space = bundle.label_space
    if isinstance(source, str) and source in space.datasets:
        vocab = space.vocabulary(source)
        vectors = bundle.classifier(source)
        if to is None:
            to = [d for d in space.datasets if d != source]
    else:
        vocab = load_vocabulary(source)
        vectors = bundle.encode_vocabulary(vocab)
    pool = candidates(bundle, to)
    targets = [space[int(u)] for u in pool]
    decisions = match_labels(
        vocab.labels,
        vectors,
        [u.label for u in targets],
        bundle.embeddings[pool],
        k=k,
        threshold=threshold,
        one_to_one=one_to_one,
        signals=signals,
        metadata=metadata,
    )
    rows = []
    for label, found in zip(vocab.labels, decisions, strict=True):
        ranked = found.candidates or ((found.target, found.p_same, found.cosine),)
        for rank, (row, p_same, cosine) in enumerate(ranked, start=1):
            target = targets[row] if row >= 0 else None
            first = rank == 1
            rows.append(
                {
                    "source_index": label.index,
                    "source_name": label.name,
                    "rank": rank,
                    "decision": found.decision if first else "alternative",
                    "confidence": found.confidence if first else None,
                    "p_same": p_same,
                    "index": target.index if target else None,
                    "local_index": target.local_index if target else None,
                    "dataset": target.dataset if target else None,
                    "name": target.name if target else None,
                    "cosine": cosine,
                    "evidence": found.evidence if first else "",
                    "source_ref": f"{vocab.name}:{label.name}",
                    "target_ref": f"{target.dataset}:{target.name}" if target else None,
                }
            )
    return pd.DataFrame(rows, columns=MATCH_COLUMNS)


MATCH_COLUMNS = [
    "source_index",
    "source_name",
    "rank",
    "decision",
    "confidence",
    "p_same",
    "index",
    "local_index",
    "dataset",
    "name",
    "cosine",
    "evidence",
    "source_ref",
    "target_ref",
]
MERGE_COLUMNS = ["source", "target", "source_index", "target_index", "confidence", "evidence"]


def merges_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The ``same`` decisions of :func:`match` as a merge table.

    Columns ``source``, ``target`` (``"dataset:name"`` references), ``source_index`` and
    ``target_index`` (each label's index in its own dataset, which the reader prefers, so
    case variants such as V3Det's ``Timer`` / ``timer`` stay apart), ``confidence`` and
    ``evidence``; saved as CSV, ``LabelSpace.union(..., merge="merges.csv")`` reads it back
    (see :mod:`scaledet_labels.vocab.merge`). Review it first: delete the rows you
    disagree with.
    """
    same = frame[frame["decision"] == "same"]
    table = same.rename(
        columns={
            "source_ref": "source",
            "target_ref": "target",
            "source_index": "source_index",
            "local_index": "target_index",
        }
    )
    table = table[MERGE_COLUMNS].reset_index(drop=True)
    return table.astype({"source_index": "int64", "target_index": "int64"})
