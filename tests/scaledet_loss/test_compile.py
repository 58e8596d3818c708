"""torch.compile of a step that uses the loss gives the eager values and gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from scaledet_loss import CosineClassifier, InputShapeError, InputTypeError, ScaleDetLoss


@pytest.mark.slow
def test_compiled_training_step_matches_eager() -> None:
    torch._dynamo.reset()
    gen = torch.Generator().manual_seed(0)
    embeddings = torch.randn(5, 8, generator=gen)
    criterion = ScaleDetLoss(embeddings, torch.rand(5, 5, generator=gen), lam=0.5)
    torch.manual_seed(0)
    head = CosineClassifier(16, embeddings)
    model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), head.proj)
    x = torch.randn(10, 12, generator=gen)
    y = torch.tensor([0, 1, 2, 3, 4, 5, 5, -1, 2, 0])

    def step(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        loss: torch.Tensor = criterion(model(inputs), targets)
        return loss

    eager = step(x, y)
    eager_grads = torch.autograd.grad(eager, list(model.parameters()))
    compiled = torch.compile(step)
    out = compiled(x, y)
    grads = torch.autograd.grad(out, list(model.parameters()))
    torch.testing.assert_close(out, eager)
    for a, b in zip(grads, eager_grads, strict=True):
        torch.testing.assert_close(a, b)
    # A second call with new values reuses the compiled graphs and stays correct.
    x2 = torch.randn(10, 12, generator=gen)
    torch.testing.assert_close(compiled(x2, y), step(x2, y))
    # The head has no graph breaks at all (the loss runs eagerly by design).
    feats = torch.randn(4, 16, generator=gen)
    full = torch.compile(head, fullgraph=True)
    torch.testing.assert_close(full(feats), head(feats))


@pytest.mark.slow
def test_compiled_head_still_raises_the_input_errors() -> None:
    torch._dynamo.reset()
    head = CosineClassifier(8, torch.randn(3, 4))
    compiled = torch.compile(head)
    torch.testing.assert_close(compiled(torch.ones(2, 8)), head(torch.ones(2, 8)))
    with pytest.raises(InputTypeError, match=r"x\.to\(torch\.float32\)"):
        compiled(torch.ones(2, 8, dtype=torch.float64))
    with pytest.raises(InputShapeError, match=r"\(N, 8\)"):
        compiled(torch.ones(2, 7))
