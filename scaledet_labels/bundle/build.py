"""Building a label-space bundle: vocabularies -> label space -> embeddings -> similarity.

Examples:
    >>> from scaledet_labels import build_label_space
    >>> bundle = build_label_space(["coco", "lvis"])  # doctest: +SKIP
    >>> bundle.embeddings.shape  # doctest: +SKIP
    (1283, 384)
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from scaledet_labels._version import __version__
from scaledet_labels.bundle.container import LabelSpaceBundle
from scaledet_labels.bundle.io import arrays_hash
from scaledet_labels.bundle.manifest import bundle_identity
from scaledet_labels.bundle.similarity import (
    NORMALIZATIONS,
    Normalization,
    SimilarityDtype,
    dense_bytes,
    label_similarity,
    resolve_topk,
)
from scaledet_labels.embed.cache import DB_FILENAME, PromptCache, resolve_cache_dir
from scaledet_labels.embed.embeddings import RECIPE, CacheArg, EncoderArg, embed_labels
from scaledet_labels.embed.encoders.spec import DEFAULT_ENCODER
from scaledet_labels.embed.prompts import LabelPromptsArg
from scaledet_labels.embed.templates import TemplatesArg
from scaledet_labels.errors import BundleError, CacheError, SimilarityError
from scaledet_labels.vocab.label_space import LabelSpace
from scaledet_labels.vocab.registry import VocabularySource

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["build_label_space", "load_precomputed"]

logger = logging.getLogger(__name__)


def _read_precomputed(
    source: Any, *, rows: int | None, where: str
) -> tuple[npt.NDArray[np.float32], dict[str, Any]]:
    """The normalised rows of a precomputed source and the manifest record of where they
    came from: ``{"file", "sha256", "dtype", "shape"}`` (``file``/``sha256``: the file's
    name and the SHA-256 of its bytes, None for an in-memory array)."""
    label = where or str(source)
    record: dict[str, Any] = {"file": None, "sha256": None}
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise BundleError(f"precomputed embeddings {path}: no such file")
        if path.suffix not in (".npy", ".safetensors"):
            raise BundleError(f"{path}: precomputed embeddings must be .npy or .safetensors")
        data = path.read_bytes()  # hashed and parsed from the same bytes
        record = {"file": path.name, "sha256": hashlib.sha256(data).hexdigest()}
        if path.suffix == ".npy":
            try:
                array = np.load(io.BytesIO(data), allow_pickle=False)
            except ValueError as exc:
                raise BundleError(f"{path}: not a plain .npy array ({exc})") from None
        else:
            from safetensors.numpy import load

            try:
                tensors = load(data)
            except Exception as exc:  # safetensors raises its own error types
                raise BundleError(f"{path}: not a readable .safetensors file ({exc})") from None
            if "embeddings" in tensors:
                array = tensors["embeddings"]
            elif len(tensors) == 1:
                array = next(iter(tensors.values()))
            else:
                raise BundleError(
                    f"{path}: holds {sorted(tensors)}; expected one tensor or 'embeddings'"
                )
        label = f"{label} ({path.name})" if where else label
    else:
        array = np.asarray(source)
    if array.ndim != 2 or array.dtype.kind != "f":
        raise BundleError(
            f"{label}: precomputed embeddings must be a 2-D float array (C, D), got "
            f"{array.dtype} {array.shape}"
        )
    if rows is not None and array.shape[0] != rows:
        hint = " (it looks transposed: (D, C))" if array.shape[1] == rows else ""
        raise BundleError(
            f"{label}: has {array.shape[0]} rows but the vocabulary has {rows} labels{hint}"
        )
    record |= {"dtype": str(array.dtype), "shape": [int(n) for n in array.shape]}
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise BundleError(f"{label}: precomputed embeddings contain NaN or infinity")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    if (norms == 0).any():
        raise BundleError(f"{label}: row {int(np.flatnonzero(norms[:, 0] == 0)[0])} is zero")
    return array / norms, record


def load_precomputed(source: Any, *, rows: int | None = None, where: str = "") -> Any:
    """Read precomputed label embeddings ``(C, D)`` from ``.npy``/``.safetensors`` or an array.

    Rows are L2-normalised (as float32; float16 files such as Detic's are fine). A
    ``.safetensors`` file must hold one tensor (or one named ``embeddings``); ``.npy`` is
    read with ``allow_pickle=False``. Detic's shipped ``lvis_v1_clip_a+cname.npy`` is
    ``(1203, 512)`` rows and loads as is; a ``(D, C)`` matrix is refused rather than
    guessed.

    Args:
        source: A ``.npy``/``.safetensors`` path or an array-like ``(C, D)``.
        rows: The number of rows expected (the vocabulary's label count).
        where: What to call the source in errors (a dataset name).

    Raises:
        BundleError: Unreadable file, wrong shape or row count, non-finite or zero rows.

    Examples:
        >>> load_precomputed([[3.0, 4.0], [0.0, 2.0]]).tolist()
        [[0.6000000238418579, 0.800000011920929], [0.0, 1.0]]
    """
    return _read_precomputed(source, rows=rows, where=where)[0]


def _source_words(record: Mapping[str, Any]) -> str:
    """``file coco_clip_a+cname.npy`` or ``an array`` for error messages."""
    return f"file {record['file']}" if record.get("file") else "an array"


def build_label_space(
    vocabularies: LabelSpace | Sequence[VocabularySource],
    *,
    encoder: EncoderArg = DEFAULT_ENCODER,
    templates: TemplatesArg = None,
    synonyms: bool = True,
    label_prompts: LabelPromptsArg = None,
    similarity: Normalization = "minmax",
    topk: int | Literal["auto"] | None = "auto",
    dtype: SimilarityDtype = "float32",
    cache: CacheArg = True,
    device: str = "auto",
    precision: str = "fp32",
    batch_size: int | None = None,
    precomputed: Mapping[str, Any] | None = None,
    names: Sequence[str] | None = None,
    progress: bool | None = None,
    distributed: bool | None = None,
) -> LabelSpaceBundle:
    """Build a :class:`LabelSpaceBundle`: the unified labels, embeddings and similarity.

    Args:
        vocabularies: A :class:`LabelSpace`, or a list of anything
            :func:`~scaledet_labels.load_vocabulary` accepts (disjoint union in order).
        encoder: An encoder spec (``"minilm"``, ``"openclip:ViT-B-32/openai"``,
            ``"hf:DIR"``), an encoder object or a callable ``list[str] -> (N, D)``.
        templates: A template set name, a list of templates or a JSON file (default: the
            library default, see :mod:`scaledet_labels.embed.templates`).
        synonyms: Average the prompts of every synonym of a label (LVIS).
        label_prompts: Per-label prompts ``{label: [prompt, ...]}`` or a JSON file of them
            (CuPL-style descriptions); they replace the templated prompts of those labels
            (see :func:`~scaledet_labels.embed_labels`).
        similarity: ``minmax`` (default), ``affine``, ``clamp`` or ``none``.
        topk: Keep each label's ``topk`` most similar labels as a sparse matrix; ``None``
            keeps the dense ``(n, n)`` matrix. ``"auto"`` (default) is dense up to 10,000
            labels and top-64 above (a dense 21,841-label ImageNet-21k matrix would take
            1.9 GB), with a log message saying so.
        dtype: Similarity dtype, ``float32`` or ``float16``.
        cache: The persistent prompt cache: True, False or a directory.
        device: Where the encoder runs (``auto``: cuda when available, else ``cpu``).
        precision: ``fp32`` (default), or ``fp16``/``bf16`` on a GPU.
        batch_size: Prompts per forward pass (default: the encoder's).
        precomputed: ``{dataset: (C, D) array or .npy/.safetensors path}`` used as is
            (normalised) instead of encoding that dataset. The manifest records each
            one's file name and the SHA-256 of its bytes (``precomputed_sources``).
        names: Dataset names when ``vocabularies`` is a list.
        progress: Progress bar on stderr (default: on for long encodes at a TTY).
        distributed: Share the encoding among the ranks of a ``torch.distributed`` job
            (``None``, default: when run under torchrun or in an initialised process
            group; call it on every rank, each gets the same bundle; ``False``: this
            process alone); see :func:`~scaledet_labels.embed_labels`.

    Raises:
        BundleError: Bad precomputed embeddings or mismatched dimensions.
        ValueError: Any vocabulary, template or encoder error (subclasses name the input).
    """
    if similarity not in NORMALIZATIONS:
        raise SimilarityError(f"similarity={similarity!r} is not one of {list(NORMALIZATIONS)}")
    started = time.perf_counter()
    space = (
        vocabularies
        if isinstance(vocabularies, LabelSpace)
        else LabelSpace.union(vocabularies, names=names)
    )
    precomputed = dict(precomputed or {})
    unknown = sorted(set(precomputed) - set(space.datasets))
    if unknown:
        raise BundleError(
            f"precomputed embeddings for unknown datasets {unknown}; datasets: "
            f"{list(space.datasets)}"
        )
    if precomputed and not space.is_disjoint:
        raise BundleError("precomputed embeddings need a disjoint label space (no merges)")

    n = len(space)
    embeddings: npt.NDArray[np.float32] | None = None
    parts: dict[str, npt.NDArray[np.float32]] = {}
    hashes: dict[str, str] = {}
    sources: dict[str, dict[str, Any]] = {}
    for dataset in space.datasets:  # unified order, whatever the mapping's order
        if dataset not in precomputed:
            continue
        vectors, sources[dataset] = _read_precomputed(
            precomputed[dataset], rows=len(space.vocabulary(dataset)), where=dataset
        )
        parts[dataset] = vectors
        hashes[dataset] = hashlib.sha256(vectors.tobytes()).hexdigest()
    widths = {dataset: vectors.shape[1] for dataset, vectors in parts.items()}
    if len(set(widths.values())) > 1:
        listed = ", ".join(
            f"{dataset} {width}-d ({_source_words(sources[dataset])})"
            for dataset, width in widths.items()
        )
        raise BundleError(
            f"precomputed embeddings of different dimensions: {listed}; all labels must share "
            "one embedding space (the same text encoder made every file)"
        )

    to_encode = [ds for ds in space.datasets if ds not in parts]
    encoder_record: dict[str, Any] = {"spec": None, "fingerprint": None}
    used_templates: list[str] = []
    template_set: str | None = None
    stats: dict[str, Any] = {}
    prompts_identity: str | None = None  # every label's prompts (per-label prompts too)
    if to_encode:
        wanted = np.concatenate([space.indices(ds) for ds in to_encode])
        labels = [space[int(u)] for u in wanted]
        result = embed_labels(
            labels,
            encoder=encoder,
            templates=templates,
            synonyms=synonyms,
            label_prompts=label_prompts,
            cache=cache,
            device=device,
            precision=precision,
            batch_size=batch_size,
            progress=progress,
            distributed=distributed,
        )
        encoded = result.embeddings
        dim = encoded.shape[1]
        embeddings = np.empty((n, dim), dtype=np.float32)
        embeddings[wanted] = encoded
        encoder_record = {
            "spec": encoder if isinstance(encoder, str) else None,
            "fingerprint": result.fingerprint,
            "dim": int(dim),
        }
        used_templates = list(result.templates)
        prompts_identity = result.identity()
        template_set = result.template_set
        stats = dataclasses.asdict(result.stats)
    for dataset, vectors in parts.items():
        if embeddings is None:
            embeddings = np.empty((n, vectors.shape[1]), dtype=np.float32)
        if vectors.shape[1] != embeddings.shape[1]:
            encoded_by = encoder if isinstance(encoder, str) else "the encoder"
            raise BundleError(
                f"{dataset}: precomputed embeddings ({_source_words(sources[dataset])}) are "
                f"{vectors.shape[1]}-d, but {encoded_by} gives {embeddings.shape[1]}-d "
                f"embeddings for {', '.join(to_encode)}; all labels must share one embedding "
                "space: encode the other datasets with the text encoder and prompts that made "
                "the file (Detic's files: --encoder openclip:ViT-B-32/openai --templates a "
                "--no-synonyms), or give precomputed embeddings for every dataset"
            )
        embeddings[space.indices(dataset)] = vectors
    if embeddings is None:  # pragma: no cover - a label space is never empty
        raise BundleError("nothing to embed")

    chosen = resolve_topk(n, topk)
    if topk == "auto" and chosen is not None:
        logger.warning(
            "similarity: %d labels, so keeping each label's top %d (a dense matrix would take "
            "%.1f GB); pass topk=None (CLI --dense) for the dense matrix",
            n,
            chosen,
            dense_bytes(n, dtype) / 1e9,
        )
    topk = chosen
    matrix = _similarity(
        embeddings, similarity, topk, dtype, cache, fingerprint=encoder_record["fingerprint"]
    )
    manifest: dict[str, Any] = {
        "library_version": __version__,
        "n_labels": n,
        "dim": int(embeddings.shape[1]),
        "datasets": [
            {"name": v.name, "count": len(v), "source": v.source} for v in space.vocabularies
        ],
        "encoder": encoder_record,
        "templates": used_templates,
        "template_set": template_set,
        "synonyms": synonyms,
        "prompts_identity": prompts_identity,
        "recipe": RECIPE,
        "precomputed": hashes,
        "precomputed_sources": sources,
        "similarity": {"normalization": similarity, "topk": topk, "dtype": dtype},
        "label_space_hash": space.content_hash(),
        "arrays_hash": arrays_hash(embeddings, matrix),
        "stats": stats | {"seconds": round(time.perf_counter() - started, 3)},
    }
    manifest["identity"] = bundle_identity(manifest)
    return LabelSpaceBundle(space, embeddings, matrix, manifest)


_SIMILARITY_KIND = "similarity"
_SIMILARITY_MEMO_MAX = 64 * 1024 * 1024  # dense matrices above this are not kept


def _similarity(
    embeddings: npt.NDArray[np.float32],
    normalization: Normalization,
    topk: int | None,
    dtype: SimilarityDtype,
    cache: CacheArg,
    *,
    fingerprint: str | None,
) -> Any:
    """:func:`label_similarity`, kept in the prompt cache's results keyed by its inputs.

    The key is the SHA-256 of the embeddings' bytes, the options and the library version
    (the algorithm's), so a hit is the matrix the same computation gave before; a warm
    rebuild of a 13k-label top-k space then reads 7 MB instead of recomputing 174 M
    cosines and partitions (about 2.5 s on 2 cores). Dense matrices over 64 MB are not
    kept; an unusable cache is simply not used (embedding already reported it).
    """
    n = embeddings.shape[0]
    keep = topk is not None or dense_bytes(n, dtype) <= _SIMILARITY_MEMO_MAX
    store = None
    directory = resolve_cache_dir(cache) if keep and cache is not False else None
    if directory is not None and (directory / DB_FILENAME).exists():
        try:
            store = PromptCache(directory)
        except (CacheError, OSError):
            store = None
    if store is None:
        return label_similarity(embeddings, normalization=normalization, topk=topk, dtype=dtype)
    try:
        digest = hashlib.sha256(np.ascontiguousarray(embeddings, dtype=np.float32).tobytes())
        digest.update(f"{__version__}|{normalization}|{topk}|{dtype}|{n}".encode())
        key = f"{_SIMILARITY_KIND}:{digest.hexdigest()}"
        found = store.get_result(key)
        if found is not None:
            matrix = _matrix_from_arrays(found[0], n, topk, dtype)
            if matrix is not None:
                return matrix
        matrix = label_similarity(embeddings, normalization=normalization, topk=topk, dtype=dtype)
        arrays: dict[str, Any] = (
            {"dense": matrix}
            if isinstance(matrix, np.ndarray)
            else {"data": matrix.data, "indices": matrix.indices, "indptr": matrix.indptr}
        )
        store.put_result(key, _SIMILARITY_KIND, arrays, fingerprint=fingerprint)
        return matrix
    finally:
        store.close()


def _matrix_from_arrays(
    arrays: Mapping[str, npt.NDArray[Any]], n: int, topk: int | None, dtype: str
) -> Any:
    """The similarity stored by :func:`_similarity`, or ``None`` when it does not fit."""
    if topk is None:
        dense = arrays.get("dense")
        ok = dense is not None and dense.shape == (n, n) and dense.dtype == np.dtype(dtype)
        return dense if ok else None
    import scipy.sparse

    data, indices, indptr = (arrays.get(k) for k in ("data", "indices", "indptr"))
    if data is None or indices is None or indptr is None or indptr.shape != (n + 1,):
        return None
    if data.dtype != np.dtype(dtype) or data.shape != indices.shape:
        return None
    matrix = scipy.sparse.csr_matrix((data, indices, indptr), shape=(n, n))
    matrix.has_sorted_indices = True
    return matrix
