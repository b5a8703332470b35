"""A synthetic abdominal CT with its LiTS label map, for tests, demos and augmentation.

The phantom is drawn in the canonical axial orientation (LPS: x towards the patient's
left, y posterior, z superior). Organs are placed in coordinates relative to the field of
view, so any size and spacing gives a whole abdomen; tumour sizes are in millimetres.
Intensities are Hounsfield units of a portal-venous phase CT.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.special import expit

from livseg.io.volume import Volume

AIR, FAT, MUSCLE, SKIN = -1000.0, -100.0, 50.0, 40.0
VISCERA, BOWEL = -80.0, 35.0
CORTICAL_BONE, CANCELLOUS_BONE, RIB = 800.0, 250.0, 600.0
AORTA, KIDNEY, SPLEEN, LIVER = 180.0, 160.0, 110.0, 95.0
TUMOUR_KINDS = ("hypodense", "hyperdense", "rim-enhancing")
#: How often each kind occurs after the first three (hypodense, rim-enhancing, hypodense):
#: as in portal-venous CT of liver metastases, mostly hypodense, some with an enhancing
#: rim, few hyperdense.
KIND_FREQUENCY = (0.65, 0.1, 0.25)
FIRST_KINDS = ("hypodense", "rim-enhancing", "hypodense")


@dataclass(frozen=True)
class Tumour:
    """One inserted tumour: centre (z, y, x voxel index), diameter (mm), appearance."""

    centre_zyx: tuple[float, float, float]
    diameter_mm: float
    kind: str


@dataclass(frozen=True)
class Phantom:
    ct: Volume  # int16 Hounsfield units
    labels: Volume  # uint8: 0 background, 1 liver, 2 tumour
    tumours: tuple[Tumour, ...]


def smooth_field(shape: tuple[int, ...], rng: np.random.Generator, cells: int = 6) -> np.ndarray:
    """A smooth random field of unit standard deviation: coarse noise zoomed up (cubic)."""
    coarse = rng.standard_normal(tuple(min(cells, s) + 1 for s in shape))
    field = ndimage.zoom(coarse, [s / c for s, c in zip(shape, coarse.shape, strict=True)],
                         order=3, mode="nearest", grid_mode=True)
    field = field[tuple(slice(0, s) for s in shape)]
    return ((field - field.mean()) / (field.std() + 1e-6)).astype(np.float32)


class _Frame:
    """Normalised coordinates u (left +), v (posterior +), w (superior +) in [-1, 1]."""

    def __init__(self, shape: tuple[int, int, int]):
        nz, ny, nx = shape
        self.shape = shape
        self.w = np.linspace(-1, 1, nz, dtype=np.float32)[:, None, None] if nz > 1 else \
            np.zeros((1, 1, 1), np.float32)
        self.v = np.linspace(-1, 1, ny, dtype=np.float32)[None, :, None]
        self.u = np.linspace(-1, 1, nx, dtype=np.float32)[None, None, :]

    def ellipsoid(self, centre, radii, deform: np.ndarray | float = 0.0) -> np.ndarray:
        cu, cv, cw = centre
        ru, rv, rw = radii
        r2 = ((self.u - cu) / ru) ** 2 + ((self.v - cv) / rv) ** 2 + ((self.w - cw) / rw) ** 2
        return (r2 + deform) < 1.0

    def cylinder(self, centre_uv, radii_uv) -> np.ndarray:
        (cu, cv), (ru, rv) = centre_uv, radii_uv
        disc = ((self.u - cu) / ru) ** 2 + ((self.v - cv) / rv) ** 2 < 1.0
        return np.broadcast_to(disc, self.shape)


def _body(frame: _Frame, hu: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Skin, subcutaneous fat, muscle wall, viscera with bowel; returns the abdominal cavity."""
    body = frame.cylinder((0.0, 0.05), (0.88, 0.68))
    hu[body] = SKIN
    hu[frame.cylinder((0.0, 0.05), (0.86, 0.66))] = FAT
    hu[frame.cylinder((0.0, 0.05), (0.76, 0.56))] = MUSCLE
    cavity = frame.cylinder((0.0, 0.05), (0.70, 0.50))
    bowel = smooth_field(frame.shape, rng, cells=10) > 0.3
    hu[cavity] = VISCERA
    hu[cavity & bowel] = BOWEL
    return cavity


def _skeleton_and_vessels(frame: _Frame, hu: np.ndarray) -> None:
    hu[frame.cylinder((0.0, 0.42), (0.13, 0.12))] = CORTICAL_BONE
    hu[frame.cylinder((0.0, 0.42), (0.10, 0.09))] = CANCELLOUS_BONE
    hu[frame.cylinder((0.0, 0.60), (0.05, 0.05))] = MUSCLE  # spinal canal
    hu[frame.cylinder((0.07, 0.22), (0.055, 0.055))] = AORTA
    upper = np.broadcast_to(frame.w > -0.1, frame.shape)
    for angle in np.linspace(0.1 * np.pi, 0.9 * np.pi, 9):  # an arc over the front
        centre = (0.73 * np.cos(angle), 0.05 - 0.53 * np.sin(angle))
        hu[frame.cylinder(centre, (0.035, 0.035)) & upper] = RIB


