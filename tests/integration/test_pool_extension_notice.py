"""After a calibration pool's deadline is extended, whoever decides some of the pool is
told (issue 17): the cycle's calibrator D1 for their part, and UB1, who calibrates D1's
own evaluation instead (recusal), for theirs, through the real sweep and SMTP (aiosmtpd
on loopback); UB1's emailed link opens UB1's own calibration task. The calibration page
(and `kpi calibration show`) says until when, who approved and recorded it, and why."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from notifications.dispatcher import send_due
from notifications.testing import RecordingServer
from tests.integration.test_deadlines import all_to_calibration, make_world, who
from tests.integration.test_recusal_calibration import row_of
from tests.support import at
from tests.web_support import make_web, text_of
from workflow.domain import State
from workflow.service import records
from workflow.service.core import Service
from workflow.service.sweep import tick

UB1_MAIL, D1_MAIL = "chutich@ubnd.example.gov.vn", "giamdoc@snv.example.gov.vn"


def test_the_substitute_calibrator_is_told_of_the_pools_extension_by_email(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    with RecordingServer() as smtp:
        base = new_service()
        svc = Service(base.store, replace(base.settings, smtp_port=smtp.port))
        w = make_world(svc, tmp_path)
        all_to_calibration(w)
        records.extend_many(svc, w.cycle_id, State.CALIBRATION,
                            "Giám đốc đi công tác <b>\"nước ngoài\"</b>", "UB1", "A1",
                            working_days=3, now=at("2026-05-13 09:00"))
        assert sorted(who(svc, "extension_granted")) == ["D1", "UB1"]
        web = make_web(w)
        link = web.link("UB1", "extension_granted")  # read before sending clears it
        # The sweep of the old deadline changes nothing; the mail goes out over SMTP.
        tick(svc, at("2026-05-15 18:00"))
        assert who(svc, "overdue") == []
        report = send_due(svc, now=at("2026-05-15 18:00"))
        assert report.dead == 0, report.errors
        extended = {address: [r for r in smtp.by_recipient(address)
                              if "gia hạn" in str(r.message["Subject"]).lower()]
                    for address in (UB1_MAIL, D1_MAIL)}
        assert len(extended[UB1_MAIL]) == 1 and len(extended[D1_MAIL]) == 1, {
            a: [str(r.message["Subject"]) for r in smtp.by_recipient(a)] for a in extended}
        [ub1] = extended[UB1_MAIL]
        body = ub1.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "20/05/2026" in body and "nước ngoài" in body, body
        assert "<b>" not in ub1.message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        # The link in UB1's email opens UB1's calibration task, where UB1 decides D1's own.
        assert link.split("/")[-1] in body
        web.clock.set("2026-05-15 18:05")
        page = web.client_for().get(link)
        assert page.status_code == 200, text_of(page.text)
        said = text_of(page.text)
        assert "Chủ tịch Trần Văn Tỉnh" in said, said
        # UB1's part is D1's own evaluation: no "decided by" note there, one elsewhere.
        assert "Do " not in text_of(row_of(page.text, w.ev("D1"))), said
        assert "Do Giám đốc Nguyễn Thị Sở" in text_of(row_of(page.text, w.ev("S1")))


@pytest.mark.both_stores
def test_the_calibration_page_says_the_pool_was_extended_until_when_by_whom_and_why(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    svc = new_service()
    w = make_world(svc, tmp_path)
    all_to_calibration(w)
    web = make_web(w)
    web.clock.set("2026-05-13 08:00")
    browsers = {person: web.sign_in(person) for person in ("D1", "UB1")}
    page = browsers["D1"].get(f"/calibration/{w.cycle_id}")
    assert page.status_code == 200, text_of(page.text)
    assert "pool-extension" not in page.text  # never extended: nothing said
    reason = "Giám đốc đi công tác <b>\"nước ngoài\"</b> O'Brien"
    records.extend_many(svc, w.cycle_id, State.CALIBRATION, reason, "UB1", "A1",
                        working_days=3, now=at("2026-05-13 09:00"))
    web.clock.set("2026-05-13 10:00")
    for person, says in (
            ("D1", "Thời hạn rà soát tỷ lệ của nhóm đã được gia hạn đến"),  # D1 reads vi
            ("UB1", "Thời hạn rà soát tỷ lệ của nhóm đã được gia hạn đến")):
        page = browsers[person].get(f"/calibration/{w.cycle_id}")
        assert page.status_code == 200, text_of(page.text)
        said = text_of(page.text)
        assert says in said, said[:2000]
        assert "20/05/2026" in said  # the new deadline, in the cycle's zone
        assert "Chủ tịch Trần Văn Tỉnh" in said  # UB1 approved, named as the file has it
        assert reason in said and "<b>\"nước" not in page.text  # the reason, escaped
    # In English too, and in `kpi calibration show`.
    browser = browsers["D1"]
    browser.get(f"/lang/en?next=/calibration/{w.cycle_id}")
    page = browser.get(f"/calibration/{w.cycle_id}")
    said = text_of(page.text)
    assert "The pool's deadline was extended until" in said, said[:2000]
    from click.testing import CliRunner

    from workflow.cli import main
    out = CliRunner().invoke(main, ["calibration", "show", w.cycle_id],
                             env={"KPI_DATABASE_URL": svc.settings.database_url})
    assert out.exit_code == 0, out.output
    assert "the pool's deadline was extended until Wed 2026-05-20 17:00" in out.output, \
        out.output
    assert reason in out.output
