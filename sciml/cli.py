"""The ``sciml`` command line: the verbs the workflow's rules call, and a few for users.

Rules stay thin: each is one ``python -m sciml VERB --spec JSON --out PATH INPUTS`` call whose spec comes
from :mod:`sciml.workflow.plan`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from contextlib import nullcontext

from sciml.errors import ConfigError, ResultFileError


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
    from sciml.results.store import write_netcdf

    spec = _spec(args.spec)
    problem = get_problem(spec["problem"])
    ds = problem.generate(spec["product"], problem.settings(spec["problem_settings"]), spec["value"])
    ds.attrs.update(provenance_attrs(spec))
    write_netcdf(ds, args.out)


def cmd_train(args) -> None:
    import torch

    from sciml.training.train import cell_name

    torch.set_num_threads(args.threads)
    spec = _spec(args.spec)
    if spec.get("together"):
        raise SystemExit(f"sciml train: error: cell {cell_name(spec)} trains together with others (cells_together): "
                         "its batch job trains it, and `sciml cell-from-batch` copies it out")
    _holding_lock(args, f"cell {cell_name(spec)}", lambda: _train_locked(args, spec),
                  "once that process has ended, and a cell it finished is kept")


def _holding_lock(args, what: str, train, after: str) -> None:
    """Run ``train`` holding the lock of ``args.out``, or stop at once if another process holds it.

    Stop rather than wait: training may take hours, and a waiting job would hold its cores (or its SLURM
    allocation) as long; nothing is lost, as the other process keeps what it finishes."""
    from sciml.training.checkpoint import EXIT_BUSY, CellBusy, cell_lock

    try:
        with cell_lock(args.out):
            train()
    except CellBusy as busy:
        print(f"sciml {args.verb}: error: {what}: {busy}; this job stops without touching it: run it again {after}",
              file=sys.stderr)
        raise SystemExit(EXIT_BUSY) from None


def _train_locked(args, spec: dict) -> None:
    """Train the cell (or put back the one a previous run of this job finished), holding the cell's lock."""
    from sciml.results.store import read_netcdf, write_netcdf
    from sciml.training.checkpoint import Checkpointer, Preempted, checkpoint_identity, keep_finished, restore_finished
    from sciml.training.train import train_cell

    if restore_finished(args.out, spec):
        return
    data = {}
    for path in args.inputs:
        ds = read_netcdf(path)
        data[ds.attrs.get("product", path)] = ds
    checkpointer = None
    if args.checkpoint_every > 0:
        checkpointer = Checkpointer(f"{args.out}.ckpt", checkpoint_identity(spec), args.checkpoint_every)
    try:
        with checkpointer.stopping_on_signals() if checkpointer else nullcontext():
            ds = train_cell(spec, data, checkpointer=checkpointer)
    except Preempted as stopped:
        print(f"sciml train: {stopped}", file=sys.stderr)
        raise SystemExit(stopped.exit_status) from None
    write_netcdf(ds, args.out)
    keep_finished(args.out)
    if checkpointer:
        checkpointer.remove()


def cmd_train_together(args) -> None:
    import torch

    from sciml.results.batch_job import update_batch
    from sciml.results.store import read_netcdf
    from sciml.training.checkpoint import Preempted

    torch.set_num_threads(args.threads)
    spec = _spec(args.spec)

    def train() -> None:
        try:
            update_batch(spec, [read_netcdf(path, "data product") for path in args.inputs], args.out,
                         args.checkpoint_every)
        except Preempted as stopped:
            print(f"sciml train-together: {stopped}", file=sys.stderr)
            raise SystemExit(stopped.exit_status) from None

    _holding_lock(args, f"batch {args.out}", train, "once that process has ended")


def cmd_cell_from_batch(args) -> None:
    """A cell trained together with others, copied out of its batch file into its own (no torch: seconds)."""
    from sciml.results.batch_file import member_of
    from sciml.results.store import write_netcdf

    write_netcdf(member_of(args.batch, _spec(args.spec)), args.out)


def cmd_aggregate(args) -> None:
    from sciml.provenance import provenance_attrs
    from sciml.results.regimes import build_regime_dataset
    from sciml.results.store import write_netcdf

    spec = _spec(args.spec)
    ds = build_regime_dataset(args.inputs, spec)
    ds.attrs.update(provenance_attrs(spec))
    write_netcdf(ds, args.out)


