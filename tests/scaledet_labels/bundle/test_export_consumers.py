"""Exports checked against the code that reads them: the width and encoder warning of each
consumer format, ``strict``, names files and unique names, and Detic's loading code replayed
on our export and on a Detic-style file imported and re-exported."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import scaledet_labels as sl
from scaledet_labels.bundle.export import (
    CONSUMERS,
    ExportCompatibilityWarning,
    check_consumer,
    export_names,
)
from scaledet_labels.errors import BundleError


def _dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- Detic's loading code, written from its documented behaviour -----------------------------
def detic_zs_weight(
    path: Path, zs_weight_dim: int = 512, num_classes: int | None = None
) -> torch.Tensor:
    """What Detic's ``ZeroShotClassifier`` makes of ``ZEROSHOT_WEIGHT_PATH`` (norm_weight on).

    ``np.load`` -> float32 ``(D, C)`` -> a zero background column sized by
    ``ZEROSHOT_WEIGHT_DIM`` -> L2-normalise each column; then Detic checks ``C + 1``
    columns against ``NUM_CLASSES``.
    """
    zs_weight = torch.tensor(np.load(path), dtype=torch.float32).permute(1, 0).contiguous()
    zs_weight = torch.cat([zs_weight, zs_weight.new_zeros((zs_weight_dim, 1))], dim=1)
    zs_weight = F.normalize(zs_weight, p=2, dim=0)
    if num_classes is not None and zs_weight.shape[1] != num_classes + 1:
        raise AssertionError(zs_weight.shape)  # Detic's assert in ZeroShotClassifier
    return zs_weight


def detic_demo_weight(path: Path) -> torch.Tensor:
    """The demo's ``reset_cls_test``: the zero column is sized from the file itself."""
    zs_weight = torch.tensor(np.load(path), dtype=torch.float32).permute(1, 0).contiguous()
    zs_weight = torch.cat([zs_weight, zs_weight.new_zeros((zs_weight.shape[0], 1))], dim=1)
    return F.normalize(zs_weight, p=2, dim=0)


def detic_logits(regions: torch.Tensor, zs_weight: torch.Tensor) -> torch.Tensor:
    """``ZeroShotClassifier.forward`` after its linear layer: 50 * cos, background last."""
    return 50.0 * F.normalize(regions, p=2, dim=1) @ zs_weight


def fake_detic_file(path: Path, rows: int, dim: int = 512, seed: int = 0) -> Path:
    """A stand-in for Detic's shipped ``*_clip_a+cname.npy``: (C, D) float16, rows not unit."""
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.5, 3.0, size=(rows, 1))
    np.save(path, (rng.standard_normal((rows, dim)) * scale).astype(np.float16))
    return path


@pytest.fixture
def coco_file(tmp_path: Path) -> Path:
    return fake_detic_file(tmp_path / "coco_clip_a+cname.npy", 80)


def test_detic_replay_our_export_equals_detics_own_file(coco_file: Path, tmp_path: Path) -> None:
    bundle = sl.build_label_space(["coco"], precomputed={"coco": coco_file})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 512-d, encoder unknown (precomputed): no warning
        ours, names = bundle.export("detic", tmp_path / "out" / "coco.npy")
    raw = np.load(coco_file).astype(np.float32)
    np.testing.assert_allclose(
        np.load(ours), raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-6
    )  # the re-export is Detic's file with unit rows
    theirs = detic_zs_weight(coco_file, num_classes=80)
    mine = detic_zs_weight(ours, num_classes=80)
    assert mine.shape == (512, 81) and not mine[:, 80].any()  # background column
    torch.testing.assert_close(mine, theirs, atol=1e-6, rtol=0)
    torch.testing.assert_close(detic_demo_weight(ours), theirs, atol=1e-6, rtol=0)
    regions = torch.randn(2000, 512, generator=torch.Generator().manual_seed(0))
    agree = detic_logits(regions, mine).argmax(1) == detic_logits(regions, theirs).argmax(1)
    assert bool(agree.all())  # 100 % argmax agreement
    assert json.loads(names.read_text()) == [
        label.clean_name for label in sl.load_vocabulary("coco").labels
    ]


