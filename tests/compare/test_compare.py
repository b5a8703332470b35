"""``livseg compare``: every known change recovered, the known motion undone, the response
category of hand-made cases, and each refusal (exit 2, nothing written)."""
from __future__ import annotations

import csv
import functools
import json

import numpy as np
import pytest

from livseg.cli import main
from livseg.compare import OUTPUT_FILES, compare_scans
from livseg.compare.response import recist, volumetric
from livseg.compare.tracks import Track
from livseg.io import read_volume, write_volume
from livseg.io.volume import Volume
from livseg.phantom import make_phantom

from ..conftest import shared_file
from .conftest import edit_lesions, moved, predict_folder, rigid


@functools.lru_cache(maxsize=1)
def _phantom():
    return make_phantom((64, 160, 160), (2.0, 2.0, 4.0), n_tumours=4, seed=8)


def _no_network(*_):
    raise AssertionError("a predict folder must not be segmented again")


def _within(found: float, expected: float) -> bool:
    return abs(found - expected) <= max(0.1 * expected, 0.5)


def _recovered_error_mm(comparison: dict, motion, points: np.ndarray) -> np.ndarray:
    """How far the recovered baseline -> follow-up map, followed by the known follow-up ->
    baseline motion, leaves each point from where it started."""
    matrix = np.asarray(comparison["registration"]["matrix"])
    offset = np.asarray(comparison["registration"]["offset_mm"])
    there = points @ matrix.T + offset
    back = np.array([motion.TransformPoint(tuple(p)) for p in there])
    return np.linalg.norm(back - points, axis=1)


def _check_tracks(comparison: dict, expected: dict, new_ml: float) -> None:
    by_baseline = {t["baseline_lesions"][0]: t for t in comparison["tracks"]
                   if t["baseline_lesions"]}
    assert len(by_baseline) == len(expected)
    for lesion, (status, volume) in expected.items():
        track = by_baseline[lesion]
        assert track["status"] == status, (lesion, track)
        assert _within(track["followup_volume_ml"], volume), (lesion, track, volume)
    new = [t for t in comparison["tracks"] if not t["baseline_lesions"]]
    assert [t["status"] for t in new] == ["new"]
    assert _within(new[0]["followup_volume_ml"], new_ml)


def test_every_change_and_the_motion_are_recovered(tmp_path):
    phantom = _phantom()
    edited = edit_lesions(phantom.ct, phantom.labels, grow=2, shrink=1, remove=3,
                          new_centre_zyx=(30, 80, 60), new_radius_mm=9.0)
    motion = rigid()
    base = predict_folder(tmp_path / "base", phantom.ct, phantom.labels)
    follow = predict_folder(tmp_path / "follow", moved(edited.ct, motion, False),
                            moved(edited.labels, motion, True))
    comparison = compare_scans(base, follow, tmp_path / "out", _no_network)
    _check_tracks(comparison, edited.expected, edited.new_ml)
    liver = phantom.labels.index_to_physical(np.argwhere(phantom.labels.array >= 1)[::97])
    assert _recovered_error_mm(comparison, motion, liver).max() <= 2.0
    assert comparison["registration"]["liver_dice"] > 0.95
    assert comparison["response"]["recist"]["category"] == "PD"  # a new lesion
    assert comparison["response"]["volumetric"]["category"] == "PD"
    written = json.loads((tmp_path / "out" / "comparison.json").read_text())
    assert written["tracks"] == comparison["tracks"]
    rows = list(csv.DictReader((tmp_path / "out" / "lesions.csv").read_text().splitlines()))
    assert [r["status"] for r in rows] == [t["status"] for t in comparison["tracks"]]
    assert set(OUTPUT_FILES) <= {p.name for p in (tmp_path / "out").iterdir()}
    _check_picture(tmp_path / "out" / "comparison.png", comparison["tracks"])


