"""The liver -> tumour cascade on one volume (DESIGN.md), as a Python API.

canonical orientation -> liver stage on axial slices resized to its input size -> largest
component, holes filled -> the liver's box plus a margin in mm -> tumour stage on that box
at its pixel size -> tumours inside the slightly grown liver, small lesions removed ->
label map 0/1/2 -> box and orientation undone -> the input's exact grid.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from livseg.errors import LivsegInputError
from livseg.infer import postprocess, slice_plan
from livseg.infer.anatomy_check import (
    BodyFrame,
    body_frame,
    liver_on_left,
    liver_warnings,
    spine_in_front,
)
from livseg.infer.lesions import SHELL_MM
from livseg.infer.runners import choose_backend
from livseg.infer.stage import CANVAS_MODES, Stage
from livseg.io.volume import Volume
from livseg.preprocess import (
    BoundingBox,
    from_canonical,
    liver_hu_offset,
    mask_bbox,
    resize_in_plane,
    shape_at_pixel_size,
    to_canonical,
    uncrop,
)

log = logging.getLogger(__name__)

#: Whether each shipped stage runs as its int8 quantisation by default (onnxruntime): the
#: liver stage's int8 masks agree with its float32 ones (liver Dice >= 0.996 on ircad07,
#: lits_small, totalseg_ct_sm and a phantom) at three quarters of the time; the tumour
#: stage's int8 finds fewer lesions at IoU > 0.5 on the validation volumes, so it stays
#: float32 (docs/speed.md).
DEFAULT_INT8 = {"liver": True, "tumour": False}
#: Slices of the middle of the volume on which the liver stage probes for a mirrored image.
MIRROR_PROBE_SLICES = 12
#: The mirrored slices must show this many times more liver than the slices as they are.
MIRROR_RATIO = 1.5


GROWN_AWAY_CHOICES = ("keep", "seed", "drop")


@dataclass(frozen=True)
class CascadeSettings:
    # flip test-time augmentation (each stage with the flips it was trained with): chosen
    # on the split's validation volumes (docs/benchmark_lits_vol256.md)
    tta: bool = True
    # ... and the tumour stage's flipped pass only on the slices where its first pass exceeds
    # this probability somewhere (None: on every slice): 28 % of the tumour boxes' slices
    # skip it over the 25 lits_vol256 volumes (14 % on ircad07) with the pooled out-of-fold
    # table unchanged but 0.002 of Dice per case (issue 31; docs/speed.md)
    tta_uncertain_above: float | None = 0.01
    batch_size: int = 8  # measured fastest on 2 CPU cores (larger batches: slower)
    roi_margin_mm: float = 10.0  # must exceed liver_margin_mm
    # across slices the tumour stage's box reaches this far beyond the liver's first and
    # last slice (None: roi_margin_mm): a tumour under the dome, where the liver stage
    # stops short of the liver's top, is then still seen whole
    # (30: chosen on the pooled out-of-fold table of issue 30, cv/README.md)
    roi_z_margin_mm: float | None = 30.0
    liver_margin_mm: float = 3.0  # "near the liver": within this distance of its mask
    # chosen on the split's validation volumes (tools/liver_stage_variants.py,
    # tools/tumour_lesion_rules.py; the tables are in docs/benchmark_lits_vol256.md)
    liver_smoothing_mm: float = 8.0  # liver probabilities averaged across slices over this
    tumour_threshold: float = 0.6  # on the tumour stage's probability
    min_lesion_mm3: float = 100.0
    min_lesion_probability: float = 0.8  # a lesion's mean tumour probability must reach this
    # drop lesions less than 15 HU darker than the liver around them (pooled out of fold)
    max_lesion_contrast_hu: float | None = -15.0
    min_share_near_liver: float = 0.5  # a lesion is kept (whole) when this share is near it
    # hysteresis: each kept lesion grows over the voxels connected to it whose probability
    # exceeds this (None: no growth), so that its fainter rim is not cut (pooled out of fold)
    grow_threshold: float | None = 0.2
    # a lesion that, grown, no longer lies mostly by the liver (min_share_near_liver): "keep"
    # it grown, keep only its "seed" (the lesion before growth), or "drop" it: growth that
    # runs out of the liver has found an organ next to it, not the tumour's rim
    grown_away_from_liver: str = "drop"
    # the contrast rule (max_lesion_contrast_hu) checked again once the lesions have grown:
    # a lesion whose growth made it no darker than that against its liver keeps only its
    # seeds (the lesions that passed it), so every lesion kept holds the rule the report
    # states. No lesion of the pooled out-of-fold table changes at the shipped threshold
    contrast_after_growth: bool = True
    # the liver stage's cheap pass and its sampling across slices (infer/slice_plan.py):
    # chosen by the masks' agreement with running every slice (docs/speed.md)
    liver_search_mm: float = 10.0  # the cheap pass samples slices about this far apart
    liver_step_mm: float = 2.0  # then the full stage runs on slices at most this far apart
    # where the tumour stage's passes see its box (Stage.probability): "none", every pass
    # the box alone; "all", centred on a canvas of the network's training size, as in
    # training; "flipped", the first pass alone and the flipped one on the canvas (two
    # placements as well as two flips); "both", each flip both ways (twice the passes).
    # Pooled out of fold (issue 30, cv/README.md), thr 0.6: Dice per case none 0.486,
    # all 0.487, flipped 0.495, both 0.497; lesion F1 0.432, 0.438, 0.447, 0.460; both
    # doubles the tumour stage's time, flipped costs about 5 % of it
    tumour_canvas: str = "flipped"

    def __post_init__(self) -> None:
        if self.tumour_canvas not in CANVAS_MODES:
            raise LivsegInputError(f"tumour_canvas must be one of {', '.join(CANVAS_MODES)}, "
                                   f"not {self.tumour_canvas!r}")
        if self.grown_away_from_liver not in GROWN_AWAY_CHOICES:
            raise LivsegInputError(f"grown_away_from_liver must be one of "
                                   f"{', '.join(GROWN_AWAY_CHOICES)}, not "
                                   f"{self.grown_away_from_liver!r}")
        if self.grow_threshold is not None and not \
                0 < self.grow_threshold < self.tumour_threshold:
            raise LivsegInputError(f"the lesions' growth threshold ({self.grow_threshold:g}) "
                                   f"must lie between 0 and the tumour threshold "
                                   f"({self.tumour_threshold:g})")


@dataclass
class CascadeResult:
    labels: Volume  # uint8 0/1/2 on the input's grid
    models: list[dict]
    seconds: dict[str, float] = field(default_factory=dict)
    roi: BoundingBox | None = None  # the tumour stage's box, in canonical array indices
    notes: list[str] = field(default_factory=list)  # warnings for the report


@dataclass
class LiverSearch:
    """The cheap pass of the liver stage: the sampled slice ``rows`` (``every`` slices
    apart; none when every slice is to be run) and the stage's probability on them."""
    rows: np.ndarray
    probability: np.ndarray  # (len(rows), *stage size) float32
    every: int

    def has_liver(self) -> np.ndarray:
        return (self.probability > 0.5).any(axis=(1, 2))


