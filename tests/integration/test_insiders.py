"""Issue 14: the holes an insider could use, each closed and pinned here.

Real SQLite files, the real app through Starlette's test client; only the clock is fake.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select

from tests.integration.test_full_cycle import approve, to_calibration
from tests.support import World, at, small_world
from tests.web_support import make_web, text_of
from workflow.domain import State, Trigger
from workflow.service import records, transition
from workflow.service.core import Service
from workflow.service.sweep import tick
from workflow.service.transition import OUTBOX
from workflow.web.context import MAX_FORM_BYTES

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
