"""Augmentation of whole batches as tensors (on the GPU when the batch is there).

As in the paper: rotation, flipping and shifting; beyond it: scaling, an optional smooth
elastic deformation (as in Ronneberger et al.'s U-Net: random displacements on a coarse grid,
interpolated to every pixel) and intensity changes (contrast, brightness, noise, blur). One
warp per sample moves image and labels together (bilinear for the image, nearest for the
labels).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    rotate_deg: float = 15.0
    shift_fraction: float = 0.08
    scale_range: tuple[float, float] = (0.85, 1.15)
    flip_probability: float = 0.5
    contrast_range: tuple[float, float] = (0.8, 1.2)
    brightness: float = 0.08
    noise_std: float = 0.03
    blur_probability: float = 0.15
    elastic_sigma: float = 0.0  # std of the displacements, as a fraction of the image; 0: off
    elastic_points: int = 5  # control points per side on which displacements are drawn


def _uniform(n: int, low: float, high: float, generator, device) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=device) * (high - low) + low


def spatial_augment(images: torch.Tensor, labels: torch.Tensor, config: AugmentConfig,
                    generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random rotation, scaling, shift and flips of (N, C, H, W) images and (N, H, W) labels."""
    n, device = images.shape[0], images.device
    angle = _uniform(n, -1, 1, generator, device) * math.radians(config.rotate_deg)
    scale = _uniform(n, *config.scale_range, generator, device)
    flip_x = torch.where(torch.rand(n, generator=generator, device=device)
                         < config.flip_probability, -1.0, 1.0)
    flip_y = torch.where(torch.rand(n, generator=generator, device=device)
                         < config.flip_probability, -1.0, 1.0)
    shift = _uniform(2 * n, -1, 1, generator, device).view(n, 2) * 2 * config.shift_fraction
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip_x, -sin, shift[:, 0]], dim=1),
                         torch.stack([sin, cos * flip_y, shift[:, 1]], dim=1)], dim=1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    if config.elastic_sigma > 0:
        grid = grid + elastic_displacement(n, images.shape[-2:], config, generator, device)
    warped = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros",
                           align_corners=False)
    warped_labels = F.grid_sample(labels[:, None].float(), grid, mode="nearest",
                                  padding_mode="zeros", align_corners=False)
    return warped, warped_labels[:, 0].round().to(labels.dtype)


def elastic_displacement(n: int, size, config: AugmentConfig, generator: torch.Generator,
                         device) -> torch.Tensor:
    """Smooth random (N, H, W, 2) offsets in grid_sample's [-1, 1] units.

    Gaussian displacements (std ``elastic_sigma`` of the image's extent) on an
    ``elastic_points`` x ``elastic_points`` grid, interpolated bicubically to every pixel;
    the grid's outer points stay still, so the image's border does not move.
    """
    points = config.elastic_points
    coarse = torch.zeros(n, 2, points, points, device=device)
    inner = torch.randn((n, 2, points - 2, points - 2), generator=generator, device=device)
    coarse[:, :, 1:-1, 1:-1] = inner * 2 * config.elastic_sigma
    dense = F.interpolate(coarse, size=tuple(size), mode="bicubic", align_corners=True)
    return dense.permute(0, 2, 3, 1)


def _gaussian_kernel(sigma: float, device) -> torch.Tensor:
    radius = max(1, int(math.ceil(2.5 * sigma)))
    x = torch.arange(-radius, radius + 1, device=device, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def intensity_augment(images: torch.Tensor, config: AugmentConfig,
                      generator: torch.Generator) -> torch.Tensor:
    """Random contrast, brightness, Gaussian noise and blur of (N, C, H, W) images in [0, 1]."""
    n, device = images.shape[0], images.device
    shape = (n, 1, 1, 1)
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    contrast = _uniform(n, *config.contrast_range, generator, device).view(shape)
    brightness = _uniform(n, -config.brightness, config.brightness, generator, device)
    out = (images - mean) * contrast + mean + brightness.view(shape)
    noise_std = _uniform(n, 0, config.noise_std, generator, device).view(shape)
    out = out + noise_std * torch.randn(out.shape, generator=generator, device=device)
    blur = torch.rand(n, generator=generator, device=device) < config.blur_probability
    if blur.any():
        kernel = _gaussian_kernel(0.8, device)
        channels = out.shape[1]
        k = kernel.numel()
        chosen = out[blur]
        chosen = F.conv2d(F.pad(chosen, (k // 2, k // 2, 0, 0), mode="replicate"),
                          kernel.view(1, 1, 1, k).repeat(channels, 1, 1, 1), groups=channels)
        chosen = F.conv2d(F.pad(chosen, (0, 0, k // 2, k // 2), mode="replicate"),
                          kernel.view(1, 1, k, 1).repeat(channels, 1, 1, 1), groups=channels)
        out = out.clone()
        out[blur] = chosen
    return out.clamp_(0.0, 1.0)


def augment_batch(images: torch.Tensor, labels: torch.Tensor, config: AugmentConfig,
                  generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = spatial_augment(images, labels, config, generator)
    return intensity_augment(images, config, generator), labels
