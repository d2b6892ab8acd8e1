"""Progress of a long loop over frames as log lines, where a progress bar cannot show.

A tqdm bar redraws one terminal line; written to a log file (`kedro run > run.log`, CI, a Dask
worker forwarding its log) every redraw is a record. `ProgressLog` says the same in a few lines.
"""

from __future__ import annotations

import logging
import time

logger = logging.getLogger(__name__)


class ProgressLog:
    """Log lines `"<label>: N frames of M (P %), F frames/s"` as frames are done.

    Args:
        label: what each line starts with (e.g. `"converting clip.mp4"`).
        expected: how many frames there are; None when unknown (then no share is given).
        every_s: a line once this many seconds have passed since the last (None: never by time).
        tenths: a line each time another tenth of `expected` is done too (ten lines a loop).
    """

    def __init__(
        self,
        label: str,
        expected: int | None,
        *,
        every_s: float | None = 30.0,
        tenths: bool = False,
    ) -> None:
        self.label, self.expected, self.every_s = label, expected, every_s
        self.tenths = tenths and bool(expected)
        self.frames = 0
        self._tenths_logged = 0
        self.started = self.last = time.perf_counter()

    def update(self, frames: int) -> None:
        """Count `frames` more done; log a line when one is due."""
        self.frames += frames
        now = time.perf_counter()
        due = self.every_s is not None and now - self.last >= self.every_s
        if self.tenths:
            tenths = min(10, 10 * self.frames // self.expected)
            due = due or tenths > self._tenths_logged
            self._tenths_logged = max(self._tenths_logged, tenths)
        if not due:
            return
        self.last = now
        share = (
            f" of {self.expected} ({100 * self.frames / self.expected:.0f} %)"
            if self.expected
            else ""
        )
        logger.info(
            "%s: %d frames%s, %.1f frames/s",
            self.label,
            self.frames,
            share,
            self.frames / max(now - self.started, 1e-9),
        )
