"""The training loop: one readable function driven by a TrainConfig."""
from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from livseg.errors import LivsegInputError
from livseg.metrics.overlap import Confusion, accuracy, dice, efficiency, sensitivity, specificity
from livseg.models import build_model
from livseg.models.checkpoint import describe, read_checkpoint, save_checkpoint
from livseg.preprocess.context import ContextIndex
from livseg.splits import read_split
from livseg.train import distributed
from livseg.train.augment import AugmentConfig, augment_batch
from livseg.train.checkpoint import load_matching_weights
from livseg.train.config import TrainConfig
from livseg.train.losses import DiceCrossEntropyLoss
from livseg.train.plots import save_montage, write_history
from livseg.train.sampling import slice_weights
from livseg.train.slices import SliceSet, split_by_volume
from livseg.train.sources import load_data

log = logging.getLogger(__name__)
#: The most the ranks' weights may differ under DDP (float64 sums per tensor; they are
#: bitwise equal when every rank applies the same averaged gradients)
RANKS_TOLERANCE = 1e-9


@dataclass
class Split:
    """One side of the split, as tensors on the training device."""

    images: torch.Tensor  # (N, H, W) float16
    target: torch.Tensor  # (N, H, W) uint8: 1 where the stage's foreground is
    context: ContextIndex  # (N, k) rows and weights of the 2.5D inputs, as tensors
    volume_ids: list[str]

    def batch(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, k, H, W) float32 images and (B, H, W) long targets for ``rows``."""
        return self.context.stack(self.images, rows).float(), self.target[rows].long()


def _split_tensors(data: SliceSet, keep: np.ndarray, config: TrainConfig, device) -> Split:
    part = data.subset(keep)
    target = (part.labels >= 1) if config.stage == "liver" else (part.labels == 2)
    context = part.context(config.in_channels, config.context_mm)
    return Split(torch.from_numpy(part.images).to(device),
                 torch.from_numpy(target.astype(np.uint8)).to(device),
                 context.to(lambda array: torch.from_numpy(array).to(device)),
                 sorted(set(part.volume_ids.tolist())))


def _scores(loss_sum: float, count: int, c: Confusion) -> dict:
    return {"loss": loss_sum / max(count, 1), "dice": dice(c), "accuracy": accuracy(c),
            "sensitivity": sensitivity(c), "specificity": specificity(c),
            "efficiency": efficiency(c)}


def _confusion(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    p, t = prediction.bool(), target.bool()
    return torch.stack([(p & t).sum(), (p & ~t).sum(), (~p & t).sum(), (~p & ~t).sum()])


def _pooled(counts: torch.Tensor) -> Confusion:
    return Confusion(*(int(v) for v in counts.tolist()))


def epoch_rows(weights: np.ndarray, count: int, seed: int, epoch: int) -> np.ndarray:
    """Row indices for one epoch: weighted draws (over-sampling), the same on every rank."""
    rng = np.random.default_rng([seed, epoch])
    if np.allclose(weights, weights[0]):
        order = rng.permutation(len(weights))
        return np.resize(order, count)
    return rng.choice(len(weights), size=count, replace=True, p=weights / weights.sum())


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


@torch.no_grad()
def validate(model, split: Split, loss_fn, context, batch_size: int, use_amp: bool,
             montage_rows: np.ndarray) -> tuple[dict, np.ndarray]:
    """Loss and pooled scores over this rank's share of the validation slices, summed."""
    model.eval()
    device = split.images.device
    rows = torch.arange(context.rank, len(split.images), context.world_size, device=device)
    loss_sum, counts = torch.zeros((), device=device), torch.zeros(4, device=device)
    for start in range(0, len(rows), batch_size):
        images, target = split.batch(rows[start:start + batch_size])
        with _autocast(device, use_amp):
            logits = model(images)
        loss_sum += loss_fn(logits, target) * len(target)
        counts += _confusion(logits.argmax(1), target)
    totals = distributed.sum_across(torch.cat([loss_sum[None], counts,
                                               torch.tensor([len(rows)], device=device)]),
                                    context)
    montage = np.zeros((0,))
    if len(montage_rows):
        images, _ = split.batch(torch.as_tensor(montage_rows, device=device))
        with _autocast(device, use_amp):
            montage = model(images).argmax(1).cpu().numpy()
    return _scores(float(totals[0]), int(totals[5]), _pooled(totals[1:5])), montage


def _resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise LivsegInputError("--device cuda was asked for, but no CUDA device is available")
    return torch.device(name)


def train(config: TrainConfig, run_dir: Path, resume: bool = False) -> dict:
    """Train one stage; writes checkpoints, metrics.csv, curves.png and snapshots to run_dir.

    With ``resume`` the run continues after the epoch saved in ``run_dir/last.pt`` (give
    the run's own recipe as ``config``; only ``epochs``, ``patience``, ``device`` and
    ``threads`` may differ). Returns the last history row. Under torchrun every rank calls
    this; rank 0 writes. The caller's torch thread count is restored afterwards.
    """
    threads = torch.get_num_threads()
    try:
        return _train(config, Path(run_dir), resume)
    finally:
        torch.set_num_threads(threads)


