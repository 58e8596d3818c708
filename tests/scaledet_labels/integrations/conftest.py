"""ultralytics runs offline and quietly in these tests, with its settings file in a temporary
directory (it writes one on import) and no network checks or usage events."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

_ENV = ("YOLO_OFFLINE", "YOLO_CONFIG_DIR", "YOLO_VERBOSE")


@pytest.fixture(scope="session", autouse=True)
def _ultralytics_offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Set before ultralytics is first imported (the test modules import it lazily)."""
    saved = {name: os.environ.get(name) for name in _ENV}
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_CONFIG_DIR"] = str(tmp_path_factory.mktemp("ultralytics-config"))
    os.environ["YOLO_VERBOSE"] = "False"
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
