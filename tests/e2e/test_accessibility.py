"""Every page, in Vietnamese and English, at a desk (1280 px) and on a phone (390 px),
checked by axe-core in Debian's chromium: any serious or critical violation fails. At
390 px no page scrolls sideways and no button or key column is out of sight.

One browser page walks one seeded cycle from the self-assessment to the appeal review
(each role's pages, the confirmation steps, pages with problems shown, error pages, the
sign-in pages); at each stop both widths are checked with ``set_viewport_size`` (no
reload). With ``KPI_SCREENSHOTS=DIR`` (``make screenshots``) a full-page PNG of every
page, language and width is written to DIR for review.

Beside the tour: Enter in a number field submits nothing and adds no row, the language
button keeps what was typed, and the sticky action bar never covers the focused field.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import BrowserContext, Page, expect

from notifications.testing import RecordingServer
from tests.e2e.conftest import Inbox, LiveServer
from tests.support import World, at, small_world
from tests.web_support import Clock
from workflow.domain import State, Trigger
from workflow.service import calibration
from workflow.web import create_app
from workflow.web.security import LANG_COOKIE, SESSION_COOKIE

pytestmark = pytest.mark.browser

WIDTHS = ((1280, 900), (390, 844))
LANGS = ("vi", "en")
BLOCKING = ("serious", "critical")
AXE = Axe()

# Elements a person must reach at 390 px without scrolling sideways: every button and
# button-like link, and each table row's key cell (the name or unit the row is about).
OUT_OF_SIGHT = """() => {
  const width = window.innerWidth;
  const bad = [];
  for (const el of document.querySelectorAll(
      'main button, main a.button, header button, main th[scope=row], main tr > td:first-child')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;  // not shown (closed details)
    if (box.left < -1 || box.right > width + 1)
      bad.push(`${el.tagName.toLowerCase()} "${el.textContent.trim().slice(0, 40)}"` +
               ` at ${Math.round(box.left)}..${Math.round(box.right)}`);
  }
  return bad;
}"""


@dataclass
class Tour:
    """The walk's browser page and what it found."""

    page: Page
    context: BrowserContext
    base: str
    shots: Path | None
    problems: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)

    def as_person(self, person: str | None, signer: Any) -> None:
        self.context.clear_cookies(name=SESSION_COOKIE)
        if person is not None:
            self.context.add_cookies([{"name": SESSION_COOKIE, "value": signer.session(person),
                                       "url": self.base}])

    def language(self, lang: str) -> None:
        self.context.add_cookies([{"name": LANG_COOKIE, "value": lang, "url": self.base}])

    def check(self, name: str, lang: str) -> None:
        """The page as it stands, at both widths: axe, then the phone's layout."""
        assert self.page.locator("html").get_attribute("lang") == lang, \
            f"{name}: the page is not in {lang}"
        self.seen.append(f"{name}/{lang}")
        for width, height in WIDTHS:
            self.page.set_viewport_size({"width": width, "height": height})
            where = f"{name} ({lang}, {width} px, {self.page.url})"
            for v in axe_violations(self.page):
                if v["impact"] in BLOCKING:
                    nodes = "; ".join(" ".join(n["target"]) for n in v["nodes"][:5])
                    self.problems.append(f"{where}: {v['id']} ({v['impact']}): {v['help']}"
                                         f" -- {nodes}")
            if width < 400:  # the phone: nothing to scroll sideways for
                sideways = self.page.evaluate(
                    "document.scrollingElement.scrollWidth - window.innerWidth")
                if sideways > 1:
                    self.problems.append(f"{where}: the page scrolls {sideways} px sideways")
                for bad in self.page.evaluate(OUT_OF_SIGHT):
                    self.problems.append(f"{where}: out of sight: {bad}")
            if self.shots is not None:
                self.page.screenshot(path=str(self.shots / f"{name}-{lang}-{width}.png"),
                                     full_page=True)


def screenshots() -> Path | None:
    """Where `make screenshots` wants the PNGs (``KPI_SCREENSHOTS``), if it does."""
    folder = os.environ.get("KPI_SCREENSHOTS")
    if not folder:
        return None
    Path(folder).mkdir(parents=True, exist_ok=True)
    return Path(folder)


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it stands. The script (the package's bundled
    axe.min.js, half a megabyte) is injected once per page load, not once per width."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.axe_script)
    found = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return list(found["violations"])


def submit_button(page: Page, op: str) -> Any:
    return page.locator(f"main button[name=op][value={op}]").first


def fill_self_assessment(page: Page, points: str = "8") -> None:
    for box in page.locator("main input[name$='.points']").all():
        box.fill(points)
    page.locator("main input[name='tasks[0].title']").fill('Báo cáo "quý" <b>II</b>')
    page.locator("main input[name='tasks[0].completed']").check()


