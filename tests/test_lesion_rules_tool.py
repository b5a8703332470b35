"""tools/tumour_lesion_rules.py, which the lesion rules are chosen with: its cached
out-of-fold volumes, scored under the shipped rules, give what ``livseg benchmark --folds``
gives for the same fold models (the same cascade code, run once per volume)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from livseg.cli import main
from livseg.infer import CascadeSettings
from livseg.io import write_volume
from livseg.phantom import make_phantom
from livseg.weights import shipped_weights

from .conftest import load_tool


def _tool():
    return load_tool("tumour_lesion_rules")


@pytest.mark.slow
def test_cached_rules_score_as_the_cross_validated_benchmark(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "lits"
    for number, tumours in ((1, 3), (2, 2), (3, 0)):
        phantom = make_phantom(shape=(12, 96, 96), spacing=(3.2, 3.2, 10.0),
                               n_tumours=tumours, seed=number + 20)
        write_volume(phantom.ct, folder / f"volume-{number}.nii.gz")
        write_volume(phantom.labels, folder / f"segmentation-{number}.nii.gz")
    split = folder / "split.json"
    split.write_text(json.dumps({"train": [], "validation": ["lits1"],
                                 "folds": [["lits1", "lits3"], ["lits2"]]}))
    for fold in (0, 1):
        (tmp_path / f"fold{fold}").mkdir()
        shutil.copy(shipped_weights("tumour", "torch", False), tmp_path / f"fold{fold}/t.pt")
    pattern = str(tmp_path / "fold{fold}" / "t.pt")
    assert main(["benchmark", "--split", str(split), "--data", str(folder), "--folds",
                 "--tumour-weights", pattern, "-o", str(tmp_path / "bench")]) == 0
    rows = {r["case"]: r for r in json.loads((tmp_path / "bench" / "benchmark.json")
                                             .read_text())["rows"]}
    assert sum(r["n_predicted"] for r in rows.values()) > 0  # lesions to compare
    tool = _tool()
    cache = tmp_path / "cache"
    monkeypatch.setattr("sys.argv", ["tool", "cache", str(split), str(folder), str(cache),
                                     "--folds", pattern])
    tool.main()
    assert sorted(p.stem for p in cache.glob("*.npz")) == ["lits1", "lits2", "lits3"]
    shipped = CascadeSettings()
    from livseg.infer import Cascade

    for case, row in rows.items():
        (scored,) = tool.case_scores(cache / f"{case}.npz", [shipped], Cascade(None, None))
        assert scored["lesions"].n_predicted == row["n_predicted"]
        assert scored["found_ml"] == pytest.approx(row["tumour_ml"], abs=0.05)
        assert scored["reference_ml"] == pytest.approx(row["tumour_ml_reference"], abs=1e-3)
    # the search prints every rule, pooled; the lesions step lists each found lesion
    monkeypatch.setattr("sys.argv", ["tool", "search", str(cache), "--json",
                                     str(tmp_path / "rules.json")])
    tool.main()
    table = json.loads((tmp_path / "rules.json").read_text())["rows"]
    assert len(table) == len(tool.rules(tool.GRID))
    default = next(r for r in table if all(r[k] == getattr(shipped, k) for k in tool.GRID))
    with_tumour = [r["tumour_dice"] for r in rows.values() if not r["tumour_free"]]
    assert default["tumour_dice"] == pytest.approx(np.mean(with_tumour), abs=0.01)
    monkeypatch.setattr("sys.argv", ["tool", "lesions", str(cache), "--grid", "tta=true",
                                     "--grid", "roi_z_margin_mm=30", "--grid",
                                     "tumour_threshold=0.6", "--grid", "grow_threshold=0.2",
                                     "--grid", "min_lesion_probability=0.8",
                                     "--grid", "max_lesion_contrast_hu=-15"])
    tool.main()
    listed = [line for line in capsys.readouterr().out.splitlines()
              if line.startswith("lits") and line.count("|") == 8]
    assert len(listed) == sum(r["n_predicted"] for r in rows.values())


def test_misses_says_why_each_reference_lesion_was_not_found_at_iou_half(tmp_path):
    """Five reference lesions, each missed (or not) in a known way: found whole, found a
    third of, two joined by one found lesion, one found in two pieces, one not touched."""
    truth = np.zeros((20, 60, 60), bool)
    found = np.zeros(truth.shape, bool)
    truth[2:6, 5:15, 5:15] = found[2:6, 5:15, 5:15] = True  # found
    truth[2:8, 30:45, 5:20] = True
    found[2:4, 30:45, 5:20] = True  # a third of it: too small
    truth[10:14, 5:12, 5:12] = truth[10:14, 5:12, 14:21] = True
    found[10:14, 5:12, 5:21] = True  # one lesion over both: merged
    truth[10:16, 30:50, 30:50] = True
    found[10:16, 30:50, 30:38] = found[10:16, 30:50, 42:50] = True  # two pieces: split
    truth[16:19, 40:46, 5:11] = True  # not touched
    probability = np.where(found, 255, 0).astype(np.uint8)
    liver = np.ones(truth.shape, bool)
    np.savez(tmp_path / "lits1.npz", truth=truth, spacing=np.array([2.0, 1.0, 1.0]),
             fold=np.asarray(0), voxel_ml=np.asarray(0.002), roi_start=np.zeros(3, int),
             roi_stop=np.array(truth.shape), hu=np.full(truth.shape, 50, np.int16),
             liver=liver, probability_tta0=probability, probability_tta1=probability)
    tool = _tool()
    settings = CascadeSettings(tta=False, tumour_threshold=0.5, grow_threshold=None,
                               min_lesion_probability=0.0, max_lesion_contrast_hu=None,
                               min_lesion_mm3=1.0)
    rows = tool.lesion_misses(tmp_path / "lits1.npz", settings)
    by_size = sorted((round(r["ml"] / 0.002), r["why"]) for r in rows)
    assert by_size == [(108, "not touched"), (196, "merged"), (196, "merged"), (400, "found"),
                       (1350, "too small"), (2400, "split")]
