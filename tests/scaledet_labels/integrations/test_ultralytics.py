"""set_vocabulary against real ultralytics YOLO-World and YOLOE models, built from their
yaml without weights (offline): a forward pass on a random image names its boxes with the
bundle's labels; a bundle of the wrong width gets our error before ultralytics' own."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import scaledet_labels as sl
from scaledet_labels.bundle.export import ExportCompatibilityWarning
from scaledet_labels.errors import BundleError
from scaledet_labels.integrations.ultralytics import model_kind, set_embeddings, set_vocabulary

WORLD = ["yolov8s-worldv2.yaml", "yolov8s-world.yaml"]
YOLOE = ["yoloe-v8s.yaml", "yoloe-11s.yaml"]
IMAGE = (np.random.default_rng(7).random((64, 64, 3)) * 255).astype(np.uint8)


def _yolo(cfg: str) -> Any:
    import torch
    from ultralytics import YOLO

    torch.manual_seed(0)
    return YOLO(cfg)  # a yaml: the architecture with random weights, nothing downloaded


def _predict(model: Any) -> Any:
    [result] = model.predict(IMAGE, imgsz=64, conf=0.0, device="cpu", verbose=False)
    return result


@pytest.fixture(scope="module")
def bundle512() -> sl.LabelSpaceBundle:
    """COCO + VOC (16 shared names) with random 512-d rows: the width of CLIP ViT-B/32."""
    rng = np.random.default_rng(0)
    return sl.build_label_space(
        ["coco", "voc"],
        precomputed={"coco": rng.normal(size=(80, 512)), "voc": rng.normal(size=(20, 512))},
    )


@pytest.fixture(scope="module")
def bundle384() -> sl.LabelSpaceBundle:
    """A MiniLM-wide bundle."""
    rng = np.random.default_rng(1)
    return sl.build_label_space(
        ["forklift, pallet jack"], precomputed={"custom": rng.normal(size=(2, 384))}
    )


def _check_named(model: Any, names: list[str]) -> None:
    result = _predict(model)
    assert result.names == dict(enumerate(names))
    assert len(result.boxes) > 0
    assert {result.names[int(c)] for c in result.boxes.cls} <= set(names)


@pytest.mark.parametrize("cfg", WORLD + YOLOE)
def test_forward_pass_names_boxes_with_the_vocabulary(
    cfg: str, bundle512: sl.LabelSpaceBundle
) -> None:
    model = _yolo(cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExportCompatibilityWarning)  # precomputed: not guessed
        names = set_vocabulary(model, bundle512)
    assert len(names) == 100 == len(set(names))  # 84 distinct clean names, made unique
    assert {"coco:person", "voc:person", "couch", "sofa"} <= set(names)
    _check_named(model, names)


def test_yolo_world_gets_the_rows_as_text_features(bundle512: sl.LabelSpaceBundle) -> None:
    model = _yolo(WORLD[0])
    set_vocabulary(model, bundle512, dataset="voc")
    net = model.model
    assert tuple(net.txt_feats.shape) == (1, 20, 512) and net.model[-1].nc == 20
    np.testing.assert_allclose(net.txt_feats[0].numpy(), bundle512.classifier("voc"), atol=1e-7)


def test_yoloe_rows_go_through_its_text_head(bundle512: sl.LabelSpaceBundle) -> None:
    import torch

    model = _yolo(YOLOE[0])
    set_vocabulary(model, bundle512, dataset="voc")
    head = model.model.model[-1]
    with torch.no_grad():
        expected = head.get_tpe(torch.from_numpy(bundle512.classifier("voc"))[None])
    assert tuple(model.model.pe.shape) == (1, 20, 512)
    torch.testing.assert_close(model.model.pe, expected)
    assert not model.model.pe.requires_grad


@pytest.mark.parametrize("cfg", [WORLD[0], YOLOE[0]])
def test_wrong_width_is_our_error_before_ultralytics_shape_error(
    cfg: str, bundle384: sl.LabelSpaceBundle
) -> None:
    model = _yolo(cfg)
    before = dict(model.names)
    with pytest.raises(BundleError, match=r"384-d .* takes 512-d text embeddings") as info:
        set_vocabulary(model, bundle384)
    assert "recipe" in str(info.value)
    assert dict(model.names) == before  # nothing was changed


def test_without_the_check_ultralytics_fails_with_a_shape_error(
    bundle384: sl.LabelSpaceBundle,
) -> None:
    """The glue the issue describes, on a 384-d bundle: what set_vocabulary prevents."""
    import torch

    model = _yolo(WORLD[0])
    model.model.txt_feats = torch.from_numpy(bundle384.embeddings)[None]
    model.model.model[-1].nc = 2
    model.model.names = ["forklift", "pallet jack"]
    with pytest.raises(RuntimeError):
        _predict(model)


def test_bundle_directory_and_one_dataset(bundle512: sl.LabelSpaceBundle, tmp_path: Path) -> None:
    path = bundle512.save(tmp_path / "coco+voc")
    model = _yolo(WORLD[1])
    names = set_vocabulary(model, path, dataset="voc")
    assert names == [label.clean_name for label in sl.load_vocabulary("voc").labels]
    _check_named(model, names)
    names = set_vocabulary(model, path, dataset="coco")  # again: the predictor is rebuilt
    _check_named(model, names)


def test_yoloe_export_read_back(bundle512: sl.LabelSpaceBundle, tmp_path: Path) -> None:
    [file] = bundle512.export("yoloe", tmp_path / "coco_yoloe.npz", dataset="coco")
    with np.load(file, allow_pickle=False) as data:
        embeddings, names = data["embeddings"], data["names"].tolist()
    model = _yolo(YOLOE[1])
    assert set_embeddings(model, embeddings, names) == names
    _check_named(model, names)


def test_encoder_of_another_model_warns_or_fails_when_strict() -> None:
    model = _yolo(WORLD[0])
    rows = np.random.default_rng(2).normal(size=(2, 512))
    manifest = {"encoder": {"spec": "openclip:ViT-B-16/laion2b_s34b_b88k", "fingerprint": "x"}}
    with pytest.warns(ExportCompatibilityWarning, match="OpenAI CLIP ViT-B/32"):
        set_embeddings(model, rows, ["a", "b"], manifest=manifest)
    with pytest.raises(BundleError, match="will not mean these labels"):
        set_embeddings(model, rows, ["a", "b"], manifest=manifest, strict=True)


def test_inputs_are_checked() -> None:
    model = _yolo(WORLD[0])
    rows = np.zeros((2, 512), np.float32)
    with pytest.raises(BundleError, match="repeated: 'car'"):
        set_embeddings(model, rows, ["car", "car"])
    with pytest.raises(BundleError, match="3 names for 2"):
        set_embeddings(model, rows, ["a", "b", "c"])
    with pytest.raises(BundleError, match="expected an ultralytics"):
        set_embeddings(object(), rows, ["a", "b"])
    assert model_kind(model) == "yoloworld" and model_kind(model.model) == "yoloworld"
    with pytest.raises(BundleError, match="not an open-vocabulary"):
        model_kind(_yolo("yolov8n.yaml"))
