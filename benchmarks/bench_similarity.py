"""Similarity scaling: dense for the 2,249-label union, top-k CSR for 20,000 labels.

Each case runs in a fresh subprocess so its peak memory (ru_maxrss) is its own; the
reported "extra peak" is the peak minus the resident size after the inputs were made.

    python benchmarks/bench_similarity.py            # writes nothing, prints a Markdown table
    python benchmarks/bench_similarity.py --n 20000 --k 64 --dim 512

Targets (issue 4): 20,000 labels at K=64 in 10 s or less with under 1 GB peak; dense for
2,249 labels well under a second.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

_CHILD = r"""
import json, resource, sys, time
import numpy as np
from scaledet_labels.bundle.similarity import label_similarity
n, dim, k = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
k = None if k == "dense" else int(k)
rng = np.random.default_rng(0)
emb = rng.standard_normal((n, dim)).astype(np.float32)
emb /= np.linalg.norm(emb, axis=1, keepdims=True)
label_similarity(emb[:64], topk=None if k is None else min(k, 63))  # warm up BLAS, imports
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
out = label_similarity(emb, topk=k)
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
nbytes = out.nbytes if k is None else out.data.nbytes + out.indices.nbytes + out.indptr.nbytes
print(json.dumps({"seconds": seconds, "peak_kb": peak, "base_kb": base, "result_bytes": nbytes}))
"""


def run_case(n: int, dim: int, k: int | None) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(n), str(dim), "dense" if k is None else str(k)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(proc.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cases = [(2249, None), (2249, 64), (20000, 64), (50000, 64)]
    print(
        f"| labels | kind | seconds (best of {args.repeat}) | process peak RSS | extra peak "
        "| result |"
    )
    print("|---:|---|---:|---:|---:|---:|")
    for n, k in cases:
        runs = [run_case(n, args.dim, k) for _ in range(args.repeat)]
        best = min(runs, key=lambda r: r["seconds"])
        peak = max(r["peak_kb"] for r in runs) / 1024
        extra = max(r["peak_kb"] - r["base_kb"] for r in runs) / 1024
        kind = "dense" if k is None else f"top-{k} CSR"
        print(
            f"| {n:,} | {kind} | {best['seconds']:.3f} | {peak:.0f} MB | {extra:.0f} MB | "
            f"{best['result_bytes'] / 2**20:.1f} MB |"
        )


if __name__ == "__main__":
    main()
