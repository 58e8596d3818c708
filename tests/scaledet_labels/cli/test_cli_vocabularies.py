"""Messy real vocabularies from the command line (issue 12): --on-duplicate, --on-blank,
raw names kept, every problem in one line, NAME=SOURCE, and default output names that fit
the file system, checked before any work.

The refusals run without loading a model (they happen before any encoding); the builds
that succeed are marked ``slow`` (they encode with the offline MiniLM model).
"""

from __future__ import annotations

import doctest
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scaledet_labels.cli import commands
from scaledet_labels.cli.commands import DEFAULT_NAME_BYTES, default_out
from scaledet_labels.cli.parser import build_parser

HEAVY = ("torch", "open_clip", "transformers", "sentence_transformers")


def _run(*args: str, cwd: Path, cache: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONIOENCODING="utf-8")
    env.pop("PYTHONWARNINGS", None)
    if cache is not None:
        env["SCALEDET_CACHE"] = str(cache)
    return subprocess.run(
        [sys.executable, "-m", "scaledet_labels.cli", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        env=env,
        timeout=600,
    )


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("scaledet-labels: error: ")
    return lines[0]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "c.txt").write_text("  \nblack bishop\n")  # the example
    (tmp_path / "mid.txt").write_text("cat\n\ndog\n")
    (tmp_path / "dup.txt").write_text("Dog\ncat\ndog\n")
    (tmp_path / "dup.json").write_text(json.dumps(["Person", "person", "PERSON"]))
    (tmp_path / "spaces.txt").write_text("o \nTraffic cone  \n")
    (tmp_path / "bad.txt").write_text("car\n \nCar\n\ntruck\nTruck\n")
    return tmp_path


# -- every command that reads vocabularies has the policies -------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ["show", "x.txt"],
        ["build", "coco", "x.txt"],
        ["match", "B", "--from", "x.txt", "--to", "coco"],
    ],
)
def test_vocabulary_commands_take_both_policies(argv: list[str]) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    assert (args.on_duplicate, args.on_blank) == ("error", "error")
    args = parser.parse_args([*argv, "--on-duplicate", "disambiguate", "--on-blank", "skip"])
    assert (args.on_duplicate, args.on_blank) == ("disambiguate", "skip")


# -- show: the light command, every policy ------------------------------------------------
def test_show_refuses_a_blank_line_with_its_number_and_skips_it_on_request(files: Path) -> None:
    line = _one_line_error(_run("show", "c.txt", cwd=files))
    assert "c.txt:1: empty or whitespace-only label name '  '" in line
    assert "--on-blank skip" in line
    result = _run("show", "c.txt", "--on-blank", "skip", "--json", cwd=files)
    assert result.returncode == 0, result.stderr
    labels = json.loads(result.stdout)["labels"]
    assert [(label["id"], label["name"]) for label in labels] == [(2, "black bishop")]


def test_show_disambiguates_case_variant_duplicates(files: Path) -> None:
    line = _one_line_error(_run("show", "dup.json", cwd=files))
    assert "duplicate label name 'person'" in line
    assert "--on-duplicate disambiguate" in line and "on_duplicate='disambiguate'" in line
    result = _run("show", "dup.json", "--on-duplicate", "disambiguate", "--json", cwd=files)
    assert result.returncode == 0, result.stderr
    labels = json.loads(result.stdout)["labels"]
    assert [label["clean_name"] for label in labels] == ["person", "person (2)", "PERSON (3)"]
    assert [label["name"] for label in labels] == ["Person", "person", "PERSON"]


def test_show_keeps_the_raw_name_with_trailing_spaces(files: Path) -> None:
    result = _run("show", "spaces.txt", "--json", cwd=files)
    assert result.returncode == 0, result.stderr
    labels = json.loads(result.stdout)["labels"]
    assert [label["name"] for label in labels] == ["o ", "Traffic cone  "]
    assert [label["clean_name"] for label in labels] == ["o", "traffic cone"]


