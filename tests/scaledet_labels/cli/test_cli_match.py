"""``scaledet-labels match`` on a saved bundle of precomputed embeddings (no encoder):
table, JSON and merge-file output, the options reaching the matcher, and user mistakes as
exit code 2. Run in-process through ``app.main`` (as test_main.py does), and once in a
subprocess the way a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import scaledet_labels as sl
from scaledet_labels.bundle.queries import MATCH_COLUMNS, MERGE_COLUMNS
from scaledet_labels.cli import app

A_NAMES = ["dog", "Cats", "parking meter", "Dogs"]
B_NAMES = ["cat", "dog", "traffic sign", "car"]


def _rows(*vectors: np.ndarray) -> np.ndarray:
    return np.stack(vectors).astype(np.float32)


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    basis = np.eye(12)

    def near(i: int, cosine: float, spare: int) -> np.ndarray:
        return cosine * basis[i] + np.sqrt(1 - cosine**2) * basis[spare]

    space = sl.LabelSpace.union([A_NAMES, B_NAMES, ["dog", "kite"]], names=["a", "b", "c"])
    rows = {
        # b: cat, dog, traffic sign, car on their own axes
        "b": _rows(basis[0], basis[1], basis[2], basis[3]),
        # a: dog ~ b:dog, Cats ~ b:cat, parking meter 0.586 to traffic sign, Dogs ~ b:dog
        "a": _rows(near(1, 0.99, 6), near(0, 0.97, 7), near(2, 0.586, 8), near(1, 0.95, 9)),
        "c": _rows(near(1, 0.9, 10), basis[11]),
    }
    bundle = sl.build_label_space(space, precomputed=rows)
    return bundle.save(tmp_path_factory.mktemp("match") / "bundle")


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = app.main(["match", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _records(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    code, out, err = _main(capsys, *args, "--format", "json")
    assert code == 0, err
    records = json.loads(out)
    assert isinstance(records, list)
    return records


def _usage_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """An argparse refusal: exit code 2, one error line (after the usage), no traceback."""
    with pytest.raises(SystemExit) as info:
        app.main(["match", *args])
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1, err
    return errors[0]


def _user_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """A library refusal: exit code 2 and exactly one line on stderr."""
    code, out, err = _main(capsys, *args)
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith("scaledet-labels: error: "), err
    return err.strip()


# -- output -----------------------------------------------------------------------------------
def test_table(bundle_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _main(capsys, str(bundle_dir), "--from", "a", "--to", "b")
    assert code == 0, err
    lines = out.splitlines()
    header = lines[0].split()
    assert header == [c for c in MATCH_COLUMNS if c not in ("source_ref", "target_ref")]
    assert "decision" in header and len(lines) == 1 + len(A_NAMES)
    decision = header.index("decision")
    assert lines[1].split()[:2] == ["0", "dog"]
    assert lines[1].split()[decision] == "same"
    assert lines[2].split()[:3] == ["1", "Cats", "1"]  # source_index, source_name, rank
    assert lines[2].split()[decision] == "same"
    assert lines[3].split()[:4] == ["2", "parking", "meter", "1"]
    assert lines[3].split()[decision + 1] == "none"  # after the two-word name
    assert "a:dog" not in out  # the reference columns are left out of the table


def test_json_carries_decision_confidence_and_evidence(
    bundle_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = _records(capsys, str(bundle_dir), "--from", "a", "--to", "b")
    assert [list(r) for r in records] == [MATCH_COLUMNS] * len(A_NAMES)
    by_name = {r["source_name"]: r for r in records}
    assert (by_name["dog"]["decision"], by_name["dog"]["name"]) == ("same", "dog")
    assert (by_name["Cats"]["decision"], by_name["Cats"]["name"]) == ("same", "cat")
    assert by_name["parking meter"]["decision"] == "none"
    for r in records:
        p, confidence = float(r["p_same"]), float(r["confidence"])  # type: ignore[arg-type]
        assert 0.0 <= p <= 1.0
        assert confidence == pytest.approx(p if r["decision"] == "same" else 1 - p)
        assert r["dataset"] == "b" and r["rank"] == 1
        assert isinstance(r["evidence"], str) and "cosine" in r["evidence"]
        assert r["source_ref"] == f"a:{r['source_name']}"
        assert r["target_ref"] == f"b:{r['name']}"
    assert "same name" in str(by_name["dog"]["evidence"])
    assert "plural/case folding" in str(by_name["Cats"]["evidence"])
    # --json is --format json
    code, out, err = _main(capsys, str(bundle_dir), "--from", "a", "--to", "b", "--json")
    assert code == 0, err
    assert json.loads(out) == records


def test_k_and_default_targets(bundle_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = _records(capsys, str(bundle_dir), "--from", "a", "-k", "3")
    assert len(records) == 3 * len(A_NAMES)
    assert [r["rank"] for r in records] == [1, 2, 3] * len(A_NAMES)
    assert {r["dataset"] for r in records} <= {"b", "c"}  # never the source dataset
    assert "c" in {r["dataset"] for r in records}
    below = [r for r in records if r["rank"] != 1]
    assert {r["decision"] for r in below} == {"alternative"}
    assert all(r["confidence"] is None and r["evidence"] == "" for r in below)
    two = _records(capsys, str(bundle_dir), "--from", "a", "--to", "b", "c", "-k", "3")
    assert two == records


def test_merges_out_file_reads_back(
    bundle_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    space = sl.load_bundle(bundle_dir).label_space
    a, b = space.vocabulary("a"), space.vocabulary("b")
    records = _records(capsys, str(bundle_dir), "--from", "a", "--to", "b", "--one-to-one")
    out_file = tmp_path / "merges.csv"
    code, out, err = _main(
        capsys, str(bundle_dir), "--from", "a", "--to", "b", "--one-to-one", "--format",
        "merges", "--out", str(out_file),
    )  # fmt: skip
    assert code == 0, err
    n_same = sum(r["decision"] == "same" for r in records)
    assert n_same == 2
    assert out.strip() == f"{out_file}: {n_same} same, {len(records) - n_same} none"
    lines = out_file.read_text().splitlines()
    assert lines[0].split(",") == MERGE_COLUMNS
    assert len(lines) == 1 + n_same
    assert [line.split(",")[:2] for line in lines[1:]] == [
        [r["source_ref"], r["target_ref"]] for r in records if r["decision"] == "same"
    ]
    merged = sl.LabelSpace.union([a, b], merge=str(out_file))
    assert not merged.is_disjoint
    assert len(merged) == len(a) + len(b) - n_same
    assert merged.to_unified("a", 0) == merged.to_unified("b", 1)  # dog
    assert merged.to_unified("a", 1) == merged.to_unified("b", 0)  # Cats / cat
    assert merged.to_unified("a", 2) != merged.to_unified("b", 2)  # parking meter: none
    assert merged.to_unified("a", 3) != merged.to_unified("b", 1)  # Dogs lost b:dog


def test_merges_with_two_sources_on_one_target_are_refused_on_reading(
    bundle_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Without --one-to-one dog and Dogs are both b:dog; the merge file says so, and
    reading it back names the labels (docs: remove one, or match with --one-to-one)."""
    out_file = tmp_path / "many.csv"
    code, _, err = _main(
        capsys, str(bundle_dir), "--from", "a", "--to", "b", "--format", "merges", "--out",
        str(out_file),
    )  # fmt: skip
    assert code == 0, err
    assert "a:Dogs,b:dog" in out_file.read_text()
    space = sl.load_bundle(bundle_dir).label_space
    with pytest.raises(sl.LabelSpaceError, match="two labels of the same dataset") as info:
        sl.LabelSpace.union([space.vocabulary("a"), space.vocabulary("b")], merge=out_file)
    assert "a:dog" in str(info.value) and "a:Dogs" in str(info.value)