def cmd_compare(args) -> None:
    from sciml.provenance import provenance_attrs
    from sciml.results.compare import compare
    from sciml.results.store import read_netcdf, write_netcdf

    spec = _spec(args.spec)
    baseline, other = (read_netcdf(path) for path in (args.baseline, args.other))
    ds = compare(baseline, other, spec["axes"], spec)
    ds.attrs.update(provenance_attrs(spec))
    write_netcdf(ds, args.out)


def cmd_analyse(args) -> None:
    from sciml.provenance import provenance_attrs
    from sciml.results.analysis import ANALYSES
    from sciml.results.store import read_netcdf, write_csv, write_netcdf

    spec = _spec(args.spec)
    ds, table = ANALYSES[spec["analysis"]]([read_netcdf(path) for path in args.inputs], spec)
    ds.attrs.update(provenance_attrs(spec))
    write_netcdf(ds, f"{args.out_stem}.nc")
    write_csv(table, f"{args.out_stem}.csv")


def cmd_advise(args) -> None:
    from sciml.results.advise import advise, parse_cell

    if (args.cell is None) == (args.loss is None or args.error is None):
        raise ConfigError("give either --cell AXIS=VALUE ... or both --loss and --error")
    cell = parse_cell(args.cell) if args.cell else None
    print(advise(args.results, args.model, args.problem, args.strategy, args.metric, cell=cell,
                 measured=None if cell else (args.loss, args.error)))


def cmd_diagnose(args) -> None:
    import torch

    from sciml.diagnostic_jobs.run import run_diagnostic
    from sciml.results.store import read_netcdf, write_netcdf
    from sciml.training.train import default_device

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
    from sciml.diagnostic_jobs.combine import combine_diagnostic
    from sciml.provenance import provenance_attrs
    from sciml.results.store import read_netcdf, write_netcdf

    spec = _spec(args.spec)
    ds = combine_diagnostic(args.inputs, read_netcdf(args.regimes), spec)
    ds.attrs.update(provenance_attrs(spec))
    write_netcdf(ds, args.out)


def cmd_figure(args) -> None:
    from sciml.figures import FIGURES
    from sciml.results.store import read_netcdf

    spec = _spec(args.spec)
    FIGURES[spec["kind"]]([read_netcdf(path) for path in args.inputs], spec, args.out_stem)


def cmd_retrain(args) -> None:
    """Retrain one cell from the provenance stored in its file, regenerating its data in memory."""
    import torch

    from sciml.problems import get_problem
    from sciml.results.reproduce import reproduction_report
    from sciml.results.store import read_netcdf, write_netcdf
    from sciml.training.train import train_cell

    stored = read_netcdf(args.cell, "cell file")
    torch.set_num_threads(args.threads or int(stored.attrs.get("torch_threads", 1)))
    spec = _spec(stored.attrs["config"])
    problem = get_problem(spec["problem"])
    settings = problem.settings(spec["problem_settings"])
    data = {product: problem.generate(product, settings, spec["axes"][axis])
            for product, axis in problem.data_products().items()}
    fresh = train_cell(spec, data)
    if args.out:
        write_netcdf(fresh, args.out)
    lines, differ = reproduction_report(stored, fresh)  # every variable but wall-clock times
    print("\n".join(lines))
    print(f"stored on {stored.attrs.get('device')}, retrained on {fresh.attrs['device']}")
    if args.check and differ:
        raise ResultFileError(f"{args.cell}: retraining did not reproduce the stored numbers: {', '.join(differ)} differ")


def cmd_check(args) -> None:
    from sciml.workflow.config import validate
    from sciml.workflow.config_files import load_study_config
    from sciml.workflow.plan import build_plan

    config, source = load_study_config(args.default, args.configfiles)
    plan = build_plan(validate(config, source=source))
    print(f"{source}: valid")
    together = sum(len(job.spec["cells"]) for job in plan.batches.values())
    if plan.batches:
        print(f"cells_together: {together} of the {len(plan.cells)} cells train in {len(plan.batches)} batch jobs")
    print(f"{len(plan.data)} data jobs, {len(plan.cells)} training cells, {len(plan.regimes)} regime datasets, "
          f"{len(plan.comparisons)} comparisons, {len(plan.analyses)} analyses, {len(plan.diagnostics)} diagnostic jobs, "
          f"{len(plan.figures)} figures")


