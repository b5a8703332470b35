"""Dice + cross-entropy with class weights: the class balancing of the seed paper."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DiceCrossEntropyLoss(nn.Module):
    """``ce_weight`` x weighted cross-entropy + ``dice_weight`` x (1 - soft Dice).

    Soft Dice is computed over the whole batch for every class but the background, so a
    rare class (tumour) counts as much as a common one however few voxels it has.
    ``class_weights`` (one per class) weight the cross-entropy.
    """

    def __init__(self, num_classes: int = 2, class_weights: tuple[float, ...] | None = None,
                 dice_weight: float = 1.0, ce_weight: float = 1.0, smooth: float = 1.0):
        super().__init__()
        weights = torch.ones(num_classes) if class_weights is None else \
            torch.as_tensor(class_weights, dtype=torch.float32)
        if weights.numel() != num_classes:
            raise ValueError(f"{num_classes} classes but {weights.numel()} class weights")
        self.register_buffer("class_weights", weights)
        self.dice_weight, self.ce_weight, self.smooth = dice_weight, ce_weight, smooth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """logits (N, K, H, W), target (N, H, W) of class indices -> scalar loss."""
        logits = logits.float()
        loss = logits.new_zeros(())
        if self.ce_weight:
            loss = loss + self.ce_weight * F.cross_entropy(logits, target.long(),
                                                           weight=self.class_weights)
        if self.dice_weight:
            probabilities = logits.softmax(dim=1)[:, 1:]
            one_hot = F.one_hot(target.long(), logits.shape[1]).permute(0, 3, 1, 2)[:, 1:]
            dims = (0, 2, 3)
            intersection = (probabilities * one_hot).sum(dims)
            total = probabilities.sum(dims) + one_hot.sum(dims)
            dice = (2 * intersection + self.smooth) / (total + self.smooth)
            loss = loss + self.dice_weight * (1 - dice.mean())
        return loss
