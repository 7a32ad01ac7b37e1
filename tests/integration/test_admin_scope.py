"""Many agencies in one deployment: each agency's admin sees and acts on their own
agency only (pages, search, report, crafted POSTs); the province admin sees both.

tests/data/two_agencies_org.csv: agency SNV (D1 heads BGD; H1 and P1 below) and agency
STC (F1 heads BTC; G1 and P9 below). A1 administers SNV ("unit:BGD"), E9 administers STC
("unit:BTC"), UB1 (settings ``admins``) everything.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support import DATA, World, at
from tests.web_support import WebWorld, make_web, text_of
from workflow.service import admin_scope
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org
from workflow.store.tables import EVALUATION, EXTENSION, PERSON

SCOPES = (("A1", ("unit:BGD",)), ("E9", ("unit:BTC",)))


@pytest.fixture
def two(new_service: Callable[..., Service]) -> WebWorld:
    svc = new_service(admins=("UB1",), admin_scope=SCOPES)
    import_org(svc, DATA / "two_agencies_org.csv", now=at("2026-05-01 09:00"))
    open_cycle(svc, DATA / "two_agencies_cycle.yaml", now=at("2026-05-02 10:00"))
    return make_web(World(svc, "two-2026-04"))


def test_reach_follows_the_supervisor_tree_into_other_units() -> None:
    people = [("D", "BGD", None), ("H", "P1", "D"), ("S", "P1", "H"), ("X", "P2", None),
              ("Y", "P2", "X"), ("Z", "P3", "S")]
    assert admin_scope.reach(["BGD"], people) == {"BGD", "P1", "P3"}
    assert admin_scope.reach(["P2"], people) == {"P2"}
    assert admin_scope.reach(["NOPE"], people) == {"NOPE"}


def test_each_agency_admin_sees_only_their_agency(two: WebWorld) -> None:
    svc = two.svc
    snv, stc = admin_scope.scope_for(svc, "A1"), admin_scope.scope_for(svc, "E9")
    assert snv.units == {"BGD", "P1"} and stc.units == {"BTC", "P9"}
    assert snv.may_see_cycle("two-2026-04") and not snv.sees_whole_cycle("two-2026-04")
    province = admin_scope.scope_for(svc, "UB1")
    assert province.everything and province.sees_whole_cycle("two-2026-04")
    assert not admin_scope.scope_for(svc, "S1").is_admin

    a1, e9, ub1 = two.sign_in("A1"), two.sign_in("E9"), two.sign_in("UB1")
    page = text_of(a1.get("/admin").text)
    assert "Phòng Một" in page and "Phòng Ngân sách" not in page
    page = text_of(e9.get("/admin").text)
    assert "Phòng Ngân sách" in page and "Phòng Một" not in page
    page = text_of(ub1.get("/admin").text)
    assert "Phòng Một" in page and "Phòng Ngân sách" in page

    # Search: the other agency's people are not found, not even by id.
    assert "O&#39;Brien" not in a1.get("/admin", params={"q": "T2"}).text
    assert "O&#39;Brien" in ub1.get("/admin", params={"q": "T2"}).text
    assert "Phạm Thị Lan" not in e9.get("/admin", params={"q": "lan"}).text

    # The evaluation page, and the cycle report (it covers both agencies).
    t2 = f"/admin/e/{two.world.ev('T2')}"
    assert a1.get(t2).status_code == 403
    assert e9.get(t2).status_code == 200 and ub1.get(t2).status_code == 200
    assert a1.get("/admin/cycle/two-2026-04/report").status_code == 403
    assert ub1.get("/admin/cycle/two-2026-04/report").status_code == 200


def test_crafted_posts_outside_the_agency_change_nothing(two: WebWorld) -> None:
    a1 = two.sign_in("A1")
    token = two.csrf(a1, f"/admin/e/{two.world.ev('S1')}")
    t2 = two.world.ev("T2")
    extend = {"csrf_token": token, "op": "extend", "new_due": "2026-05-20 17:00",
              "extend_reason": "ốm", "approved_by": "A1"}
    assert a1.post(f"/admin/e/{t2}", data=extend).status_code == 403
    # Reassigning one's own reviewee to a supervisor of the other agency is refused too.
    s1 = two.world.ev("S1")
    moved = a1.post(f"/admin/e/{s1}", data={
        "csrf_token": token, "op": "reassign_supervisor", "new_supervisor": "G1",
        "reassign_supervisor_reason": "chuyển"})
    assert moved.status_code == 403
    delegated = a1.post("/admin/cycle/two-2026-04/delegate", data={
        "csrf_token": token, "supervisor": "G1", "acting": "H1", "until": "2026-05-20 17:00",
        "reason": "nghỉ"})
    assert delegated.status_code == 403
    revoked = a1.post("/admin/sessions/revoke", data={
        "csrf_token": token, "revoke.person": "E9", "revoke.reason": "x"})
    assert revoked.status_code == 403
    with two.svc.store.read() as s:
        assert s.execute(select(EXTENSION.c.id)).first() is None
        assert s.execute(select(EVALUATION.c.supervisor_id)
                         .where(EVALUATION.c.id == s1)).scalar_one() == "H1"
    # Inside the agency the same action works.
    done = a1.post(f"/admin/e/{two.world.ev('S2')}", data=extend)
    assert done.status_code == 200, text_of(done.text)
    with two.svc.store.read() as s:
        assert s.execute(select(EXTENSION.c.evaluation_id)).scalars().all() == [
            two.world.ev("S2")]


@pytest.mark.both_stores
def test_the_reach_read_from_the_store_is_the_rule_and_follows_an_import(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    """The recursive query gives what ``reach`` gives over the whole organisation, for
    every unit alone and for grants across both agencies; a supervisor moved by an
    import moves the reach (the kept reach is per state of the organisation)."""
    svc = new_service(admins=("UB1",), admin_scope=SCOPES)
    import_org(svc, DATA / "two_agencies_org.csv", now=at("2026-05-01 09:00"))
    open_cycle(svc, DATA / "two_agencies_cycle.yaml", now=at("2026-05-02 10:00"))
    with svc.store.read() as s:
        people = s.execute(select(PERSON.c.id, PERSON.c.unit_id, PERSON.c.supervisor_id)).all()
        units = sorted({p.unit_id for p in people})
        for grants in [[u] for u in units] + [["BGD", "P9"], ["P1", "NOPE"], ["NOPE"]]:
            assert admin_scope.reach_in_store(s, grants) == admin_scope.reach(grants, people), \
                grants
    assert admin_scope.scope_for(svc, "A1").units == {"BGD", "P1"}
    # G1 (heading P9 of the other agency) now answers to H1 of P1: P9 comes into reach.
    org = (DATA / "two_agencies_org.csv").read_text(encoding="utf-8")
    moved = tmp_path / "org.csv"
    before = "P9,Phòng Ngân sách,Trưởng phòng,leader,F1,"
    assert before in org
    moved.write_text(org.replace(before, before.replace(",F1,", ",H1,")), encoding="utf-8")
    import_org(svc, moved, now=at("2026-05-01 09:00"))
    assert admin_scope.scope_for(svc, "A1").units == {"BGD", "P1", "P9"}
    assert admin_scope.scope_for(svc, "E9").units == {"BTC"}  # and out of the other's
