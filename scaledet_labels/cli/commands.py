"""The CLI's commands: each takes the parsed arguments, prints, and returns an exit code.

Nothing here imports torch, open_clip or transformers (the encoders load them when a
prompt must be encoded), so ``list``, ``show`` and a fully cached ``build`` stay light; a
user mistake raises a :class:`~scaledet_labels.ScaleDetError`
that :func:`~scaledet_labels.cli.app.main` turns into one line and exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scaledet_labels.bundle.build import build_label_space
from scaledet_labels.bundle.container import load_bundle
from scaledet_labels.bundle.report import write_report
from scaledet_labels.cli.output import manifest_lines, print_frame, table
from scaledet_labels.embed.cache import cache_info, clear_cache
from scaledet_labels.vocab.builtin import BUILTIN_ALIASES
from scaledet_labels.vocab.registry import available_vocabularies, load_vocabulary

__all__ = [
    "DEFAULT_OUT_DIR",
    "cmd_build",
    "cmd_cache",
    "cmd_export",
    "cmd_info",
    "cmd_list",
    "cmd_match",
    "cmd_neighbors",
    "cmd_report",
    "cmd_show",
]

#: Where ``build`` writes when --out is not given (relative to the working directory).
DEFAULT_OUT_DIR = "labelspaces"


def cmd_list(args: argparse.Namespace) -> int:
    """``scaledet-labels list``: built-in vocabularies with label counts and aliases."""
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
        print(table(rows, ["name", "labels", "aliases"]))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """``scaledet-labels show``: one vocabulary as a table or JSON."""
    vocab = load_vocabulary(args.vocabulary, format=args.format)
    labels = vocab.labels if args.limit is None else vocab.labels[: args.limit]
    if args.json:
        record = {
            "name": vocab.name,
            "source": vocab.source,
            "count": len(vocab),
            "labels": [label.to_dict() for label in labels],
        }
        print(json.dumps(record, ensure_ascii=False, indent=1))
        return 0
    rows = [
        [str(label.index), str(label.id), label.name, label.clean_name, ", ".join(label.synonyms)]
        for label in labels
    ]
    print(f"{vocab.name}: {len(vocab)} labels (source: {vocab.source})")
    print(table(rows, ["index", "id", "name", "clean name", "synonyms"]))
    if len(labels) < len(vocab):
        print(f"... {len(vocab) - len(labels)} more (use --limit)")
    return 0


def default_out(datasets: Sequence[str]) -> str:
    """``labelspaces/<datasets joined by '+'>``; a file contributes its stem."""
    stem = "+".join(Path(d).stem if ("/" in d or "." in d) else d for d in datasets)
    return str(Path(DEFAULT_OUT_DIR) / stem)


def cmd_build(args: argparse.Namespace) -> int:
    """``scaledet-labels build``: build and save a bundle, then summarise it."""
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
        progress=False if args.quiet else None,
    )
    out = bundle.save(args.out or default_out(args.datasets), overwrite=True)
    seconds = time.perf_counter() - started
    pairs = bundle.near_duplicates(args.show_pairs, skip_identical=True)
    same = bundle.same_name_pairs()
    manifest = bundle.manifest
    stats = manifest.get("stats", {})
    if args.json:
        summary = {
            "output": str(out),
            "seconds": round(seconds, 3),
            "labels": len(bundle.label_space),
            "datasets": manifest["datasets"],
            "encoder": manifest["encoder"],
            "templates": manifest["templates"],
            "stats": stats,
            "same_name_pairs": len(same),
            "near_duplicates": [
                {"a": f"{a.dataset}:{a.name}", "b": f"{b.dataset}:{b.name}", "cosine": c}
                for a, b, c in pairs
            ],
        }
        print(json.dumps(summary, indent=1))
        return 0
    if args.quiet:
        print(out)
        return 0
    print("\n".join(manifest_lines(manifest, len(bundle.label_space), bundle.dim)))
    if stats:
        print(
            f"prompts     {stats['prompts_total']} total, {stats['prompts_unique']} unique: "
            f"{stats['from_cache']} from cache, {stats['encoded']} encoded"
        )
    print(f"time        {seconds:.1f} s")
    print(f"output      {out}")
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


def cmd_info(args: argparse.Namespace) -> int:
    """``scaledet-labels info``: verify a bundle and summarise its manifest."""
    bundle = load_bundle(args.bundle)
    manifest = bundle.manifest
    if args.json:
        print(json.dumps(manifest, indent=1))
        return 0
    print(f"bundle      {args.bundle}")
    print("\n".join(manifest_lines(manifest, len(bundle.label_space), bundle.dim)))
    for d in manifest["datasets"]:
        print(f"  {d['name']:<12} {d['count']:>6}  {d['source']}")
    print(f"library     {manifest.get('library_version')}; identity {manifest['identity'][:16]}")
    return 0


def cmd_neighbors(args: argparse.Namespace) -> int:
    """``scaledet-labels neighbors``: nearest labels of a label or free text."""
    bundle = load_bundle(args.bundle)
    print_frame(bundle.neighbors(args.query, k=args.k, datasets=args.datasets), args.json)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """``scaledet-labels export``: write a bundle in another tool's format."""
    bundle = load_bundle(args.bundle)
    for file in bundle.export(args.format, args.out, dataset=args.dataset, overwrite=True):
        print(file)
    return 0


def cmd_match(args: argparse.Namespace) -> int:
    """``scaledet-labels match``: map a vocabulary onto a bundle's datasets."""
    bundle = load_bundle(args.bundle)
    print_frame(bundle.match(args.source, to=args.to, k=args.k), args.json)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """``scaledet-labels report``: a self-contained HTML report of a bundle."""
    bundle = load_bundle(args.bundle)
    print(write_report(bundle, args.out, max_block=args.max_block, top_pairs=args.top_pairs))
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    """``scaledet-labels cache info|clear``: inspect or clear the prompt-embedding cache."""
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
