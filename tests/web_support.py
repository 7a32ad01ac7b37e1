"""Helpers for the web tests: the app on a small world, links from the outbox, sessions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from html import unescape
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.support import World, at
from workflow.store.tables import OUTBOX, SUBMISSION, TOKEN
from workflow.web import create_app

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
CONFIRM_BUTTON = re.compile(r'<button type="submit" name="op" value="(confirm_\w+)"')


@dataclass
class Clock:
    """The fake clock the app reads; tests move it."""

    now: datetime = field(default_factory=lambda: at("2026-05-05 09:00"))

    def __call__(self) -> datetime:
        return self.now

    def set(self, local: str) -> None:
        self.now = at(local)


@dataclass
class WebWorld:
    world: World
    clock: Clock
    client: TestClient

    @property
    def svc(self) -> Any:
        return self.world.svc

    def client_for(self) -> TestClient:
        """Another browser: its own cookies."""
        return TestClient(self.client.app, base_url="http://kpi.test")

    def link(self, person: str, event: str | None = None) -> str:
        """The path of the newest personal link emailed to ``person`` (for ``event``)."""
        with self.svc.store.read() as s:
            stmt = (select(OUTBOX.c.context).where(OUTBOX.c.recipient_id == person)
                    .order_by(OUTBOX.c.id.desc()))
            if event:
                stmt = stmt.where(OUTBOX.c.event == event)
            for (context,) in s.execute(stmt):
                if context.get("action_url"):
                    return str(context["action_url"]).removeprefix("http://kpi.test")
        raise AssertionError(f"no link emailed to {person} ({event})")

    def csrf(self, client: TestClient, path: str) -> str:
        page = client.get(path)
        match = CSRF.search(page.text)
        assert match, f"no form on {path}: {page.status_code}"
        return match.group(1)

    def sign_in(self, person: str, client: TestClient | None = None) -> TestClient:
        """A browser signed in as ``person`` through the emailed sign-in link."""
        client = client or self.client_for()
        email = self.email_of(person)
        token = self.csrf(client, "/sign-in")
        sent = client.post("/sign-in", data={"email": email, "csrf_token": token})
        assert sent.status_code == 200, sent.text
        link = self.link(person, "sign_in")
        token = self.csrf(client, link)
        done = client.post(link, data={"csrf_token": token}, follow_redirects=False)
        assert done.status_code == 303, done.text
        return client

    def email_of(self, person: str) -> str:
        from workflow.store.tables import PERSON

        with self.svc.store.read() as s:
            return str(s.execute(select(PERSON.c.email).where(PERSON.c.id == person))
                       .scalar_one())

    def submissions(self) -> int:
        with self.svc.store.read() as s:
            return int(s.execute(select(func.count()).select_from(SUBMISSION)).scalar_one())

    def used_links(self) -> int:
        with self.svc.store.read() as s:
            return int(s.execute(select(func.count()).select_from(TOKEN)
                                 .where(TOKEN.c.used_at.is_not(None))).scalar_one())

    def outbox_count(self, event: str | None = None) -> int:
        with self.svc.store.read() as s:
            stmt = select(func.count()).select_from(OUTBOX)
            if event:
                stmt = stmt.where(OUTBOX.c.event == event)
            return int(s.execute(stmt).scalar_one())


def confirmed(client: TestClient, path: str, fields: dict[str, str], *,
              refusal_ok: bool = False) -> Any:
    """Post ``fields`` (whose ``op`` asks for the confirmation step), check that the answer
    is the confirmation page,
    then press its confirm button with exactly the hidden fields the page carries.
    ``refusal_ok``: a refusal instead of the confirmation page is returned as it is."""
    check = client.post(path, data=fields)
    button = CONFIRM_BUTTON.search(check.text)
    if refusal_ok and button is None:
        return check  # refused at the check (bad input): the caller looks at the problems
    assert check.status_code == 200, text_of(check.text)
    assert button, f"no confirmation step on {path}: {text_of(check.text)[:300]}"
    carried = {unescape(k): unescape(v) for k, v in HIDDEN.findall(check.text)}
    return client.post(path, data={**carried, "op": button.group(1)})


def make_web(world: World, clock: Clock | None = None) -> WebWorld:
    clock = clock or Clock()
    client = TestClient(create_app(world.svc, clock=clock), base_url="http://kpi.test")
    return WebWorld(world, clock, client)


def text_of(html: str) -> str:
    """The visible text of a page, roughly (tags dropped, entities decoded)."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def self_fields(framework: Any, **overrides: str) -> dict[str, str]:
    """A complete, valid self-assessment form."""
    fields: dict[str, str] = {}
    for c in framework.criteria:
        if c.kind.value == "rubric":
            fields[f"criteria.{c.id}.points"] = "8"
            fields[f"criteria.{c.id}.evidence"] = "Đã hoàn thành"
    fields.update({"tasks[0].title": "Báo cáo quý", "tasks[0].completed": "1",
                   "tasks[0].meets_requirements": "1", "tasks[0].failed_assessments": "0",
                   "tasks[0].delays": "0", "note": "Ghi chú"})
    fields.update(overrides)
    return fields


def score_fields(framework: Any, points: str = "8", **overrides: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for c in framework.criteria:
        if c.kind.value == "rubric":
            fields[f"criteria.{c.id}.points"] = points
    fields.update({"tasks[0].title": "Báo cáo quý", "tasks[0].completed": "1",
                   "tasks[0].meets_requirements": "1", "comment": "Tốt"})
    fields.update(overrides)
    return fields
