"""Miniature ablation of the ScaleDet loss on the synthetic multi-dataset detection example.

The paper's Table 8, small: ``examples/multidataset_detection.py`` (three synthetic
datasets with overlapping but different vocabularies, a tiny from-scratch Faster R-CNN with
``CosineClassifier`` + ``ScaleDetLoss``) trained under each configuration below, for
several seeds; COCO-style mAP@[.5:.95] per dataset and on the held-out vocabulary is
reported as mean and sample standard deviation over seeds.

Configurations:

* ``hard``: hard label loss only (``--lam 0``), per-dataset negative masks;
* ``soft-X``: hard + soft label loss with ``lam = X``, per-dataset negative masks;
* ``nomask-hard`` / ``nomask-soft-1``: the same without the masks (every unified label is a
  negative for every region that does not carry it, also the other datasets' synonyms);
* ``tau0.02-*``: ``hard`` and ``soft-1`` at Detic's temperature, 0.02 (the
  library and example default is 0.05), and ``lam = 2.5`` there (the hard term's gradient scales
  with ``1 / tau``, so ``lam = 2.5`` at 0.02 keeps ``soft-1``'s balance at 0.05);
* ``single``: one model per dataset trained on that dataset alone (same iterations and
  loss as ``soft-1``), each evaluated on its own test set.

Every run is a separate process (``--jobs`` at a time, ``--threads`` torch threads each)
whose JSON and log are kept in ``--out-dir``; ``--resume`` reuses a run whose JSON exists
there with the same configuration.

Run::

    python benchmarks/bench_ablation.py                        # 3 seeds x 400 iterations
    python benchmarks/bench_ablation.py --seeds 0 1 2 3 4 --iters 600 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _machine import cpu_model

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "multidataset_detection.py"
DATASETS = ("shapes_a", "shapes_b", "shapes_c")
HELDOUT = "heldout_vocab"
UNSEEN = "hollow triangle"  # the held-out vocabulary's unseen combination
RENAMES = ("sphere", "cube", "pyramid")  # the held-out vocabulary's new names for seen shapes


@dataclass(frozen=True)
class Config:
    """One row of the ablation table: its name, description and example flags."""

    name: str
    description: str
    flags: tuple[str, ...]


CONFIGS: tuple[Config, ...] = (
    Config("hard", "hard loss only (lam = 0), per-dataset masks", ("--lam", "0")),
    Config("soft-0.5", "hard + soft, lam = 0.5, per-dataset masks", ("--lam", "0.5")),
    Config("soft-1", "hard + soft, lam = 1, per-dataset masks", ("--lam", "1")),
    Config("soft-2", "hard + soft, lam = 2, per-dataset masks", ("--lam", "2")),
    Config("soft-4", "hard + soft, lam = 4, per-dataset masks", ("--lam", "4")),
    Config("nomask-hard", "hard loss only (lam = 0), no masks", ("--lam", "0", "--no-masks")),
    Config("nomask-soft-1", "hard + soft, lam = 1, no masks", ("--lam", "1", "--no-masks")),
    Config(
        "tau0.02-hard",
        "hard loss only, tau = 0.02 (Detic's), per-dataset masks",
        ("--lam", "0", "--tau", "0.02"),
    ),
    Config(
        "tau0.02-soft-1",
        "hard + soft, lam = 1, tau = 0.02 (Detic's), per-dataset masks",
        ("--lam", "1", "--tau", "0.02"),
    ),
    Config(
        "tau0.02-soft-2.5",
        "hard + soft, lam = 2.5, tau = 0.02, per-dataset masks (lam x tau as in soft-1)",
        ("--lam", "2.5", "--tau", "0.02"),
    ),
)
SINGLE = Config("single", "single-dataset models (lam = 1), one per dataset", ("--lam", "1"))


@dataclass(frozen=True)
class Run:
    config: Config
    seed: int
    train: tuple[str, ...]  # empty: all datasets

    @property
    def key(self) -> str:
        suffix = f"-{self.train[0]}" if self.train else ""
        return f"{self.config.name}{suffix}-seed{self.seed}"


def example_command(run: Run, iters: int, threads: int, out: Path | None) -> list[str]:
    cmd = [
        "python",
        "examples/multidataset_detection.py",
        *run.config.flags,
        "--seed",
        str(run.seed),
        "--iters",
        str(iters),
        "--threads",
        str(threads),
    ]
    if run.train:
        cmd += ["--train", *run.train]
    if out is not None:
        cmd += ["--out", str(out)]
    return cmd


def execute(run: Run, args: argparse.Namespace) -> dict[str, Any]:
    """Run one configuration and seed in a fresh process (or reuse its JSON); its report."""
    out = args.out_dir / f"{run.key}.json"
    cmd = example_command(run, args.iters, args.threads, out)
    expected = example_command(run, args.iters, args.threads, None)[2:]  # flags, no --out
    if args.resume and out.exists():
        report: dict[str, Any] = json.loads(out.read_text())
        if report.get("argv") == expected:
            print(f"  reused {run.key}", flush=True)
            return report
    out.unlink(missing_ok=True)
    log = args.out_dir / f"{run.key}.log"
    started = time.perf_counter()
    with log.open("w") as f:
        proc = subprocess.run(
            [sys.executable, *cmd[1:]], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, check=False
        )
    if proc.returncode != 0 or not out.exists():
        raise SystemExit(f"{run.key} failed (exit {proc.returncode}); see {log}")
    report = json.loads(out.read_text())
    report["argv"] = expected
    out.write_text(json.dumps(report, indent=2))
    print(f"  done {run.key} in {time.perf_counter() - started:.0f}s", flush=True)
    return report


def _stat(values: list[float]) -> str:
    if not values:
        return "n/a"
    mean = statistics.fmean(values)
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.3f} ± {spread:.3f}"


def _per_class(report: dict[str, Any], test_set: str, label: str) -> float:
    result = report["results"][test_set]
    return float(result["per_class"][result["labels"].index(label)])


def summarize(reports: dict[str, dict[str, Any]], seeds: list[int]) -> list[dict[str, Any]]:
    """Per configuration: per-seed metrics, and their mean and standard deviation."""
    rows = []
    for config in (*CONFIGS, SINGLE):
        per_seed: dict[str, list[float]] = {k: [] for k in (*DATASETS, "seen", HELDOUT)}
        per_seed |= {"renames": [], "unseen": []}
        for seed in seeds:
            if config is SINGLE:
                maps = [
                    reports[Run(config, seed, (ds,)).key]["results"][ds]["mAP"] for ds in DATASETS
                ]
            else:
                report = reports[Run(config, seed, ()).key]
                maps = [report["results"][ds]["mAP"] for ds in DATASETS]
                per_seed[HELDOUT].append(report["results"][HELDOUT]["mAP"])
                per_seed["renames"].append(
                    statistics.fmean(_per_class(report, HELDOUT, n) for n in RENAMES)
                )
                per_seed["unseen"].append(_per_class(report, HELDOUT, UNSEEN))
            for ds, m in zip(DATASETS, maps, strict=True):
                per_seed[ds].append(m)
            per_seed["seen"].append(statistics.fmean(maps))
        rows.append({"config": config.name, "description": config.description} | per_seed)
    return rows


def markdown(rows: list[dict[str, Any]], args: argparse.Namespace, seconds: float) -> str:
    seeds = " ".join(map(str, args.seeds))
    lines = [
        f"Command: `python benchmarks/bench_ablation.py --seeds {seeds} --iters {args.iters} "
        f"--jobs {args.jobs} --threads {args.threads}`",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} CPUs visible, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}; "
        f"{len(args.seeds)} seeds, {args.iters} iterations per run, {args.jobs} runs at a "
        f"time with {args.threads} torch thread(s) each; wall time {seconds / 60:.1f} min.",
        "",
        "COCO-style mAP@[.5:.95] on 60 test images per set, mean ± sample standard deviation "
        "over seeds. *seen mean*: mean of the three datasets' mAP. *held-out*: the whole "
        f"held-out vocabulary ({', '.join(RENAMES)}, {UNSEEN}); *renames*: mean AP of "
        f"{', '.join(RENAMES)} (new names for trained shapes); *unseen combination*: AP of "
        f"{UNSEEN} (outlines were only trained as circles and squares).",
        "",
        "| config | shapes_a | shapes_b | shapes_c | seen mean | held-out | renames "
        "| unseen combination |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [_stat(row[k]) for k in (*DATASETS, "seen", HELDOUT, "renames", "unseen")]
        lines.append(f"| {row['description']} | " + " | ".join(cells) + " |")
    lines += ["", "Per seed (seen mean / held-out):", ""]
    for row in rows:
        pairs = [
            f"{s:.3f}" + (f" / {h:.3f}" if row[HELDOUT] else "")
            for s, h in zip(row["seen"], row[HELDOUT] or row["seen"], strict=True)
        ]
        lines.append(f"* {row['config']}: " + ", ".join(pairs))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iters", type=int, default=400, help="training iterations per run")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "out" / "ablation")
    parser.add_argument("--resume", action="store_true", help="reuse finished runs")
    parser.add_argument("--json", type=Path, default=None, help="also write the summary here")
    args = parser.parse_args()
    if len(args.seeds) < 1 or args.iters < 1 or args.jobs < 1 or args.threads < 1:
        parser.error("--seeds needs at least one seed; --iters, --jobs, --threads must be >= 1")
    args.out_dir.mkdir(parents=True, exist_ok=True)

    runs = [Run(c, s, ()) for s in args.seeds for c in CONFIGS]
    runs += [Run(SINGLE, s, (ds,)) for s in args.seeds for ds in DATASETS]
    print(f"{len(runs)} runs, {args.jobs} at a time; logs in {args.out_dir}", flush=True)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        reports = dict(
            zip([r.key for r in runs], pool.map(lambda r: execute(r, args), runs), strict=True)
        )
    seconds = time.perf_counter() - started

    rows = summarize(reports, args.seeds)
    print(markdown(rows, args, seconds))
    if args.json is not None:
        args.json.write_text(json.dumps({"rows": rows, "seconds": seconds}, indent=2))


if __name__ == "__main__":
    main()
