"""The light CLI commands (``list``, ``show``), run as a user runs them: in a subprocess."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

COUNTS = {
    "coco": 80,
    "lvis": 1203,
    "objects365": 365,
    "oid": 601,
    "oid500": 500,
    "voc": 20,
    "v3det": 13204,
    "imagenet21k": 21841,
}
HEAVY = ("torch", "open_clip", "transformers")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONWARNINGS", None)
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scaledet_labels.cli", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        env=_env(),
        timeout=60,
    )


def test_list() -> None:
    result = cli("list")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    for name, count in COUNTS.items():
        assert re.search(rf"^{name}\s+{count}\b", result.stdout, re.MULTILINE), name
    assert "openimages" in result.stdout


def test_list_json() -> None:
    result = cli("list", "--json")
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)
    assert {e["name"]: e["labels"] for e in entries} == COUNTS
    assert "openimages" in next(e for e in entries if e["name"] == "oid")["aliases"]


def test_show_builtin() -> None:
    result = cli("show", "coco")
    assert result.returncode == 0, result.stderr
    assert "coco: 80 labels" in result.stdout
    assert re.search(r"^79\s+90\s+toothbrush\s+toothbrush", result.stdout, re.MULTILINE)
    limited = cli("show", "lvis", "--limit", "2")
    assert limited.returncode == 0
    assert "aerosol_can" in limited.stdout and "spray can" in limited.stdout
    assert "1201 more" in limited.stdout


def test_show_wordnet_columns() -> None:
    result = cli("show", "imagenet21k", "--limit", "3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "imagenet21k: 21841 labels (source: builtin:imagenet21k)"
    header = ["index", "id", "name", "clean name", "synonyms", "wnid", "synset", "definition"]
    assert re.split(r"\s{2,}", lines[1]) == header
    first = r"^0\s+1\s+organism\s+organism\s+being\s+n00004475\s+organism\.n\.01\s+a living"
    assert re.match(first, lines[3])
    assert "n00005787" in lines[4] and "benthos (organism)" in lines[4]
    assert "21838 more" in result.stdout
    lvis = cli("show", "lvis", "--limit", "1")
    can = r"aerosol_can\s+aerosol can\s+spray can\s+aerosol\.n\.02\s+a dispenser"
    assert re.search(can, lvis.stdout)
    voc = cli("show", "voc", "--limit", "1")  # no synsets, MIDs or definitions: no columns
    assert voc.stdout.splitlines()[1] == "index  id  name       clean name  synonyms"


def test_show_file_json(tmp_path: Path) -> None:
    (tmp_path / "classes.txt").write_text("# mine\ncat\nHot_dog\n", encoding="utf-8")
    result = cli("show", "classes.txt", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["name"] == "classes"
    assert data["count"] == 2
    assert [label["name"] for label in data["labels"]] == ["cat", "Hot_dog"]
    assert [label["clean_name"] for label in data["labels"]] == ["cat", "hot dog"]
    assert [label["id"] for label in data["labels"]] == [1, 2]


def test_show_inline() -> None:
    result = cli("show", "cat, dog")
    assert result.returncode == 0, result.stderr
    assert "2 labels" in result.stdout
    assert re.search(r"^0\s+1\s+cat\b", result.stdout, re.MULTILINE)
    assert re.search(r"^1\s+2\s+dog\b", result.stdout, re.MULTILINE)


@pytest.mark.parametrize(
    ("argument", "content", "expected"),
    [
        ("cocoo", None, "'coco'"),
        ("missing.txt", None, "missing.txt: no such file"),
        ("latin.txt", "caf\u00e9\n".encode("latin-1"), "latin.txt:1: not valid UTF-8"),
        ("binary.txt", b"\x00\x01\x02", "binary.txt: looks like a binary file"),
        ("dup.txt", b"Dog\ndog\n", "duplicate label name 'dog'"),
        ("shape.json", b'["cat", {"name": "dog"}]', "shape.json: item 1 is dict"),
        ("coco_ann.json", b'{"images": [], "annotations": []}', "without 'categories'"),
        ("cat, , dog", None, "item 1: empty or whitespace-only"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(
    tmp_path: Path, argument: str, content: bytes | None, expected: str
) -> None:
    if content is not None:
        (tmp_path / argument).write_bytes(content)
    result = cli("show", argument, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("scaledet-labels: error: ")
    assert expected in lines[0]


@pytest.mark.parametrize("command", [[], ["list"], ["show"]])
def test_help_shows_examples(command: list[str]) -> None:
    result = cli(*command, "--help")
    assert result.returncode == 0
    assert "examples:" in result.stdout
    assert "scaledet-labels " + (command[0] if command else "") in result.stdout
    if command == ["show"]:
        assert "scaledet-labels show coco" in result.stdout


def test_console_script() -> None:
    script = shutil.which("scaledet-labels")
    assert script is not None, "the scaledet-labels console script is not installed"
    result = subprocess.run(
        [script, "show", "voc", "--limit", "20"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=_env(),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "pottedplant" in result.stdout and "potted plant" in result.stdout
    bad = subprocess.run(
        [script, "show", "cocoo"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=_env(),
        timeout=60,
    )
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1


def test_light_commands_do_not_import_heavy_packages(tmp_path: Path) -> None:
    (tmp_path / "classes.txt").write_text("cat\ndog\n", encoding="utf-8")
    code = (
        "import sys\n"
        "from scaledet_labels.cli import main\n"
        "assert main(['list']) == 0\n"
        "assert main(['list', '--json']) == 0\n"
        "assert main(['show', 'coco']) == 0\n"
        "assert main(['show', 'classes.txt', '--json']) == 0\n"
        "assert main(['show', 'cat, dog']) == 0\n"
        f"heavy = sorted(m for m in {(*HEAVY, 'pandas')!r} if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "print('LIGHT-OK', file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_env(),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "LIGHT-OK" in result.stderr


def test_import_does_not_import_heavy_packages() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import scaledet_labels"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "scaledet_labels" in imported
    top_level = {name.split(".")[0] for name in imported}
    assert not top_level & {*HEAVY, "pandas"}, sorted(top_level & {*HEAVY, "pandas"})
