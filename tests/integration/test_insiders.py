"""Issue 14: the holes an insider could use, each closed and pinned here.

Real SQLite files, the real app through Starlette's test client; only the clock is fake.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import event, select, update

from tests.integration.test_full_cycle import approve, to_calibration
from tests.integration.test_web import field_has_error
from tests.support import (
    DATA,
    SMALL_CYCLE_PEERS,
    World,
    at,
    sample_world,
    seeded_small_world,
    small_world,
)
from tests.web_support import make_web, text_of
from workflow import sample
from workflow.cli.main import main
from workflow.domain import State, Trigger
from workflow.errors import ConfigError, NotPermitted, SubmissionInvalid
from workflow.service import access, pages, records, transition
from workflow.service.core import Service, load_snapshot
from workflow.service.cycles import (
    PopulationPlan,
    load_for_open,
    open_cycle,
    plan_groups,
    plan_population,
)
from workflow.service.sweep import tick
from workflow.store.tables import AUDIT, OUTBOX, WEB_SESSION
from workflow.web import create_app
from workflow.web.context import MAX_FORM_BYTES
from workflow.web.security import SESSION_COOKIE

CSRF_VALUE = re.compile(r'name="csrf_token" value="[^"]+"')

# --- item 6: a body is capped whatever its framing ---------------------------------


def test_a_chunked_sign_in_body_past_the_cap_is_refused_with_413(
        seeded_service: Callable[..., Service]) -> None:
    world = seeded_small_world(seeded_service)
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


def test_a_small_chunked_form_is_still_read(seeded_service: Callable[..., Service]) -> None:
    world = seeded_small_world(seeded_service)
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


def test_a_link_closed_by_a_transition_stays_dead_after_a_reopening(
        seeded_service: Callable[..., Service]) -> None:
    world = seeded_small_world(seeded_service)
    svc = world.svc
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


def _sessions(svc: Service) -> list[tuple[Any, ...]]:
    with svc.store.read() as s:
        return sorted(tuple(r) for r in s.execute(select(WEB_SESSION)))


@pytest.mark.both_stores
@pytest.mark.parametrize("lang", ["vi", "en"])
def test_a_sign_out_without_a_valid_token_is_refused_and_ends_nothing(
        svc: Service, lang: str) -> None:
    """A page of another site posting to /sign-out (no token, or a token of another
    browser) is refused as every other POST without one: 403, said in the reader's
    language, the session alive on the server and in the browser. With the form's own
    token the session ends there and then."""
    world = _to_scoring(svc)
    web = make_web(world)
    web.clock.set("2026-05-08 11:00")
    browser = web.sign_in("H1")
    other = web.sign_in("A1")
    browser.cookies.set("kpi_lang", lang)
    cookie = browser.cookies.get(SESSION_COOKIE)
    before = _sessions(svc)
    refused_text = {"en": "Signing out could not be checked", "vi": "Chưa đăng xuất được"}[lang]
    for token in (None, "", web.csrf(other, "/team")):
        data = {} if token is None else {"csrf_token": token}
        got = browser.post("/sign-out", data=data, follow_redirects=False)
        assert got.status_code == 403, (token, got.status_code)
        assert refused_text in text_of(got.text), text_of(got.text)
        assert CSRF_VALUE.search(got.text)  # the page's own sign-out button, with a token
        assert _sessions(svc) == before
        assert browser.cookies.get(SESSION_COOKIE) == cookie
        assert browser.get("/team").status_code == 200
    done = browser.post("/sign-out", data={"csrf_token": web.csrf(browser, "/team")},
                        follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert _sessions(svc) != before  # ended on the server
    assert browser.get("/team").status_code == 401
    thief = web.client_for()
    thief.cookies.set(SESSION_COOKIE, cookie or "")
    assert thief.get("/team").status_code == 401
    assert other.get("/team").status_code == 200  # another person's session lives on


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


# --- item 8: the smaller ones ------------------------------------------------------


def _statements(svc: Service, email: str, when: str) -> list[str]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(svc.store.engine, "before_cursor_execute", record)
    try:
        access.request_sign_in(svc, email, now=at(when))
    finally:
        event.remove(svc.store.engine, "before_cursor_execute", record)
    return seen


def test_sign_in_does_the_same_work_for_known_and_unknown_addresses(
        seeded_service: Callable[..., Service]) -> None:
    world = seeded_small_world(seeded_service)
    svc = world.svc
    web = make_web(world)
    _statements(svc, "warm@up.gov.vn", "2026-05-05 08:00")  # rules read once, then cached
    known = _statements(svc, "Hung@snv.example.gov.vn", "2026-05-05 09:00")  # a supervisor
    unknown = _statements(svc, "ke.gian@snv.example.gov.vn", "2026-05-05 09:00")
    reviewee = _statements(svc, "lan@snv.example.gov.vn", "2026-05-05 09:00")  # no session

    def reads(statements: list[str]) -> list[str]:
        return [s for s in statements if not s.lstrip().upper().startswith("INSERT")]

    assert reads(known) == reads(unknown) == reads(reviewee)
    # Only the known one stores its mail (that insert goes through the driver's cursor,
    # below these SQLAlchemy events): the outbox says so.
    assert web.outbox_count("sign_in") == 1
    # And the page says the same thing either way.
    pages_seen = []
    for email in ("hung@snv.example.gov.vn", "ke.gian@snv.example.gov.vn"):
        client = web.client_for()
        token = web.csrf(client, "/sign-in")
        page = client.post("/sign-in", data={"email": email, "csrf_token": token})
        pages_seen.append((page.status_code, CSRF_VALUE.sub("", page.text.replace(email, ""))))
    assert pages_seen[0] == pages_seen[1]


def test_an_extension_to_9999_is_a_form_error(seeded_service: Callable[..., Service]) -> None:
    world = seeded_small_world(seeded_service)
    web = make_web(world)
    browser = web.sign_in("A1")
    path = f"/admin/e/{world.ev('S3')}"
    token = web.csrf(browser, path)
    for far in ("9999-12-31T17:00", "0001-01-01T00:00", "2030-01-01T08:00"):
        page = browser.post(path, data={"op": "extend", "new_due": far, "extend_reason": "ốm",
                                        "approved_by": "D1", "csrf_token": token})
        assert page.status_code == 422, (far, page.status_code)
        assert field_has_error(page.text, "new_due"), far
    assert world.row("S3")["extended"] is False


def test_a_delegation_ending_in_9999_is_refused(seeded_service: Callable[..., Service]) -> None:
    world = seeded_small_world(seeded_service)
    svc = world.svc
    with pytest.raises(SubmissionInvalid) as refused:
        records.delegate(svc, world.cycle_id, "H1", "UB1", datetime(9999, 12, 31, tzinfo=UTC),
                         "đi công tác", "A1", now=at("2026-05-05 09:00"))
    assert "until" in refused.value.fields


def test_a_result_form_with_an_unknown_op_lodges_no_appeal(
        seeded_service: Callable[..., Service]) -> None:
    world = seeded_small_world(seeded_service)
    to_calibration(world)
    approve(world)
    assert world.state("S1") is State.APPEAL_WINDOW
    web = make_web(world)
    web.clock.set("2026-05-16 09:00")
    link = web.link("S1", "result")
    client = web.client_for()
    token = web.csrf(client, link)
    for op in ("withdraw", "", "ACCEPT", "appeal "):
        page = client.post(link, data={"op": op, "reasons": "Điểm chưa đúng",
                                       "csrf_token": token})
        assert page.status_code == 422, op
        assert world.state("S1") is State.APPEAL_WINDOW
    assert client.post(link, data={"op": "appeal", "reasons": "Điểm chưa đúng",
                                   "csrf_token": token}).status_code == 200
    assert world.state("S1") is State.APPEAL_REVIEW
    reviewer = link_for(world, "D1", "task_appeal_review", world.ev("S1"))
    client = web.client_for()
    token = web.csrf(client, reviewer)
    page = client.post(reviewer, data={"op": "overturn", "reason": "x", "csrf_token": token})
    assert page.status_code == 422 and world.state("S1") is State.APPEAL_REVIEW


def test_admin_search_takes_percent_and_underscore_as_letters(
        seeded_service: Callable[..., Service]) -> None:
    world = seeded_small_world(seeded_service)
    svc = world.svc
    assert pages.find_evaluations(svc, world.cycle_id, "%") == []
    assert pages.find_evaluations(svc, world.cycle_id, "_") == []
    assert pages.find_evaluations(svc, world.cycle_id, "S_") == []
    assert [r.reviewee_id for r in pages.find_evaluations(svc, world.cycle_id, "s1")] == ["S1"]


def test_a_supervisor_is_not_delegated_to_themselves(
        seeded_service: Callable[..., Service]) -> None:
    world = seeded_small_world(seeded_service)
    svc = world.svc
    with pytest.raises(SubmissionInvalid) as refused:
        records.delegate(svc, world.cycle_id, "H1", "H1", at("2026-05-20 17:00"),
                         "nghỉ phép", "A1", now=at("2026-05-05 09:00"))
    assert "acting" in refused.value.fields


def test_dead_letters_are_sent_again_only_by_an_admin_of_their_cycle(
        seeded_service: Callable[..., Service], tmp_path: Path) -> None:
    world = seeded_small_world(seeded_service)
    svc = world.svc
    other = tmp_path / "may.yaml"
    other.write_text((DATA / "small_cycle.yaml").read_text(encoding="utf-8")
                     .replace("id: t-2026-04", "id: t-2026-05")
                     .replace("start: 2026-04-01, end: 2026-04-30",
                              "start: 2026-05-01, end: 2026-05-31")
                     .replace('opens: "2026-05-04 08:00"', 'opens: "2026-06-01 08:00"')
                     .replace("admins: [A1]", "admins: [S4]"), encoding="utf-8")
    open_cycle(svc, other, now=at("2026-05-03 09:00"))
    with svc.store.write() as s:
        dead = s.execute(select(OUTBOX.c.id).where(
            OUTBOX.c.evaluation_id == world.ev("S1"))).scalars().first()
        s.execute(update(OUTBOX).where(OUTBOX.c.id == dead).values(status="dead"))
    web = make_web(world)
    intruder = web.sign_in("S4")  # admin of t-2026-05 only
    token = web.csrf(intruder, "/admin")
    refused = intruder.post(f"/admin/outbox/{dead}/resend", data={"csrf_token": token})
    assert refused.status_code in (403, 409)
    assert status_of(svc, dead) == "dead"
    admin = web.sign_in("A1")
    token = web.csrf(admin, "/admin")
    assert admin.post(f"/admin/outbox/{dead}/resend", data={"csrf_token": token}
                      ).status_code == 200
    assert status_of(svc, dead) == "pending"


def status_of(svc: Service, outbox_id: int) -> str:
    with svc.store.read() as s:
        return str(s.execute(select(OUTBOX.c.status).where(OUTBOX.c.id == outbox_id)
                             ).scalar_one())


# --- item 3: peers are drawn with a secret -----------------------------------------


def _public_draw(svc: Service, world: World) -> dict[str, tuple[str, ...]]:
    """What anyone with the employee list computes with the hash the draw used to be."""
    with svc.store.read() as s:
        rules = svc.rules.get(s, world.cycle_id)
        plan = PopulationPlan()
        groups = list(plan_groups(s, rules, plan, None))
    return {e.member.id: e.peers for group in groups for e in group}


def test_the_peers_cannot_be_computed_from_the_employee_list(svc: Service) -> None:
    world = sample_world(svc)
    drawn = {person: tuple(sorted(world.peers_of(person))) for person in world.ids()}
    public = {p: tuple(sorted(peers)) for p, peers in _public_draw(svc, world).items()}
    with_choice = [p for p in drawn if len(public.get(p, ())) and drawn[p]]
    assert len(with_choice) >= 10
    guessed = sum(drawn[p] == public[p] for p in with_choice)
    assert guessed < len(with_choice) * 0.8, (guessed, len(with_choice))
    # The engine draws the same peers again with the same key (check == open)...
    with svc.store.read() as s:
        plan = plan_population(svc, s, svc.rules.get(s, world.cycle_id))
    assert {e.member.id: tuple(sorted(e.peers)) for e in plan.evaluations
            if e.member.id in drawn} == {p: drawn[p] for p in drawn
                                          if p in {e.member.id for e in plan.evaluations}}
    assert not plan.warnings
    # ...and another key draws others.
    other = Service(svc.store, replace(svc.settings, secret_key=secrets.token_urlsafe(32)))
    with other.store.read() as s:
        again = plan_population(other, s, other.rules.get(s, world.cycle_id))
    assert sum(tuple(sorted(e.peers)) != drawn.get(e.member.id) for e in again.evaluations) > 0


def test_cycle_check_warns_when_peers_are_drawn_without_a_secret(
        seeded_service: Callable[..., Service]) -> None:
    world = seeded_small_world(seeded_service)
    svc = world.svc
    keyless = Service(svc.store, replace(svc.settings, secret_key=""))
    with keyless.store.read() as s:
        plan = plan_population(keyless, s, keyless.rules.get(s, world.cycle_id))
    assert any("without a secret" in w for w in plan.warnings)


# --- item 4: a delegation keeps peers anonymous ------------------------------------


def test_a_delegation_leaves_out_what_the_acting_scorer_must_not_see(
        seeded_service: Callable[..., Service]) -> None:
    world = seeded_small_world(seeded_service)
    svc = world.svc
    acting = "S2"
    peer_of = {p for p in ("S1", "S3", "S4", "A1") if acting in world.peers_of(p)}
    assert peer_of  # S2 gives peer input on some of the team
    report = records.delegate_report(svc, world.cycle_id, "H1", acting, at("2026-05-20 17:00"),
                                     "Trưởng phòng đi công tác", "A1",
                                     now=at("2026-05-05 09:00"))
    left = {reviewee: why for _eid, reviewee, why in report.left_out}
    assert left == {acting: "reviewee", **dict.fromkeys(peer_of, "peer")}
    assert report.delegated == 5 - len(left)
    for reviewee in peer_of | {acting}:
        with svc.store.read() as s:
            snap = load_snapshot(svc, s, world.ev(reviewee), lock=False)
        assert acting not in {d.person_id for d in snap.view.acting_supervisors}


def test_nobody_becomes_acting_scorer_of_their_own_supervisor(
        seeded_service: Callable[..., Service]) -> None:
    world = seeded_small_world(seeded_service)
    svc = world.svc
    # D1 scores H1; S1 is supervised by H1.
    with pytest.raises(NotPermitted, match="S1 may score none"):
        records.delegate(svc, world.cycle_id, "D1", "S1", at("2026-05-20 17:00"),
                         "Giám đốc đi công tác", "A1", now=at("2026-05-05 09:00"))


def test_the_delegation_form_says_who_was_left_out_and_why(
        seeded_service: Callable[..., Service]) -> None:
    world = seeded_small_world(seeded_service)
    acting = "S2"
    peer_of = [p for p in ("S1", "S3", "S4", "A1") if acting in world.peers_of(p)]
    web = make_web(world)
    browser = web.sign_in("A1")
    token = web.csrf(browser, "/admin")
    done = browser.post(f"/admin/cycle/{world.cycle_id}/delegate", data={
        "supervisor": "H1", "acting": acting, "until": "2026-05-20T17:00",
        "reason": "đi công tác", "csrf_token": token})
    assert done.status_code == 200, text_of(done.text)[:300]
    text = text_of(done.text)
    assert "Không ủy quyền: Hoàng Văn Nam, người được đánh giá" in text
    for reviewee in peer_of:
        name = {"S1": "Phạm Thị Lan", "S3": "Vũ Thị Mai", "S4": "Đỗ Minh Quân",
                "A1": "Trịnh Thu Hằng"}[reviewee]
        assert name in text


# --- item 5: what peers said stays aggregate; the quorum is a floor -----------------


def test_the_peer_summary_gives_the_mean_and_the_count_never_each_answer() -> None:
    answers = [{"criteria": {"innovation": {"points": 9}}, "comment": "Tốt"},
               {"criteria": {"innovation": {"points": "10"}}, "comment": '"><b>x</b>'}]
    summary = pages.peer_summary(answers, asked=2, min_responses=2)
    assert summary.points == {"innovation": (Decimal("9.50"), 2)}
    assert pages.peer_summary(answers[:1], asked=2, min_responses=2).points == {}


def test_the_scoring_page_shows_no_single_peer_answer(
        seeded_service: Callable[..., Service]) -> None:
    world = seeded_small_world(seeded_service)
    world.submit_self("S1")
    peers = world.peers_of("S1")
    for peer, points in zip(peers, ("3", "8"), strict=True):
        payload = sample.peer_input(world.framework("S1"), world.rng, 0.8)
        for entry in payload["criteria"].values():
            entry["points"] = points
        world.fire("S1", Trigger.SUBMIT_PEER_INPUT, peer, payload, when="2026-05-08 09:00")
    web = make_web(world)
    web.clock.set("2026-05-08 10:00")
    page = text_of(web.sign_in("H1").get(f"/e/{world.ev('S1')}/score").text)
    assert "5,50" in page and "2 ý kiến" in page
    assert "3, 8" not in page and "8, 3" not in page


def _cycle_file(tmp_path: Path, peers: str) -> Path:
    path = tmp_path / "cycle.yaml"
    path.write_text((DATA / "small_cycle.yaml").read_text(encoding="utf-8")
                    .replace(SMALL_CYCLE_PEERS, peers), encoding="utf-8")
    return path


def test_a_cycle_file_cannot_go_below_the_regimes_quorum(svc: Service, tmp_path: Path) -> None:
    path = _cycle_file(tmp_path, "peers: {enabled: true, per_person: 2, min_responses: 2}")
    with pytest.raises(ConfigError, match=r"peers\.min_responses: 2 is below the quorum"):
        load_for_open(svc, path)
    kept = _cycle_file(tmp_path, "peers: {enabled: true, per_person: 3, min_responses: 3}")
    assert load_for_open(svc, kept)[1].min_peer_responses == 3


def test_cycle_check_prints_the_documented_quorum_exception(
        seeded_service: Callable[..., Service]) -> None:
    world = seeded_small_world(seeded_service)
    svc = world.svc
    settings = svc.settings
    result = CliRunner().invoke(main, ["cycle", "check", str(DATA / "small_cycle.yaml")], env={
        "KPI_DATABASE_URL": settings.database_url, "KPI_SECRET_KEY": settings.secret_key})
    assert "exception: peers.min_responses 2 is below the quorum" in result.output, result.output
    assert "units of five" in result.output and "QĐ 1/2026" in result.output
