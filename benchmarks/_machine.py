"""Machine description shared by the benchmark scripts."""

from __future__ import annotations

import contextlib
import platform
import subprocess


def cpu_model() -> str:
    """The CPU model name from ``lscpu``, else ``platform.processor()``, else "unknown CPU"."""
    model = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    return model
