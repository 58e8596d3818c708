"""The field's largest vocabularies: cold and warm ``scaledet-labels build`` of V3Det and IN-21k.

Every build is the whole CLI as a new process, ``scaledet-labels build DATASET --out ...
--quiet``, with the default encoder (all-MiniLM-L6-v2) on the CPU and the default
``topk="auto"`` (both vocabularies are over 10,000 labels, so top-64 similarity). Each
process's wall time and peak resident memory (``ru_maxrss`` from ``wait4``) are reported.

* **cold**: a fresh, empty cache directory of its own per dataset: every distinct prompt
  is tokenised, encoded, cached; then the similarity and the bundle.
* **anchor** (first dataset only, default V3Det): the bare encoder forward pass over the
  same distinct prompts in a process of its own: transformers' ``AutoModel`` of the same
  MiniLM checkpoint, the prompts tokenised beforehand (not timed), sorted by length, in
  batches of the encoder's default size (128) padded to their longest prompt, mean-pooled
  and normalised under ``torch.inference_mode``. Only that loop is timed. The cold build's
  wall time over it is what everything else costs (interpreter start, imports, model
  load, tokenising, the cache, the similarity, saving). Target: 1.3x or less.
* **warm**: ``--repeats`` builds of the same dataset against the populated cache (every
  prompt cached, and the label embeddings and similarity the previous build kept in the
  cache's results); median wall time and the largest peak. Targets: V3Det 2 s,
  ImageNet-21k 3 s. Then one build with the results dropped, so every prompt vector is
  read back and averaged and the similarity recomputed ("prompt vectors only").

Cold ImageNet-21k encodes about 273k distinct prompts (its lemmas are synonyms): about
25 minutes on 2 cores. ``--part cold`` / ``--part warm`` run one half; the warm half
needs the caches a cold half left in ``--work``.

Run:
    python benchmarks/bench_scale.py --work benchmarks/out/scale --json benchmarks/out/scale.json
    python benchmarks/bench_scale.py --datasets v3det --part warm --work benchmarks/out/scale
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _machine import cpu_model

ANCHOR = r"""
import json, sys, time
import torch
from transformers import AutoModel, AutoTokenizer
from scaledet_labels import load_vocabulary
from scaledet_labels.embed.encoders.minilm import minilm_dir
from scaledet_labels.embed.prompts import build_prompts

unique = list(build_prompts(load_vocabulary(sys.argv[1])).unique)
batch = int(sys.argv[2])
tokenizer = AutoTokenizer.from_pretrained(minilm_dir(), local_files_only=True)
model = AutoModel.from_pretrained(minilm_dir(), local_files_only=True).eval()
ids = tokenizer(unique, add_special_tokens=True)["input_ids"]
order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
checksum = 0.0
start = time.perf_counter()
with torch.inference_mode():
    for first in range(0, len(order), batch):
        rows = [ids[i] for i in order[first : first + batch]]
        width = max(map(len, rows))
        x = torch.zeros(len(rows), width, dtype=torch.long)
        mask = torch.zeros(len(rows), width, dtype=torch.long)
        for r, row in enumerate(rows):
            x[r, : len(row)] = torch.tensor(row)
            mask[r, : len(row)] = 1
        hidden = model(input_ids=x, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1)
        checksum += float(torch.nn.functional.normalize(pooled, dim=1).sum())
seconds = time.perf_counter() - start
print(json.dumps({"forward_s": seconds, "prompts": len(unique), "checksum": checksum}))
"""


def timed_rss(cmd: list[str], env: dict[str, str]) -> tuple[float, str, float]:
    """Wall seconds, stdout and peak RSS (MB) of one child process."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if code != 0:
            raise SystemExit(f"{' '.join(cmd[:4])} failed ({code}):\n{err.read()[-3000:]}")
        return seconds, out.read(), usage.ru_maxrss * 1024 / 1e6  # KiB on Linux


def build_cmd(cli: str, dataset: str, out: Path) -> list[str]:
    return [cli, "build", dataset, "--out", str(out), "--quiet", "--device", "cpu"]


def stats_of(bundle: Path) -> dict[str, Any]:
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    return dict(manifest["stats"]) | {"n_labels": manifest["n_labels"]}


def cold(cli: str, dataset: str, work: Path) -> dict[str, Any]:
    cache = work / f"cache-{dataset}"
    shutil.rmtree(cache, ignore_errors=True)
    env = dict(os.environ, SCALEDET_CACHE=str(cache))
    bundle = work / f"{dataset}-cold"
    seconds, _, rss = timed_rss(build_cmd(cli, dataset, bundle), env)
    stats = stats_of(bundle)
    return {
        "wall_s": round(seconds, 1),
        "peak_rss_mb": round(rss),
        "labels": stats["n_labels"],
        "prompts_unique": stats["prompts_unique"],
        "encoded": stats["encoded"],
        "prompts_per_s": round(stats["encoded"] / seconds, 1),
    }


