"""``livseg bench``: the JSON other tools read, and the targets it is checked against."""
from __future__ import annotations

import json

import pytest

from livseg.bench import check_targets
from livseg.bench.machine import theoretical_peak_gflops
from livseg.cli import main


@pytest.mark.slow
def test_bench_json_has_the_documented_shape(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--archs", "mobileunet", "--size", "32", "--batch", "2",
                 "--seconds", "0.05", "--cascade-slices", "3", "--large-slices", "0",
                 "--repeats", "1", "--threads", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    machine = result["machine"]
    assert machine["threads"] == 1 and machine["peak_gflops_measured_sgemm"] > 0
    (row,) = result["models"]
    assert row["arch"] == "mobileunet" and isinstance(row["params"], int)
    assert row["params"] == 742_525  # the shipped liver stage
    for key in ("gmacs_per_slice", "ms_per_slice_torch", "ms_per_slice_onnx",
                "ms_per_slice_onnx_int8", "peak_rss_mb"):
        assert isinstance(row[key], float) and row[key] > 0
    cascade = result["cascade"]
    assert cascade["shape"] == [3, 512, 512] and cascade["seconds"] > 0
    assert cascade["peak_rss_mb"] > 0 and "liver_stage" in cascade["steps"]
    profile = cascade["profile"]  # the whole process, imports and model loading included
    assert profile["process"] == cascade["seconds"] and profile["imports"] > 0
    assert profile["model_loading"] > 0 and profile["predict"] == cascade["steps"]["total"]
    assert profile["predict.liver_stage"] == cascade["steps"]["liver_stage"]
    assert profile["other"] == pytest.approx(profile["process"] - profile["imports"]
                                             - profile["model_loading"] - profile["predict"],
                                             abs=2e-3)
    assert result["cascade_torch"]["backend"] == "torch"
    assert result["cascade_float32"]["backend"] == "onnx float32"
    dicom = result["cascade_dicom"]
    assert dicom["shape"] == [3, 512, 512] and dicom["input"].endswith("DICOM")
    assert len(dicom["runs"]) == 1 and dicom["seconds"] == dicom["runs"][0]
    assert 0 < result["startup"]["seconds"] < cascade["seconds"]
    assert result["targets"]["mobileunet_params"]["met"] is True
    assert "mobileunet" in capsys.readouterr().out


def test_targets_are_checked_against_the_measured_values():
    result = {"models": [
        {"arch": "mobileunet", "params": 900_000, "gmacs_per_slice": 0.4,
         "ms_per_slice_torch": 30.0, "ms_per_slice_onnx": 10.0, "ms_per_slice_onnx_int8": 5.0},
        {"arch": "unet", "params": 31_000_000, "gmacs_per_slice": 54.0,
         "ms_per_slice_torch": 120.0, "ms_per_slice_onnx": 80.0, "ms_per_slice_onnx_int8": 20.0}],
        "cascade": {"seconds": 5.5}, "cascade_large": {"peak_rss_mb": 1500.0}}
    checks = check_targets(result)
    assert checks["mobileunet_params"]["met"] and checks["mobileunet_gmacs_per_slice"]["met"]
    assert checks["speedup_vs_unet_torch"] == {"value": 4.0, "target": ">= 5", "met": False}
    assert checks["speedup_vs_unet_onnx"]["met"] and checks["speedup_vs_unet_onnx"]["value"] == 8
    assert not checks["cascade_seconds"]["met"] and checks["cascade_large_peak_rss_mb"]["met"]
    result["cascade"] |= {"shape": [150, 512, 512]}
    result["cascade_dicom"] = {"seconds": 2.5, "shape": [150, 512, 512]}
    checks = check_targets(result)
    assert checks["cascade_nifti_512x512x150_seconds"] == {"value": 5.5, "target": "<= 2",
                                                           "met": False}
    assert checks["cascade_dicom_512x512x150_seconds"]["met"]  # 2.5 <= 2.5


@pytest.mark.parametrize(("vendor", "family", "flags", "expected"), [
    ("GenuineIntel", "6", "fma avx2 avx512f", 2 * 3.0 * 64),  # two 512-bit FMA units
    ("AuthenticAMD", "25", "fma avx2 avx512f", 2 * 3.0 * 32),  # Zen 4: 512 bits as 2 x 256
    ("AuthenticAMD", "26", "fma avx2 avx512f", 2 * 3.0 * 64),  # Zen 5: full width
    ("GenuineIntel", "6", "fma avx2", 2 * 3.0 * 32),
])
def test_theoretical_peak_is_cores_times_clock_times_flops_per_cycle(monkeypatch, vendor,
                                                                     family, flags, expected):
    monkeypatch.setattr("livseg.bench.machine._cpuinfo", lambda: {
        "vendor_id": vendor, "cpu family": family, "flags": flags, "cpu MHz": "3000.0"})
    assert theoretical_peak_gflops(2)["gflops"] == pytest.approx(expected)
    monkeypatch.setattr("livseg.bench.machine._cpuinfo", lambda: {"flags": flags})
    assert theoretical_peak_gflops(2)["gflops"] is None
