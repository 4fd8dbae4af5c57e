"""Checkpoints: a training job saves its progress beside its output and goes on from there when run again.

A job may be killed at any moment: ``kill -9``, a node failure, SLURM preemption or its time limit. Its
checkpoint ``<output>.ckpt`` is written atomically (temporary file, fsync, rename) at the first step
boundary at least ``every`` seconds after the previous save, and at the next boundary after a SIGTERM or
SIGINT, after which the job exits with status 143 or 130 (SLURM sends SIGTERM before it kills a job that is
preempted or out of time; Ctrl-C sends SIGINT to Snakemake and its jobs). The file carries an identity, a
hash of the job's spec (which holds the code hash) and of the torch version: a checkpoint of another spec or
code is ignored with a log line, as is an unreadable one. The job deletes it once its output is written, and
keeps a hard link to that output (:func:`keep_finished`) so that a rerun Snakemake forces after missing the
job's end does not train the cell again. Only one process at a time trains a cell (:func:`cell_lock`): a
second one, from another Snakemake run on the same results folder or beside a trainer orphaned by a ``kill -9``
of Snakemake, stops at once and touches nothing.

Resumption is exact: everything the remaining steps depend on is saved -- the model, the strategy's state
(optimizer state, phase, multipliers, preconditioner, generators), the monitor's history and counters and the
global random generators -- so a resumed job ends with the numbers of an uninterrupted one on the same device
and thread count.

:class:`Checkpointer` knows nothing of what it saves, so any training loop can use it: call
:meth:`Checkpointer.boundary` between steps with a function that returns the state. :class:`CellProgress`
and :class:`SeedCheckpoint` are the state of the sequential path (one seed after another, see
:func:`sciml.training.train.train_cell`).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import random
import signal
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from sciml.atomic import atomic_path
from sciml.provenance import canonical_json, config_hash, device_description
from sciml.training.records import SeedResult

if TYPE_CHECKING:
    from sciml.training.monitor import Monitor

log = logging.getLogger(__name__)

#: exit status of a job stopped by SIGTERM after saving its checkpoint (128 + 15, as a shell reports SIGTERM)
EXIT_PREEMPTED = 128 + signal.SIGTERM


#: exit status of a job that found its cell being trained by another process: EX_TEMPFAIL of sysexits.h, a
#: temporary failure that the user is invited to retry
EXIT_BUSY = 75


class CellBusy(Exception):
    """Another process holds the cell's lock (:func:`cell_lock`): it is training this cell now."""


class Preempted(Exception):
    """Training stopped on SIGTERM (or Ctrl-C's SIGINT) at a step boundary, after saving its checkpoint."""

    def __init__(self, message: str, exit_status: int = EXIT_PREEMPTED):
        super().__init__(message)
        self.exit_status = exit_status


def checkpoint_identity(spec: dict[str, Any]) -> str:
    """What a checkpoint must match to be continued: the job's spec (code hash included) and torch's version."""
    return config_hash({"spec": spec, "torch": torch.__version__})


class Checkpointer:
    """One job's checkpoint file: when to save, atomic saves, loading with identity check, SIGTERM."""

    def __init__(self, path: str | os.PathLike, identity: str, every: float):
        if every < 0:
            raise ValueError(f"checkpoint interval must be >= 0 seconds, got {every}")
        self.path = Path(path)
        self.identity = identity
        self.every = every
        #: the signal that asked this job to stop (0: none yet)
        self.stop_signal = 0
        self._last_save = time.monotonic()

    def load(self, device: torch.device | str = "cpu") -> dict[str, Any] | None:
        """The saved state, with tensors on ``device``; None when there is no usable checkpoint."""
        if not self.path.exists():
            return None
        try:
            # pickle, as for any torch checkpoint holding Python objects; the file is this job's own
            saved = torch.load(self.path, map_location=device, weights_only=False)
        except Exception as error:  # a checkpoint is an optimisation: never let a bad one stop the job
            log.warning("%s: unreadable checkpoint (%s: %s); starting afresh", self.path, type(error).__name__, error)
            return None
        found = saved.get("identity") if isinstance(saved, dict) else None
        if found != self.identity:
            log.warning("%s: checkpoint of another spec or code (identity %s, this job %s); starting afresh",
                        self.path, found, self.identity)
            return None
        return saved["state"]

    def save(self, state: dict[str, Any]) -> None:
        """Write atomically: a kill at any moment leaves the previous checkpoint or the new one, whole."""
        with atomic_path(self.path) as temporary, open(temporary, "wb") as file:
            torch.save({"identity": self.identity, "state": state}, file)
            file.flush()
            os.fsync(file.fileno())  # the rename must not reach the disk before the data
        self._last_save = time.monotonic()

    def boundary(self, state: Callable[[], dict[str, Any]]) -> None:
        """Between two steps: save ``state()`` when due or asked to stop; then stop if asked."""
        if self.stop_signal or time.monotonic() - self._last_save >= self.every:
            self.save(state())
        if self.stop_signal:
            name = signal.Signals(self.stop_signal).name
            raise Preempted(f"stopped on {name}; progress saved in {self.path}: run the job again to go on",
                            exit_status=128 + self.stop_signal)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    @contextmanager
    def stopping_on_signals(self) -> Iterator[None]:
        """Within the context, SIGTERM or SIGINT asks for a checkpoint and a stop at the next step boundary.

        SLURM sends SIGTERM before preempting a job; Ctrl-C sends SIGINT to Snakemake and to every job it runs.
        A second signal stops at once (KeyboardInterrupt), for a user who will not wait for the boundary.
        """

        def request_stop(signum, frame):
            if self.stop_signal:
                raise KeyboardInterrupt
            self.stop_signal = signum

        previous = {number: signal.signal(number, request_stop) for number in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)


