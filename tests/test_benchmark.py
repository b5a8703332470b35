"""``livseg benchmark``: the predict cascade on a split's validation volumes and on test
cases, one row per volume scored as LiTS scores, and the means."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from livseg.cli import main
from livseg.io import read_volume, write_volume
from livseg.phantom import make_phantom

from .conftest import shared_file
from .test_splits import SPLIT


@pytest.fixture(scope="module")
def lits_folder(tmp_path_factory):
    """A LiTS-layout folder of three phantoms; lits2 has no tumour."""
    folder = tmp_path_factory.mktemp("lits")
    for number, tumours in ((1, 3), (2, 0), (3, 2)):
        phantom = make_phantom(shape=(10, 80, 80), spacing=(3.5, 3.5, 12.0), n_tumours=tumours,
                               seed=number)
        write_volume(phantom.ct, folder / f"volume-{number}.nii.gz")
        write_volume(phantom.labels, folder / f"segmentation-{number}.nii.gz")
    (folder / "split.json").write_text(json.dumps(
        {"train": ["lits3"], "validation": ["lits1", "lits2"], "folds": [["lits1"], ["lits3"]]}))
    return folder


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / float(a.sum() + b.sum())


def test_validation_rows_are_the_cascades_outputs_scored(lits_folder, tmp_path, capsys):
    single = tmp_path / "case"
    phantom = make_phantom(shape=(10, 80, 80), spacing=(3.5, 3.5, 12.0), n_tumours=1, seed=9)
    write_volume(phantom.ct, single / "volume.nii.gz")
    write_volume(phantom.labels, single / "segmentation.nii.gz")
    out = tmp_path / "bench"
    assert main(["benchmark", "--split", str(lits_folder / "split.json"), "--data",
                 str(lits_folder), "--cases", str(single), "-o", str(out)]) == 0
    document = json.loads((out / "benchmark.json").read_text())
    rows = {row["case"]: row for row in document["rows"]}
    assert [(r["case"], r["group"]) for r in document["rows"]] == [
        ("lits1", "validation"), ("lits2", "validation"), ("case", "test")]
    for name, reference in (("lits1", lits_folder / "segmentation-1.nii.gz"),
                            ("lits2", lits_folder / "segmentation-2.nii.gz"),
                            ("case", single / "segmentation.nii.gz")):
        predicted = read_volume(out / "cases" / name / "segmentation.nii.gz").array
        truth = read_volume(reference).array
        assert rows[name]["liver_dice"] == pytest.approx(_dice(predicted >= 1, truth >= 1))
        assert (out / "cases" / name / "report.json").is_file()
    healthy = rows["lits2"]
    assert healthy["tumour_free"] and healthy["n_reference"] == 0
    assert healthy["false_lesions"] == healthy["n_predicted"]
    validation = document["summary"]["validation"]
    assert validation["n_cases"] == 2 and validation["tumour_free_volumes"] == 1
    assert validation["false_lesions_per_tumour_free_volume"] == healthy["false_lesions"]
    assert validation["liver_dice"] == pytest.approx(
        (rows["lits1"]["liver_dice"] + rows["lits2"]["liver_dice"]) / 2)
    assert validation["liver_dice_min"] == min(rows["lits1"]["liver_dice"],
                                               rows["lits2"]["liver_dice"])
    assert validation["tumour_volumes"] == 1  # lits2 holds none: left out of this mean
    assert validation["tumour_dice_with_tumour"] == rows["lits1"]["tumour_dice"]
    assert document["summary"]["test"]["n_cases"] == 1
    markdown = (out / "benchmark.md").read_text()
    assert "### validation (2 volumes)" in markdown and "### test (1 volumes)" in markdown
    assert "| lits2 |" in markdown and "**mean**" in markdown
    assert markdown in capsys.readouterr().out


def test_a_fold_and_the_training_volumes_can_be_scored(lits_folder, tmp_path):
    out = tmp_path / "bench"
    assert main(["benchmark", "--split", str(lits_folder / "split.json"), "--data",
                 str(lits_folder), "--fold", "1", "-o", str(out)]) == 0
    document = json.loads((out / "benchmark.json").read_text())
    assert [(r["case"], r["group"]) for r in document["rows"]] == [("lits3", "fold 1")]
    assert document["tta"] is True  # the default, as in livseg predict


@pytest.mark.parametrize(("option", "tta"), [([], True), (["--no-tta"], False)])
def test_tta_reaches_the_cascade_and_the_record(lits_folder, tmp_path, monkeypatch, option,
                                                tta):
    from livseg.infer import Cascade

    seen = []
    segment = Cascade.segment
    monkeypatch.setattr(Cascade, "segment", lambda self, *a, **k: seen.append(
        self.settings.tta) or segment(self, *a, **k))
    out = tmp_path / "bench"
    assert main(["benchmark", "--split", str(lits_folder / "split.json"), "--data",
                 str(lits_folder), "--fold", "1", *option, "-o", str(out)]) == 0
    assert seen == [tta] and json.loads((out / "benchmark.json").read_text())["tta"] is tta
    assert ("(--no-tta)" in (out / "benchmark.md").read_text()) is not tta


def test_bad_benchmark_arguments_get_exit_2(lits_folder, tmp_path, capsys):
    split = str(lits_folder / "split.json")
    assert main(["benchmark", "--split", split, "-o", str(tmp_path / "b")]) == 2
    assert main(["benchmark", "-o", str(tmp_path / "b")]) == 2
    assert main(["benchmark", "--split", split, "--data", str(tmp_path), "-o",
                 str(tmp_path / "b")]) == 2
    assert "holds none of lits1, lits2" in capsys.readouterr().err
    assert main(["benchmark", "--cases", str(tmp_path), "-o", str(tmp_path / "b")]) == 2
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "benchmark.json").write_text("{}")
    assert main(["benchmark", "--split", split, "--data", str(lits_folder), "-o",
                 str(tmp_path / "c")]) == 2
    assert "--overwrite" in capsys.readouterr().err


#: Three of the split's six validation volumes: the one with the most lesions (lits0, 10),
#: the lowest liver (lits22) and the tumour-free one (lits47); 119 slices instead of 439.
GOLDEN_VALIDATION = ("lits0", "lits22", "lits47")


@pytest.fixture(scope="module")
def golden_run(tmp_path_factory) -> dict:
    """``livseg benchmark`` with the shipped defaults on three validation volumes of the
    split, the expert-labelled test case ircad07 and lits_small: its folder and rows."""
    shipped = json.loads(SPLIT.read_text())
    assert set(GOLDEN_VALIDATION) <= set(shipped["validation"])
    folder = tmp_path_factory.mktemp("golden")
    split = folder / "split.json"
    split.write_text(json.dumps({"train": shipped["train"],
                                 "validation": list(GOLDEN_VALIDATION)}))
    out = folder / "bench"
    assert main(["benchmark", "--split", str(split), "--data",
                 str(shared_file("lits_vol256")), "--cases", str(shared_file("ircad07")),
                 str(shared_file("lits_small")), "-o", str(out)]) == 0
    rows = json.loads((out / "benchmark.json").read_text())["rows"]
    return {"out": out, "rows": {row["case"]: row for row in rows}}


@pytest.mark.slow
def test_the_shipped_cascade_on_validation_volumes_ircad07_and_lits_small(golden_run):
    """A golden test of the shipped weights through the whole cascade on real CT.
    Measured 2026-12-06 21:00 UTC with the default models and settings (int8 192x192 liver
    stage, float32 1.2 mm tumour stage of round 4, trained on all 26 volumes of lits_vol256,
    so these three are among its training volumes; its left-right flip averaged in, the
    flipped pass on the 192x192 canvas; the lesion rules of issue 30: z margin 30 mm,
    growth to 0.2, contrast -15 HU also after growth, grown lesions away from the liver
    dropped; MODEL_CARD; update both with the weights or the rules): liver Dice lits0
    0.965, lits22 0.943, lits47 0.963, ircad07 0.909, lits_small 0.853; tumour Dice lits0
    0.464, lits22 0.779, lits_small 0.492; lesion F1 at IoU > 0.5 lits0 0.308 (3 lesions
    found), lits22 0.667 (its tumour and 1 false lesion); false lesions lits47 0, ircad07 1.
    Each bound sits 0.01-0.02 below (or a lesion beyond)."""
    rows = golden_run["rows"]
    liver = {case: row["liver_dice"] for case, row in rows.items()}
    tumour = {case: row["tumour_dice"] for case, row in rows.items()}
    assert liver["lits0"] > 0.955 and liver["lits22"] > 0.93 and liver["lits47"] > 0.95
    assert liver["ircad07"] > 0.89 and liver["lits_small"] > 0.83
    assert tumour["lits0"] > 0.45 and tumour["lits22"] > 0.76 and tumour["lits_small"] > 0.47
    assert rows["lits0"]["f1_iou50"] >= 0.3 and rows["lits0"]["n_predicted"] >= 2
    assert rows["lits22"]["f1_iou50"] > 0.6  # its tumour, half outside the liver mask, whole
    assert rows["lits47"]["false_lesions"] == 0
    assert rows["ircad07"]["false_lesions"] <= 2


@pytest.mark.slow
def test_the_int8_liver_stage_keeps_the_float32_liver_on_lits_small(golden_run):
    """The default (int8 liver stage; the golden run's mask) against both stages float32:
    measured 0.9978 (docs/cli.md, predict)."""
    from livseg.infer import Cascade
    from livseg.io.hu_check import read_ct

    default = read_volume(golden_run["out"] / "cases/lits_small/segmentation.nii.gz").array
    ct = read_ct(shared_file("lits_small/volume.nii.gz"))
    float32 = Cascade.shipped(int8=False).segment(ct).labels.array
    assert _dice(default >= 1, float32 >= 1) >= 0.995


@pytest.mark.slow
def test_the_backends_and_the_int8_liver_stage_agree_on_a_real_ct():
    """On totalseg_ct_sm: the default (int8 liver stage on onnxruntime) against both stages
    float32 (measured 0.9979, docs/cli.md, predict), and float32 on onnxruntime against torch
    (liver and tumour; the same networks, so nearly every voxel)."""
    from livseg.infer import Cascade
    from livseg.io.hu_check import read_ct

    ct = read_ct(shared_file("totalseg_ct_sm/volume.nii.gz"))
    labels = {name: Cascade.shipped(**options).segment(ct).labels.array for name, options in (
        ("default", {}), ("onnx", {"int8": False}), ("torch", {"backend": "torch"}))}
    assert _dice(labels["default"] >= 1, labels["onnx"] >= 1) >= 0.995
    for level in (1, 2):
        a, b = labels["onnx"] >= level, labels["torch"] >= level
        if a.any() or b.any():
            assert _dice(a, b) >= 0.995


def test_tumour_volume_agreement_is_measured_per_volume_and_summarised(lits_folder, tmp_path):
    out = tmp_path / "bench"
    assert main(["benchmark", "--split", str(lits_folder / "split.json"), "--data",
                 str(lits_folder), "-o", str(out)]) == 0
    document = json.loads((out / "benchmark.json").read_text())
    row = next(r for r in document["rows"] if r["case"] == "lits1")
    reference = read_volume(lits_folder / "segmentation-1.nii.gz")
    found = read_volume(out / "cases" / "lits1" / "segmentation.nii.gz").array == 2
    reference_ml = float((reference.array == 2).sum() * reference.voxel_volume_ml)
    assert row["tumour_ml_reference"] == pytest.approx(reference_ml, abs=1e-3)
    assert row["tumour_rvd"] == pytest.approx(
        (found.sum() - (reference.array == 2).sum()) / (reference.array == 2).sum())
    assert next(r for r in document["rows"] if r["case"] == "lits2")["tumour_rvd"] is None
    summary = document["summary"]["validation"]
    big = [r["tumour_rvd"] for r in document["rows"] if r["tumour_ml_reference"] >= 5]
    assert summary["volumes_over_rvd_min_ml"] == len(big)
    assert summary["rvd_median"] == (pytest.approx(float(np.median(big))) if big else None)
    # global Dice pools the voxels of both volumes (lits2's are false positives only)
    found_2 = read_volume(out / "cases" / "lits2" / "segmentation.nii.gz").array == 2
    assert summary["tumour_dice_global"] == pytest.approx(
        2 * (found & (reference.array == 2)).sum()
        / (found.sum() + found_2.sum() + (reference.array == 2).sum()))
    by_size = summary["lesions_by_size"]
    assert sum(c["n_reference"] for c in by_size.values()) == row["n_reference"]
    assert (out / "tumour_volumes_validation.png").stat().st_size > 0
    assert "median" in (out / "benchmark.md").read_text()


def test_cross_validation_scores_each_fold_with_its_own_model_and_pools(lits_folder, tmp_path,
                                                                       monkeypatch):
    """Each fold's volumes are scored with the weights its {fold} names; the out-of-fold
    summary pools the rows of every fold."""
    import shutil

    from livseg.infer import Cascade
    from livseg.weights import shipped_weights

    for fold in (0, 1):
        (tmp_path / f"fold{fold}").mkdir()
        shutil.copy(shipped_weights("tumour", "torch", False), tmp_path / f"fold{fold}/t.pt")
    used = []
    shipped = Cascade.shipped.__func__
    monkeypatch.setattr(Cascade, "shipped", classmethod(lambda cls, **options: used.append(
        options["tumour_path"]) or shipped(cls, **options)))
    out = tmp_path / "cv"
    assert main(["benchmark", "--split", str(lits_folder / "split.json"), "--data",
                 str(lits_folder), "--folds", "--tumour-weights",
                 str(tmp_path / "fold{fold}" / "t.pt"), "-o", str(out)]) == 0
    document = json.loads((out / "benchmark.json").read_text())
    assert [(r["case"], r["group"]) for r in document["rows"]] == [
        ("lits1", "fold 0"), ("lits3", "fold 1")]
    assert [Path(f).parent.name for f in used] == ["fold0", "fold1"]
    pooled = document["summary"]["out-of-fold"]
    assert pooled["n_cases"] == 2 and set(document["summary"]) == {"out-of-fold", "fold 0",
                                                                   "fold 1"}
    assert pooled["tumour_dice_with_tumour"] == pytest.approx(
        np.mean([r["tumour_dice"] for r in document["rows"]]))
    counts = [r["lesion_counts"] for r in document["rows"]]
    assert pooled["lesions_pooled"]["n_reference"] == sum(c["n_reference"] for c in counts)
    markdown = (out / "benchmark.md").read_text()
    assert "### out-of-fold (2 volumes)" in markdown and "### each fold" in markdown
    assert "### fold 0" not in markdown and "| lits3 | fold 1 |" in markdown
    assert (out / "tumour_volumes_out_of_fold.png").is_file()


def test_bad_cross_validation_arguments_get_exit_2(lits_folder, tmp_path, capsys):
    split = ["--split", str(lits_folder / "split.json"), "--data", str(lits_folder)]
    pattern = str(tmp_path / "fold{fold}.pt")
    assert main(["benchmark", *split, "--folds", "-o", str(tmp_path / "a")]) == 2
    assert "a model per fold" in capsys.readouterr().err
    assert main(["benchmark", *split, "--tumour-weights", pattern, "-o", str(tmp_path / "a")]) == 2
    assert "needs --folds" in capsys.readouterr().err
    assert main(["benchmark", *split, "--folds", "--tumour-weights", pattern, "--cases",
                 str(lits_folder), "-o", str(tmp_path / "a")]) == 2
    assert main(["benchmark", *split, "--folds", "--tumour-weights", pattern,
                 "-o", str(tmp_path / "a")]) == 2
    assert "fold0.pt: does not exist (fold 0's model)" in capsys.readouterr().err
    assert not (tmp_path / "a" / "benchmark.json").exists()