def smoothing_slices(smoothing_mm: float, slice_mm: float | None) -> int:
    """The odd number of slices nearest above ``smoothing_mm`` / ``slice_mm`` (at least 1;
    3 when the spacing is unknown)."""
    if smoothing_mm <= 0:
        return 1
    if not slice_mm:
        return 3
    return int(round(smoothing_mm / float(slice_mm))) | 1


class Cascade:
    """Two loaded stages; ``segment`` runs them on volumes (load once, segment many)."""

    def __init__(self, liver: Stage, tumour: Stage | None = None,
                 settings: CascadeSettings = CascadeSettings()):
        self.liver, self.tumour, self.settings = liver, tumour, settings

    @classmethod
    def shipped(cls, device: str = "cpu", settings: CascadeSettings = CascadeSettings(),
                liver_path=None, tumour_path=None, backend: str = "auto",
                threads: int | None = None, int8: bool | None = None) -> Cascade:
        """The cascade with the weights shipped in the package (or the given checkpoints or
        exported models) on ``backend`` ("auto": onnxruntime on CPU when installed). The
        shipped models are the int8 quantisations with ``int8``, the float32 ones with
        ``int8=False``, and by default (None, onnxruntime) those of ``DEFAULT_INT8``."""
        from livseg.weights import shipped_weights, verify_checksum

        stages = []
        for name, path in (("liver", liver_path), ("tumour", tumour_path)):
            chosen = choose_backend(backend, device, path)
            quantised = DEFAULT_INT8[name] and chosen == "onnx" if int8 is None else int8
            path = path or shipped_weights(name, chosen, quantised)
            stage = Stage.load(path, device, chosen, threads, stage=name)
            verify_checksum(path, stage.sha256)
            stages.append(stage)
        return cls(*stages, settings=settings)

    def segment(self, volume: Volume,
                progress: Callable[[str, float], None] | None = None) -> CascadeResult:
        """Label map of ``volume`` on its own grid; ``progress(step, fraction)`` is told."""
        seconds: dict[str, float] = {}
        clock = time.perf_counter()
        canonical, reorientation = to_canonical(volume, copy=False)
        hu = canonical.array  # kept in its own dtype: slices become float32 batch by batch
        spacing = canonical.spacing_zyx

        def tick(step: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            seconds[step] = round(now - clock, 4)
            clock = now

        frame = body_frame(hu)
        raw_liver, flips, notes = self.oriented_liver(hu, frame, progress, spacing[0])
        self.liver.release()
        tick("liver_stage")
        liver = postprocess.clean_liver(raw_liver)
        if 2 not in flips and liver_on_left(liver, frame):
            notes.append("the liver found lies on the patient's left: the image may be "
                         "mirrored against its header's orientation, and the liver stage "
                         "relies on that orientation (check the header; or situs inversus)")
        notes += liver_warnings(raw_liver, liver, spacing)
        del raw_liver
        for note in notes:
            log.warning("%s", note)
        tick("liver_postprocess")
        roi = self.tumour_box(liver, spacing)
        labels = liver.view(np.uint8)  # the liver becomes the label map: no second grid
        del liver
        if self.tumour is not None and roi is not None:
            # views of the box, not copies: a huge volume's box is most of it
            roi_liver = labels[roi.slices] == 1
            probability = self.tumour_probability(hu[roi.slices], spacing, progress, roi_liver)
            self.tumour.release()
            tick("tumour_stage")
            tumour = self.lesions(probability, hu[roi.slices], roi_liver, spacing)
            del probability
            labels[roi.slices] = postprocess.label_map(roi_liver, tumour)
            tick("tumour_postprocess")
        labels = from_canonical(labels, volume, reorientation)
        models = [s.info() for s in (self.liver, self.tumour) if s is not None]
        return CascadeResult(labels, models, seconds, roi, notes)

    def tumour_box(self, liver: np.ndarray, spacing_zyx) -> BoundingBox | None:
        """The tumour stage's box: the liver's, grown by ``roi_margin_mm`` in-plane and by
        ``roi_z_margin_mm`` across slices."""
        margin = self.settings.roi_margin_mm
        z_margin = margin if self.settings.roi_z_margin_mm is None else \
            self.settings.roi_z_margin_mm
        return mask_bbox(liver, spacing_zyx, (z_margin, margin, margin))

    def oriented_liver(self, hu: np.ndarray, frame: BodyFrame | None, progress=None,
                       slice_mm: float | None = None
                       ) -> tuple[np.ndarray, tuple[int, ...], list[str]]:
        """The liver stage's output on canonical ``hu`` (its body in ``frame``), the axes
        the image was flipped along for it (the output is flipped back) and notes: an
        image whose anatomy contradicts its header is segmented the right way round.

        The liver stage relies on the canonical orientation. When the spine lies in front
        of the body's centre the image is upside down: the stage runs on it flipped front
        to back. Whether it is also mirrored is probed on a few slices of the cheap pass:
        when the stage finds much more liver in the mirrored slices than in the slices as
        they are, the image is mirrored (or the anatomy is, situs inversus: either way the
        liver is then segmented where it lies) and the stage runs on it mirrored.
        """
        flips: tuple[int, ...] = (1,) if spine_in_front(hu, frame) else ()
        notes = []
        if flips:
            notes.append("the spine lies in front of the body's centre: the image is upside "
                         "down against its header's orientation; the liver stage ran on it "
                         "turned front to back, and the result was turned back (check the "
                         "header)")
        view = np.flip(hu, flips) if flips else hu
        search = self.liver_search(view, slice_mm)
        if self._looks_mirrored(view, search):
            flips = (*flips, 2)
            view, search = np.flip(hu, flips), None
            notes.append("the liver lies on the patient's left: the image is mirrored "
                         "against its header's orientation (or the anatomy is, situs "
                         "inversus); the liver stage ran on it mirrored, and the result was "
                         "mirrored back")
        mask = self.liver_mask(view, progress, slice_mm, search)
        return (np.flip(mask, flips) if flips else mask), flips, notes

    def _looks_mirrored(self, hu: np.ndarray, search: LiverSearch,
                        probes: int = MIRROR_PROBE_SLICES) -> bool:
        """True when the liver stage finds over MIRROR_RATIO times more liver in up to
        ``probes`` slices of the middle of the volume mirrored left-right than in the same
        slices as they are (the cheap pass's, when it sampled the middle)."""
        if len(hu) < 3:
            return False
        middle = (search.rows >= len(hu) * 0.2) & (search.rows <= len(hu) * 0.8 - 1)
        if middle.sum() >= 2:
            picked = np.flatnonzero(middle)
            picked = picked[np.unique(np.linspace(0, len(picked) - 1, probes).astype(int))]
            chosen, as_is = search.rows[picked], int((search.probability[picked] > 0.5).sum())
        else:
            chosen = np.unique(np.linspace(len(hu) * 0.2, len(hu) * 0.8 - 1, probes)
                               .astype(int))
            as_is = self._count_liver(hu[chosen])
        return self._count_liver(hu[chosen][:, :, ::-1]) > MIRROR_RATIO * max(as_is, 1)

    def _count_liver(self, block: np.ndarray) -> int:
        """Liver pixels the stage finds in ``block``'s slices, each standing alone."""
        return int((self._rows_probability(block, np.arange(len(block))) > 0.5).sum())

    def liver_search(self, hu: np.ndarray, slice_mm: float | None = None) -> LiverSearch:
        """The cheap pass: the liver stage on slices about ``liver_search_mm`` apart (a
        single-slice stage with a known spacing; otherwise no slice is sampled and the
        search finds the whole volume)."""
        every = slice_plan.stride(self.settings.liver_search_mm, slice_mm)
        if self.liver.context_mm is not None or every == 1:
            return LiverSearch(np.zeros(0, int), np.zeros((0, *self.liver.size), np.float32),
                               every)
        rows = slice_plan.sampled_rows(0, len(hu), every)
        return LiverSearch(rows, self._rows_probability(hu, rows), every)

    def liver_mask(self, hu: np.ndarray, progress=None, slice_mm: float | None = None,
                   search: LiverSearch | None = None) -> np.ndarray:
        """Liver stage: the slices that may hold liver (``liver_search``) resized to the
        stage's size and predicted, every slice or (a single-slice stage) those at most
        ``liver_step_mm`` apart and the rest interpolated; the probabilities averaged
        across slices over ``liver_smoothing_mm`` (at the small size: averaging and
        resizing are both linear, so their order does not matter), resized back and
        thresholded at 0.5."""
        stage, settings = self.liver, self.settings
        search = search if search is not None else self.liver_search(hu, slice_mm)
        smoothing = smoothing_slices(settings.liver_smoothing_mm, slice_mm)
        mask = np.zeros(hu.shape, bool)
        if len(search.rows):
            span = slice_plan.liver_range(search.rows, search.has_liver(), len(hu),
                                          search.every + smoothing // 2 + 1)
            if span is None:
                return mask
        else:
            span = (0, len(hu))
        start, stop = span
        if stage.context_mm is None:
            rows = slice_plan.sampled_rows(start, stop,
                                           slice_plan.stride(settings.liver_step_mm, slice_mm))
            known = np.isin(rows, search.rows)
            values = np.empty((len(rows), *stage.size), np.float32)
            values[known] = search.probability[np.isin(search.rows, rows)]
            values[~known] = self._rows_probability(hu, rows[~known], progress)
            small = slice_plan.interpolate_rows(rows, values, start, stop)
        else:
            small = np.empty((stop - start, *stage.size), np.float32)
            for first, last, probability in self._in_batches(stage, hu[start:stop], stage.size,
                                                             "liver", progress, slice_mm):
                small[first:last] = probability
        if smoothing > 1:
            # in place (scipy filters each line through a buffer): no second float32 stack
            ndimage.uniform_filter1d(small, smoothing, axis=0, mode="nearest", output=small)
        for first in range(0, stop - start, settings.batch_size):
            block = small[first:first + settings.batch_size]
            mask[start + first:start + first + len(block)] = resize_in_plane(
                block, hu.shape[1:], is_label=False) > 0.5
        return mask

    def _rows_probability(self, hu: np.ndarray, rows: np.ndarray, progress=None
                          ) -> np.ndarray:
        """The liver stage's probability on the slices ``rows`` of ``hu`` at its size, each
        slice standing alone (a 2.5D stage sees it repeated as its own neighbours)."""
        stage, batch = self.liver, self.settings.batch_size
        out = np.empty((len(rows), *stage.size), np.float32)
        for first in range(0, len(rows), batch):
            block = resize_in_plane(hu[rows[first:first + batch]], stage.size, is_label=False)
            out[first:first + len(block)] = stage.probability(block, batch_size=batch,
                                                              tta=self.settings.tta)
            if progress:
                progress("liver", min(first + batch, len(rows)) / len(rows))
        return out

    def tumour_probability(self, roi_hu: np.ndarray, spacing_zyx, progress=None,
                           roi_liver: np.ndarray | None = None) -> np.ndarray:
        """Tumour stage on the liver's box, at the stage's pixel size and back, batch by
        batch (never the whole box in float32): its probability as uint8 (255 = 1). A stage
        anchored to the liver's brightness needs the box's liver, ``roi_liver``."""
        stage = self.tumour
        offset = 0.0
        if stage.liver_anchor_hu is not None:
            if roi_liver is None:
                raise ValueError("this tumour stage is anchored to the liver's HU: give "
                                 "roi_liver")
            offset = liver_hu_offset(roi_hu, roi_liver, stage.liver_anchor_hu)
        shape = roi_hu.shape[1:]
        if stage.pixel_mm:
            shape = shape_at_pixel_size(shape, spacing_zyx[1:], stage.pixel_mm)
        scaled = np.empty(roi_hu.shape, np.uint8)
        for start, stop, probability in self._in_batches(
                stage, roi_hu, shape, "tumour", progress, spacing_zyx[0],
                tta_above=self.settings.tta_uncertain_above, hu_offset=offset,
                canvas=self.settings.tumour_canvas):
            back = resize_in_plane(probability, roi_hu.shape[1:], is_label=False)
            scaled[start:stop] = np.rint(np.clip(back, 0, 1) * 255)
        return scaled

    def lesions(self, probability: np.ndarray, roi_hu: np.ndarray, roi_liver: np.ndarray,
                spacing_zyx) -> np.ndarray:
        """The tumour mask of the ROI: the stage's probability above the threshold, lesions
        that lie mostly outside the slightly grown liver, too small, too faint or brighter
        than their liver (``CascadeSettings``) left out, the others kept whole (and grown
        over their fainter rim with ``grow_threshold``). The ROI
        (the liver's box + a margin wider than the liver margin) holds all the liver in
        reach, so the distances to the liver are exact."""
        settings = self.settings
        found = probability > 255 * settings.tumour_threshold  # rint(255 p) > 127.5: p >= 0.5
        tumour = postprocess.clean_tumours(found, roi_liver, spacing_zyx,
                                           settings.liver_margin_mm, settings.min_lesion_mm3,
                                           settings.min_share_near_liver)
        if settings.min_lesion_probability > 0 or settings.max_lesion_contrast_hu is not None:
            tumour = self._filtered(tumour, probability, roi_hu, roi_liver, spacing_zyx)
        if settings.grow_threshold is not None:
            grown = self._grown(tumour, probability, roi_liver, spacing_zyx)
            if settings.contrast_after_growth and settings.max_lesion_contrast_hu is not None:
                grown = self._faint_growth_undone(grown, tumour, probability, roi_hu,
                                                  roi_liver, spacing_zyx)
            tumour = grown
        return tumour

    def _faint_growth_undone(self, grown: np.ndarray, seeds: np.ndarray,
                             probability: np.ndarray, roi_hu: np.ndarray,
                             roi_liver: np.ndarray, spacing_zyx) -> np.ndarray:
        """``grown`` with each lesion whose contrast to its liver is now above
        ``max_lesion_contrast_hu`` cut back to the ``seeds`` inside it."""
        box, candidates = _candidates_in_box(grown, probability, roi_hu, roi_liver,
                                             spacing_zyx)
        if box is None:
            return grown
        out = grown.copy()
        for candidate in candidates:
            if candidate.contrast_hu is not None and \
                    candidate.contrast_hu > self.settings.max_lesion_contrast_hu:
                where = tuple(candidate.voxels.T)
                out[box.slices][where] = seeds[box.slices][where]
        return out

    def _grown(self, seeds: np.ndarray, probability: np.ndarray, roi_liver: np.ndarray,
               spacing_zyx) -> np.ndarray:
        """``seeds`` grown over their rim (``grow_threshold``); a grown lesion that no longer
        lies mostly by the liver is handled as ``grown_away_from_liver`` says."""
        settings = self.settings
        grown = postprocess.grow_lesions(seeds, probability, settings.grow_threshold)
        if settings.grown_away_from_liver == "keep":
            return grown
        by_liver = postprocess.clean_tumours(grown, roi_liver, spacing_zyx,
                                             settings.liver_margin_mm, 0.0,
                                             settings.min_share_near_liver)
        if settings.grown_away_from_liver == "seed":
            return by_liver | seeds  # the seeds lie inside their grown lesions
        return by_liver

    def _filtered(self, tumour: np.ndarray, probability: np.ndarray, roi_hu: np.ndarray,
                  roi_liver: np.ndarray, spacing_zyx) -> np.ndarray:
        """``tumour`` without the lesions too faint or brighter than their liver."""
        settings = self.settings
        needs_hu = settings.max_lesion_contrast_hu is not None
        box, candidates = _candidates_in_box(tumour, probability, roi_hu if needs_hu else None,
                                             roi_liver, spacing_zyx)
        if box is None:
            return tumour
        kept = postprocess.keep_lesions(box.shape, candidates, settings.min_lesion_probability,
                                        settings.max_lesion_contrast_hu)
        return uncrop(kept, box, tumour.shape, False)

    def _in_batches(self, stage: Stage, hu: np.ndarray, size: tuple[int, int], step: str,
                    progress=None, slice_mm: float | None = None,
                    tta_above: float | None = None, hu_offset: float = 0.0,
                    canvas: str = "none"):
        """(start, stop, probability of slices start:stop at ``size``) batch by batch; a
        2.5D stage also gets the slices its inputs reach beyond each batch's first and last
        (``slice_mm`` apart; None: the slices are not consecutive and stand alone);
        ``tta_above``, ``hu_offset`` and ``canvas`` as in ``Stage.probability``."""
        batch, reach = self.settings.batch_size, stage.context_reach(slice_mm)
        for start in range(0, len(hu), batch):
            low, high = max(0, start - reach), min(len(hu), start + batch + reach)
            block = resize_in_plane(hu[low:high], size, is_label=False)
            stop = min(start + batch, len(hu))
            # the network runs on the batch's own slices; the others are only their context
            yield start, stop, stage.probability(block, slice_mm=slice_mm, batch_size=batch,
                                                 tta=self.settings.tta,
                                                 rows=slice(start - low, stop - low),
                                                 tta_above=tta_above, hu_offset=hu_offset,
                                                 canvas=canvas)
            if progress:
                progress(step, stop / len(hu))


def _candidates_in_box(tumour: np.ndarray, probability: np.ndarray, roi_hu: np.ndarray | None,
                       roi_liver: np.ndarray, spacing_zyx
                       ) -> tuple[BoundingBox | None, list[postprocess.Candidate]]:
    """The lesions of ``tumour`` with their figures (``postprocess.lesion_candidates``;
    ``roi_hu`` None: no contrast), measured on the lesions' box grown by the reach of their
    surrounding liver (the same figures, a fraction of the work), and that box."""
    box = mask_bbox(tumour, spacing_zyx, SHELL_MM[1] + max(spacing_zyx))
    if box is None:
        return None, []
    inside = box.slices
    return box, postprocess.lesion_candidates(
        tumour[inside], probability[inside], None if roi_hu is None else roi_hu[inside],
        roi_liver[inside], spacing_zyx)
