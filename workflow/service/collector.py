"""The cyclic garbage collector, paused while a bulk write builds its rows.

Opening a cycle or sweeping a round makes hundreds of thousands of small dicts and
tuples (rows, contexts, parameters) that live until the chunk is written. Hardly
any of them is in a reference cycle: their reference counts free them. Yet each
allocation counts towards the collector's next pass, and every pass walks the
young objects, the chunk's rows among them, again and again as they age: with
the collector on, opening 20,000 evaluations took about a third more CPU (4.5 s
against 3.3 s, issue 16). So the collector pauses for one chunk or one sweep round
and runs again after it, when whatever cycles the chunk made (a session and its
transaction refer to each other) are collected as before: memory stays flat
however many chunks follow.

Process-wide, so shared: the first of several threads to pause it (a sweep round
beside an opening in ``kpi serve``) turns it off, the last to finish turns it back
on, and a collector someone else had switched off stays off.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_resume = False  # whether the collector was on when the first holder paused it


@contextmanager
def paused() -> Iterator[None]:
    """No automatic collection inside the block (see the module's docstring)."""
    global _holders, _resume  # noqa: PLW0603 (one collector per process)
    with _lock:
        if _holders == 0:
            _resume = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _resume:
                gc.enable()
