"""`kpi demo`: a whole sample cycle on SQLite, played day by day, narrated.

It imports the sample organisation, opens the sample April 2026 cycle, then plays
what people do: most reviewees self-assess, peers answer, supervisors score (one
is late and gets escalated), the director calibrates the quota, one reviewee
appeals, and the clock closes the rest. Every step goes through the same service
calls the web app and the CLI make; the deadlines fire through the same sweep.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from workflow import sample
from workflow.domain import State, Trigger
from workflow.errors import KpiError
from workflow.service import calibration, demo_reads
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org
from workflow.service.queries import verify_audit
from workflow.service.setup import init_database
from workflow.service.sweep import tick
from workflow.service.transition import fire

VN = ZoneInfo("Asia/Ho_Chi_Minh")
SAMPLE_CYCLE = "snv-2026-04"
LATE_SUPERVISOR = "SNV021"  # scores nobody until escalated
SILENT = ("SNV031", "SNV045")  # never self-assess


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=VN).astimezone(UTC)


@dataclass
class Demo:
    svc: Service
    say: Callable[[str], None]
    rng: random.Random
    # Delivers the outbox as of a time (`kpi demo`: to its mail catcher), after each day.
    deliver: Callable[[datetime], None] | None = None
    last: datetime | None = None

    def flush(self) -> None:
        if self.deliver is not None and self.last is not None:
            self.deliver(self.last)

    def ids(self, state: State | None = None) -> dict[str, int]:
        return demo_reads.evaluation_ids(self.svc, SAMPLE_CYCLE, state)

    def turn(self, evaluation_id: int) -> demo_reads.Turn:
        return demo_reads.turn(self.svc, evaluation_id)

    def counts(self) -> str:
        seen = demo_reads.progress(self.svc, SAMPLE_CYCLE)
        states = ", ".join(f"{state} {n}" for state, n in seen.by_state)
        return f"{states}; {seen.outbox_rows} emails in the outbox"

    def day(self, when: str, what: str) -> datetime:
        self.flush()  # the mail of the day before, at that day's time
        now = at(when)
        report = tick(self.svc, now)
        self.last = now
        self.flush()
        self.say(f"\n{when}  {what}")
        if sum(report.fired.values()):
            self.say(f"  clock: {report.summary()}")
        return now

    def act(self, evaluation_id: int, trigger: Trigger, actor: str, payload: dict[str, object],
            now: datetime, reason: str | None = None) -> None:
        try:
            fire(self.svc, evaluation_id, trigger, actor, payload, reason, now=now)
        except KpiError as exc:  # the demo shows refusals instead of stopping
            self.say(f"  refused: {exc}")


def level_of(person_id: str) -> float:
    """A stable made-up performance level per person (the demo's ground truth)."""
    return 0.55 + (int(person_id[-3:]) * 37 % 100) / 300


def run_demo(svc: Service, config_dir: Path, say: Callable[[str], None],
             deliver: Callable[[datetime], None] | None = None) -> None:
    """Play the sample cycle from opening to the last appeal, narrating each day;
    ``deliver(now)`` sends the outbox as of each day, if given."""
    d = Demo(svc, say, random.Random(335), deliver)
    init_database(svc)
    report = import_org(svc, config_dir / "organisation.csv", actor_id="demo",
                        now=at("2026-05-01 09:00"))
    say(f"organisation: {len(report.added)} people imported from "
        f"{config_dir / 'organisation.csv'}")
    opened = open_cycle(svc, config_dir / "cycles" / "sample-2026-04.yaml", actor_id="SNV060",
                        now=at("2026-05-02 10:00"))
    say(f"cycle {opened.cycle_id} opened: {opened.evaluations} evaluations, "
        f"{opened.emails} task emails queued for Monday 4 May 08:00")

    now = d.day("2026-05-05 09:00", "reviewees fill in their self-assessments")
    done = 0
    for person, eid in sorted(d.ids(State.SELF_ASSESSMENT).items()):
        if person in SILENT:
            continue
        fw = d.turn(eid).framework
        d.act(eid, Trigger.SUBMIT_SELF_ASSESSMENT, person,
              sample.self_assessment(fw, d.rng, level_of(person)), now)
        done += 1
    say(f"  {done} self-assessments submitted; {', '.join(SILENT)} stay silent")

    now = d.day("2026-05-06 14:00", "peers answer, anonymously")
    answered = 0
    for _person, eid in sorted(d.ids(State.PEER_INPUT).items()):
        turn = d.turn(eid)
        fw = turn.framework
        for peer in turn.pending_peers:
            d.act(eid, Trigger.SUBMIT_PEER_INPUT, peer,
                  sample.peer_input(fw, d.rng, level_of(peer)), now)
            answered += 1
    say(f"  {answered} peer answers; {d.counts()}")

    d.day("2026-05-08 09:00", "the self-assessment deadline has passed")
    say(f"  {d.counts()}")

    now = d.day("2026-05-12 09:00", "supervisors score their teams, the team before its head")
    scored = 0
    ordered = sorted(d.ids(State.SUPERVISOR_SCORING).items(),
                     key=lambda item: (item[0] in ("SNV001", "SNV002", "SNV003"), item[0]))
    for person, eid in ordered:
        turn = d.turn(eid)
        supervisor = turn.supervisor_id or ""
        if supervisor == LATE_SUPERVISOR or person in ("SNV001", "SNV002", "SNV003"):
            continue
        fw = turn.framework
        d.act(eid, Trigger.SUBMIT_SCORE, supervisor,
              sample.score(fw, d.rng, level_of(person)), now)
        scored += 1
    say(f"  {scored} scored; {LATE_SUPERVISOR} has not scored anyone yet")

    now = d.day("2026-05-19 09:00", f"{LATE_SUPERVISOR}'s team is overdue: escalated upwards")
    for person, eid in sorted(d.ids(State.SUPERVISOR_SCORING).items()):
        turn = d.turn(eid)
        if person in ("SNV001", "SNV002", "SNV003"):
            continue
        fw = turn.framework
        escalated = turn.escalation_supervisors
        scorer = escalated[0] if escalated else turn.supervisor_id or ""
        d.act(eid, Trigger.SUBMIT_SCORE, scorer, sample.score(fw, d.rng, level_of(person)), now)
    for person in ("SNV002", "SNV003", "SNV001"):  # the leaders, once their units are scored
        eid = d.ids()[person]
        turn = d.turn(eid)
        if turn.state is State.SUPERVISOR_SCORING:
            fw = turn.framework
            d.act(eid, Trigger.SUBMIT_SCORE, turn.supervisor_id or "",
                  sample.score(fw, d.rng, level_of(person)), now)
    say(f"  everyone scored; {d.counts()}")

    now = d.day("2026-05-20 10:00", "the director calibrates the quota on 'excellent'")
    view = calibration.view(svc, SAMPLE_CYCLE)
    for meter in view.meters:
        say(f"  pool {meter.pool}: {meter.limited} excellent, {meter.allowed} allowed "
            f"({meter.relative} well completed){'  BREAKS the quota' if meter.breaks else ''}")
    try:
        calibration.approve(svc, SAMPLE_CYCLE, "SNV001", now=now)
    except KpiError as exc:
        say(f"  approval refused: {exc}")
    # The fewest moves that make every pool hold together (a move in a task group
    # counts in the agency too): the lowest excellent scores of each group in the plan.
    current = calibration.view(svc, SAMPLE_CYCLE)
    moves = 0
    plan = current.needed.by_task_group if current.needed else {}
    for group, k in plan.items():
        excellent = sorted((m for m in current.members if m.final_class == "excellent"
                            and m.task_group == group), key=lambda m: Decimal(m.score or 0))
        for m in excellent[:k]:
            calibration.move_class(svc, m.evaluation_id, "well_completed",
                                   "Quota of Decree 335 Art 20(5): lowest excellent scores "
                                   "of the pool move to well completed", "SNV001", now=now)
            moves += 1
    n = calibration.approve(svc, SAMPLE_CYCLE, "SNV001", now=now)
    say(f"  {moves} moved down with a reason; approved: {n} results emailed, appeal window open")

    now = d.day("2026-05-21 09:00", "two reviewees answer their results")
    ids = d.ids(State.APPEAL_WINDOW)
    accepter, appellant = sorted(ids)[5], sorted(ids)[7]
    d.act(ids[accepter], Trigger.ACCEPT_RESULT, accepter, {}, now)
    d.act(ids[appellant], Trigger.LODGE_APPEAL, appellant,
          {"reasons": "Hai sản phẩm hoàn thành đúng hạn nhưng bị ghi nhận trễ."}, now)
    say(f"  {accepter} accepts; {appellant} appeals")

    now = d.day("2026-05-25 09:00", "the appeal reviewer decides")
    turn = d.turn(ids[appellant])
    reviewer = turn.appeal_reviewer_id or ""
    fw = turn.framework
    d.act(ids[appellant], Trigger.REVISE_SCORE, reviewer, {
        "reason": "Biên bản giao nhận xác nhận đúng hạn.",
        "score": sample.score(fw, d.rng, level_of(appellant) + 0.05)}, now)
    say(f"  {reviewer} revised {appellant}'s score")

    d.day("2026-06-01 09:00", "the appeal window has closed: silence is acceptance")
    say(f"  {d.counts()}")
    d.flush()
    result = verify_audit(svc)
    say(f"\naudit chain: {'intact' if result.ok else 'BROKEN'}, {result.rows} rows")
