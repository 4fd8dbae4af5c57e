"""L-BFGS for every row of a seed batch: torch.optim.LBFGS's algorithm, one optimizer per row, run together.

One call of :meth:`BatchedLBFGS.step` is one ``torch.optim.LBFGS.step`` of each given row: the same
iterations, history updates, initial step, strong-Wolfe line search (cubic interpolation, bracketing and
zoom) and stopping tests, with each row's own history, step sizes, evaluation counts and early exits. The
rows differ only in their numbers; their control flow is kept per row:

* vector work (directions, history updates, trial points) runs for all rows of an iteration at once. The
  direction -H g comes from the compact form of the same L-BFGS matrix H (Byrd, Nocedal and Schnabel 1994,
  :meth:`BatchedLBFGS._compact_direction`): four products of each row's history with a vector, for all rows
  at once, instead of the two-loop recursion's 4 x history operations on single entries. Both read the
  history the same number of times; the compact form does it in a fixed number of operations, which a GPU
  runs as a fixed number of kernels (docs/BENCHMARKS.md, "Search directions in compact form");
* each row's line search is a generator of trial step lengths on Python floats; every round, the trial
  points of all rows still searching are evaluated in one batched call.

Differences from torch.optim.LBFGS, all at the level of float rounding: the direction's arithmetic (above;
its small matrices in float64); scalars (losses, directional derivatives, step lengths) are Python floats
(float64) where torch keeps some as 0-dim tensors of the model's dtype; dot products are row-wise reductions;
a trial point is ``x + t * d`` by one ``addcmul``.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Mapping, Sequence
from typing import Any

import torch

from sciml.training.batched.batch import SeedBatch

#: a row's line search: yields trial step lengths, receives (loss, gradient, directional derivative) at each,
#: returns (loss, gradient, step length, evaluations)
LineSearch = Generator[float, tuple[float, torch.Tensor, float], tuple[float, torch.Tensor, float, int]]


def cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None) -> float:
    """Minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), clipped to ``bounds`` (the interval
    of the two points by default); the bounds' midpoint when the cubic has no minimiser."""
    xmin_bound, xmax_bound = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square >= 0:
        d2 = math.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def strong_wolfe(t: float, d_norm: float, f: float, g: torch.Tensor, gtd: float, c1: float = 1e-4,
                 c2: float = 0.9, tolerance_change: float = 1e-9, max_ls: int = 25) -> LineSearch:
    """One row's strong-Wolfe line search along its direction (of max-norm ``d_norm``) from a point with
    loss ``f``, gradient ``g`` and directional derivative ``gtd``; first trial step ``t``."""
    f_new, g_new, gtd_new = yield t
    ls_func_evals = 1

    # bracket an interval containing a point satisfying the Wolfe criteria
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        # extrapolate
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new, gtd_new
        f_new, g_new, gtd_new = yield t
        ls_func_evals += 1
        ls_iter += 1

    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0.0, t], [f, f_new], [g, g_new]

    # zoom: refine the bracket until a point satisfies the criteria
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
        # a trial too close to an end of the bracket twice in a row (or outside it) moves to 0.1 of its width
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                t = max(bracket) - eps if abs(t - max(bracket)) < abs(t - min(bracket)) else min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new, g_new, gtd_new = yield t
        ls_func_evals += 1
        ls_iter += 1

        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new, gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos], bracket_gtd[high_pos] = bracket_g[low_pos], bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new, gtd_new

    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals


def rowdot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vecdot(a, b)


