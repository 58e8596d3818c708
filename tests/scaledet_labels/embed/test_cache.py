"""The persistent prompt-embedding cache and each of its guarantees."""

from __future__ import annotations

import logging
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scaledet_labels import digests as digests_module
from scaledet_labels.digests import file_digest
from scaledet_labels.embed import cache as cache_module
from scaledet_labels.embed.cache import (
    DB_FILENAME,
    CacheError,
    PromptCache,
    cache_info,
    clear_cache,
    default_cache_dir,
    resolve_cache_dir,
)
from scaledet_labels.embed.embeddings import embed_labels
from scaledet_labels.embed.encoders import CallableEncoder

# A deterministic fake encoder, shared verbatim with the subprocesses below.
FAKE_ENCODER = textwrap.dedent(
    """
    import time, zlib
    import numpy as np

    def fake_vectors(texts, dim=8):
        return np.stack([
            np.random.default_rng(zlib.crc32(t.encode())).standard_normal(dim)
            for t in texts
        ]).astype(np.float32)
    """
)
_namespace: dict[str, Any] = {}
exec(FAKE_ENCODER, _namespace)
fake_vectors = _namespace["fake_vectors"]


def counting_encoder(
    fingerprint: str = "fake-v1", dim: int = 8
) -> tuple[CallableEncoder, list[str]]:
    seen: list[str] = []

    def fn(texts: list[str]) -> np.ndarray:
        seen.extend(texts)
        return fake_vectors(texts, dim)

    return CallableEncoder(fn, fingerprint=fingerprint, dim=dim), seen


def filled(directory: Path, n: int = 300, dim: int = 64) -> tuple[list[str], np.ndarray]:
    prompts = [f"a photo of thing number {i}" for i in range(n)]
    vectors = fake_vectors(prompts, dim)
    with PromptCache(directory) as store:
        store.put("fp", prompts, vectors, [7] * n)
    return prompts, vectors


# -- location ---------------------------------------------------------------------------------
def test_location_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SCALEDET_CACHE", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("SCALEDET_CACHE")
    assert default_cache_dir() == tmp_path / "xdg" / "scaledet"
    monkeypatch.delenv("XDG_CACHE_HOME")
    import platformdirs

    assert default_cache_dir() == Path(platformdirs.user_cache_dir("scaledet"))


def test_resolve_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SCALEDET_CACHE", str(tmp_path))
    assert resolve_cache_dir(True) == tmp_path
    assert resolve_cache_dir(False) is None
    assert resolve_cache_dir(tmp_path / "x") == tmp_path / "x"
    for bad in (3, "", "  "):
        with pytest.raises(CacheError):
            resolve_cache_dir(bad)  # type: ignore[arg-type]


def test_unusable_explicit_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CacheError, match="cannot create the cache directory"):
        PromptCache(blocker / "sub")


# -- basic API --------------------------------------------------------------------------------
def test_round_trip_first_writer_wins_info_clear(tmp_path: Path) -> None:
    with PromptCache(tmp_path) as store:
        assert store.put("a", ["x", "y"], np.ones((2, 4)), [3, 4]) == []
        assert store.put("a", ["y", "z"], np.zeros((2, 4)), None) == ["y"]
        store.put("b", ["x"], np.ones((1, 2)), [1])
        store.register_encoder("a", "encoder A", 4)
        hits = store.lookup("a", ["z", "x", "y", "missing"])
        assert hits.prompts == ["z", "x", "y"] and hits.n_tokens == [None, 3, 4]
        np.testing.assert_array_equal(hits.vectors[2], np.ones(4))  # first write kept
        info = store.info()
        assert info.entries == 4 and info.size_bytes > 0
        assert [(e.fingerprint, e.description, e.dim, e.entries) for e in info.encoders] == [
            ("a", "encoder A", 4, 3),
            ("b", "", 2, 1),
        ]
    assert clear_cache("a", tmp_path) == 3
    assert cache_info(tmp_path).entries == 1
    assert clear_cache(cache=tmp_path) == 1
    assert cache_info(tmp_path).entries == 0


def test_info_of_a_missing_cache_creates_nothing(tmp_path: Path) -> None:
    info = cache_info(tmp_path / "none")
    assert not info.exists and info.entries == 0
    assert not (tmp_path / "none").exists()
    assert clear_cache(cache=tmp_path / "none") == 0
    with pytest.raises(CacheError):
        cache_info(False)


