"""Speed and peak-memory benchmark of the ScaleDet loss on CPU.

Compares, on the same inputs and in the same run:

* ``bce``   - plain sigmoid BCE over the cosine logits, via autograd
              (``F.binary_cross_entropy_with_logits(normalize(v) @ normalize(t).T / tau,
              onehot)``; the dense one-hot target is built before timing starts);
* ``naive`` - a straightforward autograd implementation of the full loss (hard + soft);
* ``fused`` - ``scaledet_loss.scaledet_loss`` (fused, chunked gradient), default options.

Time: median of ``--repeats`` forward+backward runs per implementation, interleaved, after
one warm-up run each. Memory: each case runs in a fresh subprocess with glibc's mmap
threshold pinned (so freed buffers return to the OS); after the inputs are allocated the
kernel's peak-RSS counter is reset (``/proc/self/clear_refs``), one forward+backward runs,
and the extra peak is ``VmHWM - VmRSS(before)``, i.e. everything the loss and its backward
allocated on top of the inputs (gradients included).

Usage::

    python benchmarks/bench_loss.py                      # the issue's sizes, report to stdout
    python benchmarks/bench_loss.py --time-sizes 1024x512x256 --memory-sizes 1024x512x256
    python benchmarks/bench_loss.py --out report.md   (numbers are kept in benchmarks/RESULTS.md)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from _machine import cpu_model
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scaledet_loss import scaledet_loss

TAU = 0.02
LAM = 1.0
IMPLS = ("bce", "naive", "fused")


# --------------------------------------------------------------------------- implementations
def bce_loss(v: Tensor, t: Tensor, target: Tensor) -> Tensor:
    """Plain sigmoid BCE over the same cosine logits (the baseline)."""
    logits = F.normalize(v, dim=1) @ F.normalize(t, dim=1).t() / TAU
    return F.binary_cross_entropy_with_logits(logits, target)


def naive_loss(v: Tensor, t: Tensor, y: Tensor, S: Tensor) -> Tensor:
    """Straightforward autograd implementation of L = L_hl + lam * L_sl."""
    n = t.shape[0]
    c = F.normalize(v, dim=1) @ F.normalize(t, dim=1).t()
    valid = y >= 0
    fg = valid & (y < n)
    onehot = torch.zeros_like(c)
    rows = torch.nonzero(fg).squeeze(1)
    onehot[rows, y[rows]] = 1.0
    bce = F.binary_cross_entropy_with_logits(c / TAU, onehot, reduction="none").sum(1)
    hard = (bce * valid).sum() / valid.sum().clamp_min(1)
    diff = c - S[y.clamp(0, n - 1)]
    soft = ((diff * diff).sum(1) * fg).sum() / (fg.sum().clamp_min(1) * n)
    return hard + LAM * soft


def fused_loss(v: Tensor, t: Tensor, y: Tensor, S: Tensor) -> Tensor:
    return scaledet_loss(v, t, y, S, tau=TAU, lam=LAM)


# --------------------------------------------------------------------------- inputs
def make_inputs(
    num: int, n: int, dim: int, impl: str, grad_t: bool, sparse_topk: int, seed: int = 0
) -> dict[str, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(num, dim, generator=gen).requires_grad_()
    t = torch.randn(n, dim, generator=gen).requires_grad_(grad_t)
    r = torch.rand(num, generator=gen)
    y = torch.randint(0, n, (num,), generator=gen)
    y = torch.where(r < 0.70, torch.full_like(y, n), y)  # ~25% fg, 70% bg, 5% ignore
    y = torch.where(r > 0.95, torch.full_like(y, -1), y)
    inputs = {"v": v, "t": t, "y": y}
    if impl == "bce":
        target = torch.zeros(num, n)
        rows = torch.nonzero((y >= 0) & (y < n)).squeeze(1)
        target[rows, y[rows]] = 1.0
        inputs["target"] = target
    elif sparse_topk > 0:
        crow = torch.arange(0, n * sparse_topk + 1, sparse_topk, dtype=torch.int64)
        col = torch.randint(0, n, (n * sparse_topk,), generator=gen)
        values = torch.rand(n * sparse_topk, generator=gen)
        inputs["S"] = torch.sparse_csr_tensor(crow, col, values, (n, n))
    else:
        inputs["S"] = torch.rand(n, n, generator=gen)
    return inputs


def runner(impl: str, inputs: dict[str, Tensor]) -> Callable[[], None]:
    v, t, y = inputs["v"], inputs["t"], inputs["y"]

    def step() -> None:
        v.grad = None
        t.grad = None
        if impl == "bce":
            loss = bce_loss(v, t, inputs["target"])
        elif impl == "naive":
            loss = naive_loss(v, t, y, inputs["S"])
        else:
            loss = fused_loss(v, t, y, inputs["S"])
        loss.backward()

    return step


# --------------------------------------------------------------------------- timing
BUSY_RUNS = [0, 0]  # [timed runs started while other processes were busy, all timed runs]


def _cpu_totals() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return sum(fields), fields[3] + fields[4]  # total, idle + iowait


def other_cpu_load(interval: float = 0.25) -> float:
    """Fraction of the machine's CPU time used by other processes (we sleep meanwhile)."""
    total0, idle0 = _cpu_totals()
    time.sleep(interval)
    total1, idle1 = _cpu_totals()
    return 1.0 - (idle1 - idle0) / max(total1 - total0, 1)


