"""The training recipe: one dataclass; variants are values, not subclasses."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from livseg.errors import LivsegInputError

STAGE_FOREGROUND = {"liver": "liver", "tumour": "tumour"}


@dataclass
class TrainConfig:
    stage: str = "liver"  # liver: label >= 1 is foreground; tumour: label == 2
    arch: str = "mobileunet"
    arch_args: dict = field(default_factory=dict)
    data: str = "phantom"
    epochs: int = 40
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    validation_fraction: float = 0.2  # without a split file: volumes drawn with the seed;
    # 0: every volume trains (the final model of a recipe chosen by cross-validation)
    split: str | None = None  # a split file (configs/splits/*.json): its validation volumes
    fold: int | None = None  # with split: fold i of its k folds is the validation set
    seed: int = 0
    size: tuple[int, int] = (256, 256)
    in_channels: int = 1  # 1 slice, or an odd number k of slices (2.5D)
    context_mm: float | None = None  # 2.5D: the k slices this far apart; None: adjacent
    window: tuple[float, float] = (0.0, 255.0)  # HU -> [0, 1]; slice folders declare theirs
    pixel_mm: float | None = None  # tumour stage: in-plane pixel size of the liver ROI
    # tumour stage: its slices reach this far beyond the liver's first and last slice (None:
    # the in-plane margin, 10 mm); set it to the cascade's roi_z_margin_mm, so that the
    # slices past the liver's ends, which the stage sees at inference, are trained on too
    z_margin_mm: float | None = None
    # tumour stage: each volume's HU shifted so that its liver's median lies here before the
    # window (the cascade does the same with the liver it found); None: HU as they are
    liver_anchor_hu: float | None = None
    oversample: float = 2.0  # sampling weight of slices holding the foreground class
    # ... times this for slices holding a piece of it under small_lesion_mm across (tumour
    # stage: the small lesions it misses); 1: off
    small_lesion_oversample: float = 1.0
    small_lesion_mm: float = 10.0
    class_weights: tuple[float, float] = (1.0, 1.0)
    dice_weight: float = 1.0
    ce_weight: float = 1.0
    tversky_beta: float = 0.5  # 0.5: Dice; above: missed voxels weigh more (under-segmenting)
    augment: bool = True
    flip_probability: float = 0.5  # per axis; 0 for a network that relies on orientation
    brightness: float = 0.08  # random offset of the windowed image, up to +-this (of [0, 1])
    contrast_range: tuple[float, float] = (0.8, 1.2)  # random contrast about the slice mean
    elastic: float = 0.0  # std of smooth elastic displacements, fraction of the slice; 0: off
    patience: int = 10  # epochs without a better validation Dice before stopping
    min_delta: float = 1e-3
    montage_slices: int = 6
    max_steps_per_epoch: int | None = None
    amp: bool = True  # bf16 autocast on CUDA only
    channels_last: bool = True
    device: str = "auto"
    threads: int | None = None
    init_from: str | None = None

    def __post_init__(self) -> None:
        self.size = tuple(int(s) for s in self.size)  # type: ignore[assignment]
        self.window = tuple(float(w) for w in self.window)  # type: ignore[assignment]
        self.class_weights = tuple(float(w) for w in self.class_weights)  # type: ignore
        self.contrast_range = tuple(float(c) for c in self.contrast_range)  # type: ignore
        if self.stage not in STAGE_FOREGROUND:
            raise LivsegInputError(f"unknown stage {self.stage!r}; use liver or tumour")
        _check_architecture(self.arch, self.arch_args)
        if self.in_channels < 1 or self.in_channels % 2 == 0:
            raise LivsegInputError("in_channels must be an odd number of slices (1, 3, 5)")
        if self.context_mm is not None and not 0 < self.context_mm <= 50:
            raise LivsegInputError("context_mm must lie in (0, 50] mm")
        low, high = self.contrast_range
        if not (0 < low <= high) or not 0 <= self.brightness < 1:
            raise LivsegInputError("contrast_range must be 0 < low <= high and brightness in "
                                   "[0, 1)")
        if not 0 <= self.elastic <= 0.1:
            raise LivsegInputError("elastic must be in [0, 0.1] (a fraction of the slice)")
        if self.liver_anchor_hu is not None and self.stage != "tumour":
            raise LivsegInputError("liver_anchor_hu is a tumour-stage setting (the liver "
                                   "stage finds the liver it would need)")
        if self.fold is not None and self.split is None:
            raise LivsegInputError("fold needs a split file (split) that defines the folds")
        if not 0 <= self.validation_fraction < 1:
            raise LivsegInputError("validation_fraction must lie in [0, 1)")
        if not 0 < self.tversky_beta < 1:
            raise LivsegInputError("tversky_beta must lie in (0, 1); 0.5 is Dice")
        if self.z_margin_mm is not None and not 0 <= self.z_margin_mm <= 100:
            raise LivsegInputError("z_margin_mm must lie in [0, 100] mm")
        if self.small_lesion_oversample < 1 or self.small_lesion_mm <= 0:
            raise LivsegInputError("small_lesion_oversample must be at least 1 and "
                                   "small_lesion_mm positive")
        if self.epochs < 1 or self.batch_size < 1:
            raise LivsegInputError("epochs and batch_size must be at least 1")

    def as_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self), default=str))

    @classmethod
    def from_file(cls, path: Path, **overrides) -> TrainConfig:
        """A config from a JSON file, with command-line values (not None) taking precedence."""
        try:
            values = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise LivsegInputError(f"is not a readable JSON config ({error})", path) from None
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise LivsegInputError(f"has unknown settings: {', '.join(sorted(unknown))}", path)
        overrides = {k: v for k, v in overrides.items() if v is not None}
        if overrides.get("arch", values.get("arch")) != values.get("arch"):
            values.pop("arch_args", None)  # they configure the file's architecture, not this one
        values.update(overrides)
        try:
            return cls(**values)
        except LivsegInputError as error:
            raise LivsegInputError(error.problem, path) from None


def _check_architecture(arch: str, arch_args: dict) -> None:
    """A registered network, and arguments its constructor takes."""
    from livseg.models.registry import unknown_arguments

    try:
        unknown, accepted = unknown_arguments(arch, arch_args)
    except KeyError as error:
        raise LivsegInputError(error.args[0]) from None
    if unknown:
        raise LivsegInputError(f"arch_args {', '.join(unknown)} do not apply to {arch} "
                               f"(it takes: {', '.join(accepted)})")
