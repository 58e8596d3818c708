"""openclip: encoders: equality with open_clip's builder, checkpoints, trimming rules."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fake_hub import make_snapshot

from scaledet_labels.embed.embeddings import embed_labels
from scaledet_labels.embed.encoders import EncoderError, ModelNotAvailableError, OpenCLIPEncoder
from scaledet_labels.embed.prompts import PromptTooLongError

open_clip = pytest.importorskip("open_clip")
torch = pytest.importorskip("torch")

NAMES = ["tench", "great white shark", "American robin", "hot dog", "kite (bird of prey)"]
TEMPLATES = ["itap of a {}.", "a {} in a video game.", "a photo of the small {}."]


@pytest.fixture(scope="module")
def vit_b32() -> tuple[Any, Any]:
    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32", pretrained=None).eval()
    return model, open_clip.get_tokenizer("ViT-B-32")


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """A random ViT-S-32-alt and its text tower saved as safetensors."""
    from safetensors.torch import save_file

    torch.manual_seed(1)
    model = open_clip.create_model("ViT-S-32-alt", pretrained=None).eval()
    text = {k: v.contiguous() for k, v in model.state_dict().items() if not k.startswith("visual.")}
    path = tmp_path_factory.mktemp("ckpt") / "vit_s_32_alt_text.safetensors"
    save_file(text, str(path))
    return model, path


def reference(model: Any, tokenizer: Any, names: list[str], templates: Any) -> np.ndarray:
    columns = open_clip.build_zero_shot_classifier(model, tokenizer, names, templates)
    return columns.T.numpy()  # open_clip returns (D, C) columns; ours are (C, D) rows


def test_equals_build_zero_shot_classifier(vit_b32: tuple[Any, Any]) -> None:
    model, tokenizer = vit_b32
    enc = OpenCLIPEncoder.from_model(model, tokenizer, fingerprint="random-vit-b-32")
    assert enc.trims_context and enc.packs_prompts
    assert enc.dim == 512 and enc.context_length == 77
    ours = embed_labels(NAMES, enc, TEMPLATES, cache=False, batch_size=4)
    ref = reference(model, tokenizer, NAMES, TEMPLATES)
    assert ours.embeddings.shape == (len(NAMES), 512)
    assert np.abs(ours.embeddings - ref).max() <= 1e-5


def test_equals_builder_with_open_clip_template_set(vit_b32: tuple[Any, Any]) -> None:
    from open_clip.zero_shot_metadata import SIMPLE_IMAGENET_TEMPLATES

    model, tokenizer = vit_b32
    enc = OpenCLIPEncoder.from_model(model, tokenizer)
    assert enc.fingerprint.startswith("openclip-")  # derived from the tensors
    ours = embed_labels(NAMES[:2], enc, "simple", cache=False)
    ref = reference(model, tokenizer, NAMES[:2], SIMPLE_IMAGENET_TEMPLATES)
    assert np.abs(ours.embeddings - ref).max() <= 1e-5


def test_checkpoint_spec(small_checkpoint: tuple[Any, Path], tmp_path: Path) -> None:
    model, path = small_checkpoint
    spec = f"openclip:ViT-S-32-alt@{path}"
    result = embed_labels(NAMES[:3], spec, TEMPLATES[:2], cache=tmp_path, device="cpu")
    ref = reference(model, open_clip.get_tokenizer("ViT-S-32-alt"), NAMES[:3], TEMPLATES[:2])
    assert np.abs(result.embeddings - ref).max() <= 1e-5
    again = embed_labels(NAMES[:3], spec, TEMPLATES[:2], cache=tmp_path, device="cpu")
    assert again.stats.encoded == 0 and again.fingerprint == result.fingerprint
    np.testing.assert_array_equal(again.embeddings, result.embeddings)


def test_pt_checkpoint_with_state_dict_key(
    small_checkpoint: tuple[Any, Path], tmp_path: Path
) -> None:
    from safetensors.torch import load_file

    model, path = small_checkpoint
    pt = tmp_path / "model.pt"
    state = {f"module.{k}": v for k, v in load_file(str(path)).items()}
    torch.save({"state_dict": state, "epoch": 3}, pt)
    enc = OpenCLIPEncoder("ViT-S-32-alt", checkpoint=pt, device="cpu")
    ref = model.encode_text(open_clip.get_tokenizer("ViT-S-32-alt")(["a dog"])).detach().numpy()
    assert np.abs(enc.encode(["a dog"]) - ref).max() < 1e-5


class Payload:
    """Not a tensor: loading it needs arbitrary unpickling."""


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "evil.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": Payload()}, bad)
    with pytest.raises(EncoderError, match="refusing to unpickle"):
        OpenCLIPEncoder("ViT-S-32-alt", checkpoint=bad, device="cpu").encode(["a"])


def test_wrong_architecture_is_refused(small_checkpoint: tuple[Any, Path]) -> None:
    _, path = small_checkpoint
    with pytest.raises(EncoderError, match="does not fit"):
        OpenCLIPEncoder("ViT-B-32", checkpoint=path, device="cpu").encode(["a"])


def test_missing_checkpoint_and_unknown_model(tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailableError, match="does not exist"):
        _ = OpenCLIPEncoder("ViT-B-32", checkpoint=tmp_path / "nope.safetensors").fingerprint
    with pytest.raises(EncoderError, match="did you mean ViT-B-32"):
        _ = OpenCLIPEncoder("ViT-B-23", checkpoint=tmp_path / "x.pt").dim


def test_pretrained_tag_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = OpenCLIPEncoder("ViT-B-32", pretrained="laion2b_s34b_b79k", device="cpu")
    assert enc.fingerprint.startswith("openclip-")  # no weights needed for the identity
    with pytest.raises(ModelNotAvailableError, match="download it once"):
        enc.encode(["a dog"])
    with pytest.raises(EncoderError, match="laion2b_s34b_b79k"):
        OpenCLIPEncoder("ViT-B-32", pretrained="no_such_tag", device="cpu").encode(["a"])


def tiny_custom_clip(**text: Any) -> Any:
    from open_clip.model import CLIPTextCfg, CLIPVisionCfg

    torch.manual_seed(2)
    vision = CLIPVisionCfg(layers=1, width=32, head_width=16, patch_size=16, image_size=32)
    cfg = CLIPTextCfg(context_length=77, vocab_size=49408, width=32, heads=2, layers=2, **text)
    return open_clip.CustomTextCLIP(embed_dim=16, vision_cfg=vision, text_cfg=cfg).eval()


@pytest.mark.parametrize(("text_cfg", "packs"), [({}, True), ({"qk_norm": True}, False)])
def test_causal_custom_text_tower_is_trimmed_exactly(text_cfg: dict[str, Any], packs: bool) -> None:
    model = tiny_custom_clip(**text_cfg)
    tokenizer = open_clip.SimpleTokenizer()
    enc = OpenCLIPEncoder.from_model(model, tokenizer, fingerprint="tiny-causal")
    assert enc.trims_context and enc.packs_prompts == packs
    texts = ["a", "a photo of a dog.", "an extremely long prompt about a very small cat", "x"]
    texts += [f"a photo of thing {i}" for i in range(40)]
    ref = model.encode_text(tokenizer(texts)).detach().numpy()
    for size in (2, 50):
        assert np.abs(enc.encode(texts, batch_size=size) - ref).max() < 1e-5


def test_non_causal_tower_uses_full_context() -> None:
    model = tiny_custom_clip(no_causal_mask=True, pool_type="last")
    tokenizer = open_clip.SimpleTokenizer()
    enc = OpenCLIPEncoder.from_model(model, tokenizer, fingerprint="tiny-siglip-like")
    assert not enc.trims_context
    texts = ["a", "a photo of a dog."]
    ref = model.encode_text(tokenizer(texts)).detach().numpy()
    assert np.abs(enc.encode(texts) - ref).max() < 1e-6


def test_too_long_prompts_name_the_label(caplog: pytest.LogCaptureFixture) -> None:
    model = tiny_custom_clip()
    enc = OpenCLIPEncoder.from_model(model, open_clip.SimpleTokenizer(), fingerprint="tiny")
    long_name = " ".join(["verylongword"] * 80)
    labels = ["dog", long_name]
    with pytest.raises(PromptTooLongError) as info:
        embed_labels(labels, enc, ["a {}"], cache=False)
    assert "verylongword" in str(info.value) and "77" in str(info.value)
    with caplog.at_level(logging.WARNING):
        result = embed_labels(labels, enc, ["a {}"], cache=False, too_long="warn")
    assert result.embeddings.shape == (2, 16)
    assert any("verylongword" in r.getMessage() for r in caplog.records)


def test_row_plan_shares_prefixes() -> None:
    from scaledet_labels.embed.encoders.packing import plan_rows

    tokenizer = open_clip.SimpleTokenizer()
    texts = [t.format(n) for t in TEMPLATES for n in NAMES] + ["a", "a b", "a b", "itap of a"]
    ids = [[tokenizer.sot_token_id, *tokenizer.encode(t), tokenizer.eot_token_id] for t in texts]
    rows = plan_rows(ids, capacity=24)
    segments = [seg for row in rows for seg in row.segments]
    members = sorted(i for seg in segments for i in seg.members)
    assert members == list(range(len(texts)))  # every prompt exactly once
    for seg in segments:
        head = ids[seg.members[0]][: seg.prefix]
        assert all(ids[i][: seg.prefix] == head and len(ids[i]) > seg.prefix for i in seg.members)
        assert seg.width == seg.prefix + sum(len(ids[i]) - seg.prefix for i in seg.members)
    for row in rows:
        assert row.width == sum(seg.width for seg in row.segments) <= 24
    assert sum(r.width for r in rows) < sum(map(len, ids))  # prefixes are shared
    assert [r.width for r in rows] == sorted((r.width for r in rows), reverse=True)


# -- loading through open_clip's own API ------------------------------------------------------
RANDOM_INIT = ("No pretrained weights loaded", "initialized randomly")
TINY_CFG: dict[str, Any] = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


def random_init_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if any(s in r.getMessage() for s in RANDOM_INIT)]


@pytest.fixture(scope="module")
def vit_b32_file(vit_b32: tuple[Any, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The random ViT-B-32's full state dict, as a tag's open_clip_model.safetensors."""
    from safetensors.torch import save_file

    model, _ = vit_b32
    path = tmp_path_factory.mktemp("tag") / "open_clip_model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


