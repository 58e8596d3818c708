"""hf: on sentence-transformers directories: every module of modules.json runs, or a refusal.

The models are the bundled all-MiniLM-L6-v2 with modules added on top (a seeded Dense
layer, Normalize), saved by sentence-transformers to a temporary directory; variants are
copies whose large files are symlinks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scaledet_labels.embed.encoders import EncoderError, HFTextEncoder, load_encoder
from scaledet_labels.embed.encoders.minilm import minilm_dir

TEXTS = [
    "a photo of a dog.",
    "itap of a hot dog.",
    "a",
    "a photo of a very large and rather friendly golden retriever dog",
    "the small red car parked outside",
]


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def sentence_transformer(path: Path) -> Any:
    from sentence_transformers import SentenceTransformer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return SentenceTransformer(str(path), device="cpu", local_files_only=True)


@pytest.fixture(scope="module")
def st_dense_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MiniLM's Transformer and mean Pooling, then a seeded Dense(384 -> 64, tanh)."""
    import torch
    from sentence_transformers import SentenceTransformer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from sentence_transformers import models
    base = sentence_transformer(minilm_dir())
    torch.manual_seed(0)
    dense = models.Dense(384, 64, activation_function=torch.nn.Tanh())
    model = SentenceTransformer(modules=[base[0], base[1], dense], device="cpu")
    directory = tmp_path_factory.mktemp("st-dense") / "model"
    model.save(str(directory))
    return directory


def linked_copy(source: Path, target: Path) -> Path:
    """A copy of a model directory whose files are symlinks (edit with :func:`rewrite`)."""
    shutil.copytree(source, target, copy_function=os.symlink)
    return target


def rewrite(path: Path, data: bytes | dict[str, Any] | list[Any]) -> None:
    """Replace a (possibly symlinked) file with new content."""
    if path.is_symlink():
        path.unlink()
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(json.dumps(data), encoding="utf-8")


def read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_dense_layer_runs_like_sentence_transformers(st_dense_dir: Path) -> None:
    enc = load_encoder(f"hf:{st_dense_dir}", device="cpu")
    assert isinstance(enc, HFTextEncoder)
    assert enc.dim == 64 and enc.pooling == "mean" and enc.context_length == 256
    assert enc.fingerprint.startswith("hf-mean-")
    assert not enc._loaded  # dim and fingerprint come from files
    out = enc.encode(TEXTS, batch_size=2)
    assert out.shape == (len(TEXTS), 64)
    expected = sentence_transformer(st_dense_dir).encode(TEXTS, normalize_embeddings=True)
    assert np.abs(unit(out) - expected).max() < 1e-5
    assert "Dense(64)" in enc.description


def test_every_module_file_is_in_the_fingerprint(st_dense_dir: Path, tmp_path: Path) -> None:
    reference = HFTextEncoder(st_dense_dir).fingerprint
    copy = linked_copy(st_dense_dir, tmp_path / "copy")
    assert HFTextEncoder(copy).fingerprint == reference  # content, not path
    weights = copy / "2_Dense" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    rewrite(weights, bytes(data))
    changed_weights = HFTextEncoder(copy).fingerprint
    assert changed_weights != reference
    config = read(copy / "2_Dense" / "config.json")
    rewrite(copy / "2_Dense" / "config.json", {**config, "activation_function": "torch.nn.ReLU"})
    assert HFTextEncoder(copy).fingerprint not in (reference, changed_weights)


def test_normalize_module(st_dense_dir: Path, tmp_path: Path) -> None:
    copy = linked_copy(st_dense_dir, tmp_path / "normalized")
    modules = read(copy / "modules.json")
    modules.append(
        {
            "idx": 3,
            "name": "3",
            "path": "3_Normalize",
            "type": "sentence_transformers.models.Normalize",
        }
    )
    rewrite(copy / "modules.json", modules)
    enc = HFTextEncoder(copy, device="cpu")
    assert enc.dim == 64
    assert enc.fingerprint != HFTextEncoder(st_dense_dir).fingerprint
    out = enc.encode(TEXTS)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)
    assert np.abs(out - sentence_transformer(copy).encode(TEXTS)).max() < 1e-5


def test_default_prompt_is_prepended(st_dense_dir: Path, tmp_path: Path) -> None:
    copy = linked_copy(st_dense_dir, tmp_path / "prompted")
    config = read(copy / "config_sentence_transformers.json")
    config.update(prompts={"query": "query: ", "document": ""}, default_prompt_name="query")
    rewrite(copy / "config_sentence_transformers.json", config)
    pooling = read(copy / "1_Pooling" / "config.json")
    rewrite(copy / "1_Pooling" / "config.json", {**pooling, "include_prompt": False})
    enc = HFTextEncoder(copy, device="cpu")
    assert enc.fingerprint != HFTextEncoder(st_dense_dir).fingerprint
    assert enc.count_tokens(["dog"]) == [5]  # [CLS] query : dog [SEP]
    expected = sentence_transformer(copy).encode(TEXTS, normalize_embeddings=True)
    assert np.abs(unit(enc.encode(TEXTS, batch_size=2)) - expected).max() < 1e-5


