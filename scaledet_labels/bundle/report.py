"""A self-contained HTML report of a bundle: similarity heatmaps, near-duplicates, a 2-D map.

:func:`write_report` writes ``DIR/index.html``: one page with everything inline (PNG
images as base64 data URIs, inline CSS, no JavaScript, no network resource), so it can be
mailed, archived or opened offline. It shows

1. the manifest summary (datasets and counts, encoder, templates, similarity);
2. per pair of datasets, a heatmap of their block of the similarity matrix (large blocks
   are cut to the ``max_block`` most connected rows and columns);
3. the strongest cross-dataset near-duplicates and the number of same-name pairs;
4. a PCA map of the label embeddings, coloured by dataset.

matplotlib is an optional dependency (``pip install "scaledet-labels[report]"``); it is
imported only when a report is written, with the Agg canvas (no display, no global
backend switch).

Examples:
    >>> import numpy as np, tempfile
    >>> from scaledet_labels import LabelSpace, build_label_space
    >>> from scaledet_labels.bundle.report import write_report
    >>> space = LabelSpace.union(["cat, dog", "kitty, car"], names=["x", "y"])
    >>> emb = np.eye(4, 8, dtype=np.float32)
    >>> bundle = build_label_space(space, precomputed={"x": emb[:2], "y": emb[2:]})
    >>> write_report(bundle, tempfile.mkdtemp()).name  # doctest: +SKIP
    'index.html'
"""

from __future__ import annotations

import base64
import html
import io
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scaledet_labels.errors import ReportDependencyError

if TYPE_CHECKING:
    import numpy.typing as npt

    from scaledet_labels.bundle.container import LabelSpaceBundle

__all__ = ["ReportDependencyError", "write_report"]

_log = logging.getLogger(__name__)

