"""Tests of exports: shapes, dtypes, order and file formats of every export format.

The tiny bundles here are 6-d, so the Detic / YOLO-World / YOLOE exports warn about their
width; the warning itself is tested in test_export_consumers.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scaledet_labels import LabelSpace
from scaledet_labels.bundle import BundleError, LabelSpaceBundle
from scaledet_labels.bundle.build import build_label_space
from scaledet_labels.bundle.export import EXPORT_FORMATS

pytestmark = pytest.mark.filterwarnings(
    "ignore::scaledet_labels.bundle.export.ExportCompatibilityWarning"
)


@pytest.fixture
def bundle() -> LabelSpaceBundle:
    space = LabelSpace.union(["cat, dog, car", "Kitty_cat, puppy"], names=["a", "b"])
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((5, 6)).astype(np.float32)
    return build_label_space(space, precomputed={"a": emb[:3], "b": emb[3:]})


def test_detic_per_dataset_and_unified(bundle: LabelSpaceBundle, tmp_path: Path) -> None:
    file, names = bundle.export("detic", tmp_path / "b.npy", dataset="b")
    array = np.load(file, allow_pickle=False)
    assert array.dtype == np.float32 and array.shape == (2, 6)
    np.testing.assert_array_equal(array, bundle.embeddings[3:])
    assert names.name == "b.names.json"
    assert json.loads(names.read_text()) == ["kitty cat", "puppy"]
    file, _ = bundle.export("detic", tmp_path)  # a directory gets a default name
    assert file.name == "a+b_clip.npy"
    np.testing.assert_array_equal(np.load(file), bundle.embeddings)


def test_openclip_is_columns(bundle: LabelSpaceBundle, tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    file, names = bundle.export("openclip", tmp_path / "zs.safetensors", dataset="a")
    matrix = load_file(str(file))["zero_shot_classifier"]
    assert matrix.shape == (6, 3) and matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix, bundle.embeddings[:3].T)
    assert json.loads(names.read_text()) == ["cat", "dog", "car"]
    file, names = bundle.export("openclip", tmp_path / "zs.npy", overwrite=True)  # zs.names
    assert np.load(file).shape == (6, 5) and names.name == "zs.names.json"


def test_yoloworld_rows_and_names(bundle: LabelSpaceBundle, tmp_path: Path) -> None:
    files = bundle.export("yoloworld", tmp_path / "b.npy", dataset="b")
    assert [f.name for f in files] == ["b.npy", "b.names.json"]
    assert np.load(files[0]).shape == (2, 6)
    assert json.loads(files[1].read_text()) == ["kitty cat", "puppy"]


def test_yoloe_npz(bundle: LabelSpaceBundle, tmp_path: Path) -> None:
    [file] = bundle.export("yoloe", tmp_path)
    assert file.name == "a+b_yoloe.npz"
    with np.load(file, allow_pickle=False) as npz:  # plain arrays: no pickle needed
        assert set(npz.files) == {"embeddings", "names"}
        assert npz["embeddings"].shape == (1, 5, 6) and npz["embeddings"].dtype == np.float32
        np.testing.assert_array_equal(npz["embeddings"][0], bundle.embeddings)
        assert npz["names"].dtype.kind == "U"
        assert npz["names"].tolist() == ["cat", "dog", "car", "kitty cat", "puppy"]
    with pytest.raises(BundleError, match=r"\.npz"):
        bundle.export("yoloe", tmp_path / "x.npy")


def test_csv_labels(bundle: LabelSpaceBundle, tmp_path: Path) -> None:
    [file] = bundle.export("csv", tmp_path / "labels.csv")
    frame = pd.read_csv(file)
    assert list(frame["dataset"]) == ["a", "a", "a", "b", "b"]
    assert list(frame["name"]) == ["cat", "dog", "car", "Kitty_cat", "puppy"]
    assert list(frame["index"]) == [0, 1, 2, 3, 4]
    assert {"local_index", "id", "clean_name"} <= set(frame.columns)
    [file] = bundle.export("csv", tmp_path / "b.csv", dataset="b")
    assert list(pd.read_csv(file)["name"]) == ["Kitty_cat", "puppy"]


def test_similarity_dense_and_sparse(bundle: LabelSpaceBundle, tmp_path: Path) -> None:
    file, names = bundle.export("similarity", tmp_path / "s.npy")
    np.testing.assert_array_equal(np.load(file), bundle.similarity)
    assert names.name == "s.names.json" and len(json.loads(names.read_text())) == 5
    sparse = build_label_space(
        bundle.label_space,
        precomputed={"a": bundle.embeddings[:3], "b": bundle.embeddings[3:]},
        topk=1,
    )
    file, _ = sparse.export("similarity", tmp_path)
    assert file.name == "similarity.npz"
    with np.load(file, allow_pickle=False) as npz:
        assert set(npz.files) == {"data", "indices", "indptr", "shape"}
        assert npz["shape"].tolist() == [5, 5]


def test_export_errors(bundle: LabelSpaceBundle, tmp_path: Path) -> None:
    assert set(EXPORT_FORMATS) == {"detic", "openclip", "yoloworld", "yoloe", "csv", "similarity"}
    with pytest.raises(BundleError, match="not one of"):
        bundle.export("onnx", tmp_path / "x")
    with pytest.raises(BundleError, match=r"\.npy"):
        bundle.export("detic", tmp_path / "x.pt")
    with pytest.raises(ValueError, match="unknown dataset"):
        bundle.export("detic", tmp_path / "x.npy", dataset="nope")
    (tmp_path / "keep.npy").write_bytes(b"mine")
    from scaledet_labels.bundle.export import export_bundle

    with pytest.raises(BundleError, match="already exists"):
        export_bundle(bundle, "detic", tmp_path / "keep.npy", overwrite=False)
    assert (tmp_path / "keep.npy").read_bytes() == b"mine"
