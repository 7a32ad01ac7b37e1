"""A unit's publication in a deployment of two agencies (issue 18 item 7, issue 17 item 4):
a member of unit P1 (agency SNV) reads P1's results and nothing of P9 (agency STC),
however the address is changed; a forged link is not found, an expired one 410, and a
member moved to the other agency (an organisation import) is refused with 403 and shown
nothing of either unit.

tests/data/two_agencies_org.csv: P1 (H1 heads it: S1..S4, A1) under D1 (BGD); P9 (G1
heads it: T1, T2 "Oliver O'Brien", E9) under F1 (BTC, a name with markup).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support import DATA, TWO_AGENCY_SCOPES, World, at
from tests.web_support import WebWorld, make_web
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org
from workflow.store.tables import OUTBOX, PUBLICATION

P1 = ("H1", "S1", "S2", "S3", "S4", "A1")
P9 = ("G1", "T1", "T2", "E9")
P1_NAMES = ("Lê Văn Hùng", "Phạm Thị Lan", "Hoàng Văn Nam", "Vũ Thị Mai", "Đỗ Minh Quân",
            "Trịnh Thu Hằng")
P9_NAMES = ("Đinh Văn Giàu", "Tạ Thị Thu", "O'Brien", "O&#39;Brien", "Lương Thị Én",
            "@stc.example.gov.vn", "Phòng Ngân sách")

pytestmark = pytest.mark.both_stores


@pytest.fixture
def two(new_service: Callable[..., Service]) -> WebWorld:
    """April's cycle of both agencies, P1 and P9 each wholly scored: both published."""
    svc = new_service(admins=("UB1",), admin_scope=TWO_AGENCY_SCOPES)
    import_org(svc, DATA / "two_agencies_org.csv", now=at("2026-05-01 09:00"))
    open_cycle(svc, DATA / "two_agencies_cycle.yaml", now=at("2026-05-02 10:00"))
    world = World(svc, "two-2026-04")
    for person in (*P1, *P9):
        world.submit_self(person, when="2026-05-05 09:00")
    for person in (*P1, *P9):
        world.score(person, by="D1" if person == "H1" else "F1" if person == "G1" else None,
                    when="2026-05-06 09:00")
    web = make_web(world)
    web.clock.set("2026-05-07 09:00")
    return web


def publication_link(web: WebWorld, person: str) -> str:
    with web.svc.store.read() as s:
        [context] = s.execute(select(OUTBOX.c.context).where(
            OUTBOX.c.event == "result", OUTBOX.c.recipient_id == person)).scalars().all()
    return str(context["publication_url"]).removeprefix("http://kpi.test")


def shows(response: object, words: tuple[str, ...]) -> list[str]:
    body = response.content.decode("utf-8", "replace")  # type: ignore[attr-defined]
    return [w for w in words if w in body]


def test_a_member_reads_their_units_results_and_nothing_of_the_other_agency(
        two: WebWorld, tmp_path: Path) -> None:
    with two.svc.store.read() as s:
        assert set(s.execute(select(PUBLICATION.c.unit_id)).scalars()) == {"P1", "P9"}
    client = two.client_for()
    s1, t2 = publication_link(two, "S1"), publication_link(two, "T2")
    page = client.get(s1)
    assert page.status_code == 200
    assert shows(page, P1_NAMES) == list(P1_NAMES) and shows(page, P9_NAMES) == []
    theirs = client.get(t2)
    assert theirs.status_code == 200 and "O&#39;Brien" in theirs.text
    assert shows(theirs, P1_NAMES) == []
    # The address has no unit or evaluation in it to change: whatever is added, S1's link
    # shows P1; a link changed by a character names nothing and shows nothing.
    for tried in (f"{s1}?unit=P9", f"{s1}?evaluation={two.world.ev('T2')}",
                  f"{s1}/results.csv?unit=P9"):
        got = client.get(tried)
        assert got.status_code == 200 and shows(got, P9_NAMES) == [], tried
    csv = client.get(f"{s1}/results.csv").content.decode("utf-8")
    assert "Phạm Thị Lan" in csv and "O'Brien" not in csv
    forged = s1[:-3] + ("aaa" if not s1.endswith("aaa") else "bbb")
    for tried in (forged, f"{forged}/results.csv"):
        got = client.get(tried)
        assert got.status_code == 404 and shows(got, P1_NAMES + P9_NAMES) == [], tried
    # A year on, the link has expired: 410, nothing shown.
    two.clock.set("2027-06-01 09:00")
    for tried in (s1, f"{s1}/results.csv"):
        got = client.get(tried)
        assert got.status_code == 410 and shows(got, P1_NAMES + P9_NAMES) == [], tried


def test_a_member_moved_to_the_other_agency_is_refused_their_old_units_results(
        two: WebWorld, tmp_path: Path) -> None:
    org = (DATA / "two_agencies_org.csv").read_text(encoding="utf-8")
    before = "S1,Phạm Thị Lan,lan@snv.example.gov.vn,P1,Phòng Một,Chuyên viên,specialist,H1,"
    assert before in org
    moved = tmp_path / "org.csv"
    moved.write_text(org.replace(before, "S1,Phạm Thị Lan,lan@snv.example.gov.vn,P9,"
                                 "Phòng Ngân sách,Chuyên viên,specialist,G1,"), encoding="utf-8")
    import_org(two.svc, moved, now=at("2026-05-08 09:00"))
    two.clock.set("2026-05-08 10:00")
    client = two.client_for()
    s1 = publication_link(two, "S1")
    for tried in (s1, f"{s1}/results.csv"):
        got = client.get(tried)
        assert got.status_code == 403, tried
        # Nobody of the unit they left nor of the one they joined (their own name aside,
        # and the new unit's: a page may say where they are now).
        hidden = tuple(n for n in P1_NAMES + P9_NAMES if n not in ("Phạm Thị Lan",
                                                                    "Phòng Ngân sách"))
        assert shows(got, hidden) == [], tried
    # Their former colleagues still read P1's.
    assert client.get(publication_link(two, "S2")).status_code == 200
