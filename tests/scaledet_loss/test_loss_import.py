"""`import scaledet_loss` needs torch only and never imports scaledet_labels."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_does_not_pull_scaledet_labels() -> None:
    code = (
        "import sys, scaledet_loss; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'scaledet_labels', 'scipy', 'open_clip', 'transformers'}); print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"
    assert "scaledet_labels" not in out.stderr  # the -X importtime log
    assert "scaledet_loss" in out.stderr


def test_public_api_is_flat_and_explicit() -> None:
    import scaledet_loss

    expected = {
        "ScaleDetLoss", "HardLabelLoss", "SoftLabelLoss", "CosineClassifier", "LossTerms",
        "scaledet_loss", "hard_label_loss", "soft_label_loss", "cosine_logits",
        "federated_class_mask", "ScaleDetLossError", "InputShapeError", "InputTypeError",
        "NonFiniteInputError", "DeviceMismatchError", "DEFAULT_TAU", "DEFAULT_LAM",
        "Reduction", "ClassMask",
    }  # fmt: skip
    assert set(scaledet_loss.__all__) == expected
    for name in expected:
        assert hasattr(scaledet_loss, name)
    assert scaledet_loss.DEFAULT_TAU == 0.05 and scaledet_loss.DEFAULT_LAM == 1.0


def test_no_print_or_assert_in_library() -> None:
    import ast

    for path in (ROOT / "scaledet_loss").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            assert not isinstance(node, ast.Assert), f"assert in {path.name}:{node.lineno}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id != "print", f"print in {path.name}:{node.lineno}"