def test_merges_to_stdout_has_only_same_pairs(
    bundle_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _main(
        capsys, str(bundle_dir), "--from", "a", "--to", "b", "--format", "merges", "--one-to-one"
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "source,target,source_index,target_index,confidence,evidence"
    pairs = [line.split(",")[:2] for line in lines[1:]]
    assert ["a:dog", "b:dog"] in pairs and ["a:Cats", "b:cat"] in pairs
    assert not any(source == "a:parking meter" for source, _ in pairs)
    targets = [target for _, target in pairs]
    assert len(targets) == len(set(targets))  # --one-to-one: Dogs lost b:dog to dog


def test_one_to_one_and_threshold_reach_the_matcher(
    bundle_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    many = _records(capsys, str(bundle_dir), "--from", "a", "--to", "b")
    assert [r["decision"] for r in many] == ["same", "same", "none", "same"]
    one = _records(capsys, str(bundle_dir), "--from", "a", "--to", "b", "--one-to-one")
    assert [r["decision"] for r in one] == ["same", "same", "none", "none"]
    assert "one-to-one" in str(one[3]["evidence"])
    strict = _records(capsys, str(bundle_dir), "--from", "a", "--to", "b", "--threshold", "0.9999")
    assert [r["p_same"] for r in strict] == [r["p_same"] for r in many]
    assert sum(r["decision"] == "same" for r in strict) < 3


@pytest.mark.parametrize("signals", ["all", "wordnet", "names", "embeddings"])
def test_every_signal_set(
    bundle_dir: Path, capsys: pytest.CaptureFixture[str], signals: str
) -> None:
    records = _records(
        capsys, str(bundle_dir), "--from", "a", "--to", "b", "--signals", signals, "--no-metadata"
    )
    assert len(records) == len(A_NAMES)
    assert {r["decision"] for r in records} <= {"same", "none"}
    assert records[0]["name"] == "dog"


# -- mistakes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["1.5", "0", "1", "-0.2", "half"])
def test_threshold_out_of_range(
    bundle_dir: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    line = _usage_error(capsys, str(bundle_dir), "--from", "a", "--threshold", value)
    assert "--threshold" in line and repr(value) in line


def test_unknown_signals(bundle_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _usage_error(capsys, str(bundle_dir), "--from", "a", "--signals", "bogus")
    assert "--signals" in line and "'bogus'" in line
    for name in ("all", "wordnet", "names", "embeddings"):
        assert name in line


def test_bad_k_and_format(bundle_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "-k" in _usage_error(capsys, str(bundle_dir), "--from", "a", "-k", "0")
    assert "--format" in _usage_error(capsys, str(bundle_dir), "--from", "a", "--format", "csv")
    assert "--from" in _usage_error(capsys, str(bundle_dir))


def test_library_refusals_are_one_line(
    bundle_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    line = _user_error(capsys, str(bundle_dir), "--from", "a", "--to", "zzz")
    assert "unknown dataset 'zzz'" in line
    line = _user_error(capsys, str(tmp_path / "nothing"), "--from", "a")
    assert "nothing" in line
    line = _user_error(capsys, str(bundle_dir), "--from", "not_a_vocabulary_xyz")
    assert "not_a_vocabulary_xyz" in line
    # a vocabulary outside the bundle must be encoded: not with precomputed embeddings
    mine = tmp_path / "mine.txt"
    mine.write_text("kitten\npuppy\n")
    line = _user_error(capsys, str(bundle_dir), "--from", str(mine), "--to", "b")
    assert "no reloadable encoder" in line


def test_as_a_user_runs_it(bundle_dir: Path, tmp_path: Path) -> None:
    """The real entry point: exit codes, one-line errors, and no torch for stored labels."""
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    env.pop("PYTHONWARNINGS", None)
    script = (
        "import sys\n"
        "from scaledet_labels.cli import app\n"
        "code = app.main(sys.argv[1:])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "sys.exit(code)\n"
    )
    ok = subprocess.run(
        [sys.executable, "-c", script, "match", str(bundle_dir), "--from", "a", "--to", "b"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[1].split()[:2] == ["0", "dog"]
    bad = subprocess.run(
        [sys.executable, "-m", "scaledet_labels.cli", "match", str(bundle_dir), "--from", "a",
         "--threshold", "1.5"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stdout == ""
    assert "Traceback" not in bad.stderr
    errors = [line for line in bad.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "--threshold" in errors[0]
