"""The text-encoder protocol, options shared by all encoders, and fingerprint helpers.

An encoder maps prompt strings to float32 rows ``(N, D)``. Embedding builds need four
more things from it: ``dim``; a ``fingerprint`` naming everything that changes the numbers
(model, weights hash, tokenizer and context settings, pooling, precision; never the
device, the batch size or a path), computed without importing torch, transformers or
open_clip so that a fully cached build stays light; ``context_length`` and
``count_tokens`` for the length check (a prompt is never truncated silently).

:class:`TorchTextEncoder` is the shared base of the torch encoders: lazy model loading,
device/precision handling, and length-sorted batching, where each batch is padded only
to its own longest prompt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args, runtime_checkable

import numpy as np

from scaledet_labels.digests import DigestMemo, file_digest
from scaledet_labels.errors import EncoderError, ModelNotAvailableError

if TYPE_CHECKING:
    import torch
    from numpy.typing import NDArray

__all__ = [
    "Device",
    "Encoder",
    "EncoderError",
    "ModelNotAvailableError",
    "Precision",
    "TorchTextEncoder",
    "check_output",
    "make_fingerprint",
    "validate_device",
    "validate_precision",
]

logger = logging.getLogger(__name__)

_TOKENIZE_CHUNK = 4096  # texts per tokenizer call when counting tokens

Device = Literal["auto", "cpu", "cuda"]
Precision = Literal["fp32", "fp16", "bf16"]
DEVICES: tuple[str, ...] = get_args(Device)
PRECISIONS: tuple[str, ...] = get_args(Precision)


@runtime_checkable
class Encoder(Protocol):
    """What :func:`scaledet_labels.embed.embeddings.embed_labels` needs from a text encoder.

    Examples:
        >>> import numpy as np
        >>> class Constant:
        ...     fingerprint = "constant-v1"
        ...     dim = 2
        ...     context_length = None
        ...     def count_tokens(self, texts): return [len(t.split()) for t in texts]
        ...     def encode(self, texts, *, batch_size=None):
        ...         return np.ones((len(texts), 2), dtype=np.float32)
        >>> isinstance(Constant(), Encoder)
        True
    """

    @property
    def fingerprint(self) -> str:
        """Identity of the numbers this encoder produces (cache key)."""
        ...

    @property
    def dim(self) -> int:
        """Embedding dimension ``D``."""
        ...

    @property
    def context_length(self) -> int | None:
        """Most tokens a prompt may have (special tokens included); ``None``: no limit."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text, special tokens included, before any truncation."""
        ...

    def encode(self, texts: Sequence[str], *, batch_size: int | None = None) -> NDArray[np.float32]:
        """Embed texts: float32 ``(len(texts), dim)``, not necessarily normalized."""
        ...


def validate_device(device: str) -> str:
    """Check a device option: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Raises:
        EncoderError: Anything else; the message lists the allowed values.

    Examples:
        >>> validate_device("cuda:1")
        'cuda:1'
    """
    if isinstance(device, str):
        if device in DEVICES:
            return device
        head, _, index = device.partition(":")
        if head == "cuda" and index.isdigit():
            return device
    raise EncoderError(f"device={device!r} is not one of {list(DEVICES)} or 'cuda:N'")


def validate_precision(precision: str) -> str:
    """Check a precision option.

    Raises:
        EncoderError: Not one of ``"fp32"``, ``"fp16"``, ``"bf16"``.

    Examples:
        >>> validate_precision("bf16")
        'bf16'
    """
    if precision not in PRECISIONS:
        raise EncoderError(f"precision={precision!r} is not one of {list(PRECISIONS)}")
    return precision


def make_fingerprint(kind: str, payload: Mapping[str, Any]) -> str:
    """``"<kind>-<32 hex>"``: SHA-256 of the canonical JSON of ``payload``, shortened.

    Examples:
        >>> make_fingerprint("hf-mean", {"a": 1}) == make_fingerprint("hf-mean", {"a": 1})
        True
    """
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return f"{kind}-{hashlib.sha256(blob.encode('utf-8')).hexdigest()[:32]}"


def check_output(array: Any, n: int, dim: int | None, source: str) -> NDArray[np.float32]:
    """Convert an encoder's output to float32 ``(n, D)`` and check shape and finiteness.

    Raises:
        EncoderError: Wrong shape or dimension, or non-finite values.
    """
    if hasattr(array, "detach"):  # a torch tensor, without importing torch
        array = array.detach().float().cpu().numpy()
    out = np.asarray(array, dtype=np.float32)
    if out.ndim != 2 or out.shape[0] != n:
        raise EncoderError(
            f"{source} returned an array of shape {out.shape} for {n} texts; expected ({n}, D)"
        )
    if dim is not None and out.shape[1] != dim:
        raise EncoderError(f"{source} returned dimension {out.shape[1]}, expected {dim}")
    if not np.isfinite(out).all():
        raise EncoderError(f"{source} returned non-finite values (NaN or inf)")
    return np.ascontiguousarray(out)


