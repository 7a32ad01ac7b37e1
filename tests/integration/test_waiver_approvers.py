"""A deduction waiver names a person allowed to confirm it (issue 17, item 6b).

A leader or deputy above the reviewee in the organisation may (S1's: H1, then D1; D1's:
UB1, the evaluator the cycle names), or someone the regime's ``waivers.approvers`` names
(a person id, a position, a position group). Anything else is refused where it is
submitted, by `kpi act` and by the score form, naming the item, the approver given and
who may; nothing is stored. `kpi score explain` names the approver as the organisation
does, however it was typed.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.integration.test_scoring_leaders import pay, to_scoring
from tests.integration.test_web import field_has_error, ready_for_scoring
from tests.support import (
    CONFIG,
    DATA,
    World,
    at,
    kpi_act,
    seeded_small_world_at_scoring,
    small_world,
)
from tests.web_support import make_web, score_fields, text_of
from workflow.cli import main
from workflow.domain import State, SubmissionKind
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org
from workflow.service.queries import explain
from workflow.service.scoring_inputs import submissions_of

pytestmark = pytest.mark.both_stores

HOSTILE = "Ông <b>\"Trùm\"</b> 'cuối'"


def waived(fw: Any, approver: str, reason: str = "Mất điện <i>diện rộng</i> 3 ngày") \
        -> dict[str, Any]:
    """S-level score whose first item was late twice, the delays waived by ``approver``."""
    payload = pay(fw, "0.9", 4)
    payload["tasks"][0].update(delays=2, progress_waiver={"approver": approver,
                                                          "reason": reason})
    return payload


def act(w: World, person: str, payload: dict[str, Any], tmp_path: Path, by: str = "H1"
        ) -> Result:
    """The score of ``person`` by ``by`` through `kpi act`, on the scoring day."""
    return kpi_act(w, person, "submit_score", by, payload, tmp_path, "2026-05-13 09:00")


@pytest.fixture
def world(seeded_service: Callable[..., Service]) -> World:
    return seeded_small_world_at_scoring(seeded_service)


@pytest.mark.parametrize("approver", [HOSTILE, "S2", "S1", "A1", "UB1", "", "Giám đốc"])
def test_kpi_act_refuses_a_waiver_by_someone_not_above_the_reviewee(
        world: World, tmp_path: Path, approver: str) -> None:
    """Free text, a colleague, the reviewee themself, the HR officer, the province's
    chairman (he evaluates D1 by the cycle file, but the organisation's line above S1
    stops at D1), part of a name, nothing: all refused."""
    before = world.row("S1")
    result = act(world, "S1", waived(world.framework("S1"), approver), tmp_path)
    assert result.exit_code != 0, result.output
    if approver:
        assert (f"tasks[0].progress_waiver.approver: item 1 «Sản phẩm 1»: “{approver}” may "
                "not confirm this waiver: a waiver is confirmed by a leader or deputy above "
                "the person evaluated, or by someone the regime names; here that is "
                "Trưởng phòng Lê Văn Hùng (H1), Giám đốc Nguyễn Thị Sở (D1) (write the name "
                "or the employee id)") in result.output, result.output
    else:
        assert "tasks[0].progress_waiver.approver: required" in result.output, result.output
    assert world.row("S1") == before
    with world.svc.store.read() as s:
        assert submissions_of(s, world.ev("S1"), SubmissionKind.SUPERVISOR_SCORE) == []


@pytest.mark.parametrize(("typed", "name", "person_id"), [
    ("D1", "Giám đốc Nguyễn Thị Sở", "D1"),
    ("  giám đốc   NGUYỄN thị sở ", "Giám đốc Nguyễn Thị Sở", "D1"),
    ("h1", "Trưởng phòng Lê Văn Hùng", "H1"),
])
def test_a_leader_above_the_reviewee_confirms_and_explain_names_them(
        world: World, tmp_path: Path, typed: str, name: str, person_id: str) -> None:
    result = act(world, "S1", waived(world.framework("S1"), typed), tmp_path)
    assert result.exit_code == 0, result.output
    assert world.state("S1") is State.CALIBRATION
    with world.svc.store.read() as s:
        (stored,) = submissions_of(s, world.ev("S1"), SubmissionKind.SUPERVISOR_SCORE)
    assert stored["tasks"][0]["progress_waiver"] == {
        "approver": name, "approver_id": person_id, "reason": "Mất điện <i>diện rộng</i> 3 ngày"}
    lines = [line.text("en") for line in explain(world.svc, world.ev("S1")).lines]
    assert any(f"item 1 «Sản phẩm 1»: progress deduction for 2 delay(s) waived by {name}: "
               "Mất điện <i>diện rộng</i> 3 ngày" in line for line in lines), lines
    out = CliRunner().invoke(main, ["score", "explain", str(world.ev("S1"))],
                             env={"KPI_DATABASE_URL": world.svc.settings.database_url})
    assert f"waived by {name}" in out.output


def test_the_head_of_the_agencys_waiver_is_confirmed_by_the_named_evaluator(
        world: World, tmp_path: Path) -> None:
    payload = waived(world.framework("D1"), "UB1")
    refused = act(world, "D1", waived(world.framework("D1"), "H1"), tmp_path, by="UB1")
    assert refused.exit_code != 0
    assert "here that is Chủ tịch Trần Văn Tỉnh (UB1)" in refused.output, refused.output
    result = act(world, "D1", payload, tmp_path, by="UB1")
    assert result.exit_code == 0, result.output


def test_the_regime_names_further_approvers_by_position(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    config = tmp_path / "config"
    for part in ("regimes", "frameworks"):
        shutil.copytree(CONFIG / part, config / part)
    regime = config / "regimes" / "vn-decree-335-2025.yaml"
    text, n = re.subn(r"^  approvers: \[\]$", '  approvers: ["chuyên viên TỔ CHỨC", UB1]',
                      regime.read_text(encoding="utf-8"), flags=re.M)
    assert n == 1
    regime.write_text(text, encoding="utf-8")
    made = new_service()
    svc = Service(made.store, replace(made.settings, config_dir=config))
    import_org(svc, DATA / "small_org.csv", now=at("2026-05-01 09:00"))
    open_cycle(svc, DATA / "small_cycle.yaml", now=at("2026-05-02 10:00"))
    w = World(svc, "t-2026-04")
    to_scoring(w)
    ok = act(w, "S1", waived(w.framework("S1"), "Trịnh Thu Hằng"), tmp_path)
    assert ok.exit_code == 0, ok.output
    # A1 cannot confirm her own waiver: the rule names her position, not her case.
    refused = act(w, "A1", waived(w.framework("A1"), "A1"), tmp_path)
    assert refused.exit_code != 0
    assert "here that is Trưởng phòng Lê Văn Hùng (H1), Giám đốc Nguyễn Thị Sở (D1), " \
           "Chủ tịch Trần Văn Tỉnh (UB1)" in refused.output, refused.output


def test_the_score_form_shows_the_refusal_at_the_approver_field(svc: Service) -> None:
    web = make_web(small_world(svc))
    ready_for_scoring(web.world, ["S1"])
    web.clock.set("2026-05-08 09:00")
    browser = web.sign_in("H1")
    path = f"/e/{web.world.ev('S1')}/score"
    browser.get(path)
    fields = score_fields(web.world.framework("S1"), points="9", op="submit",
                          csrf_token=web.csrf(browser, path))
    fields.update({"tasks[0].delays": "1",
                   "tasks[0].progress_waiver.approver": HOSTILE,
                   "tasks[0].progress_waiver.reason": "Mất điện"})
    page = browser.post(path, data=fields)
    assert page.status_code == 422, text_of(page.text)[-800:]
    assert field_has_error(page.text, "tasks[0].progress_waiver.approver")
    text = text_of(page.text)
    assert f"“{HOSTILE}” không được xác nhận" in text, text[-1500:]
    assert "Trưởng phòng Lê Văn Hùng (H1), Giám đốc Nguyễn Thị Sở (D1)" in text
    assert "<b>\"Trùm\"</b>" not in page.text  # escaped
    assert web.world.state("S1") is State.SUPERVISOR_SCORING
    fields["tasks[0].progress_waiver.approver"] = "Giám đốc Nguyễn Thị Sở"
    done = browser.post(path, data=fields)
    assert done.status_code == 200, text_of(done.text)[-800:]
    assert web.world.state("S1") is State.CALIBRATION
