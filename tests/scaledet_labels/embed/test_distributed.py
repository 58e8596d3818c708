"""Encoding across processes: embed/distributed.py and the pipeline under torchrun (gloo).

The torchrun tests start ``python -m torch.distributed.run --nproc-per-node 2`` (gloo on
CPU, one thread per rank) on ``dist_worker.py`` (a deterministic fake encoder through the
Python API) or on the CLI (the real MiniLM), and compare with a single-process build.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scaledet_labels.embed import distributed
from scaledet_labels.embed.cache import PromptCache
from scaledet_labels.embed.distributed import (
    Ranks,
    get_rank,
    get_world_size,
    is_main_process,
    process_group,
    shard,
    torchrun_env,
)
from scaledet_labels.embed.embeddings import embed_labels
from scaledet_labels.embed.prompts import build_prompts
from scaledet_labels.errors import EncoderError

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the dist_worker helper, under either pytest import mode
    sys.path.insert(0, str(HERE))

import dist_worker  # noqa: E402

WORKER = HERE / "dist_worker.py"
TORCHRUN_TIMEOUT = 240  # seconds; a hung collective fails the test instead of CI
_ENV_NAMES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture
def no_torchrun_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def torchrun(
    args: list[str], tmp_path: Path, *, nproc: int = 2, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], float, Path]:
    """Run ``torchrun --nproc-per-node nproc ARGS``; returns the process, its seconds and the
    directory holding each rank's ``<rank>/stdout.log`` and ``stderr.log``."""
    logs = tmp_path / f"logs-{time.monotonic_ns()}"
    full_env = {k: v for k, v in os.environ.items() if k not in _ENV_NAMES}
    full_env |= {"OMP_NUM_THREADS": "1", "SCALEDET_DIST_TIMEOUT": "60", "PYTHONUNBUFFERED": "1"}
    full_env |= env or {}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        str(nproc),
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(free_port()),
        "--log-dir",
        str(logs),
        "--redirects",
        "3",
        *args,
    ]
    started = time.perf_counter()
    proc = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=TORCHRUN_TIMEOUT,
        env=full_env,
        cwd=tmp_path,
        check=False,
    )
    seconds = time.perf_counter() - started
    attempts = sorted(logs.glob("*/attempt_0"))
    return proc, seconds, attempts[0] if attempts else logs


def rank_log(logs: Path, rank: int, stream: str = "stderr") -> str:
    path = logs / str(rank) / f"{stream}.log"
    return path.read_text() if path.exists() else ""


def worker(out: Path, *options: str) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    return [str(WORKER), str(out), *options]


def read_ranks(out: Path, n: int = 2) -> list[tuple[np.ndarray, dict[str, Any]]]:
    return [
        (
            np.load(out / f"rank{r}.npz")["embeddings"],
            json.loads((out / f"rank{r}.json").read_text()),
        )
        for r in range(n)
    ]


def reference(labels: int = 30) -> np.ndarray:
    """The single-process result of dist_worker's build."""
    return embed_labels(
        dist_worker.names(labels),
        dist_worker.make_encoder(),
        templates="simple",
        cache=False,
        progress=False,
        distributed=False,
    ).embeddings


# -- without processes ----------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1, 5, 6, 7, 100])
@pytest.mark.parametrize("world", [1, 2, 3, 8])
def test_shard_partitions_deterministically_and_balanced(n: int, world: int) -> None:
    items = [f"p{i}" for i in range(n)]
    shards = [shard(items, r, world) for r in range(world)]
    assert sorted(p for s in shards for p in s) == sorted(items)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    assert len(shards[0]) == max(map(len, shards))  # rank 0 never has fewer rounds
    assert shards == [shard(items, r, world) for r in range(world)]


def test_torchrun_env(monkeypatch: pytest.MonkeyPatch, no_torchrun_env: None) -> None:
    assert torchrun_env() is None
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "0")
    assert torchrun_env() is None  # one process is not a distributed job
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    assert torchrun_env() == distributed.TorchrunEnv(rank=3, world_size=4, local_rank=3)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert torchrun_env() == distributed.TorchrunEnv(rank=3, world_size=4, local_rank=1)
    assert (get_rank(), get_world_size(), is_main_process()) == (3, 4, False)
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(EncoderError, match="RANK=4 is not below WORLD_SIZE=4"):
        torchrun_env()
    monkeypatch.setenv("RANK", "two")
    with pytest.raises(EncoderError, match="RANK='two' is not an integer"):
        torchrun_env()


