"""Looking inside the networks (the seed paper's "insight into the internal layers"):
feature maps of encoder and decoder layers, and Grad-CAM maps (Selvaraju et al., 2017) of
the liver and tumour outputs, for one axial slice, as PNG files."""
from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import torch
from torch import nn

from livseg.infer import Cascade, Stage
from livseg.infer.postprocess import clean_liver
from livseg.io.text import staged_folder
from livseg.io.volume import Volume
from livseg.preprocess import (
    crop,
    hu_window,
    mask_bbox,
    resize_in_plane,
    shape_at_pixel_size,
    to_canonical,
)
from livseg.viz.figures import new_figure, save_figure, show_ct

FEATURE_CHANNELS = 16  # the most active channels shown per layer


def watched_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Named layers whose outputs are shown: the stem, each encoder and decoder stage."""
    layers = {"stem": model.stem}
    layers |= {f"encoder{i + 1}": stage for i, stage in enumerate(model.encoder)}
    layers |= {f"decoder{i + 1}": stage for i, stage in enumerate(model.decoder)}
    return layers


def explain_stage(stage: Stage, image_hu: np.ndarray) -> tuple[dict[str, np.ndarray],
                                                              np.ndarray, np.ndarray]:
    """(feature maps per layer (C, h, w), Grad-CAM (H, W) in [0, 1], probability (H, W)) of
    one prepared (H, W) slice. Grad-CAM uses the last decoder stage and the foreground
    logit summed over the pixels the stage calls foreground (all pixels if none)."""
    model = stage.model
    layers = watched_layers(model)
    captured: dict[str, torch.Tensor] = {}
    hooks = [layer.register_forward_hook(_keep(captured, name)) for name, layer in layers.items()]
    device = next(model.parameters()).device
    x = torch.from_numpy(hu_window(image_hu, *stage.window)[None, None]).to(device)
    x = x.repeat(1, stage.in_channels, 1, 1)
    try:
        with torch.enable_grad():
            logits = model(x)
            last = captured[list(layers)[-1]]
            last.retain_grad()
            foreground = logits.argmax(1, keepdim=True) == 1
            weight = foreground if foreground.any() else torch.ones_like(foreground)
            (logits[:, 1:2] * weight).sum().backward()
    finally:
        for hook in hooks:
            hook.remove()
    gradient, activation = last.grad[0], last[0].detach()
    cam = torch.relu((gradient.mean(dim=(1, 2))[:, None, None] * activation).sum(0))
    cam = resize_in_plane(cam.cpu().numpy()[None], image_hu.shape, is_label=False)[0]
    cam = cam / cam.max() if cam.max() > 0 else cam
    probability = logits.detach().softmax(1)[0, 1].cpu().numpy()
    features = {name: value[0].detach().cpu().numpy() for name, value in captured.items()}
    return features, cam, probability


def _keep(store: dict, name: str):
    def hook(module, inputs, output):
        store[name] = output
    return hook


def feature_mosaic(maps: np.ndarray, channels, columns: int = FEATURE_CHANNELS // 2
                   ) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The ``channels`` of ``maps`` (C, h, w) as one image of tiles, ``columns`` to a row,
    each scaled to [0, 1] over its own range (a flat channel is 0), NaN in the gaps of a
    sixteenth of a tile between them; and each tile's top-left corner (y, x) in that image."""
    height, width = maps.shape[1:]
    gap_y, gap_x = max(1, height // 16), max(1, width // 16)
    rows = -(-len(channels) // columns)
    mosaic = np.full((rows * (height + gap_y) - gap_y, columns * (width + gap_x) - gap_x),
                     np.nan, np.float32)
    corners = []
    for place, channel in enumerate(channels):
        y, x = (place // columns) * (height + gap_y), (place % columns) * (width + gap_x)
        tile = maps[channel].astype(np.float32)
        span = float(tile.max() - tile.min())
        mosaic[y:y + height, x:x + width] = (tile - tile.min()) / span if span > 0 else 0.0
        corners.append((y, x))
    return mosaic, corners


def explain_slice(volume: Volume, cascade: Cascade, slice_index: int | None,
                  out: Path, locator: Cascade | None = None) -> dict:
    """Write the explanation PNGs of one canonical axial slice to ``out`` (all or nothing).

    ``slice_index`` counts canonical axial slices from the feet (None: the slice with the
    most liver). ``cascade`` (torch: hooks and gradients) is explained; ``locator`` (default
    ``cascade``) finds the liver in the whole volume, which picks the slice and the tumour
    stage's box: the same weights on onnxruntime do that in a fraction of torch's time.
    Returns what was written.
    """
    canonical, _ = to_canonical(volume)
    hu = canonical.array.astype(np.float32)
    liver = clean_liver((locator or cascade).liver_mask(hu, slice_mm=canonical.spacing_zyx[0]))
    if slice_index is None:
        slice_index = int(np.argmax(liver.sum(axis=(1, 2))))
    if not 0 <= slice_index < len(hu):
        from livseg.errors import LivsegInputError
        raise LivsegInputError(f"--slice {slice_index} is outside 0..{len(hu) - 1}")
    written = {"slice": slice_index, "files": []}
    with staged_folder(out) as staging:
        image = resize_in_plane(hu[slice_index][None], cascade.liver.size, is_label=False)[0]
        written["files"] += _save_stage(staging, "liver", cascade.liver, image)
        box = mask_bbox(liver[slice_index], canonical.spacing_zyx[1:],
                        cascade.settings.roi_margin_mm)
        if cascade.tumour is not None and box is not None:
            roi = crop(hu[slice_index], box)
            if cascade.tumour.pixel_mm:
                shape = shape_at_pixel_size(roi.shape, canonical.spacing_zyx[1:],
                                            cascade.tumour.pixel_mm)
                roi = resize_in_plane(roi[None], shape, is_label=False)[0]
            written["files"] += _save_stage(staging, "tumour", cascade.tumour, roi)
    return written


def _save_stage(folder: Path, name: str, stage: Stage, image_hu: np.ndarray) -> list[str]:
    features, cam, probability = explain_stage(stage, image_hu)
    files = []
    for layer, maps in features.items():
        strongest = np.argsort(-np.abs(maps).mean(axis=(1, 2)))[:FEATURE_CHANNELS]
        figure = new_figure((16, 4.4))
        axis = figure.add_axes((0.005, 0.01, 0.99, 0.85))
        # one image of all the tiles: a grid of 16 axes took half a second per figure
        mosaic, corners = feature_mosaic(maps, strongest)
        axis.imshow(mosaic, cmap=matplotlib.colormaps["viridis"].with_extremes(bad="white"),
                    vmin=0, vmax=1, interpolation="nearest")
        for (y, x), channel in zip(corners, strongest, strict=True):
            axis.text(x, y, f" ch {channel}", color="white", fontsize=7, ha="left", va="top",
                      bbox={"facecolor": "black", "alpha": 0.5, "pad": 1, "linewidth": 0})
        axis.axis("off")
        figure.suptitle(f"{name} stage, {layer}: {maps.shape[0]} channels at "
                        f"{maps.shape[1]}x{maps.shape[2]}, the {len(strongest)} most active "
                        f"(each scaled to its own range)")
        files.append(save_figure(figure, folder / f"{name}_features_{layer}.png", dpi=70,
                                 tight=False).name)
    figure = new_figure((12, 4.4))
    axes = figure.subplots(1, 3)
    for axis, title in zip(axes, ("input", f"{name} probability", "Grad-CAM"), strict=True):
        show_ct(axis, image_hu)
        axis.set_title(title)
    axes[1].imshow(probability, cmap="magma", alpha=0.6, vmin=0, vmax=1)
    axes[2].imshow(cam, cmap="jet", alpha=0.5, vmin=0, vmax=1)
    figure.suptitle(f"{name} stage: Grad-CAM of the {name} output at its last decoder stage")
    files.append(save_figure(figure, folder / f"{name}_gradcam.png", dpi=70).name)
    return files
