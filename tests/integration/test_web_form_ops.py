"""The self-assessment, peer and score forms do only the actions their buttons offer
(issue 14): an ``op`` value they do not know is refused with the form's own message,
and nothing is stored (no submission, no draft, the link unused, the state unchanged).
Before, any unknown value was taken as "submit"."""

from __future__ import annotations

from sqlalchemy import func, select

from tests.support import small_world
from tests.web_support import WebWorld, make_web, score_fields, self_fields, text_of
from workflow.domain import State
from workflow.service.core import Service
from workflow.store.tables import DRAFT

# What a stray client, an old page or a hand-made post sends instead of a button's value.
STRAY_OPS = ("", "SUBMIT", "submit ", "delete", "confirm_submit\n", "<b>x</b>")


def drafts(web: WebWorld) -> int:
    with web.svc.store.read() as s:
        return int(s.execute(select(func.count()).select_from(DRAFT)).scalar_one())


def refuses_every_stray_op(web: WebWorld, client: object, path: str,
                           fields: dict[str, str], reviewee: str, state: State) -> None:
    before = (web.submissions(), web.used_links(), drafts(web))
    for op in STRAY_OPS:
        if op == "confirm_submit\n" and state is not State.SELF_ASSESSMENT:
            continue
        page = client.post(path, data={**fields, "op": op})  # type: ignore[attr-defined]
        assert page.status_code == 422, (op, page.status_code)
        text = text_of(page.text)
        assert "has no action" in text or "không có thao tác" in text, (op, text[:400])
        assert "<b>x</b>" not in page.text  # the value is shown escaped, if at all
        assert web.world.state(reviewee) is state, op
        assert (web.submissions(), web.used_links(), drafts(web)) == before, op


def test_self_assessment_and_peer_forms_refuse_an_unknown_op(svc: Service) -> None:
    web = make_web(small_world(svc))
    link = web.link("S1", "task_self_assessment")
    fields = self_fields(web.world.framework("S1"), csrf_token=web.csrf(web.client, link))
    refuses_every_stray_op(web, web.client, link, fields, "S1", State.SELF_ASSESSMENT)
    web.world.submit_self("S1")
    assert web.world.state("S1") is State.PEER_INPUT
    peer = web.world.peers_of("S1")[0]
    link = web.link(peer, "task_peer_input")
    fields = {"criteria.political_quality.points": "9", "comment": "ổn",
              "csrf_token": web.csrf(web.client, link)}
    refuses_every_stray_op(web, web.client, link, fields, "S1", State.PEER_INPUT)


def test_score_forms_by_link_and_by_session_refuse_an_unknown_op(svc: Service) -> None:
    web = make_web(small_world(svc))
    web.world.submit_self("S1")
    web.world.answer_peers("S1")
    assert web.world.state("S1") is State.SUPERVISOR_SCORING
    web.clock.set("2026-05-08 09:00")
    link = web.link("H1", "task_supervisor_scoring")
    fields = score_fields(web.world.framework("S1"), csrf_token=web.csrf(web.client, link))
    refuses_every_stray_op(web, web.client, link, fields, "S1", State.SUPERVISOR_SCORING)
    browser = web.sign_in("H1")
    path = f"/e/{web.world.ev('S1')}/score"
    fields = score_fields(web.world.framework("S1"), csrf_token=web.csrf(browser, path))
    refuses_every_stray_op(web, browser, path, fields, "S1", State.SUPERVISOR_SCORING)
    # The real button still works, so the refusals above are about the value alone.
    done = browser.post(path, data={**fields, "op": "submit"})
    assert done.status_code == 200 and web.world.state("S1") is State.CALIBRATION
