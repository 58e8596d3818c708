"""The guarantees docs/bundles.md states, each driven here: crashes at every step of a save,
concurrent writers and readers, manifest edits, symlinks, unsafe dataset names, non-finite
data and file modes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import scaledet_labels as sl
from scaledet_labels.bundle import io as bundle_io
from scaledet_labels.bundle.manifest import seal
from scaledet_labels.errors import BundleError

# the 8-d toy bundles' Detic / YOLO-World exports warn about their width (tested elsewhere)
pytestmark = pytest.mark.filterwarnings(
    "ignore::scaledet_labels.bundle.export.ExportCompatibilityWarning"
)


def _bundle(seed: int, names: tuple[str, str] = ("a", "b"), topk: int | None = None) -> Any:
    rng = np.random.default_rng(seed)
    emb = rng.standard_normal((5, 8)).astype(np.float32)
    space = sl.LabelSpace.union(["cat, dog, car", "kitty, puppy"], names=list(names))
    return sl.build_label_space(
        space, precomputed={names[0]: emb[:3], names[1]: emb[3:]}, topk=topk
    )


def _same(loaded: Any, bundle: Any) -> bool:
    return bool(np.array_equal(loaded.embeddings, bundle.embeddings))


STEPS = [
    "directory",
    "written:embeddings.safetensors",
    "file:embeddings",
    "written:similarity.safetensors",
    "file:similarity",
    "written:labels.json",
    "file:labels",
    "written:labels.csv",
    "file:table",
    "manifest:before",
    "manifest:after",
    "garbage",
]
AFTER_SWAP = {"manifest:after", "garbage"}

KILL_AT_STEP = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    import scaledet_labels as sl
    from scaledet_labels.bundle import io

    path, step, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = np.random.default_rng(seed)
    emb = rng.standard_normal((5, 8)).astype(np.float32)
    space = sl.LabelSpace.union(["cat, dog, car", "kitty, puppy"], names=["a", "b"])
    bundle = sl.build_label_space(space, precomputed={"a": emb[:3], "b": emb[3:]})

    def hook(name):
        if name == step:
            os._exit(9)  # like SIGKILL: no cleanup, no finally blocks

    io._STEP_HOOK = hook
    bundle.save(path, overwrite=True)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("step", STEPS)
def test_a_kill_at_any_step_leaves_the_old_or_the_new_bundle(tmp_path: Path, step: str) -> None:
    old, new = _bundle(1), _bundle(2)
    path = old.save(tmp_path / "b")
    result = subprocess.run(
        [sys.executable, "-c", KILL_AT_STEP, str(path), step, "2"], timeout=120, check=False
    )
    assert result.returncode == 9
    loaded = sl.load_bundle(path)
    expected = new if step in AFTER_SWAP else old
    assert _same(loaded, expected), step
    # the next save removes what the killed one left behind
    new.save(path, overwrite=True)
    named = set(json.loads((path / "manifest.json").read_text())["files"])
    assert {p.name for p in path.iterdir()} == named | {"manifest.json", ".lock"}


@pytest.mark.slow
@pytest.mark.parametrize("step", [s for s in STEPS if s not in AFTER_SWAP])
def test_a_kill_during_a_first_save_leaves_no_bundle_and_the_next_save_works(
    tmp_path: Path, step: str
) -> None:
    path = tmp_path / "b"
    subprocess.run([sys.executable, "-c", KILL_AT_STEP, str(path), step, "2"], timeout=120)
    with pytest.raises(BundleError, match="not a bundle"):
        sl.load_bundle(path)
    _bundle(3).save(path)  # an interrupted first save is not "a directory that is not ours"
    assert _same(sl.load_bundle(path), _bundle(3))


@pytest.mark.parametrize("step", [s for s in STEPS[1:] if s not in AFTER_SWAP])
def test_an_error_at_any_step_keeps_the_old_bundle_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    old = _bundle(1)
    path = old.save(tmp_path / "b")
    before = sorted(p.name for p in path.iterdir())

    def hook(name: str) -> None:
        if name == step:
            raise OSError(f"disk full at {name}")

    monkeypatch.setattr(bundle_io, "_STEP_HOOK", hook)
    with pytest.raises(OSError, match="disk full"):
        _bundle(2).save(path, overwrite=True)
    assert sorted(p.name for p in path.iterdir()) == before
    assert _same(sl.load_bundle(path), old)


@pytest.mark.slow
def test_leftovers_of_interrupted_saves_are_removed_by_the_next_save_in_the_parent(
    tmp_path: Path,
) -> None:
    killed = tmp_path / "killed"
    subprocess.run(
        [sys.executable, "-c", KILL_AT_STEP, str(killed), "file:similarity", "2"], timeout=120
    )
    legacy = tmp_path / ".old_bundle.tmp-k2x_9q"  # a 0.1 save's staging copy
    legacy.mkdir()
    for name in ("embeddings.safetensors", "labels.json", "manifest.json"):
        (legacy / name).write_bytes(b"x" * 100)
    mine = tmp_path / "mine"  # not written by this library: never touched
    mine.mkdir()
    (mine / ".lock").write_text("")
    (mine / "notes.txt").write_text("keep")
    _bundle(1).save(tmp_path / "other")
    assert killed.exists()  # a first save may still be running: left for a minute
    old = time.time() - 120
    os.utime(killed / ".lock", (old, old))
    _bundle(1).save(tmp_path / "other", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "other"]
    assert (mine / "notes.txt").read_text() == "keep"


CONCURRENT = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import scaledet_labels as sl

    path, role, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    failures = 0
    deadline = time.monotonic() + 20
    rng = np.random.default_rng(seed)
    emb = rng.standard_normal((5, 8)).astype(np.float32)
    space = sl.LabelSpace.union(["cat, dog, car", "kitty, puppy"], names=["a", "b"])
    bundle = sl.build_label_space(space, precomputed={"a": emb[:3], "b": emb[3:]})
    for i in range(15):
        if time.monotonic() > deadline:
            break
        try:
            if role == "save":
                bundle.save(path, overwrite=True)
            else:
                sl.load_bundle(path)
        except Exception as exc:
            failures += 1
            print(type(exc).__name__, exc, file=sys.stderr)
    print(failures)
    """
)


