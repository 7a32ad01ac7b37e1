"""Every route of the web app against every kind of person (issue 18 item 7): two agencies
in one database, whose admins cannot see each other's people.

The routes are read from the app itself: a route added without a line in ROUTES fails
``test_every_route_of_the_app_is_in_the_matrix``. For each case and each role the status
is asserted, and that nothing of the other agency's people (names, with their markup and
quotes, ids, email addresses) is in the answer; a POST refused, or a dry run, changes no
row of any table (the audit log included) and no configuration file, and an allowed one
changes something. Every POST route refuses a missing and a foreign CSRF token.

The world (tests/data/two_agencies_*): agency SNV (D1 heads BGD; H1 heads P1: S1..S4, A1)
and agency STC (F1 heads BTC; G1 heads P9: T1, T2 "Oliver O'Brien", E9). April's cycle
takes in both agencies; May's is SNV's alone. A1 administers SNV ("unit:BGD"), E9 STC
("unit:BTC"), H1 May's cycle only ("cycle:snv-2026-05"), UB1 the province (``admins``);
S3 is a civil servant of SNV, G1 a supervisor of STC; "revoked" is A1 signed in while
their grant is there, then served by the same deployment once the grant is taken out of
the settings. Two emails could not be delivered: S2's (SNV) and T2's (STC).

One world is seeded per module and store (SQLite, PostgreSQL), copied for each test.
"""

from __future__ import annotations

import io
import itertools
import re
import shutil
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import SQLModel
from starlette.routing import Mount, Route

from notifications.dispatcher import send_due
from notifications.testing import RecordingServer
from tests.conftest import PgDatabases, make_settings, pg_url
from tests.integration.test_web_admin_cycles import fields_of
from tests.support import CONFIG, DATA, TWO_AGENCY_SCOPES, World, _may, at
from tests.web_support import CSRF, Clock, score_fields, text_of
from workflow.domain import Trigger
from workflow.service import sessions
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org
from workflow.store.db import Store
from workflow.store.tables import EVALUATION, OUTBOX, REPORT_FILE
from workflow.web import create_app
from workflow.web.security import SESSION_COOKIE, SESSION_LIFETIME, Signer

APRIL, MAY = "two-2026-04", "snv-2026-05"
NOW = "2026-06-02 09:00"
SCOPES = (*TWO_AGENCY_SCOPES, ("H1", (f"cycle:{MAY}",)))
ROLES = ("UB1", "A1", "E9", "H1", "S3", "G1", "revoked", "anonymous")
PERSON_OF = {"revoked": "A1"}
# What each agency's people look like in a page, a CSV or a workbook: names (escaped
# and not), ids as a page or a file shows them, the agency's email addresses.
SNV_PEOPLE = ("D1", "H1", "S1", "S2", "S3", "S4", "A1")
STC_PEOPLE = ("F1", "G1", "T1", "T2", "E9")
SNV_WORDS = ("Nguyễn Thị Sở", "Lê Văn Hùng", "Phạm Thị Lan", "Hoàng Văn Nam", "Vũ Thị Mai",
             "Đỗ Minh Quân", "Trịnh Thu Hằng", "@snv.example.gov.vn")
STC_WORDS = ("Bùi", "Đinh Văn Giàu", "Tạ Thị Thu", "O'Brien", "O&#39;Brien", "Lương Thị Én",
             "@stc.example.gov.vn")
REFUSED_ADDRESSES = ("nam@snv.example.gov.vn", "obrien@stc.example.gov.vn")  # S2, T2


def words_of(people: tuple[str, ...], words: tuple[str, ...]) -> tuple[str, ...]:
    # (Not "ID" alone: a search box or a record form echoes the id typed, a workbook's
    # cells are addressed "F1", "G1"...)
    ids = tuple(f for p in people for f in (f">{p}<", f"({p})", f",{p},"))
    return words + ids


# What each role must never be shown. The province sees everyone; an admin of SNV (and
# of SNV's May cycle) nobody of STC; STC's admin and supervisor nobody of SNV. S3 and the
# revoked A1 are of SNV, and see nobody of STC (their own agency's names may be in their
# own pages: S3's name on their home page).
HIDDEN = {"UB1": (), "A1": words_of(STC_PEOPLE, STC_WORDS), "E9": words_of(SNV_PEOPLE, SNV_WORDS),
          "H1": words_of(STC_PEOPLE, STC_WORDS), "S3": words_of(STC_PEOPLE, STC_WORDS),
          "G1": words_of(SNV_PEOPLE, SNV_WORDS), "revoked": words_of(STC_PEOPLE, STC_WORDS),
          "anonymous": words_of(STC_PEOPLE, STC_WORDS) + words_of(SNV_PEOPLE, SNV_WORDS)}


# --- the seeded world --------------------------------------------------------------------


@dataclass
class Seed:
    url: str  # of the seeded database, copied per test
    config: Path
    settings: Any
    cookies: dict[str, str]  # person -> the cookie of their session in the seed
    pg: PgDatabases | None


def _config(folder: Path) -> Path:
    """Regimes and frameworks; July's cycle files of each agency, not opened; STC's
    quarterly series."""
    config = folder / "config"
    for part in ("regimes", "frameworks"):
        shutil.copytree(CONFIG / part, config / part)
    (config / "cycles").mkdir()
    (config / "series").mkdir()
    base = (DATA / "two_agencies_cycle.yaml").read_text("utf-8")
    for name, units in (("snv", "BGD, P1"), ("stc", "BTC, P9")):
        own = "D1: UB1" if name == "snv" else "F1: UB1"  # the head of the agency alone
        text = _may(base, units, f"{name}-2026-07").replace("May 2026", "July 2026") \
            .replace("evaluators: {D1: UB1, F1: UB1}", f"evaluators: {{{own}}}") \
            .replace("start: 2026-05-01, end: 2026-05-31", "start: 2026-07-01, end: 2026-07-31") \
            .replace('"2026-06-01 08:00"', '"2026-08-03 08:00"')
        (config / "cycles" / f"{name}-2026-07.yaml").write_text(text, encoding="utf-8")
    shutil.copy(DATA / "two_agencies_series.yaml", config / "series" / "stc-2026.yaml")
    return config