def test_put_validates(tmp_path: Path) -> None:
    with PromptCache(tmp_path) as store:
        with pytest.raises(CacheError, match="shape"):
            store.put("a", ["x"], np.ones((2, 3)))
        with pytest.raises(CacheError, match="non-finite"):
            store.put("a", ["x"], np.array([[np.nan, 1.0]]))


# -- no pickle --------------------------------------------------------------------------------
def test_nothing_is_ever_unpickled(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("unpickling attempted")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, boom)
    monkeypatch.setattr(np, "load", boom)
    enc, _ = counting_encoder()
    cold = embed_labels(["dog", "cat"], enc, ["a {}", "the {}"], cache=tmp_path)
    warm = embed_labels(["dog", "cat"], enc, ["a {}", "the {}"], cache=tmp_path)
    assert warm.stats.encoded == 0
    np.testing.assert_array_equal(cold.embeddings, warm.embeddings)
    # What is stored is the raw little-endian float32 bytes of each vector.
    with sqlite3.connect(tmp_path / DB_FILENAME) as db:
        rows = db.execute("SELECT prompt, dim, vector FROM prompt_embeddings").fetchall()
    for prompt, dim, blob in rows:
        np.testing.assert_array_equal(np.frombuffer(blob, "<f4"), fake_vectors([prompt])[0])
        assert dim == 8 and len(blob) == 32


# -- crash safety -----------------------------------------------------------------------------
SLOW_BUILD = FAKE_ENCODER + textwrap.dedent(
    """
    import sys
    from scaledet_labels.embed.embeddings import embed_labels
    from scaledet_labels.embed.encoders import CallableEncoder

    def slow(texts):
        time.sleep(float(sys.argv[4]))
        return fake_vectors(texts)

    names = [f"thing {i}" for i in range(int(sys.argv[2]), int(sys.argv[3]))]
    result = embed_labels(names, CallableEncoder(slow, fingerprint="fake-v1", dim=8),
                          ["a {}", "the {}"], cache=sys.argv[1], batch_size=16, progress=False)
    if len(sys.argv) > 5:
        with open(sys.argv[5], "wb") as f:
            f.write(result.embeddings.tobytes())
    """
)


def count_rows(path: Path) -> int:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            return int(db.execute("SELECT COUNT(*) FROM prompt_embeddings").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_sigkill_mid_build_keeps_committed_entries(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_BUILD, str(tmp_path), "0", "1500", "0.02"],
        stderr=subprocess.PIPE,
    )
    db = tmp_path / DB_FILENAME
    seen = 0
    deadline = time.monotonic() + 60
    while seen < 200 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        seen = count_rows(db) if db.exists() else 0
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert seen >= 200
    with PromptCache(tmp_path) as store:
        assert store._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        info = store.info()
        assert seen <= info.entries < 3000
        prompts = [f"{t} thing {i}" for i in range(1500) for t in ("a", "the")]
        hits = store.lookup("fake-v1", prompts, dim=8)
        assert len(hits.prompts) == info.entries
        np.testing.assert_array_equal(hits.vectors, fake_vectors(hits.prompts))
    assert not list(tmp_path.glob("*.broken-*"))
    enc, encoded = counting_encoder()
    names = [f"thing {i}" for i in range(1500)]
    result = embed_labels(names, enc, ["a {}", "the {}"], cache=tmp_path)
    assert result.stats.from_cache == info.entries
    assert len(encoded) == 3000 - info.entries