class TorchTextEncoder(ABC):
    """Shared machinery of the torch encoders (model loaded on first use).

    Subclasses implement :meth:`_load`, :meth:`_token_ids`, :meth:`_forward` and the
    fingerprint payload; this class does device/precision handling and length-sorted
    batching: texts are tokenized once, sorted by length, and each batch is padded only
    to its own longest text, which gives the same embeddings as padding to the full
    context for models that mask or never attend to padding.
    """

    #: Default batch size on CPU; GPUs use four times as many.
    default_batch_size: int = 64

    def __init__(self, *, device: str = "auto", precision: str = "fp32") -> None:
        self._device_option = validate_device(device)
        self._precision = validate_precision(precision)
        self._fingerprint: str | None = None
        self._loaded = False
        self._lock = threading.Lock()

    # -- identity --------------------------------------------------------------------------
    @property
    def precision(self) -> str:
        """The precision option (part of the fingerprint unless ``fp32``)."""
        return self._precision

    @property
    def fingerprint(self) -> str:
        """See :class:`Encoder`; computed from files once, then remembered."""
        return self.fingerprint_using(None)

    def fingerprint_using(self, memo: DigestMemo | None) -> str:
        """The fingerprint, hashing model files through a persistent digest ``memo``.

        The embedding pipeline passes its prompt cache, so a fully cached build in a new
        process does not re-hash the weights.
        """
        if self._fingerprint is None:
            self._fingerprint = self._compute_fingerprint(lambda path: file_digest(path, memo))
        return self._fingerprint

    @abstractmethod
    def _compute_fingerprint(self, digest: Callable[[Path], str]) -> str:
        """The fingerprint; ``digest(path)`` gives a file's SHA-256."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Embedding dimension."""

    @property
    @abstractmethod
    def context_length(self) -> int | None:
        """Most tokens per prompt."""

    @property
    def description(self) -> str:
        """A human-readable name of the model (recorded next to the fingerprint)."""
        return type(self).__name__

    # -- model -----------------------------------------------------------------------------
    def _ensure_loaded(self) -> None:
        with self._lock:
            if not self._loaded:
                self._load()
                self._loaded = True

    @abstractmethod
    def _load(self) -> None:
        """Load tokenizer and model onto :attr:`device`."""

    @property
    def device(self) -> str:
        """The torch device in use (``"auto"`` resolved; imports torch)."""
        if self._device_option != "auto":
            return self._device_option
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def _torch_dtype(self) -> torch.dtype:
        import torch

        if self._precision != "fp32" and not self.device.startswith("cuda"):
            raise EncoderError(
                f"precision={self._precision!r} needs a GPU (device='cuda'); on "
                f"{self.device!r} use precision='fp32'"
            )
        if self._device_option.startswith("cuda") and not torch.cuda.is_available():
            raise EncoderError(f"device={self._device_option!r} but no CUDA GPU is available")
        dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
        return dtypes[self._precision]

    # -- tokens ----------------------------------------------------------------------------
    @abstractmethod
    def _token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text with special tokens, untruncated."""

    @abstractmethod
    def _forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Embed a padded batch ``(B, L)`` whose real lengths are ``lengths``."""

    @property
    def _pad_id(self) -> int:
        return 0

    @property
    def _pad_to_context(self) -> bool:
        """Pad every batch to the full context (models that see padding)."""
        return False

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """See :class:`Encoder`. Tokenizes in chunks: a fast tokenizer's output for all of
        V3Det's 92k prompts at once takes about 370 MB, a chunk of 4,096 about 20 MB."""
        self._ensure_loaded()
        texts = list(texts)
        counts: list[int] = []
        for start in range(0, len(texts), _TOKENIZE_CHUNK):
            counts += [len(ids) for ids in self._token_ids(texts[start : start + _TOKENIZE_CHUNK])]
        return counts

    def _truncate(self, ids: list[list[int]], texts: Sequence[str]) -> list[list[int]]:
        limit = self.context_length
        if limit is None:
            return ids
        long = [i for i, row in enumerate(ids) if len(row) > limit]
        if long:
            logger.warning(
                "%d prompt(s) exceed the encoder's context of %d tokens and are truncated "
                "(keeping the final special token), e.g. %r (%d tokens)",
                len(long),
                limit,
                texts[long[0]],
                len(ids[long[0]]),
            )
            for i in long:
                ids[i] = [*ids[i][: limit - 1], ids[i][-1]]
        return ids

    def encode(self, texts: Sequence[str], *, batch_size: int | None = None) -> NDArray[np.float32]:
        """Embed texts in length-sorted batches; float32 ``(len(texts), dim)``."""
        import torch

        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if batch_size is not None and (isinstance(batch_size, bool) or batch_size < 1):
            raise EncoderError(f"batch_size must be a positive integer, got {batch_size!r}")
        self._ensure_loaded()
        device = torch.device(self.device)
        size = batch_size or (self.default_batch_size * (4 if device.type == "cuda" else 1))
        ids = self._truncate(self._token_ids(texts), texts)
        lengths = np.fromiter((len(r) for r in ids), dtype=np.int64, count=len(ids))
        order = np.argsort(-lengths, kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        context = self.context_length
        with torch.inference_mode():
            for start in range(0, len(order), size):
                batch = order[start : start + size]
                width = int(lengths[batch].max())
                if self._pad_to_context and context is not None:
                    width = context
                padded = np.full((len(batch), width), self._pad_id, dtype=np.int64)
                for row, i in enumerate(batch):
                    padded[row, : lengths[i]] = ids[i]
                batch_lengths = torch.from_numpy(lengths[batch]).to(device)
                emb = self._forward(torch.from_numpy(padded).to(device), batch_lengths)
                out[batch] = emb.float().cpu().numpy()
        return check_output(out, len(texts), self.dim, self.description)


def env_flag(name: str) -> bool:
    """Whether an environment variable is set to a true value (``1``, ``true``, ``yes``)."""
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