def test_show_reports_every_problem_in_one_line(files: Path) -> None:
    line = _one_line_error(_run("show", "bad.txt", cwd=files))
    assert "bad.txt: 4 problems: " in line
    for part in [
        "(1) bad.txt:2: empty or whitespace-only label name ' '",
        "(2) bad.txt:3: duplicate label name 'car': 'car' (line 1) and 'Car' (line 3)",
        "(3) bad.txt:4: empty or whitespace-only label name ''",
        "(4) bad.txt:6: duplicate label name 'truck'",
        "--on-blank skip",
        "--on-duplicate disambiguate",
    ]:
        assert part in line
    both = ("--on-blank", "skip", "--on-duplicate", "disambiguate", "--json")
    result = _run("show", "bad.txt", *both, cwd=files)
    assert result.returncode == 0, result.stderr
    labels = json.loads(result.stdout)["labels"]
    assert [label["id"] for label in labels] == [1, 3, 5, 6]


def test_show_names_a_dataset_with_name_equals_source(files: Path) -> None:
    result = _run("show", "pieces=c.txt", "--on-blank", "skip", "--json", cwd=files)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["name"] == "pieces"
    (files / "a=b.txt").write_text("knight\n")  # an existing file is that file, '=' or not
    result = _run("show", "a=b.txt", "--json", cwd=files)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["name"] == "a=b"


# -- build: refusals come before any work -------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["build", "voc", "c.txt"], "c.txt:1: empty or whitespace-only label name '  '"),
        (["build", "voc", "mid.txt"], "mid.txt:2: empty or whitespace-only label name ''"),
        (["build", "dup.txt"], "--on-duplicate disambiguate"),
        (["build", "bad.txt", "--out", "x"], "bad.txt: 4 problems: (1) bad.txt:2:"),
        (["build", "voc", "voc"], "on the command line NAME=SOURCE: voc_2=voc"),
        (["build", "voc", "pets="], "'pets=': nothing after '='"),
    ],
)
def test_build_refusals_are_one_line(files: Path, argv: list[str], expected: str) -> None:
    result = _run(*argv, cwd=files, cache=files / "cache")
    assert expected in _one_line_error(result)
    assert not (files / "labelspaces").exists() and not (files / "x").exists()


def test_build_checks_the_output_before_reading_or_encoding_anything(files: Path) -> None:
    (files / "notes").mkdir()
    (files / "notes" / "mine.txt").write_text("keep")
    # the output is refused first: the vocabulary (which does not exist) is never read
    line = _one_line_error(_run("build", "missing.txt", "--out", "notes", cwd=files))
    assert "notes: exists and is not a bundle" in line
    (files / "file").write_text("x")
    line = _one_line_error(_run("build", "voc", "--out", "file/bundle", cwd=files))
    assert "is a file, not a directory" in line
    # a too-long --out is refused without loading a model
    for i in range(40):
        (files / f"annotation_export_{i:02d}.txt").write_text(f"class {i}\n")
    names = [f"annotation_export_{i:02d}.txt" for i in range(40)]
    code = (
        "import sys\n"
        "from scaledet_labels.cli import main\n"
        f"code = main(['build', *{names!r}, '--out', '+'.join({names!r})])\n"
        f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "print(code, heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=files, timeout=120
    )
    assert result.stdout.strip() == "2 []", result.stderr
    assert "longer than the file system allows" in result.stderr


# -- default output names ----------------------------------------------------------------
def test_default_out_is_unchanged_for_short_lists() -> None:
    assert default_out(["coco", "lvis", "oid"]) == "labelspaces/coco+lvis+oid"
    assert default_out(["coco", "data/my_classes.txt"]) == "labelspaces/coco+my_classes"
    assert default_out(["coco", "coco_2=coco"]) == "labelspaces/coco+coco_2"


