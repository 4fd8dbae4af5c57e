"""Adam for every row of a seed batch: torch.optim.Adam's update (its single-tensor CPU path), per row.

Adam's update is elementwise, so the rows' moments live in two matrices and one update serves all rows
being stepped. The step count is per row, so a row that stops early keeps its state untouched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from sciml.training.batched.batch import SeedBatch


class BatchedAdam:
    """One torch.optim.Adam (no amsgrad, not maximising) per row of ``batch.theta``, stepped together."""

    def __init__(self, batch: SeedBatch, lr: float = 1e-3, betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, lr_decay: float = 1.0):
        self.batch = batch
        self.lr, (self.beta1, self.beta2), self.eps, self.weight_decay = lr, betas, eps, weight_decay
        #: factor on the learning rate after each step, as torch's ExponentialLR stepped after every update (every
        #: row of the batch is at one step)
        self.lr_decay = lr_decay
        self.exp_avg = torch.zeros_like(batch.theta)
        self.exp_avg_sq = torch.zeros_like(batch.theta)
        self.steps = [0] * batch.size

    def state_dict(self) -> dict[str, Any]:
        """Every row's moments and step count, and the decayed learning rate, for a checkpoint."""
        return {"exp_avg": self.exp_avg.clone(), "exp_avg_sq": self.exp_avg_sq.clone(), "steps": list(self.steps),
                "lr": self.lr}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.exp_avg.copy_(state["exp_avg"])
        self.exp_avg_sq.copy_(state["exp_avg_sq"])
        self.steps, self.lr = list(state["steps"]), state["lr"]

    def step(self, rows: Sequence[int]) -> list[float]:
        """One Adam update of each row in ``rows``; returns each row's loss before its update."""
        rows = list(rows)
        steps = {self.steps[row] + 1 for row in rows}
        if len(steps) > 1:  # the bias corrections below are shared; rows of one call move in lockstep
            raise ValueError(f"rows {rows} are at different Adam steps {sorted(steps)}; step them separately")
        (step,) = steps
        every = rows == list(range(self.batch.size))
        index = slice(None) if every else torch.as_tensor(rows, device=self.batch.theta.device)
        theta, exp_avg, exp_avg_sq = self.batch.theta[index], self.exp_avg[index], self.exp_avg_sq[index]
        loss, grad = self.batch.loss_and_grad(theta, rows)
        if self.weight_decay != 0:
            grad = grad.add(theta, alpha=self.weight_decay)
        exp_avg.lerp_(grad, 1 - self.beta1)
        exp_avg_sq.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
        bias_correction1 = 1 - self.beta1**step
        bias_correction2 = 1 - self.beta2**step
        step_size = self.lr / bias_correction1
        denom = (exp_avg_sq.sqrt() / bias_correction2**0.5).add_(self.eps)
        theta.addcdiv_(exp_avg, denom, value=-step_size)
        if not every:  # advanced indexing copied the rows: write them back
            self.batch.theta[index], self.exp_avg[index], self.exp_avg_sq[index] = theta, exp_avg, exp_avg_sq
        for row in rows:
            self.steps[row] = step
        self.lr *= self.lr_decay
        self.batch.changed()
        return loss.tolist()
