"""Browser tests: Playwright drives Debian's chromium against the app served by uvicorn.

Without /usr/bin/chromium the tests skip with a message saying how to run them; with
KPI_REQUIRE_BROWSER=1 (set by .ci/run) a missing browser fails them instead. Never
`playwright install`: it downloads a browser, which this project does not use.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, BrowserType, Playwright, sync_playwright
from sqlalchemy import select

from notifications.dispatcher import send_due
from notifications.testing import RecordingServer
from tests.support import World, small_world
from tests.web_support import Clock
from workflow.store.tables import PERSON
from workflow.web import create_app

CHROMIUM = os.environ.get("KPI_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
HOW_TO = ("the browser tests need Debian's chromium: `sudo apt-get install -y chromium "
          "fonts-noto-mono` (or set KPI_CHROMIUM to a Chromium binary), then `make test`")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if shutil.which(CHROMIUM) or Path(CHROMIUM).exists():
        return
    if os.environ.get("KPI_REQUIRE_BROWSER") == "1":
        raise pytest.UsageError(f"KPI_REQUIRE_BROWSER=1 but {CHROMIUM} is missing: {HOW_TO}")
    skip = pytest.mark.skip(reason=HOW_TO)
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": CHROMIUM}


# pytest-playwright keeps Playwright (and the event loop its sync API runs in the
# main thread) for the whole session; every later test calling asyncio.run() would
# then fail. Scoped to the module, it stops when the browser tests are done.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    pw = sync_playwright().start()
    yield pw
    pw.stop()


@pytest.fixture(scope="module")
def browser_type(playwright: Playwright, browser_name: str) -> BrowserType:
    return cast(BrowserType, getattr(playwright, browser_name))


@pytest.fixture(scope="module")
def launch_browser(browser_type_launch_args: dict[str, Any], browser_type: BrowserType
                   ) -> Callable[..., Browser]:
    def launch(**kwargs: Any) -> Browser:
        return browser_type.launch(**{**browser_type_launch_args, **kwargs})

    return launch


@pytest.fixture(scope="module")
def browser(launch_browser: Callable[..., Browser]) -> Iterator[Browser]:
    opened = launch_browser()
    yield opened
    opened.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """The app on uvicorn in a thread, on a free loopback port."""

    def __init__(self, app: FastAPI, port: int | None = None) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start within 10 s")
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def smtp() -> Iterator[RecordingServer]:
    """A real SMTP server on loopback: the browser tests open the links it receives."""
    with RecordingServer() as server:
        yield server


@pytest.fixture
def world(seeded_service: Callable[..., Any], smtp: RecordingServer) -> World:
    """The small world, seeded once per test process and copied (tests/conftest.py)."""
    return World(seeded_service("small-world", small_world, smtp_port=smtp.port), "t-2026-04")


@dataclass
class Inbox:
    """Everyone's mail as the SMTP server received it, delivered on the app's clock."""

    world: World
    smtp: RecordingServer
    clock: Clock

    def link(self, person: str, event: str, nth: int = 0) -> str:
        """The path of the link in ``person``'s latest ``event`` email, after delivering
        what is due (the dispatcher's job in `kpi serve`); ``nth``: the nth link of the
        email (a result email's second is the unit's publication)."""
        send_due(self.world.svc, now=self.clock())
        with self.world.svc.store.read() as s:
            email = s.execute(select(PERSON.c.email).where(PERSON.c.id == person)).scalar_one()
        for received in reversed(self.smtp.by_recipient(email)):
            message = received.message
            if message["X-KPI-Event"] != event:
                continue
            part = message.get_body(preferencelist=("plain",))
            assert part is not None, f"the {event} email to {person} has no text part"
            found = re.findall(r"https?://\S+/t/[\w-]+", part.get_content())
            assert len(found) > nth, f"the {event} email to {person} has no link {nth}"
            return urlsplit(found[nth]).path
        raise AssertionError(f"no {event} email to {person} ({email}) reached the SMTP server")


@pytest.fixture
def inbox(world: World, smtp: RecordingServer, clock: Clock) -> Inbox:
    return Inbox(world, smtp, clock)


@pytest.fixture
def live(world: World, clock: Clock) -> Iterator[LiveServer]:
    with LiveServer(create_app(world.svc, clock=clock)) as server:
        yield server


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def browser_context_args() -> dict[str, Any]:
    # A browser set to Vietnamese, as in the agencies; pages of people whose locale is
    # English still come in English. (Module-scoped like Playwright itself, above; the
    # plugin's own version only adds --device, --base-url and video, unused here.)
    return {"locale": "vi-VN"}