def _train(config: TrainConfig, run_dir: Path, resume: bool) -> dict:
    device = _resolve_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    context = distributed.setup(device)
    if device.type == "cuda":
        device = torch.device("cuda", context.local_rank)
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
    state = read_checkpoint(run_dir / "last.pt") if resume else None
    data = load_data(config.data, stage=config.stage, window=config.window, size=config.size,
                     seed=config.seed, pixel_mm=config.pixel_mm,
                     z_margin_mm=config.z_margin_mm, liver_anchor_hu=config.liver_anchor_hu)
    if config.stage == "tumour" and not data.has_tumour_labels:
        raise LivsegInputError(f"{config.data} has liver masks only; the tumour stage needs "
                               "tumour labels (label 2)")
    if config.split:
        is_train, is_val = read_split(config.split).masks(data.volume_ids, config.fold)
    else:
        is_train, is_val = split_by_volume(data.volume_ids, config.validation_fraction,
                                           config.seed)
    train_split = _split_tensors(data, is_train, config, device)
    val_split = _split_tensors(data, is_val, config, device)
    use_amp = config.amp and device.type == "cuda"
    channels_last = config.channels_last  # measured faster for these nets on CPU too

    torch.manual_seed(config.seed)
    model = build_model(config.arch, in_channels=config.in_channels, num_classes=2,
                        **config.arch_args).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if config.init_from and state is None:
        loaded, total = load_matching_weights(model, Path(config.init_from))
        log.info("initialised %d of %d tensors from %s", loaded, total, config.init_from)
    network = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda"
                                      else None) if context.distributed else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    per_step = config.batch_size * context.world_size
    steps = max(1, len(train_split.images) // per_step)
    steps = min(steps, config.max_steps_per_epoch or steps)
    warmup, total = config.warmup_epochs * steps, config.epochs * steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(
        (step + 1) / max(warmup, 1), 0.5 * (1 + math.cos(math.pi * min(step / total, 1.0)))))
    loss_fn = DiceCrossEntropyLoss(2, config.class_weights, config.dice_weight,
                                   config.ce_weight, tversky_beta=config.tversky_beta).to(device)
    weights = slice_weights(train_split.target.cpu().numpy(), config.oversample,
                            config.small_lesion_oversample, config.pixel_mm,
                            config.small_lesion_mm)
    with_foreground = np.flatnonzero(val_split.target.flatten(1).any(1).cpu().numpy())
    montage_rows = with_foreground[np.linspace(0, len(with_foreground) - 1,
                                               min(config.montage_slices, len(with_foreground)))
                                   .astype(int)] if len(with_foreground) else np.array([], int)
    history, best, stale, first_epoch = [], -1.0, 0, 1
    has_validation = len(val_split.images) > 0
    if not has_validation:
        log.info("no validation volumes (a model trained on every volume): validation "
                 "scores are NaN in metrics.csv and absent from the checkpoint, last.pt "
                 "is the model and no best.pt is written")
    if state is not None:
        model.load_state_dict(state["model_state"])
        resume_state = state["resume"]
        optimizer.load_state_dict(resume_state["optimizer"])
        scheduler.load_state_dict(resume_state["scheduler"])
        history, best, stale = resume_state["history"], resume_state["best"], resume_state["stale"]
        first_epoch = resume_state["epoch"] + 1
        random.setstate(resume_state["python_rng"])
        log.info("resuming %s after epoch %d", run_dir, first_epoch - 1)
    training_info = {"data": config.data, "sources": data.sources, "recipe": config.as_dict(),
                     "train_volumes": train_split.volume_ids,
                     "validation_volumes": val_split.volume_ids,
                     "world_size": context.world_size, "device": str(device)}
    started = time.perf_counter()
    completed = first_epoch - 1
    try:
        for epoch in range(first_epoch, config.epochs + 1):
            if stale >= config.patience:
                log.info("stopped early: no better validation Dice for %d epochs", stale)
                break
            rows = epoch_rows(weights, steps * per_step, config.seed, epoch)
            rows = torch.as_tensor(rows[context.rank::context.world_size], device=device)
            generator = torch.Generator(device).manual_seed(
                config.seed * 100_003 + epoch * 101 + context.rank)
            train_scores, seconds = _train_one_epoch(
                network, optimizer, scheduler, loss_fn, train_split, rows, generator, config,
                context, f"epoch {epoch}/{config.epochs}", use_amp, channels_last)
            if has_validation:
                val_scores, montage = validate(network, val_split, loss_fn, context,
                                               config.batch_size, use_amp, montage_rows)
            else:  # a final model trained on every volume: nothing held out to score
                val_scores = dict.fromkeys(_scores(0.0, 0, Confusion(0, 0, 0, 0)), math.nan)
                montage = np.zeros((0,))
            spread = distributed.weight_spread(model, context)
            if spread > RANKS_TOLERANCE:
                raise RuntimeError(f"the {context.world_size} ranks' weights differ after "
                                   f"epoch {epoch} (by {spread:.3g}): DDP is out of sync")
            row = {"epoch": epoch, "lr": scheduler.get_last_lr()[0],
                   **{f"train_{k}": v for k, v in train_scores.items()},
                   **{f"val_{k}": v for k, v in val_scores.items()},
                   "seconds": seconds, "train_slices_per_second": steps * per_step / seconds,
                   "ranks_weight_spread": spread}
            history.append(row)
            improved = has_validation and val_scores["dice"] > best + config.min_delta
            if has_validation:
                best, stale = (val_scores["dice"], 0) if improved else (best, stale + 1)
            if context.is_main:
                training_info.update(epochs_completed=epoch,
                                     wall_time_s=time.perf_counter() - started)
                description = describe(model, stage=config.stage, window=data.window,
                                       size=config.size, in_channels=config.in_channels,
                                       pixel_mm=config.pixel_mm,
                                       context_mm=config.context_mm,
                                       liver_anchor_hu=config.liver_anchor_hu,
                                       training=training_info,
                                       validation={**val_scores, "epoch": epoch}
                                       if has_validation else {"epoch": epoch})
                save_checkpoint(run_dir / "last.pt", description, model, {
                    "epoch": epoch, "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "history": history, "best": best,
                    "stale": stale, "python_rng": random.getstate()})
                completed = epoch
                if improved:
                    save_checkpoint(run_dir / "best.pt", description, model)
                _write_epoch_pictures(history, val_split, montage_rows, montage, run_dir,
                                      config.in_channels, epoch)
                log.info("epoch %d/%d: train loss %.4f Dice %.4f | val loss %.4f Dice %.4f "
                         "| %.1f slices/s", epoch, config.epochs, train_scores["loss"],
                         train_scores["dice"], val_scores["loss"], val_scores["dice"],
                         row["train_slices_per_second"])
            distributed.barrier(context)
    except KeyboardInterrupt:
        if context.is_main:
            save_checkpoint(run_dir / "interrupted.pt", describe(
                model, stage=config.stage, window=data.window, size=config.size,
                in_channels=config.in_channels, pixel_mm=config.pixel_mm,
                context_mm=config.context_mm, liver_anchor_hu=config.liver_anchor_hu,
                training={**training_info, "interrupted_after_epoch": completed},
                validation={}), model)
            log.warning("interrupted: the current weights are in interrupted.pt; --resume "
                        "continues after epoch %d (last.pt)", completed)
        raise
    distributed.teardown(context)
    return history[-1] if history else {}


