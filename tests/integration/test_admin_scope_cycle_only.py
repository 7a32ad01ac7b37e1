"""An admin of cycles only (issue 18, item 7): H1 is granted "cycle:snv-2026-05", a cycle
of agency SNV alone, and no agency. They follow that cycle (its evaluations, extensions,
reassignments inside it, its report) and nothing else: no cycle form, no series, no
organisation import, no evaluation or person of the other cycle or agency. Refusals
are 403 pages saying which right is missing and who grants it, in vi and en.

tests/data/two_agencies_org.csv: SNV (D1 heads BGD; H1 and P1 below), STC (F1 heads BTC;
G1 and P9 below, T2 "Oliver O'Brien", F1 with markup in the name).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support import DATA, TWO_AGENCY_SCOPES, World, _may, at
from tests.web_support import WebWorld, make_web, text_of
from workflow.service import admin_scope, cycle_editor
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org
from workflow.store.tables import CYCLE, EVALUATION, EXTENSION

SNV_CYCLE = "snv-2026-05"
SCOPES = (*TWO_AGENCY_SCOPES, ("H1", (f"cycle:{SNV_CYCLE}",)))
STC_PEOPLE = ("F1", "G1", "T1", "T2", "E9")
STC_NAMES = ("Bùi", "Đinh Văn Giàu", "Tạ Thị Thu", "O&#39;Brien", "Lương Thị Én")


@pytest.fixture
def world(new_service: Callable[..., Service], tmp_path: Path) -> WebWorld:
    svc = new_service(admins=("UB1",), admin_scope=SCOPES)
    import_org(svc, DATA / "two_agencies_org.csv", now=at("2026-05-01 09:00"))
    open_cycle(svc, DATA / "two_agencies_cycle.yaml", now=at("2026-05-02 10:00"))
    may = tmp_path / f"{SNV_CYCLE}.yaml"
    may.write_text(_may((DATA / "two_agencies_cycle.yaml").read_text("utf-8"), "BGD, P1",
                        SNV_CYCLE), encoding="utf-8")
    open_cycle(svc, may, now=at("2026-05-25 10:00"))
    w = make_web(World(svc, SNV_CYCLE))
    w.clock.set("2026-06-02 09:00")
    return w


def test_the_scope_of_a_cycle_only_admin_is_their_cycle_and_its_people(world: WebWorld) -> None:
    mine = admin_scope.scope_for(world.svc, "H1")
    assert mine.is_admin and not mine.may_configure and not mine.everything
    assert [c for c, _ in mine.cycles] == [SNV_CYCLE]
    assert mine.may_see_unit("P1") and not mine.may_see_unit("P9")
    assert not mine.may_see_unit("UBND")
    assert admin_scope.scope_for(world.svc, "A1").may_configure
    assert admin_scope.scope_for(world.svc, "UB1").may_configure
    with pytest.raises(admin_scope.CycleRightsOnly, match="unit:ID"):
        cycle_editor.configurer(world.svc, "H1")


@pytest.mark.parametrize("lang, said", [
    ("en", "needs the right to administer an agency"),
    ("vi", "quyền quản trị một cơ quan")])
def test_configuring_is_refused_naming_the_missing_right(world: WebWorld, lang: str,
                                                         said: str) -> None:
    h1 = world.sign_in("H1")
    h1.cookies.set("kpi_lang", lang)
    token = world.csrf(h1, "/admin")
    for path in ("/admin/cycles", "/admin/cycles/new", "/admin/series",
                 f"/admin/cycles/edit/{SNV_CYCLE}.yaml"):
        page = h1.get(path)
        assert page.status_code == 403, path
        text = text_of(page.text)
        assert said in text and "admin_scope" in text and "Two agencies May 2026" in text, path
    before = cycles_of(world.svc)
    posted = h1.post("/admin/cycles/form", data={"csrf_token": token, "op": "open",
                                                 "id": "h1-2026-06", "name": "x"})
    assert posted.status_code == 403 and said in text_of(posted.text)
    assert h1.post("/admin/series", data={"csrf_token": token, "op": "open"}).status_code == 403
    assert cycles_of(world.svc) == before
    assert h1.get("/admin/org").status_code == 403


def cycles_of(svc: Service) -> set[str]:
    with svc.store.read() as s:
        return set(s.execute(select(CYCLE.c.id)).scalars())


def test_they_follow_their_cycle_and_reach_nobody_outside_it(world: WebWorld) -> None:
    h1 = world.sign_in("H1")
    home = h1.get("/admin")
    assert home.status_code == 200
    for pid, name in zip(STC_PEOPLE, STC_NAMES, strict=True):
        assert name not in home.text and f">{pid}<" not in home.text, pid
    assert "O&#39;Brien" not in h1.get("/admin", params={"q": "T2"}).text
    # The evaluation of the same person in the other cycle is not theirs.
    april = World(world.svc, "two-2026-04")
    assert h1.get(f"/admin/e/{april.ev('S1')}").status_code == 403
    assert h1.get(f"/admin/e/{april.ev('T2')}").status_code == 403
    # A cycle not theirs is refused, naming the agencies in it, as for agency admins and
    # as its exports are (tests/integration/test_admin_scope_routes.py).
    for tail in ("report", "exports"):
        refused = h1.get(f"/admin/cycle/two-2026-04/{tail}")
        assert refused.status_code == 403, tail
        assert "You do not administer the evaluation cycle two-2026-04" in refused.text \
            or "Anh/Chị không quản trị kỳ đánh giá two-2026-04" in refused.text, tail
    assert h1.get(f"/admin/cycle/{SNV_CYCLE}/report").status_code == 200

    s2 = world.world.ev("S2")
    token = world.csrf(h1, f"/admin/e/{s2}")
    # Reassigning to someone of the other agency, or outside their cycle: refused.
    for outsider in ("G1", "UB1"):
        moved = h1.post(f"/admin/e/{s2}", data={
            "csrf_token": token, "op": "reassign_supervisor", "new_supervisor": outsider,
            "reassign_supervisor_reason": "chuyển"})
        assert moved.status_code == 403, outsider
    with world.svc.store.read() as s:
        assert s.execute(select(EVALUATION.c.supervisor_id)
                         .where(EVALUATION.c.id == s2)).scalar_one() == "H1"
    # Extending a deadline of their cycle works.
    done = h1.post(f"/admin/e/{s2}", data={
        "csrf_token": token, "op": "extend", "new_due": "2026-06-20 17:00",
        "extend_reason": "ốm", "approved_by": "H1"})
    assert done.status_code == 200, text_of(done.text)
    with world.svc.store.read() as s:
        assert s.execute(select(EXTENSION.c.evaluation_id)).scalars().all() == [s2]


def test_a_grant_removed_while_signed_in_is_gone_on_the_next_request(world: WebWorld) -> None:
    """The session carries no rights: the same cookie, served by the deployment whose
    settings no longer grant H1 the cycle (the province admin removed it and restarted),
    is refused on its next request, pages and actions alike."""
    h1 = world.sign_in("H1")
    s2 = world.world.ev("S2")
    token = world.csrf(h1, f"/admin/e/{s2}")
    revoked = make_web(World(Service(world.svc.store, replace(
        world.svc.settings, admin_scope=TWO_AGENCY_SCOPES)), SNV_CYCLE), world.clock)
    same = revoked.client_for()
    same.cookies.update(h1.cookies)
    assert same.get("/").status_code == 200  # still signed in: only the right is gone
    assert same.get("/admin").status_code == 403
    assert same.get(f"/admin/e/{s2}").status_code == 403
    extend = same.post(f"/admin/e/{s2}", data={
        "csrf_token": token, "op": "extend", "new_due": "2026-06-20 17:00",
        "extend_reason": "ốm", "approved_by": "H1"})
    assert extend.status_code == 403
    with world.svc.store.read() as s:
        assert s.execute(select(EXTENSION.c.id)).first() is None


# Every admin page and export against every kind of admin (issue 18 item 7): the status,
# and on what is shown, nobody of the other agency by name (markup and quotes included).
ROUTES = ("home", "search T2", "search S2", "may S2", "april T2", "report", "exports",
          "record S2", "record T2", "dead letters", "bulk", "org", "cycles", "series")
# Per role, the status of each route in ROUTES. A record covers the person's evaluations
# the admin sees: the province and STC get T2's (April's) through the May cycle's page;
# SNV's May cycle is SNV's alone, so its admin downloads its report and lists.
MATRIX = {
    "UB1": "200 200 200 200 200 200 200 200 200 200 200 200 200 200",  # the province
    "A1": "200 200 200 200 403 200 200 200 403 200 200 403 200 200",  # agency SNV
    "E9": "200 200 200 403 200 403 403 403 200 200 200 403 200 200",  # agency STC
    "H1": "200 200 200 200 403 200 200 200 422 200 200 403 403 403",  # cycle snv-2026-05 only
    "D1": "403 403 403 403 403 403 403 403 403 403 403 403 403 403",  # staff (a supervisor)
}
SNV_NAMES = ("Phạm Thị Lan", "Hoàng Văn Nam", "Vũ Thị Mai", "Đỗ Minh Quân")


def test_every_admin_route_is_allowed_or_refused_by_scope_and_shows_no_other_agency(
        world: WebWorld) -> None:
    may, april = world.world.ev, World(world.svc, "two-2026-04").ev
    paths = ("/admin", "/admin?q=T2", "/admin?q=S2", f"/admin/e/{may('S2')}",
             f"/admin/e/{april('T2')}", f"/admin/cycle/{SNV_CYCLE}/report",
             f"/admin/cycle/{SNV_CYCLE}/exports", f"/admin/cycle/{SNV_CYCLE}/record?person=S2",
             f"/admin/cycle/{SNV_CYCLE}/record?person=T2", "/admin/dead-letters.csv",
             "/admin/bulk", "/admin/org", "/admin/cycles", "/admin/series")
    for who, expected in MATRIX.items():
        client = world.sign_in(who)
        others = () if who == "UB1" else SNV_NAMES if who == "E9" else STC_NAMES
        for route, path, status in zip(ROUTES, paths, expected.split(), strict=True):
            page = client.get(path)
            assert page.status_code == int(status), (who, route, page.status_code)
            leaked = [n for n in others if n in page.text]
            assert not leaked, (who, route, leaked)
