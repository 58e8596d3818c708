"""Hugging Face transformers text encoders: CLIP text towers and mean-pooled text models.

Spec ``hf:MODEL_ID_OR_DIR``. A directory is used as it is; a hub id is looked up in the
local Hugging Face cache and downloaded once only when absent and allowed (see
:mod:`scaledet_labels.embed.encoders._hub`). Models load with ``local_files_only=True``.

Pooling (``pooling="auto"``): CLIP configs (``model_type`` ``clip``/``clip_text_model``)
use ``CLIPTextModelWithProjection`` and its ``text_embeds``; a sentence-transformers
directory follows its ``1_Pooling/config.json`` (mean or CLS); anything else is
mean-pooled over real tokens (attention mask). Batches are length-sorted and padded to
their own longest prompt, which is exact for all three poolings because padding is masked.

Examples:
    >>> enc = HFTextEncoder("/path/to/clip-text-model")  # doctest: +SKIP
    >>> enc.encode(["a photo of a dog."]).shape  # doctest: +SKIP
    (1, 512)
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from scaledet_labels.embed.encoders._hub import resolve_hf_snapshot
from scaledet_labels.embed.encoders.base import (
    EncoderError,
    ModelNotAvailableError,
    TorchTextEncoder,
    make_fingerprint,
)

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


class HFTextEncoder(TorchTextEncoder):
    """A transformers text model as a prompt encoder.

    Args:
        model: A local model directory or a Hugging Face hub id.
        pooling: ``"auto"`` (see module docs), ``"clip"``, ``"mean"`` or ``"cls"``.
        max_length: Context length in tokens (default: from the model's files).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        precision: ``"fp32"``; ``"fp16"`` or ``"bf16"`` on a GPU.

    Raises:
        EncoderError: Bad option values.
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
        self._config: dict[str, Any] | None = None
        self._tokenizer: Any = None
        self._model: Any = None

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
            if not (path / "config.json").is_file():
                raise EncoderError(f"{path} is not a transformers model directory (no config.json)")
            return path
        if path.exists():
            raise EncoderError(f"hf:{self._ref} must be a model directory, not a file")
        explicit = self._ref.startswith((".", "~", os.sep)) or self._ref.count("/") > 1
        if explicit:
            raise ModelNotAvailableError(f"model directory {self._ref} does not exist")
        return resolve_hf_snapshot(self._ref, kind="hf")

    @property
    def config(self) -> dict[str, Any]:
        """The model's ``config.json``."""
        if self._config is None:
            self._config = _read_json(self.model_dir / "config.json")
        return self._config

    @property
    def _text_config(self) -> dict[str, Any]:
        sub = self.config.get("text_config")
        return sub if isinstance(sub, dict) else self.config

    @property
    def pooling(self) -> str:
        """The pooling in use, ``"auto"`` resolved."""
        if self._pooling_option != "auto":
            return self._pooling_option
        if self.config.get("model_type") in _CLIP_TYPES:
            return "clip"
        pooling_file = self.model_dir / "1_Pooling" / "config.json"
        if pooling_file.is_file():
            modes = _read_json(pooling_file)
            if modes.get("pooling_mode_cls_token"):
                return "cls"
            if not modes.get("pooling_mode_mean_tokens", True):
                raise EncoderError(
                    f"{pooling_file}: only mean or CLS pooling is supported; pass pooling=..."
                )
        return "mean"

    @property
    def dim(self) -> int:
        """Embedding dimension (projection size for CLIP, hidden size otherwise)."""
        if self.pooling == "clip":
            value = self._text_config.get("projection_dim") or self.config.get("projection_dim")
        else:
            value = self._text_config.get("hidden_size") or self._text_config.get("d_model")
        if not isinstance(value, int):
            raise EncoderError(f"{self.model_dir}/config.json does not give the embedding size")
        return value

    @property
    def context_length(self) -> int:
        """Most tokens per prompt, special tokens included."""
        if self._max_length_option is not None:
            return self._max_length_option
        positions = self._text_config.get("max_position_embeddings")
        limits = [positions] if isinstance(positions, int) else []
        st_config = self.model_dir / "sentence_bert_config.json"
        if self.pooling != "clip" and st_config.is_file():
            value = _read_json(st_config).get("max_seq_length")
            if isinstance(value, int):
                limits.append(value)
        tok_config = self.model_dir / "tokenizer_config.json"
        if tok_config.is_file():
            value = _read_json(tok_config).get("model_max_length")
            if isinstance(value, int) and value < 1_000_000:
                limits.append(value)
        return min(limits) if limits else 512

    @property
    def description(self) -> str:
        """The model reference (id or directory) and pooling."""
        return f"hf:{self._ref} ({self.pooling} pooling)"

    def _compute_fingerprint(self, digest: Callable[[Path], str]) -> str:
        directory = self.model_dir
        weights = weight_files(directory)
        if not weights:
            raise EncoderError(
                f"{directory} has no weights (model*.safetensors or pytorch_model*.bin)"
            )
        files = {
            name: digest(directory / name)
            for name in _TOKENIZER_FILES
            if (directory / name).is_file()
        }
        files.update({p.name: digest(p) for p in weights})
        payload = {
            "family": "transformers",
            "config": _strip_volatile(self.config),
            "files": files,
            "pooling": self.pooling,
            "context_length": self.context_length,
            "precision": self.precision,
        }
        return make_fingerprint(f"hf-{self.pooling}", payload)

    # -- model -----------------------------------------------------------------------------
    def _load(self) -> None:
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
        encoded = self._tokenizer(
            list(texts), add_special_tokens=True, truncation=False, verbose=False
        )
        return [list(map(int, ids)) for ids in encoded["input_ids"]]

    def _forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        import torch

        positions = torch.arange(ids.shape[1], device=ids.device)
        mask = (positions[None, :] < lengths[:, None]).long()
        if self.pooling == "clip":
            return self._model(input_ids=ids, attention_mask=mask).text_embeds  # type: ignore[no-any-return]
        hidden = self._model(input_ids=ids, attention_mask=mask).last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]  # type: ignore[no-any-return]
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)  # type: ignore[no-any-return]
