"""One gradient step on the world model, the critic and the policy prior from a batch of windows.

Used by pretraining and by the agent's online learning. A batch is the dict returned by
:meth:`agent.buffer.ReplayBuffer.sample`: ``obs (B, H+1, O)``, ``action (B, H, A)``,
``cost, terminated, fell, mask (B, H)``.

World-model loss (weights in :class:`~agent.world_model.WorldModelConfig`), with
``z_0 = encode(obs_0)``, ``z_{t+1} = next(z_t, a_t)`` and ``zbar_t = target_encode(obs_t)``:

- latent: ``||z_{t+1} - zbar_{t+1}||^2 / Z``, averaged over valid steps with weights
  ``rho^t`` and scaled by ``H / sum_t rho^t`` (JEPA); the cost and fall losses are
  weighted the same way;
- VICReg variance + covariance on the online encodings of all window observations and on
  the predictions (the collapse guard of a stop-gradient/EMA target);
- cost: MSE of ``symlog(cost / cost_scale)`` (the cost head's raw output) on valid non-fall transitions;
- fall: BCE of ``fall_logit(z_t, a_t)`` against ``fell`` on valid transitions; with
  ``fall_members = K >= 2``, of every member's logit, averaged over members (all members see
  the same batch; with ``member_bootstrap`` each weights each window by its own Poisson(1)
  draw);
- end (``termination_head``): BCE of ``end_logit(z_t, a_t)`` against ``terminated and not
  fell`` on valid transitions, weighted by ``fall_coef``;
- dynamics members (``dynamics_members = K >= 2``): MSE of every member's next latent from
  the detached ``(z_t, a_t)`` to ``zbar_{t+1}``, with the same weights (and bootstrap). Its
  gradient is clipped on its own, so it does not shrink the rest of the world model's step.

Critic loss: MSE (in units of ``value_scale``) of every Q head to one-step TD targets
bootstrapped through the policy prior at the target encoder's next latent (see
:mod:`agent.critic`), on detached online encodings and, weighted by ``imagined_coef``,
on the detached imagined latents.

Policy loss (after the critic's step): ``Q(z, a~pi(z)) / q_scale - entropy_coef * A *
entropy + imitation_coef * ||pi(z) - a||^2`` on detached online encodings, stepping the
policy's parameters only. The imitation term pulls the prior toward the actions stored in
the buffer (online: the planner's own, so the prior amortises it), which keeps ``Q(z,
pi(z))`` on actions the critic has seen: without it, a critic bootstrapped through a
policy that only minimises Q exploits Q's errors on unseen actions (the over-optimism of
offline TD learning; Fujimoto & Gu, TD3+BC, 2021).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from agent.buffer import ReplayBuffer
from agent.critic import Critic, CriticConfig, expectile_loss
from agent.math import ema_update, masked_mean, vicreg_covariance, vicreg_variance
from agent.policy import Policy, PolicyConfig
from agent.utils import episode_cost_to_go
from agent.world_model import WorldModel, WorldModelConfig, symlog

__all__ = ["Trainer", "check_batch", "set_units_from_buffer"]

_REQUIRED = ("obs", "action", "cost", "terminated", "fell", "mask")


def check_batch(batch: dict[str, torch.Tensor], step: int | None = None) -> None:
    """Raise ``FloatingPointError`` naming the field and position of the first NaN/inf entry."""
    missing = [k for k in _REQUIRED if k not in batch]
    if missing:
        raise ValueError(f"training batch lacks fields {missing}; expected ReplayBuffer.sample output with {list(_REQUIRED)}")
    for name in _REQUIRED:
        tensor = batch[name]
        bad = ~torch.isfinite(tensor)
        if bad.any():
            where = tuple(int(i) for i in bad.nonzero()[0])
            at = f" in update {step}" if step is not None else ""
            raise FloatingPointError(
                f"non-finite value {tensor[where].item()} in batch field '{name}' at index {where}{at} "
                f"(shape {tuple(tensor.shape)}); training stopped before the gradient step so no "
                "weights were changed; check the env's observations/rewards for NaN/inf"
            )


def set_units_from_buffer(world_model: WorldModel, critic: Critic, buffer: ReplayBuffer) -> None:
    """Set the data-derived units before training starts: the observation normaliser, cost
    scale and fall cost of ``world_model``, and the critic's value scale (RMS of the data's
    Monte-Carlo discounted cost-to-go), from every transition in ``buffer``."""
    slots = buffer.valid_slots()
    world_model.set_normalizer(buffer.observations())
    world_model.set_fall_cost(buffer.cost[slots], buffer.fell[slots])
    returns = episode_cost_to_go(buffer.cost, buffer.episodes(), critic.gamma)
    critic.set_value_scale(float(np.sqrt(np.mean(returns**2))) if returns.size else 1.0)


class Trainer:
    """Owns the optimisers; :meth:`update` does one step on all three networks plus EMA/target updates."""

    def __init__(
        self,
        world_model: WorldModel,
        critic: Critic,
        policy: Policy,
        wm_config: WorldModelConfig | None = None,
        critic_config: CriticConfig | None = None,
        policy_config: PolicyConfig | None = None,
        seed: int = 0,
    ):
        self.world_model, self.critic, self.policy = world_model, critic, policy
        self.wm_config = wm_config or world_model.config
        self.critic_config = critic_config or critic.config
        self.policy_config = policy_config or policy.config
        online_wm = [p for name, p in world_model.named_parameters() if not name.startswith("target_")]
        self.wm_optim = torch.optim.Adam(online_wm, lr=self.wm_config.lr)
        # The dynamics members learn on detached inputs; their gradient norm is clipped apart.
        members = {id(p) for name, p in world_model.named_parameters() if name.startswith("dynamics_ensemble.")}
        self._wm_core = [p for p in online_wm if id(p) not in members]
        self._wm_members = [p for p in online_wm if id(p) in members]
        self._encoder = list(world_model.encoder.parameters())
        critic_params = list(critic.heads.parameters())
        for extra in (critic.value_heads, critic.risk_heads):
            if extra is not None:
                critic_params += list(extra.parameters())
        self.critic_optim = torch.optim.Adam(critic_params, lr=self.critic_config.lr)
        self.policy_optim = torch.optim.Adam(policy.parameters(), lr=self.policy_config.lr)
        self.rng = np.random.default_rng(seed)  # batch sampling in :meth:`train`
        self.num_updates = 0
        self.learn_risk = True
        """Whether :meth:`update` trains the fall-risk heads (``AgentConfig.freeze_risk`` turns it off
        online; the other networks learn as usual)."""
        self.learn_world_model = True
        """Whether :meth:`update` trains the world model (``AgentConfig.freeze_world_model`` turns it
        off: its losses are still computed and logged, its weights and Adam moments stay; the EMA
        target encoder keeps following the encoder, as with a learning rate of 0)."""
        self.learn_encoder = True
        """Whether :meth:`update` trains the encoder (``AgentConfig.freeze_encoder`` turns it off: the
        rest of the world model learns, its gradient norm clipped as before; the encoder's weights
        and Adam moments stay, as with a learning rate of 0 for it alone)."""
        self.value_policy: Policy | None = None
        """When set (a distilled agent, see ``agent/distill.py``), the critic's TD targets bootstrap
        through this frozen policy instead of the prior, which then only warm-starts the planner."""

    def _optimisers(self) -> dict[str, torch.optim.Optimizer]:
        return {"wm_optim": self.wm_optim, "critic_optim": self.critic_optim, "policy_optim": self.policy_optim}

    def state_dict(self) -> dict:
        """Adam moments and step counts (tensors only) and the update count, to resume exactly.

        Hyper-parameters (``param_groups``) are not saved: they come from the configs."""
        out: dict = {name: opt.state_dict()["state"] for name, opt in self._optimisers().items()}
        out["num_updates"] = self.num_updates
        return out

    def load_state_dict(self, state: dict) -> None:
        for name, opt in self._optimisers().items():
            current = opt.state_dict()
            current["state"] = {int(k): v for k, v in state.get(name, {}).items()}
            opt.load_state_dict(current)
        self.num_updates = int(state.get("num_updates", 0))

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One gradient step on world model, critic and policy; returns a flat dict of scalars."""
        check_batch(batch, self.num_updates)
        device = self.world_model.obs_mean.device
        batch = {k: v.to(device) for k, v in batch.items()}
        wm, cfg, ccfg = self.world_model, self.wm_config, self.critic_config
        obs, action, mask = batch["obs"], batch["action"], batch["mask"]  # (B,H+1,O) (B,H,A) (B,H)
        cost, terminated, fell = batch["cost"], batch["terminated"], batch["fell"]
        horizon = action.shape[1]
        wm.train()

        # ---- world model: JEPA rollout against EMA target encodings
        with torch.no_grad():
            target_z = wm.encode_target(obs)  # (B, H+1, Z)
        online_z = wm.encode(obs)  # (B, H+1, Z), for VICReg and the critic
        z = online_z[:, 0]
        weights = cfg.rho ** torch.arange(horizon, dtype=obs.dtype, device=device)  # (H,)
        step_weight = weights[None, :] * mask  # (B, H)
        members = wm.fall_members > 1
        latents, cost_pred, fall_logit, end_logit = [z], [], [], []
        for t in range(horizon):
            cost_pred.append(wm.cost_symlog(z, action[:, t]))
            fall_logit.append(wm.fall_logits(z, action[:, t]) if members else wm.fall_logit(z, action[:, t]))
            if cfg.termination_head:
                end_logit.append(wm.end_logit(z, action[:, t]))
            z = wm.next(z, action[:, t])
            latents.append(z)
        predicted = torch.stack(latents[1:], dim=1)  # (B, H, Z)
        cost_pred, fall_logit = torch.stack(cost_pred, 1), torch.stack(fall_logit, 1)  # (B, H), (B, H[, K])
        boot = None  # (B, K) per-member window weights
        if cfg.member_bootstrap and (members or cfg.dynamics_members):
            boot = torch.poisson(torch.ones(obs.shape[0], max(wm.fall_members, cfg.dynamics_members), device=device))

        latent_err = (predicted - target_z[:, 1:]).pow(2).mean(-1)  # (B, H)
        loss_latent = masked_mean(latent_err, step_weight) * weights.numel() / weights.sum()
        valid_obs = torch.cat([torch.ones_like(mask[:, :1]), mask], 1).bool()  # (B, H+1)
        encodings = online_z[valid_obs]  # (N, Z)
        predictions = predicted[mask.bool()]
        loss_var = vicreg_variance(encodings) + vicreg_variance(predictions)
        loss_cov = vicreg_covariance(encodings) + vicreg_covariance(predictions)
        non_fall = step_weight * (1 - fell)
        cost_target = symlog(cost / wm.cost_scale)
        loss_cost = masked_mean((cost_pred - cost_target).pow(2), non_fall) * weights.numel() / weights.sum()
        pos_weight = torch.tensor(cfg.fall_pos_weight, device=device)
        if members:
            bce = F.binary_cross_entropy_with_logits(
                fall_logit, fell[..., None].expand_as(fall_logit), reduction="none", pos_weight=pos_weight
            )  # (B, H, K)
            fall_weight = step_weight[..., None].expand_as(bce)
            if boot is not None:
                fall_weight = fall_weight * boot[:, None, : wm.fall_members]
            loss_fall = masked_mean(bce, fall_weight) * weights.numel() / weights.sum()
        else:
            bce = F.binary_cross_entropy_with_logits(fall_logit, fell, reduction="none", pos_weight=pos_weight)
            loss_fall = masked_mean(bce, step_weight) * weights.numel() / weights.sum()
        wm_loss = (
            cfg.latent_coef * loss_latent
            + cfg.vicreg_var_coef * loss_var
            + cfg.vicreg_cov_coef * loss_cov
            + cfg.cost_coef * loss_cost
            + cfg.fall_coef * loss_fall
        )
        extra_losses: dict[str, torch.Tensor] = {}
        if cfg.termination_head:
            # Terminations that are not falls (a goal reached): where imagined episodes end.
            ended = terminated * (1 - fell)
            bce = F.binary_cross_entropy_with_logits(torch.stack(end_logit, 1), ended, reduction="none")
            loss_end = masked_mean(bce, step_weight) * weights.numel() / weights.sum()
            wm_loss = wm_loss + cfg.fall_coef * loss_end
            extra_losses["end"] = loss_end
        if cfg.dynamics_members:
            inputs = torch.stack(latents[:-1], 1).detach()  # (B, H, Z) the latents the planner queries
            member_next = wm.next_members(inputs, action)  # (B, H, K, Z)
            member_err = (member_next - target_z[:, 1:, None]).pow(2).mean(-1)  # (B, H, K)
            member_weight = step_weight[..., None].expand_as(member_err)
            if boot is not None:
                member_weight = member_weight * boot[:, None, : cfg.dynamics_members]
            extra_losses["dynamics_members"] = masked_mean(member_err, member_weight) * weights.numel() / weights.sum()
            wm_loss = wm_loss + extra_losses["dynamics_members"]

        # ---- critic: one-step TD targets bootstrapped through the policy prior (or in-sample V)
        critic, policy = self.critic, self.policy
        real_z, imag_z = online_z[:, :-1].detach(), torch.stack(latents[:-1], 1).detach()  # (B, H, Z)
        scale = critic.value_scale
        with torch.no_grad():
            next_z = target_z[:, 1:]  # (B, H, Z)
            if critic.in_sample:
                next_value = critic.value(next_z).mean(-1)  # (B, H)
            else:
                bootstrap = policy if self.value_policy is None else self.value_policy
                next_value = critic.target_q(next_z, bootstrap(next_z))  # (B, H)
            returns = cost + critic.gamma * (1.0 - terminated) * next_value  # (B, H)
        value_real = critic.q(real_z, action)  # (B, H, K)
        value_imag = critic.q(imag_z, action)  # (B, H, K)
        sq_real = ((value_real - returns[..., None]) / scale).pow(2).mean(-1)
        sq_imag = ((value_imag - returns[..., None]) / scale).pow(2).mean(-1)
        def real_and_imagined(real: torch.Tensor, imagined: torch.Tensor) -> torch.Tensor:
            """A loss over encoded latents plus ``imagined_coef`` times the same over predicted ones."""
            return masked_mean(real, mask) + ccfg.imagined_coef * masked_mean(imagined, mask)

        critic_loss = real_and_imagined(sq_real, sq_imag)
        if critic.in_sample:
            # V at a low expectile of the target heads' Q at the data's actions (implicit Q-learning).
            with torch.no_grad():
                q_real, q_imag = critic.target_q(real_z, action), critic.target_q(imag_z, action)  # (B, H)
            v_real, v_imag = critic.value(real_z), critic.value(imag_z)  # (B, H, K)
            ex_real = expectile_loss((q_real[..., None] - v_real) / scale, ccfg.expectile).mean(-1)
            ex_imag = expectile_loss((q_imag[..., None] - v_imag) / scale, ccfg.expectile).mean(-1)
            extra_losses["value"] = real_and_imagined(ex_real, ex_imag)
            critic_loss = critic_loss + extra_losses["value"]
        if critic.risk_heads is not None and self.learn_risk:
            # Discounted fall probability of the data's behaviour: TD on the real next state only.
            with torch.no_grad():
                next_risk = critic.risk(next_z)  # (B, H)
                risk_target = fell + (1.0 - fell) * (1.0 - terminated) * critic.gamma * next_risk
            risk_target = risk_target.clamp(0.0, 1.0)[..., None]
            bce_real = F.binary_cross_entropy_with_logits(
                critic.risk_logits(real_z), risk_target.expand(-1, -1, critic.config.num_heads), reduction="none")
            bce_imag = F.binary_cross_entropy_with_logits(
                critic.risk_logits(imag_z), risk_target.expand(-1, -1, critic.config.num_heads), reduction="none")
            extra_losses["risk"] = real_and_imagined(bce_real.mean(-1), bce_imag.mean(-1))
            critic_loss = critic_loss + extra_losses["risk"]

        losses = {
            "latent": loss_latent, "vicreg_var": loss_var, "vicreg_cov": loss_cov,
            "cost": loss_cost, "fall": loss_fall, "world_model": wm_loss, "critic": critic_loss, **extra_losses,
        }
        for name, value in losses.items():
            if not torch.isfinite(value):
                raise FloatingPointError(
                    f"loss '{name}' is {value.item()} in update {self.num_updates}; training stopped "
                    "before the gradient step so no weights were changed (try a lower lr)"
                )

        self.wm_optim.zero_grad(set_to_none=True)
        self.critic_optim.zero_grad(set_to_none=True)
        if self.learn_world_model:
            (wm_loss + critic_loss).backward()
            wm_grad = torch.nn.utils.clip_grad_norm_(self._wm_core, cfg.grad_clip)
            if self._wm_members:
                torch.nn.utils.clip_grad_norm_(self._wm_members, cfg.grad_clip)
        else:  # the critic reads detached latents: its loss alone never reaches the world model
            critic_loss.backward()
            wm_grad = torch.zeros(())
        critic_grad = torch.nn.utils.clip_grad_norm_(self.critic_optim.param_groups[0]["params"], ccfg.grad_clip)
        if not (torch.isfinite(wm_grad) and torch.isfinite(critic_grad)):
            raise FloatingPointError(
                f"non-finite gradient norm in update {self.num_updates} (world model {wm_grad.item()}, "
                f"critic {critic_grad.item()}); no weights were changed"
            )
        if self.learn_world_model:
            if not self.learn_encoder:  # after the clip, so the other parts' steps are the ones a zero encoder rate gives
                for p in self._encoder:
                    p.grad = None
            self.wm_optim.step()
        self.critic_optim.step()
        ema_update(wm.target_encoder, wm.encoder, cfg.ema_tau)
        ema_update(critic.target_heads, critic.heads, ccfg.tau)

        # ---- policy prior: minimise the critic's cost-to-go of its own action (critic fixed)
        pcfg = self.policy_config
        states = online_z[:, :-1].detach()[mask.bool()]  # (N, Z) real latents of the window
        taken = action[mask.bool()]  # (N, A) the actions the agent (its planner) took there
        sampled, log_prob = policy.sample(states)
        critic.heads.requires_grad_(False)  # the policy's loss moves the policy only
        q_pi = critic.q(states, sampled).mean(-1)  # (N,)
        critic.heads.requires_grad_(True)
        policy.update_scale(q_pi)
        entropy = -log_prob
        imitation = (policy(states) - taken).pow(2).sum(-1).mean()
        policy_loss = ((q_pi / policy.q_scale).mean() - pcfg.entropy_coef * policy.action_dim * entropy.mean()
                       + pcfg.imitation_coef * imitation)
        if not torch.isfinite(policy_loss):
            raise FloatingPointError(f"policy loss is {policy_loss.item()} in update {self.num_updates}")
        self.policy_optim.zero_grad(set_to_none=True)
        policy_loss.backward()
        pi_grad = torch.nn.utils.clip_grad_norm_(policy.parameters(), pcfg.grad_clip)
        self.policy_optim.step()
        self.num_updates += 1

        with torch.no_grad():
            mean_fall_logit = fall_logit.mean(-1) if members else fall_logit  # (B, H)
            latent_std = encodings.std(0)
            target_var = target_z[:, 1:][mask.bool()].var(0).mean()
            last = mask[:, -1].bool()
            rel_err_h = latent_err[:, -1][last].mean() / target_var if last.any() else torch.tensor(float("nan"))
        out = {f"losses/{k}": float(v.detach()) for k, v in losses.items()}
        out.update({
            "charts/latent_std": float(latent_std.min()),
            "charts/latent_std_mean": float(latent_std.mean()),
            "charts/rel_latent_error_final": float(rel_err_h),
            "charts/q_mean": float(value_real.detach().mean()),
            "charts/q_scale": float(policy.q_scale),
            "charts/policy_entropy": float(entropy.detach().mean()),
            "charts/grad_norm_policy": float(pi_grad),
            "losses/policy": float(policy_loss.detach()),
            "losses/policy_imitation": float(imitation.detach()),
            "charts/return_mean": float(masked_mean(returns, mask)),
            "charts/fall_prob_mean": float(masked_mean(torch.sigmoid(mean_fall_logit.detach()), mask)),
            "charts/grad_norm_world_model": float(wm_grad),
            "charts/grad_norm_critic": float(critic_grad),
        })
        if members:
            out["charts/fall_member_std"] = float(masked_mean(fall_logit.detach().std(-1, unbiased=False), mask))
        if cfg.dynamics_members:
            out["charts/novelty_mean"] = float(masked_mean(member_next.detach().var(-2, unbiased=False).mean(-1), mask))
        return out
