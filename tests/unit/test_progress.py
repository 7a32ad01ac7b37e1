"""The progress port and its renderers, on a fake clock (the only fake): what a log and
a terminal get for a step, a step whose work grows, a small step and a failed one."""

from __future__ import annotations

import io

import pytest

from workflow.cli.progress import QUIET_BELOW, Bar, Lines, shown
from workflow.progress import SILENT, Remaining, counted


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A Progress that writes down every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def start(self, step: str, total: int) -> None:
        self.calls.append(("start", (step, total)))

    def advance(self, count: int) -> None:
        self.calls.append(("advance", count))

    def grow(self, count: int) -> None:
        self.calls.append(("grow", count))

    def done(self) -> None:
        self.calls.append(("done", None))


def test_counted_reports_a_batch_at_a_time_and_the_rest_at_the_end() -> None:
    heard = Recorder()
    assert list(counted(range(2_500), heard, every=1_000)) == list(range(2_500))
    assert heard.calls == [("advance", 1_000), ("advance", 1_000), ("advance", 500)]


def test_remaining_grows_the_total_when_more_fell_due_on_the_way() -> None:
    heard = Recorder()
    left = [1_000]  # what is still due, as the store would count it
    rows = Remaining(heard, "deadline rows", lambda: left[0])
    left[0] = 500  # a round did 500
    rows.advance(500)
    left[0] = 700  # the next round did 500 and entered phases with 700 rows due
    rows.advance(500)
    left[0] = 0
    rows.advance(700)
    rows.done()
    assert heard.calls == [("start", ("deadline rows", 1_000)), ("advance", 500),
                           ("grow", 700), ("advance", 500), ("advance", 700), ("done", None)]
    assert rows.count == rows.total == 1_700


def test_remaining_counts_nothing_for_the_silent_default() -> None:
    def never() -> int:
        raise AssertionError("counted for nobody")

    rows = Remaining(SILENT, "deadline rows", never)
    rows.advance(10)
    rows.done()


def test_a_log_gets_a_line_per_tenth_and_one_at_the_end_that_add_up() -> None:
    out, clock = io.StringIO(), Clock()
    lines = Lines("kpi cycle open", out, clock)
    lines.start("people", 2_001)
    for _ in range(7):
        clock.now += 0.5
        lines.advance(300)  # 2,100 > 2,001: another worker's rows are not refused
    clock.now += 0.5
    lines.done()
    text = out.getvalue().splitlines()
    assert text[0] == "kpi cycle open: people 300/2,001 (+300) 14%, 600/s"
    assert text[-1] == "kpi cycle open: people done: 2,100/2,001 (+0) in 4.0 s, 525/s"
    added = [int(t.split("(+")[1].split(")")[0].replace(",", "")) for t in text]
    assert sum(added) == 2_100 and len(text) == 8


def test_a_terminal_gets_the_bar_redrawn_in_place_at_most_ten_times_a_second() -> None:
    out, clock = io.StringIO(), Clock()
    bar = Bar("kpi tick", out, clock)
    bar.start("deadline rows", 1_000)
    bar.advance(100)
    clock.now += 0.05
    bar.advance(100)  # too soon: not drawn
    clock.now += 0.07
    bar.advance(300)
    clock.now += 0.98
    bar.advance(500)
    bar.done()
    drawings = out.getvalue().split("\r")[1:]
    assert [d.split("] ")[1].split(" ")[0] for d in drawings] == [
        "100/1,000", "500/1,000", "1,000/1,000", "1,000/1,000"]
    assert drawings[-1] == ("kpi tick: deadline rows [" + "#" * 30 + "] 1,000/1,000 100% "
                            "in 1.1 s, 909/s\n")
    assert out.getvalue().count("\n") == 1


def test_a_step_smaller_than_the_threshold_shows_nothing() -> None:
    out = io.StringIO()
    for renderer in (Lines("kpi tick", out, Clock()), Bar("kpi tick", out, Clock())):
        renderer.start("deadline rows", QUIET_BELOW - 1)
        renderer.advance(QUIET_BELOW - 1)
        renderer.done()
    assert out.getvalue() == ""


def test_a_failure_mid_step_leaves_the_error_a_line_of_its_own() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    with pytest.raises(RuntimeError), shown("kpi mail send", out) as progress:
        progress.start("messages", 5_000)
        progress.advance(1_000)
        raise RuntimeError("the server went away")
    assert out.getvalue().startswith("\rkpi mail send: messages [")
    assert out.getvalue().endswith("\n") and "done" not in out.getvalue()
