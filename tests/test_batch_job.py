"""Cells trained together as a workflow option (``cells_together``): the plan's batches, and the batch job that
keeps the members it already holds (sciml/workflow/batch_plan.py, sciml/results/batch_job.py,
sciml/results/batch_file.py). Real snakemake runs of the option: tests/test_workflow.py."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from sciml.errors import ConfigError, ResultFileError
from sciml.naming import batch_path, cell_path
from sciml.problems import get_problem
from sciml.provenance import canonical_json, provenance_attrs
from sciml.results.batch_file import batch_members, member_of
from sciml.results.batch_job import update_batch
from sciml.results.store import read_netcdf
from sciml.workflow.config import validate
from sciml.workflow.config_files import load_config_file
from sciml.workflow.jobs import members_pattern
from sciml.workflow.plan import build_plan

from conftest import REPO

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"architecture": "mlp", "hidden": [8, 8], "activation": "tanh", "dtype": "float64"}
LBFGS = {"method": "lbfgs", "steps": 2, "max_iter": 5}


def smoke(**changes) -> dict:
    config = load_config_file(REPO / "config" / "smoke.yaml")
    config.update(changes)
    return config


def test_the_plan_puts_each_column_of_joinable_cells_into_one_batch():
    config = smoke(cells_together=True)
    config["strategies"]["curriculum"] = {"method": "curriculum", "stages": 2, "stage_steps": 2}
    study = config["studies"][0]
    study.update(axes={"beta": [5, 30], "n_f": [100, 300]}, strategies=["lbfgs", "curriculum"])
    plan = build_plan(validate(config))
    assert sorted(plan.batches) == [batch_path("results", "pinn", "convection", "lbfgs", f"n_f={n}") for n in (100, 300)]
    for n_f in (100, 300):
        batch = plan.batches[batch_path("results", "pinn", "convection", "lbfgs", f"n_f={n_f}")]
        members = [cell_path("results", "pinn", "convection", "lbfgs", {"beta": b, "n_f": n_f}) for b in (5, 30)]
        assert [cell["axes"] for cell in batch.spec["cells"]] == [{"beta": 5, "n_f": n_f}, {"beta": 30, "n_f": n_f}]
        assert batch.inputs == ("results/data/convection/reference/beta=5.nc",
                                f"results/data/convection/collocation/n_f={n_f}.nc",
                                "results/data/convection/reference/beta=30.nc")
        for cell, spec in zip(members, batch.spec["cells"]):
            assert plan.cells[cell].inputs == (batch.output,) and plan.cells[cell].spec == spec
            assert spec["together"] is True and plan.cell_data[cell] == (
                f"results/data/convection/reference/beta={spec['axes']['beta']}.nc",
                f"results/data/convection/collocation/n_f={n_f}.nc")
    # curriculum learning changes the coefficient while it trains: its cells train one by one, as without the option
    curriculum = plan.cells[cell_path("results", "pinn", "convection", "curriculum", {"beta": 5, "n_f": 100})]
    assert "together" not in curriculum.spec and curriculum.inputs == plan.cell_data[curriculum.output]

    # off, the same cells are the cells of every other study; on, their spec (and code) says how they trained
    alone = build_plan(validate({**config, "cells_together": False}))
    assert not alone.batches and alone.cells.keys() == plan.cells.keys()
    cell = cell_path("results", "pinn", "convection", "lbfgs", {"beta": 5, "n_f": 100})
    assert alone.cells[cell].inputs == plan.cell_data[cell]

    # the copy rule's wildcard takes exactly the cells trained together (the regex Snakemake anchors at both ends)
    pattern = re.compile(f"(?:{members_pattern(plan)})")
    taken = {path for path in plan.cells if pattern.fullmatch(path.removeprefix("results/cells/").removesuffix(".nc"))}
    assert taken == {path for path, job in plan.cells.items() if job.spec.get("together")} and len(taken) == 4
    assert not re.fullmatch(members_pattern(alone), "pinn/convection/lbfgs/beta=5__n_f=100")


def test_cell_overrides_that_split_a_column_split_its_batch_by_their_settings():
    config = smoke(cells_together=True)
    study = config["studies"][0]
    study.update(axes={"beta": [5, 30, 50], "n_f": [100]}, strategies=["lbfgs"])
    study["cell_overrides"] = [{"where": {"beta": [50]}, "settings": {"lbfgs": {"max_iter": 7}}}]
    plan = build_plan(validate(config))
    names = sorted(path.rsplit("/", 1)[1] for path in plan.batches)
    assert len(names) == 2 and all(name.startswith("n_f=100__settings=") for name in names)
    assert sorted(len(job.spec["cells"]) for job in plan.batches.values()) == [1, 2]


def tiny_cell(beta: float, strategy=LBFGS) -> dict:
    return {"model": "pinn", "model_settings": TINY, "problem": "convection", "problem_settings": {},
            "strategy": strategy["method"], "strategy_settings": strategy, "axes": {"beta": beta, "n_f": 32},
            "seeds": [0, 1], "code": "test", "together": True}


def data_products(*betas: float) -> list[xr.Dataset]:
    """The data products of the cells at ``betas`` (N_f = 32), with the provenance a data job gives them."""
    problem = get_problem("convection")
    settings = problem.settings()
    jobs = [("collocation", "n_f", 32)] + [("reference", "beta", beta) for beta in betas]
    products = []
    for product, axis, value in jobs:
        ds = problem.generate(product, settings, value)
        ds.attrs.update(provenance_attrs({"problem": "convection", "product": product, "axis": axis, "value": value}))
        products.append(ds)
    return products


def test_a_batch_job_trains_only_the_cells_it_does_not_hold_with_their_spec(tmp_path, caplog):
    out = tmp_path / "n_f=32.nc"
    first = [tiny_cell(5.0), tiny_cell(20.0)]
    update_batch({"cells": first}, data_products(5.0, 20.0), out)
    assert batch_members(out) == ["beta=5__n_f=32", "beta=20__n_f=32"]
    before = {spec["axes"]["beta"]: member_of(out, spec) for spec in first}
    assert before[5.0].attrs["seed_batching"] == "together, with 2 cells"

    # a new coefficient: only its cell trains; the others are kept as they were (wall times and all)
    grown = [tiny_cell(5.0), tiny_cell(20.0), tiny_cell(40.0)]
    with caplog.at_level(logging.INFO, logger="sciml.results.batch_job"):
        update_batch({"cells": grown}, data_products(5.0, 20.0, 40.0), out)
    assert "2 cell(s) kept as trained before, 1 to train together" in caplog.text
    for beta in (5.0, 20.0):
        xr.testing.assert_identical(member_of(out, tiny_cell(beta)), before[beta])
    assert member_of(out, tiny_cell(40.0)).attrs["seed_batching"] == "together, with 1 cells"

    # a changed setting of one cell trains that cell again; a cell no longer planned leaves the file
    changed = tiny_cell(20.0, {**LBFGS, "max_iter": 4})
    update_batch({"cells": [tiny_cell(5.0), changed]}, data_products(5.0, 20.0), out)
    assert batch_members(out) == ["beta=5__n_f=32", "beta=20__n_f=32"]
    xr.testing.assert_identical(member_of(out, tiny_cell(5.0)), before[5.0])
    assert member_of(out, changed).attrs["config"] == canonical_json(changed)
    with pytest.raises(ResultFileError, match=r"n_f=32.nc: its cell beta=20__n_f=32 was trained with other settings"):
        member_of(out, tiny_cell(20.0))
    with pytest.raises(ResultFileError, match=r"n_f=32.nc holds no cell beta=40__n_f=32; rerun snakemake"):
        member_of(out, tiny_cell(40.0))


def test_a_cell_is_copied_out_of_its_batch_file_by_a_process_without_torch(tmp_path):
    """`sciml cell-from-batch` (rule cell_from_batch) writes the member as the batch job stored it, loading neither
    torch nor the training code; a cell the batch does not hold with that spec is named, and nothing written."""
    out = tmp_path / "n_f=32.nc"
    cells = [tiny_cell(5.0), tiny_cell(20.0)]
    update_batch({"cells": cells}, data_products(5.0, 20.0), out)
    probe = ("import sys\nfrom sciml.cli import main\ncode = main(sys.argv[1:])\n"
             "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('sciml.training')))\n"
             "raise SystemExit(code)")
    cell = tmp_path / "cells" / "beta=20__n_f=32.nc"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    copy = subprocess.run([sys.executable, "-c", probe, "cell-from-batch", "--spec", json.dumps(cells[1]),
                           "--out", str(cell), str(out)], capture_output=True, text=True, env=env)
    assert copy.returncode == 0 and copy.stdout.strip() == "[]", copy.stdout + copy.stderr
    xr.testing.assert_identical(read_netcdf(cell), member_of(out, cells[1]))

    other = tmp_path / "cells" / "beta=40__n_f=32.nc"
    refused = subprocess.run([sys.executable, "-m", "sciml", "cell-from-batch", "--spec", json.dumps(tiny_cell(40.0)),
                              "--out", str(other), str(out)], capture_output=True, text=True, env=env)
    assert refused.returncode == 2 and "holds no cell beta=40__n_f=32; rerun snakemake" in refused.stderr
    assert not other.exists()


def test_a_damaged_batch_file_is_named_and_its_cells_train_again(tmp_path, caplog):
    out = tmp_path / "n_f=32.nc"
    cells = [tiny_cell(5.0), tiny_cell(20.0)]
    update_batch({"cells": cells}, data_products(5.0, 20.0), out)
    trained = member_of(out, cells[0])
    out.write_bytes(out.read_bytes()[:2000])
    with pytest.raises(ResultFileError, match=r"n_f=32.nc is not a readable batch file .* Delete it and rerun snakemake"):
        member_of(out, cells[0])
    with caplog.at_level(logging.WARNING, logger="sciml.results.batch_job"):
        update_batch({"cells": cells}, data_products(5.0, 20.0), out)
    assert "n_f=32.nc is not a readable batch file" in caplog.text
    again = member_of(out, cells[0])
    for name in ("train_loss", "test_error", "params"):  # retrained from the same seeds: the same numbers
        np.testing.assert_array_equal(again[name].values, trained[name].values)


def test_a_batch_job_without_a_cells_data_names_what_is_missing(tmp_path):
    with pytest.raises(ResultFileError, match=r"no reference data product at beta = 20 among the batch job's inputs"):
        update_batch({"cells": [tiny_cell(5.0), tiny_cell(20.0)]}, data_products(5.0), tmp_path / "b.nc")


def test_the_option_is_validated():
    with pytest.raises(ConfigError, match=r"cells_together: 'yes' is not of type 'boolean'"):
        validate(smoke(cells_together="yes"))
