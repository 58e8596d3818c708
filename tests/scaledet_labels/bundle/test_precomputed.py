"""Precomputed embeddings recorded honestly: the source file and its digest, no encoder or
templates, Detic's float16 files, clear errors when widths do not match."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import scaledet_labels as sl
from scaledet_labels.bundle.manifest import validate
from scaledet_labels.errors import BundleError


def fake_detic_file(path: Path, rows: int, dim: int = 512, seed: int = 0) -> Path:
    """A stand-in for Detic's shipped ``*_clip_a+cname.npy``: (C, D) float16, rows not unit."""
    rng = np.random.default_rng(seed)
    np.save(path, (rng.standard_normal((rows, dim)) * 3.0).astype(np.float16))
    return path


@pytest.fixture
def space() -> sl.LabelSpace:
    return sl.LabelSpace.union(["cat, dog, car", "kitty, puppy"], names=["a", "b"])


def test_manifest_records_file_name_and_digest(space: sl.LabelSpace, tmp_path: Path) -> None:
    file = fake_detic_file(tmp_path / "a_clip_a+cname.npy", 3)
    rows = np.random.default_rng(1).normal(size=(2, 512))  # float64, in memory
    bundle = sl.build_label_space(space, precomputed={"b": rows, "a": file})
    m = bundle.manifest
    assert m["precomputed_sources"] == {
        "a": {
            "file": "a_clip_a+cname.npy",
            "sha256": hashlib.sha256(file.read_bytes()).hexdigest(),
            "dtype": "float16",
            "shape": [3, 512],
        },
        "b": {"file": None, "sha256": None, "dtype": "float64", "shape": [2, 512]},
    }
    assert list(m["precomputed_sources"]) == ["a", "b"]  # unified order
    assert m["encoder"] == {"spec": None, "fingerprint": None}
    assert m["templates"] == [] and m["prompts_identity"] is None and m["template_set"] is None
    loaded = sl.load_bundle(bundle.save(tmp_path / "bundle"))
    assert loaded.manifest["precomputed_sources"] == m["precomputed_sources"]


def test_float16_rows_are_normalised_in_float32(tmp_path: Path) -> None:
    file = fake_detic_file(tmp_path / "voc.npy", 20)
    bundle = sl.build_label_space(["voc"], precomputed={"voc": file})
    raw = np.load(file).astype(np.float32)
    assert bundle.embeddings.dtype == np.float32
    np.testing.assert_allclose(
        bundle.embeddings, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-7
    )


def test_identity_follows_the_numbers_not_the_file(space: sl.LabelSpace, tmp_path: Path) -> None:
    rows = np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32)
    np.save(tmp_path / "one.npy", rows[:3])
    np.save(tmp_path / "two.npy", rows[:3])
    one = sl.build_label_space(space, precomputed={"a": tmp_path / "one.npy", "b": rows[3:]})
    two = sl.build_label_space(space, precomputed={"a": tmp_path / "two.npy", "b": rows[3:]})
    assert one.manifest["identity"] == two.manifest["identity"]
    assert one.manifest["precomputed_sources"] != two.manifest["precomputed_sources"]
    np.save(tmp_path / "one.npy", rows[:3] * -1)
    three = sl.build_label_space(space, precomputed={"a": tmp_path / "one.npy", "b": rows[3:]})
    assert three.manifest["identity"] != one.manifest["identity"]


def test_safetensors_source_is_recorded(space: sl.LabelSpace, tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    save_file({"embeddings": np.eye(3, 4, dtype=np.float32)}, str(tmp_path / "a.safetensors"))
    bundle = sl.build_label_space(
        space, precomputed={"a": tmp_path / "a.safetensors", "b": np.eye(2, 4)}
    )
    record = bundle.manifest["precomputed_sources"]["a"]
    assert record["file"] == "a.safetensors" and record["dtype"] == "float32"
    assert record["sha256"] == hashlib.sha256((tmp_path / "a.safetensors").read_bytes()).hexdigest()
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(BundleError, match=r"bad\.safetensors: not a readable"):
        sl.load_precomputed(tmp_path / "bad.safetensors")


def test_precomputed_widths_must_agree(space: sl.LabelSpace, tmp_path: Path) -> None:
    a = fake_detic_file(tmp_path / "a.npy", 3)
    b = fake_detic_file(tmp_path / "b.npy", 2, dim=384)
    with pytest.raises(BundleError) as info:
        sl.build_label_space(space, precomputed={"a": a, "b": b})
    message = str(info.value)
    assert "a 512-d (file a.npy)" in message and "b 384-d (file b.npy)" in message


def test_precomputed_and_encoded_widths_must_agree(space: sl.LabelSpace, tmp_path: Path) -> None:
    a = fake_detic_file(tmp_path / "a_clip_a+cname.npy", 3)

    def encoder(texts: list[str]) -> np.ndarray:
        return np.random.default_rng(len(texts)).normal(size=(len(texts), 384))

    with pytest.raises(BundleError) as info:
        sl.build_label_space(space, precomputed={"a": a}, encoder=encoder, cache=False)
    message = str(info.value)
    assert "a: precomputed embeddings (file a_clip_a+cname.npy) are 512-d" in message
    assert "384-d embeddings for b" in message
    assert "--encoder openclip:ViT-B-32/openai --templates a" in message
    mixed = sl.build_label_space(
        space, precomputed={"a": np.eye(3, 384)}, encoder=encoder, cache=False
    )
    assert mixed.manifest["encoder"]["fingerprint"] is not None  # b was encoded
    assert mixed.manifest["precomputed_sources"]["a"]["file"] is None


def test_errors_name_the_dataset_and_file(space: sl.LabelSpace, tmp_path: Path) -> None:
    file = fake_detic_file(tmp_path / "a.npy", 4)
    with pytest.raises(BundleError, match=r"a \(a\.npy\): has 4 rows but the vocabulary has 3"):
        sl.build_label_space(space, precomputed={"a": file})
    (tmp_path / "a.txt").write_text("1 2 3")
    with pytest.raises(BundleError, match=r"\.npy or \.safetensors"):
        sl.load_precomputed(tmp_path / "a.txt")


def test_schema_checks_precomputed_sources(space: sl.LabelSpace, tmp_path: Path) -> None:
    bundle = sl.build_label_space(space, precomputed={"a": np.eye(3, 4), "b": np.eye(2, 4)})
    path = bundle.save(tmp_path / "b")
    manifest = json.loads((path / "manifest.json").read_text())
    validate(manifest, "b")
    broken = copy.deepcopy(manifest)
    broken["precomputed_sources"]["a"]["shape"] = [3]
    with pytest.raises(BundleError, match="'precomputed_sources' must be"):
        validate(broken, "b")
    old = {k: v for k, v in manifest.items() if k != "precomputed_sources"}
    validate(old, "b")  # bundles written before the key existed still validate
