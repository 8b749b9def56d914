"""Pure tensor math used in training (unit-testable, no modules).

References: VICReg (Bardes, Ponce, LeCun, 2022) for the variance/covariance terms.
"""

from __future__ import annotations

import torch

__all__ = ["masked_mean", "vicreg_variance", "vicreg_covariance", "ema_update"]


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over entries where ``mask`` is 1 (same shape); 0 when the mask is empty."""
    return (x * mask).sum() / mask.sum().clamp_min(1.0)


def vicreg_variance(z: torch.Tensor, target_std: float = 1.0, eps: float = 1e-4) -> torch.Tensor:
    """Hinge on the per-dimension std over the batch: ``mean_d relu(target - std_d)``; ``z (B, Z)``."""
    std = torch.sqrt(z.var(dim=0) + eps)
    return torch.relu(target_std - std).mean()


def vicreg_covariance(z: torch.Tensor) -> torch.Tensor:
    """Sum of squared off-diagonal covariances divided by ``Z``; ``z (B, Z)`` -> scalar."""
    batch, dim = z.shape
    centred = z - z.mean(dim=0)
    cov = centred.T @ centred / max(batch - 1, 1)  # (Z, Z)
    off_diagonal = cov - torch.diag(torch.diagonal(cov))
    return off_diagonal.pow(2).sum() / dim


@torch.no_grad()
def ema_update(target: torch.nn.Module, online: torch.nn.Module, tau: float) -> None:
    """``target <- (1 - tau) target + tau online`` for every parameter."""
    for t_param, o_param in zip(target.parameters(), online.parameters(), strict=True):
        t_param.lerp_(o_param, tau)
