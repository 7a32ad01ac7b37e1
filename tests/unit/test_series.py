"""A series file: the year's cycles generated from one template, on the working calendar."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from workflow.calendar import zone
from workflow.configfile import LoadedFile
from workflow.errors import ConfigFileError, ConfigFileErrors
from workflow.series import SeriesFile, generate, load_series
from workflow.settings import PROJECT_ROOT

SAMPLE = PROJECT_ROOT / "config" / "series" / "snv-2026.yaml"
TEMPLATE: dict[str, Any] = {
    "phases": {
        "self_assessment": {"due": {"working_days": 3}},
        "peer_input": {"due": {"working_days": 2}},
        "supervisor_scoring": {"due": {"working_days": 3}},
        "calibration": {"due": {"working_days": 3}},
        "appeal_window": {"due": {"working_days": 5}},
        "appeal_review": {"due": {"working_days": 10}},
    },
    "calibration": {"enabled": False},
}


def series_text(**overrides: Any) -> str:
    data: dict[str, Any] = {"id": "agency-x", "year": 2026, "every": "month",
                            "template": TEMPLATE, **overrides}
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def generated(text: str) -> Any:
    loaded = LoadedFile(Path("series.yaml"), text)
    from workflow.configfile import validate

    return generate(loaded, validate(loaded, SeriesFile))


def problem(text: str) -> str:
    with pytest.raises((ConfigFileError, ConfigFileErrors)) as info:
        generated(text)
    return str(info.value)


# Each example builds a year of calendars: few examples, and no shrinking (a failing
# example is printed as it was drawn).
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=(Phase.explicit, Phase.reuse, Phase.generate))
@given(year=st.integers(2025, 2030), every=st.sampled_from(["month", "quarter"]),
       after=st.integers(1, 5), year_end=st.booleans(),
       day_off=st.dates(date(2025, 1, 1), date(2030, 12, 31)))
def test_every_period_of_the_year_yields_one_cycle_opening_on_a_working_day_after_it(
        year: int, every: str, after: int, year_end: bool, day_off: date) -> None:
    template = {**TEMPLATE, "holidays": {"extra_days_off": [day_off.isoformat()]}}
    extra: dict[str, Any] = {"year_end": {"period_end": "11-30"}} if year_end else {}
    cycles = generated(series_text(year=year, every=every, template=template,
                                   opens={"working_days_after_period": after, "at": "08:00"},
                                   **extra))
    periods = [c for c in cycles if c.config.period.kind == every]
    assert len(periods) == (12 if every == "month" else 4)
    assert len(cycles) == len(periods) + (1 if year_end else 0)
    assert len({c.cycle_id for c in cycles}) == len(cycles)
    # The periods tile the year, in order, each inside one month or quarter.
    assert periods[0].config.period.start == date(year, 1, 1)
    assert periods[-1].config.period.end == date(year, 12, 31)
    for before, nxt in pairwise(periods):
        assert nxt.config.period.start == before.config.period.end + timedelta(days=1)
    for c in cycles:
        cal = c.config.working_calendar()
        assert day_off in cal.extra_days_off
        end = c.config.period.end
        opens = c.opens_at.astimezone(zone(c.config.timezone))
        # Opens on a working day, the after-th working day after the period ends.
        assert cal.is_working_day(opens.date())
        assert opens.date() > end
        # (the year-end cycle has its own opening: by default the first working day)
        expected = 1 if c.config.period.kind == "year" else after
        assert cal.working_days_between(end, opens.date()) == expected
        windows = c.windows()
        assert windows[0].opens_at == c.opens_at
        for w in windows:  # every deadline after the period, on a working day, in order
            local_due = w.due_at.astimezone(zone(c.config.timezone)).date()
            assert local_due > end and cal.is_working_day(local_due)
        assert [w.due_at for w in windows] == sorted(w.due_at for w in windows)


def test_the_sample_series_gives_twelve_months_and_the_year_end_around_the_holidays() -> None:
    loaded = load_series(SAMPLE)
    ids = [c.cycle_id for c in loaded.cycles]
    assert ids == [f"snv-2026-{m:02d}" for m in range(1, 13)] + ["snv-2026-year"]
    august = loaded.period("2026-08")
    # 31 August to 2 September are National Day's days off: August opens on Thursday 3.
    assert august.opens_at.astimezone(zone("Asia/Ho_Chi_Minh")).date() == date(2026, 9, 3)
    assert august.config.name == "Đánh giá công chức tháng 8/2026 — Sở Nội vụ"
    year = loaded.period("snv-2026-year")
    assert year.config.frameworks == ("vn-year-end",)
    assert not year.config.peers.enabled and year.config.calibration.enabled
    assert year.config.period.end == date(2026, 11, 30)
    # the template's keys the year end does not override are kept
    assert year.config.evaluators == {"SNV001": "UBND001"}
    with pytest.raises(ConfigFileError, match="no period '2026-13'"):
        loaded.period("2026-13")


def test_a_template_problem_is_reported_at_the_series_key_and_line() -> None:
    template = {**TEMPLATE, "reminders": [{"working_days_before": 1, "at": "25:00"}]}
    text = problem(series_text(template=template))
    line = next(i for i, t in enumerate(series_text(template=template).splitlines(), 1)
                if "25:00" in t)
    assert f"series.yaml:{line}: template.reminders[0].at: '25:00' is not a time of day" in text
    absolute = {**TEMPLATE, "phases": {**TEMPLATE["phases"],
                                       "appeal_review": {"due": "2026-03-10 17:00"}}}
    text = problem(series_text(template=absolute))
    # An absolute date in a template is before the end of the later periods.
    assert "template.phases.appeal_review.due" in text and "(period 2026-03)" in text


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"names": {"month": "Tháng {thang}/{year}"}}, "names.month: {thang} is not known here"),
    ({"every": "week"}, "every: Input should be 'month' or 'quarter'"),
    ({"template": {**TEMPLATE, "id": "x"}}, "template: id comes from the series"),
    ({"year_end": {"period_end": "30/11"}}, "year_end.period_end: String should match"),
])
def test_a_wrong_series_key_is_named(overrides: dict[str, Any], expected: str) -> None:
    assert expected in problem(series_text(**overrides))