def wait_until_quiet(max_wait: float, threshold: float = 0.1) -> None:
    """Wait (up to max_wait s) until other processes leave the CPUs nearly idle."""
    deadline = time.monotonic() + max_wait
    busy = other_cpu_load()
    while busy > threshold and time.monotonic() < deadline:
        busy = other_cpu_load()
    BUSY_RUNS[0] += busy > threshold
    BUSY_RUNS[1] += 1


def time_case(
    num: int, n: int, dim: int, grad_t: bool, repeats: int, max_wait: float = 0.0
) -> dict[str, list[float]]:
    shared = make_inputs(num, n, dim, "naive", grad_t, 0)
    bce_in = make_inputs(num, n, dim, "bce", grad_t, 0)
    steps = {
        "bce": runner("bce", bce_in),
        "naive": runner("naive", shared),
        "fused": runner("fused", shared),
    }
    # Correctness guard: the fused gradient must match the naive one on these inputs.
    v, t = shared["v"], shared["t"]
    steps["naive"]()
    ref = v.grad.clone() if v.grad is not None else None
    steps["fused"]()
    if ref is None or v.grad is None or not torch.allclose(v.grad, ref, rtol=1e-3, atol=1e-7):
        raise SystemExit("fused gradient differs from the naive reference")
    del t
    times: dict[str, list[float]] = {k: [] for k in steps}
    for step in steps.values():
        step()  # warm-up
    for rep in range(repeats):
        order = list(steps) if rep % 2 == 0 else list(reversed(steps))
        for name in order:
            if max_wait > 0:
                wait_until_quiet(max_wait)
            start = time.perf_counter()
            steps[name]()
            times[name].append(time.perf_counter() - start)
    return times