@pytest.mark.slow
def test_concurrent_saves_and_reads_all_succeed(tmp_path: Path) -> None:
    path = _bundle(0).save(tmp_path / "b")
    roles = ["save", "save", "save", "read", "read", "read"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT, str(path), role, str(seed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed, role in enumerate(roles, start=10)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [out.strip() for out, _ in outputs] == ["0"] * len(roles), [e for _, e in outputs]
    loaded = sl.load_bundle(path)
    assert any(_same(loaded, _bundle(seed)) for seed in (10, 11, 12))
    named = set(json.loads((path / "manifest.json").read_text())["files"])
    assert {p.name for p in path.iterdir()} == named | {"manifest.json", ".lock"}


# -- the manifest ------------------------------------------------------------------------------
def _manifest(path: Path) -> dict[str, Any]:
    return dict(json.loads((path / "manifest.json").read_text()))


def _write_manifest(path: Path, manifest: Any) -> None:
    (path / "manifest.json").write_text(json.dumps(manifest, indent=1))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path of a JSON value (dict keys and list indices)."""
    found = []
    if isinstance(value, dict):
        for k, v in value.items():
            found.append((*prefix, k))
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found.append((*prefix, i))
            found += _paths(v, (*prefix, i))
    return found


def _edit(manifest: Any, keys: tuple[Any, ...], how: str) -> Any:
    parent = manifest
    for k in keys[:-1]:
        parent = parent[k]
    last = keys[-1]
    if how == "delete":
        del parent[last]
    elif how == "retype":
        value = parent[last]
        parent[last] = [value] if not isinstance(value, list) else {"x": value}
    else:
        value = parent[last]
        if isinstance(value, bool):
            parent[last] = not value
        elif isinstance(value, (int, float)):
            parent[last] = value + 1
        elif isinstance(value, str):
            parent[last] = value + "x"
        elif value is None:
            parent[last] = "x"
        else:
            parent[last] = {} if isinstance(value, list) else []
    return manifest


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(_bundle(4, topk=2).save(tmp_path_factory.mktemp("m") / "b"))


@pytest.mark.parametrize("how", ["delete", "retype", "edit"])
def test_every_manifest_key_deleted_retyped_or_edited_is_refused(
    saved: Path, tmp_path: Path, how: str
) -> None:
    original = _manifest(saved)
    tried = 0
    for keys in _paths(original):
        if how == "delete" and isinstance(keys[-1], int):
            continue  # deleting a list item is an edit of the list, covered by "edit"
        copy = tmp_path / "copy"
        if copy.exists():
            for f in copy.iterdir():
                f.unlink()
            copy.rmdir()
        copy.mkdir()
        for f in saved.iterdir():
            (copy / f.name).write_bytes(f.read_bytes())
        _write_manifest(copy, _edit(json.loads(json.dumps(original)), keys, how))
        tried += 1
        with pytest.raises(BundleError) as caught:
            sl.load_bundle(copy)
        assert "\n" not in str(caught.value).strip(), keys
    assert tried > 40


def test_a_changed_template_is_refused_and_named(saved: Path) -> None:
    manifest = _manifest(saved)
    manifest["templates"] = ["a drawing of {}."]
    copy = saved.parent / "templates_edit"
    copy.mkdir()
    for f in saved.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    _write_manifest(copy, manifest)
    with pytest.raises(BundleError, match="'templates' was changed"):
        sl.load_bundle(copy)


def test_a_consistently_resealed_manifest_must_still_match_its_files(saved: Path) -> None:
    """Re-sealing an edit by hand does not make the numbers lie: identity and files agree."""
    for key, value in [("n_labels", 6), ("dim", 9), ("templates", ["a {}"])]:
        manifest = _manifest(saved)
        manifest[key] = value
        copy = saved.parent / f"resealed_{key}"
        copy.mkdir()
        for f in saved.iterdir():
            (copy / f.name).write_bytes(f.read_bytes())
        _write_manifest(copy, seal(manifest))
        with pytest.raises(BundleError):
            sl.load_bundle(copy)


@pytest.mark.parametrize("name", ["../secret.txt", "/etc/passwd", "sub/labels.json", ".hidden"])
def test_file_entries_must_be_plain_names_inside_the_bundle(saved: Path, name: str) -> None:
    manifest = _manifest(saved)
    manifest["files"][name] = {"sha256": "0" * 64, "bytes": 1}
    copy = saved.parent / f"files_{abs(hash(name))}"
    copy.mkdir()
    for f in saved.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    _write_manifest(copy, seal(manifest))
    with pytest.raises(BundleError, match="not a plain file name"):
        sl.load_bundle(copy)


def test_info_on_a_damaged_manifest_is_one_line_and_exit_2(saved: Path, tmp_path: Path) -> None:
    manifest = _manifest(saved)
    del manifest["encoder"]
    copy = tmp_path / "c"
    copy.mkdir()
    for f in saved.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    _write_manifest(copy, manifest)
    result = subprocess.run(
        [sys.executable, "-m", "scaledet_labels.cli", "info", str(copy)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "'encoder'" in result.stderr and result.stderr.count("\n") == 1


# -- data ------------------------------------------------------------------------------------
@pytest.mark.parametrize("what", ["embeddings", "similarity"])
def test_non_finite_data_is_refused_even_when_self_consistent(tmp_path: Path, what: str) -> None:
    bundle = _bundle(5)
    if what == "embeddings":
        bundle.embeddings = bundle.embeddings.copy()
        bundle.embeddings[1, 2] = np.nan
    else:
        bundle.similarity = bundle.similarity.copy()
        bundle.similarity[0, 1] = np.inf
    bundle.manifest["arrays_hash"] = bundle_io.arrays_hash(bundle.embeddings, bundle.similarity)
    path = bundle.save(tmp_path / "b")
    with pytest.raises(BundleError, match="NaN or infinite"):
        sl.load_bundle(path)


# -- paths -----------------------------------------------------------------------------------
def test_a_symlinked_path_updates_the_bundle_it_points_to(tmp_path: Path) -> None:
    real = _bundle(1).save(tmp_path / "real")
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    _bundle(2).save(link, overwrite=True)
    assert link.is_symlink() and not list(tmp_path.glob(".link*"))
    assert _same(sl.load_bundle(real), _bundle(2))


@pytest.mark.parametrize(
    "dataset", ["../../escaped", "a/b", "nul\0name", "/abs/path", "..", "./.hidden"]
)
@pytest.mark.parametrize("fmt", ["detic", "openclip", "yoloworld", "yoloe", "csv"])
def test_export_names_from_dataset_names_stay_inside_out(
    tmp_path: Path, dataset: str, fmt: str
) -> None:
    bundle = _bundle(6, names=(dataset, "ok"))
    out = tmp_path / "deep" / "out"
    out.mkdir(parents=True)
    for chosen in (dataset, None):
        written = bundle.export(fmt, out, dataset=chosen, overwrite=True)
        for file in written:
            assert file.resolve().parent == out.resolve(), file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep"]
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["out"]


# -- modes -----------------------------------------------------------------------------------
@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_files_get_ordinary_modes_under_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        path = _bundle(7).save(tmp_path / "b")
        exported = _bundle(7).export("openclip", tmp_path / "zs.safetensors")
        exported += _bundle(7).export("detic", tmp_path / "d.npy")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o777 & ~umask
    for file in [*path.iterdir(), *exported]:
        assert stat.S_IMODE(file.stat().st_mode) == 0o666 & ~umask, file
