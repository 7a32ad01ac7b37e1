"""The live web demo: a seeded cycle to click through in a browser, on a demo clock.

The sample cycle runs in May 2026, so the demo keeps its own clock: it starts on the
sample cycle's first working morning (Monday 4 May 2026, 13:00 in Ha Noi) and runs on
from there at the speed of the wall clock. A button on every page jumps it to the
next deadline and runs the sweep, so a newcomer can also watch reminders, missed
deadlines and escalations happen.

Everyone in the sample organisation has already done their part except one
reviewee, the *protagonist*: their self-assessment, their peers' answers, their
supervisor's score, the calibration, the result and the appeal are left to the
person trying the demo. Every email the engine queues is shown on /demo/mail.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from workflow import sample
from workflow.clock import utc_now
from workflow.domain import State, Trigger
from workflow.service import calibration, demo_reads, lookups
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org
from workflow.service.setup import init_database
from workflow.service.sweep import SweepReport, tick
from workflow.service.transition import fire
from workflow.web.mailbox import CaughtMail, caught_messages, outbox_messages

VN = ZoneInfo("Asia/Ho_Chi_Minh")
CYCLE_FILE = Path("cycles") / "sample-2026-04.yaml"
CYCLE_ID = "snv-2026-04"
PROTAGONIST = "SNV042"  # a specialist of the civil-servant management unit
LEADERS_LAST = ("SNV040", "SNV041", "SNV022", "SNV023", "SNV004", "SNV005",
                "SNV002", "SNV003", "SNV001")  # scored after their teams


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=VN).astimezone(UTC)


DEMO_START = local("2026-05-04 13:00")


@dataclass
class DemoClock:
    """The demo's "now": its start plus the wall-clock time since, plus any jumps."""

    start: datetime = DEMO_START
    began: datetime = field(default_factory=utc_now)
    jumped: timedelta = timedelta(0)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self) -> datetime:
        return self.start + (utc_now() - self.began) + self.jumped

    def move_to(self, when: datetime) -> None:
        with self.lock:
            self.jumped += when - self()


@dataclass(frozen=True)
class LiveDemo:
    """What the person trying the demo needs: who to play and which links to open."""

    protagonist: str
    protagonist_name: str
    supervisor: str
    supervisor_name: str
    supervisor_email: str
    self_assessment_link: str
    # The cycle's calibrator (the director), whose task_calibration email is step 4: the
    # director's own evaluation goes to whoever took it on (recusal), with an email too.
    calibrator_name: str
    calibrator_email: str


def _ids(svc: Service, state: State | None = None) -> dict[str, int]:
    return demo_reads.evaluation_ids(svc, CYCLE_ID, state)


def _level(person_id: str) -> float:
    return 0.55 + (int(person_id[-3:]) * 37 % 100) / 300


def link_for(svc: Service, person: str, event: str) -> str | None:
    return demo_reads.latest_link(svc, person, event)


def prepare(svc: Service, config_dir: Path, say: Callable[[str], None] = print) -> LiveDemo:
    """Seed the sample cycle and play everyone's part but the protagonist's."""
    rng = random.Random(335)
    init_database(svc)
    import_org(svc, config_dir / "organisation.csv", actor_id="demo",
               now=local("2026-05-01 09:00"))
    opened = open_cycle(svc, config_dir / CYCLE_FILE, actor_id="SNV060",
                        now=local("2026-05-02 10:00"))
    say(f"cycle {opened.cycle_id} opened: {opened.evaluations} evaluations")
    now = local("2026-05-04 09:00")
    for person, eid in sorted(_ids(svc, State.SELF_ASSESSMENT).items()):
        if person != PROTAGONIST:
            fw = demo_reads.turn(svc, eid).framework
            fire(svc, eid, Trigger.SUBMIT_SELF_ASSESSMENT, person,
                 sample.self_assessment(fw, rng, _level(person)), now=now)
    now = local("2026-05-04 10:00")
    for _person, eid in sorted(_ids(svc, State.PEER_INPUT).items()):
        turn = demo_reads.turn(svc, eid)
        for peer in turn.pending_peers:
            fire(svc, eid, Trigger.SUBMIT_PEER_INPUT, peer,
                 sample.peer_input(turn.framework, rng, _level(peer)), now=now)
    now = local("2026-05-04 11:00")
    waiting = _ids(svc, State.SUPERVISOR_SCORING)
    order = sorted(waiting, key=lambda p: (p in LEADERS_LAST and LEADERS_LAST.index(p), p))
    for person in order:
        turn = demo_reads.turn(svc, waiting[person])
        assert turn.supervisor_id is not None  # the sample organisation names everyone's
        fire(svc, waiting[person], Trigger.SUBMIT_SCORE, turn.supervisor_id,
             sample.score(turn.framework, rng, _level(person)), now=now)
    supervisor_id = demo_reads.turn(svc, _ids(svc)[PROTAGONIST]).supervisor_id
    assert supervisor_id is not None
    calibrator_id = calibration.view(svc, CYCLE_ID).calibrator_id
    assert calibrator_id is not None  # the sample cycle names its calibrator
    people = lookups.people(svc, [PROTAGONIST, supervisor_id, calibrator_id])
    boss, director = people[supervisor_id], people[calibrator_id]
    link = link_for(svc, PROTAGONIST, "task_self_assessment")
    assert link is not None
    return LiveDemo(PROTAGONIST, people[PROTAGONIST].full_name, boss.id, boss.full_name,
                    boss.email, link, director.full_name, director.email)


def next_deadline(svc: Service, now: datetime) -> datetime | None:
    return demo_reads.next_deadline(svc, now)


def jumper(svc: Service, clock: DemoClock) -> Callable[[], tuple[datetime, SweepReport] | None]:
    """The demo control: move the clock just past the next deadline and run the sweep;
    what the sweep did comes back as its report, for the page to say in its language."""

    def jump() -> tuple[datetime, SweepReport] | None:
        due = next_deadline(svc, clock())
        if due is None:
            return None
        clock.move_to(due + timedelta(minutes=1))
        report = tick(svc, clock())
        return clock(), report

    return jump


def mail_source(svc: Service, folder: Path | None) -> Callable[[], list[CaughtMail]]:
    """What the demo's mail catcher received (``folder``), else the outbox itself: the
    emails of the demo's own time and all the protagonist's, not the seeded crowd's."""

    def mails() -> list[CaughtMail]:
        if folder is not None:
            return caught_messages(svc, folder, since=DEMO_START, also_to=PROTAGONIST)
        return outbox_messages(svc, since=DEMO_START, also_to=PROTAGONIST)

    return mails
