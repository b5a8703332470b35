"""Data shipped in the package: the demo's and the web page's example CT."""
from __future__ import annotations

from pathlib import Path

#: A real abdominal CT: TotalSegmentator's test fixture (Apache-2.0; LICENSE and ORIGIN.md
#: beside it). Its liver reference was made by the TotalSegmentator model, not an expert.
EXAMPLE_CT = Path(__file__).resolve().parent / "totalseg_ct_sm"
EXAMPLE_FILES = ("volume.nii.gz", "segmentation_model_generated.nii.gz")
