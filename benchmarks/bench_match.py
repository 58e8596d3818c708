"""The label matcher on development correspondences from public metadata; fits its model.

Development correspondences (no pair written by hand):

* **COCO <-> LVIS**: the official LVIS mapping of the 80 COCO categories to WordNet
  synsets (lvis-api ``data/coco_to_synset.json``, in ``benchmarks/data/``); a COCO label
  and the LVIS label with that synset are the same concept. 79 COCO labels have one.
* **ImageNet-21k <-> LVIS**: the same WordNet synset (ImageNet-21k's wnid is a WordNet 3.0
  offset; LVIS gives its synsets). 997 of the 1,203 LVIS synsets are ImageNet-21k
  classes; the other 20,844 ImageNet-21k classes and 206 LVIS labels have no counterpart.

Each pair of datasets is matched in both directions (4 tasks). Reported per task and
signal set (embeddings only; + names; + WordNet; all, i.e. + definitions): average
precision of ``same`` decisions ranked by confidence (a decision is right when its target
is the counterpart; labels with a counterpart are the positives), precision and recall of
``same`` at the default threshold 0.5, top-1 (the best candidate is the counterpart, over
labels with one) and the precision of ``none`` (labels decided ``none`` that have no
counterpart). Four settings: **metadata** (the datasets' synsets and definitions visible
to the matcher), **names only** (hidden: synsets looked up by name, as for vocabularies
nobody annotated, e.g. Objects365 and OpenImages), and **source metadata** / **target
metadata** (visible on one side only, as for COCO, which has synsets, against
OpenImages, which has none).

The model is fitted per signal set (logistic regression, L2 penalty 1.0, each task
weighing the same) on the candidate pairs of every setting; the WordNet models only on
pairs where both labels have a synset (``matching.score`` sends the others to the names
model). The table reports it **leave-one-dataset-pair-out**: the COCO <-> LVIS
tasks are scored by a model fitted on ImageNet-21k <-> LVIS alone and vice versa, so no
score comes from a model that saw its pairs. ``--fit`` writes the model fitted on
everything to ``scaledet_labels/data/matcher.json`` (what the library ships).

Speed: the decisions of COCO, Objects365 and OpenImages-500 against each other (6
directed matches) from a built bundle, in one process (target: 2 s), and the whole
``scaledet-labels match`` command once.

Run:
    python benchmarks/bench_match.py                  # evaluate the shipped model too
    python benchmarks/bench_match.py --fit            # refit and write matcher.json
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _machine import cpu_model

ROOT = Path(__file__).resolve().parents[1]
COCO_TO_SYNSET = ROOT / "benchmarks" / "data" / "coco_to_synset.json"
MODEL_PATH = ROOT / "scaledet_labels" / "data" / "matcher.json"
L2 = 1.0  # total L2 penalty on the weights (not per pair)
SIGNAL_SETS = ("embeddings", "names", "wordnet", "all")
#: Which side's synsets and definitions the matcher sees: (source, target).
SETTINGS = {
    "metadata": (True, True),
    "names only": (False, False),
    "source metadata": (True, False),
    "target metadata": (False, True),
}


# -- data ------------------------------------------------------------------------------------
def vocabularies() -> dict[str, Any]:
    from scaledet_labels import load_vocabulary

    return {name: load_vocabulary(name) for name in ("coco", "lvis", "imagenet21k")}


def gold_pairs(vocabs: dict[str, Any]) -> dict[tuple[str, str], dict[int, int]]:
    """``{(source, target): {source index: target index}}`` for the 4 tasks."""
    mapping = json.loads(COCO_TO_SYNSET.read_text(encoding="utf-8"))["coco_id_to_synset"]
    lvis_by_synset = {label.synset: label.index for label in vocabs["lvis"]}
    coco_lvis = {
        label.index: lvis_by_synset[mapping[str(label.id)]]
        for label in vocabs["coco"]
        if mapping.get(str(label.id)) in lvis_by_synset
    }
    in21k_lvis = {
        label.index: lvis_by_synset[label.synset]
        for label in vocabs["imagenet21k"]
        if label.synset in lvis_by_synset
    }
    return {
        ("coco", "lvis"): coco_lvis,
        ("lvis", "coco"): {t: s for s, t in coco_lvis.items()},
        ("lvis", "imagenet21k"): {t: s for s, t in in21k_lvis.items()},
        ("imagenet21k", "lvis"): in21k_lvis,
    }


def embeddings(vocabs: dict[str, Any], cache: str | None) -> dict[str, np.ndarray]:
    from scaledet_labels import embed_labels

    out = {}
    for name, vocab in vocabs.items():
        started = time.perf_counter()
        result = embed_labels(vocab, cache=cache or True, device="cpu", progress=None)
        print(
            f"embedded {name}: {len(vocab)} labels in {time.perf_counter() - started:.1f} s "
            f"({result.stats.encoded} prompts encoded)",
            file=sys.stderr,
            flush=True,
        )
        out[name] = result.embeddings
    return out


# -- fitting -----------------------------------------------------------------------------------
def fit_logistic(
    x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None, l2: float = L2
) -> tuple[np.ndarray, float]:
    """Weighted L2-regularised logistic regression by Newton's method (bias unpenalised)."""
    design = np.hstack([x, np.ones((len(x), 1))])
    weight = np.ones(len(x)) if weight is None else weight
    w = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ w, -40, 40)))
        gradient = design.T @ (weight * (p - y)) + penalty * w
        curvature = weight * p * (1 - p)
        hessian = (design * curvature[:, None]).T @ design + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def model_from(fits: dict[str, tuple[np.ndarray, float]], note: str) -> dict[str, Any]:
    from scaledet_labels.bundle.matching import FEATURES

    return {
        "features": list(FEATURES),
        "models": {
            name: {"weights": [round(float(v), 6) for v in w], "bias": round(b, 6)}
            for name, (w, b) in fits.items()
        },
        "provenance": {
            "script": "benchmarks/bench_match.py --fit",
            "fitted_on": note,
            "date": dt.date.today().isoformat(),
        },
    }


