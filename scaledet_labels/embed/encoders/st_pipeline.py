"""Reading a sentence-transformers model directory's ``modules.json`` from files.

:func:`read_st_pipeline` describes the pipeline (Transformer, Pooling, Dense, Normalize,
...) from ``modules.json`` and each module's config, without importing torch or
sentence-transformers, and refuses what :class:`~scaledet_labels.HFTextEncoder` cannot
run faithfully: module classes outside ``sentence_transformers`` (remote code), CLIP-style
or other multimodal models, routers, static embeddings, sparse or cross-encoders, and
pipelines without a sentence-embedding output. The encoder then runs the directory with
``SentenceTransformer`` itself, so every listed module is applied.

Examples:
    >>> import tempfile
    >>> read_st_pipeline(Path(tempfile.mkdtemp())) is None  # no modules.json
    True
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TypeGuard

from scaledet_labels.embed.encoders._hub import read_json, transformers_weight_files
from scaledet_labels.errors import EncoderError

__all__ = ["ST_SUPPORTED_MODULES", "STModule", "STPipeline", "read_st_pipeline"]

#: sentence-transformers modules this encoder can drive (class names, any module path).
ST_SUPPORTED_MODULES = (
    "Transformer",
    "Pooling",
    "Dense",
    "Normalize",
    "LayerNorm",
    "Dropout",
    "WeightedLayerPooling",
)
_ST_WEIGHTED = frozenset({"Dense", "LayerNorm", "WeightedLayerPooling"})
_ST_WHY_NOT = {
    "CLIPModel": "a CLIP-style image+text model",
    "Router": "a router (different modules per input kind)",
    "Asym": "a router (different modules per input kind)",
    "StaticEmbedding": "a static-embedding model without a transformers tokenizer",
}
#: Where the Transformer module keeps its settings (newest name first).
_ST_TRANSFORMER_CONFIGS = (
    "sentence_bert_config.json",
    "sentence_roberta_config.json",
    "sentence_distilbert_config.json",
    "sentence_camembert_config.json",
    "sentence_albert_config.json",
    "sentence_xlm-roberta_config.json",
    "sentence_xlnet_config.json",
)
_LEGACY_POOLING = (
    ("pooling_mode_cls_token", "cls"),
    ("pooling_mode_max_tokens", "max"),
    ("pooling_mode_mean_tokens", "mean"),
    ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len_tokens"),
    ("pooling_mode_weightedmean_tokens", "weightedmean"),
    ("pooling_mode_lasttoken", "lasttoken"),
)


@dataclass(frozen=True)
class STModule:
    """One entry of a sentence-transformers ``modules.json``.

    Attributes:
        name: The module's name in the pipeline (``"0"``, ``"1"``, ...).
        kind: Its class name, e.g. ``"Dense"``.
        type: The class reference as written, e.g. ``"sentence_transformers.models.Dense"``.
        path: Its directory relative to the model directory (``""``: the model directory).
        config: Its configuration file (``{}`` when it has none).
        config_file: That file's name relative to the model directory, if any.
    """

    name: str
    kind: str
    type: str
    path: str
    config: dict[str, Any]
    config_file: str | None


@dataclass(frozen=True)
class STPipeline:
    """A checked sentence-transformers pipeline (see :func:`read_st_pipeline`).

    Attributes:
        modules: The modules in order; the first is the Transformer.
        prompt: The default prompt sentence-transformers prepends to every text, if any.
    """

    modules: tuple[STModule, ...]
    prompt: str | None

    @property
    def transformer(self) -> STModule:
        """The Transformer module (tokenizer and backbone)."""
        return self.modules[0]

    @property
    def pooling(self) -> str:
        """The Pooling module's mode(s), ``"+"``-joined; ``"model"`` when the model pools."""
        for module in self.modules:
            if module.kind == "Pooling":
                return "+".join(_pooling_modes(module.config))
        return "model"

    @property
    def dim(self) -> int | None:
        """The output dimension from the module configs; ``None`` when only the model knows."""
        for module in reversed(self.modules):
            config = module.config
            if module.kind == "Dense":
                value = config.get("out_features")
            elif module.kind == "Pooling":
                size = config.get("embedding_dimension", config.get("word_embedding_dimension"))
                value = size * len(_pooling_modes(config)) if is_int(size) else None
            elif module.kind == "Transformer":
                value = None
            else:  # Normalize, LayerNorm, Dropout, WeightedLayerPooling keep the dimension
                continue
            return value if is_int(value) else None
        return None

    @property
    def plain(self) -> tuple[str, bool] | None:
        """``(pooling, normalize)`` when the pipeline is only a transformers model pooled.

        That is ``Transformer > Pooling(mean|cls) [> Normalize]`` with the Transformer in
        the model directory, no default prompt, no lower-casing and no extra model,
        tokenizer or config arguments: exactly what ``transformers.AutoModel`` plus that
        pooling computes, so it can run without importing sentence-transformers (whose
        import alone adds about 300 MB to a process). ``None`` for anything else.
        """
        kinds = [module.kind for module in self.modules]
        if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
            return None
        transformer, pooling = self.modules[0], self.modules[1]
        settings = transformer.config
        if self.prompt or transformer.path or settings.get("do_lower_case"):
            return None
        extras = ("model_args", "tokenizer_args", "config_args", "cache_dir", "backend")
        if any(settings.get(key) not in (None, {}, "torch") for key in extras):
            return None
        known = {"max_seq_length", "do_lower_case", *extras}
        if set(settings) - known or transformer.config.get("module_output_name"):
            return None
        modes = _pooling_modes(pooling.config)
        if modes not in (("mean",), ("cls",)):
            return None
        return modes[0], len(kinds) == 3

    def describe(self) -> str:
        """``"Transformer > Pooling(mean) > Dense(64) > Normalize"``."""
        parts = []
        for module in self.modules:
            if module.kind == "Pooling":
                parts.append(f"Pooling({self.pooling})")
            elif module.kind == "Dense" and is_int(module.config.get("out_features")):
                parts.append(f"Dense({module.config['out_features']})")
            else:
                parts.append(module.kind)
        return " > ".join(parts)


