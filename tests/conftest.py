"""Shared fixtures: tiny synthetic volumes, temporary files, and the optional real data."""
from __future__ import annotations

import collections
import functools
import os
from pathlib import Path

import numpy as np
import pytest

from livseg.io import Volume
from livseg.phantom import Phantom, make_phantom

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
#: CI (.ci/run) sets this: there, missing real data or a missing browser fails the run
#: instead of skipping tests.
REQUIRE_ALL = os.environ.get("LIVSEG_REQUIRE_DATA") == "1"
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs one worker per core: each worker (and each process it starts) uses one
    # thread, instead of every worker's networks spinning on every core
    os.environ.setdefault("LIVSEG_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_collection_modifyitems(config, items) -> None:
    """The costliest files first, by a rough weight (a test marked ``slow`` counts as ten
    others; a stable sort: each file keeps its own order). Under ``--dist loadfile
    --no-loadscope-reorder`` the long files then start first and the short ones fill the
    end, instead of one worker finishing a long file while the other waits (xdist's own
    reordering, by the number of tests in a file, would put 52 quick orientation cases
    before the golden run)."""
    weight = collections.Counter()
    for item in items:
        weight[item.path] += 10 if item.get_closest_marker("slow") else 1
    items.sort(key=lambda item: -weight[item.path])


def skip_or_fail(reason: str) -> None:
    """Skip the test on a user's machine; fail it in CI (LIVSEG_REQUIRE_DATA=1)."""
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (LIVSEG_REQUIRE_DATA=1: required here)")
    pytest.skip(reason)


def load_tool(name: str):
    """A script of tools/ as a module (the tools are not a package)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "tools" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shared_file(relative: str) -> Path:
    """A file of ../shared/data, or skip the test when the real data is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        skip_or_fail(f"real data not present: {path}")
    return path


@functools.lru_cache(maxsize=4)
def _phantom(seed: int, n_tumours: int) -> Phantom:
    return make_phantom(shape=(24, 64, 72), spacing=(4.0, 4.5, 7.0), n_tumours=n_tumours,
                        seed=seed)


@pytest.fixture
def small_phantom() -> Phantom:
    """A 24x64x72 phantom with three tumours, anisotropic voxels (cached, do not mutate)."""
    return _phantom(3, 3)


@pytest.fixture
def oblique_volume() -> Volume:
    """An odd-sized volume with anisotropic spacing and a permuted, flipped direction."""
    rng = np.random.default_rng(0)
    direction = np.array([[0, 0, -1], [-1, 0, 0], [0, 1, 0]], dtype=float)  # columns: i, j, k
    return Volume(rng.integers(-1000, 1500, size=(7, 9, 11)).astype(np.int16),
                  spacing=(0.7, 1.3, 2.9), origin=(12.5, -40.25, 101.0),
                  direction=tuple(direction.ravel()))
