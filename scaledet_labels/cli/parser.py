"""The ``scaledet-labels`` argument parser.

Every fixed set of choices comes from the option tuple the library itself validates
against (vocabulary formats, similarity normalisations and dtypes, encoder precisions,
template sets, export formats), so the CLI and the API cannot disagree.

Examples:
    >>> args = build_parser().parse_args(["build", "coco", "voc", "--topk", "8"])
    >>> args.datasets, args.topk, args.similarity
    (['coco', 'voc'], 8, 'minmax')
"""

from __future__ import annotations

import argparse

from scaledet_labels._version import __version__
from scaledet_labels.bundle.export import EXPORT_FORMATS
from scaledet_labels.bundle.matching import SIGNALS as MATCH_SIGNALS
from scaledet_labels.bundle.similarity import (
    AUTO_DENSE_MAX,
    AUTO_TOPK,
    NORMALIZATIONS,
    SIMILARITY_DTYPES,
)
from scaledet_labels.cli import commands
from scaledet_labels.embed.encoders.base import PRECISIONS
from scaledet_labels.embed.encoders.spec import DEFAULT_ENCODER
from scaledet_labels.embed.templates import DEFAULT_TEMPLATES, TEMPLATE_SETS
from scaledet_labels.vocab.sources import BLANK_POLICIES, DUPLICATE_POLICIES, FORMATS

__all__ = ["build_parser"]

_EPILOG_MAIN = """examples:
  scaledet-labels build coco lvis oid
  scaledet-labels neighbors labelspaces/coco+lvis+oid "coco:dog" -k 5
  scaledet-labels export labelspaces/coco+lvis+oid --format detic --dataset lvis --out lvis.npy
  scaledet-labels list
  scaledet-labels show lvis --limit 10
  scaledet-labels report labelspaces/coco+lvis+oid --out report
"""
_RAW = argparse.RawDescriptionHelpFormatter


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def _topk(text: str) -> int | str:
    return "auto" if text == "auto" else _positive_int(text)


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  scaledet-labels {line}" for line in lines)


