"""Lesions followed from the baseline to the follow-up: tracks, with what became of each.

The follow-up's lesions are moved onto the baseline's grid by the registration. A baseline
and a follow-up lesion belong to one track when they overlap there (by at least
``MIN_OVERLAP`` of the smaller), or, when neither overlaps anything, when their centroids
lie within ``match_distance_mm`` after registration (nearest pairs first). A track holding
several lesions at one time is a split or a merge. Each lesion is measured on its own scan's
grid (the report's lesions), never on a resampled copy.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: A baseline and a follow-up lesion overlap when the voxels they share are at least this
#: fraction of the smaller of the two (on the baseline grid, after registration).
MIN_OVERLAP = 0.1
MATCH_DISTANCE_MM = 10.0
#: A lesion whose volume changed by less than this (percent, either way) is stable: about
#: the repeatability of CT volumetry of liver lesions, so that a smaller change is not
#: called growth or shrinkage.
STABLE_PERCENT = 20.0
STATUSES = ("new", "gone", "grown", "shrunk", "stable")


@dataclass
class Track:
    """One lesion followed over time; ``baseline`` and ``followup``: the report lesions
    (dicts with ``id``, ``volume_ml``, ``longest_axial_diameter_mm``, ``centroid_mm``)."""

    baseline: list[dict] = field(default_factory=list)
    followup: list[dict] = field(default_factory=list)
    matched_by: str | None = None  # "overlap", "distance" or None (new or gone)
    centroid_mm: list[float] | None = None  # in the baseline's coordinates

    @property
    def baseline_ml(self) -> float:
        return _total(self.baseline, "volume_ml")

    @property
    def followup_ml(self) -> float:
        return _total(self.followup, "volume_ml")

    @property
    def baseline_diameter_mm(self) -> float:
        """The sum of the lesions' longest axial diameters (RECIST 1.1 adds fragments)."""
        return _total(self.baseline, "longest_axial_diameter_mm")

    @property
    def followup_diameter_mm(self) -> float:
        return _total(self.followup, "longest_axial_diameter_mm")

    @property
    def change_percent(self) -> float | None:
        if not self.baseline:
            return None
        return 100.0 * (self.followup_ml - self.baseline_ml) / self.baseline_ml

    def status(self, stable_percent: float = STABLE_PERCENT) -> str:
        if not self.baseline:
            return "new"
        if not self.followup:
            return "gone"
        change = self.change_percent
        return "grown" if change >= stable_percent else "shrunk" if change <= -stable_percent \
            else "stable"

    @property
    def event(self) -> str | None:
        split, merged = len(self.followup) > 1, len(self.baseline) > 1
        return ("merged and split" if split and merged else "split" if split
                else "merged" if merged else None)


def _total(lesions: list[dict], key: str) -> float:
    return sum(lesion[key] for lesion in lesions)


