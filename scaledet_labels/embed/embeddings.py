"""Prompt-ensemble label embeddings: :func:`embed_labels`.

For every label: render its prompts (templates x clean name and synonyms, or its own
prompts), embed each distinct prompt once (from the persistent cache when it was seen
before), then apply the ``l2-mean-l2`` recipe: normalize each prompt embedding, average
over the label's prompts, normalize again. The result rows are float32 unit vectors in
input order, the convention of the whole project (``(n_labels, dim)``; open_clip's
``build_zero_shot_classifier`` returns the transpose).

A fully cached build imports neither torch, transformers nor open_clip: the fingerprint
is computed from model files (weight hashes remembered in the cache) and every vector is
read back from SQLite.

Under torchrun, or inside an initialised ``torch.distributed`` process group, the misses
are encoded by all ranks and gathered on rank 0, the only rank that writes the cache (see
:mod:`scaledet_labels.embed.distributed`); every rank returns the same result.

Examples:
    >>> from scaledet_labels.vocab.vocabulary import Vocabulary
    >>> vocab = Vocabulary.from_names(["dog", "puppy", "car"], name="toy")
    >>> result = embed_labels(vocab, cache=False, device="cpu")  # doctest: +SKIP
    >>> result.embeddings.shape, result.recipe  # doctest: +SKIP
    ((3, 384), 'l2-mean-l2')
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from scaledet_labels.embed.cache import (
    CacheError,
    PromptCache,
    resolve_cache_dir,
)
from scaledet_labels.embed.distributed import Ranks, process_group, shard
from scaledet_labels.embed.encoders.base import Encoder, EncoderError, TorchTextEncoder
from scaledet_labels.embed.encoders.callable import CallableEncoder
from scaledet_labels.embed.encoders.spec import DEFAULT_ENCODER, EncoderSpec, load_encoder
from scaledet_labels.embed.prompts import (
    LabelPrompts,
    LabelPromptsArg,
    PromptError,
    PromptTooLongError,
    build_prompts,
)
from scaledet_labels.embed.templates import DEFAULT_TEMPLATES, TemplatesArg

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "RECIPE",
    "CacheArg",
    "EncodeStats",
    "EncoderArg",
    "LabelEmbeddings",
    "TooLong",
    "embed_labels",
    "encode_prompts",
    "ensemble",
    "resolve_encoder",
]

logger = logging.getLogger(__name__)

RECIPE = "l2-mean-l2"
TooLong = Literal["error", "warn"]
_TOO_LONG: tuple[str, ...] = ("error", "warn")
_PROGRESS_MIN_PROMPTS = 2000  # "long work": fewer prompts never show a bar
_CHUNK_PROMPTS = 1024  # prompts encoded (and committed to the cache) per step
_LOOKUP_CHUNK = 16384  # prompts read from the cache per query
_EPS = 1e-12  # torch.nn.functional.normalize's default


EncoderArg = str | EncoderSpec | Encoder | Callable[[list[str]], Any]
CacheArg = bool | str | os.PathLike[str] | None


@dataclass(frozen=True)
class EncodeStats:
    """How a build got its prompt embeddings.

    Attributes:
        prompts_total: Prompts over all labels, duplicates included.
        prompts_unique: Distinct prompts.
        from_cache: Distinct prompts read from the cache.
        encoded: Distinct prompts run through the encoder.
        cache_path: The cache file used, or ``None``.
    """

    prompts_total: int
    prompts_unique: int
    from_cache: int
    encoded: int
    cache_path: str | None = None


@dataclass(frozen=True)
class LabelEmbeddings:
    """Label embeddings and how they were made.

    Attributes:
        embeddings: ``(n_labels, dim)`` float32 unit rows, in input order (read-only).
        names: Each label's clean name.
        prompts: Each label's prompts (what was averaged).
        fingerprint: The encoder fingerprint (identity of the prompt vectors).
        encoder: A human-readable encoder description.
        templates: The templates used, rendered with ``{}`` (and ``{article}``).
        template_set: The template set's name.
        synonyms: Whether synonyms were averaged in.
        stats: Prompt and cache counts.
        datasets: Each label's dataset (``None`` for plain names and vocabularies).
        recipe: ``"l2-mean-l2"``.
    """

    embeddings: NDArray[np.float32]
    names: tuple[str, ...]
    prompts: tuple[tuple[str, ...], ...]
    fingerprint: str
    encoder: str
    templates: tuple[str, ...]
    template_set: str
    synonyms: bool
    stats: EncodeStats
    datasets: tuple[str | None, ...] = ()
    recipe: str = RECIPE

    @property
    def prompt_counts(self) -> tuple[int, ...]:
        """Number of prompts averaged into each label."""
        return tuple(len(p) for p in self.prompts)

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        return int(self.embeddings.shape[1])

    def __len__(self) -> int:
        return int(self.embeddings.shape[0])

    def identity(self) -> str:
        """SHA-256 of everything that determines the numbers: encoder fingerprint,
        recipe and each label's prompts (not device, batch size, cache or timing).

        Examples:
            >>> r = embed_labels(["dog"], cache=False, device="cpu")  # doctest: +SKIP
            >>> len(r.identity())  # doctest: +SKIP
            64
        """
        return _identity(self.fingerprint, self.recipe, self.prompts)

    def manifest(self) -> dict[str, Any]:
        """A JSON-ready record of the result (no arrays): what a bundle manifest stores."""
        return {
            "recipe": self.recipe,
            "fingerprint": self.fingerprint,
            "encoder": self.encoder,
            "dim": self.dim,
            "n_labels": len(self),
            "template_set": self.template_set,
            "templates": list(self.templates),
            "synonyms": self.synonyms,
            "prompt_counts": list(self.prompt_counts),
            "identity": self.identity(),
        }


def ensemble(
    vectors: NDArray[np.floating[Any]],
    index: NDArray[np.integer[Any]],
    offsets: NDArray[np.integer[Any]],
) -> NDArray[np.float32]:
    """The ``l2-mean-l2`` recipe: normalize rows, average per label, normalize again.

    Args:
        vectors: ``(P, D)`` prompt embeddings.
        index: Rows of ``vectors`` for every label's prompts, concatenated.
        offsets: Label ``i`` uses ``index[offsets[i]:offsets[i + 1]]`` (non-empty).

    Returns:
        ``(n, D)`` float32 unit rows.

    Examples:
        >>> v = np.array([[3.0, 0.0], [0.0, 2.0]])
        >>> ensemble(v, np.array([0, 1, 1]), np.array([0, 2, 3])).round(4)
        array([[0.7071, 0.7071],
               [0.    , 1.    ]], dtype=float32)
    """
    base = np.asarray(vectors, dtype=np.float32)
    index = np.asarray(index, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    n = len(offsets) - 1
    counts = np.diff(offsets)
    if n < 0 or (counts < 1).any():
        raise PromptError("every label needs at least one prompt")
    out = np.empty((n, base.shape[1]), dtype=np.float64)
    step = 2048  # bounded memory for large prompt sets: no normalised copy of ``vectors``
    for start in range(0, n, step):
        stop = min(start + step, n)
        lo, hi = offsets[start], offsets[stop]
        gathered = base[index[lo:hi]]
        norms = np.sqrt(np.einsum("ij,ij->i", gathered, gathered, dtype=np.float64))[:, None]
        gathered /= np.maximum(norms, _EPS).astype(np.float32)  # float32, as the rows are
        sums = np.add.reduceat(gathered, offsets[start:stop] - lo, axis=0, dtype=np.float64)
        out[start:stop] = sums / counts[start:stop, None]
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), _EPS)
    return out.astype(np.float32)


def resolve_encoder(
    encoder: EncoderArg = DEFAULT_ENCODER, *, device: str = "auto", precision: str = "fp32"
) -> Encoder:
    """An encoder from a spec string, an encoder object or a plain callable.

    Raises:
        EncoderError: Anything else, or a bad spec.
    """
    if isinstance(encoder, (str, EncoderSpec)):
        return load_encoder(encoder, device=device, precision=precision)
    kind = type(encoder)
    if hasattr(kind, "encode") and hasattr(kind, "fingerprint"):
        return encoder  # type: ignore[return-value]
    if callable(encoder):
        return CallableEncoder(encoder)
    raise EncoderError(
        "encoder must be a spec string ('minilm', 'openclip:...', 'hf:...'), an Encoder or "
        f"a callable list[str] -> array, got {type(encoder).__name__}"
    )


def _open_cache(cache: CacheArg, encoder: Encoder) -> PromptCache | None:
    if not getattr(encoder, "cache_safe", True):
        if cache is not False:
            logger.info(
                "encoder %s has no fingerprint: not using the persistent cache (give "
                "CallableEncoder(fn, fingerprint=...) to cache it)",
                encoder.fingerprint,
            )
        return None
    directory = resolve_cache_dir(cache)
    if directory is None:
        return None
    try:
        return PromptCache(directory)
    except CacheError as exc:
        if cache is True or cache is None:
            logger.warning("%s; continuing without the cache", exc)
            return None
        raise


def _identity(fingerprint: str, recipe: str, prompts: Sequence[Sequence[str]]) -> str:
    payload = {
        "fingerprint": fingerprint,
        "recipe": recipe,
        "prompts": [list(p) for p in prompts],
    }
    blob = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


_MEMO_KIND = "label_embeddings"


def _from_memo(
    enc: Encoder, cache: CacheArg, prompts: LabelPrompts
) -> tuple[NDArray[np.float32], str, str, EncodeStats] | None:
    """The label embeddings a previous call stored for exactly these prompts and encoder.

    The key is :meth:`LabelEmbeddings.identity` (encoder fingerprint, recipe, every
    label's prompts), so a hit is the matrix that call computed from the same cached
    prompt vectors; it skips reading and averaging every prompt vector (for
    ImageNet-21k's 273k prompts, seconds).
    """
    store = _open_cache(cache, enc)
    if store is None:
        return None
    try:
        fingerprint = (
            enc.fingerprint_using(store) if isinstance(enc, TorchTextEncoder) else enc.fingerprint
        )
        found = store.get_result(f"{_MEMO_KIND}:{_identity(fingerprint, RECIPE, prompts.prompts)}")
        if found is None:
            return None
        matrix = found[0].get("embeddings")
        if matrix is None or matrix.ndim != 2 or matrix.shape[0] != len(prompts):
            return None
        stats = EncodeStats(
            prompts_total=prompts.total,
            prompts_unique=len(prompts.unique),
            from_cache=len(prompts.unique),
            encoded=0,
            cache_path=str(store.path),
        )
        description = str(getattr(enc, "description", type(enc).__name__))
        return matrix.astype(np.float32, copy=False), fingerprint, description, stats
    finally:
        store.close()


def _to_memo(
    enc: Encoder,
    cache: CacheArg,
    prompts: LabelPrompts,
    fingerprint: str,
    embeddings: NDArray[np.float32],
) -> None:
    store = _open_cache(cache, enc)
    if store is None:
        return
    try:
        key = f"{_MEMO_KIND}:{_identity(fingerprint, RECIPE, prompts.prompts)}"
        store.put_result(key, _MEMO_KIND, {"embeddings": embeddings}, fingerprint=fingerprint)
    finally:
        store.close()


def _known_dim(encoder: Encoder) -> int | None:
    if isinstance(encoder, CallableEncoder):
        return encoder._dim
    return encoder.dim


def _show_progress(progress: bool | None, n: int) -> bool:
    if progress is False or n == 0:
        return False
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):
        tty = False
    return tty and (progress is True or n >= _PROGRESS_MIN_PROMPTS)


def _check_lengths(
    offenders: dict[str, int],
    limit: int,
    prompts: LabelPrompts | None,
    too_long: str,
) -> None:
    if not offenders:
        return
    labels: list[str] = []
    if prompts is not None:
        for name, dataset, own in zip(
            prompts.names, prompts.datasets, prompts.prompts, strict=True
        ):
            if any(p in offenders for p in own):
                labels.append(f"{dataset}/{name}" if dataset else name)
    first = next(iter(offenders))
    where = (
        f" of label(s) {', '.join(map(repr, labels[:5]))}{', ...' if len(labels) > 5 else ''}"
        if labels
        else ""
    )
    message = (
        f"{len(offenders)} prompt(s){where} exceed the encoder's context of {limit} tokens, "
        f"e.g. {first!r} ({offenders[first]} tokens)"
    )
    if too_long == "error":
        raise PromptTooLongError(
            f"{message}; shorten the names or templates, or pass too_long='warn' to truncate "
            "them with a warning"
        )
    logger.warning("%s; they are truncated (too_long='warn')", message)


class _Rows:
    """The vectors of ``unique`` prompts, written in place into one ``(n, dim)`` matrix.

    Cache hits and encoded chunks land in their rows directly: no per-prompt arrays and no
    second copy when the matrix is assembled (for V3Det's 92k prompts that copy was 142 MB
    of the cold build's peak).
    """

    def __init__(self, unique: Sequence[str], fingerprint: str, dim: int | None) -> None:
        self.position = {prompt: i for i, prompt in enumerate(unique)}
        self.fingerprint = fingerprint
        self.dim = dim
        self.filled = np.zeros(len(unique), dtype=bool)
        self.matrix: NDArray[np.float32] | None = None

    def put(self, prompts: Sequence[str], vectors: Any, *, overwrite: bool = True) -> None:
        if not len(prompts):
            return
        index = np.fromiter((self.position[p] for p in prompts), np.int64, len(prompts))
        vectors = np.asarray(vectors, dtype=np.float32)
        width = int(vectors.shape[1])
        if self.matrix is None:
            self.matrix = np.empty((len(self.filled), width), dtype=np.float32)
        elif width != self.matrix.shape[1]:
            raise EncoderError(
                f"prompt vectors of {self.fingerprint} have several dimensions "
                f"{sorted({width, int(self.matrix.shape[1])})}: the cache holds vectors of "
                "another model under this fingerprint; give the encoder a distinct "
                "fingerprint or clear the cache"
            )
        if not overwrite:
            fresh = ~self.filled[index]
            index, vectors = index[fresh], vectors[fresh]
        self.matrix[index] = vectors
        self.filled[index] = True

    def __contains__(self, prompt: str) -> bool:
        return bool(self.filled[self.position[prompt]])

    def __len__(self) -> int:
        return int(self.filled.sum())

    def assemble(self) -> NDArray[np.float32]:
        """The full matrix (every row must have been put)."""
        if self.matrix is None:
            return np.empty((len(self.filled), self.dim or 0), dtype=np.float32)
        if not self.filled.all():  # pragma: no cover - every miss is encoded or raises
            raise EncoderError(f"{int((~self.filled).sum())} prompt vectors are missing")
        return self.matrix


@dataclass
class _Plan:
    """What rank 0 (or the only process) knows before encoding."""

    fingerprint: str
    description: str
    dim: int | None
    rows: _Rows  # cache hits, then every encoded prompt
    misses: list[str]  # long first: close lengths share batches (and ranks' shards)
    from_cache: int


def _plan(
    unique: Sequence[str],
    enc: Encoder,
    store: PromptCache | None,
    prompts: LabelPrompts | None,
    too_long: str,
) -> _Plan:
    """Fingerprint the encoder, read the cache hits and list the misses."""
    fingerprint = (
        enc.fingerprint_using(store) if isinstance(enc, TorchTextEncoder) else enc.fingerprint
    )
    description = str(getattr(enc, "description", type(enc).__name__))
    dim = _known_dim(enc)
    rows = _Rows(unique, fingerprint, dim)
    limit = enc.context_length
    if store is not None:
        stale: dict[str, int] = {}
        # in chunks: the rows SQLite returns are Python bytes, 1.5 KB a 384-d vector, so
        # ImageNet-21k's 273k prompts at once held ~1 GB besides the matrix
        for start in range(0, len(unique), _LOOKUP_CHUNK):
            hits = store.lookup(fingerprint, unique[start : start + _LOOKUP_CHUNK], dim=dim)
            rows.put(hits.prompts, hits.vectors)
            if limit is not None:
                stale.update(
                    (p, n)
                    for p, n in zip(hits.prompts, hits.n_tokens, strict=True)
                    if n is not None and n > limit
                )
        if stale and limit is not None:
            _check_lengths(stale, limit, prompts, too_long)
    misses = [unique[int(i)] for i in np.flatnonzero(~rows.filled)]
    misses.sort(key=len, reverse=True)
    return _Plan(fingerprint, description, dim, rows, misses, len(rows))


def _token_counts(enc: Encoder, texts: Sequence[str]) -> list[int | None]:
    """Tokens of each text, or ``None`` each when the encoder has no context limit."""
    if enc.context_length is None or not texts:
        return [None] * len(texts)
    return [int(n) for n in enc.count_tokens(texts)]


def _check_tokens(
    texts: Sequence[str],
    tokens: Sequence[int | None],
    limit: int | None,
    prompts: LabelPrompts | None,
    too_long: str,
) -> None:
    if limit is not None:
        over = {p: n for p, n in zip(texts, tokens, strict=True) if n is not None and n > limit}
        _check_lengths(over, limit, prompts, too_long)


def _encode_part(
    enc: Encoder, part: Sequence[str], batch_size: int | None, description: str
) -> NDArray[np.float32]:
    vectors = enc.encode(part, batch_size=batch_size)
    if vectors.ndim != 2 or vectors.shape[0] != len(part):
        raise EncoderError(f"{description} returned shape {vectors.shape} for {len(part)} texts")
    return vectors


def _commit(
    store: PromptCache | None,
    fingerprint: str,
    part: Sequence[str],
    vectors: NDArray[np.float32],
    tokens: Sequence[int | None],
    rows: _Rows,
) -> None:
    """Store one chunk in the cache (one transaction) and in ``rows``."""
    if store is not None:
        taken = store.put(fingerprint, part, vectors, tokens)
        if taken:  # another process cached them first: use its vectors
            again = store.lookup(fingerprint, taken, dim=vectors.shape[1])
            rows.put(again.prompts, again.vectors)
    rows.put(part, vectors, overwrite=False)


def _progress_bar(progress: bool | None, n: int) -> Any:
    if not _show_progress(progress, n):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=n, unit="prompt", desc="encoding prompts", file=sys.stderr, leave=False)


def _prompt_vectors(
    unique: Sequence[str],
    enc: Encoder,
    cache: CacheArg,
    *,
    batch_size: int | None,
    progress: bool | None,
    too_long: str,
    prompts: LabelPrompts | None = None,
) -> tuple[NDArray[np.float32], str, str, EncodeStats]:
    """Raw vectors of ``unique`` (rows aligned), from the cache or the encoder."""
    store = _open_cache(cache, enc)
    try:
        plan = _plan(unique, enc, store, prompts, too_long)
        fingerprint, misses, rows = plan.fingerprint, plan.misses, plan.rows
        if misses:
            tokens = _token_counts(enc, misses)
            _check_tokens(misses, tokens, enc.context_length, prompts, too_long)
            chunk = 4 * batch_size if batch_size else _CHUNK_PROMPTS  # commit granularity
            bar = _progress_bar(progress, len(misses))
            width = 0
            try:
                for start in range(0, len(misses), chunk):
                    part = misses[start : start + chunk]
                    vectors = _encode_part(enc, part, batch_size, plan.description)
                    width = int(vectors.shape[1])
                    _commit(store, fingerprint, part, vectors, tokens[start : start + chunk], rows)
                    if bar is not None:
                        bar.update(len(part))
            finally:
                if bar is not None:
                    bar.close()
            if store is not None and not store.has_encoder(fingerprint):
                store.register_encoder(fingerprint, plan.description, width)
        matrix = rows.assemble()
        stats = EncodeStats(
            prompts_total=len(unique),
            prompts_unique=len(unique),
            from_cache=plan.from_cache,
            encoded=len(misses),
            cache_path=str(store.path) if store is not None else None,
        )
        return matrix, fingerprint, plan.description, stats
    finally:
        if store is not None:
            store.close()


def _prompts_digest(unique: Sequence[str]) -> str:
    blob = json.dumps(list(unique), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _prompt_vectors_ranks(
    unique: Sequence[str],
    make_encoder: Callable[[], Encoder],
    cache: CacheArg,
    ranks: Ranks,
    *,
    batch_size: int | None,
    progress: bool | None,
    too_long: str,
    prompts: LabelPrompts | None = None,
) -> tuple[NDArray[np.float32], str, str, EncodeStats]:
    """:func:`_prompt_vectors` on every rank of a process group (a collective).

    Rank 0 reads the cache and lists the misses; each rank encodes its shard of them in
    rounds of ``chunk`` prompts; after each round rank 0 gathers the round's vectors and
    commits them to the cache in one transaction, so a rank killed mid-encode leaves every
    completed round cached and nothing half-written. Rank 0 then sends the full matrix to
    every rank. A rank that fails says so at the next collective and every rank raises.
    Only rank 0 opens the cache.
    """
    store: PromptCache | None = None
    bar: Any = None
    enc: Encoder | None = None
    plan: _Plan | None = None
    error: Exception | None = None
    try:
        try:
            enc = make_encoder()
            if ranks.is_main:
                store = _open_cache(cache, enc)
                plan = _plan(unique, enc, store, prompts, too_long)
        except Exception as exc:
            error = exc
        ranks.agree(error)
        if enc is None:  # pragma: no cover - agree() raised
            raise EncoderError("no encoder")
        header = ranks.broadcast_json(
            {
                "fingerprint": plan.fingerprint,
                "description": plan.description,
                "misses": plan.misses,
                "from_cache": plan.from_cache,
                "prompts": _prompts_digest(unique),
                "cache_path": str(store.path) if store is not None else None,
            }
            if plan is not None
            else None
        )
        fingerprint, description = str(header["fingerprint"]), str(header["description"])
        misses: list[str] = header["misses"]
        world = ranks.world_size
        shards = [shard(misses, k, world) for k in range(world)]
        mine = shards[ranks.rank]

        # Every rank checks it encodes what rank 0 planned, and counts its shard's tokens.
        counts: list[int | None] = []
        error = None
        try:
            if _prompts_digest(unique) != header["prompts"]:
                raise PromptError(
                    f"rank {ranks.rank} has other prompts than rank 0: give every rank the "
                    "same labels, templates and options"
                )
            if mine and not ranks.is_main:
                own = (
                    enc.fingerprint_using(None)
                    if isinstance(enc, TorchTextEncoder)
                    else enc.fingerprint
                )
                if own != fingerprint:
                    raise EncoderError(
                        f"rank {ranks.rank}'s encoder has fingerprint {own}, rank 0's "
                        f"{fingerprint}: every rank needs the same model files"
                    )
            counts = _token_counts(enc, mine)
        except Exception as exc:
            error = exc
        shares = ranks.all_gather_json(counts, error)
        tokens: list[int | None] = [None] * len(misses)
        for k, share in enumerate(shares):
            tokens[k::world] = share
        if misses and (too_long == "error" or ranks.is_main):  # the same raise everywhere
            _check_tokens(misses, tokens, enc.context_length, prompts, too_long)

        chunk = 4 * batch_size if batch_size else _CHUNK_PROMPTS  # per rank and round
        rounds = -(-len(shards[0]) // chunk)  # shard 0 is the longest
        rows = plan.rows if plan is not None else _Rows((), fingerprint, None)
        width = 0
        if ranks.is_main:
            bar = _progress_bar(progress, len(misses))
        for r in range(rounds):
            lo, hi = r * chunk, (r + 1) * chunk
            part = mine[lo:hi]
            vectors: NDArray[np.float32] | None = None
            if error is None:  # rank 0's commit of the last round may have failed
                try:
                    vectors = _encode_part(enc, part, batch_size, description) if part else None
                except Exception as exc:
                    error = exc
            status = ranks.all_gather_json(
                {"rows": len(part), "dim": None if vectors is None else int(vectors.shape[1])},
                error,
            )
            dims = sorted({int(s["dim"]) for s in status if s["rows"]})
            if len(dims) != 1:
                raise EncoderError(f"{description} returned dimensions {dims} on different ranks")
            width = dims[0]
            own_rows = vectors if vectors is not None else np.zeros((0, width), np.float32)
            blocks = ranks.gather_rows(own_rows, [int(s["rows"]) for s in status], width)
            if ranks.is_main:
                try:
                    texts = [t for s in shards for t in s[lo:hi]]
                    counted = [n for k in range(world) for n in tokens[k::world][lo:hi]]
                    _commit(store, fingerprint, texts, np.concatenate(blocks), counted, rows)
                    if bar is not None:
                        bar.update(len(texts))
                except Exception as exc:
                    error = exc

        matrix: NDArray[np.float32] | None = None
        if ranks.is_main and error is None:
            try:
                if misses and store is not None and not store.has_encoder(fingerprint):
                    store.register_encoder(fingerprint, description, width)
                matrix = rows.assemble()
            except Exception as exc:
                error = exc
        ranks.agree(error)
        matrix = ranks.broadcast_rows(matrix)
        stats = EncodeStats(
            prompts_total=len(unique),
            prompts_unique=len(unique),
            from_cache=int(header["from_cache"]),
            encoded=len(misses),
            cache_path=header["cache_path"],
        )
        return matrix, fingerprint, description, stats
    finally:
        if bar is not None:
            bar.close()
        if store is not None:
            store.close()


def _validate(batch_size: int | None, progress: bool | None, too_long: str) -> None:
    if too_long not in _TOO_LONG:
        raise PromptError(f"too_long={too_long!r} is not one of {list(_TOO_LONG)}")
    if progress not in (None, True, False):
        raise PromptError(f"progress must be True, False or None, got {progress!r}")
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise EncoderError(f"batch_size must be a positive integer or None, got {batch_size!r}")


def embed_labels(
    labels: Any,
    encoder: EncoderArg = DEFAULT_ENCODER,
    templates: TemplatesArg = DEFAULT_TEMPLATES,
    *,
    synonyms: bool = True,
    label_prompts: LabelPromptsArg = None,
    cache: CacheArg = True,
    device: str = "auto",
    precision: str = "fp32",
    batch_size: int | None = None,
    progress: bool | None = None,
    too_long: TooLong = "error",
    distributed: bool | None = None,
) -> LabelEmbeddings:
    """Embed labels as the normalized mean of their normalized prompt embeddings.

    Args:
        labels: A :class:`~scaledet_labels.vocab.vocabulary.Vocabulary`, a label space (anything
            with ``.labels``), a sequence of label objects, or a sequence of names.
        encoder: A spec string (``"minilm"``, ``"openclip:ViT-B-32/laion2b_s34b_b79k"``,
            ``"openclip:ViT-B-32@/path/ckpt.safetensors"``, ``"hf:DIR_OR_ID"``), an
            :class:`~scaledet_labels.embed.encoders.Encoder`, or a callable
            ``list[str] -> array`` (see :class:`~scaledet_labels.embed.encoders.CallableEncoder`).
        templates: A set name (``"simple"`` default, ``"openai"``, ``"vild"``, ``"photo"``,
            ``"a"``), a JSON file (``"file.json#KEY"``), or a list of templates; ``None``
            means the default.
        synonyms: Average the prompts of every synonym too (Detic's ``--avg_synonyms``).
        label_prompts: Per-label prompts ``{label: [prompt, ...]}`` or a JSON file of them
            (CuPL style); they replace the templated prompts of those labels.
        cache: ``True`` (default location), ``False`` (no cache) or a directory.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (for spec strings).
        precision: ``"fp32"``, or on a GPU ``"fp16"``/``"bf16"`` (for spec strings).
        batch_size: Prompts per forward pass (default: the encoder's).
        progress: ``None`` shows a bar on stderr for long work when stderr is a terminal;
            ``True`` for any work on a terminal; ``False`` never.
        too_long: A prompt longer than the encoder's context raises
            :class:`~scaledet_labels.embed.prompts.PromptTooLongError` (``"error"``) or is
            truncated with a warning naming its labels (``"warn"``).
        distributed: ``None`` (default): when this process is one of several ranks (an
            initialised ``torch.distributed`` process group, or a torchrun launch), the
            prompts missing from the cache are shared among the ranks, rank 0 gathers
            them and writes the cache, and every rank returns the same result; call it
            on every rank. ``False``: encode in this process alone (e.g. in
            ``if rank == 0:`` code). ``True``: like ``None``, but refuse to run outside a
            distributed job. See :mod:`scaledet_labels.embed.distributed`.

    Returns:
        A :class:`LabelEmbeddings`.

    Raises:
        PromptError: Bad labels, per-label prompts or options; prompts too long.
        TemplateError: Bad templates.
        EncoderError: Bad encoder spec or options; ModelNotAvailableError when the model
            is missing and cannot be downloaded.
        CacheError: An explicit cache directory cannot be used.

    Examples:
        >>> r = embed_labels(["dog", "puppy", "car"], templates="photo",
        ...                  cache=False, device="cpu")  # doctest: +SKIP
        >>> e = r.embeddings  # doctest: +SKIP
        >>> bool(e[0] @ e[1] > e[0] @ e[2])  # doctest: +SKIP
        True
    """
    _validate(batch_size, progress, too_long)
    prompts = build_prompts(labels, templates, synonyms=synonyms, label_prompts=label_prompts)
    with process_group(distributed, device=device) as ranks:
        memo = None
        if ranks is None:
            enc = resolve_encoder(encoder, device=device, precision=precision)
            memo = _from_memo(enc, cache, prompts)
        if memo is not None:
            embeddings, fingerprint, description, stats = memo
        elif ranks is None:
            matrix, fingerprint, description, stats = _prompt_vectors(
                prompts.unique,
                enc,
                cache,
                batch_size=batch_size,
                progress=progress,
                too_long=too_long,
                prompts=prompts,
            )
            embeddings = ensemble(matrix, prompts.index, prompts.offsets)
            del matrix
            if too_long == "error":  # no prompt was truncated: valid under either policy
                _to_memo(enc, cache, prompts, fingerprint, embeddings)
        else:
            rank_device = ranks.device_for(device)
            matrix, fingerprint, description, stats = _prompt_vectors_ranks(
                prompts.unique,
                lambda: resolve_encoder(encoder, device=rank_device, precision=precision),
                cache,
                ranks,
                batch_size=batch_size,
                progress=progress,
                too_long=too_long,
                prompts=prompts,
            )
            embeddings = ensemble(matrix, prompts.index, prompts.offsets)
    embeddings.setflags(write=False)
    stats = EncodeStats(
        prompts_total=prompts.total,
        prompts_unique=len(prompts.unique),
        from_cache=stats.from_cache,
        encoded=stats.encoded,
        cache_path=stats.cache_path,
    )
    logger.info(
        "embedded %d labels with %s: %d prompts, %d unique, %d from cache, %d encoded",
        len(prompts),
        description,
        stats.prompts_total,
        stats.prompts_unique,
        stats.from_cache,
        stats.encoded,
    )
    return LabelEmbeddings(
        embeddings=embeddings,
        names=prompts.names,
        prompts=prompts.prompts,
        fingerprint=fingerprint,
        encoder=description,
        templates=prompts.templates.templates,
        template_set=prompts.templates.name,
        synonyms=prompts.synonyms,
        stats=stats,
        datasets=prompts.datasets,
    )


def encode_prompts(
    texts: Sequence[str],
    encoder: EncoderArg = DEFAULT_ENCODER,
    *,
    cache: CacheArg = True,
    device: str = "auto",
    precision: str = "fp32",
    batch_size: int | None = None,
    progress: bool | None = None,
    too_long: TooLong = "error",
) -> NDArray[np.float32]:
    """Unit embeddings of single prompts (no templates), through the same cache.

    Useful for ad-hoc queries against label embeddings.

    Returns:
        ``(len(texts), dim)`` float32 unit rows, in input order.

    Examples:
        >>> q = encode_prompts(["a photo of a puppy."], cache=False, device="cpu")  # doctest: +SKIP
        >>> q.shape  # doctest: +SKIP
        (1, 384)
    """
    _validate(batch_size, progress, too_long)
    if isinstance(texts, str) or not all(isinstance(t, str) and t for t in texts):
        raise PromptError("texts must be a list of non-empty strings")
    unique = list(dict.fromkeys(texts))
    enc = resolve_encoder(encoder, device=device, precision=precision)
    matrix, _, _, _ = _prompt_vectors(
        unique, enc, cache, batch_size=batch_size, progress=progress, too_long=too_long
    )
    position = {p: i for i, p in enumerate(unique)}
    index = np.fromiter((position[t] for t in texts), dtype=np.int64, count=len(texts))
    return ensemble(matrix, index, np.arange(len(texts) + 1, dtype=np.int64))
