"""The garbage collector's pause around bulk writes (workflow/service/collector.py):
it comes back on however the block ends, nested and from several threads, and a
collector someone else switched off stays off."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from workflow.service import collector


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_paused_turns_the_collector_off_and_back_on() -> None:
    with collector.paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_error_inside_still_turns_it_back_on() -> None:
    with pytest.raises(ZeroDivisionError), collector.paused():
        _ = 1 / 0
    assert gc.isenabled()


def test_nested_pauses_resume_at_the_outermost() -> None:
    with collector.paused():
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block still builds its rows
    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off() -> None:
    gc.disable()
    with collector.paused():
        pass
    assert not gc.isenabled()


def test_the_last_of_two_threads_resumes_it() -> None:
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with collector.paused():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other)
    thread.start()
    assert inside.wait(5)
    with collector.paused():
        pass
    assert not gc.isenabled()  # the other thread is still inside
    release.set()
    thread.join(5)
    assert gc.isenabled()
