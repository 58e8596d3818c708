"""Runs examples/multidataset_detection.py --smoke end to end (MiniLM, tiny Faster R-CNN)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "multidataset_detection.py"


@pytest.mark.slow
def test_smoke_run_writes_per_dataset_map(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    env = dict(os.environ)
    env["SCALEDET_CACHE"] = str(tmp_path / "cache")
    env["HF_HUB_OFFLINE"] = "1"
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    elapsed = time.perf_counter() - started
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert elapsed < 90, f"smoke run took {elapsed:.1f}s"

    report = json.loads(out.read_text())
    results = report["results"]
    assert set(results) == {"shapes_a", "shapes_b", "heldout_vocab"}
    for name, result in results.items():
        for key in ("mAP", "AP50"):
            assert 0.0 <= result[key] <= 1.0, (name, key, result[key])
        assert len(result["per_class"]) == len(result["labels"]), name
        for ap in result["per_class"]:
            assert ap is None or 0.0 <= ap <= 1.0, (name, ap)
    assert results["shapes_a"]["labels"] == ["circle", "square"]
    assert results["heldout_vocab"]["labels"] == ["sphere", "cube", "pyramid"]
    assert "mAP" in proc.stdout


def test_average_precision_is_coco_like() -> None:
    """The example's small AP implementation: perfect, empty and half-right detections."""
    import torch

    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from multidataset_detection import average_precision
    finally:
        sys.path.remove(str(SCRIPT.parent))

    gt = [
        {"boxes": torch.tensor([[0.0, 0.0, 10.0, 10.0]]), "labels": torch.tensor([0])},
        {"boxes": torch.tensor([[5.0, 5.0, 20.0, 20.0]]), "labels": torch.tensor([1])},
    ]
    perfect = [{**g, "scores": torch.ones(1)} for g in gt]
    assert average_precision(perfect, gt, 2)["mAP"] == pytest.approx(1.0)

    empty = [
        {
            "boxes": torch.zeros(0, 4),
            "labels": torch.zeros(0, dtype=torch.long),
            "scores": torch.zeros(0),
        }
        for _ in gt
    ]
    result = average_precision(empty, gt, 3)
    assert result["mAP"] == 0.0
    assert result["per_class"][2] is None  # no ground truth: left out

    # class 0 found, class 1 predicted with the wrong label -> mAP 0.5
    half = [perfect[0], {**perfect[1], "labels": torch.tensor([0])}]
    result = average_precision(half, gt, 2)
    # class 0: one TP (score 1) and one FP (score 1, sorted after by stable order) -> AP 1
    assert result["per_class"][1] == 0.0
    assert result["mAP"] == pytest.approx(0.5)
