"""benchmarks/run_all.py: its plan covers every benchmark RESULTS.md quotes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"


@pytest.fixture(scope="module")
def run_all() -> ModuleType:
    sys.path.insert(0, str(BENCH))
    try:
        import run_all as module
    finally:
        sys.path.remove(str(BENCH))
    return module


def test_every_step_runs_an_existing_script(run_all: ModuleType) -> None:
    for step in run_all.STEPS:
        assert (ROOT / step.argv[0]).is_file(), step.name


def test_every_script_quoted_in_results_is_in_the_plan(run_all: ModuleType) -> None:
    results = (BENCH / "RESULTS.md").read_text()
    quoted = set(re.findall(r"python ((?:benchmarks|examples)/[\w/]+\.py)", results))
    planned = {step.argv[0] for step in run_all.STEPS}
    assert "benchmarks/run_all.py" in quoted, "RESULTS.md should say how to reproduce it"
    quoted.discard("benchmarks/run_all.py")
    assert quoted, "RESULTS.md quotes no benchmark command"
    assert quoted <= planned, quoted - planned
    # and every benchmark script in the directory is run
    scripts = {f"benchmarks/{p.name}" for p in BENCH.glob("bench_*.py")}
    assert scripts <= planned, scripts - planned


def test_dry_run_prints_the_plan_without_running(tmp_path: Path) -> None:
    out = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run_all.py"), "--dry-run", "--out-dir", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = proc.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "encode",
        "distributed",
        "build",
        "scale",
        "match",
        "similarity",
        "reliability",
        "loss",
        "templates",
        "templates-seed1",
        "example",
        "ablation",
    ]
    assert f"--out {out}/loss.md" in proc.stdout
    assert not out.exists()


def test_unknown_benchmark_name_is_a_usage_error() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run_all.py"), "--only", "speed", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "unknown benchmark 'speed'" in proc.stderr and "encode" in proc.stderr


def test_select_and_results_part(run_all: ModuleType) -> None:
    assert [s.name for s in run_all.select(["loss", "encode"], [])] == ["encode", "loss"]
    assert "ablation" not in [s.name for s in run_all.select(None, ["ablation"])]
    with pytest.raises(ValueError, match="unknown benchmark 'x'"):
        run_all.select(None, ["x"])
    text = "iter 0\niter 1\ntest set  mAP\nshapes_a 0.9\n"
    assert run_all.results_part(text, "test set") == "test set  mAP\nshapes_a 0.9"
    assert run_all.results_part(text, "absent") == text.strip()
    assert run_all.results_part(text, None) == text.strip()
    assert run_all.demote_headings("# A\ntext # not\n## B") == "### A\ntext # not\n#### B"


def test_machine_description_names_cpu_memory_and_versions(run_all: ModuleType) -> None:
    text = run_all.machine_description()
    assert "CPU:" in text and "logical CPUs" in text
    assert "memory:" in text and "GiB" in text
    assert "torch " in text and "Python 3." in text