def lock_path(out: str | os.PathLike) -> Path:
    """The lock of the cell written to ``out``: ``<cell>.nc.lock`` beside it (no output, so Snakemake ignores it)."""
    out = Path(out)
    return out.with_name(f"{out.name}.lock")


@contextmanager
def cell_lock(out: str | os.PathLike) -> Iterator[None]:
    """Hold the exclusive lock of the cell written to ``out`` within the context; :class:`CellBusy` if another
    process holds it.

    An advisory ``flock`` on :func:`lock_path`, tried once without waiting. The kernel releases it when its
    process ends, however it ends (``kill -9`` included), so a lock file left behind by a killed job blocks
    nothing. The holder deletes the file before letting go; a process that locked a file deleted meanwhile
    locks the new one instead, so two processes never both hold the lock. On NFS, Linux turns ``flock`` into a
    byte-range lock that the server arbitrates, so the lock holds across nodes, as ``flock`` does there (not on
    a share mounted with ``local_lock=flock`` or ``all``, where it holds on one node only). A filesystem that
    refuses locks (Lustre mounted without ``flock``, NFS without a lock service) leaves the cell unlocked, with
    a log line.
    """
    path = lock_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = _take_lock(path)
    if descriptor is None:
        yield
        return
    try:
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        yield
    finally:
        path.unlink(missing_ok=True)  # still locked: whoever opens the path from now on creates a new file
        os.close(descriptor)


def _take_lock(path: Path) -> int | None:
    """A descriptor of ``path`` holding its exclusive lock; None where the filesystem refuses locks."""
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = os.pread(descriptor, 200, 0).decode(errors="replace").strip()
            os.close(descriptor)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise CellBusy(f"another process ({holder or 'that has not said which yet'}) holds {path} and is "
                               "training this cell") from None
            log.warning("%s: this filesystem refuses locks (%s); training without one", path, error)
            return None
        try:
            if os.path.samestat(os.fstat(descriptor), os.stat(path)):
                return descriptor
        except FileNotFoundError:
            pass
        os.close(descriptor)  # the previous holder deleted the file this one locked: lock the one there now


def finished_record(out: str | os.PathLike) -> Path:
    """Where a training job keeps a hard link to the cell file it wrote: ``.<cell>.nc.done`` beside it."""
    out = Path(out)
    return out.with_name(f".{out.name}.done")


def keep_finished(out: str | os.PathLike) -> None:
    """Link the cell file just written to :func:`finished_record`, at no cost in space.

    Snakemake deletes the outputs of every job it is about to run, and it reruns a job whose end it did not see
    (Snakemake killed, or interrupted twice, while the job finished): the link outlives that deletion, so the
    rerun finds the finished cell instead of training it again (:func:`restore_finished`).
    """
    record = finished_record(out)
    record.unlink(missing_ok=True)
    try:
        os.link(out, record)
    except OSError as error:  # a filesystem without hard links: only the protection is lost
        log.info("%s: no record of the finished cell kept (%s)", record, error)


