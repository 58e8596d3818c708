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
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scaledet_labels._version import __version__
from scaledet_labels.bundle.container import LabelSpaceBundle
from scaledet_labels.bundle.io import arrays_hash
from scaledet_labels.bundle.manifest import bundle_identity
from scaledet_labels.bundle.similarity import (
    NORMALIZATIONS,
    Normalization,
    SimilarityDtype,
    label_similarity,
)
from scaledet_labels.embed.embeddings import RECIPE, CacheArg, EncoderArg, embed_labels
from scaledet_labels.embed.encoders.spec import DEFAULT_ENCODER
from scaledet_labels.embed.prompts import LabelPromptsArg
from scaledet_labels.embed.templates import TemplatesArg
from scaledet_labels.errors import BundleError, SimilarityError
from scaledet_labels.vocab.label_space import LabelSpace
from scaledet_labels.vocab.registry import VocabularySource

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["build_label_space", "load_precomputed"]

logger = logging.getLogger(__name__)


def load_precomputed(source: Any, *, rows: int | None = None, where: str = "") -> Any:
    """Read precomputed label embeddings ``(C, D)`` from ``.npy``/``.safetensors`` or an array.

    Rows are L2-normalised. A ``.safetensors`` file must hold one tensor (or one named
    ``embeddings``); ``.npy`` is read with ``allow_pickle=False``. Detic's shipped
    ``lvis_v1_clip_a+cname.npy`` is ``(1203, 512)`` rows and loads as is; a ``(D, C)``
    matrix is refused rather than guessed.

    Raises:
        BundleError: Unreadable file, wrong shape or row count, non-finite or zero rows.
    """
    label = where or str(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise BundleError(f"precomputed embeddings {path}: no such file")
        if path.suffix == ".npy":
            try:
                array = np.load(path, allow_pickle=False)
            except ValueError as exc:
                raise BundleError(f"{path}: not a plain .npy array ({exc})") from None
        elif path.suffix == ".safetensors":
            from safetensors.numpy import load_file

            tensors = load_file(str(path))
            if "embeddings" in tensors:
                array = tensors["embeddings"]
            elif len(tensors) == 1:
                array = next(iter(tensors.values()))
            else:
                raise BundleError(
                    f"{path}: holds {sorted(tensors)}; expected one tensor or 'embeddings'"
                )
        else:
            raise BundleError(f"{path}: precomputed embeddings must be .npy or .safetensors")
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
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise BundleError(f"{label}: precomputed embeddings contain NaN or infinity")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    if (norms == 0).any():
        raise BundleError(f"{label}: row {int(np.flatnonzero(norms[:, 0] == 0)[0])} is zero")
    return array / norms


def build_label_space(
    vocabularies: LabelSpace | Sequence[VocabularySource],
    *,
    encoder: EncoderArg = DEFAULT_ENCODER,
    templates: TemplatesArg = None,
    synonyms: bool = True,
    label_prompts: LabelPromptsArg = None,
    similarity: Normalization = "minmax",
    topk: int | None = None,
    dtype: SimilarityDtype = "float32",
    cache: CacheArg = True,
    device: str = "auto",
    precision: str = "fp32",
    batch_size: int | None = None,
    precomputed: Mapping[str, Any] | None = None,
    names: Sequence[str] | None = None,
    progress: bool | None = None,
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
        topk: Keep a sparse top-k similarity instead of the dense matrix.
        dtype: Similarity dtype, ``float32`` or ``float16``.
        cache: The persistent prompt cache: True, False or a directory.
        device: Where the encoder runs (``auto``: cuda when available, else ``cpu``).
        precision: ``fp32`` (default), or ``fp16``/``bf16`` on a GPU.
        batch_size: Prompts per forward pass (default: the encoder's).
        precomputed: ``{dataset: (C, D) array or .npy/.safetensors path}`` used as is
            (normalised) instead of encoding that dataset.
        names: Dataset names when ``vocabularies`` is a list.
        progress: Progress bar on stderr (default: on for long encodes at a TTY).

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
    for dataset, source in precomputed.items():
        vectors = load_precomputed(source, rows=len(space.vocabulary(dataset)), where=dataset)
        parts[dataset] = vectors
        hashes[dataset] = hashlib.sha256(vectors.tobytes()).hexdigest()

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
            raise BundleError(
                f"{dataset}: precomputed embeddings have dimension {vectors.shape[1]}, the "
                f"others {embeddings.shape[1]}; all labels must share one embedding space"
            )
        embeddings[space.indices(dataset)] = vectors
    if embeddings is None:  # pragma: no cover - a label space is never empty
        raise BundleError("nothing to embed")

    matrix = label_similarity(embeddings, normalization=similarity, topk=topk, dtype=dtype)
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
        "similarity": {"normalization": similarity, "topk": topk, "dtype": dtype},
        "label_space_hash": space.content_hash(),
        "arrays_hash": arrays_hash(embeddings, matrix),
        "stats": stats | {"seconds": round(time.perf_counter() - started, 3)},
    }
    manifest["identity"] = bundle_identity(manifest)
    return LabelSpaceBundle(space, embeddings, matrix, manifest)