def _seed(svc: Service, smtp: RecordingServer, folder: Path) -> None:
    import_org(svc, DATA / "two_agencies_org.csv", now=at("2026-05-01 09:00"))
    open_cycle(svc, DATA / "two_agencies_cycle.yaml", now=at("2026-05-02 10:00"))
    may = folder / f"{MAY}.yaml"
    may.write_text(_may((DATA / "two_agencies_cycle.yaml").read_text("utf-8"), "BGD, P1", MAY),
                   encoding="utf-8")
    open_cycle(svc, may, now=at("2026-05-25 10:00"))
    april = World(svc, APRIL)
    # T1 waits for G1's score; S4's result is final (April), for a reopening.
    april.submit_self("T1")
    april.submit_self("S4")
    april.score("S4", when="2026-05-12 09:00")
    april.fire("S4", Trigger.ACCEPT_RESULT, "S4", when="2026-05-13 09:00")
    for address in REFUSED_ADDRESSES:
        smtp.script.rcpt_replies[address] = ["550 5.1.1 no such mailbox"]
    assert send_due(svc, now=at("2026-06-01 08:00")).dead >= 2


@pytest.fixture(scope="module")
def smtp() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


_NAMES = itertools.count()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql",
                                                                marks=pytest.mark.postgres)])
def seed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         schema_template: Path, smtp: RecordingServer) -> Iterator[Seed]:
    folder = tmp_path_factory.mktemp("scope-routes")
    pg: PgDatabases | None = None
    if request.param == "postgresql":
        pg = request.getfixturevalue("pg_databases")
        url = pg_url(pg.create())
    else:
        shutil.copy(schema_template, folder / "seed.sqlite3")
        url = f"sqlite:///{folder / 'seed.sqlite3'}"
    config = _config(folder)
    settings = replace(make_settings(url, admins=("UB1",), admin_scope=SCOPES,
                                     smtp_port=smtp.port), config_dir=config)
    svc = Service(Store(url), settings)
    _seed(svc, smtp, folder)
    signer = Signer(settings.secret_key)
    cookies = {}
    for person in sorted({PERSON_OF.get(r, r) for r in ROLES if r != "anonymous"}):
        cookies[person] = signer.session(person, sessions.start(
            svc, person, SESSION_LIFETIME, now=at(NOW)))
    svc.store.dispose()  # a PostgreSQL template is copied with no one connected
    yield Seed(url, config, settings, cookies, pg)
    if pg is not None:
        pg.drop(url.rsplit("/", 1)[1])


# --- a copy of it per test -----------------------------------------------------------------


@dataclass
class Copy:
    """A copy of the seeded world, the app on it, and one browser per role."""

    svc: Service
    app: Any
    revoked_app: Any  # the same deployment once A1's grant is out of the settings
    cookies: dict[str, str]
    clients: dict[str, TestClient] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def ev(self, cycle_id: str, reviewee: str) -> int:
        return World(self.svc, cycle_id).ev(reviewee)

    def evs(self, cycle_id: str, unit_id: str) -> str:
        """The ids of the open evaluations of a unit, as a bulk confirmation posts them."""
        with self.svc.store.read() as s:
            ids = s.execute(select(EVALUATION.c.id).where(
                EVALUATION.c.cycle_id == cycle_id, EVALUATION.c.unit_id == unit_id,
                EVALUATION.c.state == "self_assessment").order_by(EVALUATION.c.id)).scalars()
            return ",".join(str(i) for i in ids)

    def dead_letter(self, address: str) -> int:
        with self.svc.store.read() as s:
            return int(s.execute(select(OUTBOX.c.id).where(
                OUTBOX.c.recipient_email == address, OUTBOX.c.status == "dead")
                .order_by(OUTBOX.c.id)).scalars().first() or 0)

    def client(self, role: str) -> TestClient:
        """The browser of ``role``: signed in (a session of the seed) but for anonymous,
        with a CSRF token got from a page the way a browser gets one. The revoked admin
        got theirs while the grant was there; their requests then go to the deployment
        without it."""
        if role in self.clients:
            return self.clients[role]
        client = TestClient(self.app, base_url="http://kpi.test", follow_redirects=False)
        if role != "anonymous":
            client.cookies.set(SESSION_COOKIE, self.cookies[PERSON_OF.get(role, role)])
        page = client.get("/sign-in" if role == "anonymous" else "/")
        match = CSRF.search(page.text)
        assert match, (role, page.status_code)
        self.tokens[role] = match.group(1)
        if role == "revoked":
            assert client.get("/admin").status_code == 200  # the grant was there
            moved = TestClient(self.revoked_app, base_url="http://kpi.test",
                               follow_redirects=False)
            moved.cookies.update(client.cookies)
            client = moved
        self.clients[role] = client
        return client

    def token(self, role: str) -> str:
        self.client(role)
        return self.tokens[role]


def _copy_database(seed: Seed) -> str:
    if seed.pg is not None:
        template = seed.url.rsplit("/", 1)[1]
        name = f"{seed.pg.prefix}_scope{next(_NAMES)}"
        seed.pg.admin.execute(f"CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY")
        return pg_url(name)
    path = Path(seed.url.removeprefix("sqlite:///")).with_name(f"copy{next(_NAMES)}.sqlite3")
    shutil.copy(seed.url.removeprefix("sqlite:///"), path)
    return f"sqlite:///{path}"


@pytest.fixture
def copies(seed: Seed, tmp_path: Path) -> Iterator[Callable[[], Copy]]:
    """Make copies of the seeded world (several per test: one per role that changes it)."""
    made: list[Copy] = []

    def make() -> Copy:
        url = _copy_database(seed)
        config = tmp_path / f"config{len(made)}"
        shutil.copytree(seed.config, config)
        settings = replace(seed.settings, database_url=url, config_dir=config)
        svc = Service(Store(url), settings)
        revoked = Service(svc.store, replace(settings, admin_scope=tuple(
            (p, g) for p, g in SCOPES if p != "A1")))
        clock = Clock()
        clock.set(NOW)
        copy = Copy(svc, create_app(svc, clock=clock), create_app(revoked, clock=clock),
                    seed.cookies)
        made.append(copy)
        return copy

    yield make
    for copy in made:
        url = copy.svc.settings.database_url
        copy.svc.store.dispose()
        if seed.pg is not None:
            seed.pg.drop(url.rsplit("/", 1)[1])
        else:
            Path(url.removeprefix("sqlite:///")).unlink()


