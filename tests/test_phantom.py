from __future__ import annotations

import numpy as np
from scipy import ndimage

from livseg.phantom import LIVER, TUMOUR_KINDS, make_phantom


def test_same_seed_same_phantom_other_seed_other_phantom():
    a = make_phantom(shape=(12, 40, 48), n_tumours=2, seed=5)
    b = make_phantom(shape=(12, 40, 48), n_tumours=2, seed=5)
    c = make_phantom(shape=(12, 40, 48), n_tumours=2, seed=6)
    np.testing.assert_array_equal(a.ct.array, b.ct.array)
    assert not np.array_equal(a.labels.array, c.labels.array)


def test_labels_follow_lits_and_geometry_is_shared(small_phantom):
    labels, ct = small_phantom.labels, small_phantom.ct
    assert set(np.unique(labels.array)) == {0, 1, 2}
    assert labels.array.dtype == np.uint8 and ct.array.dtype == np.int16
    assert labels.same_grid(ct) and ct.spacing == (4.0, 4.5, 7.0)


def test_liver_sits_in_the_right_upper_abdomen(small_phantom):
    liver = small_phantom.labels.array >= 1
    z, y, x = (c.mean() for c in np.nonzero(liver))
    nz, ny, nx = liver.shape
    assert x < nx / 2  # patient's right is the low-x side in LPS
    assert z > nz / 2  # superior half
    assert y < ny * 0.6  # anterior of the spine
    assert ndimage.label(liver)[1] == 1


def test_tissues_have_plausible_hounsfield_units(small_phantom):
    hu, labels = small_phantom.ct.array, small_phantom.labels.array
    assert abs(np.median(hu[labels == 1]) - LIVER) < 15
    assert np.median(hu[:, :2, :]) < -900  # air around the body
    assert hu.max() > 500  # bone
    assert np.median(hu[(hu > -150) & (hu < -60)]) < -60  # fat present


def test_tumours_are_inside_the_liver_and_sized_in_millimetres():
    phantom = make_phantom(shape=(40, 96, 96), spacing=(3.0, 3.0, 4.0), n_tumours=4, seed=11)
    labels = phantom.labels.array
    tumour = labels == 2
    liver_region = ndimage.binary_fill_holes(labels >= 1)
    assert np.all(liver_region[tumour])
    assert 1 <= len(phantom.tumours) <= 4
    for lesion in phantom.tumours:
        assert 5.0 <= lesion.diameter_mm <= 60.0
        assert lesion.kind in TUMOUR_KINDS
        z, y, x = (int(round(c)) for c in lesion.centre_zyx)
        assert labels[z, y, x] == 2


def test_hypodense_tumour_is_darker_than_liver():
    phantom = make_phantom(shape=(40, 96, 96), spacing=(3.0, 3.0, 4.0), n_tumours=1, seed=2,
                           noise_hu=0.0)
    assert phantom.tumours[0].kind == "hypodense"
    hu, labels = phantom.ct.array, phantom.labels.array
    assert np.median(hu[labels == 2]) < np.median(hu[labels == 1]) - 30


def test_noise_level_is_as_asked():
    quiet = make_phantom(shape=(8, 48, 48), n_tumours=0, seed=1, noise_hu=0.0)
    noisy = make_phantom(shape=(8, 48, 48), n_tumours=0, seed=1, noise_hu=20.0)
    difference = noisy.ct.array.astype(float) - quiet.ct.array
    assert 17 < difference.std() < 23


def test_any_size_and_spacing_including_one_slice():
    thin = make_phantom(shape=(1, 33, 37), spacing=(9.0, 9.0, 5.0), n_tumours=0, seed=0)
    assert thin.ct.shape == (1, 33, 37)
    assert (thin.labels.array == 1).any()


def test_tumours_look_like_real_ones_mostly_darker_than_liver_and_not_flat():
    """Portal-venous metastases: most lesions darker than their liver (hypodense, or a dark
    core in an enhancing rim), with texture inside rather than one flat value."""
    kinds, darker = [], []
    for seed in range(4):
        phantom = make_phantom(shape=(32, 112, 112), spacing=(2.5, 2.5, 4.0), n_tumours=5,
                               seed=seed, noise_hu=0.0)
        hu, labels = phantom.ct.array.astype(float), phantom.labels.array
        liver_hu = np.median(hu[labels == 1])
        lesions, count = ndimage.label(labels == 2)
        for index in range(1, count + 1):
            inside = hu[lesions == index]
            darker.append(np.median(inside) < liver_hu - 20)
            if inside.size > 200:
                assert inside.std() > 3.0  # textured
        kinds += [t.kind for t in phantom.tumours]
    assert kinds.count("hyperdense") < 0.25 * len(kinds)
    assert np.mean(darker) > 0.6
