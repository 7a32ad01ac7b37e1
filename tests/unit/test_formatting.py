"""Numbers, scores and dates written one way on every surface, and the regime's display rule."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from workflow import formatting
from workflow.errors import ConfigFileError
from workflow.scoring.display import apportion, shown_breakdown, shown_total
from workflow.scoring.model import load_regime

ROOT = Path(__file__).resolve().parents[2]
VN = load_regime(ROOT / "config/regimes/vn-decree-335-2025.yaml")
DEADLINE = datetime(2026, 5, 7, 10, 0, tzinfo=UTC)


def test_numbers_carry_the_locales_separators() -> None:
    assert formatting.number(Decimal("1234.5"), "vi") == "1.234,50"
    assert formatting.number(Decimal("1234.5"), "en") == "1,234.50"
    assert formatting.number(Decimal("70.000"), "vi", strip=True) == "70"
    assert formatting.number(Decimal("7.50"), "en", strip=True) == "7.5"
    assert formatting.number(Decimal("65.625"), "en") == "65.63"  # half-up by default
    assert formatting.number(Decimal("65.625"), "en", rounding="half_even") == "65.62"
    assert formatting.number(None, "vi") == formatting.NOTHING


def test_a_shown_figure_is_written_never_rounded_again() -> None:
    assert formatting.shown_number("69.03", "vi") == "69,03"
    assert formatting.shown_number("89.995", "en") == "89.995"


def test_percentages_drop_trailing_zeros() -> None:
    assert formatting.percent(Decimal("0.2"), "vi") == "20%"
    assert formatting.percent(Decimal("0.125"), "vi", 1) == "12,5%"
    assert formatting.percent(0.5, "en") == "50%"


def test_a_deadline_reads_the_same_way_with_its_zone_named_in_both_languages() -> None:
    assert formatting.date_time(DEADLINE, "Asia/Ho_Chi_Minh", "vi") == \
        "17:00, Thứ Năm 07/05/2026 (Giờ Việt Nam, UTC+07:00)"
    assert formatting.date_time(DEADLINE, "Asia/Ho_Chi_Minh", "en") == \
        "17:00, Thursday 7 May 2026 (Vietnam Time, UTC+07:00)"
    assert formatting.date_time(DEADLINE, "Europe/Paris", "en") == \
        "12:00, Thursday 7 May 2026 (France Time, UTC+02:00)"
    assert formatting.date_time(DEADLINE, "UTC", "en") == "10:00, Thursday 7 May 2026 (UTC+00:00)"
    assert formatting.date_time(DEADLINE.isoformat(), "Asia/Ho_Chi_Minh", "xx") == \
        formatting.date_time(DEADLINE, "Asia/Ho_Chi_Minh", "vi")  # unknown locale: Vietnamese
    assert formatting.date_time(None, "Asia/Ho_Chi_Minh", "vi") == formatting.NOTHING


def test_the_web_and_the_mail_write_a_date_alike() -> None:
    from notifications.render import local_time
    from workflow.web.i18n import local_time as web_time
    for locale in ("vi", "en"):
        assert web_time(DEADLINE, "Asia/Ho_Chi_Minh", locale) == \
            local_time(DEADLINE.isoformat(), "Asia/Ho_Chi_Minh", locale)


def test_dates_alone_and_short_forms() -> None:
    assert formatting.day(DEADLINE, "Asia/Ho_Chi_Minh", "vi") == "Thứ Năm 07/05/2026"
    assert formatting.day(date(2026, 5, 7), None, "en") == "Thursday 7 May 2026"
    assert formatting.short_time(DEADLINE, "Asia/Ho_Chi_Minh", "vi") == "17:00 07/05/2026"
    assert formatting.short_time(DEADLINE, "Asia/Ho_Chi_Minh", "en") == "7 May 2026, 17:00"
    assert formatting.numeric_date("2026-05-07", "vi") == "07/05/2026"


def test_the_decree_regime_states_its_display_rule() -> None:
    rule = VN.display
    assert (rule.places, rule.rounding, rule.near_threshold) == (2, "half_up", "towards_class")


def test_a_total_of_89_995_reads_89_99_beside_well_completed() -> None:
    assert VN.class_by_score(Decimal("89.995")) == "well_completed"
    assert shown_total(Decimal("89.995"), VN) == Decimal("89.99")
    assert shown_total(Fraction(17999, 200), VN) == Decimal("89.99")
    assert formatting.score("89.995", "vi", VN) == "89,99"
    assert shown_total(Decimal("90"), VN) == Decimal("90.00")


def test_a_regime_may_show_the_plain_rounding_or_other_places() -> None:
    plain = VN.model_copy(update={"display": VN.display.model_copy(
        update={"near_threshold": "round"})})
    assert shown_total(Decimal("89.995"), plain) == Decimal("90.00")
    one = VN.model_copy(update={"display": VN.display.model_copy(
        update={"places": 1, "rounding": "half_even"})})
    assert shown_total(Decimal("74.25"), one) == Decimal("74.2")
    assert shown_total(Decimal("89.96"), one) == Decimal("89.9")  # 90.0 would be excellent
    assert formatting.score("74.25", "vi", one) == "74,2"


def test_lines_are_apportioned_to_the_shown_total() -> None:
    assert apportion([Decimal("65.625"), Decimal("24.375")], Decimal("90.00")) == \
        [Decimal("65.63"), Decimal("24.37")]
    assert apportion([Decimal("65.625"), Decimal("24.37")], Decimal("89.99")) == \
        [Decimal("65.62"), Decimal("24.37")]


def test_a_stamps_breakdown_is_shown_rounded_and_adding_up() -> None:
    stamp = {"exact_total": "17999/200", "breakdown": [
        {"criterion": "general", "points": "24.37", "counted": "24.37", "max": "30"},
        {"criterion": "tasks", "points": "65.625", "counted": "65.625", "max": "70.000"},
        {"criterion": "peers", "points": None, "counted": "0", "max": "5"},
    ]}
    lines = shown_breakdown("89.995", stamp, VN)
    assert [(x["points"], x["max"]) for x in lines] == [("24.37", "30"), ("65.62", "70"),
                                                        (None, "5")]
    assert sum(Decimal(x["points"]) for x in lines if x["points"]) == Decimal("89.99")


def test_a_display_rule_with_a_typo_names_the_file_and_key(tmp_path: Path) -> None:
    text = (ROOT / "config/regimes/vn-decree-335-2025.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "vn-decree-335-2025.yaml"
    bad.write_text(text.replace("rounding: half_up ", "rounding: half_upp "), encoding="utf-8")
    with pytest.raises(ConfigFileError) as caught:
        load_regime(bad)
    message = str(caught.value)
    assert str(bad) in message and "display.rounding" in message