def test_default_out_shortens_long_lists_deterministically() -> None:
    many = [f"exports/project_{i:02d}/instances_default_{i:02d}.json" for i in range(40)]
    out = default_out(many)
    name = Path(out).name
    assert Path(out).parent == Path(commands.DEFAULT_OUT_DIR)
    assert len(name.encode()) <= DEFAULT_NAME_BYTES < 255
    assert name.startswith("instances_default_00+instances_default_01+")
    head, _, tail = name.rpartition("-more-")
    kept = head.count("+")  # the stems kept, then "+N"
    assert head.endswith(f"+{40 - kept}")
    assert len(tail) == 8 and int(tail, 16) >= 0
    assert default_out(many) == out  # deterministic
    assert default_out(many[:39]) != out and default_out(list(reversed(many))) != out
    one_long = default_out(["x" * 300 + ".txt"])
    assert len(Path(one_long).name.encode()) <= DEFAULT_NAME_BYTES
    accented = "\u00e9" * 50
    unicode = default_out([f"{accented}_{i}.txt" for i in range(5)])
    Path(unicode).name.encode().decode()  # cut on a character boundary
    assert len(Path(unicode).name.encode()) <= DEFAULT_NAME_BYTES


def test_commands_doctests() -> None:
    assert doctest.testmod(commands).failed == 0


# -- builds that succeed (slow: they encode) ----------------------------------------------
@pytest.mark.slow
def test_build_messy_files_with_policies_then_match(files: Path) -> None:
    import scaledet_labels as sl

    result = _run(
        "build",
        "dup.txt",
        "people=dup.json",
        "mid.txt",
        "spaces.txt",
        "pieces=c.txt",
        "--on-duplicate",
        "disambiguate",
        "--on-blank",
        "skip",
        "--json",
        cwd=files,
        cache=files / "cache",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["output"] == "labelspaces/dup+people+mid+spaces+pieces"
    space = sl.load_bundle(files / summary["output"]).label_space
    assert space.datasets == ("dup", "people", "mid", "spaces", "pieces")
    dup, people, mid, spaces, pieces = space.vocabularies
    assert dup.clean_names == ("dog", "cat", "dog (2)")  # case-variant duplicates kept apart
    assert people.names == ("Person", "person", "PERSON")
    assert people.clean_names == ("person", "person (2)", "PERSON (3)")
    assert mid.ids == (1, 3) and mid.names == ("cat", "dog")  # the blank line kept its id
    assert spaces.names == ("o ", "Traffic cone  ")  # raw names as the file spells them
    assert spaces.clean_names == ("o", "traffic cone")
    assert pieces.ids == (2,) and pieces.names == ("black bishop",)

    bundle = summary["output"]
    refused = _run("match", bundle, "--from", "dup.txt", "--to", "mid", cwd=files)
    assert "--on-duplicate disambiguate" in _one_line_error(refused)
    result = _run(
        "match",
        bundle,
        "--from",
        "dup.txt",
        "--to",
        "mid",
        "--on-duplicate",
        "disambiguate",
        "--json",
        cwd=files,
        cache=files / "cache",
    )
    assert result.returncode == 0, result.stderr
    pairs = {(r["source_index"], r["name"]) for r in json.loads(result.stdout)}
    assert pairs == {(0, "dog"), (1, "cat"), (2, "dog")}


@pytest.mark.slow
def test_build_forty_files_without_out(files: Path) -> None:
    import scaledet_labels as sl

    names = []
    for i in range(40):
        name = f"annotation_tool_export_{i:02d}.txt"
        (files / name).write_text(f"class {i}\nobject\n")
        names.append(name)
    result = _run("build", *names, "--quiet", cwd=files, cache=files / "cache")
    assert result.returncode == 0, result.stderr
    out = Path(result.stdout.strip())
    assert out.parent == Path("labelspaces")
    assert len(out.name.encode()) <= DEFAULT_NAME_BYTES
    assert "-more-" in out.name and out.name.startswith("annotation_tool_export_00+")
    bundle = sl.load_bundle(files / out)
    assert len(bundle.label_space.datasets) == 40 and len(bundle.label_space) == 80
