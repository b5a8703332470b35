"""Human-readable and flat (CSV) views of an evaluation report."""
from __future__ import annotations

COLUMNS = (("liver", "dice", "liver Dice"), ("liver", "assd_mm", "liver ASSD mm"),
           ("liver", "hd95_mm", "liver HD95 mm"), ("tumour", "dice", "tumour Dice"),
           ("tumour", "rvd", "tumour RVD"), ("lesions", "recall_iou50", "lesion recall"),
           ("lesions", "precision_iou50", "lesion precision"))


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def format_table(report: dict) -> str:
    """A plain-text table: one row per case and a final row over all cases."""
    header = ["case"] + [title for _, _, title in COLUMNS]
    rows = [[case["case"]] + [_cell(case[group].get(key)) for group, key, _ in COLUMNS]
            for case in report["cases"]]
    overall = report["aggregate"]
    rows.append(["ALL (mean)"] + [
        _cell(overall[group].get("dice_per_case" if key == "dice" else key))
        for group, key, _ in COLUMNS])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                       enumerate(zip(r, widths, strict=True))) for r in [header, *rows]]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(-1, "-" * len(lines[0]))
    dice_global = (overall["liver"].get("dice_global"), overall["tumour"].get("dice_global"))
    lines.append(f"Dice global: liver {_cell(dice_global[0])}, tumour {_cell(dice_global[1])}")
    return "\n".join(lines)


def flat_rows(report: dict) -> list[dict]:
    """One flat dict per case (``liver_dice``, ``tumour_hd95_mm``, ``lesions_f1_iou50``, ...)."""
    rows = []
    for case in report["cases"]:
        row = {"case": case["case"]}
        for group in ("liver", "tumour", "lesions"):
            row.update({f"{group}_{key}": value for key, value in case[group].items()})
        rows.append(row)
    return rows
