"""Text encoders for prompt embeddings: one protocol, a spec parser, one module per family.

Importing this package imports neither torch, transformers nor open_clip; models load on
first use.

Examples:
    >>> enc = load_encoder("minilm", device="cpu")
    >>> enc.fingerprint.startswith("hf-mean-")
    True
"""

from scaledet_labels.embed.encoders.base import (
    Device,
    Encoder,
    EncoderError,
    ModelNotAvailableError,
    Precision,
    TorchTextEncoder,
)
from scaledet_labels.embed.encoders.callable import CallableEncoder
from scaledet_labels.embed.encoders.hf import HFTextEncoder
from scaledet_labels.embed.encoders.minilm import MiniLMEncoder
from scaledet_labels.embed.encoders.openclip import OpenCLIPEncoder
from scaledet_labels.embed.encoders.spec import (
    DEFAULT_ENCODER,
    EncoderSpec,
    EncoderSpecError,
    load_encoder,
    parse_encoder_spec,
)

__all__ = [
    "DEFAULT_ENCODER",
    "CallableEncoder",
    "Device",
    "Encoder",
    "EncoderError",
    "EncoderSpec",
    "EncoderSpecError",
    "HFTextEncoder",
    "MiniLMEncoder",
    "ModelNotAvailableError",
    "OpenCLIPEncoder",
    "Precision",
    "TorchTextEncoder",
    "load_encoder",
    "parse_encoder_spec",
]
