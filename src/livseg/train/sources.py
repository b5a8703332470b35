"""Turning each data layout into a SliceSet, and parsing ``--data`` specifications.

Layouts: folders of 2D slices (``images/`` + ``masks/``, PNG/JPG with a declared intensity
mapping), the LiTS layout (``volume-N.nii`` + ``segmentation-N.nii``), the Medical
Segmentation Decathlon Task03_Liver layout (``imagesTr/`` + ``labelsTr/``), single
``volume``/``segmentation`` pairs, a saved cache (.npz) and generated phantoms.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from scipy import ndimage

from livseg.errors import LivsegInputError
from livseg.io import read_volume
from livseg.io.labels import as_label_map
from livseg.io.pairs import lits_pairs, msd_pairs, single_pair
from livseg.preprocess import (
    centre_pad,
    crop,
    hu_from_window,
    hu_window,
    liver_hu_offset,
    mask_bbox,
    resize_in_plane,
    shape_at_pixel_size,
    to_canonical,
)
from livseg.train.slices import SliceSet, concatenate

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
#: Declared meanings of 8-bit slice pixels: name -> HU window that maps to 0..255.
PIXEL_MAPPINGS = {"hu0-255": (0.0, 255.0)}
#: In-plane pixel size assumed for slice folders, which do not record it: LiTS slices of
#: about 0.6-1.0 mm halved to 256 x 256 (../shared/data/lits_slices_256).
SLICE_FOLDER_PIXEL_MM = 1.5
#: Tumour-stage training copies of each liver slice of a folder (``synth:`` specs).
SYNTHETIC_COPIES = 3
#: Tumour-stage training copies of each labelled volume (``synth:`` of a volume layout).
SYNTHETIC_VOLUME_COPIES = 1
SLICE_NAME = re.compile(r"(?P<variant>.*?)_?(?P<volume>\d+)_(?P<slice>\d+)\.[A-Za-z]+$")
#: Slice numbers of different variants of one volume (``flipped_``, ``mirrored_``) are
#: kept apart by this offset, so that 2.5D neighbours never mix two variants.
VARIANT_OFFSET = 1_000_000
#: Slice-name prefixes that say how a slice was turned away from the canonical axial view
#: (after transposing back), with the array axis that undoes it. In
#: ../shared/data/lits_slices_256 ("each slice flipped or mirrored") every ``flipped_``
#: slice has its spine at the top (anterior down) and every ``mirrored_`` slice its liver
#: on the image's right; reversing rows, respectively columns, makes both canonical.
VARIANT_FLIP_AXIS = {"flipped": 0, "mirrored": 1}


def read_slice_folder(folder: Path, mapping: str = "hu0-255",
                      size: tuple[int, int] | None = None, transposed: bool = True) -> SliceSet:
    """``folder/images/*`` with ``folder/masks/*`` of the same name (mask > 127 = liver).

    The volume id and slice number come from names ending ``<volume>_<slice>.<ext>``, e.g.
    ``flipped_10001_103.jpg`` of ../shared/data/lits_slices_256. ``transposed`` slices are
    stored with rows and columns swapped against the canonical axial view (in that folder
    the spine lies at the left or right edge, not at the bottom); they are transposed back
    here. Slices whose name starts with a prefix of :data:`VARIANT_FLIP_AXIS` are flipped
    back as well, so that every network sees slices in the canonical orientation, the one
    the cascade gives it at inference.
    """
    from PIL import Image

    if mapping not in PIXEL_MAPPINGS:
        raise LivsegInputError(f"unknown pixel mapping {mapping!r}; known: {list(PIXEL_MAPPINGS)}")
    images_dir, masks_dir = folder / "images", folder / "masks"
    names = sorted(p.name for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not names:
        raise LivsegInputError("has no PNG/JPG slices in images/", folder)
    images, labels, volumes, numbers = [], [], [], []
    variants: dict[str, int] = {}
    for name in names:
        match = SLICE_NAME.search(name)
        if match is None or not (masks_dir / name).exists():
            raise LivsegInputError(f"slice {name} lacks a <volume>_<slice> name or a mask",
                                   folder)
        pixels = np.asarray(Image.open(images_dir / name).convert("L"), dtype=np.float32)
        mask = np.asarray(Image.open(masks_dir / name).convert("L")) > 127
        if transposed:
            pixels, mask = pixels.T, mask.T
        axis = VARIANT_FLIP_AXIS.get(match["variant"].lower())
        if axis is not None:
            pixels, mask = np.flip(pixels, axis), np.flip(mask, axis)
        if size is not None and pixels.shape != tuple(size):
            pixels = resize_in_plane(pixels, size, is_label=False)
            mask = resize_in_plane(mask.astype(np.uint8), size, is_label=True) > 0
        images.append((pixels / 255.0).astype(np.float16))
        labels.append(mask.astype(np.uint8))
        volumes.append(match["volume"])
        variant = variants.setdefault(match["variant"], len(variants))
        numbers.append(variant * VARIANT_OFFSET + int(match["slice"]))
    return SliceSet(np.stack(images), np.stack(labels), np.array(volumes), np.array(numbers),
                    PIXEL_MAPPINGS[mapping], [str(folder)], has_tumour_labels=False)


def rewindowed(data: SliceSet, window: tuple[float, float]) -> SliceSet:
    """``data`` scaled to another HU ``window``; it must lie inside the data's own window
    (what the data clipped away cannot be brought back), e.g. 8-bit [0, 255] slices read
    for a [0, 160] network."""
    low, high = (float(w) for w in data.window)
    if tuple(window) == (low, high):
        return data
    if not low <= window[0] < window[1] <= high:
        raise LivsegInputError(f"holds HU clipped to [{low:g}, {high:g}]; a window of "
                               f"{list(window)} would need values it does not have",
                               data.sources[0] if data.sources else None)
    hu = hu_from_window(data.images.astype(np.float32), low, high)
    return SliceSet(hu_window(hu, *window).astype(np.float16), data.labels, data.volume_ids,
                    data.slice_numbers, tuple(window), data.sources, data.has_tumour_labels,
                    data.slice_mm)


def volume_slices(hu: np.ndarray, labels: np.ndarray, spacing_zyx: tuple[float, ...],
                  volume_id: str, *, stage: str, window: tuple[float, float],
                  size: tuple[int, int], empty_every: int = 4, margin_mm: float = 10.0,
                  pixel_mm: float | None = None, near_liver_mm: float = 10.0,
                  z_margin_mm: float | None = None,
                  liver_anchor_hu: float | None = None) -> SliceSet | None:
    """Slices of one canonical volume for a stage.

    Liver stage: whole slices resized to ``size``; every slice with liver, every slice
    within ``near_liver_mm`` of one (the hardest negatives, and the context a 2.5D stage
    needs at the liver's ends) and every ``empty_every``-th slice further away. Tumour
    stage: the liver's bounding box (plus ``margin_mm`` in-plane and ``z_margin_mm``, by
    default ``margin_mm``, across slices) resampled in-plane to ``pixel_mm`` (kept native
    when None), centre-padded or cropped to ``size``; with ``liver_anchor_hu``, its HU shifted
    so that the labelled liver's median lies there (:func:`liver_hu_offset`).
    """
    liver, scale = labels >= 1, tuple(window)  # the set's window: what [0, 1] means
    if stage == "tumour" and liver_anchor_hu is not None:
        window = tuple(w - liver_hu_offset(hu, liver, liver_anchor_hu) for w in window)
    if stage == "tumour":
        z_margin = margin_mm if z_margin_mm is None else z_margin_mm
        box = mask_bbox(liver, spacing_zyx, (z_margin, margin_mm, margin_mm))
        if box is None:
            return None
        hu, labels = crop(hu, box), crop(labels, box)
        if pixel_mm:
            hu, labels = to_pixel_size(hu, labels, spacing_zyx[1:], pixel_mm)
        hu, labels = _fit(hu, size, float(window[0])), _fit(labels, size, 0)
        slice_numbers = np.arange(box.start[0], box.stop[0])
        keep = np.ones(len(hu), bool)
    else:
        slice_numbers = np.arange(len(hu))
        has_liver = liver.any(axis=(1, 2))
        reach = int(near_liver_mm // float(spacing_zyx[0]))
        near = ndimage.binary_dilation(has_liver, iterations=reach) if reach else has_liver
        keep = near | (slice_numbers % empty_every == 0)
        hu = resize_in_plane(hu.astype(np.float32), size, is_label=False)
        labels = resize_in_plane(labels, size, is_label=True)
    if not keep.any():
        return None
    return SliceSet(hu_window(hu[keep], *window).astype(np.float16), labels[keep],
                    np.full(int(keep.sum()), volume_id), slice_numbers[keep], scale,
                    slice_mm=slice_numbers[keep] * float(spacing_zyx[0]))


def to_pixel_size(hu: np.ndarray, labels: np.ndarray, spacing_yx, pixel_mm: float):
    """(..., H, W) HU and labels resampled in-plane from ``spacing_yx`` to ``pixel_mm``."""
    shape = shape_at_pixel_size(hu.shape[-2:], spacing_yx, pixel_mm)
    return (resize_in_plane(hu.astype(np.float32), shape, is_label=False),
            resize_in_plane(labels, shape, is_label=True))


def synthetic_tumour_slices(folder: Path, *, window, size, pixel_mm: float, seed: int,
                            copies: int = SYNTHETIC_COPIES,
                            margin_mm: float = 10.0) -> SliceSet:
    """Tumour-stage slices from a liver-only slice folder: each slice whose liver looks
    healthy, ``copies`` times, most with synthetic tumours (label 2), cropped to the liver
    (plus ``margin_mm``) at ``pixel_mm`` and fitted to ``size``. Slices whose liver shows a
    real (unlabelled) lesion are left out, see :func:`looks_healthy`."""
    from livseg.train.synthetic_tumours import insert_tumours, looks_healthy

    source = read_slice_folder(folder)
    rng = np.random.default_rng(seed)
    low, high = source.window
    images, labels, volumes, numbers = [], [], [], []
    for row in np.flatnonzero(source.labels.any(axis=(1, 2))):
        hu_slice = low + source.images[row].astype(np.float32) * (high - low)
        liver = source.labels[row] >= 1
        if not looks_healthy(hu_slice, liver, SLICE_FOLDER_PIXEL_MM):
            continue
        for copy in range(copies):
            hu, tumour = (hu_slice, np.zeros_like(liver)) if copy == 0 and rng.random() < 0.5 \
                else insert_tumours(hu_slice, liver, SLICE_FOLDER_PIXEL_MM, rng)
            label = liver.astype(np.uint8) + tumour
            box = mask_bbox(liver, (SLICE_FOLDER_PIXEL_MM,) * 2, margin_mm)
            hu_roi, label_roi = to_pixel_size(crop(hu, box)[None], crop(label, box)[None],
                                              (SLICE_FOLDER_PIXEL_MM,) * 2, pixel_mm)
            images.append(_fit(hu_window(hu_roi, *window), size, 0.0)[0])
            labels.append(_fit(label_roi, size, 0)[0])
            volumes.append(source.volume_ids[row])
            numbers.append(int(source.slice_numbers[row]) * 10 + copy)
    return SliceSet(np.stack(images).astype(np.float16), np.stack(labels), np.array(volumes),
                    np.array(numbers), tuple(window), [f"synth:{folder}"])


def _fit(array: np.ndarray, size: tuple[int, int], fill: float) -> np.ndarray:
    """Centre-crop the last two axes to at most ``size``, then centre-pad them (with
    ``fill``) to ``size`` (the cascade pads a tumour box the same way: ``centre_pad``)."""
    cut = []
    for have, want in zip(array.shape[1:], size, strict=True):
        start = max(0, have - want) // 2
        cut.append(slice(start, start + min(have, want)))
    padded, _ = centre_pad(array[(slice(None), *cut)], size, fill)
    return np.ascontiguousarray(padded)


def read_volume_pairs(pairs: Iterable[tuple[str, Path, Path]], **options) -> SliceSet:
    """Slices of (volume id, CT file, label file) pairs; see :func:`volume_slices`."""
    sets = []
    for volume_id, ct_path, ct, labels in _canonical_volumes(pairs):
        part = volume_slices(ct.array, labels.array, ct.spacing_zyx, volume_id, **options)
        sets += _named(part, ct_path)
    return _joined(sets)


def synthetic_tumour_volumes(pairs: Iterable[tuple[str, Path, Path]], *, seed: int,
                             copies: int = SYNTHETIC_VOLUME_COPIES,
                             avoid_mm: float = 10.0, **options) -> SliceSet:
    """Tumour-stage slices of ``copies`` copies of each labelled volume, each with 1-3 more
    tumours, synthetic and 3D (:data:`~livseg.train.synthetic_tumours.VOLUME_RECIPE`),
    inserted at least ``avoid_mm`` from its labelled tumours (label 2 stays as drawn).

    A copy's volume id is ``<id>~synth<copy>``: its own run of slices for the 2.5D context,
    and the same patient as ``<id>`` for a split (:func:`livseg.splits.patient_of`), so a
    held-out patient's copies are in neither side of the split.
    """
    import zlib

    from livseg.train.synthetic_tumours import VOLUME_RECIPE, insert_tumours

    sets = []
    for volume_id, ct_path, ct, labels in _canonical_volumes(pairs):
        real = labels.array == 2
        avoid = (ndimage.distance_transform_edt(~real, sampling=ct.spacing_zyx) <= avoid_mm
                 if real.any() else None)
        for copy in range(copies):
            rng = np.random.default_rng([seed, copy, zlib.crc32(volume_id.encode())])
            hu, tumour = insert_tumours(ct.array, labels.array >= 1, ct.spacing_zyx, rng,
                                        VOLUME_RECIPE, avoid=avoid)
            label = np.where(tumour, 2, labels.array).astype(labels.array.dtype)
            part = volume_slices(hu, label, ct.spacing_zyx, f"{volume_id}~synth{copy}",
                                 **options)
            sets += _named(part, f"synth:{ct_path}")
    return _joined(sets)


def _canonical_volumes(pairs: Iterable[tuple[str, Path, Path]]):
    """(volume id, CT path, canonical CT, canonical label map) of each pair, checked to
    share a grid."""
    for volume_id, ct_path, label_path in pairs:
        ct, _ = to_canonical(read_volume(ct_path))
        labels, _ = to_canonical(as_label_map(read_volume(label_path), label_path))
        if not labels.same_grid(ct, tolerance=1e-3):
            raise LivsegInputError(f"lies on another grid than {ct_path}", label_path)
        yield volume_id, ct_path, ct, labels


def _named(part: SliceSet | None, source) -> list[SliceSet]:
    log.info("read %s: %d slices", source, 0 if part is None else len(part))
    if part is None:
        return []
    part.sources = [str(source)]
    return [part]


def _joined(sets: list[SliceSet]) -> SliceSet:
    if not sets:
        raise LivsegInputError("no usable slices (no liver labelled?)")
    return concatenate(sets)


def phantom_set(count: int, *, stage: str, window, size, seed: int = 0,
                pixel_mm: float | None = None, z_margin_mm: float | None = None,
                liver_anchor_hu: float | None = None) -> SliceSet:
    from livseg.phantom import make_phantom

    sets = []
    for number in range(count):
        phantom = make_phantom(shape=(24, 96, 96), spacing=(3.5, 3.5, 6.0), n_tumours=3,
                               seed=seed + number)
        part = volume_slices(phantom.ct.array, phantom.labels.array, phantom.ct.spacing_zyx,
                             f"phantom{seed + number}", stage=stage, window=window, size=size,
                             pixel_mm=pixel_mm, z_margin_mm=z_margin_mm,
                             liver_anchor_hu=liver_anchor_hu)
        if part is not None:
            part.sources = [f"phantom(seed={seed + number})"]
            sets.append(part)
    return concatenate(sets)


def load_data(spec: str, *, stage: str, window, size, seed: int = 0,
              pixel_mm: float | None = None, z_margin_mm: float | None = None,
              liver_anchor_hu: float | None = None) -> SliceSet:
    """A SliceSet from one ``--data`` spec; several specs are joined with ``+``.

    Specs: ``phantom`` or ``phantom:N``; a slice folder (``images/``+``masks/``); a LiTS
    folder (``volume-N.nii``); an MSD folder (``imagesTr/``); a folder holding
    ``volume.nii.gz`` + ``segmentation.nii.gz``; a cache ``.npz`` from ``livseg prepare``;
    ``synth:FOLDER``, a liver slice folder with synthetic tumours (tumour stage). ``SPEC*N``
    repeats a source N times (to weigh a small real set against a large synthetic one).
    ``pixel_mm`` is the tumour stage's in-plane pixel size, ``z_margin_mm`` how far its
    volumes' slices reach beyond the liver's ends, ``liver_anchor_hu`` where it puts each
    volume's liver (see :func:`volume_slices`; labelled volumes only).
    """
    parts = []
    for part in spec.split("+"):
        part, _, repeat = part.partition("*")
        if repeat and not (repeat.isdigit() and int(repeat) >= 1):
            raise LivsegInputError(f"'*{repeat}' in --data must be a repeat count like *3")
        loaded = _load_one(part, stage=stage, window=window, size=size, seed=seed,
                           pixel_mm=pixel_mm, z_margin_mm=z_margin_mm,
                           liver_anchor_hu=liver_anchor_hu)
        parts += [loaded] * int(repeat or 1)
    return parts[0] if len(parts) == 1 else concatenate(parts)


def _load_one(spec: str, *, stage, window, size, seed, pixel_mm, z_margin_mm,
              liver_anchor_hu=None) -> SliceSet:
    options = {"stage": stage, "window": tuple(window), "size": tuple(size)}
    if stage == "tumour":
        options.update(pixel_mm=pixel_mm, z_margin_mm=z_margin_mm,
                       liver_anchor_hu=liver_anchor_hu)
    if spec == "phantom" or spec.startswith("phantom:"):
        count = int(spec.split(":")[1]) if ":" in spec else 6
        return phantom_set(count, seed=seed, **options)
    if liver_anchor_hu is not None and stage == "tumour" and not _is_volumes(spec):
        raise LivsegInputError("holds no labelled volumes; a liver-anchored tumour stage "
                               "(liver_anchor_hu) needs each volume's liver to place it",
                               spec)
    if spec.startswith("synth:"):
        return _synthetic(Path(spec[len("synth:"):]), stage=stage, seed=seed, options=options,
                          pixel_mm=pixel_mm)
    path = Path(spec)
    if not path.exists():
        raise LivsegInputError("does not exist", path)
    if path.suffix == ".npz":
        return SliceSet.load(path)
    if (path / "images").is_dir() and (path / "masks").is_dir():
        if stage == "tumour":
            raise LivsegInputError("holds liver-only slice masks; the tumour stage needs "
                                   "tumour labels", path)
        return rewindowed(read_slice_folder(path, size=tuple(size)), tuple(window))
    pairs = _volume_pairs(path)
    if pairs:
        return read_volume_pairs(pairs, **options)
    raise LivsegInputError("is not a known training data layout (slice folder, LiTS, MSD, "
                           "volume/segmentation pair, .npz cache or 'phantom')", path)


def _is_volumes(spec: str) -> bool:
    """Whether a ``--data`` spec reads labelled volumes (phantoms included; a missing path
    is reported as missing where it is read)."""
    if spec == "phantom" or spec.startswith("phantom:"):
        return True
    path = Path(spec[len("synth:"):] if spec.startswith("synth:") else spec)
    if not path.exists():
        return True
    return path.is_dir() and not (path / "images").is_dir() and bool(_volume_pairs(path))


def _volume_pairs(path: Path) -> list[tuple[str, Path, Path]]:
    """The (volume id, CT, labels) pairs of a MSD, LiTS or single-pair folder; [] if none."""
    if (path / "imagesTr").is_dir():
        return list(msd_pairs(path))
    if lits_pairs(path):
        return list(lits_pairs(path))
    single = single_pair(path)
    return [single] if single is not None else []


def _synthetic(folder: Path, *, stage, seed, options, pixel_mm) -> SliceSet:
    """``synth:FOLDER``: a liver slice folder, or labelled volumes, with synthetic tumours."""
    if stage != "tumour":
        raise LivsegInputError("synthetic tumours ('synth:') are tumour-stage data", folder)
    if (folder / "images").is_dir() and (folder / "masks").is_dir():
        return synthetic_tumour_slices(folder, window=options["window"], size=options["size"],
                                       pixel_mm=pixel_mm or SLICE_FOLDER_PIXEL_MM, seed=seed)
    pairs = _volume_pairs(folder) if folder.is_dir() else []
    if not pairs:
        raise LivsegInputError("is neither a slice folder (images/ + masks/) nor labelled "
                               "volumes", folder)
    return synthetic_tumour_volumes(pairs, seed=seed, **options)
