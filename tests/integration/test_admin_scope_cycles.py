"""The cycle form and the series page respect the admin's agencies (issue 18, item 7):
an admin of agency SNV neither sees, edits, checks, saves nor opens a cycle whose
population is agency STC's (a 403 naming the agency, nothing written), and the other
way round; the province admin does it all. Plus the series file uploaded in the browser.

tests/data/two_agencies_org.csv: SNV (D1 heads BGD; P1 below), STC (F1 heads BTC; P9
below). A1 administers SNV ("unit:BGD"), E9 STC ("unit:BTC"), UB1 everything.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.integration.test_web_admin_cycles import errors_of, form_of
from tests.support import DATA, World, two_agencies
from tests.web_support import WebWorld, make_web, text_of
from workflow.service.core import Service
from workflow.store.tables import CYCLE, EVALUATION, SCHEDULED_OPEN

FORM = "/admin/cycles/form"
STC = "Ban Giám đốc Sở Tài chính (BTC)"
SNV = "Ban Giám đốc (BGD)"


@pytest.fixture
def two(new_service: Callable[..., Service], tmp_path: Path) -> WebWorld:
    w = make_web(World(two_agencies(new_service, tmp_path), "two-2026-04"))
    w.clock.set("2026-05-25 09:00")
    return w


def signed_in(w: WebWorld, person: str, lang: str = "en") -> TestClient:
    client = w.sign_in(person)
    client.cookies.set("kpi_lang", lang)
    return client


def cycle_ids(svc: Service) -> set[str]:
    with svc.store.read() as s:
        return set(s.execute(select(CYCLE.c.id)).scalars())


def test_each_agency_admin_lists_and_edits_only_their_agencys_cycle_files(two: WebWorld) -> None:
    a1, e9, ub1 = signed_in(two, "A1"), signed_in(two, "E9"), signed_in(two, "UB1")
    listing = text_of(a1.get("/admin/cycles").text)
    assert "snv-2026-05.yaml" in listing
    assert "stc-2026-05.yaml" not in listing and "both-2026-05.yaml" not in listing
    listing = text_of(e9.get("/admin/cycles").text)
    assert "stc-2026-05.yaml" in listing and "snv-2026-05.yaml" not in listing
    listing = text_of(ub1.get("/admin/cycles").text)
    assert all(f"{n}-2026-05.yaml" in listing for n in ("snv", "stc", "both"))

    # Edit, copy and download the other agency's file: refused, the agency named.
    for path in ("/admin/cycles/edit/stc-2026-05.yaml", "/admin/cycles/new?copy=stc-2026-05.yaml",
                 "/admin/cycles/file/stc-2026-05.yaml", "/admin/cycles/edit/both-2026-05.yaml"):
        page = a1.get(path)
        assert page.status_code == 403, path
        assert STC in text_of(page.text) and "P9 (Phòng Ngân sách)" in text_of(page.text), path
    assert e9.get("/admin/cycles/edit/snv-2026-05.yaml").status_code == 403
    assert SNV in text_of(e9.get("/admin/cycles/file/snv-2026-05.yaml").text)
    assert a1.get("/admin/cycles/edit/snv-2026-05.yaml").status_code == 200
    assert ub1.get("/admin/cycles/edit/both-2026-05.yaml").status_code == 200


def test_a_form_whose_population_reaches_the_other_agency_is_refused_and_not_saved(
        two: WebWorld) -> None:
    a1 = signed_in(two, "A1", lang="vi")
    config = two.svc.settings.config_dir / "cycles"
    fields = form_of(two, a1, "/admin/cycles/edit/snv-2026-05.yaml")
    before = (config / "snv-2026-05.yaml").read_text("utf-8")
    fields.update({"op": "save", "population.units": "BGD P1 P9"})
    page = a1.post(FORM, data=fields)
    assert page.status_code == 403
    said = errors_of(page.text)["f-population-units"]
    assert STC in said and "P9 (Phòng Ngân sách)" in said and "không" in said  # in Vietnamese
    assert (config / "snv-2026-05.yaml").read_text("utf-8") == before
    # "all" takes in every agency; a new file with it is not written either.
    fields.update({"editing": "", "id": "snv-2026-06", "population.units": ""})
    for op in ("check", "save", "open"):
        page = a1.post(FORM, data={**fields, "op": op})
        assert page.status_code == 403, op
        assert STC in errors_of(page.text)["f-population-units"]
    assert not (config / "snv-2026-06.yaml").exists()
    # A crafted confirmation for the other agency's file opens nothing.
    token = two.csrf(a1, "/admin/cycles/new")
    page = a1.post(FORM, data={"csrf_token": token, "op": "confirm_open",
                               "file": "stc-2026-05.yaml", "editing": "stc-2026-05.yaml"})
    assert page.status_code == 403 and STC in text_of(page.text)
    assert "stc-2026-05" not in cycle_ids(two.svc)


@pytest.mark.both_stores
def test_each_agency_admin_opens_their_own_cycle_and_the_province_admin_any(
        two: WebWorld) -> None:
    e9, ub1 = signed_in(two, "E9"), signed_in(two, "UB1")
    for client, name in ((e9, "stc-2026-05"), (ub1, "both-2026-05")):
        fields = form_of(two, client, f"/admin/cycles/edit/{name}.yaml")
        page = client.post(FORM, data={**fields, "op": "open"})
        assert page.status_code == 200, text_of(page.text)[:800]
        token = two.csrf(client, "/admin/cycles/new")
        done = client.post(FORM, data={"csrf_token": token, "op": "confirm_open",
                                       "file": f"{name}.yaml", "editing": f"{name}.yaml"})
        assert f"{name}" in text_of(done.text) and done.status_code == 200
    assert {"stc-2026-05", "both-2026-05"} <= cycle_ids(two.svc)
    with two.svc.store.read() as s:
        units = set(s.execute(select(EVALUATION.c.unit_id)
                              .where(EVALUATION.c.cycle_id == "stc-2026-05")).scalars())
    assert units == {"BTC", "P9"}


@pytest.mark.both_stores
def test_the_series_page_shows_and_opens_only_the_admins_agencys_series(two: WebWorld) -> None:
    a1, e9 = signed_in(two, "A1"), signed_in(two, "E9")
    assert "stc-2026.yaml" not in text_of(a1.get("/admin/series").text)
    page = text_of(e9.get("/admin/series").text)
    assert "stc-2026.yaml" in page and "4 cycles" in page
    assert "Open the next period now: stc-2026-q1" in page
    # A1's crafted posts: refused naming STC, nothing opened or scheduled.
    token = two.csrf(a1, "/admin/series")
    for op in ("confirm_open", "confirm_schedule"):
        refused = a1.post("/admin/series", data={"csrf_token": token, "op": op,
                                                 "file": "stc-2026.yaml", "period": "2026-q1"})
        assert refused.status_code == 403 and STC in text_of(refused.text), op
    assert not {c for c in cycle_ids(two.svc) if c.startswith("stc-2026-q")}
    with two.svc.store.read() as s:
        assert s.execute(select(func.count()).select_from(SCHEDULED_OPEN)).scalar_one() == 0
    token = two.csrf(e9, "/admin/series")
    done = e9.post("/admin/series", data={"csrf_token": token, "op": "confirm_open",
                                          "file": "stc-2026.yaml", "period": "2026-q1"})
    assert "Cycle stc-2026-q1 is open: 5 evaluations." in text_of(done.text)
    assert "Open the next period now: stc-2026-q2" in text_of(done.text)
    planned = e9.post("/admin/series", data={"csrf_token": token, "op": "confirm_schedule",
                                             "file": "stc-2026.yaml"})
    assert "3 periods will open on their dates." in text_of(planned.text)


def upload(client: TestClient, token: str, name: str, raw: bytes, **fields: str) -> str:
    page = client.post("/admin/series/upload", data={"csrf_token": token, **fields},
                       files={"series_file": (name, raw, "application/yaml")})
    return f"{page.status_code} {text_of(page.text)}"


def test_a_series_file_is_uploaded_checked_and_kept_only_when_it_has_no_problem(
        two: WebWorld) -> None:
    e9 = signed_in(two, "E9")
    token = two.csrf(e9, "/admin/series")
    folder = two.svc.settings.config_dir / "series"
    good = (DATA / "two_agencies_series.yaml").read_text("utf-8").replace("stc-2026", "stc-2027") \
        .replace("year: 2026", "year: 2027")
    # Saved by a Windows editor as UTF-16; a day that does not exist; a template
    # reaching the other agency; a bad name; then the good file, twice.
    said = upload(e9, token, "stc-2027.yaml", good.encode("utf-16"))
    assert said.startswith("422") and "saved as UTF-16 (or UTF-32) text, not UTF-8" in said
    # Saved as Windows Vietnamese: the message names the line of the first accent.
    said = upload(e9, token, "stc-2027.yaml", good.encode("cp1258", errors="replace"))
    line = good[:good.index("Đ")].count("\n") + 1
    assert said.startswith("422"), said
    assert f"stc-2027.yaml, line {line}: not UTF-8 text (perhaps saved as Windows " \
        "Vietnamese, cp1258)" in said
    bad_day = good.replace("  timezone: Asia/Ho_Chi_Minh",
                           "  timezone: Asia/Ho_Chi_Minh\n  holidays:\n"
                           "    extra_days_off: [2027-04-31]")
    said = upload(e9, token, "stc-2027.yaml", bad_day.encode())
    assert said.startswith("422") and "template.holidays.extra_days_off[0]" in said
    assert "'2027-04-31' is not a date that exists" in said
    said = upload(e9, token, "stc-2027.yaml", good.replace("[BTC, P9]", "[BTC, P9, P1]").encode())
    assert said.startswith("403") and SNV in said
    said = upload(e9, token, "stc 2027.yaml", good.encode())
    assert said.startswith("422") and "cannot be the name of a series file" in said
    assert [p.name for p in folder.iterdir()] == ["stc-2026.yaml"]  # nothing written
    # The folder a browser sends with the name is dropped: the file lands in series/.
    said = upload(e9, token, "../cycles/x.yaml", good.encode())
    assert said.startswith("200") and (folder / "x.yaml").is_file()
    assert not (folder.parent / "cycles" / "x.yaml").exists()
    (folder / "x.yaml").unlink()
    said = upload(e9, token, "stc-2027.yaml", good.encode("utf-8-sig"))
    assert said.startswith("200") and "The series file stc-2027.yaml has no problem" in said
    assert "Open the next period now: stc-2027-q1" in said
    assert (folder / "stc-2027.yaml").read_text("utf-8") == good
    changed = good.replace("working_days: 10", "working_days: 9")
    said = upload(e9, token, "stc-2027.yaml", changed.encode())
    assert said.startswith("422") and "a series file stc-2027.yaml is there already" in said
    said = upload(e9, token, "stc-2027.yaml", changed.encode(), replace="1")
    assert said.startswith("200")
    assert (folder / "stc-2027.yaml").read_text("utf-8") == changed
