"""Tests of scaledet_labels.bundle.similarity: each normalisation, top-k against dense, errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse

from scaledet_labels.bundle.similarity import (
    NORMALIZATIONS,
    SimilarityError,
    label_similarity,
    normalize_cosine,
)


def _unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _reference(emb: np.ndarray, normalization: str) -> np.ndarray:
    e = emb.astype(np.float64)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    cos = e @ e.T
    if normalization == "minmax":
        lo = cos.min(axis=1, keepdims=True)
        hi = cos.max(axis=1, keepdims=True)
        out = (cos - lo) / (hi - lo)
    elif normalization == "affine":
        out = (cos + 1) / 2
    elif normalization == "clamp":
        out = np.maximum(cos, 0)
    else:
        out = cos
    np.fill_diagonal(out, 1.0)
    return out


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_dense_matches_formula(normalization: str) -> None:
    emb = _unit(50, 16)
    got = label_similarity(emb, normalization=normalization, block_size=7)
    assert got.dtype == np.float32 and got.shape == (50, 50)
    np.testing.assert_allclose(got, _reference(emb, normalization), atol=2e-6)
    np.testing.assert_array_equal(np.diag(got), np.ones(50, np.float32))


def test_minmax_row_range_is_zero_to_one() -> None:
    got = label_similarity(_unit(40, 8))
    np.testing.assert_allclose(got.max(axis=1), 1.0)
    np.testing.assert_allclose(got.min(axis=1), 0.0, atol=1e-7)


@pytest.mark.parametrize("normalization", ["affine", "clamp", "none"])
def test_symmetric_normalizations_give_symmetric_matrices(normalization: str) -> None:
    got = label_similarity(_unit(30, 8), normalization=normalization)
    np.testing.assert_allclose(got, got.T, atol=1e-6)
    if normalization != "none":
        assert got.min() >= 0.0 and got.max() <= 1.0


def test_unnormalized_input_is_normalized() -> None:
    emb = _unit(20, 8)
    np.testing.assert_allclose(label_similarity(emb * 7.5), label_similarity(emb), atol=1e-6)


def test_constant_rows_map_to_one() -> None:
    same = np.ones((3, 4), dtype=np.float32)
    np.testing.assert_array_equal(label_similarity(same), np.ones((3, 3), np.float32))
    np.testing.assert_array_equal(label_similarity(same[:1]), np.ones((1, 1), np.float32))


def test_float16_output() -> None:
    emb = _unit(20, 8)
    got = label_similarity(emb, dtype="float16")
    assert got.dtype == np.float16
    np.testing.assert_allclose(got, label_similarity(emb), atol=1e-3)


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@pytest.mark.parametrize("k", [1, 5, 49, 80])
def test_topk_keeps_diagonal_and_k_largest_of_dense(normalization: str, k: int) -> None:
    emb = _unit(50, 12, seed=3)
    dense = label_similarity(emb, normalization=normalization)
    sparse = label_similarity(emb, normalization=normalization, topk=k, block_size=9)
    assert isinstance(sparse, scipy.sparse.csr_matrix)
    assert sparse.has_sorted_indices
    keep = min(k, 49)
    assert sparse.nnz == 50 * (keep + 1)
    for i in range(50):
        row = sparse.getrow(i)
        cols = row.indices
        assert i in cols
        np.testing.assert_allclose(row.data, dense[i, cols], atol=2e-6)
        others = np.delete(dense[i], i)
        kept_others = np.delete(cols, np.flatnonzero(cols == i))
        # every kept off-diagonal entry is at least the (keep)-th largest off-diagonal value
        threshold = np.sort(others)[::-1][keep - 1]
        assert dense[i, kept_others].min() >= threshold - 1e-6
        assert np.all(np.diff(cols) > 0)


def test_topk_float16_and_structure() -> None:
    sparse = label_similarity(_unit(30, 8), topk=3, dtype="float16")
    assert sparse.dtype == np.float16 and sparse.shape == (30, 30)


def test_normalize_cosine_affine_and_clamp() -> None:
    cos = np.array([[1.0, 0.0, -1.0]], np.float32)
    np.testing.assert_allclose(normalize_cosine(cos.copy(), "affine"), [[1.0, 0.5, 0.0]])
    np.testing.assert_allclose(normalize_cosine(cos.copy(), "clamp"), [[1.0, 0.0, 0.0]])
    with pytest.raises(SimilarityError, match="minmax"):
        normalize_cosine(cos.copy(), "zscore")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"normalization": "softmax"}, "not one of"),
        ({"dtype": "float64"}, "dtype"),
        ({"topk": 0}, "topk"),
        ({"topk": True}, "topk"),
        ({"block_size": 0}, "block_size"),
    ],
)
def test_bad_options(kwargs: dict, match: str) -> None:
    with pytest.raises(SimilarityError, match=match):
        label_similarity(_unit(5, 4), **kwargs)


@pytest.mark.parametrize(
    ("embeddings", "match"),
    [
        (np.zeros((0, 4), np.float32), "non-empty"),
        (np.ones(4, np.float32), "non-empty"),
        (np.array([[1.0, np.nan]], np.float32), "row 0 has NaN"),
        (np.array([[1.0, 0.0], [0.0, 0.0]], np.float32), "row 1 is all zeros"),
        (np.array([["a", "b"]]), "numeric"),
    ],
)
def test_bad_embeddings(embeddings: np.ndarray, match: str) -> None:
    with pytest.raises(SimilarityError, match=match):
        label_similarity(embeddings)


def test_errors_are_value_errors() -> None:
    assert issubclass(SimilarityError, ValueError)


@pytest.mark.parametrize("keep", [1, 4, 9])
def test_sampled_top_k_selection_is_exact(keep: int) -> None:
    """The strided-sample threshold path of ``_largest`` picks each row's ``keep`` largest
    values exactly, with ties, constant rows and skewed rows falling back to a full sort."""
    from scaledet_labels.bundle.similarity import _largest

    rng = np.random.default_rng(keep)
    block = rng.standard_normal((60, 3000)).astype(np.float32)
    block[1] = 0.5  # every entry tied
    block[2, :100] = 10.0  # more large entries than the sample expects
    block[3, ::7] = block[3, 0]  # many ties
    block[4] = np.linspace(-1, 1, 3000, dtype=np.float32) ** 9  # skewed
    chosen = _largest(block, keep)
    assert chosen.shape == (60, keep)
    for i in range(60):
        assert len(set(chosen[i].tolist())) == keep
        expected = np.sort(block[i])[-keep:]
        np.testing.assert_array_equal(np.sort(block[i, chosen[i]]), expected)
