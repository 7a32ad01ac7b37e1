"""The petition (kiến nghị) as regime data: validated on load at file, line and key,
turned into the cycle's appeal_window and appeal_review phases. Pure."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.support import CONFIG
from tests.unit.test_regime_files import REGIME, check, the_error, write
from workflow.cycle_config import DaysAfter, WorkingDaysAfter, parse_cycle_text
from workflow.domain import State
from workflow.errors import ConfigFileError, ConfigFileErrors
from workflow.petition import source_of, with_petition_phases
from workflow.scoring.model import load_regime
from workflow.timing import phase_window

VN = ZoneInfo("Asia/Ho_Chi_Minh")

PETITION = """\
petition:
  starts: publication
  window: {days: 5}
  resolution: {working_days: 10}
  resolved_by: evaluator_superior
  re_review: false
  cycle_may_override: false
"""
# REGIME has 21 lines: the petition section starts at line 22.
CASES = [
    ("two_units", PETITION.replace("{days: 5}", "{days: 5, working_days: 5}"), 24,
     "petition.window", "give exactly one of days (calendar days) or working_days"),
    ("no_unit", PETITION.replace("{days: 5}", "{}"), 24, "petition.window",
     "give exactly one of days"),
    ("unknown_start", PETITION.replace("starts: publication", "starts: decision"), 23,
     "petition.starts", "'notification' or 'publication'"),
    ("limit_without_re_review", PETITION.replace("re_review: false",
                                                 "re_review: false\n  re_review_limit: 2"), 22,
     "petition", "re_review_limit is set but re_review is false"),
    ("limit_zero", PETITION.replace("re_review: false", "re_review: true\n  re_review_limit: 0"),
     28, "petition.re_review_limit", "greater than or equal to 1"),
    ("unknown_resolver", PETITION.replace("evaluator_superior", "the <b>council</b>"), 26,
     "petition.resolved_by", "'evaluator_superior' or 'evaluator'"),
    ("too_long", PETITION.replace("{working_days: 10}", "{working_days: 61}"), 25,
     "petition.resolution.working_days", "less than or equal to 60"),
    ("missing_window", PETITION.replace("  window: {days: 5}\n", ""), 22, "petition.window",
     "required, but missing"),
]


@pytest.mark.parametrize(("text", "line", "key", "fragment"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_petition_rules_name_file_line_and_key(tmp_path: Path, text: str, line: int,
                                                   key: str, fragment: str) -> None:
    path = write(tmp_path, "r.yaml", REGIME + text)
    with pytest.raises((ConfigFileError, ConfigFileErrors)) as excinfo:
        load_regime(path)
    check(the_error(excinfo, key), path, line, key, fragment)


CYCLE = """\
id: c
name: c
period: {kind: month, start: 2026-08-01, end: 2026-08-31}
phases:
  self_assessment: {due: {working_days: 3}}
  peer_input: {due: {working_days: 2}}
  supervisor_scoring: {due: {working_days: 3}}
  calibration: {due: {working_days: 3}}
