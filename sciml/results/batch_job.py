"""The job of a batch of cells trained together (``cells_together``, sciml/workflow/batch_plan.py).

It keeps every member its batch file already holds with the planned spec (that spec holds the code hash),
trains the others together (:func:`sciml.training.train.train_cells`) and writes the batch file again. A new
grid value thus trains only its own cell, and a cell whose settings changed trains again with the others that
changed. An unreadable batch file only costs the training it would have saved.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from typing import Any

import xarray as xr

from sciml.errors import ResultFileError
from sciml.naming import cell_id
from sciml.problems import get_problem
from sciml.results.batch_file import batch_members, read_member, trained_with, write_batch
from sciml.results.contract import job_spec

log = logging.getLogger(__name__)


def kept_members(path: str | os.PathLike, planned: Mapping[str, Mapping[str, Any]]) -> dict[str, xr.Dataset]:
    """The members of the batch file at ``path`` (if any) trained with the spec planned for them now."""
    if not os.path.exists(path):
        return {}
    try:
        stored = {name: read_member(path, name) for name in batch_members(path) if name in planned}
    except ResultFileError as error:
        log.warning("%s", error)
        return {}
    return {name: ds for name, ds in stored.items() if trained_with(ds, planned[name])}


def cell_data(spec: Mapping[str, Any], products: Sequence[xr.Dataset]) -> dict[str, xr.Dataset]:
    """The data products of one cell among a batch's, matched by the product and axis value each was made for."""
    problem = get_problem(spec["problem"])
    made_for = {(job["product"], job["value"]): ds for ds in products for job in [job_spec(ds)]}
    data = {}
    for product, axis in problem.data_products().items():
        key = (product, spec["axes"][axis])
        if key not in made_for:
            raise ResultFileError(f"no {product} data product at {axis} = {key[1]:g} among the batch job's inputs")
        data[product] = made_for[key]
    return data


def update_batch(spec: Mapping[str, Any], products: Sequence[xr.Dataset], out: str | os.PathLike,
                 checkpoint_every: float = 0) -> None:
    """Bring the batch file ``out`` to the cells of ``spec`` (``{"cells": [cell spec, ...]}``), each cell with
    its data among ``products``. With ``checkpoint_every`` > 0 (seconds), the training saves its progress in
    ``<out>.ckpt`` that often and on SIGTERM or SIGINT (then :class:`~sciml.training.checkpoint.Preempted`), and
    a later run with the same cells to train goes on from it."""
    from sciml.training.checkpoint import Checkpointer, checkpoint_identity
    from sciml.training.train import train_cells

    planned = {cell_id(cell["axes"]): cell for cell in spec["cells"]}
    members = kept_members(out, planned)
    todo = [cell for name, cell in planned.items() if name not in members]
    log.info("batch %s: %d cell(s) kept as trained before, %d to train together", out, len(members), len(todo))
    checkpointer = None
    if todo:
        # the cells left to train are what a saved batch must match: the same cells, settings and code
        if checkpoint_every > 0:
            checkpointer = Checkpointer(f"{out}.ckpt", checkpoint_identity({"cells": todo}), checkpoint_every)
        with checkpointer.stopping_on_signals() if checkpointer else nullcontext():
            trained = train_cells(todo, [cell_data(cell, products) for cell in todo], checkpointer=checkpointer)
        members.update({cell_id(cell["axes"]): ds for cell, ds in zip(todo, trained)})
    write_batch({name: members[name] for name in planned}, out)
    if checkpointer:
        checkpointer.remove()
