"""Encoder spec strings and :func:`load_encoder`, shared by the API and the CLI.

=============================================== =============================================
spec                                            encoder
=============================================== =============================================
``minilm``                                      all-MiniLM-L6-v2 (default, offline)
``openclip:MODEL/TAG``                          open_clip weights for a pretrained tag
``openclip:MODEL@/path/to/checkpoint``          your checkpoint for an open_clip architecture
``openclip:hf-hub:ORG/REPO``                    an open_clip repo on the Hugging Face hub
``openclip:local-dir:/path``                    an open_clip model directory
``hf:MODEL_ID_OR_DIR``                          a transformers model (CLIP text or mean-pooled)
=============================================== =============================================

Examples:
    >>> spec = parse_encoder_spec("openclip:ViT-B-32/laion2b_s34b_b79k")
    >>> spec.family, spec.model, spec.pretrained
    ('openclip', 'ViT-B-32', 'laion2b_s34b_b79k')
    >>> parse_encoder_spec("openclip:ViT-B-32@/ckpt/model.safetensors").checkpoint
    '/ckpt/model.safetensors'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from scaledet_labels.embed.encoders.base import Encoder
from scaledet_labels.errors import EncoderSpecError

__all__ = [
    "DEFAULT_ENCODER",
    "EncoderSpec",
    "EncoderSpecError",
    "load_encoder",
    "parse_encoder_spec",
]

DEFAULT_ENCODER = "minilm"
EncoderFamily = Literal["minilm", "openclip", "hf"]

_FORMS = (
    "'minilm', 'openclip:MODEL/PRETRAINED_TAG', 'openclip:MODEL@/path/to/checkpoint', "
    "'openclip:hf-hub:ORG/REPO', 'openclip:local-dir:/path' or 'hf:MODEL_ID_OR_DIR'"
)


@dataclass(frozen=True)
class EncoderSpec:
    """A parsed encoder spec.

    Attributes:
        family: ``"minilm"``, ``"openclip"`` or ``"hf"``.
        model: The architecture, hub id or directory.
        pretrained: An open_clip pretrained tag.
        checkpoint: An open_clip checkpoint path.
    """

    family: EncoderFamily
    model: str = ""
    pretrained: str | None = None
    checkpoint: str | None = None

    def __str__(self) -> str:
        if self.family == "minilm":
            return "minilm"
        if self.family == "hf":
            return f"hf:{self.model}"
        if self.pretrained:
            return f"openclip:{self.model}/{self.pretrained}"
        if self.checkpoint:
            return f"openclip:{self.model}@{self.checkpoint}"
        return f"openclip:{self.model}"


def parse_encoder_spec(spec: str) -> EncoderSpec:
    """Parse an encoder spec string (see the module table).

    Raises:
        EncoderSpecError: Not a string, an unknown family or a missing part.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise EncoderSpecError(f"an encoder spec must be a non-empty string; use {_FORMS}")
    text = spec.strip()
    family, sep, rest = text.partition(":")
    family = family.lower()
    if family == "minilm" and (not sep or rest in ("", "all-MiniLM-L6-v2")):
        return EncoderSpec("minilm")
    if family == "hf" and sep:
        if not rest.strip():
            raise EncoderSpecError(f"{spec!r}: hf: needs a model id or directory")
        return EncoderSpec("hf", rest.strip())
    if family == "openclip" and sep:
        if rest.startswith(("hf-hub:", "local-dir:")):
            return EncoderSpec("openclip", rest)
        model_tag, at, checkpoint = rest.partition("@")
        if at:
            if not model_tag or not checkpoint:
                raise EncoderSpecError(f"{spec!r}: expected openclip:MODEL@/path/to/checkpoint")
            if "/" in model_tag:
                raise EncoderSpecError(f"{spec!r}: give a pretrained tag or a checkpoint, not both")
            return EncoderSpec("openclip", model_tag, checkpoint=checkpoint)
        model, slash, tag = model_tag.partition("/")
        if not model or (slash and not tag):
            raise EncoderSpecError(f"{spec!r}: expected openclip:MODEL/PRETRAINED_TAG")
        return EncoderSpec("openclip", model, pretrained=tag or None)
    raise EncoderSpecError(f"unknown encoder spec {spec!r}; use {_FORMS}")


def load_encoder(
    spec: str | EncoderSpec = DEFAULT_ENCODER,
    *,
    device: str = "auto",
    precision: str = "fp32",
) -> Encoder:
    """Build the encoder a spec names. Nothing heavy is imported or loaded yet: the model
    loads on first :meth:`encode`, and the fingerprint is computed from files.

    Args:
        spec: A spec string or :class:`EncoderSpec`.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        precision: ``"fp32"``, or on a GPU ``"fp16"``/``"bf16"`` (part of the fingerprint).

    Raises:
        EncoderSpecError: A malformed spec.
        EncoderError: Bad device/precision, or an open_clip model without weights.
        ModelNotAvailableError: The model is missing and cannot be fetched (raised when
            the fingerprint or model is first needed).

    Examples:
        >>> load_encoder("minilm", device="cpu").dim
        384
    """
    parsed = spec if isinstance(spec, EncoderSpec) else parse_encoder_spec(spec)
    if parsed.family == "minilm":
        from scaledet_labels.embed.encoders.minilm import MiniLMEncoder

        return MiniLMEncoder(device=device, precision=precision)
    if parsed.family == "hf":
        from scaledet_labels.embed.encoders.hf import HFTextEncoder

        return HFTextEncoder(parsed.model, device=device, precision=precision)
    from scaledet_labels.embed.encoders.openclip import OpenCLIPEncoder

    return OpenCLIPEncoder(
        parsed.model,
        pretrained=parsed.pretrained,
        checkpoint=parsed.checkpoint,
        device=device,
        precision=precision,
    )