@pytest.fixture(scope="module")
def tiny_openclip_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """A random tiny CLIP as an open_clip model directory (config + safetensors)."""
    import json

    from safetensors.torch import save_file

    torch.manual_seed(3)
    model = open_clip.CLIP(**TINY_CFG).eval()
    directory = tmp_path_factory.mktemp("tiny-openclip")
    config = {"model_cfg": TINY_CFG, "preprocess_cfg": {}}
    (directory / "open_clip_config.json").write_text(json.dumps(config))
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(directory / "open_clip_model.safetensors"))
    return model, directory


@pytest.mark.parametrize("kind", ["text-only safetensors", "full .pt"])
def test_checkpoint_load_logs_no_random_init(
    small_checkpoint: tuple[Any, Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    model, path = small_checkpoint
    if kind == "full .pt":
        path = tmp_path / "full.pt"
        torch.save(model.state_dict(), path)
    with caplog.at_level(logging.INFO):
        enc = OpenCLIPEncoder("ViT-S-32-alt", checkpoint=path, device="cpu")
        out = enc.encode(["a dog"])
    assert not random_init_logged(caplog)
    assert any("open_clip" in r.pathname for r in caplog.records)  # open_clip's log is seen
    ref = model.encode_text(open_clip.get_tokenizer("ViT-S-32-alt")(["a dog"])).detach().numpy()
    assert np.abs(out - ref).max() < 1e-5
    assert not hasattr(enc._model, "visual")  # the image tower is dropped


def test_open_clip_reads_torch_files_with_weights_only(
    small_checkpoint: tuple[Any, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """open_clip 3.x's loader passes weights_only=True to every torch.load it makes."""
    from safetensors.torch import load_file

    _, path = small_checkpoint
    pt = tmp_path / "text.bin"
    torch.save(load_file(str(path)), pt)
    calls: list[dict[str, Any]] = []
    real_load = torch.load

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    OpenCLIPEncoder("ViT-S-32-alt", checkpoint=pt, device="cpu").encode(["a"])
    assert calls and all(kw.get("weights_only") is True for kw in calls)


def test_pretrained_tag_from_hub_cache(
    vit_b32: tuple[Any, Any],
    vit_b32_file: Path,
    hub: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A tag's weights found with try_to_load_from_cache, loaded by open_clip.create_model."""
    model, tokenizer = vit_b32
    make_snapshot(hub, "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", {vit_b32_file.name: vit_b32_file})
    enc = OpenCLIPEncoder("ViT-B-32", pretrained="laion2b_s34b_b79k", device="cpu")
    with caplog.at_level(logging.INFO):
        out = enc.encode(["a photo of a dog.", "itap of a kite (bird of prey)."])
    assert not random_init_logged(caplog)
    ref = model.encode_text(tokenizer(["a photo of a dog.", "itap of a kite (bird of prey)."]))
    assert np.abs(out - ref.detach().numpy()).max() < 1e-5
    assert type(enc._model.transformer.resblocks[0].mlp.gelu).__name__ == "GELU"
    # the openai tag trained with QuickGELU: open_clip's tag config still applies
    make_snapshot(hub, "timm/vit_base_patch32_clip_224.openai", {vit_b32_file.name: vit_b32_file})
    openai = OpenCLIPEncoder("ViT-B-32", pretrained="openai", device="cpu")
    openai.encode(["a"])
    assert type(openai._model.transformer.resblocks[0].mlp.gelu).__name__ == "QuickGELU"
    assert openai.fingerprint != enc.fingerprint


def test_pretrained_tag_without_network_fails_fast(no_network: Path) -> None:
    enc = OpenCLIPEncoder("ViT-B-32", pretrained="laion2b_s34b_b79k", device="cpu")
    start = time.monotonic()
    with pytest.raises(ModelNotAvailableError) as info:
        enc.encode(["a dog"])
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert "cannot be reached" in message and "laion/CLIP-ViT-B-32-laion2B-s34B-b79K" in message
    assert "download it once" in message and "openclip:ViT-B-32@/path/to/checkpoint" in message


def test_hf_hub_schema_from_cache(
    tiny_openclip_dir: tuple[Any, Path], hub: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model, directory = tiny_openclip_dir
    files = {p.name: p for p in directory.iterdir()}
    snapshot = make_snapshot(hub, "me/tiny-openclip", files)
    enc = OpenCLIPEncoder("hf-hub:me/tiny-openclip", device="cpu")
    local = OpenCLIPEncoder(f"local-dir:{directory}", device="cpu")
    assert enc.dim == 16 and enc.fingerprint == local.fingerprint  # identity from the files
    texts = ["a", "a photo of a dog."]
    with caplog.at_level(logging.INFO):
        out = enc.encode(texts)
    assert not random_init_logged(caplog)
    assert any(str(snapshot) in r.getMessage() for r in caplog.records)  # open_clip loaded it
    ref = model.encode_text(open_clip.get_tokenizer("ViT-B-32")(texts)).detach().numpy()
    assert np.abs(out - ref).max() < 1e-5
    np.testing.assert_allclose(local.encode(texts), out, atol=1e-6)


def test_hub_snapshot_without_weights_is_refused_up_front(
    tiny_openclip_dir: tuple[Any, Path], hub: Path, tmp_path: Path
) -> None:
    _, directory = tiny_openclip_dir
    config = (directory / "open_clip_config.json").read_bytes()
    make_snapshot(hub, "me/config-only", {"open_clip_config.json": config})
    enc = OpenCLIPEncoder("hf-hub:me/config-only", device="cpu")
    with pytest.raises(ModelNotAvailableError) as info:
        _ = enc.dim  # before any model is built: the config alone is not enough
    message = str(info.value)
    assert "without weights" in message and "HF_HUB_OFFLINE" in message
    assert "openclip:local-dir:" in message and "hf download me/config-only" in message
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "open_clip_config.json").write_bytes(config)
    with pytest.raises(ModelNotAvailableError, match="holds no open_clip checkpoint"):
        _ = OpenCLIPEncoder(f"local-dir:{bare}").fingerprint


def test_hf_hub_schema_without_network_fails_fast(no_network: Path) -> None:
    start = time.monotonic()
    with pytest.raises(ModelNotAvailableError, match="cannot be reached"):
        _ = OpenCLIPEncoder("hf-hub:bogus-org/no-such-clip").fingerprint
    assert time.monotonic() - start < 5


def test_cached_hub_fingerprint_stays_light(
    tiny_openclip_dir: tuple[Any, Path], tmp_path: Path
) -> None:
    """A cached hf-hub: model: dim and fingerprint with neither torch nor open_clip."""
    _, directory = tiny_openclip_dir
    cache = tmp_path / "hub"
    make_snapshot(cache, "me/tiny-openclip", {p.name: p for p in directory.iterdir()})
    code = textwrap.dedent(
        """
        import sys
        from scaledet_labels.embed.encoders import load_encoder
        enc = load_encoder("openclip:hf-hub:me/tiny-openclip")
        print(enc.fingerprint, enc.dim)
        heavy = [m for m in ("torch", "transformers", "open_clip") if m in sys.modules]
        assert not heavy, heavy
        """
    )
    env = {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    fingerprint, dim = out.stdout.split()
    assert fingerprint == OpenCLIPEncoder(f"local-dir:{directory}").fingerprint and dim == "16"


def test_unexpected_keys_are_refused(small_checkpoint: tuple[Any, Path], tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    _, path = small_checkpoint
    state = load_file(str(path))
    state["head.extra"] = torch.zeros(2)
    bad = tmp_path / "extra.safetensors"
    save_file(state, str(bad))
    with pytest.raises(EncoderError, match=r"does not fit.*unexpected \['head.extra'\]"):
        OpenCLIPEncoder("ViT-S-32-alt", checkpoint=bad, device="cpu").encode(["a"])