"""
OWN = "  appeal_window: {due: {working_days: 7}}\n  appeal_review: {due: {working_days: 4}}\n"

PUBLIC = load_regime(CONFIG / "regimes" / "vn-public-employees-2025.yaml")
DECREE = load_regime(CONFIG / "regimes" / "vn-decree-335-2025.yaml")
US = load_regime(CONFIG / "regimes" / "us-5cfr430-five-level.yaml")


def test_the_public_employees_regime_is_the_law_on_public_employees() -> None:
    rules = PUBLIC.petition
    assert rules is not None
    assert (rules.starts, rules.window.days, rules.resolution.working_days) == \
        ("publication", 5, 10)
    assert (rules.resolved_by, rules.re_review, rules.cycle_may_override) == \
        ("evaluator_superior", False, False)
    assert any("Art 27" in s for s in rules.sources) and rules.unverified


def test_a_cycle_without_petition_phases_gets_the_regimes() -> None:
    config, problems = with_petition_phases(parse_cycle_text(CYCLE).config, PUBLIC)
    assert problems == []
    assert config.phase(State.APPEAL_WINDOW).due == DaysAfter(days=5)
    assert config.phase(State.APPEAL_REVIEW).due == WorkingDaysAfter(working_days=10)
    assert source_of(parse_cycle_text(CYCLE).config, PUBLIC, State.APPEAL_WINDOW) == \
        "regime vn-public-employees-2025, petition.window"


def test_the_decree_335_regime_lets_a_cycle_set_its_own_window() -> None:
    own = parse_cycle_text(CYCLE + OWN).config
    config, problems = with_petition_phases(own, DECREE)
    assert problems == [] and config.phases == own.phases  # exactly as before the rule
    assert source_of(own, DECREE, State.APPEAL_REVIEW) == "cycle file, overriding the regime"
    config, _ = with_petition_phases(parse_cycle_text(CYCLE).config, DECREE)
    assert config.phase(State.APPEAL_WINDOW).due == WorkingDaysAfter(working_days=5)


def test_a_regime_that_fixes_the_window_refuses_the_cycles_own() -> None:
    _, problems = with_petition_phases(parse_cycle_text(CYCLE + OWN).config, PUBLIC)
    assert [loc for loc, _ in problems] == [("phases", "appeal_window"),
                                            ("phases", "appeal_review")]
    assert "the petition window now comes from regime vn-public-employees-2025 (5 days of " \
           "the publication of the unit's results), which does not let a cycle change it: " \
           "remove phases.appeal_window from the cycle file" in problems[0][1]


def test_a_regime_without_petition_rules_needs_the_cycles_phases() -> None:
    _, problems = with_petition_phases(parse_cycle_text(CYCLE).config, US)
    assert [msg.split(":")[0] for _, msg in problems] == ["appeal_window", "appeal_review"]
    assert "regime us-5cfr430-five-level has no petition rules" in problems[0][1]


def test_five_days_from_publication_that_end_on_a_holiday_end_the_next_working_day() -> None:
    config, _ = with_petition_phases(parse_cycle_text(CYCLE).config, PUBLIC)
    cal = config.working_calendar()
    # Published Wednesday 12 August 2026: day 5 is Monday 17 August, a working day.
    published = datetime(2026, 8, 12, 10, 0, tzinfo=VN).astimezone(UTC)
    window = phase_window(config, cal, State.APPEAL_WINDOW, published)
    assert window.due_at == datetime(2026, 8, 17, 17, 0, tzinfo=VN)
    assert window.moved_from is None
    # Published Wednesday 26 August: day 5 is Monday 31 August, a day off of National
    # Day (31 August to 2 September 2026): the window ends Thursday 3 September.
    window = phase_window(config, cal, State.APPEAL_WINDOW, published.replace(day=26))
    assert window.due_at == datetime(2026, 9, 3, 17, 0, tzinfo=VN)
    assert window.moved_from == datetime(2026, 8, 31, 17, 0, tzinfo=VN)
    # The resolution counts working days: 10 from Thursday 3 September skip nothing
    # but weekends: Thursday 17 September.
    review = phase_window(config, cal, State.APPEAL_REVIEW, window.due_at)
    assert review.due_at == datetime(2026, 9, 17, 17, 0, tzinfo=VN)


def test_a_regime_with_re_review_loads_and_says_so(tmp_path: Path) -> None:
    once = load_regime(write(tmp_path, "a.yaml", REGIME + PETITION.replace(
        "re_review: false", "re_review: true")))
    assert once.petition is not None and once.petition.further_reviews == 1
    assert "the decision may be petitioned again once, within 5 days of the decision's " \
           "notification" in once.petition.describe()
    twice = load_regime(write(tmp_path, "b.yaml", REGIME + PETITION.replace(
        "re_review: false", "re_review: true\n  re_review_limit: 2")))
    assert twice.petition is not None and twice.petition.further_reviews == 2
    assert "again up to 2 times" in twice.petition.describe()
    assert DECREE.petition is not None and DECREE.petition.further_reviews == 0
    assert DECREE.petition.describe().endswith(", no re-review")