# --- what is compared -----------------------------------------------------------------------


def snapshot(copy: Copy) -> dict[str, Any]:
    """Every row of every table (the audit log and the outbox included) and every file of
    the configuration folder: what a refused request must leave as it was."""
    out: dict[str, Any] = {}
    with copy.svc.store.read() as s:
        for table in SQLModel.metadata.sorted_tables:
            out[table.name] = sorted(repr(tuple(r)) for r in s.execute(select(table)))
    folder = copy.svc.settings.config_dir
    out["config"] = {str(p.relative_to(folder)): p.read_bytes()
                     for p in sorted(folder.rglob("*")) if p.is_file()}
    return out


def changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [k for k in before if before[k] != after[k]]


def shown(response: Any) -> str:
    """What an answer shows: its body (a workbook's sheets unzipped; a PDF's text is
    compressed, and is the HTML report's, checked as HTML) and its headers (a file's name
    carries a person's)."""
    headers = " ".join(f"{k}: {v}" for k, v in response.headers.items())
    body: bytes = response.content
    if body.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(body)) as book:
            return headers + " ".join(book.read(n).decode("utf-8", "replace")
                                      for n in book.namelist())
    if body.startswith(b"%PDF"):
        return headers
    return headers + " " + body.decode("utf-8", "replace")


def leaked(role: str, response: Any, case: Case) -> list[str]:
    """What the answer shows that ``role`` must not see; and what it must show them and
    does not (the check itself would pass on pages that name nobody)."""
    text = shown(response)
    wrong = [w for w in HIDDEN[role] if w in text and w not in case.typed]
    return wrong + [f"missing {w}" for r, w in SHOWN.get(case.name, ())
                    if r == role and w not in text]


# --- the matrix ---------------------------------------------------------------------------

Fields = Callable[[Copy], dict[str, str]]


@dataclass(frozen=True)
class Case:
    """One request: the route it reaches (the app's own path), the concrete path, and per
    role (ROLES' order) the status; "w": it writes (any other answer writes nothing)."""

    name: str
    method: str
    route: str
    path: Callable[[Copy], str]
    expect: str
    fields: Fields | None = None
    files: Callable[[Copy], dict[str, tuple[str, bytes, str]]] | None = None
    # Run by the province admin before the request (a staged upload); its fields added.
    prepare: Fields | None = None
    typed: tuple[str, ...] = ()  # what the request itself says, and the answer repeats

    def statuses(self) -> dict[str, tuple[int, bool]]:
        said = self.expect.split()
        assert len(said) == len(ROLES), self.name
        return {r: (int(e.rstrip("w")), e.endswith("w")) for r, e in zip(ROLES, said,
                                                                       strict=True)}


def _path(text: str) -> Callable[[Copy], str]:
    return lambda _c: text


def _ev(cycle_id: str, person: str, tail: str) -> Callable[[Copy], str]:
    return lambda c: f"/e/{c.ev(cycle_id, person)}{tail}"


def _admin_ev(cycle_id: str, person: str) -> Callable[[Copy], str]:
    return lambda c: f"/admin/e/{c.ev(cycle_id, person)}"


def _act(op: str, **fields: str) -> Fields:
    return lambda _c: {"op": op, **fields}


UNTIL = "2026-06-20 17:00"
EXTEND = _act("extend", new_due=UNTIL, extend_reason="ốm <b>dài</b>", approved_by="UB1")
ORG_MOVE = (DATA / "two_agencies_org.csv").read_text("utf-8").replace(
    "P9,Phòng Ngân sách,Trưởng phòng,leader,F1,", "P9,Phòng Ngân sách,Trưởng phòng,leader,H1,")
SERIES_2027 = (DATA / "two_agencies_series.yaml").read_text("utf-8") \
    .replace("stc-2026", "stc-2027").replace("year: 2026", "year: 2027")


def _cycle_form(name: str, op: str) -> Fields:
    def fields(c: Copy) -> dict[str, str]:
        page = c.client("UB1").get(f"/admin/cycles/edit/{name}")
        assert page.status_code == 200, text_of(page.text)[:300]
        got = fields_of(page.text)
        got.update({"op": op, "name": "Tháng 7 <b>\"đổi\"</b>"})
        return got
    return fields


def _bulk(op: str, **values: str) -> Fields:
    def fields(c: Copy) -> dict[str, str]:
        got = {"op": op, **{f"{op}.{k}": v for k, v in values.items() if k != "ids"}}
        if "ids" in values:
            got["ids"] = c.evs(APRIL, values["ids"])
        return got
    return fields


def _staged_org(c: Copy) -> dict[str, str]:
    page = c.client("UB1").post("/admin/org/preview", data={"csrf_token": c.token("UB1")},
                                files={"organisation": ("org.csv", ORG_MOVE.encode(),
                                                        "text/csv")})
    assert page.status_code == 200, text_of(page.text)[:500]
    found = re.search(r'name="upload" value="([^"]+)"', page.text)
    assert found
    return {"upload": found.group(1)}


