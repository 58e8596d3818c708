"""Tests of bundles: build from precomputed embeddings, save/load round trip, tampering,
atomic saves, test-time classifiers, neighbours, relations, match."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse

from scaledet_labels import LabelSpace
from scaledet_labels.bundle import BundleError, LabelSpaceBundle, load_bundle
from scaledet_labels.bundle.build import build_label_space, load_precomputed


def _file(out: Path, role: str) -> Path:
    """The data file of ``role`` (embeddings, similarity, labels, table) in a saved bundle."""
    return out / json.loads((out / "manifest.json").read_text())["roles"][role]


def _unit(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def space() -> LabelSpace:
    return LabelSpace.union(["cat, dog, car", "kitty, puppy"], names=["a", "b"])


@pytest.fixture
def bundle(space: LabelSpace) -> LabelSpaceBundle:
    emb_a = _unit(3, 8, 0)
    # b's labels are near-copies of a's cat and dog: kitty ~ cat, puppy ~ dog
    emb_b = emb_a[:2] + 0.01 * _unit(2, 8, 1)
    return build_label_space(space, precomputed={"a": emb_a, "b": emb_b})


def test_build_from_precomputed_shapes_and_manifest(bundle: LabelSpaceBundle) -> None:
    assert bundle.embeddings.shape == (5, 8)
    assert bundle.embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(bundle.embeddings, axis=1), 1.0, atol=1e-6)
    assert isinstance(bundle.similarity, np.ndarray) and bundle.similarity.shape == (5, 5)
    m = bundle.manifest
    assert m["n_labels"] == 5 and m["dim"] == 8
    assert m["recipe"] == "l2-mean-l2"
    assert [d["name"] for d in m["datasets"]] == ["a", "b"]
    assert [d["count"] for d in m["datasets"]] == [3, 2]
    assert set(m["precomputed"]) == {"a", "b"}
    assert m["similarity"] == {"normalization": "minmax", "topk": None, "dtype": "float32"}
    assert len(m["identity"]) == 64 and len(m["arrays_hash"]) == 64


def test_identity_ignores_paths_but_tracks_numbers(space: LabelSpace, tmp_path: Path) -> None:
    emb = _unit(5, 8, 0)
    one = build_label_space(space, precomputed={"a": emb[:3], "b": emb[3:]})
    np.save(tmp_path / "a.npy", emb[:3])
    two = build_label_space(space, precomputed={"a": tmp_path / "a.npy", "b": emb[3:]})
    assert one.manifest["identity"] == two.manifest["identity"]
    three = build_label_space(space, precomputed={"a": emb[:3], "b": emb[3:]}, similarity="affine")
    assert three.manifest["identity"] != one.manifest["identity"]


def test_save_load_round_trip_dense(bundle: LabelSpaceBundle, tmp_path: Path) -> None:
    out = bundle.save(tmp_path / "bundle")
    names = sorted(p.name for p in out.iterdir())
    pattern = r"(embeddings|labels|similarity)\.[0-9a-f]{16}\.(safetensors|json|csv)"
    assert names[0] == ".lock" and names[4] == "manifest.json", names
    assert len(names) == 6 and all(re.fullmatch(pattern, n) for n in names[1:4] + names[5:])
    again = load_bundle(out)
    np.testing.assert_array_equal(again.embeddings, bundle.embeddings)
    np.testing.assert_array_equal(again.similarity, bundle.similarity)
    assert again.label_space == bundle.label_space
    assert again.manifest["identity"] == bundle.manifest["identity"]


def test_save_load_round_trip_topk(space: LabelSpace, tmp_path: Path) -> None:
    emb = _unit(5, 8, 2)
    built = build_label_space(space, precomputed={"a": emb[:3], "b": emb[3:]}, topk=2)
    assert isinstance(built.similarity, scipy.sparse.csr_matrix)
    out = built.save(tmp_path / "sparse")
    assert _file(out, "similarity").suffix == ".npz"
    assert not list(out.glob("similarity*.safetensors"))
    again = load_bundle(out)
    assert again.is_sparse
    np.testing.assert_array_equal(again.similarity.toarray(), built.similarity.toarray())


def test_load_does_not_import_torch(bundle: LabelSpaceBundle, tmp_path: Path) -> None:
    import subprocess
    import sys

    out = bundle.save(tmp_path / "b")
    code = (
        "import sys; import scaledet_labels as s; b = s.load_bundle(sys.argv[1]); "
        "assert b.classifier('a').shape == (3, 8); "
        "bad = [m for m in ('torch', 'open_clip', 'transformers') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code, str(out)], check=True)


def test_tampered_file_is_refused(bundle: LabelSpaceBundle, tmp_path: Path) -> None:
    out = bundle.save(tmp_path / "b")
    path = _file(out, "embeddings")
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="SHA-256"):
        load_bundle(out)


def test_tampered_labels_are_refused(bundle: LabelSpaceBundle, tmp_path: Path) -> None:
    out = bundle.save(tmp_path / "b")
    labels = _file(out, "labels")
    labels.write_text(labels.read_text().replace('"kitty"', '"kitten"'))
    with pytest.raises(BundleError, match=r"labels\.[0-9a-f]{16}\.json"):
        load_bundle(out)


def test_mismatched_manifest_is_refused(bundle: LabelSpaceBundle, tmp_path: Path) -> None:
    out = bundle.save(tmp_path / "b")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["n_labels"] = 6
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="'n_labels' was changed"):
        load_bundle(out)


def test_missing_file_newer_version_and_non_bundle(
    bundle: LabelSpaceBundle, tmp_path: Path
) -> None:
    with pytest.raises(BundleError, match="not a bundle"):
        load_bundle(tmp_path)
    out = bundle.save(tmp_path / "b")
    manifest = json.loads((out / "manifest.json").read_text())
    _file(out, "table").unlink()
    with pytest.raises(BundleError, match=r"missing file labels\.[0-9a-f]{16}\.csv"):
        load_bundle(out)
    manifest["version"] = 99
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="newer"):
        load_bundle(out)


def test_save_refuses_existing_without_overwrite(bundle: LabelSpaceBundle, tmp_path: Path) -> None:
    out = bundle.save(tmp_path / "b")
    with pytest.raises(BundleError, match="already exists"):
        bundle.save(out)
    bundle.save(out, overwrite=True)
    load_bundle(out)
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "keep.txt").write_text("mine")
    with pytest.raises(BundleError, match="not a bundle"):
        bundle.save(tmp_path / "plain", overwrite=True)
    assert (tmp_path / "plain" / "keep.txt").read_text() == "mine"


def test_interrupted_save_leaves_no_half_bundle(
    bundle: LabelSpaceBundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "b"

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(LabelSpace, "to_json", boom)
    with pytest.raises(KeyboardInterrupt):
        bundle.save(target)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # the staging directory is gone too


def test_interrupted_overwrite_keeps_old_bundle(
    bundle: LabelSpaceBundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = bundle.save(tmp_path / "b")
    before = (target / "manifest.json").read_text()

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(LabelSpace, "to_json", boom)
    with pytest.raises(OSError, match="disk full"):
        bundle.save(target, overwrite=True)
    assert (target / "manifest.json").read_text() == before
    load_bundle(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_classifier_is_dataset_order(bundle: LabelSpaceBundle) -> None:
    np.testing.assert_array_equal(bundle.classifier("b"), bundle.embeddings[3:5])
    np.testing.assert_array_equal(bundle.classifier(), bundle.embeddings)
    with pytest.raises(ValueError, match="unknown dataset"):
        bundle.classifier("zzz")


def test_neighbors_of_a_label_exclude_itself(bundle: LabelSpaceBundle) -> None:
    frame = bundle.neighbors("a:cat", k=2)
    assert list(frame.columns) == ["rank", "index", "dataset", "id", "name", "clean_name", "cosine"]
    assert frame.iloc[0]["name"] == "kitty"
    assert 0 not in set(frame["index"])
    assert frame["cosine"].is_monotonic_decreasing
    only_b = bundle.neighbors("dog", k=5, datasets=["b"])
    assert list(only_b["dataset"].unique()) == ["b"] and len(only_b) == 2
    assert only_b.iloc[0]["name"] == "puppy"
    by_index = bundle.neighbors(4, k=1)
    assert by_index.iloc[0]["name"] == "dog"


def test_neighbors_free_text_needs_encoder(bundle: LabelSpaceBundle) -> None:
    with pytest.raises(BundleError, match="no reloadable encoder"):
        bundle.neighbors("a big red truck")
    with pytest.raises(BundleError, match="positive integer"):
        bundle.neighbors("a:cat", k=0)


def test_relations_and_near_duplicates(bundle: LabelSpaceBundle) -> None:
    table = bundle.relations(k=1)
    assert len(table) == 5
    cat = table[(table["name"] == "cat") & (table["other_dataset"] == "b")].iloc[0]
    assert cat["other_name"] == "kitty"
    pairs = bundle.near_duplicates(k=2)
    assert {(a.name, b.name) for a, b, _ in pairs} == {("cat", "kitty"), ("dog", "puppy")}
    assert all(a.dataset != b.dataset for a, b, _ in pairs)
    assert pairs[0][2] >= pairs[1][2]


def test_match_between_datasets(bundle: LabelSpaceBundle) -> None:
    frame = bundle.match("b", to="a", k=1)
    assert dict(zip(frame["source_name"], frame["name"], strict=True)) == {
        "kitty": "cat",
        "puppy": "dog",
    }


def test_precomputed_errors(space: LabelSpace, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="unknown datasets"):
        build_label_space(space, precomputed={"zzz": _unit(2, 4, 0)})
    with pytest.raises(BundleError, match="3 labels"):
        load_precomputed(_unit(4, 8, 0), rows=3, where="a")
    with pytest.raises(BundleError, match="transposed"):
        load_precomputed(_unit(8, 3, 0), rows=3, where="a")
    with pytest.raises(BundleError, match="NaN"):
        load_precomputed(np.full((3, 2), np.nan, np.float32), rows=3)
    with pytest.raises(BundleError, match="dimension"):
        build_label_space(space, precomputed={"a": _unit(3, 8, 0), "b": _unit(2, 6, 0)})
    pickled = tmp_path / "obj.npy"
    np.save(pickled, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(BundleError, match=r"plain \.npy"):
        load_precomputed(pickled, rows=1)
    with pytest.raises(BundleError, match="no such file"):
        load_precomputed(tmp_path / "missing.npy")


def test_precomputed_safetensors_detic_style(space: LabelSpace, tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    emb = _unit(3, 8, 5) * 3.0  # not normalised: loaded rows get normalised
    save_file({"weight": emb}, str(tmp_path / "a.safetensors"))
    vectors = load_precomputed(tmp_path / "a.safetensors", rows=3)
    np.testing.assert_allclose(vectors, emb / 3.0, atol=1e-6)


def test_save_cleans_up_when_target_parent_is_read_only(
    bundle: LabelSpaceBundle, tmp_path: Path
) -> None:
    if os.geteuid() == 0:  # root ignores directory permissions; test the plain path instead
        out = bundle.save(tmp_path / "x" / "y")
        assert load_bundle(out).embeddings.shape == (5, 8)
        shutil.rmtree(tmp_path / "x")
        return
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(OSError):
        bundle.save(ro / "b")


def test_dataset_indices_and_loss_from_bundle(bundle: LabelSpaceBundle, tmp_path: Path) -> None:
    import torch

    from scaledet_loss import ScaleDetLoss

    assert bundle.dataset_indices("b").tolist() == [3, 4]
    path = bundle.save(tmp_path / "b")
    full = ScaleDetLoss.from_bundle(path)
    assert full.num_classes == 5
    only_b = ScaleDetLoss.from_bundle(path, dataset="b")
    assert only_b.num_classes == 2
    torch.testing.assert_close(
        only_b.embeddings, torch.as_tensor(bundle.embeddings[3:5]), check_dtype=False
    )


def test_same_name_pairs_and_skip_identical() -> None:
    space = LabelSpace.union(["person, sofa", "Person, couch"], names=["a", "b"])
    emb = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0.9, 0.1]], dtype=np.float32)
    bundle = build_label_space(space, precomputed={"a": emb[:2], "b": emb[2:]})
    assert [(x.key, y.key) for x, y in bundle.same_name_pairs()] == [("a:person", "b:person")]
    everything = bundle.near_duplicates(k=5)
    assert (everything[0][0].name, everything[0][1].name) == ("person", "Person")
    different = bundle.near_duplicates(k=5, skip_identical=True)
    assert (different[0][0].name, different[0][1].name) == ("sofa", "couch")
    assert all(x.clean_name != y.clean_name for x, y, _ in different)
