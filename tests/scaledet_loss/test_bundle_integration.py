"""ScaleDetLoss.from_bundle with real scaledet-labels bundles, loaded from disk by path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import scaledet_labels as labels
from scaledet_loss import ScaleDetLoss, scaledet_loss


def _unit(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("topk", [None, 2])
def test_from_bundle_path_dense_and_topk(tmp_path: Path, topk: int | None) -> None:
    from scaledet_labels.bundle.build import build_label_space

    space = labels.LabelSpace.union(["cat, dog, car", "kitty, puppy"], names=["a", "b"])
    bundle = build_label_space(
        space, precomputed={"a": _unit(3, 8, 0), "b": _unit(2, 8, 1)}, topk=topk
    )
    path = bundle.save(tmp_path / "bundle")

    criterion = ScaleDetLoss.from_bundle(path, lam=0.5)
    assert criterion.num_classes == 5
    assert criterion.similarity_is_sparse == (topk is not None)
    dense_s = bundle.similarity.toarray() if topk else bundle.similarity
    v = torch.randn(6, 8)
    y = torch.tensor([0, 4, 5, -1, 2, 3])
    expected = scaledet_loss(
        v, torch.from_numpy(bundle.embeddings), y, torch.from_numpy(np.asarray(dense_s)), lam=0.5
    )
    torch.testing.assert_close(criterion(v, y), expected)

    only_b = ScaleDetLoss.from_bundle(path, dataset="b")
    assert only_b.num_classes == 2
    torch.testing.assert_close(
        only_b.embeddings, torch.from_numpy(bundle.embeddings[3:]), rtol=1e-6, atol=1e-6
    )
