"""The step loop every strategy runs, one seed at a time or a batch of seeds together.

A strategy's phases (e.g. Adam, then L-BFGS) run on one global step counter: the monitor sees steps 1 .. N
with N the sum of the phase lengths. A seed whose parameters stall ends its run in the last phase of nonzero
length, and only its phase in an earlier one (the next phase may move it again). One seed is a batch of one.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

#: take global step ``step`` of phase ``index`` for ``rows``; return the rows that go on and those that stalled
TakeStep = Callable[[int, int, list[int]], tuple[list[int], list[int]]]
#: called before global step ``step`` of phase ``index`` with the rows about to take it and those that stalled
#: earlier in this phase (they go on in the next): where a run can be saved and resumed
BeforeStep = Callable[[int, int, list[int], list[int]], None]


def run_phases(lengths: Sequence[int], take_step: TakeStep, rows: Sequence[int], phase: int = 0,
               step: int = 1, waiting: Sequence[int] = (), before_step: BeforeStep | None = None) -> None:
    """Run ``rows`` through phases of ``lengths`` steps, from global ``step`` of ``phase`` (a resumed run, whose
    ``waiting`` rows stalled earlier in that phase)."""
    ends = list(itertools.accumulate(lengths))
    last = max((i for i, n in enumerate(lengths) if n), default=-1)
    running, waiting = list(rows), list(waiting)
    while phase < len(lengths):
        going = list(running)
        while step <= ends[phase] and going:
            if before_step is not None:
                before_step(phase, step, going, waiting)
            going, stalled = take_step(phase, step, going)
            waiting += stalled if phase != last else []
            step += 1
        running, waiting = sorted(going + waiting), []
        step = ends[phase] + 1
        phase += 1
