"""Make this directory's helper modules (loss_reference, loss_ddp_worker) importable.

Works with both pytest import modes (prepend and importlib) and in processes spawned by
the DDP test, which inherit ``sys.path``.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
