"""The on-device mode's lesion rules (static/lesions.js, run here under node) are the
server's (``Cascade.lesions``): the same settings by the same names, and the same tumour
mask on the same arrays."""
from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess

import numpy as np
import pytest

from livseg.infer import Cascade, CascadeSettings
from livseg.serve.app import STATIC

from ..conftest import skip_or_fail

SCRIPT = STATIC / "lesions.js"
#: x, y, z order in the script; (z, y, x) here
SPACING_ZYX = (2.5, 0.75, 0.75)
DRIVER = """
const fs = require("fs");
const rules = require(process.argv[2]);
const job = JSON.parse(fs.readFileSync(process.argv[3] + "/job.json"));
if (job.settings === undefined) { console.log(JSON.stringify(rules.SETTINGS)); process.exit(0); }
const read = (name, Type) =>
  new Type(fs.readFileSync(process.argv[3] + "/" + name).buffer.slice(0));
const [nz, ny, nx] = job.shape;
const tumour = new Uint8Array(nx * ny * nz);
const found = rules.lesionRules(read("probability", Uint8Array), read("hu", Float32Array),
                                tumour, read("liver", Uint8Array), nx, ny, nz, job.spacing,
                                job.settings);
fs.writeFileSync(process.argv[3] + "/tumour", tumour);
console.log(JSON.stringify(found));
"""


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        skip_or_fail("node is not installed (it comes with npm, which make setup uses)")
    return node


def _run(folder, job: dict) -> dict:
    (folder / "job.json").write_text(json.dumps(job))
    (folder / "driver.js").write_text(DRIVER)
    done = subprocess.run([_node(), str(folder / "driver.js"), str(SCRIPT), str(folder)],
                          capture_output=True, text=True, check=True, timeout=120)
    return json.loads(done.stdout)


def test_the_scripts_settings_are_the_cascades_defaults(tmp_path):
    script = _run(tmp_path, {})
    defaults = dataclasses.asdict(CascadeSettings())
    assert script == {name: defaults[name] for name in script}


def _case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A liver (100 HU) with lesions of every kind the rules tell apart: a sure dark one
    with a faint rim; a sure one as bright as the liver; a faint one (mean probability under
    0.8); a small one; one mostly outside the liver; a sure dark one in the liver whose rim
    runs out over a dark organ beside it; a sure dark one whose faint region is plain liver
    (grown, it is as bright as its liver)."""
    shape = (12, 64, 72)
    liver = np.zeros(shape, bool)
    liver[1:11, 4:40, 4:68] = True
    hu = np.where(liver, 100.0, 30.0).astype(np.float32)
    probability = np.zeros(shape, np.uint8)

    def lesion(z, y, x, value, hu_value):
        probability[z, y, x] = value
        hu[z, y, x] = hu_value

    lesion(slice(3, 8), slice(8, 22), slice(8, 22), 110, 50)  # rim (0.43)
    lesion(slice(4, 7), slice(10, 20), slice(10, 20), 240, 40)  # its sure core
    lesion(slice(4, 7), slice(10, 20), slice(28, 38), 240, 98)  # as bright as the liver
    lesion(slice(4, 7), slice(26, 36), slice(10, 20), 175, 40)  # faint: 0.69
    lesion(slice(5, 6), slice(28, 31), slice(28, 31), 240, 40)  # 9 voxels: 12.7 mm3
    lesion(slice(4, 8), slice(38, 56), slice(44, 52), 240, 40)  # mostly outside the liver
    lesion(slice(3, 9), slice(30, 62), slice(56, 66), 100, 35)  # a dark organ's rim ...
    lesion(slice(4, 7), slice(33, 38), slice(58, 64), 240, 40)  # ... and a seed in the liver
    lesion(slice(2, 10), slice(5, 25), slice(42, 55), 110, 100)  # faint plain liver ...
    lesion(slice(4, 7), slice(12, 18), slice(45, 50), 240, 40)  # ... round a sure dark seed
    return probability, hu, liver


@pytest.mark.parametrize("settings", [
    {},
    {"grow_threshold": 0.3},
    {"grow_threshold": 0.3, "grown_away_from_liver": "drop", "max_lesion_contrast_hu": -15.0},
    {"grow_threshold": 0.3, "max_lesion_contrast_hu": -15.0, "contrast_after_growth": False},
    {"tumour_threshold": 0.5, "min_lesion_probability": 0.0, "min_lesion_mm3": 10.0},
])
def test_the_script_draws_the_servers_lesions(tmp_path, settings):
    probability, hu, liver = _case()
    for name, array in (("probability", probability), ("hu", hu),
                        ("liver", liver.astype(np.uint8))):
        (tmp_path / name).write_bytes(array.tobytes())
    found = _run(tmp_path, {"shape": list(probability.shape), "settings": settings,
                            "spacing": list(SPACING_ZYX[::-1])})
    script = np.frombuffer((tmp_path / "tumour").read_bytes(), np.uint8).reshape(hu.shape)
    server = Cascade(None, None, CascadeSettings(**settings)).lesions(
        probability, hu, liver, SPACING_ZYX)
    assert server.any()
    np.testing.assert_array_equal(script.astype(bool), server)
    assert found["voxels"] == int(server.sum())
    assert found["outsideLiver"] == int((server & ~liver).sum())