def restore_finished(out: str | os.PathLike, spec: dict[str, Any]) -> bool:
    """Put back the cell a previous run of this same job finished; False (and the record gone) otherwise.

    The record counts only when it reads back whole and its spec hash, which holds the code hash, is this
    job's: a cell of other settings or code, or a damaged file, is trained afresh.
    """
    import xarray as xr

    record = finished_record(out)
    if not record.exists():
        return False
    try:
        with xr.open_dataset(record, engine="netcdf4") as stored:
            stored.load()
            same = stored.attrs.get("config_hash") == config_hash(spec)
    except Exception as error:  # an unreadable record only costs the retraining it was meant to save
        log.info("%s: finished cell unreadable (%s); training afresh", record, error)
        same = False
    if same:
        os.replace(record, out)
        keep_finished(out)
        log.info("%s: kept the cell a previous run of this job finished (same spec and code)", out)
    else:
        record.unlink(missing_ok=True)
    return same


def rng_state() -> dict[str, Any]:
    """Every global random generator's state, as arrays (so loading onto another device leaves them alone)."""
    return {
        "torch": torch.get_rng_state().numpy(),
        "cuda": [s.numpy() for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_initialized() else [],
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(torch.from_numpy(state["torch"]))
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.from_numpy(s) for s in state["cuda"]])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


class CellProgress:
    """The sequential path's progress through one cell: finished seeds, and the running seed's full state."""

    def __init__(self, checkpointer: Checkpointer | None, device: torch.device):
        self.checkpointer = checkpointer
        self.device = device
        saved = checkpointer.load(device) if checkpointer is not None else None
        self.finished: dict[int, SeedResult] = saved["finished"] if saved else {}
        self.running: dict[str, Any] | None = saved["running"] if saved else None
        #: every resumption of this cell: where it went on from, and where the interrupted run trained
        self.resumes: list[dict[str, Any]] = saved["resumes"] if saved else []
        if saved:
            where = {"seeds_finished": sorted(self.finished), "seed": None, "step": None,
                     "device": saved["device"], "torch_threads": saved["torch_threads"]}
            if self.running is not None:
                where.update(seed=self.running["seed"], step=self.running["strategy"]["step"])
            self.resumes.append(where)
            log.info("%s: resuming: seeds %s finished, seed %s goes on at step %s (saved on %s, %s threads)",
                     checkpointer.path, where["seeds_finished"], where["seed"], where["step"], where["device"],
                     where["torch_threads"])

    def seed_checkpoint(self, seed: int, model: torch.nn.Module) -> SeedCheckpoint | None:
        return None if self.checkpointer is None else SeedCheckpoint(self, seed, model)

    def finish(self, result: SeedResult) -> None:
        """Record a finished seed (a boundary too: saved when due)."""
        self.finished[result.seed] = result
        if self.checkpointer is not None:
            self.checkpointer.boundary(lambda: self.state(running=None))

    def state(self, running: dict[str, Any] | None) -> dict[str, Any]:
        return {"finished": self.finished, "running": running, "resumes": self.resumes,
                "device": device_description(self.device), "torch_threads": torch.get_num_threads()}

    def provenance(self) -> dict[str, str]:
        return {"checkpoint_resumes": canonical_json(self.resumes)}


class SeedCheckpoint:
    """One running seed's link to its cell's checkpoint: saves at step boundaries, restores on resumption."""

    def __init__(self, cell: CellProgress, seed: int, model: torch.nn.Module):
        self.cell = cell
        self.seed = seed
        self.model = model
        #: training seconds before this process took over
        self.elapsed_before = 0.0
        self._clock = time.perf_counter()

    def resume(self, monitor: Monitor) -> dict[str, Any] | None:
        saved = self.cell.running
        if saved is None or saved["seed"] != self.seed:
            return None
        self.cell.running = None
        self.model.load_state_dict(saved["model"])
        monitor.load_state_dict(saved["monitor"])
        set_rng_state(saved["rng"])
        self.elapsed_before = saved["wall_time"]
        return saved["strategy"]

    def boundary(self, monitor: Monitor, strategy_state: Callable[[], dict[str, Any]]) -> None:
        self.cell.checkpointer.boundary(lambda: self.cell.state(running={
            "seed": self.seed,
            "model": self.model.state_dict(),
            "monitor": monitor.state_dict(),
            "rng": rng_state(),
            "strategy": strategy_state(),
            "wall_time": self.elapsed_before + time.perf_counter() - self._clock,
        }))
