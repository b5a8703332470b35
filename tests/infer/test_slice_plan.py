"""The liver stage's cheap pass (issue 18): the slices it samples, the range it keeps, and
that the liver it gives is the liver of running every slice, at the volume's ends too."""
from __future__ import annotations

import numpy as np
import pytest

from livseg.infer import Cascade, CascadeSettings, slice_plan

from .threshold_stages import BACKGROUND_HU, LIVER_HU, threshold_stage

EVERY_SLICE = CascadeSettings(liver_search_mm=0.0, liver_step_mm=0.0)


def test_the_stride_is_the_largest_at_most_the_step():
    assert slice_plan.stride(10.0, 1.6) == 6 and slice_plan.stride(10.0, 2.5) == 4
    assert slice_plan.stride(10.0, 5.0) == 2 and slice_plan.stride(10.0, 12.0) == 1
    assert slice_plan.stride(2.0, 0.8) == 2 and slice_plan.stride(2.0, 1.6) == 1
    assert slice_plan.stride(10.0, None) == 1 and slice_plan.stride(0.0, 1.0) == 1


def test_sampled_rows_always_end_on_the_last_slice():
    assert slice_plan.sampled_rows(0, 10, 4).tolist() == [0, 4, 8, 9]
    assert slice_plan.sampled_rows(3, 9, 3).tolist() == [3, 6, 8]
    assert slice_plan.sampled_rows(0, 1, 6).tolist() == [0]
    assert slice_plan.sampled_rows(5, 5, 2).tolist() == []


def test_the_range_is_widened_and_clipped_to_the_volume():
    rows = np.array([0, 6, 12, 18, 19])
    assert slice_plan.liver_range(rows, [False, True, True, False, False], 20, 4) == (2, 17)
    assert slice_plan.liver_range(rows, [True, False, False, False, True], 20, 4) == (0, 20)
    assert slice_plan.liver_range(rows, [False] * 5, 20, 4) is None


def test_interpolation_between_sampled_rows_is_linear():
    rows = np.array([2, 5, 6])
    values = np.array([0.0, 3.0, 9.0], np.float32)[:, None, None] * np.ones((1, 2, 2))
    out = slice_plan.interpolate_rows(rows, values, 2, 7)
    assert out[:, 0, 0].tolist() == pytest.approx([0.0, 1.0, 2.0, 3.0, 9.0])
    assert out.dtype == np.float32
    single = slice_plan.interpolate_rows(np.array([4]), values[:1] + 1, 4, 5)
    assert single[:, 0, 0].tolist() == [1.0]


def _counting(stage):
    """``stage`` whose runner counts the slices it was given."""
    seen = []
    logits = stage.runner.logits

    def counted(batch):
        seen.append(len(batch))
        return logits(batch)

    stage.runner.logits = counted
    return stage, seen


def _liver_rows(n: int, first: int, last: int) -> np.ndarray:
    hu = np.full((n, 40, 40), BACKGROUND_HU, np.float32)
    hu[first:last, 8:30, 10:32] = LIVER_HU
    return hu


@pytest.mark.parametrize("first,last", [(0, 30), (50, 80), (20, 40), (76, 80), (0, 3),
                                        (47, 50)])
def test_the_cheap_pass_keeps_the_liver_of_every_slice(first, last):
    """A liver touching the first or the last slice, in the middle, or a few slices thin
    round a sampled slice: the same mask as running every slice, for fewer slices. (A liver
    thinner than the sampling step, 10 mm, that no sample meets is not found.)"""
    hu = _liver_rows(80, first, last)
    full = Cascade(threshold_stage("liver"), None, EVERY_SLICE).liver_mask(hu, slice_mm=1.6)
    stage, seen = _counting(threshold_stage("liver"))
    cheap = Cascade(stage, None, CascadeSettings(liver_step_mm=0.0)).liver_mask(
        hu, slice_mm=1.6)
    assert full.any() and np.array_equal(cheap, full)
    assert sum(seen) < 60


def test_a_ct_without_liver_runs_only_the_samples():
    hu = np.full((150, 40, 40), BACKGROUND_HU, np.float32)
    stage, seen = _counting(threshold_stage("liver"))
    mask = Cascade(stage, None).liver_mask(hu, slice_mm=1.6)
    assert not mask.any() and sum(seen) == len(slice_plan.sampled_rows(0, 150, 6))


def test_a_single_slice_and_an_unknown_spacing_run_every_slice():
    one = _liver_rows(1, 0, 1)
    assert Cascade(threshold_stage("liver"), None).liver_mask(one, slice_mm=1.6)[0].any()
    hu = _liver_rows(30, 10, 20)
    stage, seen = _counting(threshold_stage("liver"))
    mask = Cascade(stage, None).liver_mask(hu, slice_mm=None)
    assert sum(seen) == 30 and mask[11:19].any(axis=(1, 2)).all()


def test_the_step_across_slices_interpolates_the_skipped_ones():
    hu = _liver_rows(60, 10, 50)
    stage, seen = _counting(threshold_stage("liver"))
    settings = CascadeSettings(liver_step_mm=2.0, liver_smoothing_mm=0.0)
    strided = Cascade(stage, None, settings).liver_mask(hu, slice_mm=0.5)
    full = Cascade(threshold_stage("liver"), None, CascadeSettings(
        liver_search_mm=0.0, liver_step_mm=0.0, liver_smoothing_mm=0.0)).liver_mask(
        hu, slice_mm=0.5)
    assert sum(seen) < 60 // 2
    inside = np.flatnonzero(full.any(axis=(1, 2)))
    assert strided[inside[0] + 4: inside[-1] - 3].any(axis=(1, 2)).all()
    assert (strided != full).any(axis=(1, 2)).sum() <= 6  # only near the two ends
