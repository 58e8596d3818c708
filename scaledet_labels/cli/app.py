"""The ``scaledet-labels`` entry point and its error policy.

A user mistake, any :class:`~scaledet_labels.ScaleDetError` (or an :class:`OSError`: a
missing file, a full disk, a permission), prints one line on stderr and exits with code 2;
no traceback. Anything else is a bug in scaledet-labels (or a dependency) and shows its
full traceback, which a bug report needs. The light commands (``list``, ``show``) never
import torch.

Examples:
    $ scaledet-labels list
    $ scaledet-labels show coco
    $ scaledet-labels show my_classes.txt --json
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

from scaledet_labels.cli.parser import build_parser
from scaledet_labels.errors import ScaleDetError

__all__ = ["build_parser", "main", "run"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 user error).

    Raises:
        Exception: Anything that is not a user mistake (a bug) propagates with its
            traceback.
    """
    args = build_parser().parse_args(argv)
    command: Callable[..., int] = args.func
    try:
        return command(args)
    except BrokenPipeError:  # `| head` closed stdout: not an error
        # keep Python from failing again while flushing stdout at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (ScaleDetError, OSError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"scaledet-labels: error: {message}", file=sys.stderr)
        return 2


def run() -> None:  # pragma: no cover - the console-script entry point
    """Console-script entry point: :func:`main` with ``sys.exit``."""
    sys.exit(main())
