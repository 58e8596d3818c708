"""Encoding speed: our OpenCLIP text encoder vs ``open_clip.build_zero_shot_classifier``.

Same random ViT-B-32 text tower, same class names (the first N of open_clip's
``IMAGENET_CLASSNAMES``), same templates (open_clip's 7 ``SIMPLE_IMAGENET_TEMPLATES``),
same process and thread count. Reports wall-clock seconds, the speed-up ratio and the max
abs difference of the (C, D) label embeddings (open_clip's (D, C) output is transposed).
Target: at least 8x, max abs difference <= 1e-5.

It also reports the default encoder (MiniLM) throughput on the same prompts.

Run:
    python benchmarks/bench_encode.py                 # 100 names x 7 templates, 2 threads
    python benchmarks/bench_encode.py --names 20 --repeats 1 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from typing import Any

from _machine import cpu_model


def machine() -> dict[str, Any]:
    """CPU model, cores, load and library versions."""
    import open_clip
    import torch

    model = cpu_model()
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "torch": torch.__version__,
        "open_clip": open_clip.__version__,
        "python": platform.python_version(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=100, help="class names (default 100)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of ours (median)")
    parser.add_argument("--baseline-repeats", type=int, default=1, help="runs of open_clip's")
    parser.add_argument("--batch-size", type=int, default=None, help="our batch size")
    parser.add_argument("--skip-minilm", action="store_true", help="skip the MiniLM section")
    parser.add_argument("--json", default=None, help="also write results as JSON here")
    args = parser.parse_args()

    import numpy as np
    import open_clip
    import torch
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES, SIMPLE_IMAGENET_TEMPLATES

    from scaledet_labels.embed.embeddings import embed_labels
    from scaledet_labels.embed.encoders import MiniLMEncoder, OpenCLIPEncoder

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    names = list(IMAGENET_CLASSNAMES[: args.names])
    model = open_clip.create_model("ViT-B-32", pretrained=None).eval()
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    encoder = OpenCLIPEncoder.from_model(model, tokenizer, fingerprint="bench-random-vit-b-32")

    # Warm-up: tokenizer caches, allocator, first-call overheads of both paths.
    open_clip.build_zero_shot_classifier(model, tokenizer, names[:2], SIMPLE_IMAGENET_TEMPLATES)
    embed_labels(names[:2], encoder, "simple", cache=False, progress=False)

    baseline_times, baseline_cpu = [], []
    reference = None
    for _ in range(args.baseline_repeats):
        start, cpu = time.perf_counter(), time.process_time()
        columns = open_clip.build_zero_shot_classifier(
            model, tokenizer, names, SIMPLE_IMAGENET_TEMPLATES
        )
        baseline_times.append(time.perf_counter() - start)
        baseline_cpu.append(time.process_time() - cpu)
        reference = columns.T.numpy()
    ours_times, ours_cpu = [], []
    result = None
    for _ in range(args.repeats):
        start, cpu = time.perf_counter(), time.process_time()
        result = embed_labels(
            names, encoder, "simple", cache=False, batch_size=args.batch_size, progress=False
        )
        ours_times.append(time.perf_counter() - start)
        ours_cpu.append(time.process_time() - cpu)
    if result is None or reference is None:
        raise SystemExit("--repeats and --baseline-repeats must be at least 1")
    max_abs = float(np.abs(result.embeddings - reference).max())
    baseline = statistics.median(baseline_times)
    ours = statistics.median(ours_times)
    report: dict[str, Any] = {
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "machine": machine(),
        "threads": args.threads,
        "prompts": len(names) * len(SIMPLE_IMAGENET_TEMPLATES),
        "open_clip_builder_s": [round(t, 3) for t in baseline_times],
        "ours_s": [round(t, 3) for t in ours_times],
        "speedup": round(baseline / ours, 2),
        "open_clip_builder_cpu_s": [round(t, 3) for t in baseline_cpu],
        "ours_cpu_s": [round(t, 3) for t in ours_cpu],
        "speedup_cpu_time": round(statistics.median(baseline_cpu) / statistics.median(ours_cpu), 2),
        "max_abs_diff": max_abs,
        "load_avg_1m_after": round(os.getloadavg()[0], 2),
    }
    if not args.skip_minilm:
        minilm = MiniLMEncoder(device="cpu")
        embed_labels(names[:2], minilm, "simple", cache=False, progress=False)  # load + warm
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            embed_labels(names, minilm, "simple", cache=False, progress=False)
            times.append(time.perf_counter() - start)
        report["minilm_s"] = [round(t, 3) for t in times]
        report["minilm_prompts_per_s"] = round(report["prompts"] / statistics.median(times), 1)

    print(f"machine: {report['machine']}")
    print(
        f"{report['prompts']} prompts ({len(names)} names x 7 templates), "
        f"{args.threads} threads, random ViT-B-32"
    )
    print("| path | wall s (runs) | wall ratio | CPU s (runs) | CPU-time ratio |")
    print("|---|---|---|---|---|")
    print(
        f"| open_clip build_zero_shot_classifier | {report['open_clip_builder_s']} | 1.0 | "
        f"{report['open_clip_builder_cpu_s']} | 1.0 |"
    )
    print(
        f"| scaledet_labels embed_labels (openclip) | {report['ours_s']} | "
        f"{report['speedup']}x | {report['ours_cpu_s']} | {report['speedup_cpu_time']}x |"
    )
    print(
        f"load average (1 min) before/after: {report['machine']['load_avg_1m']} / "
        f"{report['load_avg_1m_after']}"
    )
    print(f"max abs difference: {max_abs:.3g}")
    if "minilm_s" in report:
        print(
            f"MiniLM (default encoder), same prompts: {report['minilm_s']} s, "
            f"{report['minilm_prompts_per_s']} prompts/s"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
