"""The CLI side of issue 13: ``build --precomputed`` (Detic's shipped files as the test case),
``info`` on such a bundle, and ``export``'s consumer warning and ``--strict``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from scaledet_labels.cli.app import main


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Detic-style files (float16, rows not unit) in a fresh working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCALEDET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rng = np.random.default_rng(0)
    for name, rows, dim in (("coco_clip_a+cname.npy", 80, 512), ("voc_clip.npy", 20, 512)):
        np.save(tmp_path / name, (rng.standard_normal((rows, dim)) * 3).astype(np.float16))
    np.save(tmp_path / "voc_minilm.npy", rng.standard_normal((20, 384)).astype(np.float32))
    (tmp_path / "pets.txt").write_text("kitten\npuppy\n")
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_build_and_info_from_precomputed_files(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(
        capsys,
        *("build", "coco", "voc", "--out", "b"),
        *("--precomputed", "coco=coco_clip_a+cname.npy", "--precomputed", "voc=voc_clip.npy"),
    )
    assert code == 0, err
    line = "encoder     none (precomputed: coco from coco_clip_a+cname.npy, voc from voc_clip.npy)"
    assert line in out
    assert "templates   none (precomputed rows, L2-normalised)" in out
    assert "custom (0)" not in out and "l2-mean-l2" not in out and "prompts " not in out
    code, info, _ = _run(capsys, "info", "b")
    assert code == 0 and line in info and "templates   none" in info
    code, text, _ = _run(capsys, "info", "b", "--json")
    manifest = json.loads(text)
    assert manifest["encoder"] == {"spec": None, "fingerprint": None}
    assert manifest["templates"] == []
    record = manifest["precomputed_sources"]["coco"]
    assert record == {
        "file": "coco_clip_a+cname.npy",
        "sha256": hashlib.sha256((work / "coco_clip_a+cname.npy").read_bytes()).hexdigest(),
        "dtype": "float16",
        "shape": [80, 512],
    }


def test_build_json_lists_precomputed(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(
        capsys, "build", "voc", "--out", "b", "--json", "--precomputed", "voc=voc_clip.npy"
    )
    assert code == 0, err
    assert json.loads(out)["precomputed"]["voc"]["file"] == "voc_clip.npy"


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("coco", "--precomputed 'coco': expected DATASET=FILE"),
        ("=coco.npy", "expected DATASET=FILE"),
        ("lvis=coco_clip_a+cname.npy", "unknown datasets ['lvis']"),
        ("coco=missing.npy", "missing.npy: no such file"),
        ("coco=voc_clip.npy", "coco (voc_clip.npy): has 20 rows but the vocabulary has 80"),
    ],
)
def test_bad_precomputed_flags(
    work: Path, capsys: pytest.CaptureFixture[str], flag: str, message: str
) -> None:
    code, _, err = _run(capsys, "build", "coco", "--precomputed", flag)
    assert code == 2
    assert err.count("\n") == 1 and message in err


def test_precomputed_twice(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(
        capsys, "build", "voc", "--precomputed", "voc=voc_clip.npy", "--precomputed", "voc=x.npy"
    )
    assert code == 2 and "'voc' is given twice" in err


def test_mixing_widths_is_a_clear_error(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(
        capsys,
        *("build", "coco", "voc", "--precomputed", "coco=coco_clip_a+cname.npy"),
        *("--precomputed", "voc=voc_minilm.npy"),
    )
    assert code == 2
    assert "coco 512-d (file coco_clip_a+cname.npy), voc 384-d (file voc_minilm.npy)" in err


@pytest.mark.slow
def test_precomputed_with_an_encoded_dataset_of_another_width(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(
        capsys, "build", "coco", "pets.txt", "--precomputed", "coco=coco_clip_a+cname.npy"
    )
    assert code == 2 and err.count("\n") == 1
    assert "are 512-d, but minilm gives 384-d embeddings for pets" in err


def test_export_warns_once_and_strict_fails(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "build", "voc", "--out", "b", "--precomputed", "voc=voc_minilm.npy")[0] == 0
    code, out, err = _run(capsys, "export", "b", "--format", "detic", "--out", "out/")
    assert code == 0
    assert out.split() == ["out/voc_clip.npy", "out/voc_clip.names.json"]
    assert err.count("\n") == 1 and err.startswith("scaledet-labels: warning: Detic export")
    assert "MODEL.ROI_BOX_HEAD.ZEROSHOT_WEIGHT_DIM 384" in err
    code, out, err = _run(
        capsys, "export", "b", "--format", "yoloworld", "--out", "strict/", "--strict"
    )
    assert code == 2 and out == "" and not (work / "strict").exists()
    assert err.startswith("scaledet-labels: error: YOLO-World export") and err.count("\n") == 1


def test_export_yoloe_and_a_quiet_512_export(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(capsys, "build", "voc", "--out", "b", "--precomputed", "voc=voc_clip.npy")[0] == 0
    code, out, err = _run(capsys, "export", "b", "--format", "yoloe", "--out", "o/", "--strict")
    assert code == 0 and err == "" and out.split() == ["o/voc_yoloe.npz"]


def test_summary_of_mixed_and_older_bundles() -> None:
    from scaledet_labels.cli.output import manifest_lines

    manifest = {
        "datasets": [{"name": "coco", "count": 80}, {"name": "lvis", "count": 1203}],
        "encoder": {"spec": "openclip:ViT-B-32/openai", "fingerprint": "openclip-0123456789abc"},
        "templates": ["a {}"],
        "template_set": "a",
        "synonyms": False,
        "recipe": "l2-mean-l2",
        "precomputed": {"lvis": "0" * 64},
        "precomputed_sources": {
            "lvis": {"file": "lvis_v1_clip_a+cname.npy", "sha256": "1" * 64,
                     "dtype": "float16", "shape": [1203, 512]}
        },
        "similarity": {"normalization": "minmax", "topk": None, "dtype": "float32"},
    }  # fmt: skip
    lines = manifest_lines(manifest, 1283, 512)
    assert lines[1] == (
        "encoder     openclip:ViT-B-32/openai (fingerprint openclip-0123456); "
        "precomputed: lvis from lvis_v1_clip_a+cname.npy"
    )
    assert lines[2] == "templates   a (1); synonyms off; recipe l2-mean-l2"
    older = {k: v for k, v in manifest.items() if k != "precomputed_sources"}
    older["encoder"] = {"spec": None, "fingerprint": None}
    assert manifest_lines(older, 1283, 512)[1] == "encoder     none (precomputed: lvis)"