def test_process_group_modes(monkeypatch: pytest.MonkeyPatch, no_torchrun_env: None) -> None:
    with process_group() as ranks:
        assert ranks is None
    with pytest.raises(EncoderError, match="distributed=True needs"), process_group(True):
        pass
    with pytest.raises(EncoderError, match="True, False or None"), process_group("yes"):  # type: ignore[arg-type]
        pass
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with process_group(False) as ranks:  # torchrun's environment, but asked not to
        assert ranks is None
    monkeypatch.setenv(distributed.TIMEOUT_ENV, "soon")
    with pytest.raises(EncoderError, match="SCALEDET_DIST_TIMEOUT='soon'"), process_group():
        pass


def test_rank_helpers_do_not_import_torch() -> None:
    code = (
        "import os, sys\n"
        "os.environ.update(RANK='1', WORLD_SIZE='2')\n"
        "from scaledet_labels.embed import distributed as d\n"
        "assert (d.get_rank(), d.get_world_size(), d.is_main_process()) == (1, 2, False)\n"
        "with d.process_group(False) as ranks: assert ranks is None\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_save_on_other_ranks_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_torchrun_env: None
) -> None:
    from scaledet_labels import LabelSpace, build_label_space

    space = LabelSpace.union(["a, b", "c, d"], names=["x", "y"])
    emb = np.eye(4, 5, dtype=np.float32)
    bundle = build_label_space(space, precomputed={"x": emb[:2], "y": emb[2:]})
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert bundle.save(tmp_path / "b") == tmp_path / "b"
    assert not (tmp_path / "b").exists()
    monkeypatch.setenv("RANK", "0")
    assert (bundle.save(tmp_path / "b") / "manifest.json").is_file()


@pytest.fixture
def one_rank_group(no_torchrun_env: None, tmp_path: Path) -> Iterator[Ranks]:
    """A gloo group of one process, to call every collective in this process."""
    import torch.distributed as dist

    dist.init_process_group(
        "gloo", store=dist.FileStore(str(tmp_path / "store"), 1), rank=0, world_size=1
    )
    try:
        yield Ranks(dist)
    finally:
        dist.destroy_process_group()


def test_collectives_on_one_rank(one_rank_group: Ranks) -> None:
    ranks = one_rank_group
    assert (ranks.rank, ranks.world_size, ranks.backend, ranks.is_main) == (0, 1, "gloo", True)
    assert ranks.device_for("cpu") == "cpu"
    assert ranks.broadcast_json({"misses": ["ä", "b"]}) == {"misses": ["ä", "b"]}
    assert ranks.all_gather_json([1, None]) == [[1, None]]
    rows = np.arange(6, dtype=np.float32).reshape(3, 2)
    (block,) = ranks.gather_rows(rows, [3], 2)
    np.testing.assert_array_equal(block, rows)
    (empty,) = ranks.gather_rows(np.zeros((0, 2), np.float32), [0], 2)
    assert empty.shape == (0, 2)
    np.testing.assert_array_equal(ranks.broadcast_rows(rows), rows)
    with pytest.raises(KeyError, match="mine"):
        ranks.agree(KeyError("mine"))  # a rank that failed raises its own error
    with process_group() as joined:  # an initialised group of one process: no sharding
        assert joined is None


# -- torchrun, 2 gloo processes --------------------------------------------------------------
@pytest.mark.slow
def test_two_ranks_equal_one_process_and_only_rank0_writes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cache = tmp_path / "cache{rank}"
    proc, seconds, logs = torchrun(
        worker(out, "--cache", str(cache), "--batch-size", "4", "--repeat", "2"), tmp_path
    )
    assert proc.returncode == 0, rank_log(logs, 0) + rank_log(logs, 1) + proc.stderr
    expected = reference()
    (emb0, rec0), (emb1, rec1) = read_ranks(out)
    assert np.abs(emb0 - expected).max() <= 1e-6
    np.testing.assert_array_equal(emb0, emb1)  # every rank returns the same result
    # the second build (a fresh group: ours is destroyed after each build) hit the cache
    assert rec0["stats"]["from_cache"] == rec1["stats"]["from_cache"] == 210
    assert rec0["torch_group_after"] is rec1["torch_group_after"] is False
    assert (tmp_path / "cache0").is_dir() and not (tmp_path / "cache1").exists()
    with PromptCache(tmp_path / "cache0") as store:
        assert store.info().entries == 210
    assert seconds < TORCHRUN_TIMEOUT


@pytest.mark.slow
def test_inside_an_initialised_group_the_group_is_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc, _, logs = torchrun(worker(out, "--user-group", "--labels", "11"), tmp_path)
    assert proc.returncode == 0, rank_log(logs, 0) + rank_log(logs, 1)
    (emb0, rec0), (emb1, rec1) = read_ranks(out)
    np.testing.assert_array_equal(emb0, reference(11))
    np.testing.assert_array_equal(emb1, reference(11))
    assert rec0["torch_group_after"] is rec1["torch_group_after"] is True
    assert rec0["stats"]["encoded"] == 77 and rec0["stats"]["cache_path"] is None