def cmd_profile(args) -> None:
    from sciml.workflow.profiles import install_profile

    link = install_profile(args.name, force=args.force)
    print(f"{link} -> {link.resolve()}: `snakemake --profile {args.name}` now finds it")


def cmd_show(args) -> None:
    from pathlib import Path

    from sciml import naming
    from sciml.results.regimes import REGIME_NAMES
    from sciml.results.store import read_netcdf

    ds = read_netcdf(args.dataset, "regime dataset")
    difficulty, data_axis = ds.attrs["axes"].split()
    grid = ds.transpose(difficulty, data_axis, ...)
    print(f"{ds.attrs['model']} / {ds.attrs['problem']} / {ds.attrs['strategy']}  "
          f"(tau_L = {ds.attrs['threshold_train_loss']:g}, tau_E = {ds.attrs['threshold_test_error']:g})")
    # the robustness analysis lives beside the regime datasets: <results>/regimes/<model>/<problem>/<strategy>.nc
    path = Path(args.dataset)
    robust = None
    if len(path.parents) > 3 and path.parents[2].name == "regimes":
        robustness_file = naming.robustness_path(str(path.parents[3]), ds.attrs["model"], ds.attrs["problem"],
                                                 ds.attrs["strategy"])
        if Path(robustness_file).exists():
            robust = read_netcdf(robustness_file, "robustness dataset").transpose(difficulty, data_axis, ...)
    legend = f"each cell: regime, seed-mean {args.metric}"
    legend += ", (label confidence)" if robust is not None else ""
    print(legend + "; \u2020k/n: only k of n seeds finished")
    columns = [f"{v:g}" for v in grid[data_axis].values]
    rows = []
    for i in range(grid.sizes[difficulty]):
        cells = []
        for j in range(len(columns)):
            cell = grid.isel({difficulty: i, data_axis: j})
            text = f"{REGIME_NAMES[int(cell['regime'])]} {float(cell[args.metric + '_mean']):.1e}"
            if int(cell["n_seeds_ok"]) < int(cell["n_seeds"]):
                text += f" \u2020{int(cell['n_seeds_ok'])}/{int(cell['n_seeds'])}"
            if robust is not None:
                text += f" ({float(robust['confidence'].values[i, j]):.2f})"
            cells.append(text)
        rows.append(cells)
    width = 2 + max(len(text) for text in [*columns, *(t for cells in rows for t in cells)])
    corner = f"{difficulty} \\ {data_axis}"
    print(f"{corner:>14}" + "".join(f"{c:>{width}}" for c in columns))
    for value, cells in zip(grid[difficulty].values, rows):
        print(f"{value:>14g}" + "".join(f"{c:>{width}}" for c in cells))


