"""The onnxruntime runner's threads: asked for, from $LIVSEG_THREADS, or onnxruntime's own."""
from __future__ import annotations

import pytest

from livseg.errors import LivsegInputError
from livseg.infer.runners import OnnxRunner
from livseg.weights import shipped_weights


def _threads(runner: OnnxRunner) -> int:
    return runner.session.get_session_options().intra_op_num_threads


def test_threads_come_from_the_argument_then_the_environment(monkeypatch):
    model = shipped_weights("liver", "onnx", int8=True)
    monkeypatch.setenv("LIVSEG_THREADS", "3")
    assert _threads(OnnxRunner(model, 16)) == 3
    assert _threads(OnnxRunner(model, 16, threads=2)) == 2
    monkeypatch.delenv("LIVSEG_THREADS")
    assert _threads(OnnxRunner(model, 16)) == 0  # 0: onnxruntime decides (every core)
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("LIVSEG_THREADS", bad)
        with pytest.raises(LivsegInputError, match="LIVSEG_THREADS must be a positive"):
            OnnxRunner(model, 16)
