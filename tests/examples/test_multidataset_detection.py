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


def _run_example(tmp_path: Path, *flags: str) -> tuple[dict, str, float]:
    out = tmp_path / "results.json"
    env = dict(os.environ)
    env["SCALEDET_CACHE"] = str(tmp_path / "cache")
    env["HF_HUB_OFFLINE"] = "1"
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", *flags, "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    elapsed = time.perf_counter() - started
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout, elapsed


def _check_results(results: dict) -> None:
    assert set(results) == {"shapes_a", "shapes_b", "shapes_c", "heldout_vocab"}
    for name, result in results.items():
        for key in ("mAP", "AP50"):
            assert 0.0 <= result[key] <= 1.0, (name, key, result[key])
        assert len(result["per_class"]) == len(result["labels"]), name
        for ap in result["per_class"]:
            assert ap is None or 0.0 <= ap <= 1.0, (name, ap)
    assert results["shapes_a"]["labels"] == ["circle", "square"]
    assert results["shapes_c"]["labels"] == ["ring", "hollow square"]
    assert results["heldout_vocab"]["labels"] == ["sphere", "cube", "pyramid", "hollow triangle"]


@pytest.mark.slow
def test_smoke_run_writes_per_dataset_map(tmp_path: Path) -> None:
    report, stdout, elapsed = _run_example(tmp_path)
    assert elapsed < 90, f"smoke run took {elapsed:.1f}s"
    results = report["results"]
    _check_results(results)
    assert all(results[ds]["trained"] for ds in ("shapes_a", "shapes_b", "shapes_c"))
    assert report["unseen_combinations"] == ["hollow triangle"]
    assert report["config"]["no_masks"] is False
    assert "mAP" in stdout
    assert "trained on shapes_a, shapes_b, shapes_c" in stdout


@pytest.mark.slow
def test_single_dataset_run_without_masks_evaluates_every_test_set(tmp_path: Path) -> None:
    """The ablation's single-dataset baseline and its no-mask variant run and report."""
    report, stdout, _ = _run_example(tmp_path, "--train", "shapes_b", "--no-masks", "--lam", "0")
    results = report["results"]
    _check_results(results)
    assert [ds for ds, r in results.items() if r["trained"]] == ["shapes_b"]
    assert report["config"]["train"] == ["shapes_b"]
    assert report["config"]["no_masks"] is True
    assert report["config"]["lam"] == 0.0
    # the bundle holds the trained dataset's labels only
    assert "unified labels: ['shapes_b/ball', 'shapes_b/box', 'shapes_b/triangle']" in stdout
    assert "shapes_a (untrained)" in stdout


def test_unknown_training_dataset_is_refused(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--train", "shapes_z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert "shapes_z" in proc.stderr and "shapes_a" in proc.stderr


def test_hollow_shapes_are_outlines_of_the_filled_ones() -> None:
    example = _import_example()
    for kind in ("circle", "square", "triangle"):
        filled = example._shape_mask(kind, 48.0, 48.0, 16.0, 96)
        hollow = example._shape_mask(f"hollow {kind}", 48.0, 48.0, 16.0, 96)
        assert hollow.any() and filled.any()
        assert not (hollow & ~filled).any(), kind  # inside the filled shape
        assert hollow.sum() < 0.8 * filled.sum(), kind  # with a hole
        assert not hollow[48, 48], kind  # the centre is empty
    # every training and held-out label draws a known shape
    for vocabulary in (*example.DATASETS.values(), example.HELDOUT):
        assert set(vocabulary.values()) <= set(example.SHAPES)
    # the unseen combination is never drawn by a training dataset
    trained = {s for v in example.DATASETS.values() for s in v.values()}
    for label in example.UNSEEN_COMBINATIONS:
        assert example.HELDOUT[label] not in trained


def _import_example():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import multidataset_detection
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return multidataset_detection


def test_average_precision_is_coco_like() -> None:
    """The example's small AP implementation: perfect, empty and half-right detections."""
    import torch

    average_precision = _import_example().average_precision

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
