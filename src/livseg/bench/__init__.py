"""``livseg bench``: size, cost, speed and memory of the three networks and of the whole
cascade, measured in one run on this machine (issue 5, DESIGN.md targets).

Every network is timed on the same random 256x256 batches with torch, onnxruntime (float32)
and onnxruntime int8, each engine in a fresh process of its own so that its peak memory is
its own. MobileUNet is the shipped liver stage, its ONNX and int8 files the shipped ones
that ``livseg predict`` runs; U-Net and ResUNet have random weights (the speed of a network
does not depend on its weights), exported and quantised here. The cascade is the real ``livseg
predict`` command, timed from process start to exit, reading and writing included: on a
NIfTI file and on the same CT as a DICOM series (each the median of ``repeats`` runs), and
the start-up alone (``livseg --version``).
"""
from __future__ import annotations

import functools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from livseg.bench.machine import describe_machine, usable_cores

ARCHS = ("mobileunet", "unet", "resunet")
ENGINES = ("torch", "onnx", "onnx_int8")
PHANTOM_CALIBRATION = "phantom:6"
INT8_SOURCES = {"mobileunet": "the shipped liver stage's int8 export (weights/onnx)",
                "baselines": PHANTOM_CALIBRATION}
#: The targets of DESIGN.md / issue 5 that a run is checked against.
TARGETS = {"params": 1_000_000, "gmacs": 1.0, "speedup_vs_unet": 5.0, "cascade_s": 5.0,
           "large_peak_mb": 2048.0,
           # issue 18: 512x512x150, process start to exit, on the 2-core machine
           "cascade_nifti_s": 2.0, "cascade_dicom_s": 2.5}


def run_bench(*, archs=ARCHS, size: int = 256, batch: int = 4, seconds: float = 3.0,
              threads: int | None = None, ct: Path | None = None, cascade_slices: int = 150,
              large_slices: int | None = 1000, repeats: int = 3, log=print) -> dict:
    """Measure everything; returns the JSON document (shape in DESIGN.md)."""
    threads = threads or usable_cores()
    result = {"machine": describe_machine(threads), "settings": {
        "slice_size": size, "batch": batch, "seconds_per_engine": seconds, "threads": threads}}
    with tempfile.TemporaryDirectory(prefix="livseg-bench-") as scratch:
        folder = Path(scratch)
        result["settings"]["int8_calibration"] = INT8_SOURCES
        result["models"] = []
        for arch in archs:
            log(f"network {arch} ...")
            result["models"].append(bench_network(arch, size=size, batch=batch, seconds=seconds,
                                                  threads=threads, folder=folder))
        if cascade_slices:
            path, what = (Path(ct), str(ct)) if ct else _phantom_ct(folder, cascade_slices)
            log("start-up (livseg --version) ...")
            result["startup"] = bench_startup(repeats)
            log(f"cascade (onnx) on {what} ...")
            result["cascade"] = _repeated(path, "onnx", threads, folder, repeats) | {
                "input": what}
            if not ct:
                series = _phantom_dicom(folder, path)
                log(f"cascade (onnx) on {what} as a DICOM series ...")
                result["cascade_dicom"] = _repeated(series, "onnx", threads, folder,
                                                    repeats) | {"input": what + ", DICOM"}
            log(f"cascade (torch) on {what} ...")
            result["cascade_torch"] = bench_cascade(path, "torch", threads, folder) | {
                "input": what}
            log(f"cascade (onnx float32) on {what} ...")
            result["cascade_float32"] = bench_cascade(path, "onnx", threads, folder,
                                                      float32=True) | {
                "input": what, "backend": "onnx float32"}
        if large_slices:
            path, what = _phantom_ct(folder, large_slices)
            log(f"cascade on {what} (memory) ...")
            result["cascade_large"] = bench_cascade(path, "onnx", threads, folder) | {
                "input": what}
    result["targets"] = check_targets(result)
    return result


def bench_network(arch: str, *, size: int, batch: int, seconds: float, threads: int,
                  folder: Path) -> dict:
    import torch

    from livseg.models import count_macs, count_parameters

    model, weights = _network(arch)
    channels = int(model.build_args["in_channels"])
    macs = count_macs(model, channels, (size, size))
    files = {"torch": folder / f"{arch}.pt"}
    torch.save({"build_args": model.build_args, "state": model.state_dict()}, files["torch"])
    files |= _onnx_files(arch, model, channels, size, folder)
    gmacs = macs / 1e9
    row = {"arch": arch, "params": count_parameters(model), "gmacs_per_slice": round(gmacs, 4),
           "weights": weights, "build_args": model.build_args}
    for engine in ENGINES:
        measured = _worker(engine, files[engine], size, batch, seconds, threads)
        row[f"ms_per_slice_{engine}"] = measured["ms_per_slice"]
        row["peak_rss_mb" if engine == "torch" else f"peak_rss_mb_{engine}"] = \
            measured["peak_rss_mb"]
        row[f"gflops_{engine}"] = round(2 * gmacs / measured["ms_per_slice"] * 1000, 2)
    return row