def cmd_costs(args) -> None:
    from sciml.workflow.costs import cost_table, grouped, job_costs, packed_hours

    jobs = job_costs(args.results, depth=args.depth)  # the benchmark files are read once for both outputs
    print(cost_table(grouped(jobs)))
    if args.cores:
        print()
        print(packed_hours(jobs, args.cores))


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
    train.add_argument("--checkpoint-every", type=float, default=0.0, metavar="SECONDS",
                       help="save progress to OUT.ckpt at most this often and on SIGTERM, and go on from a saved "
                            "one (0: never)")
    train.add_argument("inputs", nargs="*", help="the cell's data products (NetCDF)")
    train.set_defaults(run=cmd_train)

    together = verbs.add_parser("train-together", help="train cells of one shape together into their batch file, "
                                                       "keeping the cells it holds with the same spec")
    together.add_argument("--spec", required=True, help='{"cells": [cell spec, ...]}')
    together.add_argument("--out", required=True, help="the batch file (RESULTS/batches/...), updated in place")
    together.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    together.add_argument("--checkpoint-every", type=float, default=0.0, metavar="SECONDS",
                          help="save progress to OUT.ckpt at most this often and on SIGTERM, and go on from a saved "
                               "one (0: never)")
    together.add_argument("inputs", nargs="*", help="the cells' data products (NetCDF)")
    together.set_defaults(run=cmd_train_together)

    copy = verbs.add_parser("cell-from-batch", help="copy a cell trained together with others (cells_together) "
                                                    "out of its batch file")
    copy.add_argument("--spec", required=True, help="the cell's spec, as the batch job trained it")
    copy.add_argument("--out", required=True, help="the cell file")
    copy.add_argument("batch", help="the batch file (RESULTS/batches/...)")
    copy.set_defaults(run=cmd_cell_from_batch)

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

    analyse = verbs.add_parser("analyse", help="analyse stored datasets (robustness, guidance) into NetCDF + CSV")
    analyse.add_argument("--spec", required=True)
    analyse.add_argument("--out-stem", required=True, help="output path without suffix (.nc and .csv are written)")
    analyse.add_argument("inputs", nargs="+")
    analyse.set_defaults(run=cmd_analyse)

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

    check = verbs.add_parser("check", help="validate the configuration `snakemake --configfile FILE ...` would run: "
                                           "the default study, then each FILE merged over it in order")
    check.add_argument("configfiles", nargs="*", metavar="FILE")
    check.add_argument("--default", default="config/config.yaml",
                       help="the workflow's default configuration (default: config/config.yaml, from the repository root)")
    check.set_defaults(run=cmd_check)

    profile = verbs.add_parser("profile", help="make `snakemake --profile NAME` find one of the workflow's profiles")
    profile_verbs = profile.add_subparsers(dest="action", required=True)
    install = profile_verbs.add_parser("install", help="link profiles/NAME into Snakemake's profile folder "
                                                       "($XDG_CONFIG_HOME/snakemake, default ~/.config/snakemake)")
    install.add_argument("name", help="a folder of profiles/, e.g. slurm")
    install.add_argument("--force", action="store_true", help="replace an existing profile link or file of that name")
    install.set_defaults(run=cmd_profile)

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

    advice = verbs.add_parser("advise", help="the regime of a cell (or of a measured loss and error) and the strategy "
                                             "the evidence recommends there")
    advice.add_argument("--model", required=True)
    advice.add_argument("--problem", required=True)
    advice.add_argument("--strategy", help="the strategy the cell was trained with (default: the guidance baseline)")
    advice.add_argument("--cell", nargs="+", metavar="AXIS=VALUE", help="a grid cell, e.g. --cell beta=20 n_f=1000")
    advice.add_argument("--loss", type=float, help="a measured final training loss (with --error)")
    advice.add_argument("--error", type=float, help="a measured relative L2 test error (with --loss)")
    advice.add_argument("--metric", choices=["test_error", "train_loss"], default="test_error",
                        help="what the recommended strategy should lower (default: test_error)")
    advice.add_argument("--results", default="results", help="the results folder (default: results)")
    advice.set_defaults(run=cmd_advise)

    costs = verbs.add_parser("costs", help="wall time, CPU time and memory of the study's jobs, from Snakemake's "
                                           "benchmark files")
    costs.add_argument("--results", default="results", help="the results folder (default: results)")
    costs.add_argument("--depth", type=int, default=4,
                       help="group by this many folders: 4 = per model/problem/strategy (cells) or per "
                            "diagnostic/model/problem (diagnostics), 1 = cells vs diagnostics (default: 4)")
    costs.add_argument("--cores", type=int, default=0,
                       help="also estimate the study's wall time on this many cores, packing the measured jobs")
    costs.set_defaults(run=cmd_costs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # job logs (results/logs/...) get the package's notes: resumed checkpoints, NNCG's damping raises
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    started = time.perf_counter()
    try:
        args.run(args)
    except (ConfigError, ResultFileError, KeyError) as error:
        print(f"sciml {args.verb}: error: {error.args[0] if error.args else error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: one line in the job's log, not a traceback
        print(f"sciml {args.verb}: interrupted", file=sys.stderr)
        return 130
    from sciml.workflow.joblog import summary  # the log's last line: what the job wrote (a cell: its seeds) and how long

    print(summary(args, time.perf_counter() - started), file=sys.stderr)
    return 0
