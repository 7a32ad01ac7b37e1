"""The scoring form's conflict-of-interest declaration, through the web, and the crafted
requests of the one who stepped aside (issue 17, item 3)."""

from __future__ import annotations

from sqlalchemy import select

from tests.integration.test_scoring_leaders import to_scoring
from tests.support import small_world
from tests.web_support import make_web, score_fields, text_of
from workflow.domain import State
from workflow.service.core import Service
from workflow.store.tables import OUTBOX


def test_a_supervisor_declares_a_conflict_on_the_form_and_is_refused_afterwards(
        svc: Service) -> None:
    world = small_world(svc)
    to_scoring(world)
    web = make_web(world)
    web.clock.set("2026-05-13 09:00")
    with svc.store.read() as s:
        [context] = s.execute(select(OUTBOX.c.context).where(
            OUTBOX.c.recipient_id == "H1", OUTBOX.c.evaluation_id == world.ev("S3"),
            OUTBOX.c.event == "task_supervisor_scoring")).scalars()
    link = str(context["action_url"]).removeprefix("http://kpi.test")
    browser = web.sign_in("H1")
    path = f"/e/{world.ev('S3')}/score"
    page = browser.get(path)
    assert "declare_conflict" in page.text and 'name="conflict_reason"' in page.text
    token = web.csrf(browser, path)
    # No reason: nothing changes, the field says what is missing.
    bad = browser.post(path, data={"op": "declare_conflict", "conflict_reason": " ",
                                   "csrf_token": token, "evaluation_id": str(world.ev("S3"))})
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text
    assert world.row("S3")["supervisor_id"] == "H1"
    done = browser.post(path, data={"op": "declare_conflict", "csrf_token": token,
                                    "conflict_reason": "Em họ của tôi <script>x</script>",
                                    "evaluation_id": str(world.ev("S3"))})
    assert done.status_code == 200, text_of(done.text)[-400:]
    assert "Giám đốc Nguyễn Thị Sở" in text_of(done.text) and "<script>x" not in done.text
    assert world.row("S3")["supervisor_id"] == "D1"
    with svc.store.read() as s:
        told = s.execute(select(OUTBOX.c.recipient_id).where(
            OUTBOX.c.evaluation_id == world.ev("S3"),
            OUTBOX.c.event == "task_supervisor_scoring").order_by(OUTBOX.c.id.desc())).first()
    assert told is not None and told.recipient_id == "D1"
    # A crafted score by H1 afterwards, by the session page and by the old task link:
    # refused, nothing stored.
    crafted = score_fields(world.framework("S3"), op="submit", csrf_token=token,
                           evaluation_id=str(world.ev("S3")))
    assert browser.post(path, data=crafted).status_code == 403
    other = web.client_for()
    assert other.get(link).status_code == 403  # the link died with the recusal
    by_link = other.post(link, data=crafted)  # the link is checked before anything else
    assert by_link.status_code == 403, text_of(by_link.text)[-300:]
    assert world.state("S3") is State.SUPERVISOR_SCORING