class _Sessions:
    """Signs a person in as the sign-in link would: a server-side session and its cookie."""

    def __init__(self, signer: Any, svc: Any) -> None:
        self.signer, self.svc = signer, svc

    def session(self, person: str) -> str:
        from workflow.service import sessions
        from workflow.web.security import SESSION_LIFETIME

        return str(self.signer.session(person, sessions.start(self.svc, person,
                                                              SESSION_LIFETIME)))


@pytest.fixture
def world(seeded_service: Callable[..., Any], smtp: RecordingServer) -> World:
    """The e2e world with A1 an admin of the deployment: the tour visits the cycle form
    and the series page, which an admin of a cycle only may not configure. Seeded once
    per test process, copied per test (tests/conftest.py)."""
    return World(seeded_service("small-world-admin-A1", small_world, smtp_port=smtp.port,
                                admins=("A1",)), "t-2026-04")


@pytest.fixture
def tour_server(world: World, clock: Clock) -> Iterator[tuple[LiveServer, Any]]:
    app = create_app(world.svc, clock=clock)
    with LiveServer(app) as server:
        yield server, _Sessions(app.state.web.signer, world.svc)


def test_every_page_in_both_languages_at_both_widths_has_no_serious_axe_violation(
        page: Page, tour_server: tuple[LiveServer, Any], world: World, clock: Clock,
        inbox: Inbox) -> None:
    live, signer = tour_server
    tour = Tour(page, page.context, live.base, screenshots())
    go: Callable[[str], Any] = lambda path: page.goto(live.base + path)  # noqa: E731
    cycle = world.cycle_id
    author = {"vi": "S1", "en": "S4"}  # the two who send their self-assessment here

    # --- signed out: landing, sign-in, its problems, the link's confirmation ------------
    clock.set("2026-05-05 09:00")
    for lang in LANGS:
        tour.language(lang)
        tour.as_person(None, signer)
        go("/")
        tour.check("landing", lang)
        go("/sign-in")
        tour.check("sign-in", lang)
        page.locator("#f-email").fill("không phải email")
        page.locator("main form button[type=submit]").click()
        tour.check("sign-in-problem", lang)
        page.locator("#f-email").fill(inbox_email(world, "H1"))
        page.locator("main form button[type=submit]").click()
        tour.check("sign-in-sent", lang)
        go(inbox.link("H1", "sign_in"))
        tour.check("sign-in-confirm", lang)
        go("/t/no-such-link")
        tour.check("error-link-unknown", lang)
        go("/no/such/page")
        tour.check("error-not-found", lang)

    # --- the reviewee's self-assessment: form, problems, confirmation, done -------------
    for lang in LANGS:
        tour.language(lang)
        link = inbox.link(author[lang], "task_self_assessment")
        go(link)
        tour.check("self-assessment", lang)
        page.locator("main input[name$='.points']").first.fill("NaN")
        submit_button(page, "submit").click()
        tour.check("self-assessment-problems", lang)
        fill_self_assessment(page)
        submit_button(page, "submit").click()
        tour.check("self-assessment-confirm", lang)
        submit_button(page, "confirm_submit").click()
        tour.check("self-assessment-done", lang)
        go(link)
        tour.check("error-link-used", lang)
    for person in ("S2", "S3", "A1", "H1", "D1"):
        world.submit_self(person, when="2026-05-05 10:00")

    # --- a peer's form ------------------------------------------------------------------
    clock.set("2026-05-06 09:00")
    peer = world.peers_of("S1")[0]
    for lang in LANGS:
        tour.language(lang)
        go(inbox.link(peer, "task_peer_input"))
        tour.check("peer-input", lang)
    for person in ("S1", "S2", "S3", "S4"):
        if world.state(person) is State.PEER_INPUT:
            world.answer_peers(person, when="2026-05-07 09:00")

    # --- the supervisor: home, team, scoring; the admin: dashboard, record, report ------
    clock.set("2026-05-08 09:00")
    for lang in LANGS:
        tour.language(lang)
        tour.as_person("H1", signer)
        go("/")
        tour.check("home", lang)
        go("/team")
        tour.check("team", lang)
        go(f"/e/{world.ev('S1')}/score")
        tour.check("score", lang)
        page.locator("main input[name$='.points']").first.fill("abc")
        submit_button(page, "submit").click()
        tour.check("score-problems", lang)
        go("/admin")
        tour.check("error-not-allowed", lang)
        tour.as_person("A1", signer)
        go("/admin")
        tour.check("admin", lang)
        go(f"/admin/e/{world.ev('S3')}")
        tour.check("admin-evaluation", lang)
        page.locator("#f-cancel_reason").fill('Chuyển công tác "Sở Y tế"')
        submit_button(page, "cancel").click()
        tour.check("admin-cancel-confirm", lang)
        go(f"/admin/cycle/{cycle}/report")
        tour.check("admin-report", lang)
        # The cycle calendars and series (only checked here, never saved: the
        # configuration is the project's own).
        go("/admin/cycles")
        tour.check("admin-cycles", lang)
        go("/admin/cycles/edit/sample-2026-07.yaml")
        tour.check("admin-cycle-form", lang)
        check_calendar = page.locator("main .actions button[value=check]")
        check_calendar.click(timeout=10_000)
        tour.check("admin-cycle-preview", lang)
        page.locator("#f-period-end").fill("31/04/2026")
        check_calendar.click(timeout=10_000)
        tour.check("admin-cycle-problems", lang)
        go("/admin/series")
        tour.check("admin-series", lang)
        go("/admin/bulk")  # issue 18: bulk actions (the organisation page: test_admin_console)
        tour.check("admin-bulk", lang)
        page.locator("#f-extend-new_due").fill("31/04/2026")
        page.locator("#f-extend-reason").fill("Nghỉ lễ")
        page.locator("form:has(input[value=extend]) button[type=submit]").click()
        tour.check("admin-bulk-problems", lang)
        page.locator("form:has(input[value=resend]) button[type=submit]").click()
        tour.check("admin-bulk-preview", lang)
        go(f"/admin/cycle/{cycle}/exports")
        tour.check("admin-exports", lang)
        page.locator("#f-person").fill('UB1 "<b>')
        page.locator("main form button[type=submit]").click()
        tour.check("admin-exports-problem", lang)
    for person in ("S1", "S2", "S3", "S4", "A1", "H1", "D1"):
        world.score(person, level=0.97 if person in ("S2", "S3") else 0.8,
                    when="2026-05-08 10:00")
    for lang in LANGS:  # the file of a scored evaluation: breakdown, trail, emails
        tour.language(lang)
        tour.as_person("A1", signer)
        go(f"/admin/e/{world.ev('S2')}")
        tour.check("admin-file-scored", lang)

    # --- the calibrator: the pool, a refused approval, the confirmation -----------------
    clock.set("2026-05-11 09:00")
    for lang in LANGS:
        tour.language(lang)
        tour.as_person("D1", signer)
        go(f"/calibration/{cycle}")
        tour.check("calibration", lang)
        submit_button(page, "approve").click()
        tour.check("calibration-refused", lang)
    for member in calibration.view(world.svc, cycle).members:
        if member.final_class == "excellent":
            calibration.move_class(world.svc, member.evaluation_id, "well_completed",
                                   "Tỷ lệ theo Nghị định 335", "D1", now=at("2026-05-11 09:30"))
    for lang in LANGS:
        tour.language(lang)
        go(f"/calibration/{cycle}")
        submit_button(page, "approve").click()
        tour.check("calibration-confirm", lang)
    calibration.approve(world.svc, cycle, "D1", now=at("2026-05-11 10:00"))

    # --- the reviewee's result; the appeal reviewer's file ------------------------------
    clock.set("2026-05-12 09:00")
    tour.as_person(None, signer)
    for lang in LANGS:
        tour.language(lang)
        go(inbox.link("S1", "result"))
        tour.check("result", lang)
        submit_button(page, "appeal").click()
        tour.check("result-problems", lang)
        submit_button(page, "accept").click()
        tour.check("result-accept-confirm", lang)
    # One accepts (vi), one appeals (en): the done pages.
    tour.language("vi")
    go(inbox.link("S3", "result"))
    submit_button(page, "accept").click()
    submit_button(page, "confirm_accept").click()
    tour.check("result-accepted", "vi")
    tour.language("en")
    go(inbox.link("S4", "result"))
    page.locator("#f-reasons").fill('The second item was on time ("on record").')
    submit_button(page, "appeal").click()
    tour.check("result-appealed", "en")
    # The unit's published results, opened from the result email's second link.
    for lang in LANGS:
        tour.language(lang)
        go(inbox.link("S1", "result", nth=1))
        tour.check("publication", lang)
    world.fire("S1", Trigger.LODGE_APPEAL, "S1", {"reasons": "Hai sản phẩm <b>đúng hạn</b>"},
               when="2026-05-12 09:30")
    clock.set("2026-05-12 10:00")
    decided = {"vi": "S1", "en": "S4"}
    for lang in LANGS:
        tour.language(lang)
        tour.as_person(world.row(decided[lang])["appeal_reviewer_id"], signer)
        go(f"/e/{world.ev(decided[lang])}/appeal")
        tour.check("appeal-review", lang)
        submit_button(page, "uphold").click()
        tour.check("appeal-review-problems", lang)
        if lang == "vi":
            page.locator("#f-reason").fill("Đúng quy định")
            submit_button(page, "uphold").click()
        else:
            page.locator("#f-revise_reason").fill("Evidence of the second item")
            submit_button(page, "revise").click()
        tour.check("appeal-decided", lang)
    assert world.state("S1") is world.state("S4") is State.FINALISED

    assert not tour.problems, "\n".join(tour.problems)


