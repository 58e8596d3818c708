"""Tests of scaledet_labels.vocab.indexing.lookup: kinds kept, out-of-range handling, dtypes."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch

import scaledet_labels.vocab.indexing as indexing
from scaledet_labels.errors import LabelSpaceError
from scaledet_labels.vocab.indexing import lookup

TABLE = np.array([10, 11, 12, 13], dtype=np.int64)


def test_kinds_are_kept() -> None:
    assert lookup(TABLE, 1, strict=None) == 11 and isinstance(lookup(TABLE, 1, strict=None), int)
    assert lookup(TABLE, [3, 0], strict=None) == [13, 10]
    assert lookup(TABLE, (3, 0), strict=None) == (13, 10)
    out = lookup(TABLE, np.array([[0, 1], [2, 3]], dtype=np.int32), strict=None)
    assert isinstance(out, np.ndarray) and out.dtype == np.int64
    np.testing.assert_array_equal(out, [[10, 11], [12, 13]])
    tensor = lookup(TABLE, torch.tensor([2, 1]), strict=None)
    assert isinstance(tensor, torch.Tensor) and tensor.tolist() == [12, 11]


def test_out_of_range_is_minus_one_or_an_error() -> None:
    assert lookup(TABLE, [-1, 4, 2], strict=None) == [-1, -1, 12]
    assert lookup(TABLE, torch.tensor([7]), strict=None).tolist() == [-1]
    with pytest.raises(LabelSpaceError, match=r"local index 4 is out of range 0\.\.3"):
        lookup(TABLE, [4], strict="local index")
    with pytest.raises(LabelSpaceError, match="out of range"):
        lookup(TABLE, torch.tensor([-2]), strict="local index")


def test_non_integers_are_refused() -> None:
    with pytest.raises(LabelSpaceError, match="must be integers"):
        lookup(TABLE, [1.5], strict=None)
    with pytest.raises(LabelSpaceError, match="must be integers"):
        lookup(TABLE, torch.tensor([1.0]), strict=None)
    assert lookup(TABLE, [], strict=None) == []


def test_doctests() -> None:
    assert doctest.testmod(indexing).failed == 0
