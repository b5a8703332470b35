"""Training throughput of a network: slices per second through the real training step
(augmentation, forward, Dice+CE loss, backward, AdamW), data already on the device."""
from __future__ import annotations

import math

import torch

from livseg.models import build_model
from livseg.train import distributed
from livseg.train.config import TrainConfig
from livseg.train.loop import Split, _train_one_epoch
from livseg.train.losses import DiceCrossEntropyLoss


def training_throughput(arch: str, device: str = "cpu", batch_size: int = 8, steps: int = 10,
                        size: tuple[int, int] = (256, 256), amp: bool = True,
                        channels_last: bool = True) -> float:
    """Slices/s of ``steps`` training steps, measured after as many warm-up steps."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    generator = torch.Generator(device).manual_seed(0)
    count = batch_size * steps
    images = torch.rand(count, *size, generator=generator, device=device).half()
    target = (torch.rand(count, *size, generator=generator, device=device) > 0.8).to(torch.uint8)
    split = Split(images, target, torch.arange(count, device=device)[:, None], ["random"])
    model = build_model(arch).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    config = TrainConfig(arch=arch, batch_size=batch_size, size=size)
    use_amp = amp and device.type == "cuda"
    rows = torch.arange(count, device=device)
    seconds = math.inf
    for _ in range(2):  # the first pass warms up (allocations, cuDNN autotuning)
        _, seconds = _train_one_epoch(model, optimizer, scheduler,
                                      DiceCrossEntropyLoss().to(device), split, rows,
                                      generator, config, distributed.Context(), arch, use_amp,
                                      channels_last)
    return count / seconds