def _onnx_files(arch: str, model, channels: int, size: int, folder: Path) -> dict[str, Path]:
    """MobileUNet: the liver stage's ONNX and int8 files as shipped (what predict runs).
    The baselines: exported here and quantised on phantom slices (speed depends on neither
    the weights nor the calibration values)."""
    from livseg.weights import shipped_weights

    if arch == "mobileunet":
        return {"onnx": shipped_weights("liver", "onnx"),
                "onnx_int8": shipped_weights("liver", "onnx", int8=True)}
    from livseg.export import _quantise
    from livseg.models.onnx_graph import export_onnx

    files = {"onnx": folder / f"{arch}.onnx", "onnx_int8": folder / f"{arch}.int8.onnx"}
    multiple = export_onnx(model, channels, (size, size), str(files["onnx"]))
    _quantise(files["onnx"], files["onnx_int8"], _phantom_calibration(size), multiple)
    return files


def _network(arch: str):
    """MobileUNet as shipped (the liver stage); the baselines built with a fixed seed."""
    import torch

    from livseg.models import build_model

    if arch == "mobileunet":
        from livseg.models.checkpoint import load_model
        from livseg.weights import shipped_weights

        model, _ = load_model(shipped_weights("liver"))
        return model.eval(), "shipped liver stage"
    torch.manual_seed(0)
    return build_model(arch).eval(), "random (speed does not depend on the weights)"