@pytest.mark.slow
def test_killed_rank_leaves_the_cache_intact_and_a_rerun_completes(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    # rank 1 SIGKILLs itself in its 9th encoder call: the first batch of round 3 (16 prompts
    # per rank and round in batches of 4), after rank 0 committed rounds 1 and 2
    proc, seconds, logs = torchrun(
        worker(
            tmp_path / "killed",
            *("--cache", str(cache), "--batch-size", "4", "--kill-rank", "1"),
            *("--kill-on-call", "9"),
        ),
        tmp_path,
    )
    assert proc.returncode != 0
    assert seconds < 120, "the surviving rank should stop within the collective timeout"
    assert not (tmp_path / "killed" / "rank0.npz").exists()
    db = cache / "prompt_embeddings.sqlite3"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with PromptCache(cache) as store:
        prompts = list(build_prompts(dist_worker.names(30), "simple").unique)
        hits = store.lookup(dist_worker.FINGERPRINT, prompts, dim=dist_worker.DIM)
    committed = len(hits.prompts)
    assert committed == 64, committed  # two complete rounds, nothing half-written
    np.testing.assert_array_equal(
        np.stack(hits.vectors), dist_worker.fake_vectors(hits.prompts) * 2.0
    )
    # the rerun encodes only what is missing and gives the single-process result
    proc, _, logs = torchrun(
        worker(tmp_path / "rerun", "--cache", str(cache), "--batch-size", "4"), tmp_path
    )
    assert proc.returncode == 0, rank_log(logs, 0) + rank_log(logs, 1)
    (emb0, rec0), (emb1, _) = read_ranks(tmp_path / "rerun")
    assert rec0["stats"]["from_cache"] == committed
    assert rec0["stats"]["encoded"] == 210 - committed
    assert np.abs(emb0 - reference()).max() <= 1e-6
    np.testing.assert_array_equal(emb0, emb1)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("options", "rank0", "rank1"),
    [
        (
            ["--fail-rank", "1"],
            "EncoderError: rank 1 of 2 failed: RuntimeError: the fake encoder broke on purpose",
            "RuntimeError: the fake encoder broke on purpose",
        ),
        (
            ["--other-labels-rank", "1"],
            "EncoderError: rank 1 of 2 failed: PromptError: rank 1 has other prompts than rank 0",
            "PromptError: rank 1 has other prompts than rank 0",
        ),
        (
            ["--context-length", "6"],
            "PromptTooLongError: ",
            "PromptTooLongError: ",
        ),
    ],
    ids=["encoder-fails-on-rank-1", "different-prompts", "too-long-everywhere"],
)
def test_a_failure_on_one_rank_stops_every_rank(
    tmp_path: Path, options: list[str], rank0: str, rank1: str
) -> None:
    proc, seconds, logs = torchrun(worker(tmp_path / "out", *options), tmp_path)
    assert proc.returncode != 0
    assert seconds < 120  # no rank waits for the collective timeout
    assert rank0 in rank_log(logs, 0), rank_log(logs, 0)
    assert rank1 in rank_log(logs, 1), rank_log(logs, 1)


@pytest.mark.slow
def test_cli_build_with_minilm_on_two_ranks_equals_one_process(tmp_path: Path) -> None:
    """The acceptance test: `torchrun -m scaledet_labels.cli build voc` (real MiniLM)."""
    from scaledet_labels import build_label_space, load_bundle

    cache = tmp_path / "cache"
    bundle_dir = tmp_path / "voc"
    args = ["-m", "scaledet_labels.cli", "build", "voc", "--device", "cpu", "--json"]
    proc, _, logs = torchrun(
        [*args, "--out", str(bundle_dir)], tmp_path, env={"SCALEDET_CACHE": str(cache)}
    )
    assert proc.returncode == 0, rank_log(logs, 0) + rank_log(logs, 1) + proc.stderr
    summary = json.loads(rank_log(logs, 0, "stdout"))
    assert summary["stats"]["encoded"] == 140 and summary["output"] == str(bundle_dir)
    assert rank_log(logs, 1, "stdout") == ""  # other ranks print nothing and exit 0
    single = build_label_space(["voc"], device="cpu", cache=False, distributed=False)
    built = load_bundle(bundle_dir)
    assert np.abs(built.embeddings - single.embeddings).max() <= 1e-6
    assert built.manifest["encoder"]["fingerprint"] == single.manifest["encoder"]["fingerprint"]
    with PromptCache(cache) as store:
        assert store.info().entries == 140
