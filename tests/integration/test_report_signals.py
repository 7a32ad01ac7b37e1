"""The report page's fairness signals at most GAPS_SHOWN per gap kind, and the download
of all of them (signals.csv), through the web app on a real SQLite file.

The world, seeded once for the module: GOV (the province's admin, outside the cycle)
evaluates the director DIR; three heads H1-H3 each score 35 specialists S001-S105,
every one of whom self-assessed 23.5: 105 self-assessment gaps, more than the page
lists. S003 was scored exactly 89.995 (shown 89.99, "well completed"); S098-S105 50
(the smallest gaps, 26.5, all tied: the page keeps the three of them with the lowest
evaluation ids); the rest 91 to 100, "excellent" (units U1 and U2 nearly all one class:
signals of another kind). S001 is called "=1+1", S002 a name with markup and quotes.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import make_settings
from tests.integration.test_admin_files import score_payload
from tests.integration.test_reports import leader, self_of, specialist
from tests.support import World, at
from tests.web_support import WebWorld, make_web, text_of
from workflow.domain import Trigger
from workflow.reports import fairness
from workflow.reports.fairness import GAPS_SHOWN, SELF_GAP
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org
from workflow.store.db import Store
from workflow.store.tables import REPORT_FILE
from workflow.web.security import LANG_COOKIE

CYCLE_ID = "sig-2026-04"
CYCLE = f"""\
id: {CYCLE_ID}
name: "Signals <i>test</i> cycle"
period: {{kind: month, start: 2026-04-01, end: 2026-04-30}}
phases:
  self_assessment: {{opens: "2026-05-04 08:00", due: {{working_days: 3}}}}
  peer_input: {{due: {{working_days: 2}}}}
  supervisor_scoring: {{due: {{working_days: 3}}}}
  calibration: {{due: {{working_days: 3}}}}
  appeal_window: {{due: {{working_days: 5}}}}
  appeal_review: {{due: {{working_days: 10}}}}