_INSTALL = 'pip install "scaledet-labels[report]"'
#: Blocks with at most this many rows and columns get label names as tick labels.
_TICK_LIMIT = 30

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 2em auto; max-width: 1150px; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { padding: 0.25em 0.8em; border-bottom: 1px solid #eee; text-align: left; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
dl.summary { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1.2em; }
dl.summary dt { font-weight: 600; }
dl.summary dd { margin: 0; }
figure { display: inline-block; margin: 0.5em 1em 1em 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #555; max-width: 540px; }
.note { color: #555; }
"""


def _figure_class() -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ReportDependencyError(
            f"the HTML report needs matplotlib, which is not installed ({exc}); "
            f"install it with: {_INSTALL}"
        ) from None
    del FigureCanvasAgg  # imported to fail early; Figure.savefig uses the Agg canvas
    return Figure


def _png_data_uri(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _plain(text: str) -> str:
    """A name safe for matplotlib text (no mathtext)."""
    return text.replace("$", r"\$")


def _most_connected(scores: npt.NDArray[Any], keep: int) -> npt.NDArray[np.int64]:
    """Positions of the ``keep`` largest scores, in their original order."""
    if scores.size <= keep:
        return np.arange(scores.size, dtype=np.int64)
    top = np.argsort(-scores, kind="stable")[:keep]
    return np.sort(top).astype(np.int64)


def _block(
    similarity: Any, rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64], max_block: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The block S[rows, cols], cut to the ``max_block`` most connected rows/columns.

    Returns the dense block and the kept positions within ``rows`` and ``cols``.
    """
    if isinstance(similarity, np.ndarray):
        full: Any = similarity[np.ix_(rows, cols)].astype(np.float32)
        row_max = full.max(axis=1) if full.size else np.zeros(len(rows))
        col_max = full.max(axis=0) if full.size else np.zeros(len(cols))
    else:
        full = similarity[rows][:, cols].tocsr()
        row_max = np.asarray(full.max(axis=1).toarray()).ravel()
        col_max = np.asarray(full.max(axis=0).toarray()).ravel()
    keep_rows = _most_connected(np.asarray(row_max, dtype=np.float64), max_block)
    keep_cols = _most_connected(np.asarray(col_max, dtype=np.float64), max_block)
    picked = full[keep_rows][:, keep_cols]
    if not isinstance(picked, np.ndarray):
        picked = picked.toarray()
    return np.asarray(picked, dtype=np.float32), keep_rows, keep_cols


def _heatmap(
    figure_cls: Any,
    block: npt.NDArray[np.float32],
    row_names: list[str],
    col_names: list[str],
    row_title: str,
    col_title: str,
) -> str:
    fig = figure_cls(figsize=(5.4, 4.6))
    ax = fig.add_subplot()
    image = ax.imshow(block, aspect="auto", interpolation="nearest", cmap="viridis")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="similarity")
    ax.set_xlabel(_plain(col_title))
    ax.set_ylabel(_plain(row_title))
    if block.shape[0] <= _TICK_LIMIT and block.shape[1] <= _TICK_LIMIT:
        ax.set_yticks(range(block.shape[0]), [_plain(n) for n in row_names], fontsize=7)
        ax.set_xticks(
            range(block.shape[1]), [_plain(n) for n in col_names], fontsize=7, rotation=90
        )
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return _png_data_uri(fig)


def _pca_2d(embeddings: npt.NDArray[Any]) -> tuple[npt.NDArray[np.float64], list[float]]:
    """The first two principal components of the rows, and their explained-variance ratios."""
    x = np.asarray(embeddings, dtype=np.float64)
    centred = x - x.mean(axis=0, keepdims=True)
    coords = np.zeros((x.shape[0], 2))
    if x.shape[0] < 2:
        return coords, [0.0, 0.0]
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    k = min(2, vt.shape[0])
    coords[:, :k] = centred @ vt[:k].T
    variance = singular**2
    total = float(variance.sum())
    ratios = [float(variance[i] / total) if total > 0 and i < k else 0.0 for i in range(2)]
    return coords, ratios


def _pca_map(figure_cls: Any, bundle: LabelSpaceBundle) -> tuple[str, list[float]]:
    space = bundle.label_space
    coords, ratios = _pca_2d(bundle.embeddings)
    fig = figure_cls(figsize=(9.0, 7.0))
    ax = fig.add_subplot()
    n = len(space)
    size = float(np.clip(4000.0 / max(n, 1), 9.0, 40.0))
    colours = "tab10" if len(space.datasets) <= 10 else "tab20"
    from matplotlib import colormaps

    cmap = colormaps[colours]
    for d, name in enumerate(space.datasets):
        idx = space.indices(d)
        ax.scatter(
            coords[idx, 0],
            coords[idx, 1],
            s=size,
            alpha=0.7,
            color=cmap(d % cmap.N),
            label=f"{_plain(name)} ({len(idx)})",
            linewidths=0,
            zorder=2 + n - len(idx),  # small datasets on top of large ones
        )
    ax.set_xlabel(f"PC1 ({100 * ratios[0]:.1f}% of variance)")
    ax.set_ylabel(f"PC2 ({100 * ratios[1]:.1f}% of variance)")
    ax.legend(title="dataset", loc="best", markerscale=max(1.0, 30.0 / size) ** 0.5)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return _png_data_uri(fig), ratios


def _summary(bundle: LabelSpaceBundle) -> str:
    manifest = bundle.manifest
    space = bundle.label_space
    e = html.escape
    datasets = ", ".join(f"{e(name)} ({len(space.indices(name))})" for name in space.datasets)
    encoder = manifest.get("encoder") or {}
    spec = encoder.get("spec") if isinstance(encoder, dict) else None
    templates = manifest.get("templates") or []
    template_set = manifest.get("template_set") or "custom"
    sim = manifest.get("similarity") or {}
    topk = sim.get("topk")
    kind = f"top-{topk} sparse" if topk else "dense"
    items = [
        ("labels", f"{len(space)} x {bundle.dim}"),
        ("datasets", datasets),
        ("encoder", e(str(spec if spec is not None else "precomputed / callable"))),
        ("templates", f"{e(str(template_set))} ({len(templates)})"),
        ("recipe", e(str(manifest.get("recipe", "?")))),
        (
            "similarity",
            f"{e(str(sim.get('normalization', '?')))} normalisation, {e(kind)} "
            f"{e(str(sim.get('dtype', '')))}",
        ),
    ]
    identity = manifest.get("identity")
    if identity:
        items.append(("identity", e(str(identity)[:16])))
    return (
        '<dl class="summary">\n'
        + "\n".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items)
        + "\n</dl>"
    )


def write_report(
    bundle: LabelSpaceBundle,
    out_dir: str | os.PathLike[str],
    *,
    max_block: int = 300,
    top_pairs: int = 30,
) -> Path:
    """Write a self-contained HTML report of a bundle to ``out_dir/index.html``.

    The page holds everything inline (PNG images as base64 data URIs, CSS) and loads
    nothing from the network; it needs no JavaScript.

    Args:
        bundle: The bundle to describe.
        out_dir: The output directory (created if missing); ``index.html`` in it is
            replaced.
        max_block: Largest number of rows or columns drawn per similarity heatmap; a
            larger block shows its ``max_block`` most connected rows and columns (those
            with the largest maximum similarity), and its caption says so.
        top_pairs: How many cross-dataset near-duplicate pairs to list.

    Returns:
        The path of the written ``index.html``.

    Raises:
        ReportDependencyError: matplotlib is not installed
            (``pip install "scaledet-labels[report]"``).
        ValueError: ``max_block`` or ``top_pairs`` is not a positive integer.

    Examples:
        >>> from scaledet_labels import load_bundle
        >>> from scaledet_labels.bundle.report import write_report
        >>> write_report(load_bundle("labelspaces/coco+voc"), "report/")  # doctest: +SKIP
        PosixPath('report/index.html')
    """
    for name, value in (("max_block", max_block), ("top_pairs", top_pairs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    figure_cls = _figure_class()
    space = bundle.label_space
    e = html.escape
    names = [label.name for label in space]
    parts: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        "<title>scaledet-labels report</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<h1>scaledet-labels report</h1>",
        _summary(bundle),
    ]

    # 1. heatmaps per dataset pair
    parts.append("<h2>Similarity between datasets</h2>")
    datasets = space.datasets
    if len(datasets) < 2:
        parts.append('<p class="note">Only one dataset: no cross-dataset blocks.</p>')
    for i in range(len(datasets)):
        rows = space.indices(i)
        for j in range(i + 1, len(datasets)):
            cols = space.indices(j)
            block, keep_rows, keep_cols = _block(bundle.similarity, rows, cols, max_block)
            uri = _heatmap(
                figure_cls,
                block,
                [names[int(rows[r])] for r in keep_rows],
                [names[int(cols[c])] for c in keep_cols],
                datasets[i],
                datasets[j],
            )
            a, b = e(datasets[i]), e(datasets[j])
            caption = f"{a} (rows, {len(rows)}) x {b} (columns, {len(cols)})"
            if len(keep_rows) < len(rows) or len(keep_cols) < len(cols):
                caption += (
                    f"; showing the {len(keep_rows)} x {len(keep_cols)} most connected rows "
                    "and columns (largest maximum similarity), in label order"
                )
            parts.append(
                f'<figure class="heatmap"><img src="{uri}" alt="similarity {a} x {b}">'
                f"<figcaption>{caption}</figcaption></figure>"
            )

    # 2. near-duplicates
    pairs = bundle.near_duplicates(top_pairs)
    same = bundle.same_name_pairs()
    parts.append("<h2>Cross-dataset near-duplicates</h2>")
    parts.append(
        f"<p>{len(same)} cross-dataset pairs share a clean name (ignoring case). The "
        f"{len(pairs)} most similar label pairs from different datasets (cosine of the "
        "label embeddings):</p>"
    )
    if pairs:
        rows_html = "\n".join(
            f'<tr class="pair"><td class="num">{cosine:.3f}</td>'
            f"<td>{e(f'{x.dataset}:{x.name}')}</td><td>{e(f'{y.dataset}:{y.name}')}</td></tr>"
            for x, y, cosine in pairs
        )
        parts.append(
            '<table class="pairs">\n<tr><th>cosine</th><th>label A</th><th>label B</th></tr>\n'
            f"{rows_html}\n</table>"
        )

    # 3. PCA map
    uri, ratios = _pca_map(figure_cls, bundle)
    parts.append("<h2>Label embeddings (PCA)</h2>")
    parts.append(
        f'<figure class="pca"><img src="{uri}" alt="PCA map of the label embeddings">'
        f"<figcaption>The {len(space)} label embeddings projected on their first two "
        f"principal components ({100 * sum(ratios):.1f}% of the variance), coloured by "
        "dataset.</figcaption></figure>"
    )
    parts += ["</body>", "</html>", ""]

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "index.html"
    target.write_text("\n".join(parts), encoding="utf-8")
    _log.info("wrote report %s", target)
    return target
