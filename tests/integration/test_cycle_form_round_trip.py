"""Every key of a cycle file survives the admin's cycle form (issue 17): each sample
and test cycle file, and one that sets every key the form once dropped
(``re_appeal_reviewer``, ``recusal:``, a petition window in calendar days, the appeal
phases left to the regime, an opening time of a later phase), is opened in the form,
saved through the web page as the browser posts it, and read back by the code
`kpi cycle check` runs: the same cycle as the original file.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.integration.test_web_admin_cycles import FORM, errors_of, fields_of
from tests.support import CONFIG, DATA, World, at
from tests.web_support import WebWorld, make_web, text_of
from workflow.cycle_config import load_cycle
from workflow.service.core import Service
from workflow.service.org import import_org

pytestmark = pytest.mark.both_stores

HOSTILE = "<b>Lê \"Thị\" O'Brien</b> — Kỳ tháng 4"
# small_cycle.yaml with every key the form used to lose.
EVERY_KEY = ((DATA / "small_cycle.yaml").read_text(encoding="utf-8")
             .replace("id: t-2026-04", "id: t-every-key")
             .replace('name: "Test cycle April 2026"',
                      "name: '" + HOSTILE.replace("'", "''") + "'")
             .replace("supervisor_scoring: {due: {working_days: 3}}",
                      'supervisor_scoring: {opens: "2026-05-11 08:00", due: {working_days: 3}}')
             .replace("appeal_window: {due: {working_days: 5}}",
                      'appeal_window: {due: {days: 5, at: "16:30"}}')
             .replace("  appeal_review: {due: {working_days: 10}}\n", "")
             + "appeal_reviewer: H1\nre_appeal_reviewer: UB1\n"
               "recusal: {calibration: UB1, appeal_review: A1}\n")
NAMES = ("sample-2026-04.yaml", "sample-2026-07.yaml", "sample-2026-year.yaml")
TEST_FILES = ("small_cycle.yaml", "two_agencies_cycle.yaml", "us_cycle.yaml")


@pytest.fixture
def web(new_service: Callable[..., Service], tmp_path: Path) -> WebWorld:
    config = tmp_path / "config"
    for part in ("regimes", "frameworks", "cycles", "series"):
        shutil.copytree(CONFIG / part, config / part)
    for name in TEST_FILES:
        shutil.copy(DATA / name, config / "cycles" / f"test-{name}")
    (config / "cycles" / "every-key.yaml").write_text(EVERY_KEY, encoding="utf-8")
    made = new_service(admins=("SNV060",))
    svc = Service(made.store, replace(made.settings, config_dir=config))
    import_org(svc, CONFIG / "organisation.csv", now=at("2026-05-01 09:00"))
    w = make_web(World(svc, "snv-2026-04"))
    w.clock.set("2026-07-20 09:00")
    return w


def saved_through_the_form(web: WebWorld, admin: TestClient, name: str) -> Path:
    """Open ``name`` in the form, post it as the browser would with Save; the file."""
    page = admin.get(f"/admin/cycles/edit/{name}")
    assert page.status_code == 200, text_of(page.text)[:500]
    fields = fields_of(page.text)
    fields["op"] = "save"
    saved = admin.post(FORM, data=fields)
    assert saved.status_code == 200, (name, errors_of(saved.text))
    return web.svc.settings.config_dir / "cycles" / name


def test_every_sample_and_test_cycle_file_round_trips_through_the_form(web: WebWorld) -> None:
    admin = web.sign_in("SNV060")
    cycles = web.svc.settings.config_dir / "cycles"
    names = [*NAMES, *(f"test-{n}" for n in TEST_FILES), "every-key.yaml"]
    for name in names:
        before = load_cycle(cycles / name).config
        after_path = saved_through_the_form(web, admin, name)
        assert load_cycle(after_path).config == before, name


def test_the_keys_the_form_used_to_drop_are_in_the_saved_file(web: WebWorld) -> None:
    admin = web.sign_in("SNV060")
    admin.cookies.set("kpi_lang", "vi")
    page = admin.get("/admin/cycles/edit/every-key.yaml")
    said = text_of(page.text)
    # The fields are labelled in the page's language.
    assert "Người xem xét kiến nghị tiếp theo" in said, said[:3000]
    assert "thay người rà soát tỷ lệ" in said
    path = saved_through_the_form(web, admin, "every-key.yaml")
    config = load_cycle(path).config
    assert config.name == HOSTILE
    assert (config.appeal_reviewer, config.re_appeal_reviewer) == ("H1", "UB1")
    assert (config.recusal.calibration, config.recusal.appeal_review) == ("UB1", "A1")
    phases = {s.value: p for s, p in config.phases.items()}
    assert "appeal_review" not in phases  # left to the regime, as the file had it
    due = phases["appeal_window"].due
    assert (getattr(due, "days", None), f"{getattr(due, 'at', None):%H:%M}") == (5, "16:30")
    assert phases["supervisor_scoring"].opens is not None
    assert "<b>Lê" not in page.text  # the hostile name is escaped in the form


def test_two_kinds_of_due_for_one_phase_are_refused_beside_the_field(web: WebWorld) -> None:
    admin = web.sign_in("SNV060")
    page = admin.get("/admin/cycles/edit/every-key.yaml")
    fields = fields_of(page.text)
    fields.update({"op": "save", "phases.appeal_window.due.working_days": "5"})
    refused = admin.post(FORM, data=fields)
    assert refused.status_code == 422
    # Beside the field, in the admin's language (SNV060 reads Vietnamese).
    assert "chỉ nhập một trong ba: ngày và giờ hạn chót, số ngày làm việc, hoặc số ngày theo " \
           "lịch" in errors_of(refused.text).values(), errors_of(refused.text)