def test_transformer_in_a_subfolder(st_dense_dir: Path, tmp_path: Path) -> None:
    """The older layout: the Transformer's files in 0_Transformer/, none at the top."""
    copy = linked_copy(st_dense_dir, tmp_path / "subfolder")
    inner = copy / "0_Transformer"
    inner.mkdir()
    for name in ("config.json", "model.safetensors", "sentence_bert_config.json"):
        (copy / name).rename(inner / name)
    for path in copy.glob("tokenizer*"):
        path.rename(inner / path.name)
    modules = read(copy / "modules.json")
    modules[0]["path"] = "0_Transformer"
    rewrite(copy / "modules.json", modules)
    enc = HFTextEncoder(copy, device="cpu")
    assert enc.dim == 64 and enc.context_length == 256
    expected = HFTextEncoder(st_dense_dir, device="cpu").encode(TEXTS)
    assert np.abs(enc.encode(TEXTS) - expected).max() < 1e-5


def test_model_that_pools_itself(tmp_path: Path) -> None:
    """No Pooling module: the Transformer writes sentence_embedding (BERT's pooler output);
    the dimension is then only known once the model is loaded."""
    copy = linked_copy(minilm_dir(), tmp_path / "pooler")
    rewrite(
        copy / "sentence_bert_config.json",
        {
            "max_seq_length": 256,
            "modality_config": {
                "text": {"method": "forward", "method_output_name": "pooler_output"}
            },
            "module_output_name": "sentence_embedding",
        },
    )
    rewrite(
        copy / "modules.json",
        [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}],
    )
    enc = HFTextEncoder(copy, device="cpu")
    assert enc.pooling == "model"
    assert enc.dim == 384
    expected = sentence_transformer(copy).encode(TEXTS)
    assert np.abs(enc.encode(TEXTS, batch_size=2) - expected).max() < 1e-5


def _set_module_type(index: int, class_ref: str) -> Callable[[Path], None]:
    def edit(directory: Path) -> None:
        modules = read(directory / "modules.json")
        modules[index]["type"] = class_ref
        rewrite(directory / "modules.json", modules)

    return edit


def _drop_pooling(directory: Path) -> None:
    modules = [m for m in read(directory / "modules.json") if m["path"] != "1_Pooling"]
    rewrite(directory / "modules.json", modules)


def _multimodal(directory: Path) -> None:
    config = read(directory / "sentence_bert_config.json")
    config["modality_config"]["image"] = {
        "method": "get_image_features",
        "method_output_name": None,
    }
    rewrite(directory / "sentence_bert_config.json", config)


def _sparse(directory: Path) -> None:
    config = read(directory / "config_sentence_transformers.json")
    rewrite(
        directory / "config_sentence_transformers.json", {**config, "model_type": "SparseEncoder"}
    )


def _custom_activation(directory: Path) -> None:
    config = read(directory / "2_Dense" / "config.json")
    rewrite(
        directory / "2_Dense" / "config.json", {**config, "activation_function": "my_pkg.Swish"}
    )


def _no_dense_weights(directory: Path) -> None:
    (directory / "2_Dense" / "model.safetensors").unlink()


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (_set_module_type(0, "sentence_transformers.models.CLIPModel"), "CLIPModel.*CLIP-style"),
        (_set_module_type(1, "my_org.pooling.CustomPooling"), "CustomPooling.*remote code"),
        (_set_module_type(2, "sentence_transformers.models.BoW"), "models.BoW"),
        (_set_module_type(1, "sentence_transformers.models.Router"), "router"),
        (_drop_pooling, "no Pooling module"),
        (_multimodal, r"\['image', 'text'\] inputs.*CLIP-style"),
        (_sparse, "SparseEncoder"),
        (_custom_activation, r"'2' \(Dense\).*my_pkg\.Swish"),
        (_no_dense_weights, "no weights"),
    ],
    ids=[
        "clip",
        "remote-code",
        "unsupported",
        "router",
        "no-pooling",
        "multimodal",
        "sparse",
        "custom-activation",
        "no-weights",
    ],
)
def test_pipelines_that_cannot_be_honoured_are_refused(
    st_dense_dir: Path, tmp_path: Path, edit: Callable[[Path], None], match: str
) -> None:
    copy = linked_copy(st_dense_dir, tmp_path / "bad")
    edit(copy)
    enc = HFTextEncoder(copy, device="cpu")
    for use in (lambda: enc.fingerprint, lambda: enc.dim, lambda: enc.encode(["dog"])):
        with pytest.raises(EncoderError, match=match) as info:
            use()
        assert str(copy) in str(info.value)
    assert not enc._loaded