def products(history: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """Each row's history (rows, slots, n) times its vector (rows, n): (rows, slots). Written as a row vector
    times the history's transpose: on a CPU, torch's batched matrix-vector form takes 4-5x longer."""
    return torch.bmm(vectors[:, None, :], history.transpose(1, 2))[:, 0]


class BatchedLBFGS:
    """One torch.optim.LBFGS per row of ``batch.theta`` (same settings and meaning), stepped together."""

    def __init__(self, batch: SeedBatch, lr: float = 1.0, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None):
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"line search {line_search_fn!r} is not supported; use 'strong_wolfe' or None")
        self.batch = batch
        self.lr, self.max_iter = lr, max_iter
        self.max_eval = max_eval if max_eval is not None else max_iter * 5 // 4
        self.tolerance_grad, self.tolerance_change = tolerance_grad, tolerance_change
        self.history_size, self.line_search_fn = history_size, line_search_fn

        theta = batch.theta
        rows, n = theta.shape
        like = {"dtype": theta.dtype, "device": theta.device}
        # Each row's history: up to history_size pairs (s, y) in ring slots, and the products of the compact form,
        # s_i . y_j and y_i . y_j by slot, in float64 (updated as pairs come: one new column per pair)
        self.old_dirs = torch.zeros(rows, history_size, n, **like)  # y
        self.old_stps = torch.zeros(rows, history_size, n, **like)  # s
        self.stps_dirs = torch.zeros(rows, history_size, history_size, dtype=torch.float64, device=theta.device)
        self.dirs_dirs = torch.zeros(rows, history_size, history_size, dtype=torch.float64, device=theta.device)
        self.count = [0] * rows  # entries in each row's history
        self.oldest = [0] * rows  # ring slot of each row's oldest entry
        self.h_diag = torch.ones(rows, **like)
        self.n_iter = [0] * rows  # iterations over all steps (torch's state["n_iter"])
        self.func_evals = [0] * rows
        self.d = torch.zeros(rows, n, **like)
        self.t = [0.0] * rows
        self.flat_grad = torch.zeros(rows, n, **like)
        self.prev_flat_grad = torch.zeros(rows, n, **like)
        self.loss = [0.0] * rows
        self.prev_loss = [0.0] * rows

    #: the per-row state a resumed run needs: tensors, then lists of Python numbers
    STATE_TENSORS = ("old_dirs", "old_stps", "stps_dirs", "dirs_dirs", "h_diag", "d", "flat_grad", "prev_flat_grad")
    STATE_LISTS = ("count", "oldest", "n_iter", "func_evals", "t", "loss", "prev_loss")

    def state_dict(self) -> dict[str, Any]:
        """Every row's optimizer state (histories, directions, counters), for a checkpoint."""
        return {**{name: getattr(self, name).clone() for name in self.STATE_TENSORS},
                **{name: list(getattr(self, name)) for name in self.STATE_LISTS}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for name in self.STATE_TENSORS:
            getattr(self, name).copy_(state[name])
        for name in self.STATE_LISTS:
            setattr(self, name, list(state[name]))

    # -- one outer step -------------------------------------------------------------------------------------
    def step(self, rows: Sequence[int]) -> list[float]:
        """One ``LBFGS.step`` of each row in ``rows``; returns each row's loss at the start of its step."""
        batch = self.batch
        rows = list(rows)
        index = self._index(rows)
        loss, grad = batch.loss_and_grad(batch.theta[index], rows)
        orig_loss = loss.tolist()
        for row, value in zip(rows, orig_loss):
            self.loss[row] = value
            self.func_evals[row] += 1
        self.flat_grad[index] = grad
        current_evals = dict.fromkeys(rows, 1)
        optimal = (grad.abs().amax(dim=1) <= self.tolerance_grad).tolist()
        iterating = [row for row, done in zip(rows, optimal) if not done]

        n_iter = 0
        while iterating and n_iter < self.max_iter:
            n_iter += 1
            for row in iterating:
                self.n_iter[row] += 1
            self._direction(iterating)
            index = self._index(iterating)
            self.prev_flat_grad[index] = self.flat_grad[index]
            for row in iterating:
                self.prev_loss[row] = self.loss[row]

            first_steps = (1.0 / self.flat_grad[index].abs().sum(dim=1)).tolist()
            for row, first in zip(iterating, first_steps):
                self.t[row] = min(1.0, first) * self.lr if self.n_iter[row] == 1 else self.lr
            gtd = dict(zip(iterating, rowdot(self.flat_grad[index], self.d[index]).tolist()))
            # a directional derivative below tolerance ends this row's step
            iterating = [row for row in iterating if not gtd[row] > -self.tolerance_change]
            if not iterating:
                break
            evals = self._move(iterating, gtd, n_iter, current_evals)
            index = self._index(iterating)
            optimal = (self.flat_grad[index].abs().amax(dim=1) <= self.tolerance_grad).tolist()
            moved = (self.d[index] * self._column(iterating)).abs().amax(dim=1).tolist()
            still = []
            for row, done, change in zip(iterating, optimal, moved):
                current_evals[row] += evals[row]
                self.func_evals[row] += evals[row]
                if n_iter == self.max_iter or current_evals[row] >= self.max_eval or done:
                    continue
                if change <= self.tolerance_change or abs(self.loss[row] - self.prev_loss[row]) < self.tolerance_change:
                    continue
                still.append(row)
            iterating = still
        batch.changed()
        return orig_loss

    # -- pieces of an iteration -----------------------------------------------------------------------------
    def _index(self, rows: Sequence[int]) -> torch.Tensor:
        return torch.as_tensor(rows, dtype=torch.long, device=self.d.device)

    def _column(self, rows: Sequence[int]) -> torch.Tensor:
        """The rows' step lengths as a column, in the parameters' dtype."""
        return torch.as_tensor([self.t[row] for row in rows], dtype=self.d.dtype, device=self.d.device)[:, None]

    def _direction(self, rows: list[int]) -> None:
        """Each row's search direction: steepest descent on its first iteration ever, else the L-BFGS
        direction after adding the last step to its history (if the curvature condition ys > 1e-10 holds)."""
        first = [row for row in rows if self.n_iter[row] == 1]
        later = [row for row in rows if self.n_iter[row] > 1]
        if first:
            index = self._index(first)
            self.d[index] = self.flat_grad[index].neg()
            self.h_diag[index] = 1.0
            for row in first:
                self.count[row] = self.oldest[row] = 0
        if not later:
            return
        index = self._index(later)
        y = self.flat_grad[index] - self.prev_flat_grad[index]
        s = self.d[index] * self._column(later)
        ys = rowdot(y, s)
        accepted = [i for i, value in enumerate(ys.tolist()) if value > 1e-10]
        slots = self._append([later[i] for i in accepted], y[accepted], s[accepted], ys[accepted])
        dirs, stps, used = self._histories(later, index)  # one read of the histories serves both uses below
        if accepted:
            # the new pairs' products with every slot (s_i . y_new, y_i . y_new): a new column of each matrix
            appended = index[accepted]
            with_s = products(stps, y)[accepted].double()
            with_y = products(dirs, y)[accepted].double()
            self.stps_dirs[appended, :used, slots] = with_s
            self.dirs_dirs[appended, :used, slots] = with_y
            self.dirs_dirs[appended, slots, :used] = with_y
        self.d[index] = self._compact_direction(later, index, dirs, stps, used)

    def _histories(self, rows: list[int], index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """The rows' histories (y, s), each (rows, slots, parameters), over the slots any of them uses: views
        when the rows are all rows in order, else one copy each."""
        used = self.history_size if any(self.oldest[row] for row in rows) else max(self.count[row] for row in rows)
        if rows == list(range(len(self.count))):
            return self.old_dirs[:, :used], self.old_stps[:, :used], used
        return self.old_dirs[index, :used], self.old_stps[index, :used], used

    def _append(self, rows: list[int], y: torch.Tensor, s: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        """Append (s, y) to each row's history, dropping its oldest entry when full; the slots written."""
        size = self.history_size
        slots = []
        for row in rows:
            slots.append((self.oldest[row] + self.count[row]) % size)
            if self.count[row] == size:
                self.oldest[row] = (self.oldest[row] + 1) % size
            else:
                self.count[row] += 1
        index, slots = self._index(rows), self._index(slots)
        self.old_dirs[index, slots] = y
        self.old_stps[index, slots] = s
        self.h_diag[index] = ys / rowdot(y, y)
        return slots

    def _compact_direction(self, rows: list[int], index: torch.Tensor, dirs: torch.Tensor, stps: torch.Tensor,
                           used: int) -> torch.Tensor:
        """The L-BFGS direction -H g of each row, from the compact form of H (Byrd, Nocedal, Schnabel 1994):

        H = g I + [S  gY] [[R^-T (D + g Y^T Y) R^-1, -R^-T], [-R^-1, 0]] [S^T; g Y^T],

        g the row's initial scaling (``h_diag``), S and Y its pairs oldest first, R the upper triangle of
        S^T Y and D its diagonal (s_i . y_i). With a = S^T g and b = Y^T g of the gradient:
        p = R^-1 a, u = R^-T ((D + g Y^T Y) p - g b), and H g = g g + S u - g Y p. The same matrix as
        the two-loop recursion's, so the same direction up to rounding. Slots a row does not use carry zero
        coefficients. ``dirs``, ``stps``: the rows' histories over their ``used`` slots (:meth:`_histories`)."""
        grad = self.flat_grad[index]
        gamma = self.h_diag[index][:, None]
        if used == 0:
            return -gamma * grad
        # chronological order of each row's slots; positions past its count point at slot 0 and are masked
        order = [[(self.oldest[row] + i) % self.history_size if i < self.count[row] else 0 for i in range(used)]
                 for row in rows]
        order = torch.as_tensor(order, dtype=torch.long, device=grad.device)
        valid = torch.arange(used, device=grad.device)[None, :] < torch.as_tensor(
            [self.count[row] for row in rows], device=grad.device)[:, None]
        pairs = valid[:, :, None] & valid[:, None, :]
        chronological = (index[:, None, None], order[:, :, None], order[:, None, :])
        stps_dirs = self.stps_dirs[chronological].where(pairs, 0.0)
        dirs_dirs = self.dirs_dirs[chronological].where(pairs, 0.0)
        # padded positions: R's diagonal 1, everything else 0, so their p and u are 0
        upper = stps_dirs.triu() + torch.diag_embed((~valid).double())
        diagonal = stps_dirs.diagonal(dim1=1, dim2=2)

        a = products(stps, grad).double().gather(1, order).where(valid, 0.0)
        b = products(dirs, grad).double().gather(1, order).where(valid, 0.0)
        g = gamma.double()
        p = torch.linalg.solve_triangular(upper, a[:, :, None], upper=True)
        rhs = diagonal[:, :, None] * p + g[:, :, None] * torch.bmm(dirs_dirs, p) - g[:, :, None] * b[:, :, None]
        u = torch.linalg.solve_triangular(upper.transpose(1, 2), rhs, upper=False)
        # back to slots: each position's coefficient on its slot (masked positions add zero to slot 0)
        on_stps = torch.zeros(len(rows), used, dtype=torch.float64, device=grad.device).scatter_add_(
            1, order, u[..., 0].where(valid, 0.0))
        on_dirs = torch.zeros(len(rows), used, dtype=torch.float64, device=grad.device).scatter_add_(
            1, order, (-g * p[..., 0]).where(valid, 0.0))
        product = gamma * grad + torch.bmm(on_stps.to(grad.dtype)[:, None, :], stps)[:, 0] \
            + torch.bmm(on_dirs.to(grad.dtype)[:, None, :], dirs)[:, 0]
        return -product

    def _move(self, rows: list[int], gtd: dict[int, float], n_iter: int,
              current_evals: dict[int, int]) -> dict[int, int]:
        """Move each row along its direction (line search or fixed step); returns its evaluations."""
        theta = self.batch.theta
        if self.line_search_fn is None:
            index = self._index(rows)
            theta[index] = torch.addcmul(theta[index], self.d[index], self._column(rows))
            if n_iter == self.max_iter:  # torch skips the evaluation after the last iteration
                return dict.fromkeys(rows, 0)
            loss, grad = self.batch.loss_and_grad(theta[index], rows)
            self.flat_grad[index] = grad
            for row, value in zip(rows, loss.tolist()):
                self.loss[row] = value
            return dict.fromkeys(rows, 1)

        d_norm = self.d[self._index(rows)].abs().amax(dim=1).tolist()
        searches = {
            row: strong_wolfe(self.t[row], norm, self.loss[row], self.flat_grad[row], gtd[row],
                              tolerance_change=self.tolerance_change, max_ls=self.max_eval - current_evals[row])
            for row, norm in zip(rows, d_norm)
        }
        trials = {row: next(search) for row, search in searches.items()}
        found = {}
        while trials:
            pending = list(trials)
            index = self._index(pending)
            steps = torch.as_tensor([trials[row] for row in pending], dtype=theta.dtype, device=theta.device)
            loss, grad = self.batch.loss_and_grad(torch.addcmul(theta[index], self.d[index], steps[:, None]), pending)
            gtd_new = rowdot(grad, self.d[index]).tolist()
            trials = {}
            for i, (row, value) in enumerate(zip(pending, loss.tolist())):
                try:
                    trials[row] = searches[row].send((value, grad[i], gtd_new[i]))
                except StopIteration as end:
                    found[row] = end.value
        index = self._index(rows)
        for row in rows:
            self.loss[row], self.flat_grad[row], self.t[row], _ = found[row]
        theta[index] = torch.addcmul(theta[index], self.d[index], self._column(rows))
        return {row: found[row][3] for row in rows}
