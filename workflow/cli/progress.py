"""The long commands' progress on stderr: a bar on a terminal, plain lines in a log.

The service reports per batch through ``workflow.progress.Progress``; this is what
`kpi` hands it. On a terminal the bar is redrawn in place (``\\r``) at most ten times
a second, with the count, the total and the rate, and its last state stays on
screen. When stderr is a file or a pipe (cron, CI, ``2>> kpi.log``) a bar would be
thousands of ``\\r`` in one line, so each step writes a plain line at every tenth of
its total and one when it ends; each line says how many items it adds (``+N``), so
the lines of a step add up to its count. A step of fewer than ``QUIET_BELOW`` items
shows nothing: the small runs people read in full stay as they were.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from workflow.progress import Progress

QUIET_BELOW = 500  # items in a step below which it shows no progress
REDRAW_EVERY = 0.1  # seconds between two redraws of the bar
LINES_PER_STEP = 10  # plain lines at most per step, besides its last one
BAR_WIDTH = 30


def rate(count: int, seconds: float) -> str:
    """Items a second, as people read it ("1,234/s")."""
    return f"{count / seconds:,.0f}/s" if seconds > 0 else "-/s"


class _Step:
    """The count of the step under way and when it began."""

    def __init__(self, step: str, total: int, now: float) -> None:
        self.step, self.total, self.count, self.began = step, total, 0, now
        self.shown = 0  # the count the last line or drawing showed


class _Renderer:
    """What the bar and the lines share: the step under way, its clock, its stream."""

    def __init__(self, command: str, stream: TextIO,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.command, self.stream, self.clock = command, stream, clock
        self.current: _Step | None = None

    def start(self, step: str, total: int) -> None:
        self.done()  # a step that was not closed is closed by the next one
        self.current = _Step(step, total, self.clock())

    def advance(self, count: int) -> None:
        if self.current is not None:
            self.current.count += count
            if self.current.total >= QUIET_BELOW:
                self._show(self.current, final=False)

    def grow(self, count: int) -> None:
        if self.current is not None:
            self.current.total += count

    def done(self) -> None:
        step, self.current = self.current, None
        if step is not None and step.total >= QUIET_BELOW:
            self._show(step, final=True)

    def interrupted(self) -> None:
        """The command failed mid-step: end the display so the error has its own line."""
        self.current = None

    def _show(self, step: _Step, *, final: bool) -> None:
        raise NotImplementedError

    def _percent(self, step: _Step) -> int:
        return min(100, step.count * 100 // step.total) if step.total else 100


class Bar(_Renderer):
    """A bar redrawn in place on a terminal."""

    def __init__(self, command: str, stream: TextIO,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(command, stream, clock)
        self.drawn_at = -REDRAW_EVERY
        self.width = 0  # of the last drawing, blanked out by a shorter one
        self.open_line = False

    def _show(self, step: _Step, *, final: bool) -> None:
        now = self.clock()
        if not final and now - self.drawn_at < REDRAW_EVERY:
            return
        self.drawn_at = now
        percent = self._percent(step)
        filled = BAR_WIDTH * percent // 100
        elapsed = now - step.began
        tail = f"in {elapsed:.1f} s, " if final else ""
        text = (f"{self.command}: {step.step} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
                f"{step.count:,}/{step.total:,} {percent:3d}% {tail}{rate(step.count, elapsed)}")
        self.stream.write("\r" + text + " " * max(0, self.width - len(text))
                          + ("\n" if final else ""))
        self.stream.flush()
        self.width, self.open_line = (0, False) if final else (len(text), True)

    def interrupted(self) -> None:
        super().interrupted()
        if self.open_line:
            self.stream.write("\n")
            self.stream.flush()
            self.open_line = False


class Lines(_Renderer):
    """Plain lines for a log: at each tenth of the total, and at the end."""

    def _show(self, step: _Step, *, final: bool) -> None:
        tenth = max(1, step.total // LINES_PER_STEP)
        if not final and step.count // tenth == step.shown // tenth:
            return
        elapsed = self.clock() - step.began
        added, step.shown = step.count - step.shown, step.count
        if final:
            text = (f"{self.command}: {step.step} done: {step.count:,}/{step.total:,} "
                    f"(+{added:,}) in {elapsed:.1f} s, {rate(step.count, elapsed)}")
        else:
            text = (f"{self.command}: {step.step} {step.count:,}/{step.total:,} "
                    f"(+{added:,}) {self._percent(step)}%, {rate(step.count, elapsed)}")
        self.stream.write(text + "\n")
        self.stream.flush()


@contextmanager
def shown(command: str, stream: TextIO | None = None) -> Iterator[Progress]:
    """The progress of ``command`` ("kpi cycle open") on stderr, as suits where stderr
    goes; a failure ends the bar's line so that the error is read on its own."""
    out = stream if stream is not None else sys.stderr
    renderer: _Renderer = Bar(command, out) if out.isatty() else Lines(command, out)
    try:
        yield renderer
    except BaseException:
        renderer.interrupted()
        raise
    renderer.done()