# Roles:       UB1  A1   E9   H1   S3   G1   revoked anonymous
ADMINS_ALL = "200 200 200 200 403 403 403 401"
PROVINCE_ONLY = "200 403 403 403 403 403 403 401"
NOBODY = "403 403 403 403 403 403 403 401"
CASES: tuple[Case, ...] = (
    # Public and personal routes.
    Case("health", "GET", "/healthz", _path("/healthz"), "200 200 200 200 200 200 200 200"),
    Case("ready", "GET", "/readyz", _path("/readyz"), "200 200 200 200 200 200 200 200"),
    Case("home", "GET", "/", _path("/"), "200 200 200 200 200 200 200 200"),
    Case("language", "GET", "/lang/{locale}", _path("/lang/en?next=/admin"),
         "303 303 303 303 303 303 303 303"),
    Case("sign-in form", "GET", "/sign-in", _path("/sign-in"),
         "200 200 200 200 200 200 200 200"),
    Case("sign-in", "POST", "/sign-in", _path("/sign-in"),
         "200w 200w 200w 200w 200w 200w 200w 200w",
         fields=lambda _c: {"email": "hung@snv.example.gov.vn"},
         typed=("@snv.example.gov.vn",)),
    Case("sign-out", "POST", "/sign-out", _path("/sign-out"),
         "303w 303w 303w 303w 303w 303w 303w 303"),
    Case("team", "GET", "/team", _path("/team"), "200 200 200 200 200 200 200 401"),
    Case("score page", "GET", "/e/{evaluation_id}/score", _ev(APRIL, "T1", "/score"),
         "403 403 403 403 403 200 403 401"),
    Case("score", "POST", "/e/{evaluation_id}/score", _ev(APRIL, "T1", "/score"),
         "403 403 403 403 403 200w 403 401",
         fields=lambda c: {**score_fields(World(c.svc, APRIL).framework("T1")), "op": "submit"}),
    Case("appeal page", "GET", "/e/{evaluation_id}/appeal", _ev(APRIL, "S2", "/appeal"), NOBODY),
    Case("appeal", "POST", "/e/{evaluation_id}/appeal", _ev(APRIL, "S2", "/appeal"), NOBODY,
         fields=_act("uphold", reason="x")),
    Case("calibration page", "GET", "/calibration/{cycle_id}", _path(f"/calibration/{APRIL}"),
         NOBODY),
    Case("calibration approval", "POST", "/calibration/{cycle_id}",
         _path(f"/calibration/{APRIL}"), NOBODY, fields=_act("approve")),
    Case("task link", "GET", "/t/{token}", _path("/t/forged-token"),
         "404 404 404 404 404 404 404 404"),
    Case("task link post", "POST", "/t/{token}", _path("/t/forged-token"),
         "404 404 404 404 404 404 404 404", fields=_act("submit")),
    Case("publication file", "GET", "/t/{token}/results.csv",
         _path("/t/forged-token/results.csv"), "404 404 404 404 404 404 404 404"),
    # The admin console: pages.
    Case("dashboard", "GET", "/admin", _path("/admin"), ADMINS_ALL),
    Case("search T2", "GET", "/admin", _path("/admin?q=T2"), ADMINS_ALL),
    Case("search Lan", "GET", "/admin", _path("/admin?q=lan"), ADMINS_ALL),
    Case("evaluation S2 April", "GET", "/admin/e/{evaluation_id}", _admin_ev(APRIL, "S2"),
         "200 200 403 403 403 403 403 401"),
    Case("evaluation T2 April", "GET", "/admin/e/{evaluation_id}", _admin_ev(APRIL, "T2"),
         "200 403 200 403 403 403 403 401"),
    Case("evaluation S2 May", "GET", "/admin/e/{evaluation_id}", _admin_ev(MAY, "S2"),
         "200 200 403 200 403 403 403 401"),
    Case("report April", "GET", "/admin/cycle/{cycle_id}/report",
         _path(f"/admin/cycle/{APRIL}/report"), "200 403 403 403 403 403 403 401"),
    Case("report May", "GET", "/admin/cycle/{cycle_id}/report",
         _path(f"/admin/cycle/{MAY}/report"), "200 200 403 200 403 403 403 401"),
    Case("report of no cycle", "GET", "/admin/cycle/{cycle_id}/report",
         _path("/admin/cycle/no-such-cycle/report"), "404 404 404 404 403 403 403 401"),
    Case("exports of no cycle", "GET", "/admin/cycle/{cycle_id}/exports",
         _path("/admin/cycle/no-such-cycle/exports"), "404 404 404 404 403 403 403 401"),
    Case("exports April", "GET", "/admin/cycle/{cycle_id}/exports",
         _path(f"/admin/cycle/{APRIL}/exports"), "200 403 403 403 403 403 403 401"),
    Case("exports May", "GET", "/admin/cycle/{cycle_id}/exports",
         _path(f"/admin/cycle/{MAY}/exports"), "200 200 403 200 403 403 403 401"),
    *(Case(f"download April {a}", "GET", "/admin/cycle/{cycle_id}/download/{artefact}",
           _path(f"/admin/cycle/{APRIL}/download/{a}"), "200 403 403 403 403 403 403 401")
      for a in ("report.xlsx", "report.csv", "report.html", "report.pdf",
                "list-not-completed.csv", "list-excellent.csv", "list-training.csv",
                "signals.csv")),
    *(Case(f"download May {a}", "GET", "/admin/cycle/{cycle_id}/download/{artefact}",
           _path(f"/admin/cycle/{MAY}/download/{a}"), "200 200 403 200 403 403 403 401")
      for a in ("report.xlsx", "report.csv", "report.html", "list-excellent.csv",
                "signals.csv")),
    Case("record S2", "GET", "/admin/cycle/{cycle_id}/record",
         _path(f"/admin/cycle/{MAY}/record?person=S2&format=html"),
         "200 200 403 200 403 403 403 401"),
    Case("record T2", "GET", "/admin/cycle/{cycle_id}/record",
         _path(f"/admin/cycle/{MAY}/record?person=T2&format=html"),
         "200 403 200 422 403 403 403 401"),
    Case("record T2 pdf", "GET", "/admin/cycle/{cycle_id}/record",
         _path(f"/admin/cycle/{APRIL}/record?person=T2&format=pdf"),
         "200 403 200 403 403 403 403 401"),
    Case("dead letters", "GET", "/admin/dead-letters.csv", _path("/admin/dead-letters.csv"),
         "200 200 200 200 403 403 403 401"),
    Case("bulk page", "GET", "/admin/bulk", _path("/admin/bulk"), ADMINS_ALL),
    Case("org page", "GET", "/admin/org", _path("/admin/org"), PROVINCE_ONLY),
    Case("cycle files", "GET", "/admin/cycles", _path("/admin/cycles"),
         "200 200 200 403 403 403 403 401"),
    Case("new cycle", "GET", "/admin/cycles/new", _path("/admin/cycles/new"),
         "200 200 200 403 403 403 403 401"),
    Case("copy STC's cycle", "GET", "/admin/cycles/new",
         _path("/admin/cycles/new?copy=stc-2026-07.yaml"), "200 403 200 403 403 403 403 401"),
    Case("edit SNV's cycle", "GET", "/admin/cycles/edit/{name}",
         _path("/admin/cycles/edit/snv-2026-07.yaml"), "200 200 403 403 403 403 403 401"),
    Case("STC's cycle file", "GET", "/admin/cycles/file/{name}",
         _path("/admin/cycles/file/stc-2026-07.yaml"), "200 403 200 403 403 403 403 401"),
    Case("series page", "GET", "/admin/series", _path("/admin/series"),
         "200 200 200 403 403 403 403 401"),
    # The admin console: actions on one evaluation.
    Case("extend S2 April", "POST", "/admin/e/{evaluation_id}", _admin_ev(APRIL, "S2"),
         "200w 200w 403 403 403 403 403 401", fields=EXTEND),
    Case("extend S2 May", "POST", "/admin/e/{evaluation_id}", _admin_ev(MAY, "S2"),
         "200w 200w 403 200w 403 403 403 401", fields=EXTEND),
    Case("extend T2 April", "POST", "/admin/e/{evaluation_id}", _admin_ev(APRIL, "T2"),
         "200w 403 200w 403 403 403 403 401", fields=EXTEND),
    Case("reassign S2 to D1", "POST", "/admin/e/{evaluation_id}", _admin_ev(APRIL, "S2"),
         "200w 200w 403 403 403 403 403 401",
         fields=_act("reassign_supervisor", new_supervisor="D1",
                     reassign_supervisor_reason="chuyển")),
    Case("reassign S2 to G1", "POST", "/admin/e/{evaluation_id}", _admin_ev(MAY, "S2"),
         "200w 403 403 403 403 403 403 401",
         fields=_act("reassign_supervisor", new_supervisor="G1",
                     reassign_supervisor_reason="chuyển")),
    Case("reassign a peer of S2", "POST", "/admin/e/{evaluation_id}", _admin_ev(APRIL, "S2"),
         "422 422 403 403 403 403 403 401",
         fields=_act("reassign_peer", old_peer="S3", new_peer="S1",
                     reassign_peer_reason="x")),
    Case("cancel S2 (asks first)", "POST", "/admin/e/{evaluation_id}", _admin_ev(APRIL, "S2"),
         "200 200 403 403 403 403 403 401", fields=_act("cancel", cancel_reason="chuyển đi")),
    Case("cancel S2", "POST", "/admin/e/{evaluation_id}", _admin_ev(APRIL, "S2"),
         "200w 200w 403 403 403 403 403 401",
         fields=_act("confirm_cancel", cancel_reason="chuyển đi")),
    Case("reopen S4", "POST", "/admin/e/{evaluation_id}", _admin_ev(APRIL, "S4"),
         "200w 200w 403 403 403 403 403 401", fields=_act("reopen", reopen_reason="sai sót")),
    Case("resend T2's task", "POST", "/admin/e/{evaluation_id}", _admin_ev(APRIL, "T2"),
         "200w 403 200w 403 403 403 403 401", fields=_act("resend")),
    Case("delegate H1 to D1 April", "POST", "/admin/cycle/{cycle_id}/delegate",
         _path(f"/admin/cycle/{APRIL}/delegate"), "200w 200w 403 403 403 403 403 401",
         fields=lambda _c: {"supervisor": "H1", "acting": "D1", "until": UNTIL,
                            "reason": "nghỉ phép"}),
    Case("delegate H1 to D1 May", "POST", "/admin/cycle/{cycle_id}/delegate",
         _path(f"/admin/cycle/{MAY}/delegate"), "200w 200w 403 200w 403 403 403 401",
         fields=lambda _c: {"supervisor": "H1", "acting": "D1", "until": UNTIL,
                            "reason": "nghỉ phép"}),
    Case("delegate H1 to G1 May", "POST", "/admin/cycle/{cycle_id}/delegate",
         _path(f"/admin/cycle/{MAY}/delegate"), "200w 403 403 403 403 403 403 401",
         fields=lambda _c: {"supervisor": "H1", "acting": "G1", "until": UNTIL,
                            "reason": "nghỉ phép"}),
    Case("resend S2's dead letter", "POST", "/admin/outbox/{outbox_id}/resend",
         lambda c: f"/admin/outbox/{c.dead_letter(REFUSED_ADDRESSES[0])}/resend",
         "200w 200w 403 403 403 403 403 401"),
    Case("resend T2's dead letter", "POST", "/admin/outbox/{outbox_id}/resend",
         lambda c: f"/admin/outbox/{c.dead_letter(REFUSED_ADDRESSES[1])}/resend",
         "200w 403 200w 403 403 403 403 401"),
    Case("end S3's sessions", "POST", "/admin/sessions/revoke", _path("/admin/sessions/revoke"),
         "200w 200w 403 200w 403 403 403 401",
         fields=lambda _c: {"revoke.person": "S3", "revoke.reason": "mất máy"}),
    Case("end T2's sessions", "POST", "/admin/sessions/revoke", _path("/admin/sessions/revoke"),
         "200w 403 200w 403 403 403 403 401",
         fields=lambda _c: {"revoke.person": "T2", "revoke.reason": "mất máy"}),
    # Cycle files and series.
    Case("check SNV's July", "POST", "/admin/cycles/form", _path("/admin/cycles/form"),
         "200 200 403 403 403 403 403 401", fields=_cycle_form("snv-2026-07.yaml", "check")),
    Case("save SNV's July", "POST", "/admin/cycles/form", _path("/admin/cycles/form"),
         "200w 200w 403 403 403 403 403 401", fields=_cycle_form("snv-2026-07.yaml", "save")),
    Case("save STC's July", "POST", "/admin/cycles/form", _path("/admin/cycles/form"),
         "200w 403 200w 403 403 403 403 401", fields=_cycle_form("stc-2026-07.yaml", "save")),
    Case("open SNV's July", "POST", "/admin/cycles/form", _path("/admin/cycles/form"),
         "200w 200w 403 403 403 403 403 401",
         fields=_act("confirm_open", file="snv-2026-07.yaml", editing="snv-2026-07.yaml")),
    Case("upload STC's 2027 series", "POST", "/admin/series/upload",
         _path("/admin/series/upload"), "200w 403 200w 403 403 403 403 401",
         fields=lambda _c: {},
         files=lambda _c: {"series_file": ("stc-2027.yaml", SERIES_2027.encode(),
                                           "application/yaml")}),
    Case("open STC's Q1 (asks first)", "POST", "/admin/series", _path("/admin/series"),
         "200 403 200 403 403 403 403 401", fields=_act("open", file="stc-2026.yaml",
                                                        period="2026-q1")),
    Case("open STC's Q1", "POST", "/admin/series", _path("/admin/series"),
         "200w 403 200w 403 403 403 403 401",
         fields=_act("confirm_open", file="stc-2026.yaml", period="2026-q1")),
    Case("schedule STC's series", "POST", "/admin/series", _path("/admin/series"),
         "200w 403 200w 403 403 403 403 401",
         fields=_act("confirm_schedule", file="stc-2026.yaml")),
    # The organisation: G1 (STC) moved under H1 (SNV): across agencies.
    Case("org preview", "POST", "/admin/org/preview", _path("/admin/org/preview"),
         "200w 403 403 403 403 403 403 401", fields=lambda _c: {},
         files=lambda _c: {"organisation": ("org.csv", ORG_MOVE.encode(), "text/csv")}),
    Case("org apply", "POST", "/admin/org/apply", _path("/admin/org/apply"),
         "200w 403 403 403 403 403 403 401", fields=lambda _c: {}, prepare=_staged_org),
    # Bulk actions: dry runs write nothing; P1 is SNV's, so STC's admin is refused it.
    Case("bulk extend P1 (dry run)", "POST", "/admin/bulk/preview", _path("/admin/bulk/preview"),
         "200 200 403 403 403 403 403 401",
         fields=_bulk("extend", cycle=APRIL, phase="self_assessment", unit="P1",
                      new_due="20/06/2026", reason="lễ")),
    Case("bulk extend all (dry run)", "POST", "/admin/bulk/preview",
         _path("/admin/bulk/preview"), "200 200 200 403 403 403 403 401",
         fields=_bulk("extend", cycle=APRIL, phase="self_assessment", new_due="20/06/2026",
                      reason="lễ")),
    Case("bulk extend P1", "POST", "/admin/bulk/apply", _path("/admin/bulk/apply"),
         "200w 200w 403 403 403 403 403 401",
         fields=_bulk("extend", cycle=APRIL, phase="self_assessment", unit="P1",
                      new_due="20/06/2026", reason="lễ", ids="P1")),
    Case("bulk extend all, P1's ids", "POST", "/admin/bulk/apply", _path("/admin/bulk/apply"),
         "200w 200w 403 403 403 403 403 401",
         fields=_bulk("extend", cycle=APRIL, phase="self_assessment", new_due="20/06/2026",
                      reason="lễ", ids="P1")),
    Case("bulk resend P1 (dry run)", "POST", "/admin/bulk/preview", _path("/admin/bulk/preview"),
         "200 200 403 403 403 403 403 401", fields=_bulk("resend", cycle=APRIL, unit="P1")),
    Case("bulk resend P1", "POST", "/admin/bulk/apply", _path("/admin/bulk/apply"),
         "200w 200w 403 403 403 403 403 401",
         fields=_bulk("resend", cycle=APRIL, unit="P1", ids="P1")),
    Case("bulk reassign H1's (dry run)", "POST", "/admin/bulk/preview",
         _path("/admin/bulk/preview"), "200 200 403 403 403 403 403 401",
         fields=_bulk("reassign", cycle=APRIL, departing="H1", new_supervisor="D1",
                      reason="nghỉ hưu")),
    Case("bulk reassign H1's", "POST", "/admin/bulk/apply", _path("/admin/bulk/apply"),
         "200w 200w 403 403 403 403 403 401",
         fields=_bulk("reassign", cycle=APRIL, departing="H1", new_supervisor="D1",
                      reason="nghỉ hưu", ids="P1")),
)
# What some answers must show (role, words): the leak checks above mean something only
# if the pages and files do name people.
SHOWN: dict[str, tuple[tuple[str, str], ...]] = {
    "dashboard": (("A1", "Phòng Một"), ("E9", "Phòng Ngân sách"), ("UB1", "Phòng Ngân sách")),
    "search T2": (("UB1", "O&#39;Brien"), ("E9", "O&#39;Brien")),
    "search Lan": (("UB1", "Phạm Thị Lan"), ("A1", "Phạm Thị Lan"), ("H1", "Phạm Thị Lan")),
    "evaluation T2 April": (("E9", "O&#39;Brien"),),
    "download April report.csv": (("UB1", "O'Brien"), ("UB1", "Phạm Thị Lan")),
    "download April report.xlsx": (("UB1", "O'Brien"), ("UB1", "Phạm Thị Lan")),
    "download May report.xlsx": (("A1", "Phạm Thị Lan"), ("H1", "Phạm Thị Lan")),
    "download May report.html": (("A1", "Phòng Một"),),
    "record S2": (("A1", "Hoàng Văn Nam"),),
    "record T2": (("E9", "O&#39;Brien"),),
    "dead letters": (("UB1", REFUSED_ADDRESSES[0]), ("UB1", REFUSED_ADDRESSES[1]),
                     ("A1", REFUSED_ADDRESSES[0]), ("E9", REFUSED_ADDRESSES[1])),
    "bulk extend all (dry run)": (("A1", "Phạm Thị Lan"), ("E9", "O&#39;Brien")),
}
GETS = [c for c in CASES if c.method == "GET"]
POSTS = [c for c in CASES if c.method == "POST"]


