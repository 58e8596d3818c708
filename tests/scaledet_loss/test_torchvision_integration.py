"""The torchvision integration guide is real code: run it, and train a tiny model with it.

Also checks that the detectron2 / MMDetection guides' code blocks (which need those
libraries) at least parse, and that each is marked with a ``<!-- requires: ... -->`` line.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import torch

torchvision = pytest.importorskip("torchvision")

DOCS = Path(__file__).resolve().parents[2] / "docs" / "integration"
FENCE = re.compile(r"(?P<before>[^\n]*)\n```python\n(?P<code>.*?)\n```", re.S)


def _blocks(name: str) -> list[tuple[str, str]]:
    text = (DOCS / name).read_text()
    return [(m["before"].strip(), m["code"]) for m in FENCE.finditer("\n" + text)]


def _definitions() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "torchvision_guide"}
    first = _blocks("torchvision.md")[0][1]
    exec(compile(first, "docs/integration/torchvision.md", "exec"), namespace)
    return namespace


def _tiny_faster_rcnn(num_classes: int = 2) -> Any:
    from torch import nn
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.ops import MultiScaleRoIAlign

    backbone = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
    )  # fmt: skip
    backbone.out_channels = 16  # type: ignore[assignment]
    return FasterRCNN(
        backbone,
        num_classes=num_classes,
        min_size=64,
        max_size=64,
        rpn_anchor_generator=AnchorGenerator(((8, 16, 32),), ((0.5, 1.0, 2.0),)),
        box_roi_pool=MultiScaleRoIAlign(["0"], output_size=4, sampling_ratio=1),
        representation_size=32,
        rpn_batch_size_per_image=32,
        box_batch_size_per_image=32,
    )


def test_guide_pieces_train_and_swap_label_space_on_a_tiny_model() -> None:
    ns = _definitions()
    torch.manual_seed(0)
    n_labels, dim = 6, 12
    embeddings = torch.nn.functional.normalize(torch.randn(n_labels, dim), dim=1)
    criterion = ns["ScaleDetLoss"](embeddings, (embeddings @ embeddings.T).clamp(min=0.0))
    model = ns["scaledet_faster_rcnn"](_tiny_faster_rcnn(), criterion)
    assert type(model.roi_heads).__name__ == "ScaleDetRoIHeads"

    model.train()
    images = [torch.rand(3, 64, 64), torch.rand(3, 64, 64)]
    targets = [
        {"boxes": torch.tensor([[4.0, 6.0, 40.0, 50.0]]), "labels": torch.tensor([1])},
        {"boxes": torch.tensor([[10.0, 10.0, 60.0, 30.0], [0.0, 30.0, 20.0, 63.0]]),
         "labels": torch.tensor([6, 3])},
    ]  # fmt: skip
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    losses = model(images, targets)
    assert {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses["loss_classifier"] > 0
    proj = model.roi_heads.box_predictor.cls.proj.weight
    before = proj.detach().clone()
    optimizer.zero_grad()
    sum(losses.values()).backward()
    assert proj.grad is not None and proj.grad.abs().max() > 0
    optimizer.step()
    assert not torch.equal(before, proj.detach())

    model.roi_heads.box_predictor.cls.set_label_space(torch.randn(3, dim))
    model.roi_heads.score_thresh = 0.0
    model.eval()
    with torch.no_grad():
        detections = model([torch.rand(3, 64, 64)])
    labels = detections[0]["labels"]
    assert set(detections[0]) == {"boxes", "labels", "scores"}
    assert labels.numel() > 0 and int(labels.min()) >= 1 and int(labels.max()) <= 3


@pytest.mark.slow
def test_guide_runs_verbatim() -> None:
    ns: dict[str, Any] = {"__name__": "torchvision_guide"}
    torch.manual_seed(0)
    for _, code in _blocks("torchvision.md"):
        exec(compile(code, "docs/integration/torchvision.md", "exec"), ns)
    assert torch.isfinite(sum(ns["losses"].values()))
    assert ns["model"].roi_heads.box_predictor.cls.num_classes == 7
    labels = ns["detections"][0]["labels"]
    assert labels.numel() == 0 or int(labels.max()) <= 7


@pytest.mark.parametrize("name", ["detectron2.md", "mmdetection.md"])
def test_other_guides_parse_and_are_marked(name: str) -> None:
    blocks = _blocks(name)
    assert blocks
    for before, code in blocks:
        assert re.fullmatch(r"<!-- requires: (detectron2|mmdet) -->", before), before
        ast.parse(code)
