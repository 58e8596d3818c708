"""Cold vs warm label-embedding build of coco + lvis + objects365 + oid (default encoder).

Each build runs as a whole new process (``python -c ...``) against a fresh cache
directory: the cold build loads MiniLM and encodes every distinct prompt; the warm builds
find every prompt in the cache (target: 2 s or less per process, with no torch,
transformers or open_clip imported). Also times the whole CLI,
``scaledet-labels build coco lvis objects365 oid`` (label space + embeddings + similarity
+ bundle), warm.

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
from scaledet_labels.embeddings import embed_labels
space = LabelSpace.union(sys.argv[2].split(","))
result = embed_labels(space, cache=sys.argv[1], device="cpu", progress=False)
heavy = [m for m in ("torch", "transformers", "open_clip") if m in sys.modules]
print(json.dumps({"in_process_s": time.perf_counter() - start, "stats": vars(result.stats),
                  "shape": list(result.embeddings.shape), "heavy_imports": heavy,
                  "fingerprint": result.fingerprint}))
"""


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed:\n{out.stderr}")
    return seconds, out.stdout


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
        report["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
        if not args.cache and not args.keep:
            shutil.rmtree(cache, ignore_errors=True)

    stats = report["cold"]["stats"]
    print(f"{'+'.join(DATASETS)}: {report['cold']['shape'][0]} labels, "
          f"{stats['prompts_total']} prompts, {stats['prompts_unique']} unique")
    print("| build | seconds (whole process) | encoded | from cache | heavy imports |")
    print("|---|---|---|---|---|")
    print(f"| cold | {report['cold_process_s']} | {stats['encoded']} | {stats['from_cache']} | "
          f"{report['cold']['heavy_imports']} |")
    warm_stats = report["warm"]["stats"]
    print(f"| warm (median of {args.repeats}) | {report['warm_process_median_s']} "
          f"{report['warm_process_s']} | {warm_stats['encoded']} | {warm_stats['from_cache']} | "
          f"{report['warm']['heavy_imports']} |")
    if "cli_warm_median_s" in report:
        print(f"| CLI `scaledet-labels build` warm | {report['cli_warm_median_s']} "
              f"{report['cli_warm_process_s']} | | | |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
