"""Pure tensor math used in training (unit-testable, no modules).

References: VICReg (Bardes, Ponce, LeCun, 2022) for the variance/covariance terms;
TD(lambda) returns as in Sutton & Barto, ch. 12.
"""

from __future__ import annotations

import torch

__all__ = ["masked_mean", "vicreg_variance", "vicreg_covariance", "lambda_returns", "ema_update"]


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


def lambda_returns(
    cost: torch.Tensor,
    next_value: torch.Tensor,
    terminated: torch.Tensor,
    mask: torch.Tensor,
    gamma: float,
    lam: float,
) -> torch.Tensor:
    """TD(lambda) targets of the discounted cost-to-go along windows.

    ``cost, terminated, mask (B, H)``; ``next_value (B, H)`` = target-network value of the
    state after each transition. ``G_t = c_t + gamma (1 - term_t) [(1 - lam) V(s_{t+1}) +
    lam G_{t+1}]``, where ``G_{t+1}`` is replaced by ``V(s_{t+1})`` at the window's last
    valid step (the end of the window or a truncation). Zero after termination.
    Returns ``(B, H)``; entries where ``mask`` is 0 are meaningless.
    """
    horizon = cost.shape[1]
    returns = torch.zeros_like(cost)
    following = next_value[:, -1]  # G_{t+1} for t = H-1: bootstrap
    for t in reversed(range(horizon)):
        has_next = mask[:, t + 1] if t + 1 < horizon else torch.zeros_like(mask[:, t])
        blended = has_next * ((1 - lam) * next_value[:, t] + lam * following) + (1 - has_next) * next_value[:, t]
        returns[:, t] = cost[:, t] + gamma * (1 - terminated[:, t]) * blended
        following = returns[:, t]
    return returns


@torch.no_grad()
def ema_update(target: torch.nn.Module, online: torch.nn.Module, tau: float) -> None:
    """``target <- (1 - tau) target + tau online`` for every parameter."""
    for t_param, o_param in zip(target.parameters(), online.parameters(), strict=True):
        t_param.lerp_(o_param, tau)
