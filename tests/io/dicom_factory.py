"""Writing small synthetic DICOM CT series for reader tests: the package's own writer
(``livseg.io.dicom_write``), whose every header option the tests vary."""
from __future__ import annotations

from livseg.io.dicom_write import write_ct_slices as write_series

__all__ = ["write_series"]
