"""Bulk actions: a dry run lists what would change, the confirmation does each item on
its own and says done or refused with the reason; an agency admin reaches only their
agency, whatever the form posts."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.integration.test_admin_scope import SCOPES
from tests.support import DATA, World, at
from tests.web_support import WebWorld, make_web, text_of
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org
from workflow.store.tables import AUDIT, EVALUATION, EXTENSION, OUTBOX

CYCLE = "two-2026-04"
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@pytest.fixture
def two(new_service: Callable[..., Service]) -> WebWorld:
    svc = new_service(admins=("UB1",), admin_scope=SCOPES)
    import_org(svc, DATA / "two_agencies_org.csv", now=at("2026-05-01 09:00"))
    open_cycle(svc, DATA / "two_agencies_cycle.yaml", now=at("2026-05-02 10:00"))
    return make_web(World(svc, CYCLE))


def signed_in(web: WebWorld, who: str) -> tuple[TestClient, str]:
    client = web.sign_in(who)
    client.get("/lang/en")
    return client, web.csrf(client, "/admin/bulk")


def preview(client: TestClient, csrf: str, op: str, **fields: str) -> tuple[int, str]:
    page = client.post("/admin/bulk/preview", data={
        "csrf_token": csrf, "op": op, f"{op}.cycle": CYCLE,
        **{f"{op}.{k}": v for k, v in fields.items()}})
    return page.status_code, page.text


def confirm(client: TestClient, page: str) -> str:
    """Press the preview's confirm button with exactly the fields it carries."""
    form = page[page.index('action="/admin/bulk/apply"'):]
    carried = {unescape(k): unescape(v) for k, v in HIDDEN.findall(form[:form.index("</form>")])}
    done = client.post("/admin/bulk/apply", data=carried)
    assert done.status_code == 200, text_of(done.text)
    return text_of(done.text)


def extended(web: WebWorld) -> set[str]:
    with web.svc.store.read() as s:
        return set(s.execute(select(EVALUATION.c.reviewee_id).join(
            EXTENSION, EXTENSION.c.evaluation_id == EVALUATION.c.id)).scalars())


def test_extend_a_phase_with_its_bad_dates(two: WebWorld) -> None:
    a1, csrf = signed_in(two, "A1")
    for typed, message in [("31/04/2026", "“31/04/2026” is not a date: April 2026 has 30 days"),
                           ("29/02/2027 09:00", "“29/02/2027” is not a date: February 2027 has "
                                                "28 days"),
                           ("4/5/26", "“4/5/26”: write the year in full (04/05/2026)"),
                           ("   ", "required"),
                           ("next friday", "“next friday” is not a date and time"),
                           ("01/05/2026 09:00", "must be later than now")]:
        status, page = preview(a1, csrf, "extend", phase="self_assessment", new_due=typed,
                               reason="Nghỉ lễ")
        assert status == 422 and message in text_of(page), typed
    status, page = preview(a1, csrf, "extend", phase="self_assessment",
                           new_due="20/05/2026", reason="")
    assert status == 422 and "required" in text_of(page)
    # Before the current deadline (7 May): each evaluation is listed as refused, and
    # there is nothing to confirm.
    status, page = preview(a1, csrf, "extend", phase="self_assessment", new_due="06/05/2026",
                           reason="Nghỉ lễ")
    assert status == 200 and "is not after its current one" in text_of(page)
    assert 'action="/admin/bulk/apply"' not in page
    status, page = preview(a1, csrf, "extend", phase="self_assessment",
                           new_due="20/05/2026 16:30", reason="Nghỉ lễ <b>30/4</b>")
    assert status == 200, text_of(page)
    text = text_of(page)
    assert "Phạm Thị Lan (S1)" in text and "O'Brien" not in text  # SNV only
    assert extended(two) == set()  # the dry run writes nothing
    result = confirm(a1, page)
    assert "7 done, 0 refused" in result and "Done" in result
    assert extended(two) == {"D1", "H1", "S1", "S2", "S3", "S4", "A1"}
    with two.svc.store.read() as s:
        run = s.execute(select(AUDIT.c.reason).where(AUDIT.c.trigger == "bulk_extend")).one()
    assert "7 done [" in run.reason and "0 refused []" in run.reason
    assert "reason: Nghỉ lễ <b>30/4</b>" in run.reason


def test_a_crafted_confirmation_cannot_reach_the_other_agency(two: WebWorld) -> None:
    a1, csrf = signed_in(two, "A1")
    t2 = two.world.ev("T2")
    done = a1.post("/admin/bulk/apply", data={
        "csrf_token": csrf, "op": "extend", "extend.cycle": CYCLE,
        "extend.phase": "self_assessment", "extend.new_due": "20/05/2026",
        "extend.reason": "x", "ids": f"{t2},{two.world.ev('S1')}"})
    # Refused whole, before anything is done: the other agency's evaluation is named by
    # its unit and agency (not its person), S1 is not extended, no run is recorded.
    assert done.status_code == 403
    text = text_of(done.text)
    assert f"Evaluation {t2} belongs to P9 (Phòng Ngân sách) of the agency Ban Giám đốc Sở " \
        "Tài chính (BTC)" in text and "O'Brien" not in text
    assert extended(two) == set()
    with two.svc.store.read() as s:
        assert s.execute(select(AUDIT.c.seq).where(AUDIT.c.trigger == "bulk_extend")).first() \
            is None


def test_resend_to_everyone_who_has_not_acted(two: WebWorld) -> None:
    e9, csrf = signed_in(two, "E9")  # the admin of STC
    status, page = preview(e9, csrf, "resend")
    assert status == 200, text_of(page)
    text = text_of(page)
    assert "Email to Oliver O'Brien" in text and "Phạm Thị Lan" not in text
    with two.svc.store.read() as s:
        before = s.execute(select(func.count()).select_from(OUTBOX)).scalar_one()
    result = confirm(e9, page)
    assert "5 done, 0 refused" in result  # F1, G1, T1, T2, E9: the self-assessments
    with two.svc.store.read() as s:
        assert s.execute(select(func.count()).select_from(OUTBOX)).scalar_one() == before + 5


def test_reassign_a_departing_supervisor_with_the_bad_inputs(two: WebWorld) -> None:
    a1, csrf = signed_in(two, "A1")
    status, page = preview(a1, csrf, "reassign", departing="H1", new_supervisor="NOBODY",
                           reason="Nghỉ hưu")
    assert status == 422 and "Nobody with the employee id NOBODY" in text_of(page)
    status, page = preview(a1, csrf, "reassign", departing="H1", new_supervisor="H1",
                           reason="Nghỉ hưu")
    assert status == 422 and "the new supervisor is the departing one" in text_of(page)
    status, page = preview(a1, csrf, "reassign", departing="H1", new_supervisor="G1",
                           reason="Nghỉ hưu")
    assert status == 403  # G1 is in the other agency
    status, page = preview(a1, csrf, "reassign", departing="H1", new_supervisor="S1",
                           reason="Nghỉ hưu")
    assert status == 200 and "they would supervise themselves" in text_of(page)
    result = confirm(a1, page)
    assert "4 done" in result
    with two.svc.store.read() as s:
        supervisors = dict(s.execute(select(EVALUATION.c.reviewee_id, EVALUATION.c.supervisor_id)
                                     .where(EVALUATION.c.reviewee_id.in_(
                                         ["S1", "S2", "S3", "S4", "A1"]))).all())
    assert supervisors == {"S1": "H1", "S2": "S1", "S3": "S1", "S4": "S1", "A1": "S1"}
