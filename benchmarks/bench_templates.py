"""Which template set suits the default encoder? LVIS synonym retrieval with MiniLM.

For a random sample of LVIS categories that have synonyms, each synonym is embedded on
its own (as a one-name label, with the template set under test) and used as a query
against a gallery of LVIS categories embedded from their clean names only (the sampled
categories plus as many random distractors). A good label embedding puts a synonym
nearest to its own category. Reports top-1 accuracy and mean reciprocal rank per set.

Run:
    python benchmarks/bench_templates.py                       # 200 + 200 categories
    python benchmarks/bench_templates.py --categories 100 --sets a photo simple
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Any

SETS = ["bare", "a", "photo", "simple", "vild", "openai"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--categories", type=int, default=200, help="sampled with synonyms")
    parser.add_argument("--distractors", type=int, default=200, help="extra gallery labels")
    parser.add_argument("--sets", nargs="+", default=SETS, help="template sets to compare")
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--cache", default=None, help="prompt cache dir (default: temp)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import numpy as np

    from scaledet_labels import load_vocabulary
    from scaledet_labels.embed.embeddings import embed_labels
    from scaledet_labels.embed.templates import get_templates

    lvis = load_vocabulary("lvis")
    rng = np.random.default_rng(args.seed)
    with_syn = [label for label in lvis if label.synonyms]
    others = [label for label in lvis if not label.synonyms]
    picked = [with_syn[i] for i in rng.permutation(len(with_syn))[: args.categories]]
    extra = [others[i] for i in rng.permutation(len(others))[: args.distractors]]
    gallery = picked + extra
    queries = [(syn, g) for g, label in enumerate(picked) for syn in label.synonyms]
    cache = args.cache or tempfile.mkdtemp(prefix="scaledet-bench-templates-")
    rows: list[dict[str, Any]] = []
    for name in args.sets:
        templates: Any = ["{}"] if name == "bare" else name
        start = time.perf_counter()
        g = embed_labels(
            gallery,
            args.encoder,
            templates,
            synonyms=False,
            cache=cache,
            device="cpu",
            progress=False,
        ).embeddings
        q = embed_labels(
            [s for s, _ in queries],
            args.encoder,
            templates,
            cache=cache,
            device="cpu",
            progress=False,
        ).embeddings
        scores = q @ g.T
        truth = np.array([t for _, t in queries])
        own = scores[np.arange(len(truth)), truth]
        ranks = 1 + (scores > own[:, None]).sum(axis=1)
        rows.append(
            {
                "templates": name,
                "n_templates": len(get_templates(templates)),
                "top1": float((ranks == 1).mean()),
                "mrr": float((1.0 / ranks).mean()),
                "seconds": round(time.perf_counter() - start, 1),
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(
        f"LVIS synonym retrieval, encoder {args.encoder}: {len(queries)} synonym queries, "
        f"gallery of {len(gallery)} categories (clean names), seed {args.seed}"
    )
    print("| templates | prompts per name | top-1 | MRR |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['templates']} | {row['n_templates']} | {row['top1']:.3f} | {row['mrr']:.3f} |"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "command": " ".join(sys.argv),
                    "cpu_count": os.cpu_count(),
                    "queries": len(queries),
                    "gallery": len(gallery),
                    "rows": rows,
                },
                f,
                indent=2,
            )


if __name__ == "__main__":
    main()