# -- evaluation --------------------------------------------------------------------------------
def average_precision(scores: Sequence[float], correct: Sequence[bool], positives: int) -> float:
    order = np.argsort(-np.asarray(scores), kind="stable")
    hits = np.asarray(correct, dtype=float)[order]
    if positives == 0:
        return float("nan")
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / positives)


def evaluate(matches: Sequence[Any], gold: dict[int, int]) -> dict[str, float]:
    positives = len(gold)
    scored = [(m.p_same, gold.get(m.source) == m.target) for m in matches if m.target >= 0]
    ap = average_precision([s for s, _ in scored], [c for _, c in scored], positives)
    same = [m for m in matches if m.decision == "same"]
    right = sum(gold.get(m.source) == m.target for m in same)
    nones = [m for m in matches if m.decision == "none"]
    with_counterpart = [m for m in matches if m.source in gold]
    top1 = sum(m.target == gold[m.source] for m in with_counterpart)
    return {
        "ap": ap,
        "precision": right / len(same) if same else float("nan"),
        "recall": right / positives if positives else float("nan"),
        "top1": top1 / len(with_counterpart) if with_counterpart else float("nan"),
        "none_precision": (
            sum(m.source not in gold for m in nones) / len(nones) if nones else float("nan")
        ),
        "same": len(same),
        "none": len(nones),
        "positives": positives,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default=None, help="prompt cache directory (default: usual)")
    parser.add_argument("--fit", action="store_true", help=f"write {MODEL_PATH.name}")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()

    from scaledet_labels.bundle.matching import candidate_pairs, decide

    vocabs = vocabularies()
    gold = gold_pairs(vocabs)
    vectors = embeddings(vocabs, args.cache)
    group_of = {task: "coco-lvis" if "coco" in task else "imagenet21k-lvis" for task in gold}

    # candidate pairs and labels of every task, both settings
    data: dict[tuple[tuple[str, str], bool], Any] = {}
    for task, pairs in gold.items():
        source, target = task
        for setting, metadata in SETTINGS.items():
            started = time.perf_counter()
            candidates = candidate_pairs(
                vocabs[source].labels,
                vectors[source],
                vocabs[target].labels,
                vectors[target],
                metadata=metadata,
            )
            y = np.array(
                [
                    pairs.get(int(i)) == int(j)
                    for i, j in zip(candidates.source, candidates.target, strict=True)
                ],
                dtype=float,
            )
            data[task, setting] = (candidates, y)
            print(
                f"{source} -> {target} ({setting}): {len(y)} candidate pairs, "
                f"{int(y.sum())} right, {time.perf_counter() - started:.1f} s",
                file=sys.stderr,
                flush=True,
            )
    missed = {
        task: len(pairs) - int(data[task, "names only"][1].sum()) for task, pairs in gold.items()
    }
    print(f"counterparts among no candidate (names only): {missed}", file=sys.stderr)

    from scaledet_labels.bundle.matching import _WIDTH, IN_WORDNET

    def fit(groups: set[str]) -> dict[str, tuple[np.ndarray, float]]:
        """Each task weighs the same (its pairs share a total weight of 1,000). The
        WordNet models are fitted on the pairs where both labels have a synset (the
        others are scored by the names model, see ``matching.score``)."""
        fits = {}
        for signals in SIGNAL_SETS:
            chosen = [key for key in data if group_of[key[0]] in groups]
            xs, ys, ws = [], [], []
            for key in chosen:
                features, y = data[key][0].features, data[key][1]
                if _WIDTH[signals] > IN_WORDNET:
                    keep = features[:, IN_WORDNET] > 0
                    features, y = features[keep], y[keep]
                xs.append(features[:, : _WIDTH[signals]])
                ys.append(y)
                ws.append(np.full(len(y), 1000.0 / max(len(y), 1)))
            fits[signals] = fit_logistic(np.vstack(xs), np.concatenate(ys), np.concatenate(ws))
        return fits

    groups = set(group_of.values())
    held_out = {g: model_from(fit(groups - {g}), f"all but {g}") for g in groups}
    everything = model_from(fit(groups), "coco-lvis and imagenet21k-lvis, both settings")
    results: dict[str, Any] = {"leave_one_out": {}, "fitted_on_all": {}, "pooled": {}}
    pooled: dict[str, tuple[list[Any], dict[int, int]]] = {}
    from scaledet_labels.bundle.matching import score

    for (task, setting), (candidates, _) in data.items():
        n = len(vocabs[task[0]])
        for signals in SIGNAL_SETS:
            for kind, model in (
                ("leave_one_out", held_out[group_of[task]]),
                ("fitted_on_all", everything),
            ):
                p = score(candidates.features, signals, model)  # type: ignore[arg-type]
                matches = decide(candidates, p, n)
                key = f"{task[0]}->{task[1]} {setting} {signals}"
                results[kind][key] = evaluate(matches, gold[task])
                if kind == "leave_one_out":  # every task's decisions in one list
                    pool = f"pooled {setting} {signals}"
                    decisions, truth = pooled.setdefault(pool, ([], {}))
                    offset = 10**6 * list(gold).index(task)  # unique rows across tasks
                    for m in matches:
                        target = m.target + offset if m.target >= 0 else -1
                        decisions.append(
                            dataclasses.replace(m, source=m.source + offset, target=target)
                        )
                    truth.update({s + offset: t + offset for s, t in gold[task].items()})
    for pool, (decisions, truth) in pooled.items():
        results["pooled"][pool] = evaluate(decisions, truth)

    if args.fit:
        MODEL_PATH.write_text(json.dumps(everything, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {MODEL_PATH}", file=sys.stderr)
    results["model"] = everything
    results["speed"] = speed()
    results["machine"] = f"{cpu_model()}, {os.cpu_count()} CPUs"
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    report(results)


def speed() -> dict[str, float]:
    """COCO, Objects365 and OpenImages-500 matched against each other, warm."""
    import scaledet_labels as sl

    work = tempfile.mkdtemp(prefix="scaledet-bench-match-")
    try:
        bundle = sl.build_label_space(["coco", "objects365", "oid500"], device="cpu")
        path = bundle.save(os.path.join(work, "b"))
        names = ["coco", "objects365", "oid500"]
        started = time.perf_counter()
        loaded = sl.load_bundle(path)
        decisions = 0
        for a in names:
            for b in names:
                if a != b:
                    decisions += len(loaded.match(a, to=b))
        in_process = time.perf_counter() - started
        cli = shutil.which("scaledet-labels")
        command_s = float("nan")
        if cli:
            started = time.perf_counter()
            subprocess.run(
                [cli, "match", str(path), "--from", "coco", "--to", "oid500"],
                check=True,
                capture_output=True,
            )
            command_s = time.perf_counter() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"six_matches_s": in_process, "decisions": decisions, "cli_match_s": command_s}


def report(results: dict[str, Any]) -> None:
    print(f"machine: {results['machine']}\n")
    for kind, title in (
        ("pooled", "All four tasks pooled, leave one dataset pair out"),
        ("leave_one_out", "Leave one dataset pair out (the scores to read)"),
        ("fitted_on_all", "The shipped model (fitted on every task: optimistic)"),
    ):
        print(f"### {title}\n")
        print(
            "| task | setting | signals | AP | top-1 | P@0.5 | R@0.5 | none precision "
            "| same / none |"
        )
        print("|---|---|---|---:|---:|---:|---:|---:|---:|")
        for key, r in results[kind].items():
            task, *setting, signals = key.split(" ")
            print(
                f"| {task} | {' '.join(setting)} | {signals} | {r['ap']:.3f} | {r['top1']:.3f} | "
                f"{r['precision']:.3f} | {r['recall']:.3f} | {r['none_precision']:.3f} | "
                f"{r['same']} / {r['none']} |"
            )
        print()
    s = results["speed"]
    print(
        f"COCO, Objects365, OpenImages-500 against each other: {s['decisions']} decisions in "
        f"{s['six_matches_s']:.2f} s (bundle loaded in the same time); "
        f"`scaledet-labels match B --from coco --to oid500`: {s['cli_match_s']:.2f} s"
    )


if __name__ == "__main__":
    main()
