"""Encoding on several processes, GPUs or machines, through :mod:`torch.distributed`.

The embedding pipeline (:func:`~scaledet_labels.embed.embeddings.embed_labels`) runs on
every rank of a process group: rank 0 reads the prompt cache and decides which prompts
are missing, every rank encodes its share of them on its own device, rank 0 gathers the
vectors, commits them to the cache round by round and sends the final matrix back to
every rank. Nothing else is home-made: torchrun (or SLURM, or your own launcher) starts
the processes, ``torch.distributed`` moves the data (gloo on CPUs, NCCL on GPUs).

When is a build distributed?

* inside an initialised default process group (``torch.distributed.is_initialized()``)
  of more than one process: the group is used as it is and left initialised;
* in a process started by torchrun (``RANK`` and ``WORLD_SIZE`` set, ``WORLD_SIZE > 1``)
  with no group yet: a group is created for the build (``nccl`` when the encoder runs on
  CUDA, else ``gloo``) and destroyed afterwards;
* never with ``distributed=False`` (e.g. in ``if rank == 0:`` code).

Nothing here imports torch unless one of these holds: a process that never imported
torch has no process group, and the environment check reads ``os.environ`` only.

The environment is read in this module only: ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``
(torchrun's), and ``SCALEDET_DIST_TIMEOUT``: seconds a collective waits for the other
ranks in a group this module creates (default 1800, torch's default).

Examples:
    >>> shard(["a", "b", "c", "d", "e"], rank=1, world_size=2)
    ['b', 'd']
    >>> is_main_process()  # no process group, not launched by torchrun
    True
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from scaledet_labels.errors import EncoderError

if TYPE_CHECKING:
    import torch
    from numpy.typing import NDArray

__all__ = [
    "TIMEOUT_ENV",
    "Ranks",
    "TorchrunEnv",
    "get_rank",
    "get_world_size",
    "is_main_process",
    "process_group",
    "shard",
    "torchrun_env",
]

logger = logging.getLogger(__name__)

TIMEOUT_ENV = "SCALEDET_DIST_TIMEOUT"
_DEFAULT_TIMEOUT_S = 1800.0  # torch.distributed's own default for gloo
_T = TypeVar("_T")
_groups_created = 0  # process groups this process created (the same count on every rank)


@dataclass(frozen=True)
class TorchrunEnv:
    """The process's place in a job, as torchrun (or a SLURM script) sets it.

    Attributes:
        rank: ``RANK``: this process among all processes, ``0 .. world_size - 1``.
        world_size: ``WORLD_SIZE``: number of processes.
        local_rank: ``LOCAL_RANK``: this process on its machine (its GPU index); ``RANK``
            when unset.
    """

    rank: int
    world_size: int
    local_rank: int


def _env_int(name: str) -> int | None:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        value = int(raw)
    except ValueError:
        raise EncoderError(
            f"environment variable {name}={raw!r} is not an integer (torchrun sets RANK, "
            "WORLD_SIZE and LOCAL_RANK to integers)"
        ) from None
    if value < 0:
        raise EncoderError(f"environment variable {name}={raw!r} must be >= 0")
    return value


def torchrun_env() -> TorchrunEnv | None:
    """``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` when they describe more than one process.

    Returns:
        The environment's :class:`TorchrunEnv`, or ``None`` when ``WORLD_SIZE`` or
        ``RANK`` is unset or ``WORLD_SIZE`` is 1.

    Raises:
        EncoderError: A variable is not a non-negative integer, or ``RANK >= WORLD_SIZE``.

    Examples:
        >>> import os
        >>> os.environ.pop("WORLD_SIZE", None) and None
        >>> torchrun_env() is None
        True
    """
    world = _env_int("WORLD_SIZE")
    rank = _env_int("RANK")
    if world is None or rank is None or world <= 1:
        return None
    if rank >= world:
        raise EncoderError(f"environment RANK={rank} is not below WORLD_SIZE={world}")
    local = _env_int("LOCAL_RANK")
    return TorchrunEnv(rank=rank, world_size=world, local_rank=rank if local is None else local)


def _initialised_dist() -> Any:
    """``torch.distributed`` when torch is imported and its default group is initialised."""
    dist = sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return None
    return dist


def get_rank() -> int:
    """This process's rank: from the initialised process group, else torchrun's ``RANK``,
    else 0. Never imports torch.

    Examples:
        >>> get_rank()
        0
    """
    dist = _initialised_dist()
    if dist is not None:
        return int(dist.get_rank())
    env = torchrun_env()
    return env.rank if env is not None else 0


def get_world_size() -> int:
    """Number of processes: the initialised group's size, else ``WORLD_SIZE``, else 1.

    Examples:
        >>> get_world_size()
        1
    """
    dist = _initialised_dist()
    if dist is not None:
        return int(dist.get_world_size())
    env = torchrun_env()
    return env.world_size if env is not None else 1


def is_main_process() -> bool:
    """Whether this process writes files (the prompt cache, bundles): rank 0, or a process
    that is not part of a distributed job. Never imports torch.

    Examples:
        >>> is_main_process()
        True
    """
    return get_rank() == 0


def shard(items: Sequence[_T], rank: int, world_size: int) -> list[_T]:
    """Rank ``rank``'s share of ``items``: every ``world_size``-th item from ``rank``.

    Deterministic, and balanced for a length-sorted list: each rank gets prompts of every
    length, and shard sizes differ by at most one.

    Examples:
        >>> shard(list(range(7)), 0, 3), shard(list(range(7)), 2, 3)
        ([0, 3, 6], [2, 5])
    """
    return list(items[rank::world_size])


def _timeout() -> datetime.timedelta:
    raw = os.environ.get(TIMEOUT_ENV)
    if raw is None or not raw.strip():
        return datetime.timedelta(seconds=_DEFAULT_TIMEOUT_S)
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise EncoderError(f"{TIMEOUT_ENV}={raw!r}: give a positive number of seconds")
    return datetime.timedelta(seconds=seconds)


def _describe(exc: BaseException) -> str:
    message = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


class Ranks:
    """One process's handle on a process group: rank, size and the few collectives the
    embedding pipeline uses (JSON messages, float32 row blocks).

    Every method is a collective: all ranks call it, in the same order. Methods that take
    an ``error`` let a rank that failed locally say so instead of leaving the others
    waiting: then every rank raises (the failed rank its own exception, the others an
    :class:`~scaledet_labels.errors.EncoderError` naming the failed rank).

    Args:
        dist: The ``torch.distributed`` module, with an initialised default group.
        local_rank: This process's index on its machine: its GPU is ``local_rank``
            modulo the visible GPUs. Default: ``LOCAL_RANK``, else the rank.
    """

    def __init__(self, dist: Any, *, local_rank: int | None = None) -> None:
        import torch

        self._dist = dist
        self.rank: int = int(dist.get_rank())
        self.world_size: int = int(dist.get_world_size())
        self.backend: str = str(dist.get_backend())
        if local_rank is None:
            env = torchrun_env()
            local_rank = env.local_rank if env is not None else self.rank
        self.local_rank: int = local_rank
        # NCCL moves CUDA tensors only (each rank its own GPU, the one it encodes on);
        # gloo, and everything else, CPU tensors.
        self._comm_device = (
            torch.device(self.device_for("cuda"))
            if "nccl" in self.backend and torch.cuda.is_available()
            else torch.device("cpu")
        )

    def __repr__(self) -> str:
        return f"Ranks(rank={self.rank}, world_size={self.world_size}, backend={self.backend!r})"

    @property
    def is_main(self) -> bool:
        """Rank 0: the rank that reads and writes the cache."""
        return self.rank == 0

    def shard(self, items: Sequence[_T]) -> list[_T]:
        """This rank's share of ``items`` (see :func:`shard`)."""
        return shard(items, self.rank, self.world_size)

    def device_for(self, device: str) -> str:
        """The encoder device of this rank: ``"auto"``/``"cuda"`` become ``cuda:LOCAL_RANK``
        (modulo the visible GPUs) when CUDA is available; anything else is kept."""
        import torch

        if device in ("auto", "cuda") and torch.cuda.is_available():
            return f"cuda:{self.local_rank % torch.cuda.device_count()}"
        return device

    # -- messages -------------------------------------------------------------------------
    def _tensor(self, array: NDArray[Any]) -> torch.Tensor:
        import torch

        return torch.from_numpy(np.ascontiguousarray(array)).to(self._comm_device)

    @staticmethod
    def _numpy(tensor: torch.Tensor) -> NDArray[Any]:
        return np.asarray(tensor.cpu().numpy())

    def _all_gather_bytes(self, blob: bytes) -> list[bytes]:
        sizes = [self._tensor(np.zeros(1, dtype=np.int64)) for _ in range(self.world_size)]
        self._dist.all_gather(sizes, self._tensor(np.array([len(blob)], dtype=np.int64)))
        lengths = [int(self._numpy(s)[0]) for s in sizes]
        width = max(max(lengths), 1)
        padded = np.zeros(width, dtype=np.uint8)
        padded[: len(blob)] = np.frombuffer(blob, dtype=np.uint8)
        parts = [self._tensor(np.zeros(width, dtype=np.uint8)) for _ in range(self.world_size)]
        self._dist.all_gather(parts, self._tensor(padded))
        return [self._numpy(p)[:n].tobytes() for p, n in zip(parts, lengths, strict=True)]

    def _raise_failures(self, errors: list[str | None], own: BaseException | None) -> None:
        if own is not None:
            raise own
        failed = [(rank, message) for rank, message in enumerate(errors) if message]
        if failed:
            rank, message = failed[0]
            others = f" (and {len(failed) - 1} more rank(s))" if len(failed) > 1 else ""
            raise EncoderError(
                f"rank {rank} of {self.world_size} failed{others}: {message}; see its output"
            )

    def all_gather_json(self, payload: Any, error: BaseException | None = None) -> list[Any]:
        """Every rank's JSON ``payload``, in rank order; raises on every rank if any rank
        passed an ``error``.

        Raises:
            Exception: This rank's ``error``; else EncoderError when another rank failed.
        """
        message = {"error": _describe(error)} if error is not None else {"payload": payload}
        blob = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        messages = [json.loads(b.decode("utf-8")) for b in self._all_gather_bytes(blob)]
        self._raise_failures([m.get("error") for m in messages], error)
        return [m["payload"] for m in messages]

    def agree(self, error: BaseException | None = None) -> None:
        """Raise on every rank if any rank failed (``error``); otherwise return."""
        self.all_gather_json(None, error)

    def broadcast_json(self, payload: Any = None) -> Any:
        """Rank 0's JSON ``payload`` on every rank (other ranks pass nothing)."""
        blob = b""
        if self.is_main:
            blob = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        size = self._tensor(np.array([len(blob)], dtype=np.int64))
        self._dist.broadcast(size, src=0)
        n = int(self._numpy(size)[0])
        buffer = np.zeros(max(n, 1), dtype=np.uint8)
        if self.is_main:
            buffer[:n] = np.frombuffer(blob, dtype=np.uint8)
        tensor = self._tensor(buffer)
        self._dist.broadcast(tensor, src=0)
        return json.loads(self._numpy(tensor)[:n].tobytes().decode("utf-8"))

    # -- arrays ---------------------------------------------------------------------------
    def gather_rows(
        self, rows: NDArray[np.float32], counts: Sequence[int], dim: int
    ) -> list[NDArray[np.float32]]:
        """Gather each rank's float32 ``(counts[rank], dim)`` block on rank 0.

        Every rank knows ``counts`` (how many rows each rank sends) and ``dim``; blocks
        are padded to the largest count for the collective and trimmed again.

        Returns:
            On rank 0, the blocks in rank order; on other ranks, ``[]``.
        """
        width = max(max(counts), 1)
        padded = np.zeros((width, dim), dtype=np.float32)
        if len(rows):
            padded[: len(rows)] = rows
        tensor = self._tensor(padded)
        if self.is_main:
            parts = [self._tensor(np.zeros_like(padded)) for _ in range(self.world_size)]
            self._dist.gather(tensor, gather_list=parts, dst=0)
            return [
                self._numpy(p)[:n].astype(np.float32, copy=False)
                for p, n in zip(parts, counts, strict=True)
            ]
        self._dist.gather(tensor, gather_list=None, dst=0)
        return []

    def broadcast_rows(self, rows: NDArray[np.float32] | None) -> NDArray[np.float32]:
        """Rank 0's float32 matrix on every rank (other ranks pass ``None``)."""
        shape = self.broadcast_json(list(rows.shape) if self.is_main and rows is not None else None)
        buffer = np.ascontiguousarray(rows if self.is_main else np.empty(shape, np.float32))
        tensor = self._tensor(buffer.astype(np.float32, copy=False))
        self._dist.broadcast(tensor, src=0)
        return buffer if self.is_main else self._numpy(tensor).astype(np.float32, copy=False)


def _wants_group(distributed: bool | None) -> tuple[Any, TorchrunEnv | None]:
    if distributed is False:
        return None, None
    dist = _initialised_dist()
    if dist is not None:
        return dist, None
    env = torchrun_env()
    if env is None and distributed is True:
        raise EncoderError(
            "distributed=True needs an initialised torch.distributed process group or a "
            "torchrun environment (RANK and WORLD_SIZE > 1); launch with torchrun or call "
            "torch.distributed.init_process_group first"
        )
    return None, env


@contextlib.contextmanager
def process_group(
    distributed: bool | None = None, *, device: str = "auto"
) -> Iterator[Ranks | None]:
    """The process group an encode runs in, or ``None`` for a single-process encode.

    Args:
        distributed: ``None`` (default): an initialised default group of more than one
            process, else a torchrun environment (a group is created for the duration of
            the ``with`` block and destroyed afterwards), else single process. ``False``:
            always single process. ``True``: like ``None``, but a missing group or
            torchrun environment is an error.
        device: The encoder's device option: a group created here uses NCCL when it
            runs on CUDA, gloo otherwise.

    Yields:
        A :class:`Ranks` handle, or ``None``.

    Raises:
        EncoderError: ``distributed=True`` outside a distributed job; a bad
            ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` or timeout setting.

    Examples:
        >>> with process_group() as ranks:
        ...     print(ranks)
        None
    """
    if distributed not in (None, True, False):
        raise EncoderError(f"distributed must be True, False or None, got {distributed!r}")
    dist, env = _wants_group(distributed)
    if dist is not None:
        ranks = Ranks(dist)
        yield ranks if ranks.world_size > 1 else None
        return
    if env is None:
        yield None
        return
    timeout = _timeout()
    import torch
    import torch.distributed as tdist
    from torch.distributed.distributed_c10d import PrefixStore
    from torch.distributed.rendezvous import rendezvous

    cuda = device != "cpu" and torch.cuda.is_available()
    backend = "nccl" if cuda else "gloo"
    if cuda:
        torch.cuda.set_device(env.local_rank % torch.cuda.device_count())
    logger.info(
        "rank %d of %d: joining a %s process group (timeout %s)",
        env.rank,
        env.world_size,
        backend,
        timeout,
    )
    # A fresh key prefix per group: a second build in this process must not read the
    # addresses the ranks published for the first group (stale, already closed).
    global _groups_created
    _groups_created += 1
    restart = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    store, rank, world_size = next(rendezvous("env://", timeout=timeout))
    store.set_timeout(timeout)
    tdist.init_process_group(
        backend=backend,
        store=PrefixStore(f"scaledet_labels/{restart}/{_groups_created}", store),
        rank=rank,
        world_size=world_size,
        timeout=timeout,
    )
    del store
    try:
        yield Ranks(tdist, local_rank=env.local_rank)
    finally:
        tdist.destroy_process_group()