def inbox_email(world: World, person: str) -> str:
    from sqlalchemy import select

    from workflow.store.tables import PERSON

    with world.svc.store.read() as s:
        return str(s.execute(select(PERSON.c.email).where(PERSON.c.id == person)).scalar_one())


def test_enter_in_a_number_field_submits_nothing_and_adds_no_row(
        page: Page, live: LiveServer, world: World, inbox: Inbox) -> None:
    page.goto(live.base + inbox.link("S1", "task_self_assessment"))
    rows = page.locator("fieldset.task").count()
    points = page.locator("main input[name$='.points']").first
    points.fill("8")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    points.press("Enter")
    page.locator("main input[name='tasks[0].delays']").fill("1")
    page.locator("main input[name='tasks[0].delays']").press("Enter")
    page.wait_for_timeout(700)  # a form post would have started by now
    assert not posts, f"Enter posted the form: {posts}"
    assert page.locator("fieldset.task").count() == rows
    assert points.input_value() == "8"
    assert world.state("S1") is State.SELF_ASSESSMENT


def test_the_language_button_keeps_what_was_typed(
        page: Page, live: LiveServer, world: World, inbox: Inbox) -> None:
    page.goto(live.base + inbox.link("S1", "task_self_assessment"))
    note = page.locator("#f-note")
    note.fill('Ghi chú "chưa lưu" <i>nháp</i>')
    page.locator("main input[name='tasks[0].title']").fill("Báo cáo tổng hợp")
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("button", name="Save draft", exact=True)).to_be_visible()
    expect(note).to_have_value('Ghi chú "chưa lưu" <i>nháp</i>')
    expect(page.locator("main input[name='tasks[0].title']")).to_have_value("Báo cáo tổng hợp")
    page.get_by_role("button", name="Tiếng Việt").click()
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(note).to_have_value('Ghi chú "chưa lưu" <i>nháp</i>')
    assert world.state("S1") is State.SELF_ASSESSMENT