peers: {{enabled: false}}
calibration: {{enabled: false}}
evaluators: {{DIR: GOV}}
"""
HEADER = ("employee_id,full_name,email,unit_id,unit_name,position,position_group,"
          "supervisor_id,task_group,locale,is_leader")
PEOPLE = 105
FORMULA = "=1+1"
MARKUP = '<b>"Bùi" O\'Brien</b>'
SELF = specialist((2, 2, 2), 1)  # 6 + 17.5 = 23.5
SMALLEST = range(98, 106)  # scored 50: a gap of 26.5


def _name(i: int) -> str:
    return {1: FORMULA, 2: MARKUP}.get(i, f"Chuyên viên {i}")


def _org() -> str:
    lines = [HEADER, "GOV,Chủ tịch Tỉnh,gov@x.vn,UB,Ủy ban,Chủ tịch,leader,,A,vi,true",
             "DIR,Giám đốc Sở,dir@x.vn,BGD,Ban Giám đốc,Giám đốc,leader,,A,vi,true"]
    for k in range(1, 4):
        lines.append(f"H{k},Trưởng phòng {k},h{k}@x.vn,U{k},Phòng {k},Trưởng phòng,leader,"
                     "DIR,A,vi,true")
    for i in range(1, PEOPLE + 1):
        name = _name(i).replace('"', '""')
        k = (i - 1) // 35 + 1
        lines.append(f'S{i:03d},"{name}",s{i}@x.vn,U{k},Phòng {k},Chuyên viên,specialist,'
                     f"H{k},C,{'en' if i % 2 else 'vi'},false")
    return "\n".join(lines) + "\n"


def _score(i: int) -> dict[str, object]:
    if i == 3:
        return score_payload()  # exactly 89.995
    if i in SMALLEST:
        return specialist((5, 5, 5), 2)  # 15 + 35 = 50
    p = 7 + i % 4
    return specialist((p, p, p), 4)  # 91 to 100


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, schema_template: Path) -> Iterator[WebWorld]:
    folder = tmp_path_factory.mktemp("signals")
    shutil.copy(schema_template, folder / "kpi.sqlite3")
    url = f"sqlite:///{folder / 'kpi.sqlite3'}"
    svc = Service(Store(url), make_settings(url, admins=("GOV",)))
    (folder / "org.csv").write_text(_org(), encoding="utf-8")
    (folder / "cycle.yaml").write_text(CYCLE, encoding="utf-8")
    import_org(svc, folder / "org.csv", now=at("2026-05-01 09:00"))
    open_cycle(svc, folder / "cycle.yaml", now=at("2026-05-02 10:00"))
    w = World(svc, CYCLE_ID)
    heads = {f"H{k}": leader((8, 8, 8), 2, 10) for k in range(1, 4)}
    for person, payload in [*((f"S{i:03d}", SELF) for i in range(1, PEOPLE + 1)),
                            *heads.items(), ("DIR", heads["H1"])]:
        w.fire(person, Trigger.SUBMIT_SELF_ASSESSMENT, person, self_of(payload))
    for i in range(1, PEOPLE + 1):
        k = (i - 1) // 35 + 1
        w.fire(f"S{i:03d}", Trigger.SUBMIT_SCORE, f"H{k}", _score(i), when="2026-05-06 09:00")
    for person, payload in heads.items():
        w.fire(person, Trigger.SUBMIT_SCORE, "DIR", payload, when="2026-05-06 10:00")
    w.fire("DIR", Trigger.SUBMIT_SCORE, "GOV", heads["H1"], when="2026-05-06 11:00")
    assert Decimal(w.row("S003")["score"]) == Decimal("89.995")
    made = make_web(w)
    made.clock.set("2026-05-07 09:00")
    yield made
    svc.store.dispose()


@pytest.fixture(scope="module")
def admin(web: WebWorld) -> TestClient:
    return web.sign_in("GOV")


def _ids(web: WebWorld) -> dict[str, int]:
    return web.world.ids()


def _left_out(web: WebWorld) -> list[str]:
    """The five of the tied smallest gaps the page leaves out: the highest ids."""
    ids = _ids(web)
    tied = sorted(ids[f"S{i:03d}"] for i in SMALLEST)
    return [str(e) for e in tied[GAPS_SHOWN - (PEOPLE - len(SMALLEST)):]]


def _signal(page: str, kind: str, subject: str) -> str:
    found = re.search(rf'<div class="signal" data-kind="{kind}" data-subject="{subject}">'
                      r"(.*?)</div>", page, re.S)
    assert found, (kind, subject)
    return found.group(1)


SAID = {
    "en": ("100 of 105 shown, the largest gaps first.", "Download all 105 (CSV",
           "self-assessed 23.50, supervisor 89.99: -66.49"),
    "vi": ("Hiển thị 100 trên tổng số 105, chênh lệch lớn nhất trước.",
           "Tải xuống đủ 105 dấu hiệu (CSV", "tự đánh giá 23,50, cấp trên chấm 89,99: -66,49"),
}


@pytest.mark.parametrize("lang", ["en", "vi"])
def test_the_report_page_lists_the_largest_gaps_says_how_many_and_links_to_all(
        web: WebWorld, admin: TestClient, lang: str) -> None:
    admin.cookies.set(LANG_COOKIE, lang)
    page = admin.get(f"/admin/cycle/{CYCLE_ID}/report")
    assert page.status_code == 200, text_of(page.text)[:500]
    html = page.text
    assert html.count('<div class="signal" data-kind="self_gap"') == GAPS_SHOWN == 100
    shown_line, link_text, figure = SAID[lang]
    said = text_of(html)
    assert shown_line in said and link_text in said
    link = f'href="/admin/cycle/{CYCLE_ID}/download/signals.csv"'
    assert html.count(link) == 2  # above the signals, and beside the count
    ids = _ids(web)
    subjects = re.findall(r'data-kind="self_gap" data-subject="(\d+)"', html)
    assert len(subjects) == 100 and set(subjects).isdisjoint(_left_out(web))
    assert subjects[0] in {str(ids[f"S{i:03d}"]) for i in range(1, 98) if i % 4 == 3}
    s003 = _signal(html, SELF_GAP, str(ids["S003"]))
    assert figure in text_of(s003) and "90" not in s003, s003
    # Names with markup and quotes are text on the page.
    assert "&lt;b&gt;&#34;Bùi&#34; O&#39;Brien&lt;/b&gt;" in html and MARKUP not in html
    assert f"{FORMULA} (S001)" in text_of(_signal(html, SELF_GAP, str(ids["S001"])))


@pytest.mark.parametrize("lang", ["en", "vi"])
def test_the_signals_download_has_every_signal_with_the_figures_shown(
        web: WebWorld, admin: TestClient, lang: str) -> None:
    admin.cookies.set(LANG_COOKIE, lang)
    page = admin.get(f"/admin/cycle/{CYCLE_ID}/report").text
    href = re.search(r'href="([^"]+/signals\.csv)"', page)
    assert href
    got = admin.get(href.group(1))
    assert got.status_code == 200, text_of(got.text)[:300]
    assert got.headers["content-type"] == "text/csv; charset=utf-8"
    assert got.headers["cache-control"] == "no-store"
    name = "fairness-signals" if lang == "en" else "dau-hieu-khach-quan"
    assert f'filename="{name}-{CYCLE_ID}.csv"' in got.headers["content-disposition"]
    assert got.content.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM, as the others
    header, *rows = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
    assert header[0] == ("Signal" if lang == "en" else "Dấu hiệu")
    col = {h: i for i, h in enumerate(header)}
    ids = _ids(web)
    gaps = [r for r in rows if r[1] == SELF_GAP]
    assert len(gaps) == PEOPLE
    assert sorted(int(r[2]) for r in gaps) == sorted(ids[f"S{i:03d}"]
                                                     for i in range(1, PEOPLE + 1))
    # In the page's order: the largest gap first, ties by evaluation id; the page's 100
    # are the file's first 100.
    gap_column = header[-1]
    key = [(-abs(Decimal(r[col[gap_column]])), int(r[2])) for r in gaps]
    assert key == sorted(key)
    listed = re.findall(r'data-kind="self_gap" data-subject="(\d+)"', page)
    assert [r[2] for r in gaps[:100]] == listed
    # Every signal of the cycle, of every kind: the same as the report's, all of them.
    every = fairness.signals(web.svc, CYCLE_ID, locale=lang)
    assert sorted((r[1], r[2]) for r in rows) == sorted((s.kind, s.subject_id)
                                                        for s in every.signals)
    assert len(rows) == len(every.signals) > PEOPLE
    assert {r[2] for r in rows if r[1] == fairness.SAME_CLASS} == {"U1", "U2"}
    s003 = next(r for r in gaps if r[2] == str(ids["S003"]))
    # The figures as the person's own page shows them: 89.995 is 89.99, the gap the
    # difference of the two figures shown.
    assert s003[-8:] == ["S003", _name(3), "H1", "Trưởng phòng 1", "23.50", "89.99", "",
                         "-66.49"]
    assert "89.995" not in got.content.decode("utf-8-sig")
    # A name a spreadsheet would run as a formula is text; markup and quotes come out as
    # they were typed.
    s001 = next(r for r in gaps if r[2] == str(ids["S001"]))
    assert s001[col[header[8]]] == f"'{FORMULA}" and s001[3].startswith(f"'{FORMULA} (S001)")
    s002 = next(r for r in gaps if r[2] == str(ids["S002"]))
    assert s002[8] == MARKUP and s002[3].startswith(f"{MARKUP} (S002)")


def test_the_signals_download_is_kept_for_the_cycle_state(
        web: WebWorld, admin: TestClient) -> None:
    path = f"/admin/cycle/{CYCLE_ID}/download/signals.csv"
    admin.cookies.set(LANG_COOKIE, "en")
    first = admin.get(path).content
    with web.svc.store.read() as s:
        kept = s.execute(select(REPORT_FILE.c.id).where(
            REPORT_FILE.c.artefact == "signals.csv", REPORT_FILE.c.locale == "en")).all()
    assert len(kept) == 1 and admin.get(path).content == first


def test_who_may_not_see_the_cycles_report_gets_no_signals(
        web: WebWorld, admin: TestClient) -> None:
    path = f"/admin/cycle/{CYCLE_ID}/download/signals.csv"
    head = web.sign_in("H1")  # a supervisor of the cycle, no admin
    for client, status in ((head, 403), (web.client_for(), 401)):
        got = client.get(path)
        assert got.status_code == status, got.status_code
        assert "S003" not in got.text and FORMULA not in got.text
    assert admin.get("/admin/cycle/no-such-cycle/download/signals.csv").status_code == 404
