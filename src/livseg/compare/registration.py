"""The follow-up liver onto the baseline liver: rigid, then affine (SimpleITK).

Both livers are cut out of their CTs with a margin and resampled to ``GRID_MM`` voxels. The
image the registration sees is the CT inside the liver mask (clipped to ``LIVER_WINDOW_HU``)
and a constant ``OUTSIDE_HU`` outside it, smoothed: its edge is the liver's surface and its
inside the vessels and lesions, so the masks and the CT inside them drive it together. A
deformable step was not added: the lesions are matched by overlap with a tolerance, and the
liver's own deformation between two scans is within it (the report gives the residual).

The transform maps baseline points (LPS mm) to follow-up points, SimpleITK's convention for
fixed = baseline, moving = follow-up: resampling the follow-up with it puts it on the
baseline's grid, and its inverse takes follow-up points to the baseline.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from livseg.io.files import volume_from_sitk, volume_to_sitk
from livseg.io.volume import Volume
from livseg.metrics.surface import surface_distances

GRID_MM = 4.0  # voxel of the registration's images: a liver is some 50^3 of them
MARGIN_MM = 30.0  # around each liver's box
LIVER_WINDOW_HU = (-100.0, 250.0)
OUTSIDE_HU = -300.0  # far below any liver HU: the surface is the strongest feature
SMOOTH_MM = 3.0
SAMPLED_FRACTION = 0.1  # of the fixed image's voxels, on a regular grid
ITERATIONS = 100  # per level at most; the phantoms and real CTs of the tests converge in 20-40
#: The residual surface distance is measured from this many points of each liver surface
#: at most (evenly spread): on ircad07's liver against a copy shifted by (1, 2, -1) voxels,
#: ASSD 1.310 mm against 1.311 from every point, HD95 the same; ircad07's registration onto
#: its moved copy took 3.6-4.3 s instead of 5.0-5.9 s (docs/speed.md).
SURFACE_POINTS = 20_000
#: Below this liver Dice after registration the two scans are not taken to show one liver
#: aligned: the comparison is refused rather than reported on lesions matched wrongly.
MIN_LIVER_DICE = 0.75


@dataclass(frozen=True)
class Registration:
    transform: sitk.AffineTransform  # baseline point -> follow-up point (mm)
    liver_dice: float  # baseline liver against the follow-up liver moved onto it
    assd_mm: float | None  # the residual distance between the two surfaces
    hd95_mm: float | None
    seconds: float

    def to_followup(self, points_xyz: np.ndarray) -> np.ndarray:
        return _apply(self.transform, points_xyz)

    def to_baseline(self, points_xyz: np.ndarray) -> np.ndarray:
        return _apply(self.transform.GetInverse(), points_xyz)

    def onto_baseline(self, followup: Volume, baseline_grid: Volume, is_label: bool,
                      fill_value: float = 0.0) -> Volume:
        """``followup`` (an image of the follow-up scan) on ``baseline_grid``'s grid: labels
        by nearest neighbour in their own type, images linearly as float32."""
        reference = sitk.Image([int(s) for s in baseline_grid.shape[::-1]], sitk.sitkUInt8)
        reference.SetSpacing(baseline_grid.spacing)
        reference.SetOrigin(baseline_grid.origin)
        reference.SetDirection(baseline_grid.direction)
        moved = sitk.Resample(volume_to_sitk(followup), reference, self.transform,
                              sitk.sitkNearestNeighbor if is_label else sitk.sitkLinear,
                              fill_value, sitk.sitkUnknown if is_label else sitk.sitkFloat32)
        return volume_from_sitk(moved)

    def as_dict(self) -> dict:
        matrix = np.asarray(self.transform.GetMatrix()).reshape(3, 3)
        centre = np.asarray(self.transform.GetCenter())
        offset = centre + np.asarray(self.transform.GetTranslation()) - matrix @ centre
        rotation, scale = _polar(matrix)
        return {
            "method": "rigid then affine (SimpleITK), on the liver masks and the CT inside",
            "maps": "baseline point (LPS mm) -> follow-up point: p' = matrix p + offset",
            "matrix": [[round(float(v), 6) for v in row] for row in matrix],
            "offset_mm": [round(float(v), 3) for v in offset],
            "rotation_deg": round(float(np.degrees(np.arccos(np.clip(
                (np.trace(rotation) - 1) / 2, -1, 1)))), 3),
            "scale": [round(float(v), 4) for v in scale],
            "liver_dice": round(self.liver_dice, 4),
            "assd_mm": None if self.assd_mm is None else round(self.assd_mm, 3),
            "hd95_mm": None if self.hd95_mm is None else round(self.hd95_mm, 3),
            "seconds": round(self.seconds, 3),
        }


def register_livers(baseline_ct: Volume, baseline_liver: Volume, followup_ct: Volume,
                    followup_liver: Volume) -> Registration:
    """The affine transform that puts the follow-up liver on the baseline liver, and how
    well it does (livers: boolean or 0/1 masks on their CT's grid; each scan may be cut to
    its liver's box plus ``MARGIN_MM``, ``Timepoint.liver_region``, at no loss)."""
    started = time.perf_counter()
    fixed, fixed_mask = _liver_image(baseline_ct, baseline_liver)
    moving, moving_mask = _liver_image(followup_ct, followup_liver)
    rigid = sitk.CenteredTransformInitializer(fixed_mask, moving_mask, sitk.Euler3DTransform(),
                                              sitk.CenteredTransformInitializerFilter.MOMENTS)
    rigid = sitk.Euler3DTransform(rigid)
    _run(fixed, moving, rigid, shrink=(4, 2, 1))
    affine = sitk.AffineTransform(3)
    affine.SetCenter(rigid.GetCenter())
    affine.SetMatrix(rigid.GetMatrix())
    affine.SetTranslation(rigid.GetTranslation())
    _run(fixed, moving, affine, shrink=(2, 1))
    moved = Registration(affine, 0.0, None, None, 0.0).onto_baseline(
        followup_liver.with_array(np.asarray(followup_liver.array > 0, np.uint8)),
        baseline_liver, is_label=True).array > 0
    reference = np.asarray(baseline_liver.array > 0)
    surfaces = surface_distances(moved, reference, baseline_liver.spacing_zyx, workers=-1,
                                 max_points=SURFACE_POINTS)
    return Registration(affine, _liver_dice(moved, reference, affine, followup_liver,
                                            baseline_liver.voxel_volume_ml),
                        surfaces.assd_mm, surfaces.hd95_mm, time.perf_counter() - started)


def _liver_dice(moved: np.ndarray, reference: np.ndarray, transform: sitk.AffineTransform,
                followup_liver: Volume, voxel_ml: float) -> float:
    """Dice of the baseline liver and the follow-up liver moved onto it. The overlap is
    counted on the baseline grid given (its liver's box: all the baseline liver, but
    perhaps not all of a follow-up liver that a failed registration put elsewhere); the
    moved liver's size is its own volume carried through the transform (which maps
    baseline mm to follow-up mm, so volumes shrink by its determinant), wherever it lies."""
    followup_ml = float(np.count_nonzero(followup_liver.array)) * followup_liver.voxel_volume_ml
    moved_voxels = followup_ml / abs(np.linalg.det(np.reshape(transform.GetMatrix(), (3, 3))))
    moved_voxels /= voxel_ml
    overlap = float(np.count_nonzero(moved & reference))
    return 2.0 * overlap / max(float(np.count_nonzero(reference)) + moved_voxels, 1.0)


def _liver_image(ct: Volume, liver: Volume) -> tuple[sitk.Image, sitk.Image]:
    """The registration's image of one liver and its mask, on a ``GRID_MM`` grid."""
    from livseg.preprocess import mask_bbox

    mask = np.asarray(liver.array > 0)
    box = mask_bbox(mask, ct.spacing_zyx, MARGIN_MM)
    low, high = LIVER_WINDOW_HU
    values = np.where(mask[box.slices], np.clip(ct.array[box.slices], low, high), OUTSIDE_HU)
    origin = ct.index_to_physical(np.asarray(box.start, float))
    image = sitk.GetImageFromArray(values.astype(np.float32))
    image.SetSpacing(ct.spacing)
    image.SetOrigin(tuple(origin))
    image.SetDirection(ct.direction)
    # averaged down to about GRID_MM voxels first (BinShrink), smoothed there: a 512^2 CT's
    # liver costs a fraction of a second instead of seconds
    image = sitk.BinShrink(image, [max(1, int(GRID_MM // s)) for s in ct.spacing])
    image = sitk.SmoothingRecursiveGaussian(image, SMOOTH_MM)
    size = [max(8, round(n * s / GRID_MM)) for n, s in zip(image.GetSize(), image.GetSpacing(),
                                                           strict=True)]
    coarse = sitk.Resample(image, size, sitk.Transform(), sitk.sitkLinear, image.GetOrigin(),
                           [GRID_MM] * 3, image.GetDirection(), OUTSIDE_HU, sitk.sitkFloat32)
    return coarse, sitk.Cast(coarse > 0.5 * (OUTSIDE_HU + low), sitk.sitkFloat32)


def _run(fixed: sitk.Image, moving: sitk.Image, initial: sitk.Transform,
         shrink: tuple[int, ...]) -> sitk.Transform:
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMeanSquares()
    method.SetMetricSamplingStrategy(method.REGULAR)  # a fixed grid: the same answer each run
    method.SetMetricSamplingPercentage(SAMPLED_FRACTION)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=1.0, minStep=1e-4, numberOfIterations=ITERATIONS, relaxationFactor=0.6,
        gradientMagnitudeTolerance=1e-8)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(list(shrink))
    method.SetSmoothingSigmasPerLevel([f * GRID_MM / 2 if f > 1 else 0.0 for f in shrink])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetInitialTransform(initial, inPlace=True)
    method.Execute(fixed, moving)
    return initial


def _apply(transform: sitk.Transform, points_xyz: np.ndarray) -> np.ndarray:
    points = np.atleast_2d(np.asarray(points_xyz, float))
    return np.array([transform.TransformPoint(tuple(p)) for p in points]).reshape(
        np.shape(points_xyz))


def _polar(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rotation nearest ``matrix`` and the scales along its singular directions."""
    u, singular, vt = np.linalg.svd(matrix)
    rotation = u @ vt
    if np.linalg.det(rotation) < 0:
        u[:, -1] *= -1
        rotation = u @ vt
    return rotation, singular
