"""``livseg compare``: each lesion followed from a baseline CT to a follow-up, and the
response (RECIST 1.1 and volumetric).

Steps: each scan segmented (or read from its predict folder, ``timepoint``); the follow-up
liver registered onto the baseline liver (``registration``); the lesions matched into
tracks (``tracks``); the response measured (``response``). The output folder receives
``comparison.json``, ``lesions.csv``, ``comparison.png``, ``followup_to_baseline.tfm`` and,
for each scan segmented here, its predict folder (``baseline/``, ``followup/``); all of it
or, when anything fails, nothing.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from livseg._version import __version__
from livseg.compare.registration import (
    MARGIN_MM,
    MIN_LIVER_DICE,
    Registration,
    register_livers,
)
from livseg.compare.response import DISCLAIMER, recist, volumetric
from livseg.compare.timepoint import Timepoint, load_timepoint
from livseg.compare.tracks import MATCH_DISTANCE_MM, STABLE_PERCENT, Track, follow_lesions
from livseg.errors import LivsegInputError
from livseg.io import DEFAULT_LIMITS, ReadLimits
from livseg.io.text import staged_folder, write_csv, write_json

COMPARISON_FORMAT = "livseg-comparison"
OUTPUT_FILES = ("comparison.json", "lesions.csv", "comparison.png", "followup_to_baseline.tfm")
#: Each scan is cut to its liver's box plus this margin once segmented (the registration's
#: own margin: the registration, the lesion matching and the picture see the same grid).
REGION_MM = MARGIN_MM
MAX_PICTURED = 12  # tracks drawn in comparison.png, largest first
CSV_FIELDS = ("track", "status", "event", "matched_by", "target", "baseline_lesions",
              "followup_lesions", "baseline_volume_ml", "followup_volume_ml",
              "volume_change_ml", "volume_change_percent", "baseline_diameter_mm",
              "followup_diameter_mm", "diameter_change_mm", "x_mm", "y_mm", "z_mm")


def compare_scans(baseline: Path, followup: Path, out_dir: Path, predict, *,
                  overwrite: bool = False, match_distance_mm: float = MATCH_DISTANCE_MM,
                  stable_percent: float = STABLE_PERCENT, whole_liver: bool = True,
                  limits: ReadLimits = DEFAULT_LIMITS) -> dict:
    """Compare two scans (CTs or predict folders) and write ``out_dir``; returns the
    comparison. ``predict(ct_path, folder) -> livseg.predict.PredictedCase`` segments a CT.
    Refused as bad input: a scan without a liver, one that cuts the liver off (unless not
    ``whole_liver``), a registration whose liver Dice is below ``MIN_LIVER_DICE``."""
    out_dir = Path(out_dir)
    _check_output(out_dir, (Path(baseline), Path(followup)), overwrite)
    started = time.perf_counter()
    with staged_folder(out_dir) as staging:
        first = load_timepoint(baseline, staging / "baseline", predict,
                               whole_liver=whole_liver, limits=limits)
        second = load_timepoint(followup, staging / "followup", predict,
                                whole_liver=whole_liver, limits=limits)
        seconds = {"scans": round(time.perf_counter() - started, 3)}
        # from here on each scan is its liver's box: every lesion is inside it
        near, far = first.liver_region(REGION_MM), second.liver_region(REGION_MM)
        registration = register_livers(near.ct, near.liver, far.ct, far.liver)
        seconds["registration"] = round(registration.seconds, 3)
        if registration.liver_dice < MIN_LIVER_DICE:
            raise LivsegInputError(
                f"registration failed: the livers overlap with Dice "
                f"{registration.liver_dice:.2f} after it (at least {MIN_LIVER_DICE} is "
                "needed); are these scans of the same patient?", followup)
        clock = time.perf_counter()
        tracks = _tracks(near, far, registration, match_distance_mm)
        comparison = _comparison(first, second, registration, tracks, stable_percent,
                                 match_distance_mm)
        rows = [_csv_row(number, track, comparison["tracks"][number - 1])
                for number, track in enumerate(tracks, start=1)]
        write_csv(staging / "lesions.csv", rows, list(CSV_FIELDS))
        registration.transform.WriteTransform(str(staging / "followup_to_baseline.tfm"))
        _picture(near, far, registration, comparison["tracks"], staging / "comparison.png")
        seconds["tracks_and_pictures"] = round(time.perf_counter() - clock, 3)
        seconds["total"] = round(time.perf_counter() - started, 3)
        comparison["seconds"] = seconds
        write_json(staging / "comparison.json", comparison)
    return comparison


def _check_output(out_dir: Path, inputs: tuple[Path, Path], overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise LivsegInputError("exists and is not a folder", out_dir)
    for source in inputs:
        inside = source.resolve()
        if out_dir.resolve() == inside or out_dir.resolve() in inside.parents:
            raise LivsegInputError("would replace an input of the comparison", out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise LivsegInputError("already holds files; use --overwrite to replace the folder",
                               out_dir)


def _tracks(first: Timepoint, second: Timepoint, registration: Registration,
            match_distance_mm: float) -> list[Track]:
    # find_lesions' map is unsigned and as narrow as its ids allow: SimpleITK takes it as it is
    moved = registration.onto_baseline(second.ct.with_array(second.lesion_map), first.ct,
                                       is_label=True)
    centroids = np.array([lesion["centroid_mm"] for lesion in second.lesions],
                         float).reshape(-1, 3)
    on_baseline = registration.to_baseline(centroids) if len(centroids) else centroids
    return follow_lesions(first.lesions, first.lesion_map, second.lesions,
                          moved.array, on_baseline, match_distance_mm)


def _comparison(first: Timepoint, second: Timepoint, registration: Registration,
                tracks: list[Track], stable_percent: float, match_distance_mm: float) -> dict:
    rules = recist(tracks)
    targets = set(rules["target_tracks"])
    return {
        "format": COMPARISON_FORMAT, "livseg_version": __version__,
        "disclaimer": DISCLAIMER,
        "baseline": first.summary(), "followup": second.summary(),
        "registration": registration.as_dict(),
        "settings": {"match_distance_mm": match_distance_mm,
                     "stable_percent": stable_percent,
                     "min_registration_liver_dice": MIN_LIVER_DICE},
        "tracks": [_track_entry(number, track, stable_percent, number in targets)
                   for number, track in enumerate(tracks, start=1)],
        "response": {"recist": rules, "volumetric": volumetric(tracks)},
    }


def _track_entry(number: int, track: Track, stable_percent: float, target: bool) -> dict:
    change = track.change_percent
    return {
        "track": number, "status": track.status(stable_percent), "event": track.event,
        "matched_by": track.matched_by, "target": target,
        "baseline_lesions": [lesion["id"] for lesion in track.baseline],
        "followup_lesions": [lesion["id"] for lesion in track.followup],
        "baseline_volume_ml": round(track.baseline_ml, 4),
        "followup_volume_ml": round(track.followup_ml, 4),
        "volume_change_ml": round(track.followup_ml - track.baseline_ml, 4),
        "volume_change_percent": None if change is None else round(change, 2),
        "baseline_diameter_mm": round(track.baseline_diameter_mm, 2),
        "followup_diameter_mm": round(track.followup_diameter_mm, 2),
        "diameter_change_mm": round(track.followup_diameter_mm - track.baseline_diameter_mm,
                                    2),
        "centroid_mm": track.centroid_mm,
    }


def _csv_row(number: int, track: Track, entry: dict) -> dict:
    row = {key: entry[key] for key in CSV_FIELDS if key in entry}
    row["baseline_lesions"] = " ".join(str(i) for i in entry["baseline_lesions"])
    row["followup_lesions"] = " ".join(str(i) for i in entry["followup_lesions"])
    row["x_mm"], row["y_mm"], row["z_mm"] = track.centroid_mm
    return row


def _picture(first: Timepoint, second: Timepoint, registration: Registration,
             entries: list[dict], path: Path) -> None:
    """comparison.png on the baseline's grid (its liver's region): each pictured lesion's
    window of the baseline, and the follow-up moved onto that window only."""
    from livseg.preprocess import to_canonical
    from livseg.viz.lesion_pairs import LesionPair, lesion_window, save_lesion_pairs

    grid, _ = to_canonical(first.ct, copy=False)
    labels, _ = to_canonical(first.labels, copy=False)
    shown = sorted(entries, key=lambda e: -max(e["baseline_volume_ml"],
                                                e["followup_volume_ml"]))[:MAX_PICTURED]
    rows = []
    for entry in sorted(shown, key=lambda e: e["track"]):
        box = lesion_window(grid, entry["centroid_mm"], max(entry["baseline_diameter_mm"],
                                                            entry["followup_diameter_mm"]))
        window = grid.cropped(box)
        moved_ct = registration.onto_baseline(second.ct, window, is_label=False,
                                              fill_value=-1000.0)
        moved_labels = registration.onto_baseline(second.labels, window, is_label=True)
        rows.append(LesionPair(_caption(entry), window.array[0], labels.cropped(box).array[0],
                               moved_ct.array[0], moved_labels.array[0],
                               window.spacing_zyx[1:]))
    more = len(entries) - len(shown)
    save_lesion_pairs(rows, path, "baseline (left) and follow-up (right, registered)"
                      + (f"; {more} smaller track(s) not shown" if more else ""))


def _caption(entry: dict) -> str:
    change = entry["volume_change_percent"]
    change = "" if change is None else f" ({change:+.0f} %)"
    event = f", {entry['event']}" if entry["event"] else ""
    return (f"track {entry['track']}: {entry['status']}{event}, "
            f"{entry['baseline_volume_ml']:.1f} -> {entry['followup_volume_ml']:.1f} ml"
            f"{change}")


__all__ = ["COMPARISON_FORMAT", "OUTPUT_FILES", "compare_scans"]
