"""``train`` and ``prepare``: training one stage, caching its data."""
from __future__ import annotations

import argparse
import signal
from pathlib import Path

from livseg.cli.common import bounded_int, positive_float, positive_int, thread_count
from livseg.errors import LivsegInputError
from livseg.io.text import check_writable_folder


def _train_config(args: argparse.Namespace):
    from livseg.models.checkpoint import read_checkpoint
    from livseg.train.config import TrainConfig

    if args.resume:  # the run's own recipe; only how long and where may change
        recipe = read_checkpoint(args.out / "last.pt")["training"]["recipe"]
        changes = {"epochs": args.epochs, "device": args.device, "threads": args.threads,
                   "patience": args.patience}
        return TrainConfig(**{**recipe, **{k: v for k, v in changes.items() if v is not None}})
    overrides = {"stage": args.stage, "arch": args.arch, "data": args.data,
                 "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                 "seed": args.seed, "device": args.device, "threads": args.threads,
                 "init_from": str(args.init_from) if args.init_from else None,
                 "max_steps_per_epoch": args.max_steps, "patience": args.patience,
                 "split": str(args.split) if args.split else None, "fold": args.fold}
    if args.config:
        return TrainConfig.from_file(args.config, **overrides)
    return TrainConfig(**{k: v for k, v in overrides.items() if v is not None})


def _stop_training(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _cmd_train(args: argparse.Namespace) -> int:
    # SIGTERM (schedulers, torchrun) and SIGINT (Ctrl-C, also when started in the
    # background, where the shell ignores it) both save and stop; a caller that runs the
    # command in its own process (a notebook, a test) gets its handlers back afterwards
    previous = {number: signal.signal(number, _stop_training)
                for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        return _train_command(args)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _train_command(args: argparse.Namespace) -> int:
    if not args.resume and args.data is None and args.config is None:
        raise LivsegInputError("--data (or --config) is needed unless --resume")
    if args.resume and not (args.out / "last.pt").exists():
        raise LivsegInputError("has no last.pt to resume from", args.out)
    if not args.resume and (args.out / "last.pt").exists():
        raise LivsegInputError("already holds a run (last.pt); use --resume to continue it "
                               "or choose another --out", args.out)
    check_writable_folder(args.out)
    config = _train_config(args)
    from livseg.train.loop import train  # torch: after the arguments were checked

    last = train(config, args.out, resume=args.resume)
    if last and last["val_dice"] != last["val_dice"]:  # NaN: nothing was held out
        print(f"epoch {last['epoch']}: training Dice {last['train_dice']:.4f} (no validation "
              f"volumes); run in {args.out}/")
    elif last:
        print(f"epoch {last['epoch']}: validation Dice {last['val_dice']:.4f}, "
              f"accuracy {last['val_accuracy']:.4f}, sensitivity {last['val_sensitivity']:.4f}, "
              f"specificity {last['val_specificity']:.4f}; run in {args.out}/")
    return 0


def _cmd_prepare(args: argparse.Namespace) -> int:
    from livseg.train.sources import load_data

    check_writable_folder(args.out.parent)
    data = load_data(args.data, stage=args.stage, window=tuple(args.window),
                     size=(args.size, args.size), seed=args.seed, pixel_mm=args.pixel_mm)
    data.save(args.out)
    print(f"wrote {args.out}: {len(data)} slices of {data.size[0]}x{data.size[1]} from "
          f"{len(set(data.volume_ids.tolist()))} volumes (window {data.window} HU)")
    return 0


def register(commands) -> None:
    train = commands.add_parser("train", help="train one stage of the cascade")
    train.add_argument("--stage", choices=("liver", "tumour"))
    train.add_argument("--arch", choices=("mobileunet", "unet", "resunet"))
    train.add_argument("--data", help="phantom[:N], a slice folder, LiTS/MSD folder, .npz "
                                      "cache; join several with +")
    train.add_argument("--out", type=Path, required=True, help="run folder")
    train.add_argument("--config", type=Path, help="JSON file of TrainConfig settings")
    train.add_argument("--epochs", type=positive_int)
    train.add_argument("--batch-size", type=bounded_int(1, 4096))
    train.add_argument("--lr", type=positive_float)
    train.add_argument("--seed", type=bounded_int(0))
    train.add_argument("--device", choices=("auto", "cpu", "cuda"))
    train.add_argument("--threads", type=thread_count)
    train.add_argument("--max-steps", type=positive_int, help="cap the batches per epoch")
    train.add_argument("--patience", type=positive_int,
                       help="stop after this many epochs without a better validation Dice")
    train.add_argument("--split", type=Path,
                       help="patient split file (configs/splits/lits_vol256.json): its "
                            "validation volumes validate, everything else trains")
    train.add_argument("--fold", type=bounded_int(0),
                       help="with --split: validate on fold I of its k folds (k-fold by "
                            "patient: run I = 0..k-1)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out")
    train.add_argument("--init-from", type=Path, help="start from a checkpoint's weights")
    train.set_defaults(run=_cmd_train)

    prepare = commands.add_parser("prepare", help="cache training slices as one .npz")
    prepare.add_argument("--data", required=True)
    prepare.add_argument("--stage", choices=("liver", "tumour"), default="liver")
    prepare.add_argument("--out", type=Path, required=True, help="the .npz to write")
    prepare.add_argument("--size", type=bounded_int(16, 4096), default=256)
    prepare.add_argument("--window", type=float, nargs=2, default=(0.0, 255.0))
    prepare.add_argument("--seed", type=bounded_int(0), default=0)
    prepare.add_argument("--pixel-mm", type=positive_float, default=None,
                         help="tumour stage: in-plane pixel size of the liver region")
    prepare.set_defaults(run=_cmd_prepare)
