"""Cold encode on one process against ``torchrun --nproc-per-node N`` (torch.distributed).

The same distinct prompts (the first labels of LVIS x the 7 ``simple`` templates, no
synonyms: 5,005 prompts by default) are encoded with the default MiniLM encoder on the
CPU, each run with a fresh, empty prompt cache:

* one process with ``--threads`` torch threads (default 2: all cores of the CI machine);
* ``torchrun --nproc-per-node N`` (default 2, gloo) with ``--threads / N`` threads per rank,
  so both use the same cores;
* for reference, one process with ``--threads / N`` threads (one rank's share): it tells
  what the ranks gain from splitting the work apart from what one process loses (or
  gains) from its extra threads.

Reported per run: the whole command's wall time (interpreter start, imports, model load,
the process group's set-up, encoding, cache writes) and the ``embed_labels`` call alone
(timed on rank 0: for the distributed run it includes joining the group and waiting for
the other rank), the median over ``--repeats`` alternating runs, and the max abs
difference between the two results. With as many ranks as cores the ranks share the same
cores the single process used, so expect little or no gain on a 2-core machine: the
distributed path pays for a second model load and the gather; it pays off with one GPU
(or one machine) per rank.

Run:
    python benchmarks/bench_distributed.py                  # 5,005 prompts, 2 x 1 vs 1 x 2
    python benchmarks/bench_distributed.py --labels 100 --repeats 1 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _machine import cpu_model

WORKER_FLAG = "--worker"


def worker(out: str, labels: int, threads: int) -> None:
    """One rank (or the single process): encode, then rank 0 writes timing and result."""
    import numpy as np
    import torch

    from scaledet_labels import embed_labels, load_vocabulary
    from scaledet_labels.embed.distributed import get_rank

    torch.set_num_threads(threads)
    names = [label.clean_name for label in load_vocabulary("lvis").labels[:labels]]
    started = time.perf_counter()
    result = embed_labels(names, templates="simple", synonyms=False, device="cpu", progress=False)
    seconds = time.perf_counter() - started
    if get_rank() == 0:
        np.save(os.path.join(out, "embeddings.npy"), result.embeddings)
        record = {"embed_s": seconds, "stats": result.stats.__dict__, "threads": threads}
        Path(out, "timing.json").write_text(json.dumps(record))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(ranks: int, threads: int, labels: int) -> dict[str, Any]:
    """One cold run in a fresh cache; returns its timings and result."""
    import numpy as np

    work = tempfile.mkdtemp(prefix="scaledet-bench-dist-")
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env |= {"SCALEDET_CACHE": os.path.join(work, "cache"), "OMP_NUM_THREADS": str(threads)}
    script = [os.path.abspath(__file__), WORKER_FLAG, work, str(labels), str(threads)]
    if ranks == 1:
        command = [sys.executable, *script]
    else:
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            str(ranks),
            "--master-addr",
            "127.0.0.1",
            "--master-port",
            str(free_port()),
            *script,
        ]
    try:
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True, text=True)
        wall = time.perf_counter() - started
        record = json.loads(Path(work, "timing.json").read_text())
        embeddings = np.load(os.path.join(work, "embeddings.npy"))
    except subprocess.CalledProcessError as exc:
        sys.stderr.write(exc.stderr[-4000:])
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"wall_s": wall, **record, "embeddings": embeddings}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == WORKER_FLAG:
        worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=715, help="LVIS labels (x 7 prompts)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads in all")
    parser.add_argument("--nproc", type=int, default=2, help="torchrun ranks")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each (median)")
    parser.add_argument("--json", default=None, help="also write results as JSON here")
    args = parser.parse_args()

    import numpy as np
    import torch

    per_rank = max(1, args.threads // args.nproc)
    setups = {
        "single": (1, args.threads),
        "torchrun": (args.nproc, per_rank),
        "single_rank_share": (1, per_rank),
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in setups}
    load_before = os.getloadavg()[0]
    for _ in range(args.repeats):
        for name, (ranks, threads) in setups.items():  # alternate: same conditions for both
            runs[name].append(run(ranks, threads, args.labels))
    diff = float(np.abs(runs["single"][0]["embeddings"] - runs["torchrun"][0]["embeddings"]).max())
    prompts = runs["single"][0]["stats"]["prompts_unique"]
    report: dict[str, Any] = {
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_avg_1m_before": round(load_before, 2),
        "load_avg_1m_after": round(os.getloadavg()[0], 2),
        "prompts": prompts,
        "max_abs_diff": diff,
    }
    for name, (ranks, threads) in setups.items():
        walls = [r["wall_s"] for r in runs[name]]
        embeds = [r["embed_s"] for r in runs[name]]
        report[name] = {
            "ranks": ranks,
            "threads_per_rank": threads,
            "wall_s": [round(s, 2) for s in walls],
            "wall_median_s": round(statistics.median(walls), 2),
            "embed_s": [round(s, 2) for s in embeds],
            "embed_median_s": round(statistics.median(embeds), 2),
            "encoded": runs[name][0]["stats"]["encoded"],
        }
    single, dist = report["single"], report["torchrun"]
    print(
        f"cold encode of {prompts} distinct prompts (MiniLM, CPU, fresh cache), "
        f"{report['cores']} cores ({report['cpu']}), median of {args.repeats}"
    )
    print("| run | ranks x threads | whole command (s) | `embed_labels` call (s) | encoded |")
    print("|---|---|---|---|---|")
    rows = [("one process", single), ("torchrun, gloo", dist)]
    rows.append(("one process, one rank's threads", report["single_rank_share"]))
    for label, entry in rows:
        print(
            f"| {label} | {entry['ranks']} x {entry['threads_per_rank']} | "
            f"{entry['wall_median_s']} {entry['wall_s']} | "
            f"{entry['embed_median_s']} {entry['embed_s']} | {entry['encoded']} |"
        )
    print(
        f"| speed-up (one process {single['ranks']} x {single['threads_per_rank']} / torchrun) "
        "| | "
        f"{single['wall_median_s'] / dist['wall_median_s']:.2f}x | "
        f"{single['embed_median_s'] / dist['embed_median_s']:.2f}x | |"
    )
    print(
        f"\nmax abs difference of the label embeddings (one process vs torchrun): {diff:.2e}; "
        f"load average {report['load_avg_1m_before']} before, {report['load_avg_1m_after']} "
        "after"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