def app_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every route of the app, those of its included routers too."""
    def walk(routes: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
        for route in routes:
            if hasattr(route, "original_router"):  # FastAPI's included router
                yield from walk(route.original_router.routes,
                                prefix + route.include_context.prefix)
            elif isinstance(route, Route):
                for method in sorted((route.methods or set()) - {"HEAD"}):
                    yield method, prefix + route.path
            elif not isinstance(route, Mount):  # /static: files, no data
                raise AssertionError(f"a route of an unknown kind: {route!r}")
    return set(walk(app.routes))


def test_every_route_of_the_app_is_in_the_matrix(copies: Callable[[], Copy]) -> None:
    """A route added to the app without a case here fails: decide who may use it."""
    routes = app_routes(copies().app)
    assert len(routes) > 40
    covered = {(c.method, c.route) for c in CASES}
    assert routes - covered == set(), "routes without a case in CASES"
    assert covered - routes == set(), "cases of routes the app does not have"


def _request(copy: Copy, case: Case, role: str, *, token: str | None = "own") -> Any:
    client = copy.client(role)
    path = case.path(copy)
    if case.method == "GET":
        return client.get(path)
    fields = dict(case.fields(copy)) if case.fields else {}
    if token == "own":
        fields["csrf_token"] = copy.token(role)
    elif token is not None:
        fields["csrf_token"] = token
    else:
        fields.pop("csrf_token", None)
    files = case.files(copy) if case.files else None
    return client.post(path, data=fields, files=files)


def test_every_page_and_download_shows_each_role_only_their_agencies(
        copies: Callable[[], Copy]) -> None:
    copy = copies()
    wrong: list[str] = []
    for case in GETS:
        for role, (status, _writes) in case.statuses().items():
            got = _request(copy, case, role)
            if got.status_code != status:
                wrong.append(f"{case.name} / {role}: {got.status_code}, not {status}: "
                             f"{text_of(got.text)[:160]}")
            found = leaked(role, got, case)
            if found:
                wrong.append(f"{case.name} / {role}: shows {found}")
    assert wrong == [], "\n".join(wrong)


@pytest.mark.parametrize("case", POSTS, ids=[c.name for c in POSTS])
def test_every_action_is_done_only_within_scope_and_a_refusal_changes_nothing(
        copies: Callable[[], Copy], case: Case) -> None:
    wrong: list[str] = []
    expected = case.statuses()
    shared = copies()  # the refusals, and the CSRF checks, all on one copy
    extra = case.prepare(shared) if case.prepare else {}
    for role, (status, writes) in expected.items():
        copy = copies() if writes else shared
        if writes and case.prepare:
            extra = case.prepare(copy)
        copy.client(role)
        before = snapshot(copy)
        got = _request_with(copy, case, role, extra)
        after = snapshot(copy)
        if got.status_code != status:
            wrong.append(f"{role}: {got.status_code}, not {status}: {text_of(got.text)[:200]}")
        if leaked(role, got, case):
            wrong.append(f"{role}: shows {leaked(role, got, case)}")
        moved = changed(before, after)
        if writes and not moved:
            wrong.append(f"{role}: allowed, but nothing was written")
        if not writes and moved:
            wrong.append(f"{role}: changed {moved}")
    assert wrong == [], "\n".join(wrong)


def _request_with(copy: Copy, case: Case, role: str, extra: dict[str, str],
                  token: str | None = "own") -> Any:
    if not extra:
        return _request(copy, case, role, token=token)
    with_extra = replace(case, fields=lambda c: {**(case.fields(c) if case.fields else {}),
                                                 **extra})
    return _request(copy, with_extra, role, token=token)


@pytest.mark.parametrize("case", list({(c.route): c for c in POSTS}.values()),
                         ids=lambda c: c.route)
def test_every_post_route_refuses_a_missing_or_a_foreign_csrf_token(
        copies: Callable[[], Copy], case: Case) -> None:
    """Once per POST route, by a role allowed to use it (the province admin, or the
    supervisor for a score): without a token, and with a token of another browser."""
    copy = copies()
    allowed = [r for r, (s, _w) in case.statuses().items() if s < 400]
    role = allowed[0] if allowed else "UB1"
    extra = case.prepare(copy) if case.prepare else {}
    other = "E9" if role != "E9" else "A1"
    # Every route answers 403 (404: a forged link), signing out included.
    refused = {403, 404}
    for token in (None, copy.token(other)):
        before = snapshot(copy)
        got = _request_with(copy, case, role, extra, token=token)
        assert got.status_code in refused, (role, token, got.status_code,
                                            text_of(got.text)[:300])
        assert changed(before, snapshot(copy)) == [], (role, token)
        assert not leaked(role, got, case)


def test_a_kept_report_of_two_agencies_is_served_to_no_agency_admin(
        copies: Callable[[], Copy]) -> None:
    """The report and lists are kept per cycle state, not per admin: once the province
    admin has April's (both agencies), neither agency's admin is served it; SNV's May
    report, kept for SNV's admin, is not STC's (its cycle is SNV's alone)."""
    copy = copies()
    for artefact in ("report.csv", "report.xlsx", "list-excellent.csv", "signals.csv"):
        assert copy.client("UB1").get(
            f"/admin/cycle/{APRIL}/download/{artefact}").status_code == 200
    assert copy.client("A1").get(f"/admin/cycle/{MAY}/download/report.csv").status_code == 200
    with copy.svc.store.read() as s:
        kept = set(s.execute(select(REPORT_FILE.c.cycle_id, REPORT_FILE.c.artefact)).all())
    assert {(APRIL, "report.csv"), (APRIL, "report.xlsx"), (APRIL, "signals.csv"),
            (MAY, "report.csv")} <= kept
    for role in ("A1", "E9"):
        for artefact in ("report.csv", "report.xlsx", "list-excellent.csv", "signals.csv"):
            got = copy.client(role).get(f"/admin/cycle/{APRIL}/download/{artefact}")
            assert got.status_code == 403 and not leaked(role, got, GETS[0]), (role, artefact)
    got = copy.client("E9").get(f"/admin/cycle/{MAY}/download/report.csv")
    assert got.status_code == 403 and not leaked("E9", got, GETS[0])


# Each refusal says what was refused and whose it is, in the reader's language.
REFUSALS = {
    "en": {
        "evaluation": "Evaluation {t2} belongs to P9 (Phòng Ngân sách) of the agency Ban Giám "
                      "đốc Sở Tài chính (BTC), which you do not administer: nothing was shown "
                      "or changed.",
        "person": "T2 works in P9 (Phòng Ngân sách) of the agency Ban Giám đốc Sở Tài chính "
                  "(BTC), which you do not administer",
        "unit": "The unit P9 (Phòng Ngân sách) belongs to the agency Ban Giám đốc Sở Tài chính "
                "(BTC), which you do not administer: nothing was listed or changed.",
        "email": "is about an evaluation of P9 (Phòng Ngân sách) of the agency Ban Giám đốc Sở "
                 "Tài chính (BTC), which you do not administer: it was not sent again.",
        "report": f"The report and lists of the cycle {APRIL} cover BTC (Ban Giám đốc Sở Tài "
                  "chính), P9 (Phòng Ngân sách) of the agency Ban Giám đốc Sở Tài chính (BTC)",
        "revoked": "You administer no agency and no evaluation cycle now",
        "org": "only an administrator of the whole province does it",
    },
    "vi": {
        "evaluation": "Phiếu đánh giá {t2} thuộc P9 (Phòng Ngân sách) của cơ quan Ban Giám đốc "
                      "Sở Tài chính (BTC), là cơ quan Anh/Chị không quản trị",
        "person": "T2 làm việc tại P9 (Phòng Ngân sách) thuộc cơ quan Ban Giám đốc Sở Tài "
                  "chính (BTC)",
        "unit": "Đơn vị P9 (Phòng Ngân sách) thuộc cơ quan Ban Giám đốc Sở Tài chính (BTC)",
        "email": "thuộc cơ quan Ban Giám đốc Sở Tài chính (BTC), là cơ quan Anh/Chị không quản "
                 "trị: thư không được gửi lại.",
        "report": f"Báo cáo và các danh sách của kỳ đánh giá {APRIL} gồm cả BTC",
        "revoked": "Hiện Anh/Chị không quản trị cơ quan hay kỳ đánh giá nào",
        "org": "chỉ quản trị viên cấp tỉnh",
    },
}


@pytest.mark.parametrize("lang", ["en", "vi"])
def test_each_refusal_names_the_unit_and_agency_in_the_readers_language(
        copies: Callable[[], Copy], lang: str) -> None:
    copy = copies()
    for role in ("A1", "revoked"):
        copy.client(role).cookies.set("kpi_lang", lang)
    a1, token = copy.client("A1"), copy.token("A1")
    t2 = copy.ev(APRIL, "T2")
    asked = {
        "evaluation": a1.get(f"/admin/e/{t2}"),
        "person": a1.get(f"/admin/cycle/{MAY}/record?person=T2&format=html"),
        "unit": a1.post("/admin/bulk/preview", data={
            "csrf_token": token, "op": "resend", "resend.cycle": APRIL, "resend.unit": "P9"}),
        "email": a1.post(f"/admin/outbox/{copy.dead_letter(REFUSED_ADDRESSES[1])}/resend",
                         data={"csrf_token": token}),
        "report": a1.get(f"/admin/cycle/{APRIL}/report"),
        "revoked": copy.client("revoked").get("/admin"),
        "org": a1.get("/admin/org"),
    }
    for what, got in asked.items():
        said = text_of(got.text)
        assert got.status_code == 403, (what, got.status_code)
        assert REFUSALS[lang][what].format(t2=t2) in said, (what, said[:600])
        assert not leaked("A1", got, GETS[0]), what


# A cycle they see nothing of: the same refusal on its report page, its exports and its
# downloads, naming the agencies in it (not "not found": the cycle exists, and its id is
# the one they typed).
NOT_THEIRS = {
    "en": "You do not administer the evaluation cycle {cycle} (the agencies in it: {agencies}), "
          "so its report and files are not shown.",
    "vi": "Anh/Chị không quản trị kỳ đánh giá {cycle} (các cơ quan trong kỳ: {agencies}), nên "
          "báo cáo và các tệp của kỳ không được hiển thị.",
}


@pytest.mark.parametrize("lang", ["en", "vi"])
def test_a_cycle_not_theirs_is_refused_alike_on_its_report_its_exports_and_its_files(
        copies: Callable[[], Copy], lang: str) -> None:
    copy = copies()
    asked = {("E9", MAY): "Ban Giám đốc (BGD)",
             ("H1", APRIL): "Ban Giám đốc (BGD); Ban Giám đốc Sở Tài chính (BTC)"}
    for (role, cycle), agencies in asked.items():
        client = copy.client(role)
        client.cookies.set("kpi_lang", lang)
        said = set()
        for tail in ("report", "exports", "download/report.csv", "download/list-excellent.csv"):
            got = client.get(f"/admin/cycle/{cycle}/{tail}")
            assert got.status_code == 403, (role, tail, got.status_code)
            text = text_of(got.text)
            assert NOT_THEIRS[lang].format(cycle=cycle, agencies=agencies) in text, text[:600]
            assert not leaked(role, got, GETS[0]), (role, tail)
            said.add(text)
        assert len(said) == 1, said  # word for word the same page


def test_a_reach_taken_away_by_an_organisation_import_ends_at_the_next_request(
        copies: Callable[[], Copy], tmp_path: Path) -> None:
    """G1's unit P9 reaches STC's admin through G1's supervisor F1. An import puts G1
    under H1 (SNV): between two requests of the same session, STC's admin loses P9 and
    SNV's admin gains it; the refused action changes nothing."""
    copy = copies()
    e9, a1 = copy.client("E9"), copy.client("A1")
    t2 = f"/admin/e/{copy.ev(APRIL, 'T2')}"
    assert e9.get(t2).status_code == 200 and a1.get(t2).status_code == 403
    moved = tmp_path / "org.csv"
    moved.write_text(ORG_MOVE, encoding="utf-8")
    import_org(copy.svc, moved, now=at("2026-06-02 08:00"))
    before = snapshot(copy)
    got = e9.post(t2, data={"csrf_token": copy.token("E9"), **EXTEND(copy)})
    assert got.status_code == 403 and "Hoàng Văn Nam" not in got.text
    assert changed(before, snapshot(copy)) == []
    assert e9.get(t2).status_code == 403
    page = a1.get(t2)
    assert page.status_code == 200 and "O&#39;Brien" in page.text
