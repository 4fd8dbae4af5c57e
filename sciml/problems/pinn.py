"""Shared machinery of the 1D space-time PINN problems (docs/PAPER.md §2).

A concrete problem supplies its domain, PDE residual, initial condition(s), boundary kind and reference
solution; this module supplies grids, collocation sampling, the residual terms and the test error.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch.func import functional_call, vjp

from sciml.problems.base import Problem, tensor_converter
from sciml.training.objective import Objective, RowObjectives, relative_l2


def derivative(outputs: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """d outputs / d inputs, pointwise, kept differentiable so the loss can be differentiated again."""
    (grad,) = torch.autograd.grad(outputs, inputs, torch.ones_like(outputs), create_graph=True)
    return grad


#: test points per forward pass. All 13,029 test points (129 x 101) at once make activations of 2.6 MB per layer
#: at width 50, which the allocator maps fresh from the kernel at every call during training (about 2,500 page
#: faults per test error) and which overflow the cache; 1,024 at a time give the same numbers in 3.3 instead of
#: 8.5 CPU ms per test error inside training (docs/BENCHMARKS.md, recording cost)
TEST_CHUNK = 1024

#: the fields a PDE residual may read: u and its pure first and second derivatives along x and t
FIELDS = ("u", "u_x", "u_t", "u_xx", "u_tt")


def input_fields(model, x: torch.Tensor, t: torch.Tensor, names: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """u and the fields ``names`` (of :data:`FIELDS`) at the points (x, t), each of their shape.

    Every first derivative comes from one backward pass (the vector-Jacobian product with ones gives u_x and
    u_t together), kept in the graph so that the loss can be differentiated again; each second derivative is one
    more pass. Forward-mode propagation was measured slower on CPU at these sizes (docs/BENCHMARKS.md).
    """
    _check_fields(names)
    x, t = x.detach().requires_grad_(True), t.detach().requires_grad_(True)
    u = _predict(model, x, t)
    fields = {"u": u}
    axes = [(axis, leaf) for axis, leaf in (("x", x), ("t", t)) if f"u_{axis}" in names or f"u_{axis}{axis}" in names]
    if axes:
        firsts = torch.autograd.grad(u, [leaf for _, leaf in axes], torch.ones_like(u), create_graph=True)
        for (axis, leaf), du in zip(axes, firsts):
            fields[f"u_{axis}"] = du
            if f"u_{axis}{axis}" in names:
                fields[f"u_{axis}{axis}"] = derivative(du, leaf)
    return {name: fields[name] for name in ("u", *names)}


def functional_fields(u_of: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, t: torch.Tensor,
                      names: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """:func:`input_fields` written with ``torch.func`` transforms, for ``u_of`` mapping points (N, 2) to u (N).

    The same derivatives in the same order of operations (one vector-Jacobian product for every first
    derivative, one more per second derivative), but as a pure function of its inputs, which ``torch.func`` can
    differentiate again and ``torch.compile`` can trace (it cannot trace ``torch.autograd.grad`` with a created
    graph): the compiled loss of :mod:`sciml.training.compiled` is built on it.
    """
    _check_fields(names)
    points = torch.stack([x, t], dim=-1)
    if not names:
        return {"u": u_of(points)}

    def gradient(at: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u, pull = vjp(u_of, at)
        (du,) = pull(torch.ones_like(u))
        return du, u  # (N, 2): u_x, u_t per point; u as the auxiliary output

    seconds = [k for k, axis in enumerate("xt") if f"u_{axis}{axis}" in names]
    if seconds:
        du, pull_du, u = vjp(gradient, points, has_aux=True)
    else:
        du, u = gradient(points)
    fields = {"u": u, "u_x": du[:, 0], "u_t": du[:, 1]}
    for k in seconds:
        # the points are independent, so the product with the k-th unit vector at every point is d(du_k)/d(x, t)
        unit = torch.zeros_like(du)
        unit[:, k] = 1.0
        (d2u,) = pull_du(unit)
        fields["u_xx" if k == 0 else "u_tt"] = d2u[:, k]
    return {name: fields[name] for name in ("u", *names)}


def _check_fields(names: tuple[str, ...]) -> None:
    unknown = sorted(set(names) - set(FIELDS))
    if unknown:
        raise KeyError(f"unknown PINN fields {unknown}; known: {list(FIELDS)}")


class PINNProblem(Problem):
    family = "pinn"
    data_axis = "n_f"
    cells_join = True
    input_dim = 2
    output_dim = 1
    t_range = (0.0, 1.0)
    #: "periodic" (u(x1,t) = u(x0,t)) or "dirichlet" (u = 0 at both ends)
    boundary = "periodic"
    #: second order in time: the initial velocity u_t(x, 0) = 0 is a loss term too
    initial_velocity_zero = False
    defaults: Mapping[str, Any] = {
        "grid_x": 257,  # x grid; IC points, collocation candidates and (every other point) the test grid
        "grid_t": 101,  # t grid; BC points, collocation candidates and the test grid
        "test_stride_x": 2,  # test grid takes every 2nd x: 129 x 101 points with 257 x points
        "sampling_seed": 0,  # collocation sampling, independent of the network's init seed
    }

    # -- physics, per problem -------------------------------------------------------------------------
    x_range: tuple[float, float]

    #: the derivatives of u the PDE residual reads (of :data:`FIELDS`)
    derivatives: tuple[str, ...]

    @abstractmethod
    def pde_residual(self, fields: Mapping[str, torch.Tensor], coefficient: float,
                     settings: Mapping[str, Any] | None = None) -> torch.Tensor:
        """Residual of the PDE from ``fields``: u and each of :attr:`derivatives` at the residual points.

        ``settings`` carries the problem's further physical parameters (e.g. a diffusion coefficient);
        None means the defaults.
        """

    @abstractmethod
    def initial_condition(self, x: np.ndarray) -> np.ndarray:
        """u(x, 0)."""

    @abstractmethod
    def reference_solution(
        self, x: np.ndarray, t: np.ndarray, coefficient: float, settings: Mapping[str, Any]
    ) -> np.ndarray:
        """Reference u on the tensor grid, shape (len(t), len(x)), float64."""

    # -- grids and data -----------------------------------------------------------------------------
    def grid(self, settings: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        x = np.linspace(*self.x_range, settings["grid_x"])
        t = np.linspace(*self.t_range, settings["grid_t"])
        return x, t

    def test_grid(self, settings: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        x, t = self.grid(settings)
        return x[:: settings["test_stride_x"]], t

    def n_candidates(self, settings: Mapping[str, Any]) -> int:
        return (settings["grid_x"] - 2) * (settings["grid_t"] - 1)

    def data_products(self) -> dict[str, str]:
        return {"reference": self.difficulty_axis, "collocation": self.data_axis}

    def validate_axis_value(self, axis: str, value: float, settings: Mapping[str, Any]) -> None:
        if axis == self.data_axis:
            n_max = self.n_candidates(settings)
            if value != int(value) or not 1 <= value <= n_max:
                raise ValueError(f"{axis} must be a whole number between 1 and {n_max} (the candidate points)")

    def sample_collocation(
        self, settings: Mapping[str, Any], n_points: int, stream: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """n_points interior points x[1:-1] x t[1:], drawn without replacement with the sampling seed.

        ``stream`` k >= 0 draws from the k-th child of the sampling seed (``SeedSequence.spawn``) instead:
        reproducible, independent of the cell's own set (stream None) and of the other streams.
        """
        x, t = self.grid(settings)
        xx, tt = np.meshgrid(x[1:-1], t[1:], indexing="xy")
        candidates_x, candidates_t = xx.reshape(-1), tt.reshape(-1)
        seed = settings["sampling_seed"]
        if stream is not None:
            seed = np.random.SeedSequence(seed, spawn_key=(stream,))
        rng = np.random.default_rng(seed)
        chosen = rng.choice(candidates_x.size, size=int(n_points), replace=False)
        return candidates_x[chosen], candidates_t[chosen]

    def generate(self, product: str, settings: Mapping[str, Any], value: float) -> xr.Dataset:
        if product == "reference":
            x, t = self.test_grid(settings)
            u = self.reference_solution(x, t, value, settings)
            return xr.Dataset(
                {"u": (("t", "x"), u, {"long_name": "reference solution"})},
                coords={"t": t, "x": x, self.difficulty_axis: value},
                attrs={"problem": self.name, "product": "reference"},
            )
        if product == "collocation":
            cx, ct = self.sample_collocation(settings, int(value))
            return xr.Dataset(
                {"x": ("point", cx), "t": ("point", ct)},
                coords={self.data_axis: int(value)},
                attrs={"problem": self.name, "product": "collocation"},
            )
        raise KeyError(f"problem {self.name!r} has no data product {product!r}")

    def objective(
        self,
        settings: Mapping[str, Any],
        axes: Mapping[str, float],
        data: Mapping[str, xr.Dataset],
        model: torch.nn.Module,
        device: torch.device,
    ) -> PINNObjective:
        as_tensor = tensor_converter(model, device)
        x, t = self.grid(settings)
        reference = data["reference"]
        test_t, test_x = np.meshgrid(reference["t"].values, reference["x"].values, indexing="ij")
        return PINNObjective(
            problem=self,
            coefficient=float(axes[self.difficulty_axis]),
            model=model,
            collocation=(as_tensor(data["collocation"]["x"].values), as_tensor(data["collocation"]["t"].values)),
            initial=(as_tensor(x), as_tensor(np.zeros_like(x)), as_tensor(self.initial_condition(x))),
            boundary_t=as_tensor(t),
            test=(as_tensor(test_x.reshape(-1)), as_tensor(test_t.reshape(-1)), as_tensor(reference["u"].values)),
            settings=settings,
        )


class PINNObjective(Objective):
    """Unweighted sum of MSE(PDE residual) + MSE(IC) + MSE(BC), means over points.

    Supports both optional capabilities of :class:`~sciml.training.objective.Objective`. Curriculum learning changes
    ``coefficient`` (the PDE coefficient of the residual) and ``collocation``; the IC, BC and test data stay
    those of the cell, so the test error always refers to the target's reference. Redrawing residual points
    needs the problem ``settings`` (grid and sampling seed) the objective was built with. Perturbation
    shifts the (x, t) residual points: input dimension d + 1 = 2.
    """

    def __init__(self, problem: PINNProblem, coefficient: float, model: torch.nn.Module, collocation, initial,
                 boundary_t, test, settings: Mapping[str, Any] | None = None):
        super().__init__(model)
        self.problem = problem
        self.coefficient = coefficient
        self.collocation = collocation
        self.initial = initial
        self.boundary_t = boundary_t
        self.test = test
        self.settings = None if settings is None else dict(settings)
        self._cell = (coefficient, collocation)
        self._offsets: torch.Tensor | None = None

    def predict(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return _predict(self.model, x, t)

    def residuals(self) -> dict[str, torch.Tensor]:
        return self._residuals(self.model, copies=None)

    def _residuals(self, model, copies: int | None) -> dict[str, torch.Tensor]:
        """The terms for ``model``; with ``copies``, for that many parameter sets at once (seed batching)."""

        def leaf(points: torch.Tensor) -> torch.Tensor:
            # Input derivatives of several copies need one input leaf per copy: the gradient of the summed
            # outputs with respect to shared inputs would add the copies' derivatives up.
            return points.detach() if copies is None else points.detach().expand(copies, *points.shape).clone()

        return self._terms(lambda x, t, names: input_fields(model, leaf(x), leaf(t), names),
                           lambda x, t: _predict(model, leaf(x), leaf(t)))

    def _terms(self, fields_at: Callable[[torch.Tensor, torch.Tensor, tuple[str, ...]], dict[str, torch.Tensor]],
               predict: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> dict[str, torch.Tensor]:
        """The residual of every loss term, from u and its derivatives (``fields_at``) and u alone (``predict``)
        at given points: one assembly for the autograd and the functional evaluation."""
        problem = self.problem
        x, t = self.collocation
        if self._offsets is not None:
            x, t = x + self._offsets[:, 0], t + self._offsets[:, 1]
        terms = {"pde": problem.pde_residual(fields_at(x, t, problem.derivatives), self.coefficient, self.settings)}

        x0, t0, u0 = self.initial
        if problem.initial_velocity_zero:
            initial = fields_at(x0, t0, ("u_t",))
            terms["ic"], terms["ic_velocity"] = initial["u"] - u0, initial["u_t"]
        else:
            terms["ic"] = predict(x0, t0) - u0

        tb = self.boundary_t
        left = predict(torch.full_like(tb, problem.x_range[0]), tb)
        right = predict(torch.full_like(tb, problem.x_range[1]), tb)
        terms["bc"] = right - left if problem.boundary == "periodic" else torch.cat([left, right], dim=-1)
        return terms

    # -- functional evaluation ----------------------------------------------------------------------------------
    def functional_loss(self) -> Callable[[tuple[torch.Tensor, ...]], tuple[torch.Tensor, dict[str, torch.Tensor]]]:
        names = [name for name, p in self.model.named_parameters() if p.requires_grad]
        model = self.model

        def loss(parameters: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
            def u_of(points: torch.Tensor) -> torch.Tensor:
                return functional_call(model, dict(zip(names, parameters)), (points,)).squeeze(-1)

            terms = self._terms(lambda x, t, fields: functional_fields(u_of, x, t, fields),
                                lambda x, t: u_of(torch.stack([x, t], dim=-1)))
            return self.weighted_total(terms)

        return loss

    # -- curriculum learning ------------------------------------------------------------------------------
    @property
    def difficulty(self) -> float:
        return self._cell[0]

    def set_difficulty(self, value: float, resample_seed: int | None = None) -> None:
        """PDE coefficient ``value``; with ``resample_seed`` k, the cell's number of residual points drawn
        from stream k of the sampling seed (see :meth:`PINNProblem.sample_collocation`)."""
        if resample_seed is not None:
            if self.settings is None:
                raise ValueError("this PINN objective was built without its problem settings, so it cannot "
                                 "draw new collocation points; pass settings= to PINNObjective")
            like = self._cell[1][0]
            points = self.problem.sample_collocation(self.settings, like.numel(), stream=resample_seed)
            self.collocation = tuple(torch.as_tensor(a, dtype=like.dtype, device=like.device) for a in points)
        self.coefficient = float(value)

    def reset_difficulty(self) -> None:
        self.coefficient, self.collocation = self._cell

    # -- residual-point perturbation ------------------------------------------------------------------------
    def collocation_points(self) -> torch.Tensor:
        """(N, 2): one (x, t) row per residual point."""
        return torch.stack(self.collocation, dim=-1)

    @contextmanager
    def perturbed_collocation(self, offsets: torch.Tensor) -> Iterator[None]:
        """The ``pde`` residual at (x + offsets[:, 0], t + offsets[:, 1]); IC and BC terms untouched."""
        expected = (self.collocation[0].numel(), 2)
        if tuple(offsets.shape) != expected:
            raise ValueError(f"offsets must have shape {expected} (one (x, t) row per residual point), "
                             f"got {tuple(offsets.shape)}")
        previous, self._offsets = self._offsets, offsets
        try:
            yield
        finally:
            self._offsets = previous

    def predict_test(self) -> torch.Tensor:
        x, t, reference = self.test
        with torch.no_grad():
            parts = [self.predict(xs, ts) for xs, ts in zip(x.split(TEST_CHUNK), t.split(TEST_CHUNK))]
        return torch.cat(parts).reshape(reference.shape)

    def test_error(self) -> float:
        return relative_l2(self.predict_test(), self.test[2])

    # -- seed batching ----------------------------------------------------------------------------------------
    def batched_residuals(self, model, copies: int) -> dict[str, torch.Tensor]:
        return self._residuals(model, copies)

    def batched_test_error(self, model, copies: int) -> list[float]:
        reference = self.test[2]
        return [relative_l2(prediction, reference) for prediction in self._batched_test_predictions(model, copies)]

    def _batched_test_predictions(self, model, copies: int) -> torch.Tensor:
        x, t, reference = self.test
        chunk = max(1, TEST_CHUNK // copies)  # activations of the size the one-seed path makes
        with torch.no_grad():
            x, t = x.expand(copies, *x.shape), t.expand(copies, *t.shape)
            parts = [_predict(model, xs, ts) for xs, ts in zip(x.split(chunk, dim=1), t.split(chunk, dim=1))]
        return torch.cat(parts, dim=1).reshape(copies, *reference.shape)

    # -- training cells together ---------------------------------------------------------------------------------
    def joined(self, others: Sequence[PINNObjective], copies: Sequence[int]) -> RowObjectives:
        """Cells of one problem and one set of points (one value of the data axis), each at its own PDE
        coefficient: the rows' residuals differ only by their coefficient, their test errors by their
        reference solution."""
        for other in others:
            self._check_joinable(other)
        cells = [cell for cell, n in zip((self, *others), copies) for _ in range(n)]
        like = self.collocation[0]
        coefficients = torch.tensor([cell.coefficient for cell in cells], dtype=like.dtype, device=like.device)
        references = torch.stack([cell.test[2] for cell in cells])

        def rows_objective(rows: Sequence[int]) -> CellRows:
            index = torch.as_tensor(list(rows), dtype=torch.long, device=like.device)
            return CellRows(self, coefficients[index, None], references[index])

        return rows_objective

    def _check_joinable(self, other: PINNObjective) -> None:
        if type(other) is not type(self) or type(other.problem) is not type(self.problem):
            raise ValueError(f"a {type(other.problem).__name__} cell cannot train with {type(self.problem).__name__} cells")
        if other.settings != self.settings or other.weights != self.weights:
            raise ValueError("cells with other problem settings or term weights cannot train together")
        if any(cell._offsets is not None or cell.coefficient != cell._cell[0] for cell in (self, other)):
            raise ValueError("cells train together at their own coefficient and points only")
        tensors = {"collocation points": (self.collocation, other.collocation),
                   "initial-condition points": (self.initial, other.initial),
                   "boundary points": ((self.boundary_t,), (other.boundary_t,)),
                   "test points": (self.test[:2], other.test[:2])}
        for what, (mine, theirs) in tensors.items():
            if any(a.shape != b.shape or not torch.equal(a, b) for a, b in zip(mine, theirs)):
                raise ValueError(f"cells with other {what} cannot train together (at {self.problem.difficulty_axis} = "
                                 f"{self.coefficient:g} and {other.coefficient:g})")
        if other.test[2].shape != self.test[2].shape:
            raise ValueError("cells with reference solutions of other shapes cannot train together")


class CellRows(PINNObjective):
    """Rows of joined cells (:meth:`PINNObjective.joined`): the first cell's points, each row's coefficient as a
    column (the PDE residuals broadcast it over the row's points) and each row's reference solution."""

    def __init__(self, first: PINNObjective, coefficients: torch.Tensor, references: torch.Tensor):
        super().__init__(first.problem, first.coefficient, first.model, first.collocation, first.initial,
                         first.boundary_t, first.test, first.settings)
        self.weights = first.weights
        self.coefficient = coefficients
        self.references = references

    def batched_test_error(self, model, copies: int) -> list[float]:
        predictions = self._batched_test_predictions(model, copies)
        return [relative_l2(prediction, reference) for prediction, reference in zip(predictions, self.references)]


def _predict(model, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """u at the points (x, t), of their shape (with a leading copy dimension for a seed-batched model)."""
    return model(torch.stack([x, t], dim=-1)).squeeze(-1)

