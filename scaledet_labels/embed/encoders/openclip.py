"""OpenCLIP text towers as prompt encoders, with exact context trimming.

Specs:

* ``openclip:MODEL/PRETRAINED_TAG``: open_clip's published weights for a tag, e.g.
  ``openclip:ViT-B-32/laion2b_s34b_b79k``. The tag's hub file (safetensors first, as
  open_clip picks it) is found in the local Hugging Face cache, downloaded once only when
  absent and allowed, and loaded by ``open_clip.create_model(MODEL, pretrained=FILE)``.
* ``openclip:MODEL@/path/to/checkpoint``: your own weights for a built-in architecture,
  any checkpoint ``open_clip.load_checkpoint`` reads: a ``.safetensors``, ``.bin``,
  ``.pt`` or ``.pth`` state dict (optionally under ``"state_dict"``, ``module.`` prefixes
  stripped). open_clip reads torch files with ``torch.load(weights_only=True)``: a
  checkpoint that needs unpickling arbitrary objects is refused. A text-tower-only state
  dict is fine.
* ``openclip:hf-hub:ORG/REPO`` and ``openclip:local-dir:/path``: open_clip's own schemas
  (``open_clip_config.json`` plus weights in one repo or directory). A hub repo is looked
  up in the local Hugging Face cache first; either is loaded by
  ``open_clip.create_model("local-dir:...")``.

A model name alone (no tag, no checkpoint) is refused: it would be random weights. The
image tower is dropped once the weights are in.

The fingerprint is computed from files, without importing torch or open_clip: the
architecture's config JSON, the tokenizer vocabulary, and the weights (the tag's name, or
SHA-256 of the checkpoint / of every weight file in a schema directory).

Speed: standard CLIP text towers use a causal attention mask and pool the EOT token, so a
prompt's embedding does not depend on the padding after it. Prompts are tokenized once
and packed into rows that share each template's token prefix (see
:mod:`scaledet_labels.embed.encoders.packing`); towers with custom attention blocks run in
length-sorted batches padded only to each batch's longest prompt. Towers that attend to
padding (``no_causal_mask``: SigLIP and similar; CoCa's appended CLS token; ``last``
pooling; non-BPE tokenizers) take open_clip's own full-context path.

Examples:
    >>> import open_clip  # doctest: +SKIP
    >>> model = open_clip.create_model("ViT-B-32", pretrained=None)  # doctest: +SKIP
    >>> enc = OpenCLIPEncoder.from_model(model, fingerprint="my-random-vit")  # doctest: +SKIP
    >>> enc.encode(["a photo of a dog."]).shape  # doctest: +SKIP
    (1, 512)
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import logging
import os
import pickle
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scaledet_labels.embed.encoders._hub import (
    package_dir,
    read_json,
    resolve_hf_file,
    resolve_hf_snapshot,
    weight_files,
)
from scaledet_labels.embed.encoders.base import (
    EncoderError,
    ModelNotAvailableError,
    TorchTextEncoder,
    check_output,
    make_fingerprint,
)
from scaledet_labels.embed.encoders.packing import (
    TextParts,
    encode_packed,
    forward_trimmed,
    text_parts,
)

if TYPE_CHECKING:
    import torch
    from numpy.typing import NDArray

__all__ = ["OpenCLIPEncoder"]

logger = logging.getLogger(__name__)

#: Keys a text-encoder checkpoint may lack: the image tower and the contrastive scales.
_ALLOWED_MISSING = ("visual.", "logit_scale", "logit_bias")
#: The start of open_clip's warning for a model created without weights.
_RANDOM_INIT_NOTICE = "No pretrained weights loaded"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class _DropRandomInitNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(_RANDOM_INIT_NOTICE)


@contextlib.contextmanager
def _architecture_only() -> Iterator[None]:
    """Silence open_clip's "initialized randomly" warning while it builds the bare model
    a checkpoint is loaded into next (open_clip logs it on the root logger)."""
    root = logging.getLogger()
    notice = _DropRandomInitNotice()
    root.addFilter(notice)
    try:
        yield
    finally:
        root.removeFilter(notice)


def _load_error(source: object, exc: Exception, model: str) -> EncoderError:
    """One clear error for a failed open_clip load of ``source`` into architecture ``model``."""
    lines = [line.strip() for line in _ANSI.sub("", str(exc)).splitlines() if line.strip()]
    if isinstance(exc, pickle.UnpicklingError) or "weights_only" in str(exc):
        # torch explains a refused global on its "WeightsUnpickler error:" line
        why = next((ln for ln in lines if ln.startswith("WeightsUnpickler error:")), "")
        reason = why.partition(":")[2].strip().split(". ")[0] if why else lines[0] if lines else ""
        return EncoderError(
            f"{source} is not a plain tensor checkpoint, refusing to unpickle it (torch.load "
            f"weights_only=True: {reason[:200] or type(exc).__name__}); re-save its state_dict "
            "with safetensors.torch.save_file or torch.save"
        )
    if isinstance(exc, (RuntimeError, AssertionError, KeyError)):
        # torch's load_state_dict lists size mismatches last; open_clip asserts widths
        detail = lines[-1][:300] if lines else type(exc).__name__
        return EncoderError(
            f"{source} does not fit the open_clip model {model}: {detail} (is it for another "
            "architecture?)"
        )
    detail = f": {lines[0][:300]}" if lines else ""
    return EncoderError(f"cannot load {source} into {model}: {type(exc).__name__}{detail}")


def _is_bpe(tokenizer: Any) -> bool:
    return (
        hasattr(tokenizer, "encode")
        and hasattr(tokenizer, "sot_token_id")
        and hasattr(tokenizer, "eot_token_id")
        and getattr(tokenizer, "reduction_fn", None) is None
    )


class OpenCLIPEncoder(TorchTextEncoder):
    """An open_clip text tower as a prompt encoder.

    Args:
        model_name: A built-in open_clip architecture (``ViT-B-32``), or
            ``hf-hub:ORG/REPO`` / ``local-dir:/path``.
        pretrained: A pretrained tag of ``model_name`` (e.g. ``laion2b_s34b_b79k``).
        checkpoint: A checkpoint file for ``model_name``.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        precision: ``"fp32"``; ``"fp16"`` or ``"bf16"`` on a GPU.

    Raises:
        EncoderError: No weights named, both a tag and a checkpoint, or a bad option.

    Examples:
        >>> enc = OpenCLIPEncoder("ViT-B-32", checkpoint="/ckpt/vit_b_32.safetensors")
        >>> enc.dim, enc.context_length  # from open_clip's config file; nothing loaded
        (512, 77)
        >>> OpenCLIPEncoder("ViT-B-32")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        scaledet_labels.errors.EncoderError: openclip:ViT-B-32 names no weights (it would be ...
    """

    default_batch_size = 64
    #: Prompts per forward pass when packing (about 5,000 tokens of CLIP prompts).
    packed_batch_size = 512

    def __init__(
        self,
        model_name: str,
        *,
        pretrained: str | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        device: str = "auto",
        precision: str = "fp32",
    ) -> None:
        super().__init__(device=device, precision=precision)
        schema = model_name.startswith(("hf-hub:", "local-dir:"))
        if pretrained and checkpoint:
            raise EncoderError("give a pretrained tag or a checkpoint, not both")
        if schema and (pretrained or checkpoint):
            raise EncoderError(
                f"openclip:{model_name} carries its own weights; drop the tag/checkpoint"
            )
        if not schema and not pretrained and not checkpoint:
            raise EncoderError(
                f"openclip:{model_name} names no weights (it would be randomly initialised); "
                f"use openclip:{model_name}/PRETRAINED_TAG or openclip:{model_name}@/path/to/"
                "checkpoint"
            )
        self._model_name = model_name
        self._pretrained = pretrained
        self._checkpoint = Path(checkpoint).expanduser() if checkpoint else None
        self._given_fingerprint: str | None = None
        self._model: Any = None
        self._tokenizer: Any = None
        self._parts: TextParts | None = None
        self._config_cache: dict[str, Any] | None = None
        self._dir_cache: Path | None = None
        self._dim_override: int | None = None

    @classmethod
    def from_model(
        cls,
        model: Any,
        tokenizer: Any = None,
        *,
        fingerprint: str | None = None,
        name: str = "custom",
    ) -> OpenCLIPEncoder:
        """Wrap an open_clip model you already have (it is used as is, on its device).

        Args:
            model: An open_clip ``CLIP``/``CustomTextCLIP``.
            tokenizer: Its tokenizer (default: open_clip's CLIP BPE tokenizer with the
                model's context length).
            fingerprint: The identity of its numbers; default: a SHA-256 of the text
                tower's tensors (computed once).
            name: A description for cache statistics.

        Examples:
            >>> import open_clip  # doctest: +SKIP
            >>> model = open_clip.create_model("ViT-B-32", pretrained=None)  # doctest: +SKIP
            >>> OpenCLIPEncoder.from_model(model, fingerprint="random-b32").dim  # doctest: +SKIP
            512
        """
        import open_clip
        import torch

        self = cls.__new__(cls)
        param = next(iter(model.parameters()))
        precision = {torch.float16: "fp16", torch.bfloat16: "bf16"}.get(param.dtype, "fp32")
        TorchTextEncoder.__init__(self, device=str(param.device), precision=precision)
        self._model_name = name
        self._pretrained = None
        self._checkpoint = None
        self._config_cache = {}
        self._dir_cache = None
        self._given_fingerprint = fingerprint
        self._model = model.eval()
        context = int(getattr(model, "context_length", 0) or 77)
        self._tokenizer = tokenizer or open_clip.SimpleTokenizer(context_length=context)
        self._dim_override = None
        self._setup_tower()
        self._loaded = True
        with torch.inference_mode():
            probe = self._tokenizer(["a"]).to(param.device)
            self._dim_override = int(model.encode_text(probe).shape[-1])
        return self

    # -- files (no heavy imports) ----------------------------------------------------------
    def _schema_dir(self) -> Path:
        """The directory of an ``hf-hub:`` / ``local-dir:`` model; it holds weights."""
        if self._dir_cache is None:
            if self._model_name.startswith("hf-hub:"):
                repo = self._model_name[len("hf-hub:") :]
                directory = resolve_hf_snapshot(repo, kind="openclip")
            else:
                directory = Path(self._model_name[len("local-dir:") :]).expanduser()
                if not directory.is_dir():
                    raise ModelNotAvailableError(f"directory {directory} does not exist")
                if not weight_files(directory, "openclip"):
                    raise ModelNotAvailableError(
                        f"{directory} holds no open_clip checkpoint (*.safetensors, *.bin or "
                        "*.pth next to open_clip_config.json); save the model's state_dict "
                        "there, or use openclip:MODEL@/path/to/checkpoint"
                    )
            self._dir_cache = directory
        return self._dir_cache

    @property
    def model_config(self) -> dict[str, Any]:
        """The architecture's open_clip config (read as JSON, open_clip not imported)."""
        if self._config_cache is None:
            if self._model_name.startswith(("hf-hub:", "local-dir:")):
                data = read_json(self._schema_dir() / "open_clip_config.json")
                config = data.get("model_cfg")
                if not isinstance(config, dict):
                    raise EncoderError(
                        f"{self._schema_dir()}: open_clip_config.json lacks model_cfg"
                    )
                self._config_cache = config
            else:
                root = package_dir("open_clip")
                if root is None:
                    raise EncoderError(
                        "openclip: encoders need open_clip: pip install open_clip_torch"
                    )
                configs = root / "model_configs"
                path = configs / f"{self._model_name}.json"
                if not path.is_file():
                    names = sorted(p.stem for p in configs.glob("*.json"))
                    close = difflib.get_close_matches(self._model_name, names, n=3)
                    hint = f"; did you mean {', '.join(close)}?" if close else ""
                    raise EncoderError(
                        f"unknown open_clip model {self._model_name!r}{hint} (open_clip has "
                        f"{len(names)} configs, e.g. ViT-B-32, ViT-L-14)"
                    )
                self._config_cache = read_json(path)
        return self._config_cache

    @property
    def dim(self) -> int:
        """Embedding dimension (``embed_dim``)."""
        if self._dim_override is not None:
            return self._dim_override
        value = self.model_config.get("embed_dim")
        if not isinstance(value, int):
            raise EncoderError(f"open_clip config of {self._model_name} has no embed_dim")
        return value

    @property
    def context_length(self) -> int:
        """Most tokens per prompt (``text_cfg.context_length``, 77 for CLIP)."""
        if self._model is not None and self._tokenizer is not None:
            value = getattr(self._tokenizer, "context_length", None)
            if isinstance(value, int):
                return value
        text_cfg = self.model_config.get("text_cfg", {})
        value = text_cfg.get("context_length", 77) if isinstance(text_cfg, dict) else 77
        return int(value)

    @property
    def description(self) -> str:
        """The spec this encoder was made from."""
        if self._pretrained:
            return f"openclip:{self._model_name}/{self._pretrained}"
        if self._checkpoint:
            return f"openclip:{self._model_name}@{self._checkpoint}"
        return f"openclip:{self._model_name}"

    def _compute_fingerprint(self, digest: Callable[[Path], str]) -> str:
        if self._given_fingerprint is not None:
            return self._given_fingerprint
        if self._model is not None and not self.model_config:  # from_model, no fingerprint
            return self._state_fingerprint()
        config = self.model_config
        payload: dict[str, Any] = {
            "family": "open_clip",
            "config": config,
            "context_length": self.context_length,
            "precision": self.precision,
        }
        text_cfg = config.get("text_cfg", {})
        if not (isinstance(text_cfg, dict) and text_cfg.get("hf_tokenizer_name")):
            root = package_dir("open_clip")
            vocab = root / "bpe_simple_vocab_16e6.txt.gz" if root else None
            if vocab is not None and vocab.is_file():
                payload["tokenizer"] = digest(vocab)
        if self._pretrained:
            # A published tag names fixed weights; open_clip resolves it to the same file.
            payload["weights"] = {"model": self._model_name, "pretrained": self._pretrained}
        elif self._checkpoint:
            if not self._checkpoint.is_file():
                raise ModelNotAvailableError(f"checkpoint {self._checkpoint} does not exist")
            payload["weights"] = digest(self._checkpoint)
        else:
            # Every candidate open_clip's local-dir loader may pick: whichever it loads,
            # a change to it changes the identity.
            files = weight_files(self._schema_dir(), "openclip")
            payload["weights"] = {p.name: digest(p) for p in files}
        return make_fingerprint("openclip", payload)

    def _state_fingerprint(self) -> str:
        sha = hashlib.sha256()
        for key, tensor in sorted(self._model.state_dict().items()):
            if key.startswith("visual."):
                continue
            sha.update(key.encode())
            sha.update(str(tensor.dtype).encode())
            sha.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
        return make_fingerprint("openclip", {"state": sha.hexdigest(), "ctx": self.context_length})

    # -- model -----------------------------------------------------------------------------
    def _tag_file(self, open_clip: Any, cfg: dict[str, Any]) -> Path:
        """The local file of a pretrained tag's weights (downloaded once if allowed).

        The candidates are the ones ``open_clip.download_pretrained`` fetches: the tag's
        hub file, with its safetensors alternative first.
        """
        if cfg.get("file"):
            return Path(str(cfg["file"])).expanduser()
        how = (
            f'download it once with network access (python -c "import open_clip; '
            f"open_clip.create_model('{self._model_name}', pretrained='{self._pretrained}')\"), "
            f"or pass your own file: openclip:{self._model_name}@/path/to/checkpoint"
        )
        hub = str(cfg.get("hf_hub") or "")
        if not hub:
            raise EncoderError(
                f"open_clip's entry for {self.description} names no Hugging Face hub file; "
                f"pass the weights as a file: openclip:{self._model_name}@/path/to/checkpoint"
            )
        from open_clip.constants import HF_WEIGHTS_NAME

        repo, filename = os.path.split(hub)  # "org/repo/" -> ("org/repo", "")
        filename = filename or HF_WEIGHTS_NAME
        alternatives = getattr(open_clip.pretrained, "_get_safe_alternatives", None)
        names = [*(alternatives(filename) if alternatives else ()), filename]
        return resolve_hf_file(repo, names, hint=how)

    def _create(self, open_clip: Any, name: str, source: object, **kwargs: Any) -> Any:
        """``open_clip.create_model`` on the CPU, its failures as one :class:`EncoderError`."""
        try:
            return open_clip.create_model(
                name,
                weights_only=True,
                pretrained_image=False,
                pretrained_text=False,
                **kwargs,
            )
        except Exception as exc:  # open_clip raises RuntimeError, ValueError, OSError, ...
            raise _load_error(source, exc, name) from None

    def _create_from_checkpoint(self, open_clip: Any, path: Path) -> Any:
        """The architecture, then ``open_clip.load_checkpoint(strict=False)``.

        ``create_model(pretrained=FILE)`` loads strictly, which refuses a text-tower-only
        state dict; ``load_checkpoint`` with ``strict=False`` takes it, and the missing keys
        are checked here instead: only the image tower and the logit scales may be absent.
        """
        if not path.is_file():
            raise ModelNotAvailableError(f"checkpoint {path} does not exist")
        with _architecture_only():
            model = self._create(open_clip, self._model_name, path)
        try:
            result = open_clip.load_checkpoint(model, str(path), strict=False, weights_only=True)
        except Exception as exc:  # unpickling refused, size mismatch, unreadable file, ...
            raise _load_error(path, exc, self._model_name) from None
        missing = [
            k for k in getattr(result, "missing_keys", ()) if not k.startswith(_ALLOWED_MISSING)
        ]
        unexpected = list(getattr(result, "unexpected_keys", ()))
        if missing or unexpected:
            raise EncoderError(
                f"{path} does not fit the open_clip model {self._model_name}: missing "
                f"{sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]} (is it for "
                "another architecture?)"
            )
        return model

    def _load(self) -> None:
        try:
            import open_clip
        except ImportError:  # pragma: no cover - a declared dependency
            raise EncoderError(
                "openclip: encoders need open_clip: pip install open_clip_torch"
            ) from None
        dtype = self._torch_dtype()
        name = self._model_name
        if self._pretrained:
            cfg = open_clip.get_pretrained_cfg(name, self._pretrained)
            if not cfg:
                tags = open_clip.list_pretrained_tags_by_model(name)
                raise EncoderError(
                    f"open_clip has no pretrained tag {self._pretrained!r} for {name}; "
                    f"known: {', '.join(tags) if tags else 'none'}"
                )
            path = self._tag_file(open_clip, cfg)
            model = self._create(
                open_clip,
                name,
                path,
                pretrained=str(path),
                force_quick_gelu=bool(cfg.get("quick_gelu", False)),
            )
        elif self._checkpoint:
            model = self._create_from_checkpoint(open_clip, self._checkpoint)
        else:
            name = f"local-dir:{self._schema_dir()}"
            model = self._create(open_clip, name, self._schema_dir())
        if hasattr(model, "visual"):
            del model.visual  # the image tower is never used here
        self._model = model.to(device=self.device, dtype=dtype).eval()
        self._tokenizer = open_clip.get_tokenizer(name)
        self._setup_tower()

    def _setup_tower(self) -> None:
        parts, why = text_parts(self._model)
        if parts is not None and not _is_bpe(self._tokenizer):
            parts, why = None, "uses a non-BPE tokenizer"
        self._parts = parts
        if parts is None:
            logger.info("%s: full-context encoding (the text tower %s)", self.description, why)

    @property
    def trims_context(self) -> bool:
        """Whether batches are cut to their longest prompt (causal towers)."""
        self._ensure_loaded()
        return self._parts is not None

    @property
    def _pad_to_context(self) -> bool:
        return self._parts is None

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text with start/end tokens, before truncation."""
        self._ensure_loaded()
        if _is_bpe(self._tokenizer):
            return [len(self._tokenizer.encode(t)) + 2 for t in texts]
        inner = getattr(self._tokenizer, "tokenizer", None)
        if inner is not None:
            return [len(inner(t, truncation=False)["input_ids"]) for t in texts]
        return [0 for _ in texts]  # unknown tokenizer: length cannot be checked

    def _token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        tok = self._tokenizer
        sot, eot = int(tok.sot_token_id), int(tok.eot_token_id)
        return [[sot, *tok.encode(t), eot] for t in texts]

    @property
    def packs_prompts(self) -> bool:
        """Whether several prompts share one row of a batch (standard causal towers)."""
        self._ensure_loaded()
        return self._parts is not None and self._parts.heads is not None

    def encode(self, texts: Sequence[str], *, batch_size: int | None = None) -> NDArray[np.float32]:
        """Embed texts; float32 ``(len(texts), dim)`` (open_clip's unnormalized features)."""
        self._ensure_loaded()
        if batch_size is not None and (isinstance(batch_size, bool) or batch_size < 1):
            raise EncoderError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not _is_bpe(self._tokenizer):
            return self._encode_opaque(list(texts), batch_size)
        if self.packs_prompts and texts:
            return self._encode_packed(list(texts), batch_size)
        return super().encode(texts, batch_size=batch_size)

    def _encode_packed(self, texts: list[str], batch_size: int | None) -> NDArray[np.float32]:
        """Shared-prefix packed rows (see :func:`~.packing.encode_packed`)."""
        import torch

        if self._parts is None:  # pragma: no cover - callers check
            raise EncoderError("internal: packing needs a standard causal text tower")
        device = torch.device(self.device)
        size = batch_size or self.packed_batch_size * (4 if device.type == "cuda" else 1)
        ids = self._truncate(self._token_ids(texts), texts)
        out = encode_packed(self._parts, ids, dim=self.dim, device=device, prompts_per_batch=size)
        return check_output(out, len(texts), self.dim, self.description)

    def _encode_opaque(self, texts: list[str], batch_size: int | None) -> NDArray[np.float32]:
        """open_clip's own path for tokenizers we cannot drive token by token."""
        import torch

        size = batch_size or self.default_batch_size
        rows = []
        with torch.inference_mode():
            for start in range(0, len(texts), size):
                tokens = self._tokenizer(texts[start : start + size]).to(self.device)
                rows.append(self._model.encode_text(tokens).float().cpu().numpy())
        out = np.concatenate(rows) if rows else np.zeros((0, 0), np.float32)
        return check_output(out, len(texts), None, self.description)

    def _forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        parts = self._parts
        if parts is None:
            return self._model.encode_text(ids)  # type: ignore[no-any-return]
        return forward_trimmed(parts, ids)
