"""Every email event, in every variant it has (the state it names, to the reviewee or
to someone else, the trigger, the decision), read as its reader reads it: in
Vietnamese, no English sentence and no internal name (state, class or trigger ids,
pool keys, field paths, commands); in English, no Vietnamese word. The data is the
sample organisation's, cycle's, regime's and framework's (config/), so the names,
labels and reasons are the real ones."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from notifications.render import EVENTS, Rendered, render
from tests.mail_words import (
    english_words,
    html_text,
    internal_names,
    vietnamese_letters,
    without,
)
from workflow.settings import PROJECT_ROOT

CONFIG = PROJECT_ROOT / "config"
BASE = "https://kpi.snv.example.gov.vn"
LINK = f"{BASE}/t/Zq3-rT9_token"
DUE = "2026-05-07T10:00:00+00:00"


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


PEOPLE = list(csv.DictReader(
    (CONFIG / "organisation.csv").read_text(encoding="utf-8").splitlines()))
CYCLE = _yaml(CONFIG / "cycles" / "sample-2026-04.yaml")
REGIME = _yaml(CONFIG / "regimes" / "vn-decree-335-2025.yaml")
FRAMEWORK = _yaml(CONFIG / "frameworks" / "vn-specialist.yaml")
CLASSES = {c["id"]: c["label"] for c in REGIME["classes"]}
REVIEWEE, SUPERVISOR, OTHER = PEOPLE[10], PEOPLE[5], PEOPLE[20]
REASONS = ("Hai sản phẩm hoàn thành đúng hạn nhưng bị ghi nhận trễ.\nĐề nghị xem lại.",
           "Biên bản giao nhận xác nhận đúng hạn.", "Chuyển công tác sang Sở Tài chính",
           "Nghỉ ốm có giấy xác nhận", "Quyết định 12/QĐ điều chỉnh mục 3")


def _breakdown() -> list[dict[str, Any]]:
    lines = [{"criterion": c["id"], "label": c["label"], "points": "8.50",
              "max": str(c.get("max", 10))} for c in FRAMEWORK["criteria"][:3]]
    lines.append({"criterion": "peer", "label": {"en": "Peer input",
                                                  "vi": "Góp ý của đồng nghiệp"},
                  "points": None, "max": "5"})
    return lines


def _common(state: str) -> dict[str, Any]:
    return {"cycle_id": CYCLE["id"], "cycle_name": CYCLE["name"],
            "period_start": "2026-04-01", "period_end": "2026-04-30", "evaluation_id": 12,
            "reviewee_id": REVIEWEE["employee_id"], "reviewee_name": REVIEWEE["full_name"],
            "state": state, "due_at": DUE, "cycle_timezone": CYCLE["timezone"],
            "trigger": "submit_score", "reason": None, "action_url": LINK}


RESULT = {"score": "83.50", "class_id": "well_completed",
          "class_label": CLASSES["well_completed"], "breakdown": _breakdown()}
OPEN = ("self_assessment", "peer_input", "supervisor_scoring", "calibration",
        "appeal_window", "appeal_review")


def variants() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(event, what varies, context) for every branch the templates have."""
    yield "task_self_assessment", "", _common("self_assessment")
    yield "task_peer_input", "", _common("peer_input")
    for trigger in ("submit_self_assessment", "reopen"):
        yield "task_supervisor_scoring", trigger, {**_common("supervisor_scoring"),
                                                   "trigger": trigger, "reason": REASONS[4]}
    for n in (1, 56):
        yield "task_calibration", str(n), {"cycle_id": CYCLE["id"],
                                           "cycle_name": CYCLE["name"], "evaluations": n,
                                           "due_at": DUE, "state": "calibration",
                                           "action_url": LINK}
    yield "task_appeal_review", "", {**_common("appeal_review"), **RESULT,
                                     "appeal_reasons": REASONS[0]}
    for state, n in itertools.product(OPEN, (None, 1, 7)):
        if n and state != "calibration":
            continue
        yield "reminder", f"{state}/{n}", {**_common(state), "evaluations": n}
        yield "overdue", f"{state}/{n}", {**_common(state), "evaluations": n}
        yield "extension_granted", state, {**_common(state), "reason": REASONS[3],
                                           "old_due_at": "2026-05-05T10:00:00+00:00"}
        for to, link in (("admins", None), ("supervisor", LINK)):
            yield "escalation", f"{state}/{to}/{n}", {
                **_common(state), "action_url": link if state == "supervisor_scoring"
                else None, "escalation_level": 2, "escalated_to": to, "evaluations": n,
                "assignee_name": SUPERVISOR["full_name"]}
    yield "result", "", {**_common("appeal_window"), **RESULT}
    publication = f"{LINK}-publication"
    yield "result", "published", {**_common("appeal_window"), **RESULT,
                                  "publication_url": publication}
    for unit in ("days", "working_days"):  # the window runs from the unit's publication
        yield "result", f"from-publication/{unit}", {
            **_common("appeal_window"), **RESULT, "due_at": None,
            "publication_url": publication,
            "petition_window": {"days": 5 if unit == "days" else None,
                                "working_days": 10 if unit == "working_days" else None}}
    yield "results_published", "", {**_common("appeal_window"),
                                    "published_at": "2026-05-04T03:00:00+00:00",
                                    "publication_url": publication}
    yield "self_assessment_missed", "", {**_common("peer_input"), "action_url": None}
    yield "appeal_lodged", "", {**_common("appeal_review"), **RESULT, "action_url": None,
                                "appeal_reasons": REASONS[0]}
    for decision in ("revise_score", "uphold_score"):
        yield "appeal_decided", decision, {**_common("finalised"), **RESULT,
                                           "action_url": None, "due_at": None,
                                           "decision": decision,
                                           "decision_reason": REASONS[1]}
    for trigger in ("accept_result", "appeal_window_closed"):
        yield "finalised", trigger, {**_common("finalised"), **RESULT, "action_url": None,
                                     "due_at": None, "trigger": trigger}
    yield "cancelled", "", {**_common("cancelled"), "action_url": None, "due_at": None,
                            "reason": REASONS[2]}
    for what in ("scoring", "calibration", "appeal_review"):
        yield "stepped_aside", what, {**_common("supervisor_scoring"), "action_url": None,
                                      "steps_aside_from": what, "reason": REASONS[2],
                                      "assignee_name": OTHER["full_name"]}
    yield "reopened", "", {**_common("supervisor_scoring"), "action_url": None,
                           "reason": REASONS[4]}
    item = {"evaluation_id": 12, "cycle_name": CYCLE["name"],
            "reviewee_id": REVIEWEE["employee_id"], "reviewee_name": REVIEWEE["full_name"],
            "state": "supervisor_scoring", "due_at": DUE, "action_url": LINK,
            "notices": ["task_supervisor_scoring"], "most_urgent": "task_supervisor_scoring",
            "self_assessment_missing": False}
    items = [item, {**item, "most_urgent": "reminder", "notices": ["reminder"]},
             {**item, "most_urgent": "overdue", "notices": ["overdue"],
              "self_assessment_missing": True},
             {**item, "state": "peer_input", "action_url": None,
              "reviewee_name": OTHER["full_name"], "most_urgent": "self_assessment_missed",
              "notices": ["self_assessment_missed"], "self_assessment_missing": True}]
    for listed, also in ((items, 3), (items[:1], 1), (items[3:], 0)):
        yield "digest", f"{len(listed)}/{also}", {
            "digest_at": "2026-05-06T01:00:00+00:00", "items": listed, "also_waiting": also,
            "overdue_count": sum(1 for i in listed if i["most_urgent"] == "overdue"),
            "cycle_names": [CYCLE["name"]]}
    yield "sign_in", "", {"action_url": LINK, "expires_at": "2026-05-06T02:30:00+00:00"}


