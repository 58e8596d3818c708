"""scaledet_loss / ScaleDetLoss: values, gradients, reductions, masks, stability, modules."""

from __future__ import annotations

import sys
import types
from types import SimpleNamespace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from loss_reference import make_batch, random_mask, reference_loss, reference_terms

from scaledet_loss import LossTerms, ScaleDetLoss, scaledet_loss
from scaledet_loss.errors import InputTypeError

REDUCTIONS = ["mean", "sum", "none"]


def _grads(out: torch.Tensor, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    go = torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype).reshape(out.shape)
    return torch.autograd.grad(out, inputs, go)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("use_weight", [False, True])
@pytest.mark.parametrize("mask_kind", [None, "dense", "datasets"])
def test_values_and_gradients_match_naive_reference(
    reduction: str, use_weight: bool, mask_kind: str | None
) -> None:
    v, t, y, S = make_batch(13, 6, 5, seed=3)
    w = torch.rand(13, dtype=torch.float64, requires_grad=True) if use_weight else None
    class_mask: object = None
    ref_mask = None
    if mask_kind == "dense":
        class_mask = ref_mask = random_mask(y, 6)
    elif mask_kind == "datasets":
        masks = torch.tensor([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], dtype=torch.bool)
        index = torch.where(y.clamp(0, 5) < 3, 0, 1)
        class_mask = (index, masks)
        ref_mask = masks[index]
    out = scaledet_loss(
        v, t, y, S, tau=0.1, lam=0.7, reduction=reduction, weight=w, class_mask=class_mask,
        chunk_size=4,
    )  # fmt: skip
    ref = reference_loss(v, t, y, S, tau=0.1, lam=0.7, reduction=reduction, weight=w, mask=ref_mask)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref)
    inputs = (v, t) + ((w,) if w is not None else ())
    for got, want in zip(_grads(out, inputs), _grads(ref, inputs), strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("extras", ["plain", "weight", "mask"])
def test_gradcheck_total(reduction: str, extras: str) -> None:
    v, t, y, S = make_batch(7, 4, 3, seed=5)
    mask = random_mask(y, 4) if extras == "mask" else None
    if extras == "weight":
        w = torch.rand(7, dtype=torch.float64, requires_grad=True)

        def fn(v_: torch.Tensor, t_: torch.Tensor, w_: torch.Tensor) -> torch.Tensor:
            return scaledet_loss(v_, t_, y, S, tau=0.2, reduction=reduction, weight=w_)

        assert torch.autograd.gradcheck(fn, (v, t, w))
    else:

        def fn2(v_: torch.Tensor, t_: torch.Tensor) -> torch.Tensor:
            return scaledet_loss(
                v_, t_, y, S, tau=0.2, lam=0.5, reduction=reduction, class_mask=mask, chunk_size=3
            )

        assert torch.autograd.gradcheck(fn2, (v, t))


def test_return_terms_is_named_tuple_and_sums() -> None:
    v, t, y, S = make_batch(seed=1)
    terms = scaledet_loss(v, t, y, S, lam=0.3, return_terms=True)
    assert isinstance(terms, LossTerms)
    loss, hard, soft = terms
    hard_ref, soft_ref = reference_terms(v, t, y, S)
    torch.testing.assert_close(hard, hard_ref.detach())
    torch.testing.assert_close(soft, soft_ref.detach())
    torch.testing.assert_close(loss, hard + 0.3 * soft)
    assert loss.requires_grad and not hard.requires_grad and not soft.requires_grad
    plain = scaledet_loss(v, t, y, S, lam=0.3)
    torch.testing.assert_close(plain, loss)


def test_sum_equals_none_summed() -> None:
    v, t, y, S = make_batch(seed=2)
    per_row = scaledet_loss(v, t, y, S, reduction="none")
    total = scaledet_loss(v, t, y, S, reduction="sum")
    torch.testing.assert_close(per_row.sum(), total)
    assert per_row[y == -1].abs().max() == 0


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_empty_batch_is_zero_with_gradient(reduction: str) -> None:
    v = torch.randn(0, 4, requires_grad=True)
    t = torch.randn(3, 4)
    out = scaledet_loss(v, t, torch.zeros(0, dtype=torch.long), torch.eye(3), reduction=reduction)
    assert out.requires_grad
    out.sum().backward()
    assert v.grad is not None and v.grad.shape == (0, 4)
    if reduction != "none":
        assert out.item() == 0.0


def test_no_foreground_gives_zero_soft_term_not_nan() -> None:
    v = torch.randn(5, 4, requires_grad=True)
    t = torch.randn(3, 4)
    y = torch.tensor([3, 3, -1, 3, 3])
    loss, hard, soft = scaledet_loss(v, t, y, torch.eye(3), return_terms=True)
    assert soft.item() == 0.0 and hard.item() > 0.0
    loss.backward()
    assert v.grad is not None and torch.isfinite(v.grad).all()
    assert v.grad[2].abs().max() == 0  # the ignored row gets no gradient


def test_all_ignored_is_zero_with_zero_gradient() -> None:
    v = torch.randn(4, 4, requires_grad=True)
    loss = scaledet_loss(v, torch.randn(3, 4), torch.full((4,), -1), torch.eye(3))
    loss.backward()
    assert loss.item() == 0.0
    assert v.grad is not None and v.grad.abs().max() == 0


def test_background_row_has_all_zero_hard_target_and_no_soft_term() -> None:
    v, t, _, S = make_batch(1, 4, 3, seed=4)
    y = torch.tensor([4])
    _loss, hard, soft = scaledet_loss(v, t, y, S, tau=0.5, return_terms=True)
    c = torch.nn.functional.cosine_similarity(v, t)
    torch.testing.assert_close(hard, torch.nn.functional.softplus(c / 0.5).sum().detach())
    assert soft.item() == 0.0


def test_small_tau_is_stable() -> None:
    v, t, y, S = make_batch(40, 30, 8, seed=6)
    # Make some cosines close to +-1 so c / tau is large.
    v.data[:5] = t.data[y.clamp(0, 29)[:5]] * 3.0
    v.data[5:10] = -t.data[:5]
    out = scaledet_loss(v, t, y, S, tau=0.005)
    ref = reference_loss(v, t, y, S, tau=0.005)
    torch.testing.assert_close(out, ref)
    gv, gt = torch.autograd.grad(out, (v, t))
    rv, rt = torch.autograd.grad(ref, (v, t))
    torch.testing.assert_close(gv, rv)
    torch.testing.assert_close(gt, rt)
    v32, t32 = v.detach().float().requires_grad_(), t.detach().float()
    out32 = scaledet_loss(v32, t32, y, S.float(), tau=0.005)
    out32.backward()
    assert torch.isfinite(out32) and v32.grad is not None and torch.isfinite(v32.grad).all()
    torch.testing.assert_close(out32.double(), ref.detach(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("low", [torch.bfloat16, torch.float16])
def test_low_precision_features_under_autocast(low: torch.dtype) -> None:
    v, t, y, S = make_batch(32, 10, 16, dtype=torch.float32, seed=7, grad=False)
    criterion = ScaleDetLoss(t, S, tau=0.02)
    ref = criterion(v, y)
    v_low = v.to(low).requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = criterion(v_low, y)
    assert out.dtype == torch.float32
    assert torch.isfinite(out)
    # The only error is rounding the features to `low` (8 or 11 mantissa bits).
    torch.testing.assert_close(out, ref, rtol=3e-2, atol=3e-2)
    out.backward()
    assert v_low.grad is not None and v_low.grad.dtype == low
    assert torch.isfinite(v_low.grad.float()).all()


def test_module_equals_function_and_moves_with_dtype() -> None:
    v, t, y, S = make_batch(seed=8)
    w = torch.rand(v.shape[0], dtype=torch.float64)
    mask = random_mask(y, t.shape[0])
    criterion = ScaleDetLoss(t.detach(), S, tau=0.1, lam=0.4, reduction="sum")
    assert criterion.embeddings.dtype == torch.float64
    out = criterion(v, y, weight=w, class_mask=mask, return_terms=True)
    ref = scaledet_loss(
        v, t.detach(), y, S, tau=0.1, lam=0.4, reduction="sum", weight=w, class_mask=mask,
        return_terms=True,
    )  # fmt: skip
    for a, b in zip(out, ref, strict=True):
        torch.testing.assert_close(a, b)
    gm = torch.autograd.grad(out.loss, v)[0]
    gf = torch.autograd.grad(ref.loss, v)[0]
    torch.testing.assert_close(gm, gf)
    half = criterion.to(torch.float32)
    assert half.embeddings.dtype == torch.float32 and half.similarity.dtype == torch.float32
    state = criterion.state_dict()
    assert set(state) == {"embeddings", "similarity"}
    assert "num_classes=5" in repr(criterion)


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta state")
def test_sparse_similarity_matches_dense() -> None:
    scipy_sparse = pytest.importorskip("scipy.sparse")
    v, t, y, S = make_batch(20, 8, 4, seed=9)
    S_topk = torch.where(S > 0.5, S, torch.zeros_like(S))
    dense = scaledet_loss(v, t, y, S_topk)
    torch_csr = scaledet_loss(v, t, y, S_topk.to_sparse_csr(), chunk_size=3)
    torch_coo = scaledet_loss(v, t, y, S_topk.to_sparse())
    torch.testing.assert_close(torch_csr, dense)
    torch.testing.assert_close(torch_coo, dense)
    module = ScaleDetLoss(t.detach(), scipy_sparse.csr_matrix(S_topk.numpy()), dtype=torch.float64)
    assert module.similarity_is_sparse
    assert set(module.state_dict()) == {
        "embeddings",
        "similarity_crow",
        "similarity_col",
        "similarity_values",
    }
    module = module.double()
    out = module(v, y)
    torch.testing.assert_close(out, scaledet_loss(v, t.detach(), y, S_topk))
    torch.testing.assert_close(torch.autograd.grad(out, v)[0], torch.autograd.grad(dense, v)[0])


def test_module_accepts_numpy() -> None:
    np = pytest.importorskip("numpy")
    emb = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    sim = np.eye(4)
    module = ScaleDetLoss(emb, sim)
    assert module.embeddings.dtype == torch.float32 and module.similarity.dtype == torch.float32
    torch.testing.assert_close(module.embeddings.norm(dim=1), torch.ones(4))
    out = module(torch.randn(3, 6), torch.tensor([0, 4, 2]))
    assert out.shape == ()


def test_no_grad_gives_the_same_value() -> None:
    v, t, y, S = make_batch(seed=10)
    with_grad = scaledet_loss(v, t, y, S)
    with torch.no_grad():
        without = scaledet_loss(v, t, y, S)
    assert not without.requires_grad
    torch.testing.assert_close(without, with_grad.detach())


def test_only_embeddings_require_grad() -> None:
    v, t, y, S = make_batch(seed=11)
    v = v.detach()
    out = scaledet_loss(v, t, y, S)
    (gt,) = torch.autograd.grad(out, t)
    (rt,) = torch.autograd.grad(reference_loss(v, t, y, S), t)
    torch.testing.assert_close(gt, rt)


@settings(max_examples=25, deadline=None)
@given(
    num=st.integers(0, 14),
    n=st.integers(1, 6),
    dim=st.integers(1, 5),
    chunk=st.integers(1, 6),
    seed=st.integers(0, 1000),
    reduction=st.sampled_from(REDUCTIONS),
)
def test_matches_reference_on_random_shapes(
    num: int, n: int, dim: int, chunk: int, seed: int, reduction: str
) -> None:
    v, t, y, S = make_batch(num, n, dim, seed=seed)
    out = scaledet_loss(v, t, y, S, tau=0.3, reduction=reduction, chunk_size=chunk)
    ref = reference_loss(v, t, y, S, tau=0.3, reduction=reduction)
    torch.testing.assert_close(out, ref)
    if num:
        for a, b in zip(_grads(out, (v, t)), _grads(ref, (v, t)), strict=True):
            torch.testing.assert_close(a, b)


# ----------------------------------------------------------------------------- from_bundle
def test_from_bundle_duck_typed_object() -> None:
    _, t, y, S = make_batch(10, 5, 4, seed=12, grad=False)
    bundle = SimpleNamespace(embeddings=t.float().numpy(), similarity=S.float().numpy())
    criterion = ScaleDetLoss.from_bundle(bundle, tau=0.05, lam=0.25)
    assert criterion.num_classes == 5 and criterion.tau == 0.05 and criterion.lam == 0.25
    v = torch.randn(10, 4)
    torch.testing.assert_close(
        criterion(v, y), scaledet_loss(v, t.float(), y, S.float(), tau=0.05, lam=0.25)
    )


def test_from_bundle_dataset_slices_labels() -> None:
    _, t, _, S = make_batch(2, 6, 4, seed=13, grad=False)

    class Bundle:
        embeddings = t.float()
        similarity = S.float()

        @staticmethod
        def dataset_indices(name: str) -> list[int]:
            return {"a": [0, 1, 2], "b": [3, 4, 5]}[name]

    criterion = ScaleDetLoss.from_bundle(Bundle(), dataset="b")
    assert criterion.num_classes == 3
    torch.testing.assert_close(criterion.similarity, S.float()[3:, 3:])
    with pytest.raises(InputTypeError, match="dataset_indices"):
        ScaleDetLoss.from_bundle(SimpleNamespace(embeddings=t, similarity=S), dataset="a")


def test_from_bundle_dataset_keeps_sparse_similarity_sparse() -> None:
    scipy_sparse = pytest.importorskip("scipy.sparse")
    _, t, _y, S = make_batch(8, 6, 4, seed=14, grad=False)
    S_top = torch.where(S > 0.6, S, torch.zeros_like(S)).float()
    index = [4, 0, 2]
    for sim in (scipy_sparse.csr_matrix(S_top.numpy()), S_top.to_sparse()):
        bundle = SimpleNamespace(
            embeddings=t.float(), similarity=sim, dataset_indices=lambda name: index
        )
        criterion = ScaleDetLoss.from_bundle(bundle, dataset="x")
        assert criterion.similarity_is_sparse and criterion.num_classes == 3
        v = torch.randn(5, 4)
        y3 = torch.tensor([0, 1, 2, 3, -1])
        expected = scaledet_loss(v, t.float()[index], y3, S_top[index][:, index])
        torch.testing.assert_close(criterion(v, y3), expected)


def test_from_bundle_missing_attributes() -> None:
    with pytest.raises(InputTypeError, match="similarity"):
        ScaleDetLoss.from_bundle(SimpleNamespace(embeddings=torch.randn(3, 2)))


def test_from_bundle_path_without_loader_raises_import_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = types.ModuleType("scaledet_labels")
    monkeypatch.setitem(sys.modules, "scaledet_labels", fake)
    with pytest.raises(ImportError, match="scaledet-labels bundles"):
        ScaleDetLoss.from_bundle("some/bundle/dir")


@pytest.mark.parametrize("function", ["load_bundle", "load"])
def test_from_bundle_path_uses_scaledet_labels_load_bundle(
    monkeypatch: pytest.MonkeyPatch, function: str
) -> None:
    """A path goes through scaledet_labels.load_bundle (load in releases before 0.2)."""
    fake = types.ModuleType("scaledet_labels")
    seen: list[object] = []

    def load(path: object) -> SimpleNamespace:
        seen.append(path)
        return SimpleNamespace(embeddings=torch.randn(3, 2), similarity=torch.eye(3))

    setattr(fake, function, load)
    monkeypatch.setitem(sys.modules, "scaledet_labels", fake)
    criterion = ScaleDetLoss.from_bundle("bundle-path", lam=0.0)
    assert seen == ["bundle-path"] and criterion.num_classes == 3
