"""What a submission may hold (issue 17, item 6): an item not completed carries no
delays or failed assessments, and a key the form does not know is refused, not
dropped; the same rule for the web form, `kpi act --file` and the service."""

from __future__ import annotations

from typing import Any

import pytest

from workflow.errors import SubmissionInvalid
from workflow.scoring.model import load_framework, load_regime
from workflow.settings import PROJECT_ROOT
from workflow.states.appeal_review import validate_revision, validate_uphold
from workflow.states.appeal_window import validate_appeal
from workflow.states.self_assessment import validate_self_assessment
from workflow.states.supervisor_scoring import validate_score
from workflow.web.forms import payload as form_payload

REGIME = load_regime(PROJECT_ROOT / "config" / "regimes" / "vn-decree-335-2025.yaml")
FRAMEWORK = load_framework(PROJECT_ROOT / "config" / "frameworks" / "vn-specialist.yaml", REGIME)


def good_score(**tasks: Any) -> dict[str, Any]:
    criteria = {c.id: {"points": "5"} for c in FRAMEWORK.criteria if c.kind.value == "rubric"}
    item = {"title": "Báo cáo <b>quý</b>", "completed": True, "meets_requirements": True,
            "failed_assessments": 0, "delays": 0, **tasks}
    return {"criteria": criteria, "tasks": [{"title": "Hồ sơ", "completed": True}, item],
            "comment": "Tốt"}


def problems(validator: Any, payload: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(SubmissionInvalid) as info:
        validator(payload, FRAMEWORK)
    return {k: str(v) for k, v in info.value.fields.items()}


def test_a_good_score_passes() -> None:
    assert validate_score(good_score(), FRAMEWORK)["tasks"][1]["title"] == "Báo cáo <b>quý</b>"


@pytest.mark.parametrize(("outcome", "field", "message"), [
    ({"delays": 2}, "tasks[1].delays", "an item not completed cannot have delays"),
    ({"failed_assessments": 1}, "tasks[1].failed_assessments",
     "an item not completed cannot have failed assessments"),
])
def test_an_item_not_completed_cannot_carry_delays_or_failed_assessments(
        outcome: dict[str, Any], field: str, message: str) -> None:
    payload = good_score(completed=False, meets_requirements=False, **outcome)
    assert problems(validate_score, payload) == {field: message}


@pytest.mark.parametrize(("where", "field"), [
    ("top", "score"),
    ("item", "tasks[1].delay"),
    ("criterion", "criteria.innovation.pionts"),
    ("waiver", "tasks[1].progress_waiver.approved_by"),
])
def test_an_unknown_key_is_refused_and_named(where: str, field: str) -> None:
    payload = good_score(delays=1, progress_waiver={"approver": "SNV001", "reason": "Mất điện"})
    if where == "top":
        payload["score"] = 100
    elif where == "item":
        payload["tasks"][1]["delay"] = 1  # misspelt: the delay would be lost
    elif where == "criterion":
        payload["criteria"]["innovation"]["pionts"] = "9"
    else:
        payload["tasks"][1]["progress_waiver"]["approved_by"] = "SNV001"
    found = problems(validate_score, payload)
    assert list(found) == [field]
    assert found[field].startswith("unknown field: this form has no ")



def test_a_blank_field_a_form_sends_for_an_input_it_does_not_use_is_let_be() -> None:
    payload = good_score()
    payload["tasks"][1]["evidence"] = ""  # the shared task row's evidence input, empty
    assert validate_score(payload, FRAMEWORK)["tasks"][1]["delays"] == 0


def test_a_crafted_web_field_reaches_the_engine_and_is_refused() -> None:
    fields = {"criteria.innovation.points": "5", "tasks[0].title": "Hồ sơ",
              "tasks[0].completed": "1", "tasks[0].bonus": "10", "csrf_token": "x"}
    built = form_payload(fields, FRAMEWORK, texts=("comment",))
    assert built["tasks"][0]["bonus"] == "10"
    assert "tasks[0].bonus" in problems(validate_score, built)


def test_every_form_refuses_unknown_keys() -> None:
    assert "evidence_url" in problems(validate_self_assessment, {
        "criteria": {}, "note": "", "evidence_url": "http://x"})
    assert "deadline" in problems(validate_appeal, {"reasons": "Sai", "deadline": "later"})
    assert "score" in problems(validate_uphold, {"reason": "Đúng", "score": {"x": 1}})
    assert "new_class" in problems(validate_revision, {"reason": "r", "score": good_score(),
                                                       "new_class": "excellent"})
