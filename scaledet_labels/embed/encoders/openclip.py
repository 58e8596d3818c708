"""OpenCLIP text towers as prompt encoders, with exact context trimming.

Specs:

* ``openclip:MODEL/PRETRAINED_TAG``: open_clip's published weights for a tag, e.g.
  ``openclip:ViT-B-32/laion2b_s34b_b79k``. Found in the local Hugging Face (or
  ``~/.cache/clip``) cache, downloaded once only when absent and allowed.
* ``openclip:MODEL@/path/to/checkpoint``: your own weights for a built-in architecture,
  an open_clip ``.safetensors``, ``.bin``, ``.pt`` or ``.pth`` state dict (optionally under
  ``"state_dict"``, ``module.`` prefixes stripped). ``.pt``/``.bin`` files load with
  ``torch.load(weights_only=True)``: a checkpoint that needs unpickling arbitrary objects
  is refused. A text-tower-only state dict is fine.
* ``openclip:hf-hub:ORG/REPO`` and ``openclip:local-dir:/path``: open_clip's own schemas
  (``open_clip_config.json`` plus weights in one repo or directory).

A model name alone (no tag, no checkpoint) is refused: it would be random weights.

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

import difflib
import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scaledet_labels.embed.encoders._hub import (
    hf_offline,
    network_available,
    package_dir,
    resolve_hf_snapshot,
)
from scaledet_labels.embed.encoders.base import (
    EncoderError,
    ModelNotAvailableError,
    TorchTextEncoder,
    check_output,
    make_fingerprint,
)
from scaledet_labels.embed.encoders.hf import _read_json
from scaledet_labels.embed.encoders.packing import (
    TextParts,
    encode_packed,
    forward_trimmed,
    text_parts,
)

if TYPE_CHECKING:
    import torch
    from numpy.typing import NDArray

__all__ = ["OpenCLIPEncoder", "load_openclip_state_dict"]

logger = logging.getLogger(__name__)

_CHECKPOINT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_DIR_CHECKPOINTS = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth",
    "model.safetensors",
    "pytorch_model.bin",
    "pytorch_model.pth",
    "model.pth",
)
_ALLOWED_MISSING = ("visual.", "logit_scale", "logit_bias")


def load_openclip_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read an open_clip checkpoint without unpickling arbitrary objects.

    Raises:
        EncoderError: Missing file, unsupported format, or a checkpoint that is not a plain
            tensor state dict (``weights_only=True`` refuses it).
    """
    import torch

    file = Path(path).expanduser()
    if not file.is_file():
        raise ModelNotAvailableError(f"checkpoint {file} does not exist")
    if file.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state: Any = load_file(str(file), device="cpu")
        except Exception as exc:  # safetensors raises its own error types
            raise EncoderError(f"cannot read safetensors checkpoint {file}: {exc}") from None
    elif file.suffix in (".npz", ".npy"):
        raise EncoderError(
            f"{file}: big_vision .npz checkpoints are not supported; convert to .safetensors"
        )
    else:
        try:
            state = torch.load(file, map_location="cpu", weights_only=True)
        except Exception as exc:  # UnpicklingError, RuntimeError (TorchScript), ...
            raise EncoderError(
                f"{file} is not a plain tensor checkpoint, refusing to unpickle it "
                f"(torch.load weights_only=True: {str(exc).splitlines()[0][:200]}); re-save "
                "its state_dict with safetensors.torch.save_file or torch.save"
            ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state:
        raise EncoderError(f"{file} does not hold a state dict of tensors")
    if all(isinstance(k, str) and k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise EncoderError(f"{file}: entries that are not tensors, e.g. {bad[:3]}")
    return dict(state)


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
        if self._dir_cache is None:
            if self._model_name.startswith("hf-hub:"):
                repo = self._model_name[len("hf-hub:") :]
                self._dir_cache = resolve_hf_snapshot(repo, kind="openclip:hf-hub")
            else:
                directory = Path(self._model_name[len("local-dir:") :]).expanduser()
                if not directory.is_dir():
                    raise ModelNotAvailableError(f"directory {directory} does not exist")
                self._dir_cache = directory
        return self._dir_cache

    @property
    def model_config(self) -> dict[str, Any]:
        """The architecture's open_clip config (read as JSON, open_clip not imported)."""
        if self._config_cache is None:
            if self._model_name.startswith(("hf-hub:", "local-dir:")):
                data = _read_json(self._schema_dir() / "open_clip_config.json")
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
                self._config_cache = _read_json(path)
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

    def _schema_checkpoint(self) -> Path:
        directory = self._schema_dir()
        for name in _DIR_CHECKPOINTS:
            if (directory / name).is_file():
                return directory / name
        raise ModelNotAvailableError(f"{directory} holds no open_clip checkpoint")

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
            payload["weights"] = digest(self._schema_checkpoint())
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
    def _tag_checkpoint(self) -> tuple[Path, dict[str, Any]]:
        """The local file of a pretrained tag's weights (downloaded once if allowed)."""
        import open_clip

        cfg = open_clip.get_pretrained_cfg(self._model_name, self._pretrained or "")
        if not cfg:
            tags = open_clip.list_pretrained_tags_by_model(self._model_name)
            raise EncoderError(
                f"open_clip has no pretrained tag {self._pretrained!r} for {self._model_name}; "
                f"known: {', '.join(tags) if tags else 'none'}"
            )
        offline = hf_offline() or not network_available()
        how = (
            f'download it once with network access (python -c "import open_clip; '
            f"open_clip.create_model('{self._model_name}', pretrained='{self._pretrained}')\"), "
            f"or pass your own file: openclip:{self._model_name}@/path/to/checkpoint"
        )
        hub = str(cfg.get("hf_hub") or "")
        url = str(cfg.get("url") or "")
        if hub:
            import huggingface_hub

            repo, filename = os.path.split(hub)  # "org/repo/" -> ("org/repo", "")
            names = (
                [filename]
                if filename
                else [
                    "open_clip_model.safetensors",
                    "open_clip_pytorch_model.bin",
                ]
            )
            for name in names:
                found = huggingface_hub.try_to_load_from_cache(repo, name)
                if isinstance(found, str):
                    return Path(found), cfg
            if offline:
                raise ModelNotAvailableError(
                    f"weights of {self.description} are not in the local Hugging Face cache "
                    f"and the hub cannot be used (offline or no network); {how}"
                )
            last: Exception | None = None
            for name in names:
                try:
                    return Path(huggingface_hub.hf_hub_download(repo, name)), cfg
                except Exception as exc:  # try the next file name
                    last = exc
            raise ModelNotAvailableError(f"could not download {self.description}: {last}; {how}")
        if url:
            target = Path(os.path.expanduser("~/.cache/clip")) / os.path.basename(url)
            if target.is_file():
                return target, cfg
            if offline:
                raise ModelNotAvailableError(
                    f"weights of {self.description} are not in ~/.cache/clip and the network "
                    f"cannot be used; {how}"
                )
            from open_clip.pretrained import download_pretrained_from_url

            return Path(download_pretrained_from_url(url)), cfg
        raise EncoderError(f"open_clip's entry for {self.description} names no file")

    def _load(self) -> None:
        try:
            import open_clip
        except ImportError:  # pragma: no cover - a declared dependency
            raise EncoderError(
                "openclip: encoders need open_clip: pip install open_clip_torch"
            ) from None
        dtype = self._torch_dtype()
        quick_gelu = False
        if self._pretrained:
            path, cfg = self._tag_checkpoint()
            quick_gelu = bool(cfg.get("quick_gelu", False))
        elif self._checkpoint:
            path = self._checkpoint
        else:
            path = self._schema_checkpoint()
        name = self._model_name
        if name.startswith("hf-hub:"):
            name = f"local-dir:{self._schema_dir()}"
        model = open_clip.create_model(
            name,
            pretrained=None,
            load_weights=False,
            force_quick_gelu=quick_gelu,
            pretrained_image=False,
            pretrained_text=False,
        )
        state = load_openclip_state_dict(path)
        self._load_weights(model, state, path)
        if hasattr(model, "visual"):
            del model.visual  # the image tower is never used here
        self._model = model.to(device=self.device, dtype=dtype).eval()
        self._tokenizer = open_clip.get_tokenizer(name)
        self._setup_tower()

    @staticmethod
    def _load_weights(model: Any, state: dict[str, Any], path: Path) -> None:
        import open_clip

        if "positional_embedding" in state and not hasattr(model, "positional_embedding"):
            convert = getattr(open_clip.model, "convert_to_custom_text_state_dict", None)
            if convert is not None:
                state = convert(state)
        for key in ("logit_scale", "logit_bias"):
            ours = getattr(model, key, None)
            if key in state and ours is not None and ours.ndim != state[key].ndim:
                state[key] = state[key].reshape(ours.shape)
        try:
            result = model.load_state_dict(state, strict=False)
        except RuntimeError as exc:
            raise EncoderError(
                f"{path} does not fit {type(model).__name__}: {str(exc).splitlines()[-1][:300]}"
            ) from None
        missing = [k for k in result.missing_keys if not k.startswith(_ALLOWED_MISSING)]
        unexpected = [k for k in result.unexpected_keys if "position_ids" not in k]
        if missing or unexpected:
            raise EncoderError(
                f"{path} does not fit the model: missing {sorted(missing)[:3]}, "
                f"unexpected {sorted(unexpected)[:3]} (is it for another architecture?)"
            )

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
