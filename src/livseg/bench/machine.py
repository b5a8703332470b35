"""The machine a benchmark ran on, and how fast it can multiply at best.

Two ceilings for "achieved GFLOP/s": the largest float32 matrix product torch runs here (the
practical peak: what BLAS gets from these cores), and the vendor-style estimate cores x clock
x FLOPs per cycle from the vector units the CPU reports (at the clock /proc/cpuinfo states,
which boost clocks can exceed; it assumes two
fused multiply-add units per core; AMD Zen 4 and older run 512-bit vectors as two 256-bit
halves, so they count 8 float32 lanes).
"""
from __future__ import annotations

import os
import platform
import time
from pathlib import Path


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _cpuinfo() -> dict[str, str]:
    info: dict[str, str] = {}
    path = Path("/proc/cpuinfo")
    if not path.is_file():
        return info
    for line in path.read_text().splitlines():
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    return info


def theoretical_peak_gflops(cores: int) -> dict:
    """cores x MHz x float32 FLOPs per cycle (vector lanes x 2 for FMA x 2 units)."""
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    half_width_512 = info.get("vendor_id") == "AuthenticAMD" and \
        int(info.get("cpu family", "0") or 0) <= 25
    lanes = 16 if "avx512f" in flags and not half_width_512 else \
        8 if "avx2" in flags or "avx512f" in flags else 4
    fma = 2 if "fma" in flags or "avx512f" in flags else 1
    try:
        mhz = float(info["cpu MHz"])
    except (KeyError, ValueError):
        return {"gflops": None, "assumption": "clock rate unknown"}
    per_cycle = lanes * fma * 2
    return {"gflops": round(cores * mhz / 1000 * per_cycle, 1),
            "assumption": f"{cores} cores x {mhz:.0f} MHz x {per_cycle} float32 FLOP/cycle "
                          f"({lanes} lanes, FMA, 2 units per core)"}


def measured_peak_gflops(threads: int, size: int = 2048, repeats: int = 4) -> float:
    """The best float32 GFLOP/s of a ``size`` x ``size`` matrix product in torch."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.rand(size, size), torch.rand(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - started)
    return round(2 * size ** 3 / best / 1e9, 1)


def describe_machine(threads: int) -> dict:
    import numpy

    info = _cpuinfo()
    versions = {"python": platform.python_version(), "numpy": numpy.__version__}
    for name in ("torch", "onnxruntime"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            versions[name] = None
    cores = usable_cores()
    return {
        "cpu": info.get("model name") or platform.processor() or platform.machine(),
        "usable_cores": cores, "threads": threads,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "system": platform.platform(),
        "versions": versions,
        "peak_gflops_measured_sgemm": measured_peak_gflops(threads),
        "peak_gflops_theoretical": theoretical_peak_gflops(min(cores, threads)),
    }
