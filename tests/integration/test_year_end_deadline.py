"""`kpi cycle check` warns when a year-end cycle cannot finish by 15 December (Decree 335),
or by 15 January for an agency the cycle file marks as special; the admin's cycle form
shows the same warning, in the page's language.

"Finish": the last evaluation finalised if each phase runs its full time, its petition
window and the appeal's review included.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.integration.test_web_admin_cycles import FORM, form_of, signed_in, web
from tests.support import CONFIG, at, decree_335_changed
from tests.web_support import WebWorld, text_of
from workflow.cli import main
from workflow.service.core import Service
from workflow.service.org import import_org

pytestmark = pytest.mark.both_stores

__all__ = ["web"]  # the admin console's fixture, shared

YEAR_FILE = CONFIG / "cycles" / "sample-2026-year.yaml"
SAMPLE_YEAR = YEAR_FILE.read_text(encoding="utf-8")
LONG_REVIEW = SAMPLE_YEAR.replace("    due: {working_days: 3}        # decided by 15 December",
                                  "    due: {working_days: 10}")
SPECIAL = '\nyear_end: {special_agency: true, decision: "QĐ 9/<b>UBND</b> \'đặc thù\'"}\n'


@pytest.fixture
def org(svc: Service) -> Service:
    import_org(svc, CONFIG / "organisation.csv", now=at("2026-11-01 09:00"))
    return svc


def check(svc: Service, tmp_path: Path, text: str, now: str = "2026-11-30T10:00") -> Result:
    path = tmp_path / "year.yaml"
    path.write_text(text, encoding="utf-8")
    return CliRunner().invoke(main, ["--now", now, "cycle", "check", str(path)],
                              env={"KPI_DATABASE_URL": svc.settings.database_url})


def warnings_of(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("warning: ")]


def test_the_sample_year_end_cycle_finishes_by_15_december(org: Service, tmp_path: Path) -> None:
    result = check(org, tmp_path, SAMPLE_YEAR)
    assert result.exit_code == 0, result.output
    assert "appeal_review        opens Thu 2026-12-10 17:00  due Tue 2026-12-15 17:00" \
        in result.output
    assert not [w for w in warnings_of(result) if "year-end" in w]


def test_a_year_end_cycle_that_ends_after_15_december_is_warned_with_the_date_and_the_fix(
        org: Service, tmp_path: Path) -> None:
    result = check(org, tmp_path, LONG_REVIEW)
    assert result.exit_code == 0, result.output  # a warning, not a refusal
    assert warnings_of(result) == [
        "warning: the year-end classification cannot finish by 2026-12-15: if each phase "
        "runs its full time, the last evaluation is finalised on 2026-12-24 (its appeal "
        "window and the appeal's review included). Open the cycle earlier "
        "(phases.self_assessment.opens) or shorten its phases' due times; an agency with "
        "special characteristics, which its direct superior lets finish by 15 January, says "
        "so in the cycle file with year_end: {special_agency: true}"]
    assert "due Thu 2026-12-24 17:00  (10 working days)" in result.output


def test_a_further_review_the_regime_allows_counts_toward_15_december(
        org: Service, tmp_path: Path) -> None:
    """The sample year-end cycle finishes on 15 December when the decision is final; under
    a regime whose decision may be petitioned again (re_review), the fresh window and the
    second review run after that, so the same calendar is late and says when it ends."""
    config = decree_335_changed(tmp_path, r"^  re_review: false.*$", "  re_review: true")
    path = tmp_path / "year.yaml"
    path.write_text(SAMPLE_YEAR, encoding="utf-8")
    result = CliRunner().invoke(main, ["--now", "2026-11-30T10:00", "cycle", "check", str(path)],
                                env={"KPI_DATABASE_URL": org.settings.database_url,
                                     "KPI_CONFIG_DIR": str(config)})
    assert result.exit_code == 0, result.output
    review = [line for line in result.output.splitlines()
              if line.lstrip().startswith("appeal_review (2)")]
    assert len(review) == 1, result.output
    ends = re.search(r"due \w{3} (\d{4}-\d{2}-\d{2})", review[0])
    assert ends is not None and ends.group(1) > "2026-12-15", review
    late = [w for w in warnings_of(result) if "cannot finish by 2026-12-15" in w]
    assert len(late) == 1, warnings_of(result)
    assert f"the last evaluation is finalised on {ends.group(1)} (" in late[0], late


def test_a_special_agency_has_until_15_january(org: Service, tmp_path: Path) -> None:
    result = check(org, tmp_path, LONG_REVIEW + SPECIAL)
    assert result.exit_code == 0, result.output
    assert not [w for w in warnings_of(result) if "year-end" in w]
    # Opened in the new year, even a special agency is late; the special hint is gone.
    late = LONG_REVIEW.replace('opens: "2026-12-01 08:00"', 'opens: "2027-01-04 08:00"')
    result = check(org, tmp_path, late + SPECIAL, now="2027-01-02T10:00")
    assert result.exit_code == 0, result.output
    (warning,) = [w for w in warnings_of(result) if "year-end" in w]
    assert "cannot finish by 2027-01-15: if each phase runs its full time, the last " \
           "evaluation is finalised on 2027-01-27" in warning
    assert "special_agency" not in warning


@pytest.mark.parametrize(("text", "says"), [
    ((CONFIG / "cycles" / "sample-2026-04.yaml").read_text(encoding="utf-8") + SPECIAL,
     "year_end: only a year-end cycle (period.kind: year) has a year-end deadline; this "
     "cycle's period is a month: remove year_end"),
    (SAMPLE_YEAR + '\nyear_end: {decision: "QĐ 9"}\n',
     "year_end.decision: names the decision that makes the agency special, but "
     "special_agency is false"),
    (SAMPLE_YEAR + "\nyear_end: {special_agency: \"<b>yes</b>\"}\n",
     "year_end.special_agency"),
    (SAMPLE_YEAR + "\nyear_end: {special: true}\n", "year_end.special"),
])
def test_a_bad_year_end_key_is_refused_at_its_line(org: Service, tmp_path: Path, text: str,
                                                   says: str) -> None:
    result = check(org, tmp_path, text)
    assert result.exit_code == 2, result.output
    assert says in result.output + str(result.stderr), result.output


def test_the_cycle_form_shows_the_warning_in_the_pages_language(web: WebWorld) -> None:
    web.clock.set("2026-11-30 10:00")
    admin = signed_in(web, lang="vi")
    for lang, says in (
            ("vi", "việc xếp loại cuối năm không thể hoàn thành trước 2026-12-15"),
            ("en", "the year-end classification cannot finish by 2026-12-15")):
        admin.cookies.set("kpi_lang", lang)
        fields = form_of(web, admin, "/admin/cycles/new?copy=sample-2026-year.yaml")
        fields.update({"id": "snv-2026-b", "op": "check",
                       "phases.supervisor_scoring.due.working_days": "9"})
        page = admin.post(FORM, data=fields)
        assert page.status_code == 200, text_of(page.text)[:800]
        text = text_of(page.text)
        assert says in text, text[:3000]
        assert "2026-12-24" in text