def _worker(engine: str, path: Path, size: int, batch: int, seconds: float,
            threads: int) -> dict:
    command = [sys.executable, "-m", "livseg.bench.worker", engine.split("_")[0], str(path),
               str(size), str(batch), str(seconds), str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark worker {engine} {path.name} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@functools.lru_cache(maxsize=1)
def _phantom_calibration(size: int) -> np.ndarray:
    """Phantom slices as the liver stage sees them, resized to ``size``: int8 calibration
    for the random-weight baselines."""
    from livseg.export import calibration_slices
    from livseg.infer import Stage
    from livseg.preprocess import resize_in_plane
    from livseg.weights import shipped_weights

    stage = Stage.load(shipped_weights("liver"), backend="torch")
    return resize_in_plane(calibration_slices(stage, PHANTOM_CALIBRATION), (size, size),
                           is_label=False)


def _phantom_ct(folder: Path, slices: int) -> tuple[Path, str]:
    """A 512x512xN CT: a phantom made at 128x128 (3.125 mm) and resampled in-plane to
    512x512 (0.78 mm), 1.6 mm slices, like ../shared/data/ircad07 (making it at 512x512
    directly takes minutes)."""
    from livseg.io import Volume, write_volume
    from livseg.phantom import make_phantom
    from livseg.preprocess import resize_in_plane

    path = folder / f"phantom_512x512x{slices}.nii.gz"
    if not path.exists():
        small = make_phantom(shape=(slices, 128, 128), spacing=(3.125, 3.125, 1.6),
                             n_tumours=3, seed=1).ct
        big = np.rint(resize_in_plane(small.array, (512, 512), is_label=False)).astype(np.int16)
        write_volume(Volume(big, (0.78125, 0.78125, 1.6), small.origin, small.direction), path)
    return path, f"phantom 512x512x{slices} (0.78 x 0.78 x 1.6 mm)"


def bench_startup(repeats: int) -> dict:
    """``livseg --version`` in a child process, start to exit: median seconds and each run."""
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "livseg", "--version"], capture_output=True,
                       check=True)
        runs.append(round(time.perf_counter() - started, 3))
    return {"seconds": sorted(runs)[len(runs) // 2], "runs": runs}


def _repeated(path: Path, backend: str, threads: int, folder: Path, repeats: int) -> dict:
    """The median of ``repeats`` ``bench_cascade`` runs, with every run's seconds."""
    runs = [bench_cascade(path, backend, threads, folder) for _ in range(repeats)]
    return _median_run(runs) | {"runs": [run["seconds"] for run in runs]}


def _phantom_dicom(folder: Path, nifti: Path) -> Path:
    """The CT of ``nifti`` as a DICOM series (one file per slice) in a folder beside it."""
    from livseg.io import read_volume
    from livseg.io.dicom_write import write_dicom_series

    series = folder / (nifti.name.split(".")[0] + "_dicom")
    if not series.exists():
        write_dicom_series(read_volume(nifti), series)
    return series


def bench_cascade(ct: Path, backend: str, threads: int, folder: Path,
                  float32: bool = False) -> dict:
    """``livseg predict`` in a child process: wall seconds from start to exit (interpreter,
    imports, reading, both stages, writing, pictures), its peak RSS and its own step times.
    ``float32``: the float32 models instead of the default."""
    out = Path(tempfile.mkdtemp(dir=folder)) / "out"
    command = [sys.executable, "-m", "livseg.bench.worker", "predict", str(ct), str(out),
               backend, str(threads), "float32" if float32 else "default"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"livseg predict failed:\n{done.stderr}")
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    report = json.loads((out / "report.json").read_text())
    return {"seconds": round(seconds, 3), "shape": report["input"]["shape_zyx"],
            "backend": backend, "peak_rss_mb": measured["peak_rss_mb"],
            "steps": report["seconds"],
            "profile": _profile(seconds, measured, report["seconds"])}


def _profile(process_seconds: float, measured: dict, steps: dict) -> dict:
    """Where the whole process's time went: the interpreter's start and imports, loading
    the models, ``predict_file`` (its steps as the report times them; the file is written
    on a thread while the pictures are drawn, so ``write`` overlaps ``pictures``) and what
    is left (the interpreter's start before the first import, and its exit)."""
    outside = measured["imports"] + measured["model_loading"] + steps["total"]
    return {"process": round(process_seconds, 3), "imports": measured["imports"],
            "model_loading": measured["model_loading"], "predict": steps["total"],
            **{f"predict.{name}": value for name, value in steps.items() if name != "total"},
            "other": round(process_seconds - outside, 3)}


def _median_run(runs: list[dict]) -> dict:
    return sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]


def check_targets(result: dict) -> dict:
    """Each DESIGN.md target with the measured value and whether it is met."""
    rows = {row["arch"]: row for row in result.get("models", [])}
    checks = {}
    mobile = rows.get("mobileunet")
    if mobile:
        checks["mobileunet_params"] = _check(mobile["params"], "<", TARGETS["params"])
        checks["mobileunet_gmacs_per_slice"] = _check(mobile["gmacs_per_slice"], "<",
                                                      TARGETS["gmacs"])
        if "unet" in rows:
            for engine in ENGINES:
                key = f"ms_per_slice_{engine}"
                checks[f"speedup_vs_unet_{engine}"] = _check(
                    round(rows["unet"][key] / mobile[key], 2), ">=", TARGETS["speedup_vs_unet"])
    if "cascade" in result:
        checks["cascade_seconds"] = _check(result["cascade"]["seconds"], "<",
                                           TARGETS["cascade_s"])
    for key, target in (("cascade", "cascade_nifti_s"), ("cascade_dicom", "cascade_dicom_s")):
        if result.get(key, {}).get("shape") == [150, 512, 512]:  # issue 18's size
            kind = "nifti" if key == "cascade" else "dicom"
            checks[f"cascade_{kind}_512x512x150_seconds"] = _check(
                result[key]["seconds"], "<=", TARGETS[target])
    if "cascade_large" in result:
        checks["cascade_large_peak_rss_mb"] = _check(result["cascade_large"]["peak_rss_mb"],
                                                     "<", TARGETS["large_peak_mb"])
    return checks


def _check(value: float, relation: str, limit: float) -> dict:
    met = {"<": value < limit, "<=": value <= limit, ">=": value >= limit}[relation]
    return {"value": value, "target": f"{relation} {limit:g}", "met": bool(met)}


def format_bench(result: dict) -> str:
    """The table ``livseg bench`` prints."""
    machine = result["machine"]
    lines = [f"{machine['cpu']}, {machine['threads']} threads; float32 matrix product peak "
             f"{machine['peak_gflops_measured_sgemm']} GFLOP/s (theoretical "
             f"{machine['peak_gflops_theoretical']['gflops']})", "",
             f"{'network':<11}{'params':>11}{'GMAC':>8}{'torch ms':>10}{'onnx ms':>9}"
             f"{'int8 ms':>9}{'GFLOP/s':>9}{'peak MB':>9}"]
    for row in result.get("models", []):
        lines.append(f"{row['arch']:<11}{row['params']:>11,}{row['gmacs_per_slice']:>8.3f}"
                     f"{row['ms_per_slice_torch']:>10.2f}{row['ms_per_slice_onnx']:>9.2f}"
                     f"{row['ms_per_slice_onnx_int8']:>9.2f}{row['gflops_onnx']:>9.1f}"
                     f"{row['peak_rss_mb']:>9.0f}")
    if "startup" in result:
        lines.append(f"startup (livseg --version): {result['startup']['seconds']:.2f} s "
                     f"(runs {result['startup']['runs']})")
    for key in ("cascade", "cascade_dicom", "cascade_torch", "cascade_float32",
                "cascade_large"):
        if key in result:
            run = result[key]
            shape = "x".join(str(n) for n in run["shape"][::-1])
            runs = f" (runs {run['runs']})" if "runs" in run else ""
            lines.append(f"{key}: {shape} ({run['backend']}) {run['seconds']:.2f} s{runs}, "
                         f"peak {run['peak_rss_mb']:.0f} MB")
            if "profile" in run:
                lines.append("    " + ", ".join(f"{name} {value:.2f}" for name, value
                                                in run["profile"].items() if name != "process"))
    lines.append("")
    for name, check in result.get("targets", {}).items():
        lines.append(f"{'met' if check['met'] else 'NOT MET':>8}  {name}: {check['value']} "
                     f"(target {check['target']})")
    return "\n".join(lines)
