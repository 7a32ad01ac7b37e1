"""The calendar from the command line: `kpi cycle check`, `kpi extend-bulk`, `kpi tick`,
`kpi serve` (a real process, stopped with SIGTERM)."""

from __future__ import annotations

import csv
import io
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, func, select, text

from notifications.testing import RecordingServer
from tests.support import CONFIG, kpi, ok
from workflow.domain import State
from workflow.store.tables import DEADLINE, EVALUATION, OUTBOX, PERSON

KPI = str(Path(sys.executable).with_name("kpi"))
SAMPLE = CONFIG / "cycles" / "sample-2026-04.yaml"
JULY = CONFIG / "cycles" / "sample-2026-07.yaml"
# A few people read their mail elsewhere: their reminders come at their own 08:00.
VN = ZoneInfo("Asia/Ho_Chi_Minh")
ABROAD = {"SNV010": "Europe/Paris", "SNV021": "America/New_York", "SNV033": "Asia/Tokyo"}


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh database with the sample organisation (a few people abroad)."""
    url = f"sqlite:///{tmp_path / 'kpi.sqlite3'}"
    monkeypatch.setenv("KPI_DATABASE_URL", url)
    monkeypatch.delenv("KPI_NOW", raising=False)
    lines = (CONFIG / "organisation.csv").read_text(encoding="utf-8").splitlines()
    org = [lines[0] + ",timezone"] + [
        f"{line},{ABROAD.get(line.split(',')[0], '')}" for line in lines[1:]]
    (tmp_path / "org.csv").write_text("\n".join(org) + "\n", encoding="utf-8")
    ok(kpi("init"))
    ok(kpi("org", "import", str(tmp_path / "org.csv")))
    yield url


# --- kpi cycle check ----------------------------------------------------------------------


def test_cycle_check_prints_the_whole_simulated_calendar_of_the_sample(db: str) -> None:
    out = ok(kpi("--now", "2026-05-02T10:00", "cycle", "check", str(SAMPLE)))
    assert "self_assessment      opens Mon 2026-05-04 08:00  due Thu 2026-05-07 17:00  " \
           "(3 working days)" in out
    assert "appeal_review        opens Tue 2026-05-26 17:00  due Tue 2026-06-09 17:00" in out
    assert "deadlines on a day off: none" in out
    assert "58 evaluations: BGD 3, CCVC 18, TCBC 18, VP 19" in out
    assert "  Mon 2026-05-04\n" in out
    assert "    08:00  task_self_assessment   SNV001     Nguyễn Đức Phúc" in out
    # SNV021, in New York, is reminded at 08:00 on their clock (19:00 in Hanoi).
    assert "08:00 (America/New_York)  reminder" in out
    assert "in the end, nobody acting: 58 in supervisor_scoring waiting on named people" in out
    assert out.rstrip().endswith(f"{SAMPLE}: ok")


def test_cycle_check_shows_deadlines_moved_off_holidays_and_the_swapped_saturday(
        db: str) -> None:
    out = ok(kpi("--now", "2026-07-30T10:00", "cycle", "check", str(JULY)))
    assert "peer_input           opens Thu 2026-08-06 17:00  due Tue 2026-08-11 17:00" in out
    assert "appeal_window        opens Wed 2026-08-19 17:00  due Tue 2026-08-25 17:00" in out
    assert ("phases.appeal_review.due Wed 2026-09-02 17:00 is a day off (National Day): "
            "moved to Thu 2026-09-03 17:00") in out
    assert "Fri 07 Aug Đại hội Đảng bộ tỉnh (ngày nghỉ của cơ quan)" in out
    assert "Mon 31 Aug Day off (substituted from 08/22/2026)" in out
    assert "weekend days worked: Sat 22 Aug swapped working day" in out


def test_cycle_check_csv_has_one_row_per_simulated_email(db: str) -> None:
    table = ok(kpi("--now", "2026-05-02T10:00", "cycle", "check", str(SAMPLE)))
    out = ok(kpi("--now", "2026-05-02T10:00", "cycle", "check", "--csv", str(SAMPLE)))
    rows = list(csv.DictReader(io.StringIO(out)))
    sent = int(table.split(" emails sent: ")[0].rsplit("\n", 1)[1])
    held = int(table.split(" notices to supervisors go into their daily digest")[0]
               .rsplit("\n", 1)[1])
    assert len(rows) == sent + held and sent > 500 and held > 500
    assert sum(r["delivery"] == "digest" for r in rows) == held
    # A held notice waits for its recipient's 08:00 digest, itself a row of that instant.
    for r in (r for r in rows if r["delivery"] == "digest"):
        assert r["local_time"] == "08:00" and r["phase"] in ("supervisor_scoring", "peer_input")
    digests = {(r["recipient_id"], r["at_utc"]) for r in rows if r["event"] == "digest"}
    assert digests == {(r["recipient_id"], r["at_utc"]) for r in rows
                       if r["delivery"] == "digest"}
    first = rows[0]
    assert (first["local_date"], first["local_time"], first["event"], first["recipient_id"],
            first["reviewee_id"], first["phase"]) == (
        "2026-05-04", "08:00", "task_self_assessment", "SNV001", "SNV001", "self_assessment")
    paris = [r for r in rows if r["recipient_id"] == "SNV010" and r["event"] == "reminder"]
    assert paris and {(r["timezone"], r["local_time"]) for r in paris} == {
        ("Europe/Paris", "08:00")}


def test_cycle_check_names_the_line_of_a_bad_calendar(db: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SAMPLE.read_text(encoding="utf-8").replace(
        "timezone: Asia/Ho_Chi_Minh", "timezone: Asia/Saigon_City"), encoding="utf-8")
    result = kpi("cycle", "check", str(bad))
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"kpi: error: {bad}:7: timezone: unknown time zone 'Asia/Saigon_City' (expected an "
        "IANA name such as Asia/Ho_Chi_Minh or Europe/Paris)")


# --- kpi extend, kpi delegate: dates typed in the cycle's time zone ------------------------


def test_extend_and_delegate_read_a_local_until_in_the_cycles_time_zone(
        db: str, tmp_path: Path) -> None:
    tokyo = tmp_path / "tokyo.yaml"
    tokyo.write_text(SAMPLE.read_text(encoding="utf-8").replace(
        "timezone: Asia/Ho_Chi_Minh", "timezone: Asia/Tokyo"), encoding="utf-8")
    ok(kpi("--now", "2026-05-02T10:00", "cycle", "open", str(tokyo)))
    engine = create_engine(db)
    with engine.connect() as c:
        eid = c.execute(select(EVALUATION.c.id).where(
            EVALUATION.c.reviewee_id == "SNV030")).scalar_one()
    who = ["--reason", "sick leave", "--approved-by", "SNV001", "--by", "SNV060"]
    out = ok(kpi("--now", "2026-05-05T09:00", "extend", str(eid), "--until",
                 "2026-05-12T17:00", *who))
    assert out.strip() == f"evaluation {eid}: deadline moved to Tue 2026-05-12 17:00 (Asia/Tokyo)"
    with engine.connect() as c:
        due = c.execute(select(EVALUATION.c.due_at).where(EVALUATION.c.id == eid)).scalar_one()
    assert due.replace(tzinfo=UTC) == datetime(2026, 5, 12, 8, 0, tzinfo=UTC)  # 17:00 in Tokyo
    # An explicit offset is taken as given.
    ok(kpi("--now", "2026-05-05T09:00", "extend", str(eid), "--until",
           "2026-05-13T17:00+07:00", *who))
    with engine.connect() as c:
        due = c.execute(select(EVALUATION.c.due_at).where(EVALUATION.c.id == eid)).scalar_one()
    assert due.replace(tzinfo=UTC) == datetime(2026, 5, 13, 10, 0, tzinfo=UTC)
    engine.dispose()
    wrong = kpi("extend", str(eid), "--until", "next friday", *who)
    assert wrong.exit_code == 2 and "'next friday' is not an ISO date-time" in wrong.stderr
    missing = kpi("extend", "999999", "--until", "2026-05-12T17:00", *who)
    assert missing.exit_code == 1 and "evaluation 999999 does not exist" in missing.stderr
    out = ok(kpi("--now", "2026-05-05T09:00", "delegate", "snv-2026-04", "--supervisor",
                 "SNV002", "--to", "SNV003", "--until", "2026-05-30T17:00", "--reason",
                 "mission abroad", "--by", "SNV060"))
    assert out.strip().endswith("until Sat 2026-05-30 17:00 (Asia/Tokyo)")
    unknown = kpi("delegate", "no-such-cycle", "--supervisor", "SNV002", "--to", "SNV003",
                  "--until", "2026-05-30T17:00", "--reason", "x", "--by", "SNV060")
    assert unknown.exit_code == 1 and "cycle 'no-such-cycle' does not exist" in unknown.stderr


# --- kpi extend-bulk ----------------------------------------------------------------------


def test_extend_bulk_dry_run_lists_and_changes_nothing_then_extends(db: str) -> None:
    ok(kpi("--now", "2026-05-02T10:00", "cycle", "open", str(SAMPLE)))
    engine = create_engine(db)

    def dues() -> Counter[object]:
        with engine.connect() as c:
            return Counter(c.execute(select(EVALUATION.c.due_at).where(
                EVALUATION.c.unit_id == "VP")).scalars())

    before = dues()
    args = ["--now", "2026-05-05T09:00", "extend-bulk", "snv-2026-04", "--phase",
            "self_assessment", "--unit", "VP", "--working-days", "2", "--reason",
            "office move", "--approved-by", "SNV001", "--by", "SNV060"]
    out = ok(kpi(*args, "--dry-run"))
    assert "Thu 2026-05-07 17:00 -> Mon 2026-05-11 17:00" in out
    assert out.rstrip().endswith("unit VP of cycle snv-2026-04, self_assessment: would move "
                                 "19 deadline(s), 0 unchanged; dry run: nothing was changed")
    assert dues() == before
    out = ok(kpi(*args))
    assert out.rstrip().endswith("moved 19 deadline(s), 0 unchanged")
    assert set(dues()) == {datetime(2026, 5, 11, 10, 0, tzinfo=UTC)}  # 17:00 in Hanoi
    refused = kpi(*args[:-2], "--by", "SNV040")
    assert refused.exit_code == 1 and "SNV040 may not extend" in refused.stderr
    engine.dispose()


# --- kpi tick, from the first day of the sample cycle to its last ------------------------


def tick_times(predicted: list[dict[str, str]]) -> list[str]:
    """When to run `kpi tick` and `kpi mail send`: three fixed times a day, at each
    instant the simulation says something is due, and just after each digest's time
    (a sweep and a dispatcher every minute would be there too)."""
    days = sorted({date.fromisoformat(r["local_date"]) for r in predicted})
    times = {datetime.fromisoformat(r["at_utc"]) for r in predicted}
    times |= {datetime.fromisoformat(r["at_utc"]) + timedelta(minutes=6)
              for r in predicted if r["event"] == "digest"}
    day = date(2026, 5, 2)
    while day <= days[-1] + timedelta(days=3):
        for hour in ("00:30", "12:00", "23:30"):
            times.add(datetime.fromisoformat(f"{day}T{hour}").replace(tzinfo=VN))
        day += timedelta(days=1)
    return [t.isoformat() for t in sorted(times)]


@pytest.mark.slow
def test_a_cycle_driven_by_kpi_tick_and_mail_send_delivers_what_cycle_check_promised(
        db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    out = ok(kpi("--now", "2026-05-02T10:00", "cycle", "check", "--csv", str(SAMPLE)))
    rows = list(csv.DictReader(io.StringIO(out)))
    predicted = Counter((r["event"], r["recipient_id"], r["local_date"]) for r in rows)
    delivered = Counter((r["event"], r["recipient_id"], r["local_date"]) for r in rows
                        if r["delivery"] == "alone")
    assert predicted["digest", "SNV002", "2026-05-08"] == 1  # the director's first digest
    ok(kpi("--now", "2026-05-02T10:00", "cycle", "open", str(SAMPLE)))
    with RecordingServer() as smtp:
        monkeypatch.setenv("KPI_SMTP_PORT", str(smtp.port))
        for now in tick_times(rows):
            ok(kpi("tick", "--now", now))
            ok(kpi("--now", now, "mail", "send"))
        received = smtp.message_ids()
    engine = create_engine(db)
    with engine.connect() as c:
        outbox = c.execute(select(OUTBOX.c.event, OUTBOX.c.recipient_id, OUTBOX.c.available_at,
                                  OUTBOX.c.timezone, OUTBOX.c.status,
                                  OUTBOX.c.message_id)).all()

        def day_of(r: Any) -> tuple[str, str, str]:
            local_day = r.available_at.replace(tzinfo=UTC).astimezone(ZoneInfo(r.timezone))
            return (r.event, r.recipient_id, str(local_day.date()))

        # Every notice the calendar foresaw was made, on the day it said ...
        assert Counter(day_of(r) for r in outbox) == predicted
        # ... and what reached the SMTP server is what it said would be sent, once each:
        # the notices not held, and the digests the held ones went into.
        assert {r.status for r in outbox} == {"sent", "folded"}
        sent = [r for r in outbox if r.status == "sent"]
        assert Counter(day_of(r) for r in sent) == delivered
        assert sorted(received) == sorted(r.message_id for r in sent)
        # Every evaluation is finalised or waits on a named, active person.
        waiting = c.execute(
            select(EVALUATION.c.reviewee_id, EVALUATION.c.state, PERSON.c.id, PERSON.c.active)
            .join(PERSON, PERSON.c.id == EVALUATION.c.supervisor_id, isouter=True)).all()
        assert len(waiting) == 58
        for reviewee, state, supervisor, active in waiting:
            assert state == State.FINALISED.value or (supervisor and active), reviewee
        assert c.execute(select(func.count()).where(
            DEADLINE.c.status == "pending")).scalar_one() == 0  # nothing left to fire
        by_event = Counter(event for event, _, _ in predicted.elements())
    engine.dispose()
    # The calendar promised reminders, missed-deadline notices, overdue and escalations.
    assert by_event["reminder"] > 0 and by_event["escalation"] == 2 * 58
    assert by_event["self_assessment_missed"] == 2 * 58
    assert by_event["digest"] > 0
    status = ok(kpi("--now", "2026-06-01T09:00", "status", "snv-2026-04"))
    assert "escalated 58" in status


# --- kpi serve ---------------------------------------------------------------------------


def test_kpi_serve_sweeps_on_its_interval_and_stops_cleanly_on_sigterm(
        db: str, tmp_path: Path) -> None:
    # The sample cycle opened in May 2026: today all its deadlines are long due.
    ok(kpi("--now", "2026-05-02T10:00", "cycle", "open", str(SAMPLE)))
    settings = tmp_path / "settings.toml"
    settings.write_text(f'database_url = "{db}"\nsweep_interval_seconds = 1\n'
                        'secret_key = "a-test-secret-of-some-length"\n', encoding="utf-8")
    env = {**os.environ, "KPI_SETTINGS": str(settings)}
    env.pop("KPI_DATABASE_URL", None)
    env.pop("KPI_SECRET_KEY", None)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "serve.log"
    with log.open("w") as err:
        proc = subprocess.Popen([KPI, "serve", "--port", str(port)], env=env,
                                stdout=subprocess.DEVNULL, stderr=err, text=True)
    engine = create_engine(db)

    def moved() -> int:
        with engine.connect() as c:
            return int(c.execute(text("SELECT count(*) FROM evaluation WHERE state = "
                                      "'supervisor_scoring'")).scalar_one())

    try:
        deadline = time.monotonic() + 60
        # The web app starts after the sweeper and the dispatcher (importing FastAPI takes
        # seconds on a loaded machine): wait for its line too before asking it.
        listening = f"web app on http://127.0.0.1:{port} started"
        while (moved() < 58 or log.read_text().count("INFO kpi.sweep: sweep:") < 2
               or listening not in log.read_text()) and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.2)
        # The web app runs in the same process.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as page:
            assert page.status == 200
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)  # reaped: no ResourceWarning lands on a later test
        engine.dispose()
    output = log.read_text()
    assert code == 0, output
    assert moved() == 58
    sweeps = [line for line in output.splitlines() if "kpi.sweep: sweep:" in line]
    assert "transitions: peer_input_closed 51, self_assessment_missed 58" in sweeps[0]
    assert sweeps[1].endswith("sweep: 0 deadline rows fired (none); transitions: none; "
                              "0 escalations; 0 skipped; 0 emails queued; 0 rounds")
    assert "sweeper started: every 1 s" in output
    assert output.index("SIGTERM received") < output.index(f"web app on http://127.0.0.1:{port} "
                                                           "stopped") \
        < output.index("deadline sweeper stopped") < output.index("kpi serve stopped")
    assert "Traceback" not in output
