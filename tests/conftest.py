"""Shared pytest fixtures. Keep this file small: fixtures used by several test modules only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture
def tmp_vocab_file(tmp_path: Path) -> Callable[..., Path]:
    """Factory writing a vocabulary file into a fresh temporary folder.

    ``tmp_vocab_file("classes.txt", "cat\\ndog\\n")`` writes text as UTF-8 (no newline
    translation, so ``"\\r\\n"`` stays CRLF); pass ``bytes`` to write raw bytes.
    """

    def make(filename: str, content: str | bytes, *, encoding: str = "utf-8") -> Path:
        path = tmp_path / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content if isinstance(content, bytes) else content.encode(encoding)
        path.write_bytes(data)
        return path

    return make


@pytest.fixture
def clean_registry() -> Iterator[None]:
    """Snapshot the vocabulary registry and restore it afterwards (tests stay independent)."""
    from scaledet_labels.vocab import registry

    factories = dict(registry._factories)
    aliases = dict(registry._aliases)
    loaded = dict(registry._loaded)
    try:
        yield
    finally:
        for saved, live in (
            (factories, registry._factories),
            (aliases, registry._aliases),
            (loaded, registry._loaded),
        ):
            live.clear()
            live.update(saved)


@pytest.fixture(autouse=True, scope="session")
def _isolated_default_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point the default embedding cache at a temporary directory for the whole run.

    Tests never write to the user's cache; tests that care about cache contents pass
    their own directory.
    """
    import os

    saved = os.environ.get("SCALEDET_CACHE")
    os.environ["SCALEDET_CACHE"] = str(tmp_path_factory.mktemp("default_cache"))
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("SCALEDET_CACHE", None)
        else:
            os.environ["SCALEDET_CACHE"] = saved
