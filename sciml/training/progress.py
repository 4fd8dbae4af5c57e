"""Progress of a training job in its log: step, loss, elapsed and estimated time left, at a bounded rate.

A cell of the paper's study trains for minutes to hours; without these lines its log stays empty until it
ends. One line at the start and then at most one every ``every`` seconds keeps the log readable and the cost
nil (one clock read per optimizer step).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

log = logging.getLogger("sciml.training.progress")

#: seconds between two progress lines of one job
EVERY = 30.0


def duration(seconds: float) -> str:
    """12 s, 4 min 05 s, 2 h 03 min: precise where it matters, short where it does not."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class ProgressLog:
    """Counts a job's optimizer steps out of ``total`` and logs where it stands every ``every`` seconds."""

    def __init__(self, total: int, every: float | None = None, clock: Callable[[], float] = time.monotonic):
        self.total = max(int(total), 1)
        self.every = EVERY if every is None else every
        self.clock = clock
        self.start = self.last = clock()

    def update(self, done: int, loss: float | None, where: str) -> None:
        """``done`` steps of ``total`` are behind us, the latest loss is ``loss``, in ``where`` (e.g. seed 2)."""
        now = self.clock()
        if now - self.last < self.every:
            return
        self.last = now
        elapsed = now - self.start
        fraction = min(done / self.total, 1.0)
        left = elapsed * (1 - fraction) / fraction if fraction > 0 else math.inf
        loss_text = "n/a" if loss is None else f"{loss:.3e}"
        left_text = "unknown" if math.isinf(left) else f"about {duration(left)}"
        log.info("%s: step %d of %d (%.0f%%), loss %s, %s elapsed, %s left", where, done, self.total,
                 100 * fraction, loss_text, duration(elapsed), left_text)
