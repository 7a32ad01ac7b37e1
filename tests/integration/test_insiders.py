"""Issue 14: the holes an insider could use, each closed and pinned here.

Real SQLite files, the real app through Starlette's test client; only the clock is fake.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import select

from tests.integration.test_full_cycle import approve, to_calibration
from tests.support import World, at, small_world
from tests.web_support import make_web, text_of
from workflow.domain import State, Trigger
from workflow.errors import ConfigError
from workflow.service import records, transition
from workflow.service.core import Service
from workflow.service.sweep import tick
from workflow.service.transition import OUTBOX
from workflow.store.tables import AuditEvent
from workflow.web import create_app
from workflow.web.context import MAX_FORM_BYTES
from workflow.web.security import SESSION_COOKIE

AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]

# --- item 6: a body is capped whatever its framing ---------------------------------


def test_a_chunked_sign_in_body_past_the_cap_is_refused_with_413(svc: Service) -> None:
    world = small_world(svc)
    web = make_web(world)
    client = web.client_for()
    token = web.csrf(client, "/sign-in")
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        # No Content-Length: httpx sends a generator chunked.
        yield f"csrf_token={token}&email=hung%40snv.example.gov.vn&pad=".encode()
        for _ in range(4 * MAX_FORM_BYTES // 65536):
            sent.append(1)
            yield b"a" * 65536

    response = client.post("/sign-in", content=chunks(),
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.request.headers.get("content-length") is None
    assert response.status_code == 413, response.status_code
    assert "quá lớn" in text_of(response.text) or "too large" in text_of(response.text)
    assert web.outbox_count("sign_in") == 0  # nothing was done with the form


def test_a_small_chunked_form_is_still_read(svc: Service) -> None:
    world = small_world(svc)
    web = make_web(world)
    client = web.client_for()
    token = web.csrf(client, "/sign-in")
    body = f"csrf_token={token}&email=hung%40snv.example.gov.vn".encode()
    response = client.post("/sign-in", content=iter([body[:10], body[10:]]),
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200
    assert web.outbox_count("sign_in") == 1


# --- item 2: a link checks its holder's role when it is opened ---------------------


def link_for(world: World, person: str, event: str, evaluation_id: int) -> str:
    """The newest link emailed to ``person`` for ``event`` on one evaluation."""
    with world.svc.store.read() as s:
        contexts = s.execute(select(OUTBOX.c.context).where(
            OUTBOX.c.recipient_id == person, OUTBOX.c.event == event,
            OUTBOX.c.evaluation_id == evaluation_id).order_by(OUTBOX.c.id.desc())).scalars()
        for context in contexts:
            if context.get("action_url"):
                return str(context["action_url"]).removeprefix("http://kpi.test")
    raise AssertionError(f"no {event} link to {person} for evaluation {evaluation_id}")


def _to_scoring(svc: Service) -> World:
    world = small_world(svc)
    world.submit_self("S1")
    world.answer_peers("S1")
    assert world.state("S1") is State.SUPERVISOR_SCORING
    return world


def test_a_supervisor_reassigned_away_cannot_open_their_old_link(svc: Service) -> None:
    world = _to_scoring(svc)
    web = make_web(world)
    web.clock.set("2026-05-08 11:00")
    link = web.link("H1", "task_supervisor_scoring")
    assert web.client_for().get(link).status_code == 200
    records.reassign_supervisor(svc, world.ev("S1"), "D1", "Trưởng phòng nghỉ phép dài",
                                "A1", now=at("2026-05-08 10:30"))
    page = web.client_for().get(link)
    assert page.status_code == 403, page.status_code
    assert "Phạm Thị Lan" not in page.text.partition('<main id="main"')[2]
    assert "không còn sử dụng được" in text_of(page.text)
    # The new supervisor's link works.
    assert web.client_for().get(web.link("D1", "task_supervisor_scoring")).status_code == 200


def test_an_acting_supervisor_link_dies_with_the_delegation(svc: Service) -> None:
    world = _to_scoring(svc)
    records.delegate(svc, world.cycle_id, "H1", "UB1", at("2026-05-12 12:00"),
                     "Trưởng phòng đi công tác", "A1", now=at("2026-05-08 10:00"))
    tick(svc, at("2026-05-12 08:30"))  # the reminder goes to every scorer, UB1 too
    web = make_web(world)
    link = web.link("UB1")
    web.clock.set("2026-05-12 09:00")
    assert web.client_for().get(link).status_code == 200
    web.clock.set("2026-05-12 13:00")
    assert web.client_for().get(link).status_code == 403
    # The supervisor's own reminder still works.
    assert web.client_for().get(web.link("H1")).status_code == 200


def test_a_link_closed_by_a_transition_stays_dead_after_a_reopening(svc: Service) -> None:
    world = small_world(svc)
    to_calibration(world)
    web = make_web(world)
    # H1 scored S1 through the library, not through the emailed link: it is unused.
    old = link_for(world, "H1", "task_supervisor_scoring", world.ev("S1"))
    approve(world)
    world.fire("S1", Trigger.ACCEPT_RESULT, "S1", {}, when="2026-05-18 09:00")
    assert world.state("S1") is State.FINALISED
    transition.fire(svc, world.ev("S1"), Trigger.REOPEN, "A1", None,
                    "Sai sót trong số liệu nhiệm vụ", now=at("2026-05-19 09:00"))
    assert world.state("S1") is State.SUPERVISOR_SCORING
    web.clock.set("2026-05-19 10:00")
    assert web.client_for().get(old).status_code == 403
    fresh = link_for(world, "H1", "task_supervisor_scoring", world.ev("S1"))
    assert fresh != old
    assert web.client_for().get(fresh).status_code == 200


# --- item 7: sessions live on the server -------------------------------------------


def test_a_cookie_replayed_after_sign_out_is_no_session(svc: Service) -> None:
    world = _to_scoring(svc)
    web = make_web(world)
    web.clock.set("2026-05-08 11:00")
    browser = web.sign_in("H1")
    stolen = browser.cookies.get(SESSION_COOKIE)
    assert stolen and browser.get("/team").status_code == 200
    token = web.csrf(browser, "/team")
    assert browser.post("/sign-out", data={"csrf_token": token},
                        follow_redirects=False).status_code == 303
    thief = web.client_for()
    thief.cookies.set(SESSION_COOKIE, stolen)
    assert thief.get("/team").status_code == 401
    assert thief.get(f"/e/{world.ev('S1')}/score").status_code == 401


def test_an_admin_ends_every_session_of_a_person(svc: Service) -> None:
    world = _to_scoring(svc)
    web = make_web(world)
    web.clock.set("2026-05-08 11:00")
    laptop = web.sign_in("H1")
    web.clock.set("2026-05-08 11:05")  # one sign-in email per person every 2 minutes
    phone = web.sign_in("H1")
    admin = web.sign_in("A1")
    assert laptop.get("/team").status_code == phone.get("/team").status_code == 200
    token = web.csrf(admin, "/admin")
    done = admin.post("/admin/sessions/revoke", data={
        "csrf_token": token, "revoke.person": "H1", "revoke.reason": "Mất máy tính xách tay"})
    assert done.status_code == 200 and "2" in text_of(done.text)
    assert laptop.get("/team").status_code == phone.get("/team").status_code == 401
    assert admin.get("/admin").status_code == 200  # the admin's own session lives on
    with svc.store.read() as s:
        row = s.execute(select(AUDIT.c.actor_id, AUDIT.c.reason).where(
            AUDIT.c.trigger == "revoke_sessions")).one()
    assert (row.actor_id, row.reason) == ("A1", "Mất máy tính xách tay")


def test_only_an_admin_ends_sessions(svc: Service) -> None:
    world = _to_scoring(svc)
    web = make_web(world)
    web.clock.set("2026-05-08 11:00")
    victim = web.sign_in("A1")
    h1 = web.sign_in("H1")
    token = web.csrf(h1, "/team")
    refused = h1.post("/admin/sessions/revoke", data={
        "csrf_token": token, "revoke.person": "A1", "revoke.reason": "x"})
    assert refused.status_code == 403
    assert victim.get("/admin").status_code == 200


def test_the_csrf_token_is_bound_to_the_session_and_rotated_at_sign_in(svc: Service) -> None:
    world = _to_scoring(svc)
    web = make_web(world)
    web.clock.set("2026-05-08 11:00")
    browser = web.client_for()
    planted = web.csrf(browser, "/sign-in")  # a token from before the sign-in
    before = browser.cookies.get("kpi_csrf")
    web.sign_in("H1", browser)
    assert browser.cookies.get("kpi_csrf") != before  # rotated
    path = f"/e/{world.ev('S1')}/score"
    # The old cookie value and its token, planted by someone who saw them before:
    browser.cookies.set("kpi_csrf", before or "")
    refused = browser.post(path, data={"op": "save_draft", "csrf_token": planted})
    assert refused.status_code == 403
    # A token of another session of the same person, with that session's cookie: refused.
    web.clock.set("2026-05-08 11:05")  # one sign-in email per person every 2 minutes
    other = web.sign_in("H1")
    other_token = web.csrf(other, path)
    browser.cookies.set("kpi_csrf", other.cookies.get("kpi_csrf") or "")
    assert browser.post(path, data={"op": "save_draft", "csrf_token": other_token}
                        ).status_code == 403
    assert other.post(path, data={"op": "save_draft", "csrf_token": other_token}
                      ).status_code == 200


@pytest.mark.parametrize("secret", ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                    "abcdefghijklmnopqrstuvwxyz012345",
                                    "changemechangemechangeme",
                                    "abababababababababababab",
                                    "short-Key-9"])
def test_a_low_entropy_secret_key_is_refused(svc: Service, secret: str) -> None:
    weak = Service(svc.store, replace(svc.settings, secret_key=secret))
    with pytest.raises(ConfigError, match="KPI_SECRET_KEY is refused"):
        create_app(weak)


def test_a_random_secret_key_is_taken(svc: Service) -> None:
    strong = Service(svc.store, replace(svc.settings, secret_key=secrets.token_urlsafe(32)))
    assert create_app(strong) is not None
