"""What the CLI prints: plain tables, DataFrames and the one summary of a bundle manifest.

``build`` and ``info`` describe a bundle with the same lines (:func:`manifest_lines`), so
they cannot drift apart.

Examples:
    >>> print(table([["coco", "80"]], ["name", "labels"]))
    name  labels
    ----  ------
    coco  80
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["manifest_lines", "print_frame", "table"]


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """Left-aligned columns under a header and a rule of dashes."""
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines)


def print_frame(frame: Any, as_json: bool) -> None:
    """A DataFrame as JSON records or as an aligned text table (cosines to 4 places)."""
    if as_json:
        print(frame.to_json(orient="records", indent=1, force_ascii=False))
    else:
        print(frame.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


def _precomputed_words(manifest: Mapping[str, Any]) -> str:
    """``coco from coco_clip_a+cname.npy, lvis from an array`` (older bundles: the names)."""
    sources = manifest.get("precomputed_sources") or {}
    words = []
    for dataset in manifest.get("precomputed") or {}:
        record = sources.get(dataset)
        if record is None:
            words.append(dataset)
        else:
            words.append(f"{dataset} from {record.get('file') or 'an array'}")
    return ", ".join(words)


def manifest_lines(manifest: Mapping[str, Any], n_labels: int, dim: int) -> list[str]:
    """The human summary of a bundle: labels per dataset, encoder, templates, similarity.

    A bundle whose every dataset was precomputed has no encoder, templates or ensemble
    recipe, and says so; precomputed datasets name the file they were read from.

    Examples:
        >>> m = {"datasets": [{"name": "voc", "count": 20, "source": "builtin"}],
        ...      "encoder": {"spec": "minilm", "fingerprint": "hf-mean-0123456789abcdef0"},
        ...      "templates": ["a {}."], "template_set": "custom", "synonyms": True,
        ...      "recipe": "l2-mean-l2",
        ...      "similarity": {"normalization": "minmax", "topk": None, "dtype": "float32"}}
        >>> print("\\n".join(manifest_lines(m, 20, 384)))
        labels      20 x 384 (voc 20)
        encoder     minilm (fingerprint hf-mean-01234567)
        templates   custom (1); synonyms on; recipe l2-mean-l2
        similarity  minmax, dense float32
        >>> m |= {"encoder": {"spec": None, "fingerprint": None}, "templates": [],
        ...       "precomputed": {"voc": "0" * 64},
        ...       "precomputed_sources": {"voc": {"file": "voc_clip.npy", "sha256": None,
        ...                                       "dtype": "float16", "shape": [20, 512]}}}
        >>> print("\\n".join(manifest_lines(m, 20, 512)[1:3]))
        encoder     none (precomputed: voc from voc_clip.npy)
        templates   none (precomputed rows, L2-normalised)
    """
    counts = ", ".join(f"{d['name']} {d['count']}" for d in manifest["datasets"])
    encoder = manifest["encoder"]
    synonyms = "on" if manifest.get("synonyms", True) else "off"
    sim = manifest["similarity"]
    kind = f"top-{sim['topk']} sparse" if sim["topk"] else "dense"
    precomputed = _precomputed_words(manifest)
    if precomputed and encoder.get("spec") is None and encoder.get("fingerprint") is None:
        encoder_line = f"encoder     none (precomputed: {precomputed})"
        templates_line = "templates   none (precomputed rows, L2-normalised)"
    else:
        encoder_line = (
            f"encoder     {encoder.get('spec')} "
            f"(fingerprint {str(encoder.get('fingerprint'))[:16]})"
        )
        if precomputed:
            encoder_line += f"; precomputed: {precomputed}"
        templates_line = (
            f"templates   {manifest.get('template_set') or 'custom'} "
            f"({len(manifest['templates'])}); synonyms {synonyms}; recipe {manifest['recipe']}"
        )
    return [
        f"labels      {n_labels} x {dim} ({counts})",
        encoder_line,
        templates_line,
        f"similarity  {sim['normalization']}, {kind} {sim['dtype']}",
    ]
