"""Time and peak memory of `livseg predict` on hostile files, each in a fresh process.

Run from the repository root: `python tools/measure_hostile.py`. The files are made by
tests/io/hostile_files.py (the ones the tests use) and, when ../shared/data is present,
from real CTs (ircad07 with one byte flipped and stored without rescale, totalseg_dicom20
without RescaleSlope/Intercept, a 30000x30000x1 bomb). Prints a Markdown table.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pydicom

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"

from tests.io import hostile_files as hostile  # noqa: E402
from tests.livseg_process import run_livseg  # noqa: E402

from livseg.io import read_volume, write_volume  # noqa: E402


def measure(name: str, path: Path, out: Path) -> str:
    code, stderr, seconds, peak = run_livseg(["predict", str(path), "-o", str(out)])
    said = stderr.strip().splitlines()
    size = path.stat().st_size if path.is_file() else sum(p.stat().st_size
                                                          for p in path.iterdir())
    return (f"| {name} | {size / 2**20:.2f} MB | {code} | {seconds:.2f} | "
            f"{peak / 2**20:.0f} MB | {(said or [''])[-1][:110]} |")


def real_cases(folder: Path) -> dict[str, Path]:
    if not SHARED.is_dir():
        return {}
    ircad = SHARED / "ircad07" / "volume.nii.gz"
    flipped = bytearray(ircad.read_bytes())
    flipped[len(flipped) // 2] ^= 0x01
    (folder / "ircad07_flipped.nii.gz").write_bytes(bytes(flipped))
    ct = read_volume(ircad)
    raw = np.clip(ct.array.astype(np.int32) + 1024, 0, 4095).astype(np.uint16)
    write_volume(ct.with_array(raw), folder / "ircad07_uint16.nii.gz")
    series = folder / "dicom20_no_rescale"
    series.mkdir()
    for source in sorted((SHARED / "totalseg_dicom20" / "dicom").iterdir()):
        header = pydicom.dcmread(source)
        for tag in ("RescaleSlope", "RescaleIntercept"):
            if tag in header:
                delattr(header, tag)
        header.save_as(series / source.name)
    bomb = hostile.gzip_of_zeros(folder / "bomb30000.nii.gz",
                                 hostile.nifti_header((30000, 30000, 1)), 30000 * 30000)
    return {"ircad07 with one byte flipped": folder / "ircad07_flipped.nii.gz",
            "ircad07 as uint16 without rescale": folder / "ircad07_uint16.nii.gz",
            "totalseg_dicom20 without rescale": series,
            ".nii.gz declaring 30000x30000x1": bomb}


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="livseg-hostile-"))
    try:
        made = {name: make(folder / name) for name, make in [
            ("nifti_bomb", hostile.nifti_bomb), ("huge_dicom", hostile.huge_dicom),
            ("nifti_lying_small", hostile.nifti_lying_small),
            ("detached_mha", hostile.detached_mha), ("detached_nrrd", hostile.detached_nrrd),
            ("crc_corrupt", hostile.crc_corrupt), ("unrescaled_ct", hostile.unrescaled_ct),
            ("unrescaled_dicom", hostile.unrescaled_dicom), ("nan_nifti", hostile.nan_nifti),
            ("colon_mha", hostile.colon_mha), ("nifti2", hostile.nifti2),
            ("sizeof_347_nan", lambda f: hostile.nifti_patched(
                hostile.nan_nifti(f), 0, "i", 347, "sizeof347.nii.gz")),
            ("long_2000_slices", lambda f: hostile.gzip_of_zeros(
                f / "long.nii.gz", hostile.nifti_header((512, 512, 2000), 4, 16),
                512 * 512 * 2000 * 2))]
            if (folder / name).mkdir() is None}
        made |= real_cases(folder)
        print("| file | size | exit | seconds | peak memory | stderr |\n|---|---|---|---|---|---|")
        for name, path in made.items():
            print(measure(name, path, folder / "out"), flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
