"""Reproduce every number in ``benchmarks/RESULTS.md`` in one command.

Runs each benchmark script with the arguments RESULTS.md quotes, one after the other (so
they do not compete for the CPUs), and writes ``REPORT.md`` into ``--out-dir``: a
description of the machine, then per benchmark its exact command, wall time and output
(the Markdown tables the scripts print, with every ratio measured inside one run).
Each benchmark's raw JSON, where it writes one, lands beside the report.

Run::

    python benchmarks/run_all.py                        # everything (about 1.5 hours on 2 cores)
    python benchmarks/run_all.py --only loss similarity # a subset
    python benchmarks/run_all.py --dry-run              # print the plan only

The ablation keeps each training run's JSON in ``benchmarks/out/ablation`` and reuses it
when the same run (same flags) is asked for again, so an interrupted report resumes; give
``--fresh`` to retrain everything. ``REPORT.md`` holds the steps of the latest invocation
only (``--only`` replaces a full report): give ``--out-dir`` to keep both.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from _machine import cpu_model

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
ABLATION_DIR = BENCH / "out" / "ablation"


@dataclass(frozen=True)
class Step:
    """One benchmark: its name, what it measures and its command ({out} is the out dir).

    ``keep_from``: the report keeps the script's output from the first line starting with
    it (the results), leaving out progress lines before; ``None`` keeps everything.
    """

    name: str
    title: str
    argv: tuple[str, ...]
    keep_from: str | None = None

    def command(self, out: Path) -> list[str]:
        return [a.replace("{out}", str(out)) for a in self.argv]


STEPS: tuple[Step, ...] = (
    Step(
        "encode",
        "Encoding speed against open_clip's zero-shot builder (#3)",
        ("benchmarks/bench_encode.py", "--json", "{out}/encode.json"),
    ),
    Step(
        "distributed",
        "Cold encode on one process against torchrun with 2 gloo ranks (#12)",
        ("benchmarks/bench_distributed.py", "--json", "{out}/distributed.json"),
    ),
    Step(
        "build",
        "Cold and warm builds, the CLI's main job and `list` (#2, #3, #4)",
        ("benchmarks/bench_build.py", "--json", "{out}/build.json"),
    ),
    Step(
        "scale",
        "V3Det and ImageNet-21k: cold build vs the bare forward pass, warm builds (#12)",
        (
            "benchmarks/bench_scale.py",
            "--work",
            "{out}/scale",
            "--json",
            "{out}/scale.json",
        ),
    ),
    Step(
        "match",
        "The label matcher on development correspondences, per signal (#14)",
        ("benchmarks/bench_match.py", "--json", "{out}/match.json"),
    ),
    Step(
        "similarity",
        "Label similarity scaling (#4)",
        ("benchmarks/bench_similarity.py", "--repeat", "3"),
    ),
    Step(
        "reliability",
        "Bundle crash, concurrency and manifest-edit drills; save time (#11)",
        ("benchmarks/bench_reliability.py", "--json", "{out}/reliability.json"),
    ),
    Step(
        "loss",
        "Loss time and memory against plain BCE and a naive implementation (#5)",
        ("benchmarks/bench_loss.py", "--repeats", "7", "--out", "{out}/loss.md"),
    ),
    Step(
        "templates",
        "Default template set for the default encoder, seed 0 (#3)",
        (
            "benchmarks/bench_templates.py",
            "--cache",
            "{out}/tcache",
            "--json",
            "{out}/templates.json",
        ),
    ),
    Step(
        "templates-seed1",
        "Default template set for the default encoder, seed 1 (#3)",
        (
            "benchmarks/bench_templates.py",
            "--seed",
            "1",
            "--cache",
            "{out}/tcache",
            "--json",
            "{out}/templates_seed1.json",
        ),
    ),
    Step(
        "example",
        "The end-to-end example, full run (#6)",
        ("examples/multidataset_detection.py", "--out", "{out}/example.json"),
        keep_from="test set",
    ),
    Step(
        "ablation",
        "Miniature ablation of the loss, 3 seeds (#6)",
        (
            "benchmarks/bench_ablation.py",
            "--resume",
            "--out-dir",
            str(ABLATION_DIR.relative_to(ROOT)),
            "--json",
            "{out}/ablation.json",
        ),
        keep_from="Command:",
    ),
)


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_description() -> str:
    """CPU, cores, memory, GPU, OS and the versions that matter, as Markdown lines."""
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    gpu = "none found"
    if shutil.which("nvidia-smi"):
        query = ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"]
        with contextlib.suppress(OSError):
            names = subprocess.run(query, capture_output=True, text=True, check=False).stdout
            gpu = ", ".join(n.strip() for n in names.splitlines() if n.strip()) or gpu
    versions = ", ".join(
        f"{d} {_version(d)}"
        for d in (
            "scaledet-labels",
            "torch",
            "torchvision",
            "open_clip_torch",
            "transformers",
            "numpy",
            "scipy",
        )
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return "\n".join(
        [
            f"* CPU: {cpu_model()}, {os.cpu_count()} logical CPUs visible",
            f"* memory: {memory}; GPU: {gpu} (every benchmark runs on the CPU)",
            f"* OS: {platform.system()} {platform.release()}; Python {platform.python_version()}",
            f"* packages: {versions}",
            f"* load average (1, 5, 15 min) at the start: {load}",
            f"* started: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        ]
    )


def results_part(output: str, keep_from: str | None) -> str:
    """``output`` from its first line starting with ``keep_from`` (all of it if none)."""
    lines = output.strip().splitlines()
    if keep_from is not None:
        for i, line in enumerate(lines):
            if line.startswith(keep_from):
                return "\n".join(lines[i:])
    return "\n".join(lines)


def demote_headings(markdown: str) -> str:
    """Push every Markdown heading of a script's output below the report's own (``###``)."""
    return re.sub(r"^(#{1,4}) ", lambda m: "##" + m.group(1) + " ", markdown, flags=re.M)


def select(only: list[str] | None, skip: list[str]) -> list[Step]:
    """The steps to run, in the fixed order; unknown names raise ``ValueError``."""
    known = [s.name for s in STEPS]
    for name in [*(only or []), *skip]:
        if name not in known:
            raise ValueError(f"unknown benchmark {name!r}; choose from {', '.join(known)}")
    return [s for s in STEPS if (only is None or s.name in only) and s.name not in skip]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these")
    parser.add_argument("--skip", nargs="+", metavar="NAME", default=[], help="leave out")
    parser.add_argument("--out-dir", type=Path, default=BENCH / "out" / "run_all")
    parser.add_argument("--fresh", action="store_true", help="retrain every ablation run")
    parser.add_argument("--dry-run", action="store_true", help="print the commands and stop")
    args = parser.parse_args(argv)
    try:
        steps = select(args.only, args.skip)
    except ValueError as exc:
        parser.error(str(exc))

    out = args.out_dir.resolve()
    if args.dry_run:
        for step in steps:
            print(f"{step.name}: python {' '.join(step.command(out))}")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    if args.fresh and any(s.name == "ablation" for s in steps):
        shutil.rmtree(ABLATION_DIR, ignore_errors=True)

    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    sections = ["# Benchmark report (`python benchmarks/run_all.py`)", "", machine_description()]
    report = out / "REPORT.md"
    failed = []
    for step in steps:
        cmd = step.command(out)
        shown = "python " + " ".join(cmd)
        print(f"== {step.name}: {shown}", flush=True)
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, *cmd], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        seconds = time.perf_counter() - started
        (out / f"{step.name}.log").write_text(proc.stdout + proc.stderr)
        status = "ok" if proc.returncode == 0 else f"FAILED (exit {proc.returncode})"
        print(f"   {status} in {seconds:.0f}s", flush=True)
        body = results_part(proc.stdout, step.keep_from)
        if step.name == "loss" and (out / "loss.md").exists():
            body = (out / "loss.md").read_text().strip()
        body = demote_headings(body)
        if proc.returncode != 0:
            failed.append(step.name)
            body += "\n\n" + proc.stderr.strip()[-2000:]
        sections += [
            "",
            f"## {step.title}",
            "",
            f"`{shown}`: {status}, {seconds:.0f} s",
            "",
            body,
        ]
        report.write_text("\n".join(sections) + "\n")  # after every step: partial is kept
    print(f"report: {report}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