def _check_picture(path, tracks: list[dict]) -> None:
    """comparison.png has a row per track (all of them, here), each tile centred on the
    track's place: its lesion outlined in red there (within 12 pixels, 4 mm at these
    windows) on the side(s) where it exists, on both at the same place (the follow-up
    registered onto the baseline), and no lesion there on a side where it does not exist
    (a neighbouring lesion may show further out)."""
    from PIL import Image
    from scipy import ndimage

    from livseg.viz.lesion_pairs import CAPTION, TILE

    rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert rgb.shape[0] == CAPTION + len(tracks) * (TILE + CAPTION)
    red = (rgb[..., 0] > 200) & (rgb[..., 1] < 60) & (rgb[..., 2] < 60)
    for number, track in enumerate(tracks):
        top = CAPTION + number * (TILE + CAPTION) + CAPTION
        for column, present in enumerate((track["baseline_lesions"], track["followup_lesions"])):
            tile = red[top:top + TILE, column * TILE:(column + 1) * TILE]
            outlines, count = ndimage.label(tile, np.ones((3, 3)))
            centres = np.array(ndimage.center_of_mass(tile, outlines, range(1, count + 1)))
            off_centre = np.linalg.norm(centres - (TILE - 1) / 2, axis=1) if count else [99]
            assert (min(off_centre) <= 12) == bool(present), (track, column, off_centre)


def test_a_real_ct_moved_with_one_lesion_grown(tmp_path):
    ct = read_volume(shared_file("lits_vol256/volume-10.nii.gz"))
    labels = read_volume(shared_file("lits_vol256/segmentation-10.nii.gz"))
    labels = labels.with_array(labels.array.astype(np.uint8))
    from livseg.report import find_lesions

    lesions, _ = find_lesions(labels, ct)
    assert lesions, "volume-10 holds tumours"
    centre = np.asarray(ct.shape) // 2
    edited = edit_lesions(ct, labels, grow=1)
    motion = rigid((2.0, 1.0, -4.0), (-8.0, 5.0, 6.0),
                   centre=tuple(ct.index_to_physical(centre.astype(float))))
    base = predict_folder(tmp_path / "base", ct, labels)
    follow = predict_folder(tmp_path / "follow", moved(edited.ct, motion, False),
                            moved(edited.labels, motion, True))
    comparison = compare_scans(base, follow, tmp_path / "out", _no_network)
    grown = next(t for t in comparison["tracks"] if t["baseline_lesions"] == [1])
    status, volume = edited.expected[1]
    assert status == "grown" and grown["status"] == "grown"
    assert _within(grown["followup_volume_ml"], volume)
    assert all(t["status"] == "stable" for t in comparison["tracks"] if t is not grown)
    liver = ct.index_to_physical(np.argwhere(labels.array >= 1)[::997])
    assert _recovered_error_mm(comparison, motion, liver).max() <= 2.0


def test_a_scan_compared_with_itself_is_stable_through_the_cascade(tmp_path, capsys,
                                                                   monkeypatch):
    def measured_twice(*_):
        raise AssertionError("a scan segmented here was measured for its report already")

    monkeypatch.setattr("livseg.compare.timepoint.find_lesions", measured_twice)
    write_volume(_phantom().ct, tmp_path / "ct.nii.gz")
    code = main(["compare", str(tmp_path / "ct.nii.gz"), str(tmp_path / "ct.nii.gz"),
                 "-o", str(tmp_path / "out")])
    assert code == 0
    comparison = json.loads((tmp_path / "out" / "comparison.json").read_text())
    assert comparison["registration"]["liver_dice"] > 0.99
    assert comparison["tracks"] and {t["status"] for t in comparison["tracks"]} == {"stable"}
    assert comparison["response"]["recist"]["category"] in ("SD", "non-CR/non-PD")
    assert (tmp_path / "out" / "baseline" / "report.json").is_file()  # segmented here
    assert "RECIST 1.1" in capsys.readouterr().out


