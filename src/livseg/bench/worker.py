"""Benchmark work in a process of its own, so that its peak memory is its own.

``python -m livseg.bench.worker ENGINE MODEL SIZE BATCH SECONDS THREADS`` times one network
on one engine and prints ``{"ms_per_slice": ..., "peak_rss_mb": ...}``; MODEL is a saved
network (torch) or an .onnx file (onnxruntime). ``python -m livseg.bench.worker predict CT
OUT BACKEND THREADS PRECISION`` runs what ``livseg predict CT -o OUT`` runs, through the
API (``Cascade.shipped``, ``predict_file``), and prints its peak memory and the seconds of
what the report does not time: the imports and the loading of the models.

Peak memory is the kernel's high-water mark of this process's own address space (VmHWM):
``getrusage`` would also count the RSS the parent had when it forked us, as Linux carries it
over ``exec``.
"""
from __future__ import annotations

import time

STARTED = time.perf_counter()  # before the imports that predict pays for

import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402


def time_batches(run, batch: np.ndarray, seconds: float) -> float:
    """Median milliseconds per slice over repeated batches (at least 3, about ``seconds``),
    after one warm-up batch."""
    run(batch)
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < 3 or time.perf_counter() - started < seconds:
        begin = time.perf_counter()
        run(batch)
        times.append(time.perf_counter() - begin)
    return float(np.median(times)) * 1000 / len(batch)


def _torch_runner(path: str, threads: int):
    import torch

    from livseg.infer.runners import TorchRunner
    from livseg.models import build_model

    torch.set_num_threads(threads)
    saved = torch.load(path, map_location="cpu", weights_only=True)
    arguments = dict(saved["build_args"])
    model = build_model(arguments.pop("name"), **arguments)
    model.load_state_dict(saved["state"])
    return TorchRunner(model).logits, int(saved["build_args"]["in_channels"])


def _onnx_runner(path: str, threads: int):
    from livseg.infer.runners import OnnxRunner

    runner = OnnxRunner(path, size_multiple=1, threads=threads)  # sizes given are multiples
    channels = runner.session.get_inputs()[0].shape[1]
    return runner.logits, int(channels)


def main(engine: str, path: str, size: int, batch: int, seconds: float, threads: int) -> dict:
    run, channels = (_torch_runner if engine == "torch" else _onnx_runner)(path, threads)
    images = np.random.default_rng(0).random((batch, channels, size, size), np.float32)
    ms = time_batches(run, images, seconds)
    return {"ms_per_slice": round(ms, 3), "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB (VmHWM; ru_maxrss where /proc is absent)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def predict(ct: str, out: str, backend: str, threads: int, precision: str) -> dict:
    """``livseg predict CT -o OUT`` with the shipped models (``precision``: default, int8 or
    float32) on ``backend``: its peak memory, and the seconds of its imports and of loading
    its models (the report times each later step)."""
    from livseg.infer import Cascade
    from livseg.predict import predict_file

    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
    imported = time.perf_counter()
    int8 = {"default": None, "int8": True, "float32": False}[precision]
    cascade = Cascade.shipped(backend=backend, threads=threads, int8=int8)
    loaded = time.perf_counter()
    predict_file(Path(ct), Path(out), cascade)
    return {"peak_rss_mb": peak_rss_mb(), "imports": round(imported - STARTED, 4),
            "model_loading": round(loaded - imported, 4)}


if __name__ == "__main__":
    if sys.argv[1] == "predict":
        ct, out, backend, threads, precision = sys.argv[2:7]
        print(json.dumps(predict(ct, out, backend, int(threads), precision)))
    else:
        engine, path, size, batch, seconds, threads = sys.argv[1:7]
        print(json.dumps(main(engine, path, int(size), int(batch), float(seconds),
                              int(threads))))
