"""An appeal (kiến nghị) too many, said for what it is, and a revised score that the
regime lets be appealed again (``petition.re_review``).

- While an appeal is being reviewed, another one is refused saying so (not "someone
  else changed this evaluation").
- After the regime's limit (``re_review_limit``), a further one is refused naming the
  rounds used and the limit; under a regime without re-review, naming the one allowed.
- A score revised on appeal under ``re_review`` goes back to the appeal window with a
  fresh window from the decision, and the new score is what the decision email, the
  result page and the cycle report show.

Driven through the `kpi` command, the web pages and a real SMTP server on loopback, on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from notifications.dispatcher import send_due
from notifications.testing import RecordingServer
from tests.integration.test_petition_re_review import act, delivered, re_review_world, rows
from tests.integration.test_scoring_leaders import give, pay, to_scoring
from tests.support import at, without_calibration
from tests.web_support import Clock, make_web, text_of
from workflow import catalog
from workflow.cli import main
from workflow.domain import State, Trigger
from workflow.errors import AlreadyAppealed, AppealLimitReached, AppealUnderReview
from workflow.service.core import Service
from workflow.service.transition import fire
from workflow.web import i18n

pytestmark = pytest.mark.both_stores

SCORED = "2026-05-13 09:00"
REASONS = "<b>Lê \"Thị\" O'Brien</b>: two items were on time"


@pytest.fixture
def smtp() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


def said(locale: str, error: Exception) -> str:
    """The error as a page says it, in ``locale``."""
    assert isinstance(error, AlreadyAppealed | AppealUnderReview)
    return i18n.say_error(locale, error, lambda name, value: i18n.plain_value(
        locale, name, value, lambda d: f"{d:%d/%m/%Y}", str, str))


def test_an_appeal_while_one_is_reviewed_is_refused_as_being_reviewed(
        new_service: Callable[..., Service], tmp_path: Path, smtp: RecordingServer) -> None:
    w = re_review_world(new_service, tmp_path, smtp)
    give(w, "S2", "0.5", 2, when=SCORED)
    assert act(w, "S2", "lodge_appeal", "S2", {"reasons": REASONS}, tmp_path,
               "2026-05-14 09:00").exit_code == 0
    before = w.row("S2")
    again = act(w, "S2", "lodge_appeal", "S2", {"reasons": "again"}, tmp_path,
                "2026-05-14 09:05")
    assert again.exit_code != 0
    assert "the appeal of round 1 is being reviewed; a further appeal waits for its " \
           "decision" in again.output, again.output
    assert w.row("S2") == before  # nothing stored
    with pytest.raises(AppealUnderReview) as refused:
        fire(w.svc, w.ev("S2"), Trigger.LODGE_APPEAL, "S2", {"reasons": "x"},
             now=at("2026-05-14 09:10"),
             expected_state=State.APPEAL_WINDOW)  # the page the reviewee still had open
    assert said("vi", refused.value) == catalog.gettext(
        "vi", "Your appeal against this result (review %(round)s) is already being reviewed; "
        "you will get the decision by email. Nothing was saved.", round=1)
    assert "đang được xem xét" in said("vi", refused.value)
    assert "already being reviewed" in said("en", refused.value)


def test_an_appeal_after_the_limit_names_the_rounds_and_the_limit(
        new_service: Callable[..., Service], tmp_path: Path, smtp: RecordingServer) -> None:
    w = re_review_world(new_service, tmp_path, smtp)
    give(w, "S3", "0.5", 2, when=SCORED)
    w.fire("S3", Trigger.LODGE_APPEAL, "S3", {"reasons": REASONS}, when="2026-05-14 09:00")
    w.fire("S3", Trigger.UPHOLD_SCORE, "D1", {"reason": "giữ"}, when="2026-05-15 09:00")
    w.fire("S3", Trigger.LODGE_APPEAL, "S3", {"reasons": "lần hai"}, when="2026-05-18 09:00")
    w.fire("S3", Trigger.UPHOLD_SCORE, "UB1", {"reason": "giữ"}, when="2026-05-19 09:00")
    assert w.state("S3") is State.FINALISED
    third = act(w, "S3", "lodge_appeal", "S3", {"reasons": "lần ba"}, tmp_path,
                "2026-05-20 09:00")
    assert third.exit_code != 0
    assert "appealed 2 times, the last on 2026-05-18; the regime's petition.re_review_limit " \
           "(1) allows no further review, the decision of round 2 is final" in third.output, \
        third.output
    with pytest.raises(AppealLimitReached) as refused:
        w.fire("S3", Trigger.LODGE_APPEAL, "S3", {"reasons": "x"}, when="2026-05-20 09:00")
    vi = said("vi", refused.value)
    assert "đã được kiến nghị 2 lần, lần gần nhất lúc 18/05/2026" in vi, vi
    assert "xem xét lại thêm 1 lần" in vi and "lần xem xét thứ 2" in vi
    assert "appeal" not in vi
    en = said("en", refused.value)
    assert "already appealed 2 times" in en and "1 further review(s)" in en


def test_a_window_closed_by_silence_after_a_review_is_not_said_as_the_limit(
        new_service: Callable[..., Service], tmp_path: Path, smtp: RecordingServer) -> None:
    """One review used of the one allowed, the fresh window left to close: the person
    missed the window; the limit was not reached."""
    from workflow.errors import EvaluationAlreadyChanged, TransitionNotAllowed
    from workflow.service.sweep import tick

    w = re_review_world(new_service, tmp_path, smtp)
    give(w, "S4", "0.5", 2, when=SCORED)
    w.fire("S4", Trigger.LODGE_APPEAL, "S4", {"reasons": "x"}, when="2026-05-14 09:00")
    w.fire("S4", Trigger.UPHOLD_SCORE, "D1", {"reason": "giữ"}, when="2026-05-15 09:00")
    tick(w.svc, at("2026-05-22 17:01"))
    assert w.state("S4") is State.FINALISED
    with pytest.raises((TransitionNotAllowed, EvaluationAlreadyChanged)) as refused:
        w.fire("S4", Trigger.LODGE_APPEAL, "S4", {"reasons": "late"}, when="2026-05-25 09:00")
    assert not isinstance(refused.value, AlreadyAppealed)


def test_without_re_review_a_second_appeal_names_the_one_allowed(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    w = without_calibration(new_service(), tmp_path)
    to_scoring(w)
    give(w, "S1", "0.5", 2, when=SCORED)
    w.fire("S1", Trigger.LODGE_APPEAL, "S1", {"reasons": REASONS}, when="2026-05-14 09:00")
    w.fire("S1", Trigger.UPHOLD_SCORE, "D1", {"reason": "giữ"}, when="2026-05-15 09:00")
    assert w.state("S1") is State.FINALISED
    with pytest.raises(AlreadyAppealed) as refused:
        w.fire("S1", Trigger.LODGE_APPEAL, "S1", {"reasons": "x"}, when="2026-05-18 09:00")
    assert not isinstance(refused.value, AppealLimitReached)
    vi = said("vi", refused.value)
    assert "chỉ cho phép kiến nghị một lần" in vi and "14/05/2026" in vi, vi
    assert "the rules allow one appeal" in said("en", refused.value)


def test_a_revised_score_goes_back_to_a_fresh_appeal_window_with_the_new_score(
        new_service: Callable[..., Service], tmp_path: Path, smtp: RecordingServer) -> None:
    w = re_review_world(new_service, tmp_path, smtp)
    give(w, "S2", "0.5", 2, when=SCORED)
    old = Decimal(w.row("S2")["score"])
    w.fire("S2", Trigger.LODGE_APPEAL, "S2", {"reasons": REASONS}, when="2026-05-14 09:00")
    first_due = w.row("S2")["due_at"]
    revised = act(w, "S2", "revise_score", "D1", {
        "reason": "The register <i>confirms</i> it", "score": pay(w.framework("S2"), "0.9", 4)},
        tmp_path, "2026-05-15 09:00")
    assert revised.exit_code == 0, revised.output
    row = w.row("S2")
    new = Decimal(row["score"])
    assert new > old
    # Not final: a fresh window, as long as the first (5 working days), from the decision.
    assert w.state("S2") is State.APPEAL_WINDOW
    assert row["petition_round"] == 1
    assert row["due_at"] == at("2026-05-22 17:00") and row["due_at"] != first_due
    shown = f"{new:.2f}"  # S2 reads English; the regime shows two places
    (decided,) = [r for r in rows(w, "appeal_decided", "S2") if r["recipient_id"] == "S2"]
    assert decided["context"]["decision"] == "revise_score"
    assert decided["context"]["petition_again"]["to_id"] == "UB1"
    web = make_web(w, Clock(at("2026-05-15 10:00")))
    link = web.link("S2", "appeal_decided")  # before sending: sent links are scrubbed
    send_due(w.svc, now=at("2026-05-15 09:05"))
    text = delivered(smtp, decided, w)
    assert "revised your score" in text
    assert f"{shown} / 100" in text, text
    assert f"{old:.2f} / 100" not in text
    assert "You may appeal against this decision once more, until" in text
    # The result page, from the decision email's link.
    page = web.client.get(link)
    assert page.status_code == 200, page.text
    page_text = text_of(page.text)
    assert shown in page_text and f"{old:.2f}" not in page_text, page_text[-1500:]
    assert "The register <i>confirms</i> it" in page_text  # the reason, escaped
    assert "<i>confirms" not in page.text
    # The cycle report.
    out = tmp_path / "report.csv"
    made = CliRunner().invoke(main, ["report", "t-2026-04", "--out", str(out)],
                              env={"KPI_DATABASE_URL": w.svc.settings.database_url,
                                   "KPI_CONFIG_DIR": str(w.svc.settings.config_dir)})
    assert made.exit_code == 0, made.output
    with out.open(encoding="utf-8-sig") as f:
        (s2,) = [r for r in csv.DictReader(f) if r["employee_id"] == "S2"]
    assert (s2["state"], Decimal(s2["score"])) == ("appeal_window", new)
    assert (s2["appeal_outcome"], s2["appeal_decision_reason"]) == \
        ("revised", "The register <i>confirms</i> it")
    # The fresh window closes by silence with the revised score, finalised.
    from workflow.service.sweep import tick
    tick(w.svc, at("2026-05-22 17:01"))
    assert (w.state("S2"), Decimal(w.row("S2")["score"])) == (State.FINALISED, new)

