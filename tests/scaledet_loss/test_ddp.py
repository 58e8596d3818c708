"""ScaleDetLoss inside DistributedDataParallel (2 CPU processes, gloo on 127.0.0.1)."""

from __future__ import annotations

import socket
from pathlib import Path

import loss_ddp_worker
import torch
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_ddp_gradients_equal_single_process_on_the_global_batch(tmp_path: Path) -> None:
    mp.spawn(loss_ddp_worker.run, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    ddp_grads = torch.load(tmp_path / "ddp_grads.pt", weights_only=True)

    head, criterion = loss_ddp_worker.build()
    x, y = loss_ddp_worker.batch()
    _, features = head(x, return_features=True)
    criterion(features, y).backward()
    single = dict(head.named_parameters())
    assert set(ddp_grads) == set(single) == {"proj.weight", "proj.bias"}
    for name, grad in ddp_grads.items():
        expected = single[name].grad
        assert expected is not None and expected.abs().max() > 0
        torch.testing.assert_close(grad, expected, rtol=1e-5, atol=1e-7)