def test_detic_replay_one_dataset_of_a_unified_bundle(coco_file: Path, tmp_path: Path) -> None:
    voc_file = fake_detic_file(tmp_path / "voc.npy", 20, seed=1)
    bundle = sl.build_label_space(["coco", "voc"], precomputed={"coco": coco_file, "voc": voc_file})
    unified, _ = bundle.export("detic", tmp_path / "all.npy")
    assert detic_zs_weight(unified, num_classes=100).shape == (512, 101)
    coco, _ = bundle.export("detic", tmp_path / "coco.npy", dataset="coco")
    torch.testing.assert_close(
        detic_zs_weight(coco, num_classes=80), detic_zs_weight(coco_file), atol=1e-6, rtol=0
    )


def test_detic_width_warning_before_detics_own_error(tmp_path: Path) -> None:
    bundle = sl.build_label_space(
        ["cat, dog, car"], precomputed={"custom": np.random.default_rng(0).normal(size=(3, 384))}
    )
    with pytest.warns(ExportCompatibilityWarning) as caught:
        file, _ = bundle.export("detic", tmp_path / "pets.npy")
    [warning] = caught
    message = str(warning.message)
    assert "384-d" in message and "512-d OpenAI CLIP ViT-B/32" in message
    for key in (
        f"MODEL.ROI_BOX_HEAD.ZEROSHOT_WEIGHT_PATH {file}",
        "MODEL.ROI_BOX_HEAD.ZEROSHOT_WEIGHT_DIM 384",
        "MODEL.ROI_HEADS.NUM_CLASSES 3",
        "zs_weight_dim=384",
        "num_classes=3",
        "--encoder openclip:ViT-B-32/openai --templates 'a' --no-synonyms",
    ):
        assert key in message, key
    # what the warning predicts is what Detic does with the file and the released config
    with pytest.raises(RuntimeError, match="Expected size 384 but got size 512"):
        detic_zs_weight(file)
    assert detic_zs_weight(file, zs_weight_dim=384, num_classes=3).shape == (384, 4)


@pytest.mark.slow
def test_minilm_bundle_warns_for_every_consumer(tmp_path: Path) -> None:
    """The case of the issue: a default (MiniLM, 384-d) bundle exported for Detic."""
    bundle = sl.build_label_space(["forklift, pallet jack"], cache=tmp_path / "cache")
    assert bundle.dim == 384
    for fmt in ("detic", "yoloworld", "yoloe"):
        with pytest.warns(ExportCompatibilityWarning, match=r"384-d \(encoder minilm\)"):
            bundle.export(fmt, _dir(tmp_path / fmt))


# -- every consumer format -------------------------------------------------------------------
CONSUMER_FORMATS = ["detic", "yoloworld", "yoloe"]


def _bundle(dim: int, sources: tuple[str, str] = ("person, car, dog", "Person, bus, car")) -> Any:
    rng = np.random.default_rng(dim)
    space = sl.LabelSpace.union(list(sources), names=["coco", "voc"])
    return sl.build_label_space(
        space, precomputed={"coco": rng.normal(size=(3, dim)), "voc": rng.normal(size=(3, dim))}
    )


def _names(files: list[Path]) -> list[str]:
    for file in files:
        if file.name.endswith(".names.json"):
            names: list[str] = json.loads(file.read_text())
            return names
    [npz] = files
    with np.load(npz, allow_pickle=False) as data:
        return [str(n) for n in data["names"]]


@pytest.mark.parametrize("fmt", CONSUMER_FORMATS)
def test_width_warning_names_the_consumer_and_its_keys(fmt: str, tmp_path: Path) -> None:
    consumer = CONSUMERS[fmt]
    with pytest.warns(ExportCompatibilityWarning) as caught:
        files = _bundle(384).export(fmt, tmp_path)
    [warning] = caught  # one warning per export
    message = str(warning.message)
    assert "\n" not in message
    assert f"{consumer.name} export {files[0].name}: its rows are 384-d" in message
    assert f"{consumer.dim}-d" in message and "cannot load it" in message
    assert consumer.settings.split("{")[0].strip() in message  # the config keys to set
    assert f"'{fmt}' recipe" in message and consumer.encoder_spec in message


