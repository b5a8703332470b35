"""2.5D input: each slice with its neighbours, sampled at fixed distances along the slice axis.

A 2.5D stage sees k slices: its own and (k - 1) / 2 on each side, ``step`` apart. With a step
in millimetres the network sees the same anatomy whatever the scanner's slice spacing (and
whether training kept every slice or every second one): a neighbour that falls between two
slices is interpolated linearly from them. Without a step the neighbours are the adjacent
slices. Beyond a volume's first or last slice the edge slice is repeated, and a slice with
no known position (an isolated slice of a slice folder) is its own neighbour.

The same :class:`ContextIndex` serves training (rows of a slice set, many volumes) and
inference (the slices of one volume): what the network sees is built by one function.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ContextIndex:
    """For every slice and each of its k inputs: the two rows to interpolate between."""

    lower: np.ndarray  # (N, k) int64 row indices
    upper: np.ndarray  # (N, k) int64 row indices
    weight: np.ndarray  # (N, k) float32: the share of ``upper`` (0: ``lower`` alone)

    def stack(self, images, rows=None):
        """(N, k, H, W) inputs of ``rows`` (all when None) from (M, H, W) ``images``, a
        NumPy array or a torch tensor (of the same device as the index's tensors)."""
        lower, upper, weight = self.lower, self.upper, self.weight
        if rows is not None:
            lower, upper, weight = lower[rows], upper[rows], weight[rows]
        low, high = images[lower], images[upper]
        if not (weight > 0).any():
            return low
        share = weight[..., None, None]
        return low * (1 - share) + high * share

    def to(self, convert) -> ContextIndex:
        """The same index with each array passed through ``convert`` (e.g. to torch)."""
        return ContextIndex(convert(self.lower), convert(self.upper), convert(self.weight))


def context_index(positions: np.ndarray, k: int, step: float,
                  groups: np.ndarray | None = None) -> ContextIndex:
    """The k inputs of each slice at ``positions`` (mm, or slice numbers with step 1),
    ``step`` apart, among the slices of its own group (volume); NaN positions stand alone."""
    positions = np.asarray(positions, np.float64)
    n, half = len(positions), k // 2
    rows = np.arange(n)
    lower = np.repeat(rows[:, None], k, axis=1)
    upper = lower.copy()
    weight = np.zeros((n, k), np.float32)
    if k == 1 or n == 0:
        return ContextIndex(lower, upper, weight)
    groups = np.zeros(n, int) if groups is None else np.asarray(groups)
    offsets = np.arange(-half, half + 1) * float(step)
    known = np.isfinite(positions)
    for group in np.unique(groups[known]):
        members = np.flatnonzero((groups == group) & known)
        order = members[np.argsort(positions[members], kind="stable")]
        sorted_positions = positions[order]
        targets = np.clip(positions[members, None] + offsets, sorted_positions[0],
                          sorted_positions[-1])
        right = np.clip(np.searchsorted(sorted_positions, targets, side="left"), 0,
                        len(order) - 1)
        left = np.clip(right - 1, 0, len(order) - 1)
        exact = sorted_positions[right] == targets
        left = np.where(exact, right, left)
        gap = sorted_positions[right] - sorted_positions[left]
        share = np.where(gap > 0, (targets - sorted_positions[left]) / np.where(gap > 0, gap, 1),
                         0.0)
        lower[members], upper[members] = order[left], order[right]
        weight[members] = share.astype(np.float32)
    return ContextIndex(lower, upper, weight)


def volume_context(n_slices: int, k: int, slice_mm: float | None,
                   step_mm: float | None) -> ContextIndex:
    """The context index of one volume's ``n_slices`` consecutive slices, ``slice_mm``
    apart: neighbours ``step_mm`` apart, or adjacent slices when ``step_mm`` is None."""
    if step_mm is None or not slice_mm:
        return context_index(np.arange(n_slices, dtype=np.float64), k, 1.0)
    return context_index(np.arange(n_slices) * float(slice_mm), k, float(step_mm))


def context_reach(k: int, slice_mm: float | None, step_mm: float | None) -> int:
    """How many slices beyond a block of slices its context reaches, on each side."""
    half = k // 2
    if half == 0:
        return 0
    if step_mm is None or not slice_mm:
        return half
    return int(np.ceil(half * float(step_mm) / float(slice_mm)))
