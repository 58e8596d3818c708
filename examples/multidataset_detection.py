"""End-to-end multi-dataset detection with scaledet-labels + scaledet-loss (CPU, synthetic).

What it does:

1. generates three small synthetic detection datasets (noisy images with shapes), each with
   its OWN vocabulary: ``shapes_a`` calls its shapes "circle"/"square", ``shapes_b`` calls
   them "ball"/"box"/"triangle", ``shapes_c`` draws outlines and calls them "ring"/"hollow
   square" (names overlap in meaning across datasets but are never identical);
2. builds the unified label space with ``scaledet_labels.build_label_space`` (MiniLM text
   encoder) and takes its label embeddings and label similarity;
3. trains a tiny torchvision Faster R-CNN from scratch whose box classifier is a
   ``scaledet_loss.CosineClassifier`` trained with ``ScaleDetLoss`` (hard + soft label
   loss) on the unified label space; batches mix datasets and the hard term uses
   UniDet-style partitioned negatives (a ``shapes_a`` box is only a negative for
   ``shapes_a`` labels; ``--no-masks`` turns that off);
4. evaluates COCO-style mAP@[.5:.95] per dataset on held-out images, with test-time
   label-space replacement (each dataset is classified against its own labels only);
5. evaluates on a vocabulary never seen in training: new names for seen shapes ("sphere",
   "cube", "pyramid") and an unseen combination ("hollow triangle": outlines were only
   trained as circles and squares), embedded with ``bundle.encode_vocabulary``.

``--train shapes_b`` trains on one dataset only (the single-dataset baseline of
``benchmarks/bench_ablation.py``); every test set is still evaluated.

Run ``python examples/multidataset_detection.py --smoke`` for a < 1 min check, or without
``--smoke`` for the full run (about 6 minutes on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import TwoMLPHead
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.ops import MultiScaleRoIAlign, box_iou
from torchvision.ops import boxes as box_ops

import scaledet_labels as sl
from scaledet_loss import DEFAULT_LAM, DEFAULT_TAU, CosineClassifier, ScaleDetLoss

# --------------------------------------------------------------------------------------
# Synthetic data
# --------------------------------------------------------------------------------------

# Shapes an image can contain: a filled kind, or its outline ("hollow ...").
SHAPES = ("circle", "square", "triangle", "hollow circle", "hollow square", "hollow triangle")

# Each training dataset: its label names and the shape each label draws. The names overlap
# in meaning across datasets but are never identical.
DATASETS: dict[str, dict[str, str]] = {
    "shapes_a": {"circle": "circle", "square": "square"},
    "shapes_b": {"ball": "circle", "box": "square", "triangle": "triangle"},
    "shapes_c": {"ring": "hollow circle", "hollow square": "hollow square"},
}
# A vocabulary never used in training: new names for seen shapes, and one unseen
# combination (outlines were only ever drawn as circles and squares, never as triangles).
HELDOUT_NAME = "heldout_vocab"
HELDOUT: dict[str, str] = {
    "sphere": "circle",
    "cube": "square",
    "pyramid": "triangle",
    "hollow triangle": "hollow triangle",
}
UNSEEN_COMBINATIONS = ("hollow triangle",)


def _shape_mask(shape: str, cx: float, cy: float, r: float, size: int) -> np.ndarray:
    if shape.startswith("hollow "):  # an outline about a fifth of the size thick
        kind = shape.removeprefix("hollow ")
        return _shape_mask(kind, cx, cy, r, size) & ~_shape_mask(kind, cx, cy, 0.6 * r, size)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    if shape == "circle":
        return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    if shape == "square":
        return (np.abs(xx - cx) <= r) & (np.abs(yy - cy) <= r)
    if shape == "triangle":  # apex up, base at cy + r
        inside_y = (yy >= cy - r) & (yy <= cy + r)
        half_width = (yy - (cy - r)) / 2.0  # width grows from 0 at apex to r at base
        return inside_y & (np.abs(xx - cx) <= half_width)
    raise ValueError(shape)


def make_image(
    rng: np.random.Generator, label_shapes: list[str], size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One image with 1-3 shapes of the given label list; returns image, boxes, local labels."""
    img = rng.normal(0.5, 0.12, size=(3, size, size)).astype(np.float32)
    # a smooth random background gradient
    gx = np.linspace(0, 1, size, dtype=np.float32)
    img += rng.uniform(-0.15, 0.15, size=(3, 1, 1)).astype(np.float32) * gx[None, None, :]
    boxes: list[list[float]] = []
    labels: list[int] = []
    for _ in range(int(rng.integers(1, 4))):
        for _attempt in range(20):
            r = float(rng.uniform(size * 0.08, size * 0.18))
            cx = float(rng.uniform(r + 1, size - r - 1))
            cy = float(rng.uniform(r + 1, size - r - 1))
            box = [cx - r, cy - r, cx + r, cy + r]
            if boxes:
                iou = box_iou(torch.tensor([box]), torch.tensor(boxes)).max().item()
                if iou > 0.1:
                    continue
            local = int(rng.integers(len(label_shapes)))
            mask = _shape_mask(label_shapes[local], cx, cy, r, size)
            color = rng.uniform(0.0, 1.0, size=3).astype(np.float32)
            img[:, mask] = color[:, None] + rng.normal(0, 0.04, size=(3, int(mask.sum())))
            boxes.append(box)
            labels.append(local)
            break
    return (
        torch.from_numpy(np.clip(img, 0.0, 1.0)),
        torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        torch.tensor(labels, dtype=torch.int64),
    )