@pytest.mark.parametrize("fmt", CONSUMER_FORMATS)
def test_strict_raises_and_writes_nothing(fmt: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(BundleError, match=r"384-d.*strict: nothing was written"):
        _bundle(384).export(fmt, _dir(out), strict=True)
    assert not any(out.iterdir())


@pytest.mark.parametrize("fmt", CONSUMER_FORMATS)
def test_right_width_exports_quietly_even_when_strict(fmt: str, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        files = _bundle(512).export(fmt, tmp_path, strict=True)
    assert files


@pytest.mark.parametrize("fmt", ["detic", "openclip", "yoloworld", "yoloe", "similarity"])
def test_names_file_beside_every_export_without_names(fmt: str, tmp_path: Path) -> None:
    bundle = _bundle(512)
    files = bundle.export(fmt, _dir(tmp_path / "unified"))
    if fmt != "yoloe":  # the NPZ carries its names
        assert [f.name.endswith(".names.json") for f in files] == [False, True]
        assert files[1].name == files[0].stem + ".names.json"
    names = _names(files)
    assert names == ["coco:person", "coco:car", "dog", "voc:person", "bus", "voc:car"]
    assert len(set(names)) == len(names)
    if fmt != "similarity":  # one dataset: its own names, nothing to qualify
        files = bundle.export(fmt, _dir(tmp_path / "voc"), dataset="voc")
        assert _names(files) == ["person", "bus", "car"]


def test_openclip_csv_and_similarity_never_warn(tmp_path: Path) -> None:
    bundle = _bundle(384)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for fmt in ("openclip", "csv", "similarity"):
            assert bundle.export(fmt, _dir(tmp_path / fmt), strict=True)


def test_coco_plus_voc_names_are_unique(tmp_path: Path) -> None:
    """The issue's case: 100 labels, 84 distinct clean names, 100 distinct export names."""
    space = sl.LabelSpace.union(["coco", "voc"])
    names = export_names(space, range(len(space)))
    assert len({label.clean_name for label in (space[i] for i in range(100))}) == 84
    assert len(set(names)) == 100
    assert {"coco:person", "voc:person", "coco:car", "voc:car"} <= set(names)
    assert "couch" in names and "sofa" in names  # different names stay as they are


# -- the encoder check -----------------------------------------------------------------------
def _manifest(spec: str | None, fingerprint: str | None = "fp") -> dict[str, Any]:
    return {"encoder": {"spec": spec, "fingerprint": fingerprint}, "precomputed": {}}


@pytest.mark.parametrize(
    ("fmt", "spec", "warns"),
    [
        ("detic", "openclip:ViT-B-32/openai", False),
        ("detic", "hf:openai/clip-vit-base-patch32", False),
        ("detic", "openclip:ViT-B-32@/weights/openai.pt", False),  # cannot tell: no warning
        ("detic", None, False),  # a Python encoder: cannot tell
        ("detic", "openclip:ViT-B-32/laion2b_s34b_b79k", True),
        ("detic", "openclip:ViT-B-16/openai", True),
        ("yoloworld", "openclip:ViT-B-32/openai", False),
        ("yoloworld", "minilm", True),
        ("yoloe", "openclip:MobileCLIP-B/datacompdr_lt", False),
        ("yoloe", "openclip:MobileCLIP2-B/dfndr2b", False),
        ("yoloe", "openclip:ViT-B-32/openai", True),
        ("openclip", "minilm", False),
    ],
)
def test_encoder_check(fmt: str, spec: str | None, warns: bool) -> None:
    problem = check_consumer(_manifest(spec), fmt, dim=512, n_labels=80, target="x.npy")
    assert (problem is not None) == warns
    if problem is not None:
        assert f"built with encoder {spec}" in problem
        assert "loads" in problem and "will not mean these labels" in problem
        assert CONSUMERS[fmt].encoder_spec in problem


def test_precomputed_encoder_is_not_guessed(caplog: pytest.LogCaptureFixture) -> None:
    manifest = _manifest(None, None) | {"precomputed": {"lvis": "0" * 64}}
    with caplog.at_level("INFO", logger="scaledet_labels.bundle.export"):
        assert check_consumer(manifest, "detic", dim=512, n_labels=1203) is None
    assert "precomputed: lvis" in caplog.text and "not checked" in caplog.text
    problem = check_consumer(manifest, "detic", dim=768, n_labels=1203)
    assert problem is not None and "768-d (precomputed: lvis)" in problem


def test_expected_dim_for_a_model_you_trained(tmp_path: Path) -> None:
    manifest = _manifest("minilm")
    assert "cannot load" in str(check_consumer(manifest, "yoloworld", dim=384, n_labels=3))
    problem = check_consumer(manifest, "yoloworld", dim=384, n_labels=3, expected_dim=384)
    assert problem is not None and "loads" in problem  # width fine, encoder still not theirs
