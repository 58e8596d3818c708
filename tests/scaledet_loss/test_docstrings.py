"""The runnable examples in the docstrings run and print what they claim."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "scaledet_loss",
    "scaledet_loss.scaledet",
    "scaledet_loss.hard",
    "scaledet_loss.soft",
    "scaledet_loss.cosine",
    "scaledet_loss.federated",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