def test_concurrent_builds_agree(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    outs = [tmp_path / "a.bin", tmp_path / "b.bin"]
    ranges = [("0", "400"), ("200", "600")]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SLOW_BUILD, str(cache_dir), lo, hi, "0.02", str(out)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for (lo, hi), out in zip(ranges, outs, strict=True)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    for (lo, hi), out in zip(ranges, outs, strict=True):
        enc, _ = counting_encoder()
        names = [f"thing {i}" for i in range(int(lo), int(hi))]
        ref = embed_labels(names, enc, ["a {}", "the {}"], cache=False).embeddings
        got = np.frombuffer(out.read_bytes(), dtype=np.float32).reshape(ref.shape)
        np.testing.assert_array_equal(got, ref)
    assert cache_info(cache_dir).entries == 1200


def test_first_opens_wait_for_another_switch_to_wal(tmp_path: Path) -> None:
    # Another process holds the write lock on the new (rollback-journal) file, as when it
    # is switching the file to WAL itself: SQLite fails our switch at once (no busy wait),
    # so the cache retries it until the lock is free instead of reporting "locked".
    other = sqlite3.connect(tmp_path / DB_FILENAME, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, other.execute, ("COMMIT",))
    release.start()
    try:
        with PromptCache(tmp_path, timeout=30) as store:
            assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert store.put("a", ["x"], np.ones((1, 2))) == []
    finally:
        release.join()
        other.close()


def test_writers_wait_for_the_lock_up_to_the_timeout(tmp_path: Path) -> None:
    PromptCache(tmp_path).close()
    other = sqlite3.connect(tmp_path / DB_FILENAME, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    try:
        with PromptCache(tmp_path, timeout=0.2) as impatient:
            start = time.monotonic()
            with pytest.raises(CacheError, match="locked"):
                impatient.put("a", ["x"], np.ones((1, 2)))
            assert time.monotonic() - start < 5  # one wait of ``timeout``, no retry rounds
        release = threading.Timer(0.3, other.execute, ("COMMIT",))
        release.start()
        with PromptCache(tmp_path, timeout=30) as patient:
            assert patient.put("a", ["x"], np.ones((1, 2))) == []
        release.join()
    finally:
        other.close()
    assert cache_info(tmp_path).entries == 1


# -- corruption ------------------------------------------------------------------------------
def assert_set_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> list[Path]:
    aside = sorted(tmp_path.glob(f"{DB_FILENAME}.broken-*"))
    assert aside, "the bad file was not set aside"
    assert "moved it aside" in caplog.text
    return aside


def test_garbage_file_is_set_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / DB_FILENAME).write_bytes(b"definitely not a database " * 100)
    with caplog.at_level(logging.WARNING), PromptCache(tmp_path) as store:
        store.put("a", ["x"], np.ones((1, 2)))
        assert store.lookup("a", ["x"]).prompts == ["x"]
    aside = assert_set_aside(tmp_path, caplog)
    assert aside[0].read_bytes().startswith(b"definitely not")


def test_truncated_file_is_set_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    prompts, _ = filled(tmp_path)
    db = tmp_path / DB_FILENAME
    assert not (tmp_path / f"{DB_FILENAME}-wal").exists()  # checkpointed on close
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.WARNING), PromptCache(tmp_path) as store:
        assert store.lookup("fp", prompts).prompts == []
    assert_set_aside(tmp_path, caplog)


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:50],  # shorter than the 100-byte header
        lambda data: data[:100],  # the header alone
        lambda data: data[:-1000],  # the last page cut short
        lambda data: bytes(len(data)),  # zeroed
    ],
    ids=["50-bytes", "header-only", "tail-cut", "zeroed"],
)
def test_short_or_zeroed_file_is_set_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: Any
) -> None:
    prompts, vectors = filled(tmp_path)
    db = tmp_path / DB_FILENAME
    db.write_bytes(damage(db.read_bytes()))
    with caplog.at_level(logging.WARNING), PromptCache(tmp_path) as store:
        assert store.lookup("fp", prompts).prompts == []
        store.put("fp", prompts[:1], vectors[:1])
        np.testing.assert_array_equal(store.lookup("fp", prompts).vectors, vectors[:1])
    assert_set_aside(tmp_path, caplog)


def test_empty_file_is_a_new_cache(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / DB_FILENAME).write_bytes(b"")  # what SQLite itself creates on first open
    with caplog.at_level(logging.WARNING), PromptCache(tmp_path) as store:
        store.put("a", ["x"], np.ones((1, 2)))
        assert store.lookup("a", ["x"]).prompts == ["x"]
    assert not list(tmp_path.glob("*.broken-*")) and "moved it aside" not in caplog.text


def test_foreign_database_is_set_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with sqlite3.connect(tmp_path / DB_FILENAME) as db:
        db.execute("CREATE TABLE users (name TEXT)")
        db.execute("INSERT INTO users VALUES ('ada')")
    with caplog.at_level(logging.WARNING), PromptCache(tmp_path) as store:
        assert store.info().entries == 0
    aside = assert_set_aside(tmp_path, caplog)
    with sqlite3.connect(aside[0]) as db:  # the foreign data is kept, not destroyed
        assert db.execute("SELECT name FROM users").fetchall() == [("ada",)]