def follow_lesions(baseline_lesions: list[dict], baseline_map: np.ndarray,
                   followup_lesions: list[dict], followup_map_on_baseline: np.ndarray,
                   followup_centroids_on_baseline: np.ndarray,
                   match_distance_mm: float = MATCH_DISTANCE_MM) -> list[Track]:
    """Tracks of the lesions of two scans. ``baseline_map``: the baseline's lesion ids on its
    grid (0: none); ``followup_map_on_baseline``: the follow-up's lesion ids moved onto that
    grid; ``followup_centroids_on_baseline``: (n, 3) the follow-up centroids moved to the
    baseline's coordinates, in ``followup_lesions``' order. Largest baseline lesions first,
    then the new ones, largest first."""
    n_base, n_follow = len(baseline_lesions), len(followup_lesions)
    edges = _overlaps(baseline_map, followup_map_on_baseline, n_base, n_follow)
    by_distance = _nearest_pairs(baseline_lesions, followup_centroids_on_baseline,
                                 {b for b, _ in edges}, {f for _, f in edges},
                                 match_distance_mm)
    parent = list(range(n_base + n_follow))  # union-find over baseline 0.., follow-up n_base..

    def root(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for b, f in edges | by_distance:
        parent[root(n_base + f)] = root(b)
    groups: dict[int, Track] = {}
    for b, lesion in enumerate(baseline_lesions):
        groups.setdefault(root(b), Track()).baseline.append(lesion)
    for f, lesion in enumerate(followup_lesions):
        groups.setdefault(root(n_base + f), Track()).followup.append(lesion)
    matched_by_distance = {b for b, _ in by_distance}
    for track in groups.values():
        if track.baseline and track.followup:
            first = baseline_lesions.index(track.baseline[0])
            track.matched_by = "distance" if first in matched_by_distance else "overlap"
        track.centroid_mm = _centroid(track, followup_lesions, followup_centroids_on_baseline)
    return sorted(groups.values(), key=lambda t: (not t.baseline, -max(t.baseline_ml,
                                                                        t.followup_ml)))


def _overlaps(baseline_map: np.ndarray, followup_map: np.ndarray, n_base: int,
              n_follow: int) -> set[tuple[int, int]]:
    """(baseline index, follow-up index) pairs that share enough voxels."""
    if not n_base or not n_follow:
        return set()
    from livseg.preprocess import mask_bbox

    box = mask_bbox((baseline_map > 0) | (followup_map > 0))  # the lesions' box: same counts
    baseline_map, followup_map = baseline_map[box.slices], followup_map[box.slices]
    both = (baseline_map > 0) & (followup_map > 0)
    shared = np.bincount((baseline_map[both].astype(np.int64) - 1) * n_follow
                         + followup_map[both] - 1, minlength=n_base * n_follow
                         ).reshape(n_base, n_follow)
    base_size = np.bincount(baseline_map.ravel(), minlength=n_base + 1)[1:]
    follow_size = np.bincount(followup_map.ravel(), minlength=n_follow + 1)[1:]
    smaller = np.minimum.outer(base_size, follow_size)
    found = np.argwhere((shared > 0) & (shared >= MIN_OVERLAP * np.maximum(smaller, 1)))
    return {(int(b), int(f)) for b, f in found}


def _nearest_pairs(baseline_lesions: list[dict], followup_centroids: np.ndarray,
                   taken_base: set[int], taken_follow: set[int],
                   limit_mm: float) -> set[tuple[int, int]]:
    """Lesions that overlap nothing, paired by the nearest centroids within ``limit_mm``."""
    free_base = [b for b in range(len(baseline_lesions)) if b not in taken_base]
    free_follow = [f for f in range(len(followup_centroids)) if f not in taken_follow]
    if not free_base or not free_follow:
        return set()
    base = np.array([baseline_lesions[b]["centroid_mm"] for b in free_base], float)
    distance = np.linalg.norm(base[:, None, :] - followup_centroids[free_follow][None], axis=2)
    pairs = set()
    for flat in np.argsort(distance, axis=None):
        i, j = np.unravel_index(flat, distance.shape)
        if distance[i, j] > limit_mm:
            break
        if free_base[i] not in {b for b, _ in pairs} and free_follow[j] not in {
                f for _, f in pairs}:
            pairs.add((free_base[i], free_follow[j]))
    return pairs


def _centroid(track: Track, followup_lesions: list[dict],
              followup_centroids: np.ndarray) -> list[float]:
    """The volume-weighted centroid of the track's lesions at the baseline if it had any,
    else at the follow-up (moved to the baseline's coordinates)."""
    if track.baseline:
        points = np.array([lesion["centroid_mm"] for lesion in track.baseline], float)
        weights = [lesion["volume_ml"] for lesion in track.baseline]
    else:
        points = np.array([followup_centroids[followup_lesions.index(lesion)]
                           for lesion in track.followup], float)
        weights = [lesion["volume_ml"] for lesion in track.followup]
    return [round(float(v), 2) for v in np.average(points, axis=0, weights=weights)]
