"""The cycle calendar form and the series page of the admin console (issue 18, items 2-3).

The form is checked with the bad inputs an HR officer types; what it saves is a cycle
file that `kpi cycle check` reads; opening asks for a confirmation first.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.support import CONFIG, World, at
from tests.web_support import WebWorld, make_web, text_of
from workflow import cycle_form
from workflow.configfile import read_yaml
from workflow.cycle_config import load_cycle
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org
from workflow.store.tables import CYCLE, EVALUATION, SCHEDULED_OPEN

FORM = "/admin/cycles/form"
HOSTILE = "<script>alert(\"x\")</script> & 'Tháng 7' — Sở"


def sample_agency_april(svc: Service) -> None:
    """The seed of ``web``: the sample organisation with its April cycle open."""
    import_org(svc, CONFIG / "organisation.csv", now=at("2026-05-01 09:00"))
    open_cycle(svc, svc.settings.config_dir / "cycles" / "sample-2026-04.yaml",
               now=at("2026-05-02 10:00"))


@pytest.fixture
def web(seeded_service: Callable[..., Service], tmp_path: Path) -> WebWorld:
    config = tmp_path / "config"
    for part in ("regimes", "frameworks", "cycles", "series"):
        shutil.copytree(CONFIG / part, config / part)
    # SNV060 administers the deployment: an admin of a cycle only may not configure.
    # The config folder is the test's own copy: the form writes cycle files into it.
    # The database is seeded once per test process and copied (tests/conftest.py).
    svc = seeded_service("sample-agency-april", sample_agency_april, admins=("SNV060",),
                         config_dir=config)
    w = make_web(World(svc, "snv-2026-04"))
    w.clock.set("2026-07-20 09:00")
    return w


def signed_in(w: WebWorld, person: str = "SNV060", lang: str = "en") -> TestClient:
    client = w.sign_in(person)
    client.cookies.set("kpi_lang", lang)
    return client


def form_of(w: WebWorld, client: TestClient, path: str) -> dict[str, str]:
    """Every field of the form on ``path`` as the browser would post it."""
    page = client.get(path)
    assert page.status_code == 200, text_of(page.text)[:500]
    return fields_of(page.text)


def fields_of(html: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for tag in re.findall(r"<input [^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        kind = re.search(r'type="([^"]+)"', tag)
        if not name:
            continue
        if kind and kind.group(1) == "checkbox" and "checked" not in tag:
            continue
        values[unescape(name.group(1))] = unescape(value.group(1)) if value else ""
    for select_name, body in re.findall(r'<select [^>]*name="([^"]+)"[^>]*>(.*?)</select>',
                                        html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', body)
        values[unescape(select_name)] = chosen.group(1) if chosen else ""
    return values


def errors_of(html: str) -> dict[str, str]:
    """Each field's problem, by the field's id."""
    return {m.group(1): text_of(m.group(2)).strip() for m in re.finditer(
        r'<p class="field-error" id="e-([^"]+)">(.*?)</p>', html, re.S)}


def july(w: WebWorld, client: TestClient, **changes: str) -> dict[str, str]:
    fields = form_of(w, client, "/admin/cycles/new?copy=sample-2026-07.yaml")
    fields.update({"id": "snv-2026-07-b", "name": "Tháng 7/2026"}, **changes)
    return fields


def cycles(svc: Service) -> int:
    with svc.store.read() as s:
        return int(s.execute(select(func.count()).select_from(CYCLE)).scalar_one())


def test_the_form_round_trips_every_key_of_the_sample_files() -> None:
    for path in sorted((CONFIG / "cycles").glob("*.yaml")):
        data = read_yaml(path).data
        parsed = cycle_form.from_form(cycle_form.to_form(data))
        assert parsed.problems == {}, path
        assert load_cycle(path).config == _config_of(parsed.data), path


def _config_of(data: dict[str, Any]) -> Any:
    from workflow.cycle_config import parse_cycle_text
    from workflow.service.cycle_editor import to_text

    return parse_cycle_text(to_text(data)).config


def test_an_admin_checks_a_copy_and_sees_the_month_grid_and_the_emails(web: WebWorld) -> None:
    admin = signed_in(web)
    listing = admin.get("/admin/cycles")
    assert "sample-2026-07.yaml" in listing.text and "Edit" in text_of(listing.text)
    fields = july(web, admin, op="check")
    page = admin.post(FORM, data=fields)
    assert page.status_code == 200, text_of(page.text)[:800]
    text = text_of(page.text)
    assert "August 2026" in text and "September 2026" in text
    # National Day's days off are named in the grid; the sample's own day off too.
    assert "National Day" in text and "Đại hội Đảng bộ tỉnh" in text
    # Monday 31 August, off for Saturday 22 August: the date as English pages write one,
    # not the holiday package's American 08/22/2026.
    assert "Day off (substituted from 22 Aug 2026)" in text and "08/22/2026" not in text
    assert "Due: Self-assessment" in text
    assert "Emails by day, if nobody acts" in text
    assert re.search(r"08:00 — self-assessment task × 58", text), text[:3000]
    assert "58 evaluations: BGD 3, CCVC 18, TCBC 18, VP 19" in text
    assert cycles(web.svc) == 1  # a check writes nothing


def test_the_month_grid_names_the_days_off_in_vietnamese(web: WebWorld) -> None:
    admin = signed_in(web, lang="vi")
    page = admin.post(FORM, data=july(web, admin, op="check"))
    assert page.status_code == 200, text_of(page.text)[:800]
    text = text_of(page.text)
    assert "Ngày nghỉ (thay cho ngày 22/08/2026)" in text and "Quốc khánh" in text
    assert "substituted" not in text and "National Day" not in text


@pytest.mark.parametrize(("field", "typed", "where", "says"), [
    ("period.end", "31/04/2026", "f-period-end",
     "“31/04/2026” is not a date: April 2026 has 30 days"),
    ("period.start", "2026/07/01", "f-period-start", "is not a date: write it as day/month"),
    ("timezone", "Asia/Hanoi", "f-timezone", "timezone: unknown time zone 'Asia/Hanoi'"),
    ("phases.self_assessment.due", "03/08/2026 08:00", "f-phases-self_assessment-due",
     "give either the date and time it is due or a number of working days, not both"),
    ("reminders[0].at", "8h75", "f-reminders-0-at", "“8h75” is not a time of day"),
    ("id", "snv-2026-04", "f-id", "a cycle 'snv-2026-04' is already open"),
    ("id", "snv-2026-07", "f-id", "the cycle file sample-2026-07.yaml already has the id"),
    ("evaluators[0].evaluator", "", "f-evaluators-0-evaluator", "this row is half filled in"),
])
def test_bad_inputs_are_named_beside_their_field_and_nothing_is_saved(
        web: WebWorld, field: str, typed: str, where: str, says: str) -> None:
    admin = signed_in(web)
    fields = july(web, admin, op="save")
    fields[field] = typed
    page = admin.post(FORM, data=fields)
    assert page.status_code == 422, text_of(page.text)[:500]
    problems = errors_of(page.text)
    assert says in problems.get(where, ""), problems
    assert "Nothing was saved" in text_of(page.text)
    assert not (web.svc.settings.config_dir / "cycles" / "snv-2026-07-b.yaml").exists()


def test_a_deadline_before_its_phase_opens_and_a_late_reminder(web: WebWorld) -> None:
    admin = signed_in(web)
    fields = july(web, admin, op="check")
    fields["phases.self_assessment.opens"] = "05/08/2026 08:00"
    fields["phases.self_assessment.due.working_days"] = ""
    fields["phases.self_assessment.due"] = "04/08/2026 17:00"
    page = admin.post(FORM, data=fields)
    assert page.status_code == 422
    said = errors_of(page.text)["f-phases-self_assessment-due"]
    # In the form's own way of writing dates, as typed (not the file's ISO).
    assert "04/08/2026 17:00 is not after opens (05/08/2026 08:00)" in said
    # Said once, by the check that names opens (not again as phases out of order).
    assert "out of order" not in text_of(page.text) and said.count("not after opens") == 1
    # A reminder at 18:00 on the due day comes after a 17:00 deadline: a note beside it.
    fields = july(web, admin, op="check")
    fields["reminders[1].working_days_before"] = "0"
    fields["reminders[1].at"] = "18:00"
    page = admin.post(FORM, data=fields)
    assert page.status_code == 200
    assert "Note on reminders[1].at: 18:00 on the due day is not before the deadline" in \
        text_of(page.text)


@pytest.mark.parametrize(("changes", "where", "vi", "en"), [
    ({"phases.self_assessment.opens": "05/08/2026 08:00",
      "phases.self_assessment.due.working_days": "",
      "phases.self_assessment.due": "03/08/2026 17:00"}, "f-phases-self_assessment-due",
     "phases.self_assessment.due: 03/08/2026 17:00 không muộn hơn thời điểm mở "
     "(05/08/2026 08:00)",
     "phases.self_assessment.due: 03/08/2026 17:00 is not after opens (05/08/2026 08:00)"),
    ({"timezone": "Asia/Hanoi"}, "f-timezone",
     "timezone: không có múi giờ 'Asia/Hanoi'", "timezone: unknown time zone 'Asia/Hanoi'"),
    ({"peers.per_person": "11"}, "f-peers-per_person",
     "peers.per_person: không được quá 10",
     "peers.per_person: must be at most 10"),
    ({"id": "snv-2026-04"}, "f-id", "id: kỳ đánh giá 'snv-2026-04' đã được mở",
     "id: a cycle 'snv-2026-04' is already open"),
    ({"escalation[0].after_working_days": "9"}, "_form",
     "escalation: các bậc phải được liệt kê theo thứ tự diễn ra",
     "escalation: steps must be listed in the order they happen"),
])
def test_the_cycle_checks_words_are_said_in_the_pages_language(
        web: WebWorld, changes: dict[str, str], where: str, vi: str, en: str) -> None:
    admin = signed_in(web)
    for lang, says in (("vi", vi), ("en", en)):
        admin.cookies.set("kpi_lang", lang)
        fields = july(web, admin, op="check", **changes)
        page = admin.post(FORM, data=fields)
        assert page.status_code == 422, text_of(page.text)[:500]
        problems = errors_of(page.text)
        if where == "_form":  # a key of no one field: said in the summary at the top
            problems = {"_form": text_of(page.text.split('id="errors"')[1].split("</div>")[0])}
        assert says in problems.get(where, ""), (lang, problems)


def test_a_note_of_the_check_is_said_in_vietnamese_beside_its_field(web: WebWorld) -> None:
    admin = signed_in(web, lang="vi")
    fields = july(web, admin, op="check")
    fields["reminders[1].working_days_before"] = "0"
    fields["reminders[1].at"] = "18:00"
    page = admin.post(FORM, data=fields)
    assert page.status_code == 200
    assert "18:00 của ngày đến hạn không sớm hơn hạn chót (17:00)" in text_of(page.text)


def test_saving_writes_the_cycle_file_that_the_command_line_reads(web: WebWorld) -> None:
    admin = signed_in(web)
    fields = july(web, admin, op="save", name=HOSTILE)
    page = admin.post(FORM, data=fields)
    assert page.status_code == 200, text_of(page.text)[:500]
    assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text
    path = web.svc.settings.config_dir / "cycles" / "snv-2026-07-b.yaml"
    loaded = load_cycle(path)
    assert loaded.config.name == HOSTILE
    assert loaded.config == _config_of({**read_yaml(CONFIG / "cycles" / "sample-2026-07.yaml")
                                        .data, "id": "snv-2026-07-b", "name": HOSTILE})
    download = admin.get("/admin/cycles/file/snv-2026-07-b.yaml")
    assert download.status_code == 200 and download.text == path.read_text("utf-8")
    assert "attachment" in download.headers["content-disposition"]
    # Edited again: the file keeps its name, and its own id is no clash.
    edit = form_of(web, admin, "/admin/cycles/edit/snv-2026-07-b.yaml")
    assert edit["name"] == HOSTILE and edit["editing"] == "snv-2026-07-b.yaml"
    edit.update(op="save", **{"peers.per_person": "3"})
    assert admin.post(FORM, data=edit).status_code == 200
    assert load_cycle(path).config.peers.per_person == 3
    assert admin.get("/admin/cycles/file/..%2Fsettings.toml").status_code == 404


def test_add_a_row_posts_back_one_more_blank_row_keeping_what_was_typed(web: WebWorld) -> None:
    admin = signed_in(web)
    fields = july(web, admin, op="add:reminders")
    fields["name"] = "Đã gõ"
    n = int(fields["rows.reminders"])
    page = admin.post(FORM, data=fields)
    back = fields_of(page.text)
    assert back["rows.reminders"] == str(n + 1) and f"reminders[{n}].at" in back
    assert back["name"] == "Đã gõ"


def test_opening_asks_first_then_opens_the_saved_cycle_once(web: WebWorld) -> None:
    admin = signed_in(web)
    fields = july(web, admin, op="open")
    check = admin.post(FORM, data=fields)
    assert "Open the cycle Tháng 7/2026?" in text_of(check.text), text_of(check.text)[:500]
    assert cycles(web.svc) == 1
    carried = {unescape(k): unescape(v) for k, v in re.findall(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)">', check.text)}
    done = admin.post(FORM, data={**carried, "op": "confirm_open"})
    assert "Cycle snv-2026-07-b is open: 58 evaluations." in text_of(done.text)
    again = admin.post(FORM, data={**carried, "op": "confirm_open"})
    assert again.status_code == 409 and "is already open" in text_of(again.text)
    with web.svc.store.read() as s:
        assert s.execute(select(func.count()).select_from(EVALUATION)
                         .where(EVALUATION.c.cycle_id == "snv-2026-07-b")).scalar_one() == 58


def test_only_admins_see_the_pages_and_a_form_without_its_token_is_refused(
        web: WebWorld) -> None:
    staff = signed_in(web, "SNV004")
    assert staff.get("/admin/cycles").status_code == 403
    assert staff.get("/admin/series").status_code == 403
    admin = signed_in(web)
    fields = july(web, admin, op="save")
    fields["csrf_token"] = "forged"
    page = admin.post(FORM, data=fields)
    assert page.status_code == 403
    assert not (web.svc.settings.config_dir / "cycles" / "snv-2026-07-b.yaml").exists()
    assert web.client_for().get("/admin/cycles").status_code == 401


def test_the_series_page_opens_a_period_after_a_confirmation_and_schedules_the_rest(
        web: WebWorld) -> None:
    admin = signed_in(web)
    page = admin.get("/admin/series")
    text = text_of(page.text)
    assert "13 cycles" in text and "snv-2026-08" in text
    assert "Open since" in text  # snv-2026-04 is the sample cycle, open already
    token = web.csrf(admin, "/admin/series")
    ask = admin.post("/admin/series", data={"csrf_token": token, "op": "open",
                                            "file": "snv-2026.yaml", "period": "2026-06"})
    assert "Open the period 2026-06 of snv-2026.yaml now?" in text_of(ask.text)
    done = admin.post("/admin/series", data={"csrf_token": token, "op": "confirm_open",
                                             "file": "snv-2026.yaml", "period": "2026-06"})
    assert "Cycle snv-2026-06 is open: 58 evaluations." in text_of(done.text)
    ask = admin.post("/admin/series", data={"csrf_token": token, "op": "schedule",
                                            "file": "snv-2026.yaml"})
    assert "Let each period of snv-2026.yaml open on its date?" in text_of(ask.text)
    with web.svc.store.read() as s:
        assert s.execute(select(func.count()).select_from(SCHEDULED_OPEN)).scalar_one() == 0
    planned = admin.post("/admin/series", data={"csrf_token": token, "op": "confirm_schedule",
                                                "file": "snv-2026.yaml"})
    # July opened on 3 August: still to come on 20 July, like August to the year end.
    assert "7 periods will open on their dates." in text_of(planned.text)
    assert "Opens by itself at" in text_of(planned.text)
    bad = admin.post("/admin/series", data={"csrf_token": token, "op": "confirm_open",
                                            "file": "../cycles/x.yaml", "period": ""})
    assert bad.status_code == 404
