"""How far a long command has got: the port the service reports through.

Opening a cycle of a million people, or the first sweep after downtime, runs for
minutes; the service says how far it has got through a ``Progress`` it is handed, one
call per batch of rows (never one per row), and the edge that asked decides what to
show: `kpi` draws a bar on a terminal, or writes plain lines into a log
(``workflow.cli.progress``). The web and the tests hand nothing, and ``SILENT``
hears it all.

Pure: no IO, no clock (the renderer keeps the time).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar

T = TypeVar("T")

BATCH = 1000  # rows between two reports, where the service walks rows one by one


class Progress(Protocol):
    """One step at a time: ``start``, some ``advance``, ``done``."""

    def start(self, step: str, total: int) -> None:
        """A step begins: ``step`` names what is counted ("people", "messages"), in the
        plural; ``total`` is how many there are, as far as is known now."""

    def advance(self, count: int) -> None:
        """``count`` more of the step's items are done."""

    def grow(self, count: int) -> None:
        """The step found ``count`` items more than its total said (a sweep after
        downtime: a phase entered at a passed deadline has rows that are due too)."""

    def done(self) -> None:
        """The step is over (however many items it did)."""


class Silent:
    """Hears everything, says nothing: the default of every service function."""

    def start(self, step: str, total: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass

    def grow(self, count: int) -> None:
        pass

    def done(self) -> None:
        pass


SILENT: Progress = Silent()


def counted(items: Iterable[T], progress: Progress, every: int = BATCH) -> Iterator[T]:
    """``items`` unchanged, reporting ``advance(every)`` after each ``every`` of them (and
    the rest at the end): for a loop that handles rows one by one, so the loop itself
    stays as it is."""
    pending = 0
    for item in items:
        yield item
        pending += 1
        if pending == every:
            progress.advance(pending)
            pending = 0
    if pending:
        progress.advance(pending)


class Remaining:
    """A step whose total is the work still to do, counted by ``remaining()``: counted
    again whenever the step has done as many as its total said, because the work can
    grow on the way (a sweep after downtime: the phase a deadline moved an evaluation
    into has rows due already; a digest folded while the outbox drains). The counting
    is skipped for ``SILENT``: nobody is told, so nothing is counted."""

    def __init__(self, progress: Progress, step: str, remaining: Callable[[], int]) -> None:
        self.progress, self.remaining = progress, remaining
        self.told = progress is not SILENT
        self.total = remaining() if self.told else 0
        self.count = 0
        progress.start(step, self.total)

    def advance(self, count: int) -> None:
        """``count`` more done (already written: ``remaining()`` no longer counts them)."""
        self.count += count
        if self.told and self.count >= self.total:
            more = self.count + self.remaining() - self.total
            if more > 0:
                self.progress.grow(more)
                self.total += more
        self.progress.advance(count)

    def done(self) -> None:
        self.progress.done()
