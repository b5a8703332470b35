"""Running the same training under torchrun: DistributedDataParallel, NCCL or gloo."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device: torch.device) -> Context:
    """Join the process group when started by torchrun (RANK/WORLD_SIZE set), else alone."""
    if "RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Context()
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return Context(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def teardown(context: Context) -> None:
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()


def sum_across(values: torch.Tensor, context: Context) -> torch.Tensor:
    """Element-wise sum over all ranks (a copy; the input is left alone)."""
    total = values.clone()
    if context.distributed:
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total


def barrier(context: Context) -> None:
    if context.distributed:
        dist.barrier()


def weight_spread(model: torch.nn.Module, context: Context) -> float:
    """How far the ranks' weights have drifted apart: the largest difference, over the
    parameter tensors, between the ranks' float64 sums of that tensor (0.0 alone). DDP
    gives every rank the same averaged gradients, so anything but 0 is a bug."""
    if not context.distributed:
        return 0.0
    sums = torch.stack([p.detach().double().sum() for p in model.parameters()]).cpu()
    highest, lowest = sums.clone(), sums.clone()
    dist.all_reduce(highest, op=dist.ReduceOp.MAX)
    dist.all_reduce(lowest, op=dist.ReduceOp.MIN)
    return float((highest - lowest).max())
