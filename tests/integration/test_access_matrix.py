"""The access matrix (issue 14): every role, revoked ones included, against every page
and action, in one table.

The world: S1's evaluation waits for its score on 12 May 2026 at 13:00. H1, its
supervisor, was reassigned away that morning (D1 scores it now, and calibrates the
cycle); UB1 was acting supervisor for H1 until noon; A1 administers the cycle. Each
case signs its person in afresh (a live server-side session, as a sign-in makes), or
opens the newest link emailed to them about S1.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import make_settings
from tests.support import World, at, small_world
from tests.web_support import CSRF, make_web
from workflow.domain import State
from workflow.service import records, sessions
from workflow.service.core import Service
from workflow.service.sweep import tick
from workflow.store.db import Store
from workflow.store.tables import OUTBOX
from workflow.web.security import SESSION_COOKIE, SESSION_LIFETIME, Signer

NOW = "2026-05-12 13:00"
# Who, by role on S1's evaluation ("peer" and "colleague" are resolved in the world).
PEOPLE = ["anonymous", "reviewee", "peer", "colleague", "former_supervisor",
          "ended_acting", "supervisor", "admin"]
FIXED = {"reviewee": "S1", "former_supervisor": "H1", "ended_acting": "UB1",
         "supervisor": "D1", "admin": "A1"}
# action -> who may do it; everyone else is refused (401 without a session).
MATRIX: dict[str, set[str]] = {
    "team": set(PEOPLE) - {"anonymous"},  # their own team (empty for most)
    "score_page": {"supervisor"},
    "save_score_draft": {"supervisor"},
    "appeal_page": set(),  # nobody: no appeal was lodged
    # D1 is the cycle's calibrator; UB1 (D1's evaluator) calibrates D1's own evaluation,
    # which D1 may not decide (recusal): a right of its own, not the ended delegation.
    "calibration_page": {"supervisor", "ended_acting"},
    "admin_dashboard": {"admin"},
    "admin_evaluation": {"admin"},
    "admin_extend": {"admin"},
    "admin_revoke_sessions": {"admin"},
    "own_task_link": {"supervisor"},  # the newest link each was emailed about S1
}
REFUSED = (401, 403, 404, 409, 410)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, schema_template: Any) -> World:
    path = tmp_path_factory.mktemp("matrix") / "kpi.sqlite3"
    shutil.copy(str(schema_template), path)
    url = f"sqlite:///{path}"
    w = small_world(Service(Store(url), make_settings(url)))
    w.submit_self("S1")
    w.answer_peers("S1")
    records.delegate(w.svc, w.cycle_id, "H1", "UB1", at("2026-05-12 12:00"),
                     "Trưởng phòng đi công tác", "A1", now=at("2026-05-08 10:00"))
    tick(w.svc, at("2026-05-12 08:30"))  # reminders: H1 and UB1 get a link
    records.reassign_supervisor(w.svc, w.ev("S1"), "D1", "Trưởng phòng nghỉ dài hạn", "A1",
                                now=at("2026-05-12 09:00"))
    assert w.state("S1") is State.SUPERVISOR_SCORING
    return w


def person_of(world: World, who: str) -> str:
    peers = world.peers_of("S1")
    if who == "peer":
        return peers[0]
    if who == "colleague":
        return next(p for p in ("S2", "S3", "S4") if p not in peers)
    return FIXED[who]


def newest_link(world: World, person: str) -> str | None:
    """The newest task link emailed to ``person`` about S1 (about the team, for UB1, whose
    reminder was for whichever of H1's team it named)."""
    with world.svc.store.read() as s:
        stmt = select(OUTBOX.c.context).where(OUTBOX.c.recipient_id == person,
                                              OUTBOX.c.event != "sign_in")
        if person != "UB1":
            stmt = stmt.where(OUTBOX.c.evaluation_id == world.ev("S1"))
        for context in s.execute(stmt.order_by(OUTBOX.c.id.desc())).scalars():
            if context.get("action_url"):
                return str(context["action_url"]).removeprefix("http://kpi.test")
    return None


def browser(world: World, who: str) -> TestClient:
    web = make_web(world)
    web.clock.set(NOW)
    client = web.client_for()
    if who != "anonymous":
        person = person_of(world, who)
        session_id = sessions.start(world.svc, person, SESSION_LIFETIME, now=at(NOW))
        client.cookies.set(SESSION_COOKIE,
                           Signer(world.svc.settings.secret_key).session(person, session_id))
    return client


def token_of(client: TestClient) -> str:
    match = CSRF.search(client.get("/sign-in" if SESSION_COOKIE not in client.cookies
                                   else "/").text)
    return match.group(1) if match else ""


def act(world: World, who: str, action: str) -> int:
    client = browser(world, who)
    eid = world.ev("S1")
    gets: dict[str, str] = {
        "team": "/team", "score_page": f"/e/{eid}/score",
        "appeal_page": f"/e/{eid}/appeal", "calibration_page": f"/calibration/{world.cycle_id}",
        "admin_dashboard": "/admin", "admin_evaluation": f"/admin/e/{eid}",
    }
    if action in gets:
        return client.get(gets[action]).status_code
    posts: dict[str, Callable[[], tuple[str, dict[str, str]]]] = {
        "save_score_draft": lambda: (f"/e/{eid}/score", {"op": "save_draft",
                                                          "comment": "Nháp"}),
        "admin_extend": lambda: (f"/admin/e/{eid}", {
            "op": "extend", "new_due": "2026-05-20T17:00", "extend_reason": "ốm",
            "approved_by": "D1"}),
        "admin_revoke_sessions": lambda: ("/admin/sessions/revoke", {
            # S2, evaluated in A1's cycle: an admin of cycles only reaches its people.
            "revoke.person": "S2", "revoke.reason": "kiểm tra"}),
    }
    if action in posts:
        path, data = posts[action]()
        return client.post(path, data={**data, "csrf_token": token_of(client)}).status_code
    assert action == "own_task_link"
    link = None if who == "anonymous" else newest_link(world, person_of(world, who))
    return client.get(link).status_code if link else 404


@pytest.mark.parametrize("action", list(MATRIX))
@pytest.mark.parametrize("who", PEOPLE)
def test_each_role_may_do_only_what_the_matrix_allows(world: World, who: str,
                                                      action: str) -> None:
    status = act(world, who, action)
    if who in MATRIX[action]:
        assert status == 200, (who, action, status)
    else:
        assert status in REFUSED, (who, action, status)
        if who == "anonymous":
            assert status in (401, 404, 410), (who, action, status)


def test_the_revoked_roles_had_links_to_refuse(world: World) -> None:
    """The matrix refuses H1's and UB1's links because they are revoked, not missing."""
    assert newest_link(world, "H1") is not None
    assert newest_link(world, "UB1") is not None