# --------------------------------------------------------------------------- memory
def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_child(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    warm = make_inputs(64, 32, 16, args.impl, args.grad_t, min(args.sparse_topk, 4))
    runner(args.impl, warm)()  # load kernels and libraries before measuring
    del warm
    inputs = make_inputs(args.N, args.n, args.D, args.impl, args.grad_t, args.sparse_topk)
    step = runner(args.impl, inputs)
    before = _status_kb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS counter
    start = time.perf_counter()
    step()
    seconds = time.perf_counter() - start
    peak = _status_kb("VmHWM")
    extra = (peak - before) * 1024
    print(json.dumps({"extra_bytes": extra, "seconds": seconds}))


def memory_case(
    impl: str, num: int, n: int, dim: int, grad_t: bool, sparse_topk: int, threads: int
) -> dict[str, float]:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="65536")
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--impl",
        impl,
        "--N",
        str(num),
        "--n",
        str(n),
        "--D",
        str(dim),
        "--threads",
        str(threads),
        "--sparse-topk",
        str(sparse_topk),
    ]
    if grad_t:
        cmd.append("--grad-t")
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"memory child failed ({impl} {num}x{n}x{dim}):\n{out.stderr}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# --------------------------------------------------------------------------- report
def machine() -> str:
    model = cpu_model()
    return (
        f"{model}, {os.cpu_count()} CPUs visible, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def parse_sizes(text: str) -> list[tuple[int, int, int]]:
    sizes = []
    for part in text.split(","):
        if part.strip():
            a, b, c = (int(x) for x in part.lower().split("x"))
            sizes.append((a, b, c))
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time-sizes", default="4096x2249x512,8192x10000x512")
    parser.add_argument("--memory-sizes", default="4096x2249x512,8192x10000x512")
    parser.add_argument(
        "--large-sizes",
        default="8192x50000x512",
        help="memory-only sizes run for bce and fused (S as sparse top-k, see --topk)",
    )
    parser.add_argument("--topk", type=int, default=64, help="nonzeros per row of S, large")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--max-wait",
        type=float,
        default=60.0,
        help="before each timed run, wait up to this many seconds for other processes to "
        "leave the CPUs idle (0: do not wait)",
    )
    parser.add_argument("--grad-t-modes", default="0,1", help="0: t frozen, 1: t trainable")
    parser.add_argument("--out", type=Path, default=None, help="write a markdown report")
    # internal: one memory measurement
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--impl", default="fused", help=argparse.SUPPRESS)
    parser.add_argument("--N", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--D", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--grad-t", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sparse-topk", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        memory_child(args)
        return

    torch.set_num_threads(args.threads)
    grad_modes = [bool(int(x)) for x in args.grad_t_modes.split(",") if x.strip()]
    lines = [
        "# ScaleDet loss benchmark (CPU)",
        "",
        f"Command: `python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:])}`".rstrip(),
        "",
        f"Machine: {machine()}",
        "",
        "Implementations, all given the same inputs in the same run:",
        "",
        "* **bce**: plain sigmoid BCE over the cosine logits via autograd, "
        "`F.binary_cross_entropy_with_logits(normalize(v) @ normalize(t).T / tau, onehot)`; "
        "the dense one-hot target is built before the clock starts (counted as an input).",
        "* **naive**: a straightforward autograd implementation of the full loss "
        "(hard + soft, one-hot and gathered `S[y]` materialized).",
        "* **fused**: `scaledet_loss.scaledet_loss(v, t, y, S)` with default options "
        "(`check_finite=True`, so S is also scanned on every call).",
        "",
        f"tau={TAU}, lam={LAM}; targets ~25% foreground, ~70% background, ~5% ignored; "
        "`t trainable` says whether the label embeddings require a gradient (ScaleDet keeps "
        "them frozen). Targets of the issue: fused time <= 1.1x bce, fused extra peak memory "
        "<= 2.5 N x n float32 matrices.",
        "",
        f"## Time (forward + backward; {args.repeats} interleaved runs per implementation)",
        "",
        "The machine is shared: before each timed run the script waits (up to "
        f"{args.max_wait:.0f} s) until other processes use < 10% of the CPUs. Seconds are the "
        "best of the runs (contention only adds time); ratios use the best, and in brackets "
        "the median.",
        "",
        "| N x n x D | t trainable | bce s | naive s | fused s | fused/bce | fused/naive |",
        "|---|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)

    def emit(line: str) -> None:
        lines.append(line)
        print(line, flush=True)

    for num, n, dim in parse_sizes(args.time_sizes):
        for grad_t in grad_modes:
            runs = time_case(num, n, dim, grad_t, args.repeats, args.max_wait)
            best = {k: min(v) for k, v in runs.items()}
            med = {k: statistics.median(v) for k, v in runs.items()}
            emit(
                f"| {num} x {n} x {dim} | {'yes' if grad_t else 'no'} | {best['bce']:.3f} | "
                f"{best['naive']:.3f} | {best['fused']:.3f} | "
                f"{best['fused'] / best['bce']:.2f} ({med['fused'] / med['bce']:.2f}) | "
                f"{best['fused'] / best['naive']:.2f} ({med['fused'] / med['naive']:.2f}) |"
            )
    emit("")
    emit(
        f"{BUSY_RUNS[0]} of {BUSY_RUNS[1]} timed runs started while other processes still "
        "used > 10% of the CPUs."
    )
    emit("")
    emit("## Extra peak memory (forward + backward, fresh process per cell)")
    emit("")
    emit(
        "Method: each cell runs in a fresh subprocess with glibc's mmap threshold pinned to "
        "64 KiB (`MALLOC_MMAP_THRESHOLD_`, so every large buffer is returned to the OS when "
        "freed). After a small warm-up run (libraries and kernels loaded) and after the inputs "
        "are allocated, the kernel's peak-RSS counter is reset (`/proc/self/clear_refs`); one "
        "forward + backward runs; extra peak = `VmHWM - VmRSS` before the run: everything the "
        "loss and its backward allocate on top of the inputs, gradients included."
    )
    emit("")
    emit("Unit: one N x n float32 matrix (4 N n bytes); GB = 1e9 bytes.")
    emit("")
    emit(
        "| N x n x D | t trainable | S | bce | naive | fused | fused GB | fused/bce | fused/naive |"
    )
    emit("|---|---|---|---|---|---|---|---|---|")
    cases = [(s, False) for s in parse_sizes(args.memory_sizes)]
    cases += [(s, True) for s in parse_sizes(args.large_sizes)]
    for (num, n, dim), large in cases:
        unit = 4.0 * num * n
        for grad_t in grad_modes:
            topk = args.topk if large else 0
            impls = ("bce", "fused") if large else IMPLS
            res = {
                impl: memory_case(impl, num, n, dim, grad_t, topk, args.threads)["extra_bytes"]
                for impl in impls
            }
            naive = f"{res['naive'] / unit:.2f}" if "naive" in res else "n/a"
            ratio_naive = f"{res['fused'] / res['naive']:.2f}" if "naive" in res else "n/a"
            emit(
                f"| {num} x {n} x {dim} | {'yes' if grad_t else 'no'} | "
                f"{f'top-{topk} CSR' if large else 'dense'} | {res['bce'] / unit:.2f} | {naive} | "
                f"{res['fused'] / unit:.2f} | {res['fused'] / 1e9:.3f} | "
                f"{res['fused'] / res['bce']:.2f} | {ratio_naive} |"
            )
    if args.large_sizes.strip():
        emit("")
        emit(
            f"Rows marked `top-{args.topk} CSR` pass S as a torch sparse CSR matrix with "
            f"{args.topk} random nonzeros per row (a dense 50,000 x 50,000 float32 S alone is "
            "10 GB); naive is not run there (it would need the dense S plus ~6 N x n matrices)."
        )
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
