"""The CLI's error policy: user mistakes are one line and exit 2, bugs show a traceback."""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap

import pytest

from scaledet_labels.cli import app, commands
from scaledet_labels.errors import BundleError, VocabularyTypeError


def _failing(exc: BaseException) -> object:
    def command(args: argparse.Namespace) -> int:
        raise exc

    return command


@pytest.mark.parametrize(
    "exc",
    [
        BundleError("labelspaces/x: not a bundle directory (no manifest.json)\nmore detail"),
        VocabularyTypeError("vocabulary must be a name, a file or a list, got int"),
        FileNotFoundError(2, "No such file or directory", "classes.txt"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], exc: Exception
) -> None:
    monkeypatch.setattr(commands, "cmd_list", _failing(exc))
    assert app.main(["list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("scaledet-labels: error: ")
    assert str(exc).splitlines()[0] in err


@pytest.mark.parametrize(
    "exc", [TypeError("unsupported operand"), KeyError("encoder"), ValueError("bug")]
)
def test_programming_errors_propagate(monkeypatch: pytest.MonkeyPatch, exc: Exception) -> None:
    """A plain TypeError/KeyError/ValueError is a bug, not a user mistake: not swallowed."""
    monkeypatch.setattr(commands, "cmd_list", _failing(exc))
    with pytest.raises(type(exc)):
        app.main(["list"])


def test_a_bug_shows_its_traceback_to_the_user() -> None:
    """Run as a user would: the console entry point with a command that has a bug."""
    script = textwrap.dedent(
        """
        from scaledet_labels.cli import app, commands

        def broken(args):
            return {}["missing key"] + 1

        commands.cmd_list = broken
        app.run()
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, "list"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "KeyError: 'missing key'" in result.stderr
    assert "scaledet-labels: error" not in result.stderr
