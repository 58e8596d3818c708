"""A fake Hugging Face hub cache for the encoder tests (imported by test_hub, test_openclip).

The layout is the real cache's (``models--org--name/refs/main``,
``snapshots/<commit>/...``); ``huggingface_hub.constants`` is pointed at it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from huggingface_hub import constants

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def make_snapshot(cache: Path, repo_id: str, files: Mapping[str, Path | bytes]) -> Path:
    """A snapshot of ``repo_id`` holding ``files`` (paths hard-linked, bytes written),
    with its main ref pointing at it."""
    repo_dir = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo_dir / "snapshots" / COMMIT
    for name, data in files.items():
        (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, Path):
            (snapshot / name).hardlink_to(data)
        else:
            (snapshot / name).write_bytes(data)
    (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / "main").write_text(COMMIT)
    return snapshot


def offline_hub(monkeypatch: pytest.MonkeyPatch, cache: Path) -> Path:
    """Point huggingface_hub at an empty fake cache ``cache``, offline."""
    cache.mkdir(parents=True, exist_ok=True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    return cache


def unreachable_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    """Online mode, but the hub endpoint refuses connections (as a missing network does)."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