def test_a_module_sentence_transformers_cannot_import(st_dense_dir: Path, tmp_path: Path) -> None:
    copy = linked_copy(st_dense_dir, tmp_path / "unimportable")
    _set_module_type(1, "sentence_transformers.no_such_module.Pooling")(copy)
    enc = HFTextEncoder(copy, device="cpu")
    _ = enc.fingerprint  # the files look fine ...
    with pytest.raises(EncoderError, match="sentence-transformers cannot load") as info:
        enc.encode(["dog"])  # ... but sentence-transformers cannot build the module
    assert str(copy) in str(info.value)


def test_weights_that_do_not_fit_are_refused(st_dense_dir: Path, tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    copy = linked_copy(st_dense_dir, tmp_path / "broken")
    tensors = load_file(str(copy / "model.safetensors"))
    key = next(k for k in tensors if k.endswith("attention.self.query.weight"))
    del tensors[key]
    (copy / "model.safetensors").unlink()
    save_file(tensors, str(copy / "model.safetensors"))
    with pytest.raises(EncoderError, match=r"do not fit the model.*query\.weight"):
        HFTextEncoder(copy, device="cpu").encode(["dog"])


def test_pooling_option_does_not_override_modules_json(st_dense_dir: Path) -> None:
    with pytest.raises(EncoderError, match=r"pooling='cls'.*modules\.json.*pooling='auto'"):
        _ = HFTextEncoder(st_dense_dir, pooling="cls").fingerprint


def test_fingerprints_and_refusals_stay_light(st_dense_dir: Path, tmp_path: Path) -> None:
    """Files only: no torch, transformers or sentence_transformers import."""
    bad = linked_copy(st_dense_dir, tmp_path / "bad")
    _set_module_type(0, "sentence_transformers.models.CLIPModel")(bad)
    code = textwrap.dedent(
        f"""
        import sys
        import scaledet_labels as sl
        from scaledet_labels.embed.encoders import EncoderError, HFTextEncoder
        sl.MiniLMEncoder(device="cpu").fingerprint
        enc = HFTextEncoder({str(st_dense_dir)!r})
        assert enc.dim == 64 and enc.fingerprint
        try:
            HFTextEncoder({str(bad)!r}).fingerprint
        except EncoderError:
            pass
        else:
            raise SystemExit("not refused")
        print([m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules])
        """
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.stdout.strip() == "[]", out.stderr


def test_plain_pipeline_runs_without_importing_sentence_transformers(tmp_path: Path) -> None:
    """Transformer > Pooling(mean|cls) [> Normalize] runs on transformers alone, same numbers."""
    import torch

    mean = linked_copy(minilm_dir(), tmp_path / "mean")
    assert HFTextEncoder(mean).st_pipeline.plain == ("mean", True)  # type: ignore[union-attr]
    cls = linked_copy(minilm_dir(), tmp_path / "cls")
    pooling = read(cls / "1_Pooling" / "config.json")
    pooling |= {"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}
    rewrite(cls / "1_Pooling" / "config.json", pooling)
    rewrite(cls / "modules.json", read(cls / "modules.json")[:2])  # no Normalize
    assert HFTextEncoder(cls).st_pipeline.plain == ("cls", False)  # type: ignore[union-attr]
    torch.manual_seed(0)
    for directory in (mean, cls):
        out = HFTextEncoder(directory, device="cpu").encode(TEXTS, batch_size=2)
        expected = sentence_transformer(directory).encode(TEXTS)
        assert np.abs(out - expected).max() < 1e-5, directory.name
    code = textwrap.dedent(
        f"""
        import sys
        from scaledet_labels.embed.encoders import HFTextEncoder
        HFTextEncoder({str(mean)!r}, device="cpu").encode(["a photo of a dog."])
        print("sentence_transformers" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: rewrite(d / "sentence_bert_config.json", {"do_lower_case": True}),
        lambda d: rewrite(
            d / "sentence_bert_config.json", {"model_args": {"attn_implementation": "eager"}}
        ),
        lambda d: rewrite(
            d / "config_sentence_transformers.json",
            {"prompts": {"q": "query: "}, "default_prompt_name": "q"},
        ),
        lambda d: rewrite(
            d / "1_Pooling" / "config.json",
            {"word_embedding_dimension": 384, "pooling_mode": "max"},
        ),
    ],
    ids=["lower-case", "model-args", "prompt", "max-pooling"],
)
def test_other_pipelines_still_run_through_sentence_transformers(
    edit: Callable[[Path], None], tmp_path: Path
) -> None:
    copy = linked_copy(minilm_dir(), tmp_path / "copy")
    edit(copy)
    enc = HFTextEncoder(copy, device="cpu")
    assert enc.st_pipeline is not None and enc.st_pipeline.plain is None
    out = enc.encode(TEXTS)
    assert np.abs(out - sentence_transformer(copy).encode(TEXTS)).max() < 1e-5