CASES = [(event, what, ctx, to) for event, what, ctx in variants()
         for to in (REVIEWEE, SUPERVISOR)]


def _values(ctx: dict[str, Any], recipient: dict[str, str]) -> list[str]:
    """What people and files supplied, in both languages: not the system's words."""
    out = [recipient["full_name"], CYCLE["name"], *REASONS]
    out += [str(ctx.get(k) or "") for k in ("reviewee_name", "assignee_name")]
    labels = [ctx.get("class_label") or {}] + [line["label"] for line in
                                                ctx.get("breakdown") or ()]
    out += [text for label in labels for text in label.values()]
    out += [i["reviewee_name"] for i in ctx.get("items") or ()]
    return out


def _render(event: str, locale: str, ctx: dict[str, Any], to: dict[str, str]) -> Rendered:
    return render(event=event, locale=locale, timezone="Asia/Ho_Chi_Minh",
                  recipient_name=to["full_name"], recipient_id=to["employee_id"],
                  context=ctx, base_url=BASE, templates_dir=PROJECT_ROOT / "templates")


def test_the_variants_cover_every_event() -> None:
    assert {event for event, _, _, _ in CASES} == set(EVENTS)


@pytest.mark.parametrize(("event", "what", "ctx", "to"), CASES,
                         ids=[f"{e}-{w}-{t['employee_id']}" for e, w, _, t in CASES])
def test_a_vietnamese_email_has_no_english_and_no_internal_name(
        event: str, what: str, ctx: dict[str, Any], to: dict[str, str]) -> None:
    out = _render(event, "vi", ctx, to)
    values = _values(ctx, to)
    for part, text in (("subject", out.subject), ("text", out.text),
                       ("html", html_text(out.html))):
        left = without(text, values)
        assert not english_words(left), (part, english_words(left), left)
        assert not internal_names(left), (part, internal_names(left), left)
    assert '<html lang="vi">' in out.html


@pytest.mark.parametrize(("event", "what", "ctx", "to"), CASES,
                         ids=[f"{e}-{w}-{t['employee_id']}" for e, w, _, t in CASES])
def test_an_english_email_has_no_vietnamese_and_no_internal_name(
        event: str, what: str, ctx: dict[str, Any], to: dict[str, str]) -> None:
    out = _render(event, "en", ctx, to)
    values = _values(ctx, to)
    for part, text in (("subject", out.subject), ("text", out.text),
                       ("html", html_text(out.html))):
        left = without(text, values)
        assert not vietnamese_letters(left), (part, left)
        assert not internal_names(left), (part, internal_names(left), left)
    assert '<html lang="en">' in out.html


def test_the_checks_find_what_they_look_for() -> None:
    # The checks themselves: an English sentence, an id, a path, a pool key, a command.
    assert english_words("Hạn chót: the deadline has passed")
    assert internal_names("Bước supervisor_scoring") == ["supervisor_scoring"]
    assert internal_names("criteria.political_quality.points")
    assert internal_names("nhóm task_group:A") and internal_names("chạy kpi org import")
    assert not english_words("Kính gửi Anh/Chị, hạn chót 17:00 (Giờ Việt Nam, UTC+07:00)")
    assert vietnamese_letters("Due 7 May, Hạn") == ["ạ"]