def _organs(frame: _Frame, hu: np.ndarray, cavity: np.ndarray, rng: np.random.Generator):
    for side in (-1, 1):
        hu[frame.ellipsoid((side * 0.38, 0.32, -0.2), (0.12, 0.13, 0.35)) & cavity] = KIDNEY
    hu[frame.ellipsoid((0.52, 0.12, 0.35), (0.14, 0.22, 0.4)) & cavity] = SPLEEN
    deform = 0.35 * smooth_field(frame.shape, rng, cells=4)
    liver = frame.ellipsoid((-0.33, -0.05, 0.3), (0.36, 0.36, 0.62), deform) & cavity
    liver &= ~frame.cylinder((0.0, 0.42), (0.16, 0.15))
    in_plane = ndimage.generate_binary_structure(3, 1)
    in_plane[0] = in_plane[2] = False  # also works on a one-slice volume
    liver = ndimage.binary_opening(liver, structure=in_plane)
    if liver.any():
        labelled, n = ndimage.label(liver)
        if n > 1:
            liver = labelled == np.argmax(np.bincount(labelled.ravel())[1:]) + 1
    hu[liver] = LIVER + 8.0 * smooth_field(frame.shape, rng, cells=12)[liver]
    return liver


def _tumour_hu(kind: str, liver_hu: float, distance_inside_mm: np.ndarray,
               texture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A lesion's HU: its kind's contrast to the liver, a darker centre in a larger lesion
    (necrosis), and ``texture`` (unit noise, smooth) of a few HU: real tumours are not flat."""
    texture = rng.uniform(5.0, 12.0) * texture
    if kind == "hyperdense":
        return liver_hu + rng.uniform(30, 60) + texture
    core = liver_hu - rng.uniform(30, 70) - np.clip((distance_inside_mm - 8.0) * 1.5, 0, 20)
    if kind == "hypodense":
        return core + texture
    rim = np.clip(1.0 - distance_inside_mm / 3.0, 0.0, 1.0)
    return core + rim * (liver_hu + 50.0 - core) + texture


def _insert_tumours(hu, labels, liver, spacing_zyx, n_tumours, rng, edge_blur_mm):
    if n_tumours == 0 or not liver.any():
        return ()
    depth = ndimage.distance_transform_edt(liver, sampling=spacing_zyx)
    grid = np.indices(liver.shape, sparse=True)
    texture = smooth_field(liver.shape, rng, cells=max(liver.shape) // 3)
    tumours = []
    for number in range(n_tumours):
        radius = 0.5 * float(np.exp(rng.uniform(np.log(5.0), np.log(60.0))))
        radius = min(radius, 0.8 * float(depth.max()))
        candidates = np.argwhere(depth >= radius + 1.0)
        if radius < 2.5 or len(candidates) == 0:
            break
        centre = candidates[rng.integers(len(candidates))]
        axes = radius * rng.uniform(0.8, 1.2, size=3)
        offsets = [(g - c) * s / a
                   for g, c, s, a in zip(grid, centre, spacing_zyx, axes, strict=True)]
        rho = np.sqrt(sum(o**2 for o in offsets))  # 1 on the tumour surface
        signed_mm = (1.0 - rho) * radius  # approximately mm inside the surface
        weight = expit(signed_mm / max(edge_blur_mm, 1e-3))  # no overflow far outside
        region = (weight > 0.01) & liver
        kind = FIRST_KINDS[number] if number < len(FIRST_KINDS) else str(
            rng.choice(TUMOUR_KINDS, p=KIND_FREQUENCY))
        lesion_hu = _tumour_hu(kind, LIVER, signed_mm[region], texture[region], rng)
        hu[region] = (1 - weight[region]) * hu[region] + weight[region] * lesion_hu
        labels[(weight > 0.5) & liver] = 2
        depth[rho < 1.5] = 0  # keep later tumours apart from this one
        tumours.append(Tumour(tuple(float(c) for c in centre), 2 * radius, kind))
    return tuple(tumours)


def make_phantom(shape: tuple[int, int, int] = (48, 128, 128),
                 spacing: tuple[float, float, float] = (2.5, 2.5, 5.0),
                 n_tumours: int = 3, seed: int = 0, noise_hu: float = 12.0,
                 edge_blur_mm: float = 1.0) -> Phantom:
    """A synthetic abdominal CT (int16 HU) and its label map (0/1/2).

    ``shape`` is (z, y, x) in voxels, ``spacing`` (x, y, z) in mm. ``n_tumours`` lesions of
    5-60 mm (fewer when the liver is too small), mostly hypodense, some rim-enhancing, few
    hyperdense (``KIND_FREQUENCY``), textured, with edges blurred over ``edge_blur_mm``.
    Same seed, same phantom.
    """
    rng = np.random.default_rng(seed)
    frame = _Frame(shape)
    hu = np.full(shape, AIR, dtype=np.float32)
    cavity = _body(frame, hu, rng)
    _skeleton_and_vessels(frame, hu)
    liver = _organs(frame, hu, cavity, rng)
    labels = liver.astype(np.uint8)
    spacing_zyx = tuple(float(s) for s in spacing[::-1])
    tumours = _insert_tumours(hu, labels, liver, spacing_zyx, n_tumours, rng, edge_blur_mm)
    noise = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), 0.7)
    hu += noise * (noise_hu / (noise.std() + 1e-6))
    ct_array = np.clip(np.round(hu), -1024, 3071).astype(np.int16)
    origin = tuple(-0.5 * (n - 1) * s for n, s in zip(shape[::-1], spacing, strict=True))
    ct = Volume(ct_array, spacing=spacing, origin=origin)
    return Phantom(ct=ct, labels=ct.with_array(labels), tumours=tumours)
