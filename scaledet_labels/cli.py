"""The ``scaledet-labels`` command line.

User mistakes print one line on stderr and exit with code 2; no traceback. The light
commands (``list``, ``show``) never import torch.

Example:
    $ scaledet-labels list
    $ scaledet-labels show coco
    $ scaledet-labels show my_classes.txt --json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from scaledet_labels._version import __version__

__all__ = ["main"]

_EPILOG_MAIN = """examples:
  scaledet-labels list
  scaledet-labels show lvis --limit 10
  scaledet-labels show my_classes.txt --json
"""


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines)


def _cmd_list(args: argparse.Namespace) -> int:
    from scaledet_labels.builtin import BUILTIN_ALIASES
    from scaledet_labels.registry import available_vocabularies, load_vocabulary

    entries: list[dict[str, Any]] = []
    for name in available_vocabularies():
        vocab = load_vocabulary(name)
        aliases = [a for a, target in BUILTIN_ALIASES.items() if target == name]
        entries.append(
            {"name": name, "labels": len(vocab), "aliases": aliases, "source": vocab.source}
        )
    if args.json:
        print(json.dumps(entries, indent=1))
    else:
        rows = [[e["name"], str(e["labels"]), ", ".join(e["aliases"])] for e in entries]
        print(_table(rows, ["name", "labels", "aliases"]))
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from scaledet_labels.registry import load_vocabulary

    vocab = load_vocabulary(args.vocabulary, format=args.format)
    labels = vocab.labels if args.limit is None else vocab.labels[: args.limit]
    if args.json:
        print(
            json.dumps(
                {
                    "name": vocab.name,
                    "source": vocab.source,
                    "count": len(vocab),
                    "labels": [label.to_dict() for label in labels],
                },
                ensure_ascii=False,
                indent=1,
            )
        )
        return 0
    rows = [
        [str(label.index), str(label.id), label.name, label.clean_name, ", ".join(label.synonyms)]
        for label in labels
    ]
    print(f"{vocab.name}: {len(vocab)} labels (source: {vocab.source})")
    print(_table(rows, ["index", "id", "name", "clean name", "synonyms"]))
    if len(labels) < len(vocab):
        print(f"... {len(vocab) - len(labels)} more (use --limit)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command (exposed for docs and tests)."""
    parser = argparse.ArgumentParser(
        prog="scaledet-labels",
        description="Unified label spaces and label embeddings for multi-dataset detection.",
        epilog=_EPILOG_MAIN,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser(
        "list",
        help="list the built-in vocabularies with their label counts",
        description="List the built-in vocabularies with their label counts.",
        epilog="examples:\n  scaledet-labels list\n  scaledet-labels list --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser(
        "show",
        help="print a vocabulary (built-in name or file) as a table",
        description="Print a vocabulary as a table: index, dataset id, raw and clean names, "
        "synonyms.",
        epilog="examples:\n  scaledet-labels show coco\n  scaledet-labels show lvis --limit 5\n"
        "  scaledet-labels show classes.txt --json\n  scaledet-labels show 'cat, dog'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "vocabulary",
        metavar="NAME_OR_FILE",
        help="a built-in name, a .txt/.json/.csv/.tsv file, or 'a, b, c'",
    )
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    p.add_argument("--limit", type=_positive_int, default=None, help="show the first N labels")
    p.add_argument(
        "--format",
        choices=["auto", "txt", "json", "csv", "tsv"],
        default="auto",
        help="file format (default: detect from extension and content)",
    )
    p.set_defaults(func=_cmd_show)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 user error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (ValueError, TypeError, OSError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"scaledet-labels: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # pragma: no cover - `| head`
        return 0


def run() -> None:  # pragma: no cover - the console-script entry point
    """Console-script entry point: :func:`main` with ``sys.exit``."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
