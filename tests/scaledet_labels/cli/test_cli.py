"""The bundle commands of the CLI (build, info, neighbors, export, match, cache), run in a
subprocess the way a user runs them, with the default offline MiniLM encoder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def _run(*args: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SCALEDET_CACHE=str(cache), HF_HUB_OFFLINE="1")
    return subprocess.run(
        [sys.executable, "-m", "scaledet_labels.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    (root / "pets.txt").write_text("# a downstream vocabulary\nkitten\npuppy\nautomobile\n")
    return root


@pytest.fixture(scope="module")
def built(workdir: Path) -> Path:
    result = _run(
        "build", "voc", "pets.txt", "--show-pairs", "3", cwd=workdir, cache=workdir / "cache"
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "labels      23 x 384 (voc 20, pets 3)" in out
    assert "encoder     minilm (fingerprint " in out
    assert "from cache" in out and "encoded" in out
    assert "output      labelspaces/voc+pets" in out
    assert "near-duplicates" in out
    bundle = workdir / "labelspaces" / "voc+pets"
    assert (bundle / "manifest.json").exists()
    return bundle


def test_build_summary_and_bundle(built: Path, workdir: Path) -> None:
    import scaledet_labels as sl

    bundle = sl.load_bundle(built)
    assert bundle.embeddings.shape == (23, 384)
    assert bundle.manifest["encoder"]["spec"] == "minilm"
    assert bundle.manifest["similarity"]["normalization"] == "minmax"
    np.testing.assert_allclose(np.diag(bundle.similarity), 1.0)


def test_warm_rebuild_encodes_nothing(built: Path, workdir: Path) -> None:
    result = _run(
        "build", "voc", "pets.txt", "--json", "--out", "again", cwd=workdir, cache=workdir / "cache"
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["stats"]["encoded"] == 0
    assert summary["stats"]["from_cache"] == summary["stats"]["prompts_unique"] > 0
    assert summary["labels"] == 23 and summary["output"] == "again"


def test_info(built: Path, workdir: Path) -> None:
    result = _run("info", str(built), cwd=workdir, cache=workdir / "cache")
    assert result.returncode == 0, result.stderr
    assert "labels      23 x 384" in result.stdout and "l2-mean-l2" in result.stdout
    manifest = json.loads(
        _run("info", str(built), "--json", cwd=workdir, cache=workdir / "cache").stdout
    )
    assert manifest["n_labels"] == 23


def test_neighbors_label_and_free_text(built: Path, workdir: Path) -> None:
    result = _run(
        "neighbors",
        str(built),
        "voc:cat",
        "-k",
        "1",
        "--datasets",
        "pets",
        "--json",
        cwd=workdir,
        cache=workdir / "cache",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["name"] == "kitten"
    result = _run(
        "neighbors",
        str(built),
        "a red sports car",
        "-k",
        "2",
        "--datasets",
        "voc",
        "--json",
        cwd=workdir,
        cache=workdir / "cache",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["name"] == "car"
    table = _run(
        "neighbors", str(built), "pets:puppy", "-k", "3", cwd=workdir, cache=workdir / "cache"
    )
    header, first = table.stdout.splitlines()[:2]
    assert header.split() == ["rank", "index", "dataset", "id", "name", "clean_name", "cosine"]
    assert first.split()[4] == "dog"


def test_match(built: Path, workdir: Path) -> None:
    result = _run(
        "match",
        str(built),
        "--from",
        "pets",
        "--to",
        "voc",
        "--json",
        cwd=workdir,
        cache=workdir / "cache",
    )
    assert result.returncode == 0, result.stderr
    pairs = {r["source_name"]: r["name"] for r in json.loads(result.stdout)}
    assert pairs == {"kitten": "cat", "puppy": "dog", "automobile": "car"}


@pytest.mark.parametrize(
    ("fmt", "out", "shape"),
    [
        ("detic", "voc.npy", (20, 384)),
        ("openclip", "voc.npy", (384, 20)),
        ("yoloworld", "voc_yw.npy", (20, 384)),
    ],
)
def test_export_arrays(
    built: Path, workdir: Path, fmt: str, out: str, shape: tuple[int, int]
) -> None:
    target = workdir / "exports" / fmt / out
    result = _run(
        "export",
        str(built),
        "--format",
        fmt,
        "--dataset",
        "voc",
        "--out",
        str(target),
        cwd=workdir,
        cache=workdir / "cache",
    )
    assert result.returncode == 0, result.stderr
    assert np.load(target, allow_pickle=False).shape == shape


def test_export_csv_and_similarity(built: Path, workdir: Path) -> None:
    result = _run(
        "export",
        str(built),
        "--format",
        "csv",
        "--out",
        "labels.csv",
        cwd=workdir,
        cache=workdir / "cache",
    )
    assert result.returncode == 0, result.stderr
    assert (workdir / "labels.csv").read_text().count("\n") == 24
    result = _run(
        "export",
        str(built),
        "--format",
        "similarity",
        "--out",
        "sim.npy",
        cwd=workdir,
        cache=workdir / "cache",
    )
    assert result.returncode == 0, result.stderr
    assert np.load(workdir / "sim.npy").shape == (23, 23)


def test_cache_info_and_clear(built: Path, workdir: Path, tmp_path: Path) -> None:
    cache = workdir / "cache"
    info = json.loads(_run("cache", "info", "--json", cwd=workdir, cache=cache).stdout)
    assert info["exists"] and info["entries"] > 0
    other = tmp_path / "other_cache"
    result = _run("cache", "info", "--dir", str(other), cwd=workdir, cache=cache)
    assert result.returncode == 0 and "not created yet" in result.stdout
    # clear a copy, so the module's warm cache stays for the other tests
    import shutil

    shutil.copytree(cache, other)
    result = _run("cache", "clear", "--dir", str(other), cwd=workdir, cache=cache)
    assert result.returncode == 0, result.stderr
    assert f"removed {info['entries']} cached" in result.stdout
    after = json.loads(
        _run("cache", "info", "--dir", str(other), "--json", cwd=workdir, cache=cache).stdout
    )
    assert after["entries"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("build", "cocoo"), "unknown vocabulary 'cocoo'"),
        (("build", "missing.txt"), "missing.txt: no such file"),
        (("build", "voc", "--templates", "nope"), "nope"),
        (("info", "."), "not a bundle directory"),
        (("neighbors", "nowhere", "dog"), "not a bundle directory"),
        (("export", "nowhere", "--format", "csv", "--out", "x.csv"), "not a bundle"),
    ],
)
def test_user_errors_are_one_line_exit_2(
    workdir: Path, args: tuple[str, ...], message: str
) -> None:
    result = _run(*args, cwd=workdir, cache=workdir / "cache")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scaledet-labels: error:")
    assert message in lines[0]


def test_bad_option_values_exit_2(workdir: Path) -> None:
    for args in (("build", "voc", "--topk", "0"), ("build", "voc", "--similarity", "cosine")):
        result = _run(*args, cwd=workdir, cache=workdir / "cache")
        assert result.returncode == 2 and "Traceback" not in result.stderr


def test_export_refuses_bad_extension(built: Path, workdir: Path) -> None:
    result = _run(
        "export",
        str(built),
        "--format",
        "detic",
        "--out",
        "x.pt",
        cwd=workdir,
        cache=workdir / "cache",
    )
    assert result.returncode == 2 and ".npy" in result.stderr


def test_help_has_examples(workdir: Path) -> None:
    for command in ("build", "info", "neighbors", "export", "match", "cache"):
        result = _run(command, "--help", cwd=workdir, cache=workdir / "cache")
        assert result.returncode == 0 and "examples:" in result.stdout, command


def test_piping_into_head_is_not_an_error(built: Path, workdir: Path) -> None:
    env = dict(os.environ, SCALEDET_CACHE=str(workdir / "cache"))
    cmd = f"{sys.executable} -m scaledet_labels.cli show lvis | head -1"
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", cmd],
        capture_output=True,
        text=True,
        cwd=workdir,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "error" not in result.stderr