def make_split(seed: int, label_shapes: list[str], n: int, size: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img, boxes, labels = make_image(rng, label_shapes, size)
        out.append({"image": img, "boxes": boxes, "labels": labels})
    return out


# --------------------------------------------------------------------------------------
# ScaleDet head for torchvision (as in docs/integration/torchvision.md)
# --------------------------------------------------------------------------------------


class ScaleDetPredictor(nn.Module):
    """Cosine classifier against label embeddings + class-agnostic box regression."""

    def __init__(self, in_channels: int, embeddings: torch.Tensor, tau: float) -> None:
        super().__init__()
        self.cls = CosineClassifier(in_channels, embeddings, tau=tau)
        self.bbox_pred = nn.Linear(in_channels, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.flatten(start_dim=1)
        cls_out = self.cls.embed(x) if self.training else self.cls(x)
        return cls_out, self.bbox_pred(x)


class ScaleDetRoIHeads(RoIHeads):
    """RoIHeads with the ScaleDet loss and sigmoid scoring.

    With ``dataset_masks`` (a ``(datasets, n)`` bool tensor), the hard term of each region
    only covers its own dataset's labels (partitioned negatives); with ``None``, every
    label of the unified space is a negative for every region that does not carry it.
    """

    def __init__(
        self,
        *args: Any,
        criterion: ScaleDetLoss,
        dataset_masks: torch.Tensor | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.criterion = criterion
        self.dataset_masks: torch.Tensor | None
        self.register_buffer("dataset_masks", dataset_masks, persistent=False)

    def forward(self, features, proposals, image_shapes, targets=None):
        if self.training:
            proposals, _, labels, regression_targets = self.select_training_samples(
                proposals, targets
            )
        box_features = self.box_head(self.box_roi_pool(features, proposals, image_shapes))
        cls_out, box_regression = self.box_predictor(box_features)
        if self.training:
            # each image belongs to one dataset: give every sampled region its dataset index
            counts = torch.tensor([len(p) for p in proposals])
            ds_index = torch.tensor([int(t["dataset"]) for t in targets])
            dataset_index = torch.repeat_interleave(ds_index, counts)
            labels = torch.cat(labels)
            regression_targets = torch.cat(regression_targets)
            n = self.criterion.num_classes
            y = torch.where(labels > 0, labels - 1, torch.full_like(labels, n))  # n = bg
            class_mask = None if self.dataset_masks is None else (dataset_index, self.dataset_masks)
            loss_cls = self.criterion(cls_out, y, class_mask=class_mask)
            pos = torch.where(labels > 0)[0]
            loss_box = F.smooth_l1_loss(
                box_regression[pos], regression_targets[pos], beta=1 / 9, reduction="sum"
            ) / max(labels.numel(), 1)
            return [], {"loss_classifier": loss_cls, "loss_box_reg": loss_box}
        boxes, scores, labels = self.postprocess_detections(
            cls_out, box_regression, proposals, image_shapes
        )
        return [
            {"boxes": b, "labels": lb, "scores": s}
            for b, s, lb in zip(boxes, scores, labels, strict=True)
        ], {}

    def postprocess_detections(self, class_logits, box_regression, proposals, image_shapes):
        num_classes = class_logits.shape[-1]
        boxes_per_image = [len(p) for p in proposals]
        pred_boxes = self.box_coder.decode(box_regression, proposals)  # (R, 1, 4)
        pred_scores = torch.sigmoid(class_logits)
        all_boxes, all_scores, all_labels = [], [], []
        for boxes, scores, image_shape in zip(
            pred_boxes.split(boxes_per_image),
            pred_scores.split(boxes_per_image),
            image_shapes,
            strict=True,
        ):
            boxes = box_ops.clip_boxes_to_image(boxes, image_shape).expand(-1, num_classes, 4)
            labels = torch.arange(1, num_classes + 1).expand_as(scores)
            boxes, scores, labels = boxes.reshape(-1, 4), scores.reshape(-1), labels.reshape(-1)
            keep = torch.where(scores > self.score_thresh)[0]
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            keep = box_ops.remove_small_boxes(boxes, min_size=1e-2)
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            keep = box_ops.batched_nms(boxes, scores, labels, self.nms_thresh)
            keep = keep[: self.detections_per_img]
            all_boxes.append(boxes[keep])
            all_scores.append(scores[keep])
            all_labels.append(labels[keep])
        return all_boxes, all_scores, all_labels


def build_model(
    criterion: ScaleDetLoss, dataset_masks: torch.Tensor | None, size: int
) -> FasterRCNN:
    """A tiny from-scratch Faster R-CNN (one stride-8 feature map) with the ScaleDet head."""

    def block(cin: int, cout: int, stride: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )

    backbone = nn.Sequential(
        block(3, 32, 2),
        block(32, 32, 1),
        block(32, 64, 2),
        block(64, 64, 1),
        block(64, 96, 2),
        block(96, 96, 1),
    )
    backbone.out_channels = 96  # type: ignore[assignment]
    anchors = AnchorGenerator(sizes=((12, 20, 32, 48),), aspect_ratios=((1.0,),))
    roi_pool = MultiScaleRoIAlign(featmap_names=["0"], output_size=5, sampling_ratio=2)
    rep = 256
    box_head = TwoMLPHead(96 * 5 * 5, rep)
    predictor = ScaleDetPredictor(rep, criterion.embeddings, tau=criterion.tau)
    model = FasterRCNN(
        backbone,
        num_classes=None,
        min_size=size,
        max_size=size,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.25, 0.25, 0.25],
        rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_train=300,
        rpn_post_nms_top_n_train=150,
        rpn_pre_nms_top_n_test=200,
        rpn_post_nms_top_n_test=60,
        rpn_batch_size_per_image=128,
        box_roi_pool=roi_pool,
        box_head=box_head,
        box_predictor=predictor,
        box_batch_size_per_image=64,
        box_score_thresh=0.01,
        box_detections_per_img=30,
    )
    old = model.roi_heads
    model.roi_heads = ScaleDetRoIHeads(
        old.box_roi_pool,
        old.box_head,
        old.box_predictor,
        fg_iou_thresh=0.5,
        bg_iou_thresh=0.5,
        batch_size_per_image=64,
        positive_fraction=0.25,
        bbox_reg_weights=None,
        score_thresh=0.01,
        nms_thresh=0.5,
        detections_per_img=30,
        criterion=criterion,
        dataset_masks=dataset_masks,
    )
    return model


# --------------------------------------------------------------------------------------
# COCO-style AP
# --------------------------------------------------------------------------------------

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)


def average_precision(
    detections: list[dict[str, torch.Tensor]],
    ground_truth: list[dict[str, torch.Tensor]],
    num_classes: int,
) -> dict[str, Any]:
    """COCO AP@[.5:.95] (101-point interpolation), per class and mean; labels are 0-based.

    Classes without ground truth are left out of the mean (as COCO does). Detections are
    matched greedily by decreasing score to the unmatched ground truth of highest IoU.
    """
    ap = np.full((num_classes, len(IOU_THRESHOLDS)), np.nan)
    for c in range(num_classes):
        n_gt = sum(int((g["labels"] == c).sum()) for g in ground_truth)
        if n_gt == 0:
            continue
        scores: list[float] = []
        matched = [[] for _ in IOU_THRESHOLDS]  # per threshold: 1 = TP, 0 = FP
        for det, gt in zip(detections, ground_truth, strict=True):
            d_mask = det["labels"] == c
            d_boxes, d_scores = det["boxes"][d_mask], det["scores"][d_mask]
            order = torch.argsort(d_scores, descending=True)
            d_boxes, d_scores = d_boxes[order], d_scores[order]
            g_boxes = gt["boxes"][gt["labels"] == c]
            ious = (
                box_iou(d_boxes, g_boxes).numpy()
                if len(d_boxes) and len(g_boxes)
                else np.zeros((len(d_boxes), len(g_boxes)))
            )
            scores.extend(d_scores.tolist())
            for t, thr in enumerate(IOU_THRESHOLDS):
                used = np.zeros(len(g_boxes), dtype=bool)
                for i in range(len(d_boxes)):
                    cand = np.where(~used, ious[i], -1.0)
                    j = int(np.argmax(cand)) if len(g_boxes) else -1
                    if j >= 0 and cand[j] >= thr:
                        used[j] = True
                        matched[t].append(1)
                    else:
                        matched[t].append(0)
        order = np.argsort(-np.asarray(scores), kind="mergesort")
        for t in range(len(IOU_THRESHOLDS)):
            tp = np.asarray(matched[t], dtype=np.float64)[order]
            if tp.size == 0:
                ap[c, t] = 0.0
                continue
            ctp, cfp = np.cumsum(tp), np.cumsum(1 - tp)
            recall = ctp / n_gt
            precision = ctp / np.maximum(ctp + cfp, np.finfo(np.float64).eps)
            precision = np.maximum.accumulate(precision[::-1])[::-1]  # monotone envelope
            idx = np.searchsorted(recall, RECALL_POINTS, side="left")
            sampled = np.where(
                idx < len(precision), precision[np.minimum(idx, len(precision) - 1)], 0.0
            )
            ap[c, t] = float(sampled.mean())
    valid = ~np.isnan(ap[:, 0])
    return {
        "mAP": float(np.nanmean(ap[valid])) if valid.any() else 0.0,
        "AP50": float(np.nanmean(ap[valid, 0])) if valid.any() else 0.0,
        "per_class": [float(np.mean(row)) if not np.isnan(row[0]) else None for row in ap],
    }


@torch.no_grad()
def evaluate(model: FasterRCNN, data: list[dict[str, Any]], embeddings: np.ndarray) -> dict:
    """Detect with the label space replaced by ``embeddings`` and score COCO-style."""
    model.roi_heads.box_predictor.cls.set_label_space(torch.tensor(embeddings))
    model.eval()
    detections = []
    for start in range(0, len(data), 16):
        batch = data[start : start + 16]
        for out in model([d["image"] for d in batch]):
            detections.append({**out, "labels": out["labels"] - 1})  # 1..n -> 0..n-1
    return average_precision(detections, data, len(embeddings))


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny run (< 1 min)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--iters", type=int, default=None, help="training iterations")
    p.add_argument(
        "--lam",
        type=float,
        default=DEFAULT_LAM,
        help=f"weight of the soft label loss (default {DEFAULT_LAM}; 0: hard only)",
    )
    p.add_argument(
        "--no-masks",
        action="store_true",
        help="no per-dataset negative masks: every unified label is a negative for a region "
        "that does not carry it, whatever its dataset",
    )
    p.add_argument(
        "--train",
        nargs="+",
        choices=list(DATASETS),
        default=list(DATASETS),
        metavar="DATASET",
        help=f"datasets to train on (default: all of {', '.join(DATASETS)}); one name gives "
        "the single-dataset baseline, all test sets are still evaluated",
    )
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument(
        "--tau", type=float, default=DEFAULT_TAU, help=f"cosine temperature (default {DEFAULT_TAU})"
    )
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--batch", type=int, default=8, help="images per batch (mixed datasets)")
    p.add_argument("--out", type=Path, default=None, help="write results as JSON here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    size = 96
    n_train, n_test = (24, 12) if args.smoke else (400, 60)
    iters = args.iters if args.iters is not None else (8 if args.smoke else 1200)

    # 1. data: every dataset has its own vocabulary and only annotates (draws) its labels.
    # Every dataset's splits depend on the seed and the dataset only, so the single-dataset
    # baseline trains and tests on exactly the images the joint model uses.
    all_names = list(DATASETS)
    names = [ds for ds in all_names if ds in args.train]  # trained on, in a fixed order
    train, test = {}, {}
    for k, ds in enumerate(all_names):
        shapes = list(DATASETS[ds].values())
        train[ds] = make_split(args.seed * 1000 + 10 * k, shapes, n_train, size)
        test[ds] = make_split(args.seed * 1000 + 10 * k + 1, shapes, n_test, size)
    test[HELDOUT_NAME] = make_split(args.seed * 1000 + 999, list(HELDOUT.values()), n_test, size)

    # 2. the unified label space of the trained datasets, its embeddings and similarity
    bundle = sl.build_label_space([list(DATASETS[ds]) for ds in names], names=names)
    space = bundle.label_space
    print(f"{bundle!r} built in {time.perf_counter() - started:.1f}s")
    print("unified labels:", [f"{u.dataset}/{u.name}" for u in space])
    sim = np.asarray(bundle.similarity.todense() if bundle.is_sparse else bundle.similarity)
    print("label similarity (rows/cols in unified order):")
    print(np.array2string(sim, precision=2, suppress_small=True))

    # 3. model + loss on the unified label space
    criterion = ScaleDetLoss.from_bundle(bundle, tau=args.tau, lam=args.lam)
    dataset_masks = None if args.no_masks else torch.from_numpy(np.asarray(space.masks()))
    model = build_model(criterion, dataset_masks, size)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-4)
    warmup = max(1, min(100, iters // 10))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda i: min(1.0, (i + 1) / warmup) * (0.1 if i >= int(0.8 * iters) else 1.0),
    )

    pool = [(k, ex) for k, ds in enumerate(names) for ex in train[ds]]
    rng = random.Random(args.seed)
    model.train()
    t0 = time.perf_counter()
    for it in range(iters):
        batch = rng.sample(pool, args.batch)
        images = [ex["image"] for _, ex in batch]
        targets = [
            {
                "boxes": ex["boxes"],
                # unified index (0-based) -> torchvision label (1-based, 0 = background)
                "labels": torch.as_tensor(space.to_unified(names[k], ex["labels"].numpy())) + 1,
                "dataset": torch.tensor(k),
            }
            for k, ex in batch
        ]
        losses = model(images, targets)
        loss = sum(losses.values())
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        optimizer.step()
        scheduler.step()
        if it % 50 == 0 or it == iters - 1:
            parts = " ".join(f"{k[5:]}={v.item():.3f}" for k, v in losses.items())
            print(
                f"iter {it:5d}  loss={loss.item():.3f}  {parts}  ({time.perf_counter() - t0:.0f}s)"
            )
    train_seconds = time.perf_counter() - t0

    # 4./5. evaluation with test-time label-space replacement: a trained dataset is
    # classified against its own rows of the bundle, any other vocabulary (an untrained
    # dataset, the held-out names) is embedded the same way on the fly
    vocabularies: dict[str, tuple[list[str], Any]] = {}
    for ds in all_names:
        labels = list(DATASETS[ds])
        emb = bundle.classifier(ds) if ds in names else bundle.encode_vocabulary(labels)
        vocabularies[ds] = (labels, emb)
    heldout_names = list(HELDOUT)
    vocabularies[HELDOUT_NAME] = (heldout_names, bundle.encode_vocabulary(heldout_names))
    results: dict[str, Any] = {}
    for ds, (labels, emb) in vocabularies.items():
        r = evaluate(model, test[ds], np.asarray(emb, dtype=np.float32))
        r["labels"] = labels
        r["trained"] = ds in names
        results[ds] = r

    print()
    print(f"{'test set':<15} {'labels':<48} {'mAP':>6} {'AP50':>6}  per-class AP")
    for ds, r in results.items():
        per = " ".join(
            f"{n}={a:.3f}" if a is not None else f"{n}=-"
            for n, a in zip(r["labels"], r["per_class"], strict=True)
        )
        label = ds if r["trained"] or ds == HELDOUT_NAME else f"{ds} (untrained)"
        print(f"{label:<15} {', '.join(r['labels']):<48} {r['mAP']:6.3f} {r['AP50']:6.3f}  {per}")
    elapsed = time.perf_counter() - started
    print(f"trained on {', '.join(names)}; training {train_seconds:.1f}s, total {elapsed:.1f}s")
    report = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        | {"iters": iters, "n_train": n_train, "n_test": n_test, "image_size": size},
        "results": results,
        "unseen_combinations": list(UNSEEN_COMBINATIONS),
        "train_seconds": train_seconds,
        "seconds": elapsed,
    }
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
