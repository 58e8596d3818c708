"""The ``scaledet-labels`` command line.

User mistakes print one line on stderr and exit with code 2; no traceback. The light
commands (``list``, ``show``) never import torch.

Examples:
    $ scaledet-labels list
    $ scaledet-labels show coco
    $ scaledet-labels show my_classes.txt --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from scaledet_labels._version import __version__

__all__ = ["main"]

_EPILOG_MAIN = """examples:
  scaledet-labels build coco lvis oid
  scaledet-labels neighbors labelspaces/coco+lvis+oid "coco:dog" -k 5
  scaledet-labels export labelspaces/coco+lvis+oid --format detic --dataset lvis --out lvis.npy
  scaledet-labels list
  scaledet-labels show lvis --limit 10
  scaledet-labels report labelspaces/coco+lvis+oid --out report
"""

#: Where ``build`` writes when --out is not given (relative to the working directory).
DEFAULT_OUT_DIR = "labelspaces"


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
    from scaledet_labels.vocab.builtin import BUILTIN_ALIASES
    from scaledet_labels.vocab.registry import available_vocabularies, load_vocabulary

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
    from scaledet_labels.vocab.registry import load_vocabulary

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


def _progress(args: argparse.Namespace) -> bool | None:
    return False if getattr(args, "quiet", False) else None


def _default_out(datasets: Sequence[str]) -> str:
    from pathlib import Path

    stem = "+".join(Path(d).stem if ("/" in d or "." in d) else d for d in datasets)
    return str(Path(DEFAULT_OUT_DIR) / stem)


def _cmd_build(args: argparse.Namespace) -> int:
    import time

    from scaledet_labels.bundle.build import build_label_space

    started = time.perf_counter()
    bundle = build_label_space(
        args.datasets,
        encoder=args.encoder,
        templates=args.templates,
        synonyms=not args.no_synonyms,
        similarity=args.similarity,
        topk=args.topk,
        dtype=args.dtype,
        cache=not args.no_cache,
        device=args.device,
        precision=args.precision,
        progress=_progress(args),
    )
    out = bundle.save(args.out or _default_out(args.datasets), overwrite=True)
    seconds = time.perf_counter() - started
    pairs = bundle.near_duplicates(args.show_pairs, skip_identical=True)
    manifest = bundle.manifest
    stats = manifest.get("stats", {})
    if args.json:
        print(
            json.dumps(
                {
                    "output": str(out),
                    "seconds": round(seconds, 3),
                    "labels": len(bundle.label_space),
                    "datasets": manifest["datasets"],
                    "encoder": manifest["encoder"],
                    "templates": manifest["templates"],
                    "stats": stats,
                    "same_name_pairs": len(bundle.same_name_pairs()),
                    "near_duplicates": [
                        {"a": f"{a.dataset}:{a.name}", "b": f"{b.dataset}:{b.name}", "cosine": c}
                        for a, b, c in pairs
                    ],
                },
                indent=1,
            )
        )
        return 0
    if args.quiet:
        print(out)
        return 0
    counts = ", ".join(f"{d['name']} {d['count']}" for d in manifest["datasets"])
    encoder = manifest["encoder"]
    print(f"labels      {len(bundle.label_space)} ({counts})")
    print(
        f"encoder     {encoder.get('spec')} (dim {bundle.dim}, "
        f"fingerprint {str(encoder.get('fingerprint'))[:16]})"
    )
    synonyms = "on" if manifest["synonyms"] else "off"
    print(
        f"templates   {manifest.get('template_set') or 'custom'} "
        f"({len(manifest['templates'])}); synonyms {synonyms}"
    )
    if stats:
        print(
            f"prompts     {stats['prompts_total']} total, {stats['prompts_unique']} unique: "
            f"{stats['from_cache']} from cache, {stats['encoded']} encoded"
        )
    sim = manifest["similarity"]
    kind = f"top-{sim['topk']} sparse" if sim["topk"] else "dense"
    print(f"similarity  {sim['normalization']}, {kind} {sim['dtype']}")
    print(f"time        {seconds:.1f} s")
    print(f"output      {out}")
    same = bundle.same_name_pairs()
    if same:
        a, b = same[0]
        print(
            f"same name   {len(same)} cross-dataset pairs share a clean name "
            f"(e.g. {a.dataset}:{a.name} ~ {b.dataset}:{b.name})"
        )
    if pairs:
        print("strongest cross-dataset near-duplicates with different names:")
        for a, b, cosine in pairs:
            print(f"  {cosine:.3f}  {a.dataset}:{a.name}  ~  {b.dataset}:{b.name}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from scaledet_labels.bundle.container import load_bundle

    bundle = load_bundle(args.bundle)
    manifest = bundle.manifest
    if args.json:
        print(json.dumps(manifest, indent=1))
        return 0
    print(f"bundle      {args.bundle}")
    print(f"labels      {len(bundle.label_space)} x {bundle.dim}")
    for d in manifest["datasets"]:
        print(f"  {d['name']:<12} {d['count']:>6}  {d['source']}")
    print(
        f"encoder     {manifest['encoder'].get('spec')} "
        f"(fingerprint {str(manifest['encoder'].get('fingerprint'))[:16]})"
    )
    print(
        f"templates   {manifest.get('template_set') or 'custom'} "
        f"({len(manifest['templates'])}); recipe {manifest['recipe']}"
    )
    sim = manifest["similarity"]
    print(
        f"similarity  {sim['normalization']}, "
        f"{'top-' + str(sim['topk']) if sim['topk'] else 'dense'} {sim['dtype']}"
    )
    print(f"library     {manifest.get('library_version')}; identity {manifest['identity'][:16]}")
    return 0


def _print_frame(frame: Any, as_json: bool) -> None:
    if as_json:
        print(frame.to_json(orient="records", indent=1, force_ascii=False))
    else:
        print(frame.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


def _cmd_neighbors(args: argparse.Namespace) -> int:
    from scaledet_labels.bundle.container import load_bundle

    bundle = load_bundle(args.bundle)
    frame = bundle.neighbors(args.query, k=args.k, datasets=args.datasets)
    _print_frame(frame, args.json)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from scaledet_labels.bundle.container import load_bundle

    bundle = load_bundle(args.bundle)
    for file in bundle.export(args.format, args.out, dataset=args.dataset, overwrite=True):
        print(file)
    return 0


def _cmd_match(args: argparse.Namespace) -> int:
    from scaledet_labels.bundle.container import load_bundle

    bundle = load_bundle(args.bundle)
    frame = bundle.match(args.source, to=args.to, k=args.k)
    _print_frame(frame, args.json)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from scaledet_labels.bundle.container import load_bundle
    from scaledet_labels.bundle.report import write_report

    bundle = load_bundle(args.bundle)
    path = write_report(bundle, args.out, max_block=args.max_block, top_pairs=args.top_pairs)
    print(path)
    return 0


def _cmd_cache(args: argparse.Namespace) -> int:
    import dataclasses

    from scaledet_labels.embed.cache import cache_info, clear_cache

    directory = args.dir if args.dir else True
    if args.action == "clear":
        removed = clear_cache(args.fingerprint, cache=directory)
        print(f"removed {removed} cached prompt embeddings")
        return 0
    info = cache_info(directory)
    if args.json:
        print(json.dumps(dataclasses.asdict(info), indent=1, default=str))
        return 0
    print(f"path        {info.path}{'' if info.exists else ' (not created yet)'}")
    print(f"entries     {info.entries}")
    print(f"size        {info.size_bytes / 2**20:.1f} MB")
    for entry in info.encoders:
        print(
            f"encoder     {entry.fingerprint[:16]}  {entry.entries:>8} prompts  "
            f"dim {entry.dim}  {entry.description}"
        )
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

    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser(
        "build",
        help="build a label-space bundle (labels, embeddings, similarity)",
        description="Build the disjoint union of the given vocabularies, embed every label with "
        "a prompt ensemble, compute the label similarity, and save a bundle directory. "
        f"Default output: ./{DEFAULT_OUT_DIR}/<datasets joined by '+'>.",
        epilog="examples:\n  scaledet-labels build coco lvis oid\n"
        "  scaledet-labels build coco my_classes.txt --templates photo --out my_bundle\n"
        "  scaledet-labels build lvis objects365 --topk 64 --similarity affine\n"
        "  scaledet-labels build coco --encoder openclip:ViT-B-32@/path/to/model.safetensors",
        formatter_class=fmt,
    )
    p.add_argument(
        "datasets",
        nargs="+",
        metavar="DATASET_OR_FILE",
        help="built-in names (see `list`) or vocabulary files",
    )
    p.add_argument(
        "--encoder",
        default="minilm",
        help="minilm (default, offline), openclip:MODEL[/TAG], openclip:MODEL@CKPT, "
        "hf:MODEL_OR_DIR",
    )
    p.add_argument(
        "--templates",
        default=None,
        help="template set (a, photo, simple, openai, vild) or a JSON file",
    )
    p.add_argument("--no-synonyms", action="store_true", help="embed clean names only")
    p.add_argument(
        "--similarity",
        choices=["minmax", "affine", "clamp", "none"],
        default="minmax",
        help="normalisation of cosine to [0, 1] (default minmax)",
    )
    p.add_argument(
        "--topk",
        type=_positive_int,
        default=None,
        help="keep only the K most similar labels per row (sparse)",
    )
    p.add_argument(
        "--dtype", choices=["float32", "float16"], default="float32", help="similarity dtype"
    )
    p.add_argument("--out", default=None, help="output bundle directory")
    p.add_argument(
        "--device", default="auto", help="auto (default: cuda if available), cpu or cuda[:N]"
    )
    p.add_argument(
        "--precision",
        choices=["fp32", "fp16", "bf16"],
        default="fp32",
        help="encoder precision; fp16/bf16 need a GPU (default fp32)",
    )
    p.add_argument("--no-cache", action="store_true", help="do not use the embedding cache")
    p.add_argument(
        "--show-pairs",
        type=int,
        default=8,
        metavar="N",
        help="how many near-duplicate pairs to print (default 8)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.add_argument("--quiet", action="store_true", help="no progress bar; print the path only")
    p.set_defaults(func=_cmd_build)

    p = sub.add_parser(
        "info",
        help="describe a bundle",
        description="Describe a saved bundle.",
        epilog="examples:\n  scaledet-labels info labelspaces/coco+lvis+oid\n"
        "  scaledet-labels info labelspaces/coco+lvis+oid --json",
        formatter_class=fmt,
    )
    p.add_argument("bundle", metavar="BUNDLE")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser(
        "neighbors",
        help="nearest labels of a label or free text",
        description="Print the labels nearest to QUERY: 'dataset:name', a label name, or "
        "free text (embedded with the bundle's encoder).",
        epilog="examples:\n  scaledet-labels neighbors labelspaces/coco+lvis+oid coco:dog -k 5\n"
        "  scaledet-labels neighbors labelspaces/coco+lvis+oid 'a red fire truck' --datasets lvis",
        formatter_class=fmt,
    )
    p.add_argument("bundle", metavar="BUNDLE")
    p.add_argument("query", metavar="QUERY")
    p.add_argument("-k", type=_positive_int, default=10, help="how many (default 10)")
    p.add_argument("--datasets", nargs="+", default=None, help="only these datasets")
    p.add_argument("--json", action="store_true", help="print JSON records")
    p.set_defaults(func=_cmd_neighbors)

    p = sub.add_parser(
        "export",
        help="export a bundle for Detic, open_clip, YOLO-World, CSV",
        description="Write a bundle's embeddings, labels or similarity in another tool's format.",
        epilog="examples:\n"
        "  scaledet-labels export B --format detic --dataset lvis --out lvis_clip.npy\n"
        "  scaledet-labels export B --format openclip --out zs.safetensors\n"
        "  scaledet-labels export B --format yoloworld --dataset coco --out coco.npy\n"
        "  scaledet-labels export B --format csv --out labels.csv\n"
        "  scaledet-labels export B --format similarity --out sim.npy",
        formatter_class=fmt,
    )
    p.add_argument("bundle", metavar="BUNDLE")
    p.add_argument(
        "--format", required=True, choices=["detic", "openclip", "yoloworld", "csv", "similarity"]
    )
    p.add_argument("--out", required=True, help="output file or directory")
    p.add_argument("--dataset", default=None, help="only this dataset, in its own label order")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser(
        "match",
        help="map a vocabulary onto a dataset's labels",
        description="For each label of --from (a dataset of the bundle or any vocabulary), "
        "print its nearest labels among --to.",
        epilog="examples:\n  scaledet-labels match B --from voc --to coco\n"
        "  scaledet-labels match B --from my_classes.txt --to lvis -k 3",
        formatter_class=fmt,
    )
    p.add_argument("bundle", metavar="BUNDLE")
    p.add_argument("--from", dest="source", required=True, metavar="VOCAB")
    p.add_argument("--to", required=True, nargs="+", metavar="DATASET")
    p.add_argument("-k", type=_positive_int, default=1, help="matches per label (default 1)")
    p.add_argument("--json", action="store_true", help="print JSON records")
    p.set_defaults(func=_cmd_match)

    p = sub.add_parser(
        "report",
        help="write a self-contained HTML report of a bundle",
        description="Write DIR/index.html: similarity heatmaps per dataset pair, the top "
        "cross-dataset near-duplicates and a PCA map of the label embeddings. Everything is "
        "inline (no network, no JavaScript). Needs matplotlib: "
        'pip install "scaledet-labels[report]".',
        epilog="examples:\n  scaledet-labels report labelspaces/coco+lvis+oid --out report\n"
        "  scaledet-labels report labelspaces/coco+voc --out report --max-block 100 "
        "--top-pairs 50",
        formatter_class=fmt,
    )
    p.add_argument("bundle", metavar="BUNDLE")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument(
        "--max-block",
        type=_positive_int,
        default=300,
        metavar="N",
        help="most rows/columns per heatmap; larger blocks show the N most connected (default 300)",
    )
    p.add_argument(
        "--top-pairs",
        type=_positive_int,
        default=30,
        metavar="N",
        help="near-duplicate pairs to list (default 30)",
    )
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser(
        "cache",
        help="inspect or clear the prompt-embedding cache",
        description="Inspect or clear the persistent prompt-embedding cache (location: "
        "$SCALEDET_CACHE, else $XDG_CACHE_HOME/scaledet, else the user cache dir).",
        epilog="examples:\n  scaledet-labels cache info\n  scaledet-labels cache clear",
        formatter_class=fmt,
    )
    p.add_argument("action", choices=["info", "clear"])
    p.add_argument("--dir", default=None, help="cache directory (default: the standard one)")
    p.add_argument("--fingerprint", default=None, help="clear only this encoder's entries")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_cache)
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
    except BrokenPipeError:  # `| head` closed stdout: not an error
        # keep Python from failing again while flushing stdout at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (ValueError, TypeError, OSError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"scaledet-labels: error: {message}", file=sys.stderr)
        return 2


def run() -> None:  # pragma: no cover - the console-script entry point
    """Console-script entry point: :func:`main` with ``sys.exit``."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