def _train_one_epoch(network, optimizer, scheduler, loss_fn, split: Split, rows, generator,
                     config: TrainConfig, context, title: str, use_amp: bool,
                     channels_last: bool) -> tuple[dict, float]:
    """One pass over this rank's ``rows``; returns the pooled train scores and the seconds."""
    network.train()
    device = split.images.device
    augment = AugmentConfig(flip_probability=config.flip_probability,
                            brightness=config.brightness, contrast_range=config.contrast_range,
                            elastic_sigma=config.elastic)
    steps = len(rows) // config.batch_size
    loss_sum, counts = torch.zeros((), device=device), torch.zeros(4, device=device)
    started = time.perf_counter()
    with _progress(steps, title, context) as progress:
        for step in range(steps):
            images, target = split.batch(rows[step * config.batch_size:
                                              (step + 1) * config.batch_size])
            if config.augment:
                images, target = augment_batch(images, target, augment, generator)
            if channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            with _autocast(device, use_amp):
                logits = network(images)
            loss = loss_fn(logits, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += loss.detach() * len(target)
            counts += _confusion(logits.detach().argmax(1), target)
            progress.update(1)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started
    totals = distributed.sum_across(torch.cat([loss_sum[None], counts]), context)
    return _scores(float(totals[0]), steps * config.batch_size * context.world_size,
                   _pooled(totals[1:])), seconds


def _write_epoch_pictures(history, split: Split, montage_rows, montage, run_dir: Path,
                          in_channels: int, epoch: int) -> None:
    write_history(history, run_dir)
    if len(montage_rows):
        images, reference = split.batch(torch.as_tensor(montage_rows,
                                                        device=split.images.device))
        save_montage(images[:, in_channels // 2].cpu().numpy(), reference.cpu().numpy(),
                     montage, run_dir / "snapshots" / f"epoch_{epoch:03d}.png",
                     f"epoch {epoch}: validation Dice {history[-1]['val_dice']:.3f}")


def _progress(steps: int, title: str, context):
    from tqdm import tqdm

    return tqdm(total=steps, desc=title, unit="batch", leave=False,
                disable=not context.is_main or None, dynamic_ncols=True)
