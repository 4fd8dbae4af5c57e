"""The progress lines of a training job's log: their rate, their numbers, and the cell's log as a whole."""

from __future__ import annotations

import logging

import torch

from sciml.training import progress
from sciml.training.progress import ProgressLog, duration
from sciml.training.train import train_cell

from support import cell_data, cell_spec


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_line_per_interval_with_the_time_left(caplog):
    clock = Clock()
    progress = ProgressLog(total=400, every=30.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="sciml.training.progress"):
        for step in range(1, 401):
            clock.now += 0.25  # 4 steps a second: 100 s in all
            progress.update(step, loss=1.0 / step, where="seed 0 (1 of 1)")
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 3  # at 30, 60 and 90 s
    assert lines[0] == "seed 0 (1 of 1): step 120 of 400 (30%), loss 8.333e-03, 30 s elapsed, about 1 min 10 s left"
    assert lines[2].startswith("seed 0 (1 of 1): step 360 of 400 (90%)") and lines[2].endswith("about 10 s left")


def test_no_loss_yet_and_nothing_done_yet(caplog):
    clock = Clock()
    progress = ProgressLog(total=10, every=1.0, clock=clock)
    clock.now += 5
    with caplog.at_level(logging.INFO, logger="sciml.training.progress"):
        progress.update(0, None, "seeds together")
    assert caplog.records[0].getMessage() == ("seeds together: step 0 of 10 (0%), loss n/a, 5 s elapsed, "
                                              "unknown left")


def test_durations_read_at_a_glance():
    assert [duration(s) for s in (0.4, 59, 61, 3599, 3600, 7380)] == [
        "0 s", "59 s", "1 min 01 s", "59 min 59 s", "1 h 00 min", "2 h 03 min"]


def test_a_training_run_logs_its_start_and_its_progress(caplog, monkeypatch):
    """A real cell: a start line naming the cell, then progress lines (every step here) with rising step counts."""
    monkeypatch.setattr(progress, "EVERY", 0.0)
    spec = cell_spec(5, 64, {"method": "adam", "steps": 6, "lr": 0.01}, seeds=(0, 1))
    with caplog.at_level(logging.INFO):
        train_cell(spec, cell_data(5, 64), torch.device("cpu"))
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0] == "training pinn/convection/adam at beta=5 n_f=64: 2 seed(s) x 6 steps on cpu"
    steps = [int(line.split("step ")[1].split(" of")[0]) for line in lines if " of 12 " in line]
    assert steps == list(range(1, 13))
    assert any(line.startswith("seed 1 (2 of 2): step 12 of 12 (100%)") for line in lines)
