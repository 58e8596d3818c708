"""Layer 4, the ``scaledet-labels`` command line: argument parsing, printing, exit codes.

Examples:
    $ scaledet-labels list
    $ scaledet-labels build coco lvis oid
"""

from scaledet_labels.cli.app import build_parser, main, run

__all__ = ["build_parser", "main", "run"]
