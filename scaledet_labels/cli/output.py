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


def manifest_lines(manifest: Mapping[str, Any], n_labels: int, dim: int) -> list[str]:
    """The human summary of a bundle: labels per dataset, encoder, templates, similarity.

    Examples:
        >>> m = {"datasets": [{"name": "voc", "count": 20, "source": "builtin"}],
        ...      "encoder": {"spec": "minilm", "fingerprint": "hf-mean-0123456789abcdef0"},
        ...      "templates": ["a {}."], "template_set": "custom", "synonyms": True,
        ...      "recipe": "l2-mean-l2",
        ...      "similarity": {"normalization": "minmax", "topk": None, "dtype": "float32"}}
        >>> print("\\n".join(manifest_lines(m, 20, 384)))
        labels      20 x 384 (voc 20)
        encoder     minilm (fingerprint hf-mean-0123456)
        templates   custom (1); synonyms on; recipe l2-mean-l2
        similarity  minmax, dense float32
    """
    counts = ", ".join(f"{d['name']} {d['count']}" for d in manifest["datasets"])
    encoder = manifest["encoder"]
    synonyms = "on" if manifest.get("synonyms", True) else "off"
    sim = manifest["similarity"]
    kind = f"top-{sim['topk']} sparse" if sim["topk"] else "dense"
    return [
        f"labels      {n_labels} x {dim} ({counts})",
        f"encoder     {encoder.get('spec')} (fingerprint {str(encoder.get('fingerprint'))[:16]})",
        f"templates   {manifest.get('template_set') or 'custom'} "
        f"({len(manifest['templates'])}); synonyms {synonyms}; recipe {manifest['recipe']}",
        f"similarity  {sim['normalization']}, {kind} {sim['dtype']}",
    ]
