"""The patient split of a data set, read from one JSON file that training and the
benchmark share (``configs/splits/lits_vol256.json``, written by ``tools/make_split.py``).

A split names the ``train`` and ``validation`` volumes (case names as the data readers give
them, e.g. ``lits4``) and ``folds``, k groups of volumes for k-fold cross-validation. Other
sources of the same patients are kept out of training: ``lits_slices_256`` names LiTS
volume NN ``100NN``, which is patient ``litsNN`` here.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livseg.errors import LivsegInputError


@dataclass(frozen=True)
class Split:
    path: Path
    train: tuple[str, ...]
    validation: tuple[str, ...]
    folds: tuple[tuple[str, ...], ...]

    def validation_cases(self, fold: int | None = None) -> tuple[str, ...]:
        """The validation volumes: the split's own, or fold ``fold`` (0-based) of k."""
        if fold is None:
            return self.validation
        if not 0 <= fold < len(self.folds):
            raise LivsegInputError(f"has {len(self.folds)} folds; fold {fold} does not exist "
                                   f"(use 0..{len(self.folds) - 1})", self.path)
        return self.folds[fold]

    def masks(self, volume_ids: np.ndarray, fold: int | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """Boolean (train, validation) masks over slices from ``volume_ids``: validation is
        the split's validation volumes (or a fold's); everything else trains, including
        volumes of other sources the split does not name, except other sources' slices of
        a validation patient, which are in neither."""
        held_out = self.validation_cases(fold)
        present = set(volume_ids.astype(str).tolist())
        missing = [case for case in held_out if case not in present]
        if missing:
            raise LivsegInputError(f"names validation volumes the data does not hold: "
                                   f"{', '.join(missing)}", self.path)
        validation = np.isin(volume_ids.astype(str), list(held_out))
        patients = np.array([patient_of(v) for v in volume_ids.astype(str)])
        return ~np.isin(patients, list(held_out)), validation


def patient_of(volume_id: str) -> str:
    """The patient of a volume id: ``100NN`` (a lits_slices_256 slice of LiTS volume NN) is
    ``litsNN``; ``<id>~<variant>`` (a synthetic copy of a volume) is ``<id>``'s patient;
    other ids are their own patient."""
    volume_id = volume_id.partition("~")[0]
    match = re.fullmatch(r"100(\d\d)", volume_id)
    return f"lits{int(match[1])}" if match else volume_id


def read_split(path: str | Path) -> Split:
    """The split in ``path``, checked: train and validation disjoint, folds disjoint."""
    path = Path(path)
    try:
        document = json.loads(path.read_text())
        split = Split(path, tuple(document["train"]), tuple(document["validation"]),
                      tuple(tuple(fold) for fold in document.get("folds", [])))
    except FileNotFoundError:
        raise LivsegInputError("does not exist", path) from None
    except (ValueError, KeyError, TypeError) as error:
        raise LivsegInputError(f"is not a split file (train, validation, folds): {error}",
                               path) from None
    if set(split.train) & set(split.validation):
        raise LivsegInputError("has volumes in both train and validation: "
                               + ", ".join(sorted(set(split.train) & set(split.validation))),
                               path)
    in_folds = [case for fold in split.folds for case in fold]
    if len(in_folds) != len(set(in_folds)):
        raise LivsegInputError("has a volume in two folds", path)
    return split