def anchor(dataset: str) -> dict[str, Any]:
    from scaledet_labels.embed.encoders.hf import HFTextEncoder

    batch = HFTextEncoder.default_batch_size
    seconds, stdout, rss = timed_rss(
        [sys.executable, "-c", ANCHOR, dataset, str(batch)], {**os.environ}
    )
    record = json.loads(stdout)
    return {
        "forward_s": round(record["forward_s"], 1),
        "prompts": record["prompts"],
        "batch": batch,
        "process_s": round(seconds, 1),
        "peak_rss_mb": round(rss),
    }


def warm(cli: str, dataset: str, work: Path, repeats: int) -> dict[str, Any]:
    cache = work / f"cache-{dataset}"
    if not cache.is_dir():
        raise SystemExit(f"no cache for {dataset} in {work}: run the cold part first")
    env = dict(os.environ, SCALEDET_CACHE=str(cache))
    bundle = work / f"{dataset}-warm"
    runs = [timed_rss(build_cmd(cli, dataset, bundle), env) for _ in range(repeats)]
    stats = stats_of(bundle)
    if stats["encoded"]:
        raise SystemExit(f"warm build of {dataset} encoded {stats['encoded']} prompts")
    # The same build when only the prompt vectors are cached (e.g. the first build after
    # a template change that leaves these prompts alone): drop the whole results.
    with sqlite3.connect(cache / "prompt_embeddings.sqlite3") as db:
        db.execute("DELETE FROM results")
    prompts_only_s, _, prompts_only_rss = timed_rss(build_cmd(cli, dataset, bundle), env)
    return {
        "wall_s": [round(s, 2) for s, _, _ in runs],
        "median_s": round(statistics.median(s for s, _, _ in runs), 2),
        "peak_rss_mb": round(max(r for _, _, r in runs)),
        "prompt_vectors_only_s": round(prompts_only_s, 2),
        "prompt_vectors_only_rss_mb": round(prompts_only_rss),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["v3det", "imagenet21k"])
    parser.add_argument("--part", choices=["all", "cold", "warm"], default="all")
    parser.add_argument("--repeats", type=int, default=5, help="warm runs (median reported)")
    parser.add_argument("--work", default=None, help="keep caches and bundles here")
    parser.add_argument("--no-anchor", action="store_true", help="skip the bare forward pass")
    parser.add_argument("--json", default=None, help="also write results as JSON here")
    args = parser.parse_args()

    cli = shutil.which("scaledet-labels")
    if cli is None:
        raise SystemExit("scaledet-labels is not on PATH: pip install -e .")
    work = Path(args.work or tempfile.mkdtemp(prefix="scaledet-bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "machine": f"{cpu_model()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "load_avg_1m_before": round(os.getloadavg()[0], 2),
        "results": {},
    }
    try:
        for i, dataset in enumerate(args.datasets):
            result: dict[str, Any] = {}
            if args.part in ("all", "cold"):
                result["cold"] = cold(cli, dataset, work)
                print(f"{dataset} cold: {result['cold']}", file=sys.stderr, flush=True)
                if i == 0 and not args.no_anchor:
                    result["anchor"] = anchor(dataset)
                    result["cold_over_forward"] = round(
                        result["cold"]["wall_s"] / result["anchor"]["forward_s"], 2
                    )
                    print(f"{dataset} anchor: {result['anchor']}", file=sys.stderr, flush=True)
            if args.part in ("all", "warm"):
                result["warm"] = warm(cli, dataset, work, args.repeats)
                print(f"{dataset} warm: {result['warm']}", file=sys.stderr, flush=True)
            report["results"][dataset] = result
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    report["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    print(f"`{report['command']}` on {report['machine']}\n")
    print("| build | labels | distinct prompts | wall | prompts/s | peak RSS |")
    print("|---|---:|---:|---:|---:|---:|")
    for dataset, result in report["results"].items():
        if "cold" in result:
            c = result["cold"]
            print(
                f"| {dataset} cold | {c['labels']:,} | {c['prompts_unique']:,} | "
                f"{c['wall_s']:.1f} s | {c['prompts_per_s']:.0f} | {c['peak_rss_mb']:,} MB |"
            )
        if "anchor" in result:
            a = result["anchor"]
            print(
                f"| {dataset} bare forward (anchor) | | {a['prompts']:,} | {a['forward_s']:.1f} s "
                f"| {a['prompts'] / a['forward_s']:.0f} | {a['peak_rss_mb']:,} MB |"
            )
        if "warm" in result:
            w = result["warm"]
            print(
                f"| {dataset} warm (median of {len(w['wall_s'])}) | | | {w['median_s']:.2f} s | "
                f"| {w['peak_rss_mb']:,} MB |"
            )
            print(
                f"| {dataset} warm, prompt vectors only | | | "
                f"{w['prompt_vectors_only_s']:.2f} s | | {w['prompt_vectors_only_rss_mb']:,} MB |"
            )
    for dataset, result in report["results"].items():
        if "cold_over_forward" in result:
            print(
                f"\n{dataset}: cold build / bare forward = {result['cold_over_forward']:.2f}x "
                "(target 1.3x)"
            )


if __name__ == "__main__":
    main()
