"""Your own encoder: any Python callable ``list[str] -> array (N, D)``.

Wrap it with :class:`CallableEncoder` (``embed_labels`` does this for a bare callable).
The cache keys vectors by the encoder's fingerprint, and only you know what changes your
function's numbers, so:

* with ``fingerprint="my-model-v3"`` the results are cached like any other encoder's;
  change the string whenever the model, weights or preprocessing change;
* without it, the fingerprint is derived from the function's qualified name
  (``callable:module.qualname``), which does not see weight or code changes. Such an
  encoder is **not cache-safe**: ``embed_labels`` then neither reads nor writes the
  persistent cache (it logs that once), so a stale vector can never be served.

The output may be a numpy array, a torch tensor or anything ``numpy.asarray`` takes; it
is checked for shape and finiteness and converted to float32.

Examples:
    >>> import numpy as np
    >>> enc = CallableEncoder(lambda texts: np.ones((len(texts), 4)), fingerprint="ones-v1")
    >>> enc.encode(["a", "b"]).shape, enc.dim, enc.cache_safe
    ((2, 4), 4, True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from scaledet_labels.embed.encoders.base import EncoderError, check_output

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["CallableEncoder"]


class CallableEncoder:
    """Adapt a function ``list[str] -> (N, D)`` to the :class:`~.base.Encoder` protocol.

    Args:
        fn: The function. It receives a list of prompts and returns one row per prompt.
        fingerprint: The identity of its numbers; makes the encoder cache-safe.
        dim: The output dimension, if known (otherwise found by encoding one prompt on
            first use).
        context_length: Most tokens per prompt, if the function has a limit.
        count_tokens: A function ``list[str] -> list[int]`` for the length check.
        batch_size: Prompts per call (default: all prompts in one call).

    Raises:
        EncoderError: ``fn`` is not callable, or a bad fingerprint/dim.
    """

    def __init__(
        self,
        fn: Callable[[list[str]], Any],
        *,
        fingerprint: str | None = None,
        dim: int | None = None,
        context_length: int | None = None,
        count_tokens: Callable[[list[str]], Sequence[int]] | None = None,
        batch_size: int | None = None,
    ) -> None:
        if not callable(fn):
            raise EncoderError(f"expected a callable list[str] -> array, got {fn!r}")
        if fingerprint is not None and (not isinstance(fingerprint, str) or not fingerprint):
            raise EncoderError(f"fingerprint must be a non-empty string, got {fingerprint!r}")
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
            raise EncoderError(f"dim must be a positive integer, got {dim!r}")
        self._fn = fn
        self._fingerprint = fingerprint
        self._dim = dim
        self._context_length = context_length
        self._count_tokens = count_tokens
        self._batch_size = batch_size

    @property
    def cache_safe(self) -> bool:
        """Whether results may be cached (a fingerprint was given)."""
        return self._fingerprint is not None

    @property
    def fingerprint(self) -> str:
        """The given fingerprint, or ``callable:<module>.<qualname>`` (not cache-safe)."""
        if self._fingerprint is not None:
            return self._fingerprint
        module = getattr(self._fn, "__module__", None) or "?"
        name = getattr(self._fn, "__qualname__", None) or type(self._fn).__qualname__
        return f"callable:{module}.{name}"

    @property
    def description(self) -> str:
        """``callable:<qualified name>``."""
        return f"callable:{getattr(self._fn, '__qualname__', type(self._fn).__qualname__)}"

    @property
    def dim(self) -> int:
        """Output dimension (given, or found by encoding one prompt)."""
        if self._dim is None:
            self._dim = int(self.encode(["a photo of a thing."]).shape[1])
        return self._dim

    @property
    def context_length(self) -> int | None:
        """The given context length, or ``None`` (no limit known)."""
        return self._context_length

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token counts from the given function, else whitespace words + 2."""
        if self._count_tokens is not None:
            return [int(n) for n in self._count_tokens(list(texts))]
        return [len(t.split()) + 2 for t in texts]

    def encode(self, texts: Sequence[str], *, batch_size: int | None = None) -> NDArray[np.float32]:
        """Call the function (in batches) and check its output."""
        texts = list(texts)
        size = batch_size or self._batch_size or max(len(texts), 1)
        parts = []
        for start in range(0, len(texts), size):
            chunk = texts[start : start + size]
            parts.append(check_output(self._fn(chunk), len(chunk), self._dim, self.description))
        if not parts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        out = np.concatenate(parts)
        if self._dim is None:
            self._dim = int(out.shape[1])
        return out