def _add_vocabulary_policies(p: argparse.ArgumentParser) -> None:
    """--on-duplicate and --on-blank: load_vocabulary's policies, for commands reading files."""
    p.add_argument(
        "--on-duplicate",
        choices=DUPLICATE_POLICIES,
        default="error",
        help="labels of one vocabulary whose clean names match ignoring case: error "
        "(default) or disambiguate (append ' (2)', ' (3)', ... to the later ones)",
    )
    p.add_argument(
        "--on-blank",
        choices=BLANK_POLICIES,
        default="error",
        help="a blank label name: error (default) or skip (leave that label out; every "
        "other label keeps its id)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command (exposed for docs and tests)."""
    parser = argparse.ArgumentParser(
        prog="scaledet-labels",
        description="Unified label spaces and label embeddings for multi-dataset detection.",
        epilog=_EPILOG_MAIN,
        formatter_class=_RAW,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser(
        "list",
        help="list the built-in vocabularies with their label counts",
        description="List the built-in vocabularies with their label counts.",
        epilog=_examples("list", "list --json"),
        formatter_class=_RAW,
    )
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    p.set_defaults(func=commands.cmd_list)

    p = sub.add_parser(
        "show",
        help="print a vocabulary (built-in name or file) as a table",
        description="Print a vocabulary as a table: index, dataset id, raw and clean names, "
        "synonyms.",
        epilog=_examples(
            "show coco", "show lvis --limit 5", "show classes.txt --json", "show 'cat, dog'"
        ),
        formatter_class=_RAW,
    )
    p.add_argument(
        "vocabulary",
        metavar="NAME_OR_FILE",
        help="a built-in name, a .txt/.json/.csv/.tsv file, or 'a, b, c'; NAME=SOURCE "
        "names the dataset",
    )
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    p.add_argument("--limit", type=_positive_int, default=None, help="show the first N labels")
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="auto",
        help="file format (default: detect from extension and content)",
    )
    _add_vocabulary_policies(p)
    p.set_defaults(func=commands.cmd_show)

    p = sub.add_parser(
        "build",
        help="build a label-space bundle (labels, embeddings, similarity)",
        description="Build the disjoint union of the given vocabularies, embed every label with "
        "a prompt ensemble, compute the label similarity, and save a bundle directory. "
        f"Default output: ./{commands.DEFAULT_OUT_DIR}/<datasets joined by '+'> (a long "
        "list is shortened to its first names, '+N-more' and a hash).",
        epilog=_examples(
            "build coco lvis oid",
            "build coco my_classes.txt --templates photo --out my_bundle",
            "build lvis objects365 --topk 64 --similarity affine",
            "build coco --encoder openclip:ViT-B-32@/path/to/model.safetensors",
            "build coco lvis --precomputed coco=coco_clip_a+cname.npy "
            "--precomputed lvis=lvis_v1_clip_a+cname.npy",
        ),
        formatter_class=_RAW,
    )
    p.add_argument(
        "datasets",
        nargs="+",
        metavar="DATASET_OR_FILE",
        help="built-in names (see `list`) or vocabulary files; NAME=SOURCE names a dataset "
        "(coco_2=coco, mine=classes.txt)",
    )
    p.add_argument(
        "--encoder",
        default=DEFAULT_ENCODER,
        help=f"{DEFAULT_ENCODER} (default, offline), openclip:MODEL[/TAG], openclip:MODEL@CKPT, "
        "hf:MODEL_OR_DIR",
    )
    p.add_argument(
        "--templates",
        default=None,
        help=f"template set ({', '.join(TEMPLATE_SETS)}; default {DEFAULT_TEMPLATES}) "
        "or a JSON file",
    )
    p.add_argument("--no-synonyms", action="store_true", help="embed clean names only")
    p.add_argument(
        "--similarity",
        choices=NORMALIZATIONS,
        default="minmax",
        help="normalisation of cosine to [0, 1] (default minmax)",
    )
    topk = p.add_mutually_exclusive_group()
    topk.add_argument(
        "--topk",
        type=_topk,
        default="auto",
        help="keep only the K most similar labels per row (sparse); default: dense up to "
        f"{AUTO_DENSE_MAX:,} labels, top-{AUTO_TOPK} above",
    )
    topk.add_argument(
        "--dense",
        dest="topk",
        action="store_const",
        const=None,
        help="keep the dense (n, n) similarity however many labels there are",
    )
    p.add_argument("--dtype", choices=SIMILARITY_DTYPES, default="float32", help="similarity dtype")
    p.add_argument("--out", default=None, help="output bundle directory")
    p.add_argument(
        "--device", default="auto", help="auto (default: cuda if available), cpu or cuda[:N]"
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="encoder precision; fp16/bf16 need a GPU (default fp32)",
    )
    p.add_argument("--no-cache", action="store_true", help="do not use the embedding cache")
    p.add_argument(
        "--precomputed",
        action="append",
        default=None,
        metavar="DATASET=FILE",
        help="use a (C, D) .npy/.safetensors file of label embeddings for DATASET instead of "
        "encoding it (repeatable), e.g. lvis=lvis_v1_clip_a+cname.npy",
    )
    p.add_argument(
        "--show-pairs",
        type=int,
        default=8,
        metavar="N",
        help="how many near-duplicate pairs to print (default 8)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.add_argument("--quiet", action="store_true", help="no progress bar; print the path only")
    _add_vocabulary_policies(p)
    p.set_defaults(func=commands.cmd_build)

    p = sub.add_parser(
        "info",
        help="describe a bundle",
        description="Describe a saved bundle.",
        epilog=_examples("info labelspaces/coco+lvis+oid", "info labelspaces/coco+lvis+oid --json"),
        formatter_class=_RAW,
    )
    p.add_argument("bundle", metavar="BUNDLE")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    p.set_defaults(func=commands.cmd_info)

    p = sub.add_parser(
        "neighbors",
        help="nearest labels of a label or free text",
        description="Print the labels nearest to QUERY: 'dataset:name', a label name, or "
        "free text (embedded with the bundle's encoder).",
        epilog=_examples(
            "neighbors labelspaces/coco+lvis+oid coco:dog -k 5",
            "neighbors labelspaces/coco+lvis+oid 'a red fire truck' --datasets lvis",
        ),
        formatter_class=_RAW,
    )
    p.add_argument("bundle", metavar="BUNDLE")
    p.add_argument("query", metavar="QUERY")
    p.add_argument("-k", type=_positive_int, default=10, help="how many (default 10)")
    p.add_argument("--datasets", nargs="+", default=None, help="only these datasets")
    p.add_argument("--json", action="store_true", help="print JSON records")
    p.set_defaults(func=commands.cmd_neighbors)

    p = sub.add_parser(
        "export",
        help="export a bundle for Detic, open_clip, YOLO-World, YOLOE, CSV",
        description="Write a bundle's embeddings, labels or similarity in another tool's format. "
        "Detic, YOLO-World and YOLOE exports are checked against what those models' released "
        "weights use (512-d CLIP ViT-B/32, or MobileCLIP for YOLOE): a mismatch prints one "
        "warning with the config keys to set, or with --strict fails.",
        epilog=_examples(
            "export B --format detic --dataset lvis --out lvis_clip.npy",
            "export B --format openclip --out zs.safetensors",
            "export B --format yoloworld --dataset coco --out coco.npy --strict",
            "export B --format yoloe --dataset coco --out coco_yoloe.npz",
            "export B --format csv --out labels.csv",
            "export B --format similarity --out sim.npy",
        ),
        formatter_class=_RAW,
    )
    p.add_argument("bundle", metavar="BUNDLE")
    p.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    p.add_argument("--out", required=True, help="output file or directory")
    p.add_argument("--dataset", default=None, help="only this dataset, in its own label order")
    p.add_argument(
        "--strict",
        action="store_true",
        help="fail (exit 2, nothing written) instead of warning when the consumer's released "
        "models cannot use the export (embedding width or text encoder)",
    )
    p.set_defaults(func=commands.cmd_export)

    p = sub.add_parser(
        "match",
        help="decide which labels are the same concept as a dataset's labels",
        description="For each label of --from (a dataset of the bundle or any vocabulary), "
        "decide 'same' (with its label among --to) or 'none', with a calibrated confidence "
        "and the evidence (names, plural folding, WordNet synsets and hierarchy, "
        "definitions, embeddings). --format merges writes the 'same' pairs as a CSV that "
        "LabelSpace.union(..., merge='merges.csv') reads back.",
        epilog=_examples(
            "match B --from voc --to coco",
            "match B --from my_classes.txt --to lvis -k 3",
            "match B --from coco --to oid500 --format merges --out merges.csv",
        ),
        formatter_class=_RAW,
    )
    p.add_argument("bundle", metavar="BUNDLE")
    p.add_argument("--from", dest="source", required=True, metavar="VOCAB")
    p.add_argument(
        "--to",
        nargs="+",
        metavar="DATASET",
        default=None,
        help="target datasets (default: every dataset of the bundle but --from)",
    )
    p.add_argument(
        "-k", type=_positive_int, default=1, help="candidates listed per label (default 1)"
    )
    p.add_argument(
        "--threshold",
        type=_probability,
        default=0.5,
        help="'same' when the best candidate's probability reaches it (default 0.5)",
    )
    p.add_argument(
        "--one-to-one",
        action="store_true",
        help="at most one label of --from per target (for datasets without duplicates)",
    )
    p.add_argument(
        "--signals",
        choices=MATCH_SIGNALS,
        default="all",
        help="what the decision may use (default all; embeddings only, + names, + WordNet)",
    )
    p.add_argument(
        "--no-metadata",
        action="store_true",
        help="ignore the datasets' own synsets and definitions (look names up instead)",
    )
    p.add_argument(
        "--format",
        choices=("table", "json", "merges"),
        default="table",
        help="table (default), json records, or merges: a CSV of the 'same' pairs",
    )
    p.add_argument("--json", action="store_true", help="same as --format json")
    p.add_argument("--out", default=None, metavar="FILE", help="write there instead of stdout")
    _add_vocabulary_policies(p)
    p.set_defaults(func=commands.cmd_match)

    p = sub.add_parser(
        "report",
        help="write a self-contained HTML report of a bundle",
        description="Write DIR/index.html: similarity heatmaps per dataset pair, the top "
        "cross-dataset near-duplicates and a PCA map of the label embeddings. Everything is "
        "inline (no network, no JavaScript). Needs matplotlib: "
        'pip install "scaledet-labels[report]".',
        epilog=_examples(
            "report labelspaces/coco+lvis+oid --out report",
            "report labelspaces/coco+voc --out report --max-block 100 --top-pairs 50",
        ),
        formatter_class=_RAW,
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
    p.set_defaults(func=commands.cmd_report)

    p = sub.add_parser(
        "cache",
        help="inspect or clear the prompt-embedding cache",
        description="Inspect or clear the persistent prompt-embedding cache (location: "
        "$SCALEDET_CACHE, else $XDG_CACHE_HOME/scaledet, else the user cache dir).",
        epilog=_examples("cache info", "cache clear"),
        formatter_class=_RAW,
    )
    p.add_argument("action", choices=["info", "clear"])
    p.add_argument("--dir", default=None, help="cache directory (default: the standard one)")
    p.add_argument("--fingerprint", default=None, help="clear only this encoder's entries")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=commands.cmd_cache)
    return parser
