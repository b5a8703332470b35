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
