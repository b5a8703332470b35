"""The wheel (issue 19): it holds the weights, the ONNX files and the web page; its plain
install needs no torch; installed without the source tree, `livseg demo` and `livseg
predict` run. Built with `python -m build` (in the dev extra, so `make test` has it)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from livseg.io import write_volume
from livseg.phantom import make_phantom

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation",
                           "--outdir", str(out), str(ROOT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    (built,) = out.glob("livseg-*.whl")
    return built


def test_the_wheel_holds_the_models_and_the_web_page(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {"livseg/weights/SHA256SUMS", "livseg/weights/liver_mobileunet.pt",
               "livseg/weights/onnx/liver.onnx", "livseg/weights/onnx/liver.int8.onnx",
               "livseg/weights/onnx/tumour.onnx", "livseg/weights/onnx/tumour.json",
               "livseg/serve/static/index.html", "livseg/serve/static/ondevice.js",
               "livseg/data/totalseg_ct_sm/volume.nii.gz", "livseg/data/totalseg_ct_sm/LICENSE",
               "livseg/data/totalseg_ct_sm/segmentation_model_generated.nii.gz",
               "livseg/data/totalseg_ct_sm/ORIGIN.md"}
    assert shipped <= names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]  # make test's
    vendored = ROOT / "src" / "livseg" / "serve" / "static" / "vendor"
    for path in vendored.glob("*") if vendored.is_dir() else ():
        assert f"livseg/serve/static/vendor/{path.name}" in names


def test_its_plain_install_needs_no_torch(wheel):
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        requires = [line.split(":", 1)[1].strip() for line in
                    archive.read(metadata).decode().splitlines()
                    if line.startswith("Requires-Dist:")]
    plain = [r for r in requires if "extra ==" not in r]
    assert any(r.startswith("onnxruntime") for r in plain)
    assert not [r for r in plain if r.split()[0].split(">")[0] in ("torch", "matplotlib")]
    assert any(r.startswith("torch") and 'extra == "train"' in r for r in requires)


def test_installed_without_the_source_tree_demo_and_predict_run(wheel, tmp_path):
    """A fresh environment holding only the wheel (its dependencies come from this one's
    site-packages, added by a path file, which never runs this one's editable install)."""
    fresh = tmp_path / "env"
    venv.EnvBuilder(with_pip=False).create(fresh)
    python = fresh / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print("
                                "sysconfig.get_paths()['purelib'])"], capture_output=True,
                               text=True, check=True).stdout.strip())
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                                "--no-compile", "--target", str(site), str(wheel)],
                               capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr[-2000:]
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def livseg(*arguments):
        return subprocess.run([str(python), "-c", "import sys, livseg.cli; print(livseg.__file__,"
                               " file=sys.stderr); code = livseg.cli.main(sys.argv[1:]); "
                               "print('torch imported' if 'torch' in sys.modules else "
                               "'no torch', file=sys.stderr); sys.exit(code)",
                               *arguments], cwd=work, env=env, capture_output=True, text=True)

    demo = livseg("demo", "--out", "demo")
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert str(site) in demo.stderr and str(ROOT) not in demo.stderr  # the wheel's livseg
    assert "no torch" in demo.stderr
    # the packaged real CT and the phantom, each a row of the table
    assert "totalseg_ct_sm" in demo.stdout and "phantom" in demo.stdout
    assert (work / "demo" / "totalseg_ct_sm" / "overlay.png").is_file()
    ct = write_volume(make_phantom(shape=(10, 80, 80), spacing=(3.5, 3.5, 12.0), n_tumours=1,
                                   seed=2).ct, work / "small.nii.gz")  # quicker than the demo CT
    predicted = livseg("predict", str(ct), "-o", "out")
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    report = json.loads((work / "out" / "report.json").read_text())
    assert report["liver_volume_ml"] > 100
    assert all(Path(site, "livseg", "weights", "onnx", m["file"]).is_file()
               for m in report["models"])