def test_newer_schema_is_a_clear_error(tmp_path: Path) -> None:
    PromptCache(tmp_path).close()
    with sqlite3.connect(tmp_path / DB_FILENAME) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(CacheError, match="newer"):
        PromptCache(tmp_path)


def _unusable_cache(directory: Path, kind: str) -> None:
    if kind == "directory at the file's path":
        (directory / DB_FILENAME).mkdir(parents=True)
    else:  # a cache written by a newer scaledet-labels
        PromptCache(directory).close()
        with sqlite3.connect(directory / DB_FILENAME) as db:
            db.execute("PRAGMA user_version = 99")


UNUSABLE = ["directory at the file's path", "newer schema"]


@pytest.mark.parametrize("kind", UNUSABLE)
def test_unusable_default_cache_warns_and_the_build_continues(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    """docs/embeddings.md: the default cache never stops a build; nothing is destroyed."""
    _unusable_cache(tmp_path, kind)
    before = sorted(p.name for p in tmp_path.iterdir())
    monkeypatch.setenv("SCALEDET_CACHE", str(tmp_path))
    encoder, seen = counting_encoder()
    with caplog.at_level(logging.WARNING):
        result = embed_labels(["cat", "dog"], encoder, templates="photo")
    assert result.stats.cache_path is None and len(seen) == 2
    assert "continuing without the cache" in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("kind", UNUSABLE)
def test_unusable_explicit_cache_is_an_error(tmp_path: Path, kind: str) -> None:
    _unusable_cache(tmp_path, kind)
    encoder, seen = counting_encoder()
    with pytest.raises(CacheError, match=r"newer|cannot open"):
        embed_labels(["cat"], encoder, templates="photo", cache=tmp_path)
    assert seen == []


@pytest.mark.parametrize("seed", [0, 1, 2, 3, -1])
def test_damaged_pages_never_give_wrong_vectors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, seed: int
) -> None:
    prompts, vectors = filled(tmp_path)
    db = tmp_path / DB_FILENAME
    data = bytearray(db.read_bytes())
    rng = np.random.default_rng(abs(seed))
    # seed -1 hits page 1 (schema), just after the 100-byte header; others a random page
    start = 100 if seed < 0 else int(rng.integers(4096, len(data) - 4096))
    data[start : start + 2048] = rng.integers(0, 256, 2048, dtype=np.uint8).tobytes()
    db.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING), PromptCache(tmp_path) as store:
        hits = store.lookup("fp", prompts, dim=64)
    truth = dict(zip(prompts, vectors, strict=True))
    for prompt, vector in zip(hits.prompts, hits.vectors, strict=True):
        np.testing.assert_array_equal(vector, truth[prompt])
    assert len(hits.prompts) < len(prompts)  # the damage was noticed
    enc, _ = counting_encoder(fingerprint="fp", dim=64)
    result = embed_labels(prompts, enc, ["{}"], cache=tmp_path)  # rebuilds what was lost
    assert result.stats.from_cache + result.stats.encoded == len(prompts)


def test_flipped_bit_in_a_vector_is_dropped_and_reencoded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    prompts, vectors = filled(tmp_path, n=50)
    db = tmp_path / DB_FILENAME
    data = bytearray(db.read_bytes())
    offset = bytes(data).find(vectors[7].astype("<f4").tobytes())
    assert offset > 0
    data[offset + 5] ^= 0x10
    db.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        enc, encoded = counting_encoder(fingerprint="fp", dim=64)
        result = embed_labels(prompts, enc, ["{}"], cache=tmp_path)
    assert encoded == [prompts[7]] and result.stats.from_cache == 49
    assert "dropping 1 bad cached vector" in caplog.text


def test_bad_rows_are_dropped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with PromptCache(tmp_path) as store:
        store.put("fp", ["good"], np.ones((1, 4)))
        nan = np.full(4, np.nan, "<f4").tobytes()
        short = np.ones(3, "<f4").tobytes()
        rows = [("nan", 4, nan), ("short", 3, short), ("lies", 4, short)]
        for prompt, dim, blob in rows:
            crc = cache_module._checksum("fp", prompt, dim, blob)
            store._db.execute(
                "INSERT INTO prompt_embeddings VALUES ('fp', ?, ?, NULL, ?, ?)",
                (prompt, dim, blob, crc),
            )
        with caplog.at_level(logging.WARNING):
            hits = store.lookup("fp", ["good", "nan", "short", "lies"], dim=4)
        assert hits.prompts == ["good"]
        assert store.info().entries == 1  # the bad rows were deleted
    assert "dropping 3 bad cached vector" in caplog.text


