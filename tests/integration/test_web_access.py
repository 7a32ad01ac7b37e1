"""Who sees what: each person (by their role on S1's evaluation) against each page and action.

Sessions are made with the app's own signer, as a sign-in would make them, so that
people who could never sign in (reviewees, peers) are checked too: the pages must
refuse them by role, not only by the sign-in rules.
"""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from tests.integration.test_full_cycle import approve, to_calibration
from tests.support import World, small_world
from tests.web_support import make_web, text_of
from workflow.domain import State, Trigger
from workflow.service import sessions
from workflow.service.core import Service
from workflow.web.security import SESSION_COOKIE, SESSION_LIFETIME, Signer

PEOPLE = ["anonymous", "S1", "peer", "S2", "H1", "D1", "A1"]
PAGES = ["team", "score", "calibration", "appeal", "admin", "admin_evaluation"]
# Who may open each page when S1 waits for its appeal decision (D1, the director, is
# both the calibrator and the appeal reviewer: H1's own supervisor).
ALLOWED = {
    "team": {"S1", "peer", "S2", "H1", "D1", "A1"},  # everyone signed in: their own team
    "score": {"H1"},
    "calibration": {"D1"},
    "appeal": {"D1"},
    "admin": {"A1"},
    "admin_evaluation": {"A1"},
}


@pytest.fixture(scope="module")
def appealed(tmp_path_factory: pytest.TempPathFactory, schema_template: object) -> World:
    import shutil

    from tests.conftest import make_settings
    from workflow.store.db import Store

    path = tmp_path_factory.mktemp("access") / "kpi.sqlite3"
    shutil.copy(str(schema_template), path)
    url = f"sqlite:///{path}"
    world = small_world(Service(Store(url), make_settings(url)))
    to_calibration(world)
    approve(world)
    world.fire("S1", Trigger.LODGE_APPEAL, "S1", {"reasons": "sai"}, when="2026-05-18 09:00")
    assert world.state("S1") is State.APPEAL_REVIEW
    assert world.row("S1")["appeal_reviewer_id"] == "D1"
    return world


def browser_of(world: World, who: str) -> TestClient:
    web = make_web(world)
    web.clock.set("2026-05-19 09:00")
    client = web.client_for()
    person = world.peers_of("S1")[0] if who == "peer" else who
    if who != "anonymous":
        client.cookies.set(SESSION_COOKIE, session_cookie(world.svc, person, web.clock.now))
    return client


def session_cookie(svc: Service, person: str, now: datetime) -> str:
    """A live server-side session of ``person``, as a sign-in makes one."""
    session_id = sessions.start(svc, person, SESSION_LIFETIME, now=now)
    return Signer(svc.settings.secret_key).session(person, session_id)


def path_of(world: World, page: str) -> str:
    eid = world.ev("S1")
    return {"team": "/team", "score": f"/e/{eid}/score",
            "calibration": f"/calibration/{world.cycle_id}", "appeal": f"/e/{eid}/appeal",
            "admin": "/admin", "admin_evaluation": f"/admin/e/{eid}"}[page]


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("who", PEOPLE)
def test_each_role_sees_only_the_pages_its_role_allows(appealed: World, who: str,
                                                       page: str) -> None:
    response = browser_of(appealed, who).get(path_of(appealed, page))
    if who == "anonymous":
        assert response.status_code == 401 and "đăng nhập" in text_of(response.text).lower()
    elif who in ALLOWED[page]:
        assert response.status_code == 200, text_of(response.text)[:300]
    else:
        assert response.status_code == 403, (who, page, response.status_code)
        main = response.text.partition('<main id="main"')[2]
        assert "Phạm Thị Lan" not in main  # nothing of S1's file leaks


def test_peers_are_never_named_to_the_reviewee_supervisor_or_appeal_reviewer(
        appealed: World) -> None:
    from workflow.store.tables import PERSON

    with appealed.svc.store.read() as s:
        from sqlalchemy import select

        names = dict(s.execute(select(PERSON.c.id, PERSON.c.full_name)).all())
    peers = appealed.peers_of("S1")
    eid = appealed.ev("S1")
    pages = [browser_of(appealed, "H1").get(f"/e/{eid}/score").text,
             browser_of(appealed, "D1").get(f"/e/{eid}/appeal").text]
    for html in pages:
        for peer in peers:
            # The id as a word: a random CSRF token may hold "S4" inside it.
            as_word = re.compile(rf"(?<![\w-]){re.escape(peer)}(?![\w-])")
            assert names[peer] not in html and not as_word.search(html)
    # The admin may see them: they reassign peers.
    admin = browser_of(appealed, "A1").get(f"/admin/e/{eid}").text
    assert all(peer in admin for peer in peers)


@pytest.mark.parametrize("who", ["S1", "peer", "S2", "D1", "A1"])
def test_only_the_scorer_can_post_a_score(svc: Service, who: str) -> None:
    world = small_world(svc)
    world.submit_self("S1")
    world.answer_peers("S1")
    assert world.state("S1") is State.SUPERVISOR_SCORING
    web = make_web(world)
    web.clock.set("2026-05-08 10:00")
    path = f"/e/{world.ev('S1')}/score"
    scorer = web.sign_in("H1")
    token = web.csrf(scorer, path)
    intruder = TestClient(scorer.app, base_url="http://kpi.test")
    person = world.peers_of("S1")[0] if who == "peer" else who
    intruder.cookies.set(SESSION_COOKIE, session_cookie(svc, person, web.clock.now))
    # The intruder's own CSRF token (one is bound to its session): refused by role.
    token_of_intruder = web.csrf(intruder, "/team")
    fields = {f"criteria.{c}.points": "9" for c in
              ("political_quality", "competence_attitude", "innovation")}
    refused = intruder.post(path, data={**fields, "tasks[0].title": "x", "op": "submit",
                                        "csrf_token": token_of_intruder})
    assert refused.status_code == 403
    assert world.state("S1") is State.SUPERVISOR_SCORING
    allowed = scorer.post(path, data={**fields, "tasks[0].title": "x", "op": "submit",
                                      "csrf_token": token})
    assert allowed.status_code == 200 and world.state("S1") is State.CALIBRATION


def test_a_forged_session_cookie_is_no_session(svc: Service) -> None:
    world = small_world(svc)
    client = make_web(world).client_for()
    forged = Signer("another-secret-key-0123456789").session("A1", "made-up-session")
    client.cookies.set(SESSION_COOKIE, forged)
    assert client.get("/admin").status_code == 401
