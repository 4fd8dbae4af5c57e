"""Every figure family drawn from a tiny synthetic dataset: its panels, labels, legends and text colours exist
and say what the issue-19 review asked for (regime colours, wrapped strategy rows, legible numbers, the
recommendation threshold, told-apart robustness bars)."""

from __future__ import annotations

import matplotlib.colors as mcolors
import numpy as np
import pytest
import xarray as xr

from sciml.figures import common
from sciml.figures.common import plt
from sciml.results.regimes import OVER_TRAINED, UNDER_TRAINED, WELL_TRAINED

from support import ROBUSTNESS_SPEC, SIGNIFICANCE, bootstrap_study, guidance_studies, regime_dataset

AXES = ("beta", "n_f")
GRID = {"beta": [1.0, 2.0], "n_f": [10.0, 20.0]}
#: one cell per regime and a second regime I cell, difficulty-major
REGIMES = np.array([[WELL_TRAINED, OVER_TRAINED], [UNDER_TRAINED, WELL_TRAINED]], np.int8)
SEEDS, SNAPSHOTS = 2, 5


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def legend_texts(figure) -> list[str]:
    return [text.get_text() for legend in figure.legends for text in legend.get_texts()]


def image_axes(figure) -> list:
    """The panels that show data (colour bars and hidden axes left out)."""
    return [ax for ax in figure.get_axes() if ax.get_visible() and (ax.images or ax.lines or ax.patches or
                                                                     ax.collections) and ax.get_label() != "<colorbar>"]


def assert_regime_legend(figure, diverged: bool = False) -> None:
    texts = legend_texts(figure)
    assert {"I well-trained", "II under-trained", "III over-trained"} <= set(texts)
    assert any(text.startswith("\u2020k/n") for text in texts) == diverged


def diagnostic_dataset(variables: dict, coords: dict | None = None, **attrs) -> xr.Dataset:
    """A combined diagnostic dataset on the 2 x 2 grid: ``variables`` maps a name to (extra dims, values)."""
    data = {name: ((*AXES, *dims), np.asarray(values, float)) for name, (dims, values) in variables.items()}
    ds = xr.Dataset(data, coords={**GRID, "seed": np.arange(SEEDS), **(coords or {})})
    ds["regime"] = (AXES, REGIMES)
    ds.attrs.update({"axes": " ".join(AXES), "model": "pinn", "problem": "convection", "strategy": "lbfgs", **attrs})
    return ds


def grid_regime_dataset(strategy: str = "lbfgs", diverged: bool = False) -> xr.Dataset:
    """A regime dataset with one cell in each regime (REGIMES), two seeds; ``diverged``: seed 1 of the
    regime III cell diverged."""
    loss = np.array([[1e-4, 1e-3], [1.0, 1e-4]])[..., None].repeat(SEEDS, -1)
    error = np.array([[0.01, 0.5], [0.9, 0.02]])[..., None].repeat(SEEDS, -1)
    status = np.zeros(loss.shape, np.int8)
    status[0, 1, 1] = 1 if diverged else 0
    return regime_dataset(loss, error, status, grid=tuple(GRID.values()), strategy=strategy)


def frame_colours(ax) -> dict[tuple[float, float], tuple]:
    """Cell centre -> edge colour of the regime frames drawn on a map."""
    return {(patch.get_x() + patch.get_width() / 2, patch.get_y() + patch.get_height() / 2): patch.get_edgecolor()
            for patch in ax.patches if patch.get_linewidth() == 3}


def test_text_colour_contrasts_with_the_background():
    assert common.text_colour((1.0, 1.0, 1.0, 1.0)) == "black"
    assert common.text_colour((0.0, 0.0, 0.0, 1.0)) == "white"
    assert common.text_colour(mcolors.to_rgba("navy")) == "white"
    assert common.text_colour(mcolors.to_rgba("yellow")) == "black"


def test_regime_map_frames_each_cell_in_its_regime_colour_with_a_legend():
    from sciml.figures.regime_map import draw_regime_map

    ds = grid_regime_dataset()
    assert ds["regime"].values.tolist() == REGIMES.tolist()
    figure = draw_regime_map([ds])
    panels = image_axes(figure)
    assert len(panels) == 2
    assert_regime_legend(figure)
    for ax in panels:
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("n_f", "beta")
        assert not ax.collections  # no contour line: the frames are the boundary
        colours = frame_colours(ax)
        for (i, j), regime in np.ndenumerate(REGIMES):
            assert colours[(j, i)] == mcolors.to_rgba(common.REGIME_COLOURS[regime])
    assert {"training loss (threshold 0.01)", "relative L2 test error (threshold 0.1)"} == {
        ax.get_title() for ax in panels}