# -- digest memo ------------------------------------------------------------------------------
def test_file_digest_is_remembered_in_the_cache(tmp_path: Path) -> None:
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"a" * 1000)
    with PromptCache(tmp_path / "c") as store:
        first = file_digest(weights, store)
        st = weights.stat()
        assert store.get_digest(str(weights.resolve()), st.st_size, st.st_mtime_ns) == first
        digests_module._DIGESTS.clear()
        weights.write_bytes(b"b" * 1000)  # same size; restore the mtime: memo is used
        os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert file_digest(weights, store) == first
        os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        assert file_digest(weights, store) != first


def test_lookup_without_json_each_uses_chunked_queries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite built without JSON support: the chunked IN (...) queries give the same rows."""
    prompts, vectors = filled(tmp_path, n=1200, dim=8)
    with PromptCache(tmp_path) as store:
        fast = store.lookup("fp", prompts[::-1], dim=8)

        def no_json(*args: object, **kwargs: object) -> str:
            raise sqlite3.OperationalError("no such table: json_each")

        monkeypatch.setattr(cache_module.json, "dumps", no_json)
        slow = store.lookup("fp", prompts[::-1], dim=8)
    assert fast.prompts == slow.prompts == prompts[::-1]
    np.testing.assert_array_equal(fast.vectors, slow.vectors)
    np.testing.assert_array_equal(slow.vectors, vectors[::-1])


# -- whole results -----------------------------------------------------------------------------
def test_results_round_trip_damage_eviction_and_clear(tmp_path: Path) -> None:
    big = np.arange(4000, dtype=np.float32).reshape(100, 40)  # 16,000 bytes of data
    with PromptCache(tmp_path) as store:
        assert store.get_result("k1") is None
        assert store.put_result(
            "k1", "label_embeddings", {"embeddings": big}, {"n": 1}, fingerprint="fp-a"
        )
        arrays, meta = store.get_result("k1")  # type: ignore[misc]
        np.testing.assert_array_equal(arrays["embeddings"], big)
        assert meta == {"n": 1}
        # a result over the budget is not stored; beyond it the least recently used go
        assert not store.put_result("huge", "similarity", {"x": big}, budget=1000)
        assert store.get_result("huge") is None
        store.put_result("k2", "similarity", {"x": big}, fingerprint="fp-b", budget=40_000)
        store.get_result("k1")  # k1 is now the most recently used
        store.put_result("k3", "similarity", {"x": big}, fingerprint="fp-b", budget=40_000)
        assert store.get_result("k2") is None  # evicted
        assert store.get_result("k1") is not None and store.get_result("k3") is not None
    # damaged bytes are dropped with a warning and reported missing, never returned
    with sqlite3.connect(tmp_path / DB_FILENAME) as db:
        db.execute("UPDATE results SET data = substr(data, 1, 200) WHERE key = 'k1'")
    with PromptCache(tmp_path) as store:
        assert store.get_result("k1") is None
        (rows,) = store._db.execute("SELECT COUNT(*) FROM results WHERE key = 'k1'").fetchone()
        assert rows == 0
        store.put_result("k4", "label_embeddings", {"e": big[:2]}, fingerprint="fp-a")
        store.clear("fp-b")  # results made from another fingerprint's vectors go with it
        assert store.get_result("k3") is None and store.get_result("k4") is not None
        store.clear()
        assert store.get_result("k4") is None


def test_a_cache_without_the_results_table_is_upgraded(tmp_path: Path) -> None:
    """Files written before the results table existed open and gain it (same version)."""
    prompts, vectors = filled(tmp_path, n=5, dim=4)
    with sqlite3.connect(tmp_path / DB_FILENAME) as db:
        db.execute("DROP TABLE results")
    with PromptCache(tmp_path) as store:
        assert store.lookup("fp", prompts).prompts == prompts
        assert store.put_result("k", "label_embeddings", {"e": vectors})
        assert store.get_result("k") is not None
