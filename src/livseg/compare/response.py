"""Response of the liver's lesions between two scans: RECIST 1.1 and a volumetric response.

RECIST 1.1 (Eisenhauer et al., Eur J Cancer 2009;45:228-247), for one organ: up to
``MAX_TARGETS`` target lesions, the largest measurable ones (longest axial diameter of at
least ``MEASURABLE_MM``) at the baseline; the sum of their longest diameters at both times
(a lesion that split adds its fragments, lesions that merged count once, a lesion gone
counts 0 mm). CR: every lesion gone; PR: the sum fell by at least 30 %; PD: it rose by at
least 20 % and at least 5 mm, or a new lesion appeared; SD otherwise. With two scans the
baseline is the nadir. Without a measurable lesion at the baseline only CR, PD or
"non-CR/non-PD" can be said.

The volumetric response uses the total tumour volume, with the volumes that the RECIST
thresholds correspond to for a sphere, as in the RECIST paper's own table (Therasse et al.,
J Natl Cancer Inst 2000;92:205-216): a 30 % fall in diameter is a 65 % fall in volume, a
20 % rise a 73 % rise. A new lesion is PD here too.

A measurement aid, not a diagnosis: RECIST asks a reader to judge what no program can
(unequivocal progression of non-target lesions, whether a new lesion is a tumour).
"""
from __future__ import annotations

from livseg.compare.tracks import Track

MEASURABLE_MM = 10.0
MAX_TARGETS = 2  # per organ
PR_PERCENT, PD_PERCENT, PD_MM = -30.0, 20.0, 5.0
VOLUME_PR_PERCENT, VOLUME_PD_PERCENT = -65.0, 73.0
DISCLAIMER = ("A measurement aid, not a diagnosis: the lesions, their matching and the "
              "response categories must be checked by a radiologist.")


def recist(tracks: list[Track]) -> dict:
    """RECIST 1.1 for the liver from the lesion tracks."""
    targets = sorted(((lesion["longest_axial_diameter_mm"], index, lesion["id"])
                      for index, track in enumerate(tracks) for lesion in track.baseline
                      if lesion["longest_axial_diameter_mm"] >= MEASURABLE_MM),
                     reverse=True)[:MAX_TARGETS]
    new = sum(1 for track in tracks if not track.baseline)
    any_left = any(track.followup for track in tracks)
    any_before = any(track.baseline for track in tracks)
    result = {"target_lesions": [lesion_id for _, _, lesion_id in targets],
              "target_tracks": sorted({index + 1 for _, index, _ in targets}),
              "new_lesions": new}
    if not targets:
        category = ("PD" if new else "CR" if any_before and not any_left
                    else "non-CR/non-PD" if any_before else None)
        return result | {"sum_of_diameters_mm": None, "category": category,
                         "why": _why_without_targets(category, any_before)}
    before = sum(diameter for diameter, _, _ in targets)
    after = sum(tracks[index].followup_diameter_mm for index in {i for _, i, _ in targets})
    change = after - before
    percent = 100.0 * change / before
    if new:
        category, why = "PD", f"{new} new lesion(s)"
    elif not any_left:
        category, why = "CR", "every lesion gone"
    elif percent >= PD_PERCENT and change >= PD_MM:
        category, why = "PD", f"sum of diameters +{percent:.0f} % and +{change:.1f} mm"
    elif percent <= PR_PERCENT:
        category, why = "PR", f"sum of diameters {percent:.0f} %"
    else:
        category, why = "SD", f"sum of diameters {percent:+.0f} % ({change:+.1f} mm)"
    return result | {"sum_of_diameters_mm": {"baseline": round(before, 2),
                                             "followup": round(after, 2),
                                             "change_mm": round(change, 2),
                                             "change_percent": round(percent, 2)},
                     "category": category, "why": why}


def volumetric(tracks: list[Track]) -> dict:
    """The response by total tumour volume, thresholds stated."""
    before = sum(track.baseline_ml for track in tracks)
    after = sum(track.followup_ml for track in tracks)
    new = sum(1 for track in tracks if not track.baseline)
    percent = 100.0 * (after - before) / before if before else None
    if new:
        category = "PD"
    elif not before:
        category = None
    elif not after:
        category = "CR"
    else:
        category = ("PD" if percent >= VOLUME_PD_PERCENT else "PR"
                    if percent <= VOLUME_PR_PERCENT else "SD")
    return {"category": category,
            "tumour_volume_ml": {"baseline": round(before, 3), "followup": round(after, 3),
                                 "change_ml": round(after - before, 3),
                                 "change_percent": None if percent is None
                                 else round(percent, 2)},
            "thresholds_percent": {"PR": VOLUME_PR_PERCENT, "PD": VOLUME_PD_PERCENT},
            "source": "volumes of a sphere at the RECIST diameter thresholds (Therasse et "
                      "al., J Natl Cancer Inst 2000;92:205-216); a new lesion is PD"}


def _why_without_targets(category: str | None, any_before: bool) -> str:
    if category is None:
        return "no lesion at either time"
    if category == "PD":
        return "new lesion(s)"
    if category == "CR":
        return "every lesion gone"
    return "no measurable lesion (>= 10 mm) at the baseline; the non-target lesions remain"
