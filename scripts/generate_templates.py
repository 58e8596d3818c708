"""Regenerate the ``simple`` and ``openai`` template files from the installed open_clip.

The library ships open_clip's two ImageNet template sets as package data
(``scaledet_labels/data/templates/simple.json`` and ``openai.json``) so that it never
reads open_clip's files at run time and an open_clip release cannot change the default
prompts silently. This script is how those files are made: it imports
``open_clip.zero_shot_metadata`` the normal way (this imports torch; fine for a repo script,
the library never runs it), renders each template lambda with the literal ``{}``, checks
and normalizes the result with the library's own :class:`TemplateSet`, and writes the
files in the layout ``load_template_file`` reads (the one of ``vild.json``), with
provenance fields.

A file counts as up to date when everything but ``open_clip_version`` and ``generated``
matches (those two record when and from what it was made). Writing leaves up-to-date
files untouched, so a new open_clip release with the same templates causes no churn.

Examples:
    Rewrite the files whose templates changed, then check them (exit 1 if stale)::

        python scripts/generate_templates.py
        python scripts/generate_templates.py --check
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = REPO_ROOT / "scaledet_labels" / "data" / "templates"

OPEN_CLIP_URL = "https://github.com/mlfoundations/open_clip"
OPEN_CLIP_FILE = "open_clip/zero_shot_metadata.py"
OPENAI_NOTEBOOK = (
    "https://github.com/openai/CLIP/blob/main/notebooks/Prompt_Engineering_for_ImageNet.ipynb"
)
LICENSE = "MIT"
COPYRIGHT = (
    "Copyright (c) 2012-2021 Gabriel Ilharco, Mitchell Wortsman, Nicholas Carlini, Rohan "
    "Taori, Achal Dave, Vaishaal Shankar, John Miller, Hongseok Namkoong, Hannaneh "
    "Hajishirzi, Ali Farhadi, Ludwig Schmidt"
)

#: set name -> (open_clip attribute, description)
SETS: dict[str, tuple[str, str]] = {
    "simple": (
        "SIMPLE_IMAGENET_TEMPLATES",
        "open_clip's 7 'simple' ImageNet templates, a subset of OpenAI's 80; the default set. "
        "'{}' is the class name.",
    ),
    "openai": (
        "OPENAI_IMAGENET_TEMPLATES",
        "OpenAI's 80 CLIP ImageNet prompt-ensemble templates, as open_clip ships them. "
        "'{}' is the class name.",
    ),
}

#: Fields that record when and from what a file was generated; they do not make it stale.
VOLATILE_FIELDS = ("open_clip_version", "generated")


def render(items: Sequence[Any]) -> list[str]:
    """open_clip's templates in our normal form (``{}`` placeholder), in open_clip's order.

    open_clip's templates are lambdas ``c -> f"...{c}..."``; rendering them with the
    literal ``"{}"`` gives the template string back. Plain strings are taken as they are.
    """
    from scaledet_labels.embed.templates import TemplateSet

    strings = [item("{}") if callable(item) else str(item) for item in items]
    normal = TemplateSet.from_strings(strings, source="open_clip")
    if len(normal) != len(strings):
        raise SystemExit(f"open_clip's templates hold duplicates: {strings}")
    return list(normal.templates)


def expected(name: str, metadata: Any, version: str, today: str) -> dict[str, Any]:
    """The content ``<name>.json`` should have for the installed open_clip."""
    attr, description = SETS[name]
    return {
        "name": name,
        "description": description,
        "source": (
            f"open_clip ({OPEN_CLIP_URL}) {OPEN_CLIP_FILE} {attr}, which took them from "
            f"OpenAI's CLIP notebook ({OPENAI_NOTEBOOK})"
        ),
        "source_file": OPEN_CLIP_FILE,
        "source_attribute": attr,
        "license": LICENSE,
        "copyright": COPYRIGHT,
        "open_clip_version": version,
        "generated": today,
        "generator": "scripts/generate_templates.py",
        "templates": render(getattr(metadata, attr)),
    }


def stable(data: Any) -> Any:
    """``data`` without the fields that only say when and from what it was generated."""
    if not isinstance(data, dict):
        return data
    return {k: v for k, v in data.items() if k not in VOLATILE_FIELDS}


def dumps(data: dict[str, Any]) -> str:
    """The file text: the layout of ``vild.json`` (one-space indent), UTF-8, final newline."""
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def read(path: Path) -> Any:
    """A shipped file's JSON, or ``None`` when it is missing or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def main(argv: Sequence[str] | None = None, *, out: Callable[[str], None] = print) -> int:
    """Write or check the template files; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if a shipped file differs from the installed open_clip",
    )
    parser.add_argument(
        "--force", action="store_true", help="rewrite every file, even when up to date"
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=DEFAULT_DIR,
        help=f"folder holding the files (default: {DEFAULT_DIR.relative_to(REPO_ROOT)})",
    )
    args = parser.parse_args(argv)

    import open_clip
    import open_clip.zero_shot_metadata as metadata

    version = str(getattr(open_clip, "__version__", "unknown"))
    today = datetime.date.today().isoformat()
    stale = []
    for name in SETS:
        path = args.dir / f"{name}.json"
        want = expected(name, metadata, version, today)
        have = read(path)
        current = stable(have) == stable(want)
        if args.check:
            if not current:
                stale.append(name)
                out(f"{path}: differs from open_clip {version}'s {SETS[name][0]}")
            elif have.get("open_clip_version") != version:
                out(
                    f"{path}: up to date (generated from open_clip "
                    f"{have.get('open_clip_version')}, same templates in {version})"
                )
            else:
                out(f"{path}: up to date")
        elif current and not args.force:
            out(f"{path}: up to date, left as it is")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(dumps(want), encoding="utf-8")
            out(f"{path}: written ({len(want['templates'])} templates, open_clip {version})")
    if stale:
        out(f"stale: {', '.join(stale)}; run python scripts/generate_templates.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
