"""Worker for test_ddp.py: one DistributedDataParallel training step on the gloo backend."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from scaledet_loss import CosineClassifier, ScaleDetLoss


def build(seed: int = 0) -> tuple[nn.Module, ScaleDetLoss]:
    """The same tiny model and criterion in every process."""
    gen = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(6, 8, generator=gen)
    similarity = torch.rand(6, 6, generator=gen)
    torch.manual_seed(seed)
    head = CosineClassifier(10, embeddings)
    return head, ScaleDetLoss(embeddings, similarity, lam=0.5)


def batch(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """A global batch of 16 rows; each half has 5 foreground, 2 background, 1 ignored row."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(16, 10, generator=gen)
    half = [0, 3, 5, 6, 6, -1, 1, 2]  # 6 = background
    y = torch.tensor([*half, 4, 6, -1, 0, 2, 6, 5, 1])
    return x, y


def run(rank: int, world_size: int, port: int, out_dir: str) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        head, criterion = build()
        model = DistributedDataParallel(head)
        x, y = batch()
        rows = slice(rank * 8, (rank + 1) * 8)
        loss = criterion(_embed(model, x[rows]), y[rows])
        loss.backward()
        if rank == 0:
            grads = {k: p.grad for k, p in model.module.named_parameters()}
            torch.save(grads, os.path.join(out_dir, "ddp_grads.pt"))
    finally:
        dist.destroy_process_group()


def _embed(model: DistributedDataParallel, x: torch.Tensor) -> torch.Tensor:
    """Call through DDP's forward (so its reducer hooks fire) and return the features."""
    _, features = model(x, return_features=True)
    return features
