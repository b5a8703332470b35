"""Dice (or Tversky) + cross-entropy with class weights: the class balancing of the seed
paper, and a Tversky index (Salehi et al. 2017) that weighs missed voxels more than false
ones for a stage that under-segments."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DiceCrossEntropyLoss(nn.Module):
    """``ce_weight`` x weighted cross-entropy + ``dice_weight`` x (1 - soft Dice).

    Soft Dice is computed over the whole batch for every class but the background, so a
    rare class (tumour) counts as much as a common one however few voxels it has.
    ``class_weights`` (one per class) weight the cross-entropy. With ``tversky_beta`` above
    0.5 the overlap term is the Tversky index, 2TP / (2TP + 2(1 - beta) FP + 2 beta FN):
    Dice at 0.5, and missed voxels cost more than false ones above it.
    """

    def __init__(self, num_classes: int = 2, class_weights: tuple[float, ...] | None = None,
                 dice_weight: float = 1.0, ce_weight: float = 1.0, smooth: float = 1.0,
                 tversky_beta: float = 0.5):
        super().__init__()
        weights = torch.ones(num_classes) if class_weights is None else \
            torch.as_tensor(class_weights, dtype=torch.float32)
        if weights.numel() != num_classes:
            raise ValueError(f"{num_classes} classes but {weights.numel()} class weights")
        self.register_buffer("class_weights", weights)
        if not 0 < tversky_beta < 1:
            raise ValueError("tversky_beta must lie in (0, 1)")
        self.dice_weight, self.ce_weight, self.smooth = dice_weight, ce_weight, smooth
        self.beta = tversky_beta

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
            tp = (probabilities * one_hot).sum(dims)
            fp, fn = probabilities.sum(dims) - tp, one_hot.sum(dims) - tp
            dice = (2 * tp + self.smooth) / (
                2 * tp + 2 * (1 - self.beta) * fp + 2 * self.beta * fn + self.smooth)
            loss = loss + self.dice_weight * (1 - dice.mean())
        return loss
