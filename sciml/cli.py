"""The ``sciml`` command line: the verbs the workflow's rules call, and a few for users.

Rules stay thin: each is one ``python -m sciml VERB --spec JSON --out PATH INPUTS`` call whose spec comes
from :mod:`sciml.plan`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from sciml.config import ConfigError
from sciml.store import ResultFileError


def _spec(text: str) -> dict:
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"--spec is not valid JSON: {error}") from error
    if not isinstance(spec, dict):
        raise ConfigError("--spec must be a JSON object")
    return spec


def cmd_data(args) -> None:
    from sciml.problems import get_problem
    from sciml.provenance import provenance_attrs
    from sciml.store import write_netcdf

    spec = _spec(args.spec)
    problem = get_problem(spec["problem"])
    ds = problem.generate(spec["product"], problem.settings(spec["problem_settings"]), spec["value"])
    ds.attrs.update(provenance_attrs(spec))
    write_netcdf(ds, args.out)


def cmd_train(args) -> None:
    import torch

    from sciml.store import read_netcdf, write_netcdf
    from sciml.train import train_cell

    torch.set_num_threads(args.threads)
    spec = _spec(args.spec)
    data = {}
    for path in args.inputs:
        ds = read_netcdf(path)
        data[ds.attrs.get("product", path)] = ds
    write_netcdf(train_cell(spec, data), args.out)


def cmd_aggregate(args) -> None:
    from sciml.provenance import provenance_attrs
    from sciml.regimes import build_regime_dataset
    from sciml.store import write_netcdf

    spec = _spec(args.spec)
    ds = build_regime_dataset(args.inputs, spec)
    ds.attrs.update(provenance_attrs(spec))
    write_netcdf(ds, args.out)


def cmd_compare(args) -> None:
    from sciml.compare import compare
    from sciml.provenance import provenance_attrs
    from sciml.store import read_netcdf, write_netcdf

    spec = _spec(args.spec)
    baseline, other = (read_netcdf(path) for path in (args.baseline, args.other))
    ds = compare(baseline, other, spec["axes"], spec)
    ds.attrs.update(provenance_attrs(spec))
    write_netcdf(ds, args.out)


def cmd_diagnose(args) -> None:
    import torch

    from sciml.diagnose.run import run_diagnostic
    from sciml.store import read_netcdf, write_netcdf
    from sciml.train import default_device

    torch.set_num_threads(args.threads)
    cells, data = [], {}
    for path in args.inputs:
        ds = read_netcdf(path)
        if "product" in ds.attrs:
            data[ds.attrs["product"]] = ds
        else:
            cells.append((path, ds))
    write_netcdf(run_diagnostic(_spec(args.spec), cells, data, default_device()), args.out)


def cmd_combine_diagnostic(args) -> None:
    from sciml.diagnose.combine import combine_diagnostic
    from sciml.provenance import provenance_attrs
    from sciml.store import read_netcdf, write_netcdf

    spec = _spec(args.spec)
    ds = combine_diagnostic(args.inputs, read_netcdf(args.regimes), spec)
    ds.attrs.update(provenance_attrs(spec))
    write_netcdf(ds, args.out)


def cmd_figure(args) -> None:
    from sciml.figures import FIGURES
    from sciml.store import read_netcdf

    spec = _spec(args.spec)
    FIGURES[spec["kind"]]([read_netcdf(path) for path in args.inputs], spec, args.out_stem)


def cmd_retrain(args) -> None:
    """Retrain one cell from the provenance stored in its file, regenerating its data in memory."""
    import numpy as np
    import torch

    from sciml.problems import get_problem
    from sciml.store import read_netcdf, write_netcdf
    from sciml.train import train_cell

    stored = read_netcdf(args.cell)
    torch.set_num_threads(args.threads or int(stored.attrs.get("torch_threads", 1)))
    spec = _spec(stored.attrs["config"])
    problem = get_problem(spec["problem"])
    settings = problem.settings(spec["problem_settings"])
    data = {product: problem.generate(product, settings, spec["axes"][axis])
            for product, axis in problem.data_products().items()}
    fresh = train_cell(spec, data)
    if args.out:
        write_netcdf(fresh, args.out)
    same = True
    for name in ("train_loss", "test_error"):
        a, b = stored[name].values.ravel(), fresh[name].values.ravel()
        equal = np.array_equal(a, b, equal_nan=True)
        same &= equal
        print(f"{name}: stored {a} retrained {b} {'identical' if equal else 'DIFFERENT'}")
    print(f"stored on {stored.attrs.get('device')}, retrained on {fresh.attrs['device']}")
    if args.check and not same:
        raise ResultFileError(f"{args.cell}: retraining did not reproduce the stored numbers")


def cmd_check(args) -> None:
    from sciml.config import load_config_file, merge_configs, validate
    from sciml.plan import build_plan

    config = {}
    for path in args.configfiles:
        merge_configs(config, load_config_file(path))
    plan = build_plan(validate(config, source=", ".join(args.configfiles)))
    print(f"{len(plan.data)} data jobs, {len(plan.cells)} training cells, {len(plan.regimes)} regime datasets, "
          f"{len(plan.comparisons)} comparisons, {len(plan.diagnostics)} diagnostic jobs, {len(plan.figures)} figures")


def cmd_show(args) -> None:
    from sciml.regimes import REGIME_NAMES
    from sciml.store import read_netcdf

    ds = read_netcdf(args.dataset)
    difficulty, data_axis = ds.attrs["axes"].split()
    grid = ds.transpose(difficulty, data_axis, ...)
    print(f"{ds.attrs['model']} / {ds.attrs['problem']} / {ds.attrs['strategy']}  "
          f"(tau_L = {ds.attrs['threshold_train_loss']:g}, tau_E = {ds.attrs['threshold_test_error']:g})")
    columns = [f"{v:g}" for v in grid[data_axis].values]
    width = max(12, *(len(c) for c in columns))
    corner = f"{difficulty} \\ {data_axis}"
    print(f"{corner:>14}" + "".join(f"{c:>{width}}" for c in columns))
    for i, value in enumerate(grid[difficulty].values):
        cells = []
        for j in range(len(columns)):
            cell = grid.isel({difficulty: i, data_axis: j})
            cells.append(f"{REGIME_NAMES[int(cell['regime'])]} {float(cell[args.metric + '_mean']):.1e}")
        print(f"{value:>14g}" + "".join(f"{c:>{width}}" for c in cells))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sciml", description=__doc__.split("\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)

    data = verbs.add_parser("data", help="generate one data product of a problem")
    data.add_argument("--spec", required=True, help="job spec (JSON) from the workflow plan")
    data.add_argument("--out", required=True)
    data.set_defaults(run=cmd_data)

    train = verbs.add_parser("train", help="train every seed of one grid cell")
    train.add_argument("--spec", required=True)
    train.add_argument("--out", required=True)
    train.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    train.add_argument("inputs", nargs="*", help="the cell's data products (NetCDF)")
    train.set_defaults(run=cmd_train)

    aggregate = verbs.add_parser("aggregate", help="combine cells into a regime dataset")
    aggregate.add_argument("--spec", required=True)
    aggregate.add_argument("--out", required=True)
    aggregate.add_argument("inputs", nargs="+", help="cell files")
    aggregate.set_defaults(run=cmd_aggregate)

    comparison = verbs.add_parser("compare", help="compare a strategy's regime dataset with a baseline's")
    comparison.add_argument("--spec", required=True)
    comparison.add_argument("--out", required=True)
    comparison.add_argument("baseline")
    comparison.add_argument("other")
    comparison.set_defaults(run=cmd_compare)

    figure = verbs.add_parser("figure", help="draw a figure (PNG and PDF) from stored datasets")
    figure.add_argument("--spec", required=True)
    figure.add_argument("--out-stem", required=True, help="output path without suffix")
    figure.add_argument("inputs", nargs="+")
    figure.set_defaults(run=cmd_figure)

    diagnose = verbs.add_parser("diagnose", help="run a diagnostic on trained cell(s), never retraining")
    diagnose.add_argument("--spec", required=True)
    diagnose.add_argument("--out", required=True)
    diagnose.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    diagnose.add_argument("inputs", nargs="+", help="the cell file(s), then the cell's data products")
    diagnose.set_defaults(run=cmd_diagnose)

    combine = verbs.add_parser("combine-diagnostic", help="combine a diagnostic's cells beside the regime labels")
    combine.add_argument("--spec", required=True)
    combine.add_argument("--out", required=True)
    combine.add_argument("regimes", help="the regime dataset of the (model, problem, strategy)")
    combine.add_argument("inputs", nargs="+", help="per-cell diagnostic files")
    combine.set_defaults(run=cmd_combine_diagnostic)

    check = verbs.add_parser("check", help="validate configuration file(s) (later files override earlier ones)")
    check.add_argument("configfiles", nargs="+")
    check.set_defaults(run=cmd_check)

    retrain = verbs.add_parser("retrain", help="retrain one cell from its file's provenance and compare")
    retrain.add_argument("cell", help="a cell file (results/cells/...)")
    retrain.add_argument("--out", help="also write the retrained cell here")
    retrain.add_argument("--threads", type=int, help="torch CPU threads (default: as when the cell was trained)")
    retrain.add_argument("--check", action="store_true", help="exit with an error unless the numbers are identical")
    retrain.set_defaults(run=cmd_retrain)

    show = verbs.add_parser("show", help="print a regime dataset's map as a table")
    show.add_argument("dataset")
    show.add_argument("--metric", choices=["train_loss", "test_error"], default="train_loss")
    show.set_defaults(run=cmd_show)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ConfigError, ResultFileError, KeyError) as error:
        print(f"sciml {args.verb}: error: {error.args[0] if error.args else error}", file=sys.stderr)
        return 2
    return 0
