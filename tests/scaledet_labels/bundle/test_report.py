"""Tests of the HTML report: structure, self-containment, escaping, sparse bundles, CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scaledet_labels import LabelSpace
from scaledet_labels.bundle import LabelSpaceBundle
from scaledet_labels.bundle.build import build_label_space
from scaledet_labels.bundle.report import write_report

pytest.importorskip("matplotlib")

NETWORK = [
    re.compile(r"https?://", re.IGNORECASE),
    re.compile(r"""(?:src|href)\s*=\s*["']?//""", re.IGNORECASE),
    re.compile(r"<script[^>]*\bsrc\b", re.IGNORECASE),
    re.compile(r"@import", re.IGNORECASE),
    re.compile(r"url\(\s*['\"]?(?!data:)", re.IGNORECASE),
]


def _unit(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _bundle(topk: int | None = None) -> LabelSpaceBundle:
    space = LabelSpace.union(
        ["cat, dog, car, <b>bold</b>", "kitty, puppy, R&D lab", "tree, house, boat, cat, x$y$"],
        names=["a", "b", "c"],
    )
    emb_a = _unit(4, 16, 0)
    emb_b = emb_a[:3] + 0.05 * _unit(3, 16, 1)
    emb_c = _unit(5, 16, 2)
    return build_label_space(space, precomputed={"a": emb_a, "b": emb_b, "c": emb_c}, topk=topk)


def _assert_self_contained(page: str) -> None:
    for pattern in NETWORK:
        assert not pattern.search(page), pattern.pattern
    assert "<script" not in page.lower()


def test_report_page(tmp_path: Path) -> None:
    bundle = _bundle()
    path = write_report(bundle, tmp_path / "out")
    assert path == tmp_path / "out" / "index.html" and path.is_file()
    page = path.read_text("utf-8")
    # one heatmap per dataset pair (3 datasets -> 3 pairs) plus the PCA map
    assert page.count('<figure class="heatmap">') == 3
    assert page.count('<figure class="pca">') == 1
    assert page.count("<img ") == 4
    assert page.count('src="data:image/png;base64,') == 4
    for a, b in (("a", "b"), ("a", "c"), ("b", "c")):
        assert f"<figcaption>{a} (rows," in page and f"x {b} (columns," in page
    # near-duplicates table: min(30, pairs across datasets) rows
    n_cross = 4 * 3 + 4 * 5 + 3 * 5
    assert page.count('<tr class="pair">') == min(30, n_cross)
    assert "label A" in page and "label B" in page
    same = len(bundle.same_name_pairs())
    assert same == 1  # a:cat and c:cat
    assert f"<p>{same} cross-dataset pairs share a clean name" in page
    # header summary
    assert "a (4), b (3), c (5)" in page
    assert "minmax normalisation" in page
    _assert_self_contained(page)


def test_report_escapes_label_names(tmp_path: Path) -> None:
    page = write_report(_bundle(), tmp_path).read_text("utf-8")
    assert "<b>bold</b>" not in page
    assert "R&D" not in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page or "&lt;b&gt;" in page
    assert "R&amp;D" in page


def test_report_sparse_bundle_and_caption_for_cut_blocks(tmp_path: Path) -> None:
    bundle = _bundle(topk=3)
    assert bundle.is_sparse
    page = write_report(bundle, tmp_path, max_block=2, top_pairs=5).read_text("utf-8")
    assert page.count('<figure class="heatmap">') == 3
    assert page.count("most connected rows and columns") == 3
    assert page.count('<tr class="pair">') == 5
    _assert_self_contained(page)


def test_report_rejects_bad_options(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_block"):
        write_report(_bundle(), tmp_path, max_block=0)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("PYTHONWARNINGS", None)
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run(
        [sys.executable, "-m", "scaledet_labels.cli", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=120,
    )


def test_cli_report(tmp_path: Path) -> None:
    bundle_dir = _bundle().save(tmp_path / "bundle")
    out = tmp_path / "report"
    result = _cli("report", str(bundle_dir), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out / "index.html")
    page = (out / "index.html").read_text("utf-8")
    assert page.count('<figure class="heatmap">') == 3
    _assert_self_contained(page)


def test_cli_report_missing_bundle(tmp_path: Path) -> None:
    result = _cli("report", str(tmp_path / "nope"), "--out", str(tmp_path / "r"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scaledet-labels: error:")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()


def test_missing_matplotlib_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scaledet_labels.bundle.report import ReportDependencyError

    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(ReportDependencyError, match=r"scaledet-labels\[report\]") as info:
        write_report(_bundle(), tmp_path)
    assert isinstance(info.value, ImportError) and isinstance(info.value, ValueError)
    assert not (tmp_path / "index.html").exists()


def test_cli_missing_matplotlib_one_line(tmp_path: Path) -> None:
    bundle_dir = _bundle().save(tmp_path / "bundle")
    code = (
        "import sys; sys.modules['matplotlib.backends.backend_agg'] = None; "
        "from scaledet_labels.cli import main; "
        f"sys.exit(main(['report', {str(bundle_dir)!r}, '--out', {str(tmp_path / 'r')!r}]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and 'pip install "scaledet-labels[report]"' in lines[0]