def test_a_diverged_seed_adds_the_dagger_to_its_cell_and_the_legend():
    from sciml.figures.regime_map import draw_regime_map, draw_regime_panels

    figure = draw_regime_map([grid_regime_dataset(diverged=True)])
    assert_regime_legend(figure, diverged=True)
    assert "III\u20201/2" in {text.get_text() for text in image_axes(figure)[0].texts}
    figure = draw_regime_panels([grid_regime_dataset(), grid_regime_dataset()])
    assert len(image_axes(figure)) == 4
    assert_regime_legend(figure)


def extent(ax):
    """Where an axes lies in the figure, in pixels (get_position is relative to its subfigure)."""
    return ax.get_window_extent()


def panel_rows(figure) -> list[list]:
    """The data panels grouped by their vertical position, top row first."""
    figure.draw_without_rendering()  # constrained layout places the axes when the figure is drawn
    rows: dict[float, list] = {}
    for ax in image_axes(figure):
        rows.setdefault(round(extent(ax).y0), []).append(ax)
    return [sorted(rows[y], key=lambda ax: extent(ax).x0) for y in sorted(rows, reverse=True)]


@pytest.mark.parametrize("count, widths", [(7, [4, 4, 3, 3]), (4, [4, 4]), (5, [3, 3, 2, 2])])
def test_strategy_panels_wrap_at_four_per_row_with_a_colour_bar_beside_each_row(count, widths):
    from sciml.figures.regime_map import draw_strategy_panels

    strategies = [f"s{k}" for k in range(count)]
    figure = draw_strategy_panels([grid_regime_dataset(strategy) for strategy in strategies])
    rows = panel_rows(figure)
    assert [len(row) for row in rows] == widths
    assert [ax.get_title().split()[0] for row in rows[::2] for ax in row] == strategies
    bars = [ax for ax in figure.get_axes() if ax.get_label() == "<colorbar>"]
    assert len(bars) == len(rows)
    for row in rows:  # the row's colour bar starts right of its last panel, within a panel's width
        right, width = extent(row[-1]).x1, extent(row[-1]).width
        level = [bar for bar in bars if extent(bar).y0 < extent(row[0]).y1 and extent(row[0]).y0 < extent(bar).y1]
        assert len(level) == 1 and right < extent(level[0]).x0 < right + width
    labels = [bar.get_ylabel() for bar in bars]
    assert labels == ["log10 training loss", "log10 relative L2 test error"] * (len(rows) // 2)
    assert_regime_legend(figure)


def test_comparison_numbers_contrast_with_their_cells():
    from sciml.figures.comparison import draw_comparison

    _, comparisons = guidance_studies()
    figure = draw_comparison([comparisons[0]])  # strategy a on p1: loss 5x lower at n_f = 10, unchanged at 20
    panels = image_axes(figure)
    assert len(panels) == 4 and all(ax.get_xlabel() == "n_f" and ax.get_ylabel() == "beta" for ax in panels)
    share = panels[2]  # training loss: share of seeds improved, 1 (darkest crest) and 0 (lightest)
    colours = {text.get_text(): text.get_color() for text in share.texts}
    assert colours == {"1.00": "white", "0.00": "black"}
    for ax in panels:
        image = ax.images[0]
        for text in ax.texts:
            j, i = (round(v) for v in text.get_position())
            assert text.get_color() == common.text_colour(image.cmap(image.norm(image.get_array()[i, j])))
    assert "hatched: Wilcoxon p > 0.1" in figure.get_suptitle()


def test_guidance_figure_states_the_recommendation_threshold():
    from sciml.figures.guidance import draw_guidance
    from sciml.results.guidance import MIN_FOLD_IMPROVEMENT, guidance, to_dataset

    table = guidance(*guidance_studies(), {"significance": SIGNIFICANCE})
    figure = draw_guidance([to_dataset(table, {"significance": SIGNIFICANCE})])
    panels = image_axes(figure)
    assert len(panels) == 2
    texts = legend_texts(figure)
    assert any(f"\u2265 {MIN_FOLD_IMPROVEMENT:g}x" in text and text.startswith("recommended") for text in texts)
    assert any(f"p \u2264 {SIGNIFICANCE:g}" in text for text in texts)
    boxes = [sum(patch.get_linewidth() == 2 for patch in ax.patches) for ax in panels]
    assert boxes == [int(table[table["metric"] == metric]["recommended"].sum()) for metric in ("train_loss", "test_error")]
    assert [label.get_text() for label in panels[0].get_xticklabels()] == ["regime I", "regime II", "regime III"]


def test_robustness_figure_tells_smoothing_and_seed_bars_apart():
    from sciml.figures.robustness import SEEDS_COLOUR, SMOOTHING_COLOUR, draw_robustness
    from sciml.results.robustness import robustness

    figure = draw_robustness([robustness(bootstrap_study(), ROBUSTNESS_SPEC)])
    grid_ax, threshold_ax, share_ax = image_axes(figure)
    assert (grid_ax.get_xlabel(), grid_ax.get_ylabel()) == ("n_f", "beta")
    assert threshold_ax.get_xlabel().startswith("factor on tau_E")
    assert share_ax.get_xlabel() and share_ax.get_ylabel() == "share of cells relabelled"
    legend = [text.get_text() for text in share_ax.get_legend().get_texts()]
    assert legend == ["boundaries smoothed by sigma cells", "seed resamples: mean, bar to the 95th percentile"]
    colours = [mcolors.to_hex(bar.get_facecolor()) for bar in share_ax.patches]
    assert colours == [SMOOTHING_COLOUR] * len(ROBUSTNESS_SPEC["smoothing_sigmas"]) + [SEEDS_COLOUR]
    assert [label.get_text() for label in share_ax.get_xticklabels()] == ["\u03c3 = 0", "\u03c3 = 0.7", "seeds"]
    assert_regime_legend(figure)


def curvature_dataset() -> xr.Dataset:
    steps = np.linspace(0, 100, SNAPSHOTS)
    lam = np.geomspace(1.0, 50.0, SNAPSHOTS) * np.ones((2, 2, SEEDS, 1))
    maps = {name: ((), np.geomspace(1e-3, 10.0, 4).reshape(2, 2)) for name in
            ("train_loss_mean", "test_error_mean", "lambda_max_mean", "trace_mean")}
    flags = {"deceptive_sharpness": ((), [[0, 1], [0, 0]]), "deceptive_flatness": ((), [[0, 0], [1, 0]])}
    trace_error = {"trace_mean_standard_error": ((), 0.25 * maps["trace_mean"][1])}
    ds = diagnostic_dataset({**maps, **flags, **trace_error, "lambda_max": (("seed", "snapshot"), lam),
                             "loss": (("seed", "snapshot"), 1 / lam)},
                            flag_high_quantile=0.75, flag_low_quantile=0.25)
    return ds.assign_coords(snapshot_step=("snapshot", steps.astype(int)))


def test_curvature_map_labels_its_four_maps_and_the_regimes():
    from sciml.figures.curvature import MAP_PANELS, TRACE_ERROR_NOTE, draw_curvature_map

    figure = draw_curvature_map([curvature_dataset()])
    panels = image_axes(figure)
    labels = [label for _, label, _ in MAP_PANELS]
    assert [ax.get_title() for ax in panels] == [*labels[:3], labels[3] + TRACE_ERROR_NOTE]
    assert all(ax.get_xlabel() == "n_f" and ax.get_ylabel() == "beta" for ax in panels)
    assert {"S", "F"} <= {text.get_text() for text in panels[0].texts}
    assert [text.get_text() for text in panels[3].texts].count("±25%") == 4  # the trace's relative error per cell
    assert_regime_legend(figure)


def test_sharpening_figures_label_their_axes_and_count_the_snapshots():
    from sciml.figures.curvature import draw_sharpening, draw_sharpening_regimes

    figure = draw_sharpening([curvature_dataset()])
    panels = image_axes(figure)
    assert len(panels) == 2 * 4  # two panels for each of the four probed cells
    assert {ax.get_ylabel() for ax in panels} == {"λ_max", "training loss"}
    assert all(ax.get_xlabel() == "step" for ax in panels)
    assert [text.get_text() for text in panels[0].get_legend().get_texts()] == ["seed 0", "seed 1"]

    figure = draw_sharpening_regimes([curvature_dataset()])
    (ax,) = image_axes(figure)
    assert ax.get_title().endswith(f"({SNAPSHOTS} snapshots)")
    assert all(len(line.get_xdata()) == SNAPSHOTS for line in ax.lines)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("step / last step", "seed-mean λ_max")
    assert [text.get_text().split(":")[0] for text in ax.get_legend().get_texts()] == ["I", "III", "II", "I"]


def test_spectra_draw_one_density_per_snapshot():
    from sciml.figures.spectra import draw_spectra

    runs, nodes = 2, 4
    shape = (2, 2, SEEDS, 2, runs, nodes)
    node_values = np.broadcast_to(np.array([-1.0, 0.0, 1.0, 5.0]), shape)
    ds = diagnostic_dataset({"slq_nodes": (("seed", "snapshot", "run", "node"), node_values),
                             "slq_weights": (("seed", "snapshot", "run", "node"), np.full(shape, 1 / nodes)),
                             "slq_steps": (("seed", "snapshot", "run"), np.full(shape[:-1], nodes))},
                            n_params=10).assign_coords(snapshot_step=("snapshot", [0, 100]))
    figure = draw_spectra([ds])
    panels = image_axes(figure)
    assert len(panels) == 4
    for ax in panels:
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("eigenvalue λ", "density")
        assert [text.get_text() for text in ax.get_legend().get_texts()] == ["step 0", "step 100"]


def test_landscapes_draw_each_direction_kind_with_its_colour_bar():
    from sciml.figures.landscapes import TITLES, draw_landscapes

    a = np.linspace(-1, 1, 3)
    surface = 1.0 + a[:, None] ** 2 + a[None, :] ** 2
    values = np.broadcast_to(surface, (2, 2, SEEDS, 2, 3, 3))
    ds = diagnostic_dataset({"surface_loss": (("seed", "direction", "a", "b"), values)},
                            coords={"direction": ["random", "hessian"], "a": a, "b": a})
    ds["span"] = ("direction", [0.5, 1.0])
    figure = draw_landscapes([ds])
    panels = [ax for ax in image_axes(figure) if ax.get_xlabel() == "along d2"]
    assert len(panels) == 4 * 2 and all(ax.get_ylabel() == "along d1" for ax in panels)
    assert TITLES["hessian"] in panels[1].get_title() and TITLES["random"] in panels[0].get_title()
    bars = [ax for ax in figure.get_axes() if ax.get_label() == "<colorbar>"]
    assert len(bars) == len(panels) and {bar.get_ylabel() for bar in bars} == {"log10 training loss"}


def test_connectivity_and_cka_map_label_paths_and_regimes():
    from sciml.figures.connectivity import draw_cka_map, draw_connectivity

    t = np.linspace(0, 1, 3)
    path = np.broadcast_to(1.0 + t * (1 - t), (2, 2, SEEDS, 2, 3))
    ds = diagnostic_dataset({"path_loss": (("seed", "path", "t"), path), "path_test_error": (("seed", "path", "t"), path),
                             "mc": (("seed", "path"), np.full((2, 2, SEEDS, 2), -0.25)),
                             "endpoint_cka": (("seed",), np.full((2, 2, SEEDS), 0.9))},
                            coords={"path": ["linear", "bezier"], "t": t}, versus="adam")
    figure = draw_connectivity([ds])
    panels = image_axes(figure)
    assert len(panels) == 2 * 4
    assert {ax.get_ylabel() for ax in panels} == {"training loss", "test error"}
    assert panels[0].get_xlabel() == "t: lbfgs (0) → adam (1)"
    assert [text.get_text() for text in panels[0].get_legend().get_texts()] == ["linear (mean mc -0.25)",
                                                                                "bezier (mean mc -0.25)"]
    assert "CKA of the ends 0.900" in panels[0].get_title()

    figure = draw_cka_map([diagnostic_dataset({"cka_mean": ((), [[0.9, 0.5], [0.2, 1.0]])})])
    (ax,) = image_axes(figure)
    assert "(4 cells)" in ax.get_title() and (ax.get_xlabel(), ax.get_ylabel()) == ("n_f", "beta")
    assert [text.get_text() for text in ax.texts] == ["I", "III", "II", "I"]
    assert_regime_legend(figure)


def test_tail_alpha_labels_its_axes_and_cells():
    from sciml.figures.tail_alpha import draw_tail_alpha

    rates = [1e-3, 1e-2]
    ds = diagnostic_dataset({"step_length": (("seed", "learning_rate", "extra_step"), np.ones((2, 2, SEEDS, 2, 3))),
                             "alpha": (("seed", "learning_rate"), np.full((2, 2, SEEDS, 2), 3.0))},
                            coords={"learning_rate": rates}, sampling="minibatch", batch_size=32, optimizer="sgd")
    figure = draw_tail_alpha([ds])
    (ax,) = image_axes(figure)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("learning rate", "α (lower tail of step lengths)")
    assert "(sgd, minibatch 32)" in ax.get_title()
    assert len(ax.get_legend().get_texts()) == 4  # one line per probed cell
