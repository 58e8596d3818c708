"""Cold vs warm label-embedding build of coco + lvis + objects365 + oid (default encoder).

Each build runs as a whole new process (``python -c ...``) against a fresh cache
directory: the cold build loads MiniLM and encodes every distinct prompt; the warm builds
find every prompt in the cache (target: 2 s or less per process, with no torch,
transformers or open_clip imported). Also times the whole CLI,
``scaledet-labels build coco lvis objects365 oid`` (label space + embeddings + similarity
+ bundle), warm; and the README's main job, ``scaledet-labels build coco lvis oid``, cold
(a fresh cache of its own) and warm, with each process's peak RSS; and
``scaledet-labels list``.

Run:
    python benchmarks/bench_build.py                  # fresh temporary cache
    python benchmarks/bench_build.py --repeats 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

DATASETS = ["coco", "lvis", "objects365", "oid"]

BUILD = """
import json, sys, time
start = time.perf_counter()
from scaledet_labels import LabelSpace
from scaledet_labels.embed.embeddings import embed_labels
space = LabelSpace.union(sys.argv[2].split(","))
result = embed_labels(space, cache=sys.argv[1], device="cpu", progress=False)
heavy = [m for m in ("torch", "transformers", "open_clip") if m in sys.modules]
print(json.dumps({"in_process_s": time.perf_counter() - start, "stats": vars(result.stats),
                  "shape": list(result.embeddings.shape), "heavy_imports": heavy,
                  "fingerprint": result.fingerprint}))
"""


MAIN_JOB = ["coco", "lvis", "oid"]


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    seconds, stdout, _ = timed_rss(cmd, env)
    return seconds, stdout


def timed_rss(cmd: list[str], env: dict[str, str]) -> tuple[float, str, float]:
    """Wall seconds, stdout and peak RSS (MB) of one child process."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{cmd[:3]} failed:\n{err.read()}")
        # ru_maxrss is in KiB on Linux
        return seconds, out.read(), usage.ru_maxrss * 1024 / 1e6


def main_job(repeats: int) -> dict[str, Any]:
    """``scaledet-labels build coco lvis oid`` cold (fresh cache) and warm, and ``list``."""
    cli = shutil.which("scaledet-labels")
    if cli is None:
        return {}
    work = tempfile.mkdtemp(prefix="scaledet-bench-main-")
    env = dict(os.environ, SCALEDET_CACHE=os.path.join(work, "cache"))
    cmd = [cli, "build", *MAIN_JOB, "--out", os.path.join(work, "bundle"), "--quiet"]
    try:
        cold_s, _, cold_rss = timed_rss(cmd, env)
        warm = [timed_rss(cmd, env) for _ in range(repeats)]
        listing = [timed([cli, "list"], env)[0] for _ in range(repeats)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "main_job_cold_s": round(cold_s, 2),
        "main_job_cold_max_rss_mb": round(cold_rss),
        "main_job_warm_s": [round(s, 2) for s, _, _ in warm],
        "main_job_warm_median_s": round(statistics.median(s for s, _, _ in warm), 2),
        "main_job_warm_max_rss_mb": round(max(r for _, _, r in warm)),
        "list_s": [round(s, 2) for s in listing],
        "list_median_s": round(statistics.median(listing), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="warm runs (median reported)")
    parser.add_argument("--cache", default=None, help="cache dir (default: a fresh temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary cache")
    parser.add_argument("--json", default=None, help="also write results as JSON here")
    args = parser.parse_args()

    cache = args.cache or tempfile.mkdtemp(prefix="scaledet-bench-cache-")
    out_dir = tempfile.mkdtemp(prefix="scaledet-bench-out-")
    env = dict(os.environ, SCALEDET_CACHE=cache)
    build = [sys.executable, "-c", BUILD, cache, ",".join(DATASETS)]
    report: dict[str, Any] = {
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "datasets": DATASETS,
        "cpu_count": os.cpu_count(),
        "load_avg_1m_before": round(os.getloadavg()[0], 2),
    }
    try:
        cold_s, stdout = timed(build, env)
        report["cold_process_s"] = round(cold_s, 2)
        report["cold"] = json.loads(stdout)
        warm = []
        for _ in range(args.repeats):
            seconds, stdout = timed(build, env)
            warm.append(round(seconds, 3))
            report["warm"] = json.loads(stdout)
        report["warm_process_s"] = warm
        report["warm_process_median_s"] = statistics.median(warm)
        cli = shutil.which("scaledet-labels")
        if cli:
            cmd = [cli, "build", *DATASETS, "--out", os.path.join(out_dir, "bundle"), "--quiet"]
            timed(cmd, env)  # the first CLI run may build the bundle's other parts
            runs = [round(timed(cmd, env)[0], 3) for _ in range(args.repeats)]
            report["cli_warm_process_s"] = runs
            report["cli_warm_median_s"] = statistics.median(runs)
        report |= main_job(args.repeats)
        report["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
        if not args.cache and not args.keep:
            shutil.rmtree(cache, ignore_errors=True)

    stats = report["cold"]["stats"]
    print(
        f"{'+'.join(DATASETS)}: {report['cold']['shape'][0]} labels, "
        f"{stats['prompts_total']} prompts, {stats['prompts_unique']} unique"
    )
    print("| build | seconds (whole process) | encoded | from cache | heavy imports |")
    print("|---|---|---|---|---|")
    print(
        f"| cold | {report['cold_process_s']} | {stats['encoded']} | {stats['from_cache']} | "
        f"{report['cold']['heavy_imports']} |"
    )
    warm_stats = report["warm"]["stats"]
    print(
        f"| warm (median of {args.repeats}) | {report['warm_process_median_s']} "
        f"{report['warm_process_s']} | {warm_stats['encoded']} | {warm_stats['from_cache']} | "
        f"{report['warm']['heavy_imports']} |"
    )
    if "cli_warm_median_s" in report:
        print(
            f"| CLI `scaledet-labels build` warm | {report['cli_warm_median_s']} "
            f"{report['cli_warm_process_s']} | | | |"
        )
    if "main_job_cold_s" in report:
        print(
            f"| CLI `scaledet-labels build {' '.join(MAIN_JOB)}` (main job) cold, fresh cache | "
            f"{report['main_job_cold_s']} (max RSS {report['main_job_cold_max_rss_mb']} MB) "
            "| | | |"
        )
        print(
            f"| the same, warm (median of {args.repeats}) | {report['main_job_warm_median_s']} "
            f"{report['main_job_warm_s']} (max RSS {report['main_job_warm_max_rss_mb']} MB) "
            "| | | |"
        )
        print(
            f"| CLI `scaledet-labels list` (median of {args.repeats}) | "
            f"{report['list_median_s']} {report['list_s']} | | | |"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
