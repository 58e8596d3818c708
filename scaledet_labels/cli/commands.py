"""The CLI's commands: each takes the parsed arguments, prints, and returns an exit code.

Nothing here imports torch, open_clip or transformers (the encoders load them when a
prompt must be encoded), so ``list``, ``show`` and a fully cached ``build`` stay light; a
user mistake raises a :class:`~scaledet_labels.ScaleDetError`
that :func:`~scaledet_labels.cli.app.main` turns into one line and exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scaledet_labels.bundle.build import build_label_space
from scaledet_labels.bundle.container import load_bundle
from scaledet_labels.bundle.export import ExportCompatibilityWarning
from scaledet_labels.bundle.io import check_bundle_path
from scaledet_labels.bundle.queries import merges_table
from scaledet_labels.bundle.report import write_report
from scaledet_labels.cli.output import manifest_lines, print_frame, table
from scaledet_labels.embed.cache import cache_info, clear_cache
from scaledet_labels.embed.distributed import is_main_process
from scaledet_labels.errors import BundleError
from scaledet_labels.vocab.builtin import BUILTIN_ALIASES, BUILTIN_COUNTS
from scaledet_labels.vocab.registry import (
    available_vocabularies,
    load_vocabulary,
    split_named_source,
)
from scaledet_labels.vocab.vocabulary import Vocabulary

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
#: The longest default bundle name, in bytes; a longer one is shortened (see default_out).
DEFAULT_NAME_BYTES = 120


def _load(text: str, args: argparse.Namespace, **kwargs: Any) -> Vocabulary:
    """A command-line vocabulary (``NAME=SOURCE`` names it) under the --on-* policies."""
    name, source = split_named_source(text)
    return load_vocabulary(
        source, name=name, on_duplicate=args.on_duplicate, on_blank=args.on_blank, **kwargs
    )


def cmd_list(args: argparse.Namespace) -> int:
    """``scaledet-labels list``: built-in vocabularies with label counts and aliases."""
    entries: list[dict[str, Any]] = []
    for name in available_vocabularies():
        count, source = BUILTIN_COUNTS.get(name), f"builtin:{name}"
        if count is None:  # a registered vocabulary; built-ins are counted without loading
            vocab = load_vocabulary(name)
            count, source = len(vocab), vocab.source
        aliases = [a for a, target in BUILTIN_ALIASES.items() if target == name]
        entries.append({"name": name, "labels": count, "aliases": aliases, "source": source})
    if args.json:
        print(json.dumps(entries, indent=1))
    else:
        rows = [[e["name"], str(e["labels"]), ", ".join(e["aliases"])] for e in entries]
        print(table(rows, ["name", "labels", "aliases"]))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """``scaledet-labels show``: one vocabulary as a table or JSON."""
    vocab = _load(args.vocabulary, args, format=args.format)
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
    # MIDs, wnids, synsets and definitions get a column when a shown label has them
    keys = [key for key in ("mid", "wnid", "synset") if any(key in lb.metadata for lb in labels)]
    glosses = ["definition"] if any(label.definition for label in labels) else []
    rows = [
        [str(label.index), str(label.id), label.name, label.clean_name, ", ".join(label.synonyms)]
        + [str(label.metadata.get(key, "")) for key in keys]
        + [label.definition or "" for _ in glosses]
        for label in labels
    ]
    print(f"{vocab.name}: {len(vocab)} labels (source: {vocab.source})")
    print(table(rows, ["index", "id", "name", "clean name", "synonyms", *keys, *glosses]))
    if len(labels) < len(vocab):
        print(f"... {len(vocab) - len(labels)} more (use --limit)")
    return 0


def default_out(datasets: Sequence[str]) -> str:
    """``labelspaces/<datasets joined by '+'>``: a file gives its stem, NAME=SOURCE its NAME.

    A name over :data:`DEFAULT_NAME_BYTES` keeps the first datasets that fit, then
    ``+N-more-`` and 8 hex digits of a hash of the whole list: it fits every file system,
    reads as what it is, and differs between lists.

    Examples:
        >>> default_out(["coco", "data/my_classes.txt", "mine=other.json"])
        'labelspaces/coco+my_classes+mine'
        >>> default_out([f"annotations/project_{i:02d}.json" for i in range(40)])[:60]
        'labelspaces/project_00+project_01+project_02+project_03+proj'
    """
    stems: list[str] = []
    for text in datasets:
        name, source = split_named_source(text)
        stems.append(name or (Path(source).stem if ("/" in source or "." in source) else source))
    joined = "+".join(stems)
    if len(joined.encode()) > DEFAULT_NAME_BYTES:
        digest = hashlib.sha256("\n".join(stems).encode()).hexdigest()[:8]
        for kept in range(len(stems) - 1, 0, -1):
            joined = f"{'+'.join(stems[:kept])}+{len(stems) - kept}-more-{digest}"
            if len(joined.encode()) <= DEFAULT_NAME_BYTES:
                break
        else:  # even the first name is too long: cut it
            rest = f"+{len(stems) - 1}-more-{digest}" if len(stems) > 1 else f"-{digest}"
            room = DEFAULT_NAME_BYTES - len(rest.encode())
            joined = stems[0].encode()[:room].decode(errors="ignore") + rest
    return str(Path(DEFAULT_OUT_DIR) / joined)


def parse_precomputed(pairs: Sequence[str] | None) -> dict[str, str]:
    """``["coco=coco.npy", ...]`` (``--precomputed``) as ``{dataset: file}``.

    Raises:
        BundleError: A pair without ``=``, an empty side, or a dataset given twice.

    Examples:
        >>> parse_precomputed(["coco=coco_clip_a+cname.npy"])
        {'coco': 'coco_clip_a+cname.npy'}
    """
    files: dict[str, str] = {}
    for pair in pairs or ():
        dataset, sep, file = pair.partition("=")
        dataset, file = dataset.strip(), file.strip()
        if not sep or not dataset or not file:
            raise BundleError(
                f"--precomputed {pair!r}: expected DATASET=FILE, e.g. lvis=lvis_v1_clip_a+cname.npy"
            )
        if dataset in files:
            raise BundleError(f"--precomputed: dataset {dataset!r} is given twice")
        files[dataset] = file
    return files


def cmd_build(args: argparse.Namespace) -> int:
    """``scaledet-labels build``: build and save a bundle, then summarise it."""
    started = time.perf_counter()
    precomputed = parse_precomputed(args.precomputed)
    target = check_bundle_path(args.out or default_out(args.datasets))  # before any work
    vocabularies = [_load(text, args) for text in args.datasets]
    bundle = build_label_space(
        vocabularies,
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
        precomputed=precomputed or None,
    )
    if not is_main_process():  # under torchrun: rank 0 saves and prints, the others not
        return 0
    out = bundle.save(target, overwrite=True)
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
            "precomputed": manifest.get("precomputed_sources", {}),
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
    if "prompts_total" in stats:  # nothing was encoded when every dataset was precomputed
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
    """``scaledet-labels export``: write a bundle in another tool's format.

    A consumer mismatch (:class:`~scaledet_labels.bundle.export.ExportCompatibilityWarning`)
    is printed as one ``warning:`` line on stderr; with ``--strict`` it is an error.
    """
    bundle = load_bundle(args.bundle)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ExportCompatibilityWarning)
        files = bundle.export(
            args.format, args.out, dataset=args.dataset, overwrite=True, strict=args.strict
        )
    for warning in caught:
        if issubclass(warning.category, ExportCompatibilityWarning):
            print(f"scaledet-labels: warning: {warning.message}", file=sys.stderr)
        else:  # not ours: shown as Python would have shown it
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    for file in files:
        print(file)
    return 0


def cmd_match(args: argparse.Namespace) -> int:
    """``scaledet-labels match``: same concept or none, for each label of a vocabulary."""
    bundle = load_bundle(args.bundle)
    source: Any = args.source
    if source not in bundle.label_space.datasets:
        source = _load(source, args)
    frame = bundle.match(
        source,
        to=args.to,
        k=args.k,
        threshold=args.threshold,
        one_to_one=args.one_to_one,
        signals=args.signals,
        metadata=not args.no_metadata,
    )
    form = "json" if args.json else args.format
    if form == "merges":
        text = merges_table(frame).to_csv(index=False)
    elif form == "json":
        text = frame.to_json(orient="records", indent=1, force_ascii=False) + "\n"
    else:
        shown = frame.drop(columns=["source_ref", "target_ref"])
        text = shown.to_string(index=False, float_format=lambda v: f"{v:.4f}") + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        same = int((frame["decision"] == "same").sum())
        print(f"{args.out}: {same} same, {int((frame['decision'] == 'none').sum())} none")
    else:
        sys.stdout.write(text)
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