def is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _pooling_modes(config: dict[str, Any]) -> tuple[str, ...]:
    mode = config.get("pooling_mode")
    if isinstance(mode, str):
        return (mode,)
    if isinstance(mode, list) and mode and all(isinstance(m, str) for m in mode):
        return tuple(mode)
    legacy = tuple(name for key, name in _LEGACY_POOLING if config.get(key))
    return legacy or ("mean",)


def read_st_pipeline(directory: Path) -> STPipeline | None:
    """Read and check ``directory/modules.json`` from files (torch is not imported).

    Returns:
        The pipeline, or ``None`` when ``directory`` has no ``modules.json`` (a plain
        transformers directory).

    Raises:
        EncoderError: A pipeline this encoder cannot run faithfully; the message names the
            directory and the module.

    Examples:
        >>> read_st_pipeline(Path("/no/such/dir")) is None
        True
    """
    modules_file = directory / "modules.json"
    if not modules_file.is_file():
        return None
    try:
        entries = json.loads(modules_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EncoderError(f"cannot read {modules_file}: {exc}") from None
    if not isinstance(entries, list) or not entries:
        raise EncoderError(f"{modules_file}: expected a non-empty JSON list of modules")
    st_config_file = directory / "config_sentence_transformers.json"
    st_config = read_json(st_config_file) if st_config_file.is_file() else {}
    model_type = st_config.get("model_type", "SentenceTransformer")
    if model_type != "SentenceTransformer":
        raise EncoderError(
            f"{directory} is a sentence-transformers {model_type} "
            f"({st_config_file.name}), not a dense text-embedding model"
        )
    modules = tuple(_read_st_module(directory, i, entry) for i, entry in enumerate(entries))
    _check_st_pipeline(directory, modules)
    prompt = None
    prompt_name = st_config.get("default_prompt_name")
    if prompt_name is not None:
        prompts = st_config.get("prompts")
        prompt = prompts.get(prompt_name) if isinstance(prompts, dict) else None
        if not isinstance(prompt, str):
            raise EncoderError(
                f"{st_config_file}: default_prompt_name {prompt_name!r} is not in its prompts"
            )
    return STPipeline(modules, prompt or None)


def _read_st_module(directory: Path, index: int, entry: Any) -> STModule:
    where = f"{directory / 'modules.json'}: module {index}"
    if not isinstance(entry, dict):
        raise EncoderError(f"{where} is not a JSON object")
    class_ref, path = entry.get("type"), entry.get("path", "")
    if not isinstance(class_ref, str) or not isinstance(path, str):
        raise EncoderError(f"{where} needs a string 'type' and 'path'")
    name = str(entry.get("name", index))
    where = f"{directory / 'modules.json'}: module {name!r} ({class_ref})"
    relative = PurePosixPath(path)
    if relative.is_absolute() or ".." in relative.parts or "\\" in path:
        raise EncoderError(f"{where} has path {path!r}, which leaves the model directory")
    kind = class_ref.rsplit(".", 1)[-1]
    if not class_ref.startswith("sentence_transformers."):
        raise EncoderError(
            f"{where} is a class outside sentence_transformers: loading it would run remote "
            f"code (trust_remote_code), which the hf: encoder never enables"
        )
    if kind not in ST_SUPPORTED_MODULES:
        why = _ST_WHY_NOT.get(kind, "not a module the hf: encoder can run")
        raise EncoderError(
            f"{where}: {why}; supported sentence-transformers modules: "
            f"{', '.join(ST_SUPPORTED_MODULES)}"
        )
    base = directory / path
    names = _ST_TRANSFORMER_CONFIGS if kind == "Transformer" else ("config.json",)
    found = next((base / n for n in names if (base / n).is_file()), None)
    config = read_json(found) if found is not None else {}
    if kind in _ST_WEIGHTED | {"Pooling"} and found is None:
        raise EncoderError(f"{where} has no {base / 'config.json'}")
    if kind in _ST_WEIGHTED and not transformers_weight_files(base):
        raise EncoderError(
            f"{where} has no weights in {base} (model.safetensors or pytorch_model.bin)"
        )
    config_file = found.relative_to(directory).as_posix() if found is not None else None
    return STModule(name, kind, class_ref, path, config, config_file)


def _check_st_pipeline(directory: Path, modules: tuple[STModule, ...]) -> None:
    where = directory / "modules.json"
    first = modules[0]
    if first.kind != "Transformer":
        raise EncoderError(
            f"{where}: the first module {first.name!r} is {first.type}; the hf: encoder needs "
            f"a Transformer first (its tokenizer reads the prompts)"
        )
    for module in modules[1:]:
        if module.kind == "Transformer":
            raise EncoderError(
                f"{where}: module {module.name!r} is a second Transformer; not supported"
            )
        activation = module.config.get("activation_function")
        trusted = activation is None or str(activation).startswith("torch.")
        if module.kind == "Dense" and not trusted:
            raise EncoderError(
                f"{where}: module {module.name!r} (Dense) uses activation {activation!r}, which "
                f"sentence-transformers only loads with trust_remote_code (it would fall back "
                f"to Tanh silently)"
            )
    config = first.config
    label = f"{where}: module {first.name!r} (Transformer"
    modalities = config.get("modality_config")
    if isinstance(modalities, dict) and set(modalities) != {"text"}:
        raise EncoderError(
            f"{label}, {first.config_file}) takes {sorted(modalities)} inputs: a CLIP-style or "
            f"chat-template model, not a text-only embedding pipeline"
        )
    task = config.get("transformer_task", "feature-extraction")
    if task != "feature-extraction":
        raise EncoderError(
            f"{label}) has transformer_task {task!r}; only 'feature-extraction' is supported"
        )
    processing = config.get("processing_kwargs")
    if isinstance(processing, dict) and any(processing.get(k) for k in ("text", "common")):
        raise EncoderError(
            f"{label}) sets tokenizer processing_kwargs {processing!r}, which the hf: "
            f"encoder does not apply"
        )
    pooled = config.get("module_output_name") == "sentence_embedding"
    if not pooled and not any(m.kind == "Pooling" for m in modules):
        raise EncoderError(
            f"{where}: no Pooling module, so the pipeline has no sentence_embedding output "
            f"(token embeddings only): not a text-embedding model"
        )


# -- the encoder ---------------------------------------------------------------------------