def _refused(tmp_path, capsys, base, follow, words: str) -> None:
    code = main(["compare", str(base), str(follow), "-o", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert code == 2 and words in error and len(error.strip().splitlines()) == 1, error
    assert not (tmp_path / "out").exists()


def test_a_scan_without_a_liver_is_refused(tmp_path, capsys):
    phantom = _phantom()
    base = predict_folder(tmp_path / "base", phantom.ct, phantom.labels)
    empty = predict_folder(tmp_path / "empty", phantom.ct,
                           phantom.labels.with_array(np.zeros_like(phantom.labels.array)))
    _refused(tmp_path, capsys, base, empty, "no liver found")


def test_a_scan_that_cuts_the_liver_off_is_refused(tmp_path, capsys):
    phantom = _phantom()
    middle = int(np.median(np.flatnonzero((phantom.labels.array >= 1).any(axis=(1, 2)))))
    cut = Volume(phantom.ct.array[middle:].copy(), phantom.ct.spacing,
                 tuple(phantom.ct.index_to_physical(np.array([middle, 0, 0.0]))))
    base = predict_folder(tmp_path / "base", phantom.ct, phantom.labels)
    half = predict_folder(tmp_path / "half", cut,
                          cut.with_array(phantom.labels.array[middle:].copy()))
    _refused(tmp_path, capsys, base, half, "cuts the liver off")


def test_a_registration_that_fails_is_refused(tmp_path, capsys):
    phantom = _phantom()
    other = np.zeros_like(phantom.labels.array)
    other[2:8, 5:20, 5:20] = 1  # two small blocks far apart: no affine makes them the liver
    other[-8:-2, -20:-5, -20:-5] = 1
    base = predict_folder(tmp_path / "base", phantom.ct, phantom.labels)
    wrong = predict_folder(tmp_path / "wrong", phantom.ct, phantom.labels.with_array(other))
    _refused(tmp_path, capsys, base, wrong, "registration failed")


def _track(before: list[tuple[float, float]], after: list[tuple[float, float]]) -> Track:
    """A track from (diameter mm, volume ml) of its lesions at each time."""
    def lesions(sizes, first):
        return [{"id": first + n, "longest_axial_diameter_mm": d, "volume_ml": v,
                 "centroid_mm": [0.0, 0.0, 0.0]} for n, (d, v) in enumerate(sizes)]
    return Track(lesions(before, 1), lesions(after, 100))


@pytest.mark.parametrize("tracks, category", [
    ([_track([(30, 10)], []), _track([(5, 0.1)], [])], "CR"),
    ([_track([(30, 10)], [(20, 3)]), _track([(20, 4)], [(14, 1)])], "PR"),  # 50 -> 34: -32 %
    ([_track([(30, 10)], [(25, 7)]), _track([(20, 4)], [(20, 4)])], "SD"),  # -10 %
    ([_track([(30, 10)], [(40, 20)]), _track([(20, 4)], [(22, 5)])], "PD"),  # +24 %, +12 mm
    ([_track([(30, 10)], [(36, 17)]), _track([(20, 4)], [(20, 4)])], "SD"),  # +12 %, +6 mm
    ([_track([(12, 1)], [(15.5, 1.5)]), _track([(10, 0.6)], [(11, 0.7)])], "SD"),  # +20 %, +4.5 mm
    ([_track([(30, 10)], [(30, 10)]), _track([], [(6, 0.1)])], "PD"),  # a new lesion
    ([_track([(30, 10)], [(15, 3), (12, 2)])], "SD"),  # split: fragments add, 27 mm
    ([_track([(8, 0.3)], [(8, 0.3)])], "non-CR/non-PD"),  # nothing measurable
    ([_track([(60, 90)], [(55, 80)]), _track([(40, 30)], []), _track([(35, 20)], [(30, 15)])],
     "PR"),  # targets: the two largest (60, 40): 100 -> 55
])
def test_recist_categories(tracks, category):
    assert recist(tracks)["category"] == category


def test_recist_needs_five_millimetres_as_well_as_twenty_percent():
    small = [_track([(12, 1)], [(14.5, 1.6)]), _track([(10, 0.6)], [(11, 0.7)])]  # +17 %
    assert recist(small)["category"] == "SD"
    grew = [_track([(12, 1)], [(16, 1.8)]), _track([(10, 0.6)], [(11, 0.7)])]  # +5 mm, +23 %
    assert recist(grew)["category"] == "PD"


@pytest.mark.parametrize("before, after, category", [
    (10.0, 3.0, "PR"), (10.0, 4.0, "SD"), (10.0, 17.5, "PD"), (10.0, 16.0, "SD"),
    (10.0, 0.0, "CR")])
def test_volumetric_categories(before, after, category):
    tracks = [_track([(30, before)], [(30, after)] if after else [])]
    assert volumetric(tracks)["category"] == category


def test_the_command_line_defaults_are_the_modules():
    from livseg.cli import build_parser
    from livseg.compare.tracks import MATCH_DISTANCE_MM, STABLE_PERCENT

    args = build_parser().parse_args(["compare", "a", "b", "-o", "out"])
    assert (args.match_distance_mm, args.stable_percent) == (MATCH_DISTANCE_MM, STABLE_PERCENT)
