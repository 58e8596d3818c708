"""A torchrun worker for the distributed tests (and the helpers they share with it).

Run by ``python -m torch.distributed.run --nproc-per-node 2 dist_worker.py OUT [options]``:
every rank embeds a small vocabulary with a deterministic fake encoder through the public
API and writes what it got to ``OUT/rank<R>.npz`` (plus ``OUT/rank<R>.json``), so the
test process can compare ranks with each other and with a single-process build.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np

DIM = 8
FINGERPRINT = "fake-dist-v1"


def fake_vectors(texts: list[str]) -> np.ndarray:
    """One fixed vector per text (a function of the text alone, not of the batch)."""
    return np.stack(
        [np.random.default_rng(zlib.crc32(t.encode())).standard_normal(DIM) for t in texts]
    ).astype(np.float32)


def names(n: int) -> list[str]:
    """``n`` label names of varied lengths (so prompts sort into mixed lengths)."""
    return [f"thing {'x' * (i % 7)} number {i}" for i in range(n)]


def make_encoder(
    *,
    kill_on_call: int | None = None,
    fail_on_call: int | None = None,
    context_length: int | None = None,
) -> Any:
    """The fake encoder; on this process, optionally SIGKILL itself or raise on a call."""
    from scaledet_labels.embed.encoders import CallableEncoder

    calls = 0

    def fn(texts: list[str]) -> np.ndarray:
        nonlocal calls
        calls += 1
        if kill_on_call is not None and calls >= kill_on_call:
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        if fail_on_call is not None and calls >= fail_on_call:
            raise RuntimeError("the fake encoder broke on purpose")
        return fake_vectors(texts) * 2.0

    return CallableEncoder(
        fn,
        fingerprint=FINGERPRINT,
        dim=DIM,
        context_length=context_length,
        count_tokens=lambda texts: [len(t.split()) for t in texts],
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--labels", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--cache", default=None, help="cache dir ({rank} is replaced)")
    parser.add_argument("--kill-rank", type=int, default=None)
    parser.add_argument("--kill-on-call", type=int, default=2)
    parser.add_argument("--fail-rank", type=int, default=None)
    parser.add_argument("--context-length", type=int, default=None)
    parser.add_argument("--user-group", action="store_true", help="init the group here")
    parser.add_argument("--repeat", type=int, default=1, help="embed this many times")
    parser.add_argument("--other-labels-rank", type=int, default=None)
    args = parser.parse_args()

    from scaledet_labels.embed.embeddings import embed_labels

    rank = int(os.environ["RANK"])
    if args.user_group:
        import torch.distributed as dist

        dist.init_process_group("gloo")
    encoder = make_encoder(
        kill_on_call=args.kill_on_call if rank == args.kill_rank else None,
        fail_on_call=1 if rank == args.fail_rank else None,
        context_length=args.context_length,
    )
    labels = names(args.labels)
    if rank == args.other_labels_rank:
        labels = [*labels[:-1], "something else"]
    cache: Any = False if args.cache is None else args.cache.replace("{rank}", str(rank))
    for _ in range(args.repeat):
        result = embed_labels(
            labels,
            encoder,
            templates="simple",
            cache=cache,
            batch_size=args.batch_size,
            progress=False,
        )
    out = Path(args.out)
    np.savez(out / f"rank{rank}.npz", embeddings=result.embeddings)
    record = {
        "stats": result.stats.__dict__,
        "fingerprint": result.fingerprint,
        "torch_group_after": None,
    }
    if args.user_group:
        import torch.distributed as dist

        record["torch_group_after"] = dist.is_initialized()
        dist.destroy_process_group()
    elif "torch.distributed" in sys.modules:
        record["torch_group_after"] = sys.modules["torch.distributed"].is_initialized()
    (out / f"rank{rank}.json").write_text(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