@pytest.mark.parametrize("width", [1280, 390])
def test_the_action_bar_never_covers_the_focused_field(
        page: Page, live: LiveServer, inbox: Inbox, width: int) -> None:
    """WCAG 2.4.11: Tab through the whole self-assessment form; no focused field is
    hidden behind the sticky bar of buttons at the bottom of the screen."""
    page.set_viewport_size({"width": width, "height": 700})
    page.goto(live.base + inbox.link("S1", "task_self_assessment"))
    covered = []
    for _ in range(60):
        page.keyboard.press("Tab")
        box = page.evaluate("""() => {
          const el = document.activeElement;
          const bar = document.querySelector('.actions');
          if (!el || !bar || bar.contains(el) || el === document.body || el.tagName === 'MAIN')
            return null;
          const r = el.getBoundingClientRect(), b = bar.getBoundingClientRect();
          return {name: el.name || el.textContent.trim().slice(0, 30), bottom: r.bottom,
                  barTop: b.top, sticky: getComputedStyle(bar).position === 'sticky',
                  inView: b.top < window.innerHeight};
        }""")
        if box and box["sticky"] and box["inView"] and box["bottom"] > box["barTop"] + 1:
            covered.append(f"{box['name']}: bottom {box['bottom']:.0f} > bar {box['barTop']:.0f}")
    assert not covered, covered


def test_the_demo_pages_have_no_serious_axe_violation(
        page: Page, world: World, clock: Clock) -> None:
    """`kpi demo`'s own parts: the clock bar on every page, the caught emails, a jump."""
    from workflow.web import DemoHooks
    from workflow.web.mailbox import outbox_messages

    hooks = DemoHooks(jump=lambda: None,
                      mails=lambda: outbox_messages(world.svc, since=at("2026-05-01 00:00"),
                                                    also_to="S1"))
    with LiveServer(create_app(world.svc, clock=clock, demo=hooks)) as live:
        tour = Tour(page, page.context, live.base, screenshots())
        for lang in LANGS:
            tour.language(lang)
            page.goto(live.base + "/")
            tour.check("demo-landing", lang)
            page.goto(live.base + "/demo/mail")
            expect(page.locator("li.mail").first).to_be_visible()
            tour.check("demo-mail", lang)
            page.locator(".demo-bar button").click()
            tour.check("demo-jumped", lang)
    assert not tour.problems, "\n".join(tour.problems)
