"""Benchmark: render and send 10,000 emails from the outbox, against a bare aiosmtplib
loop sending the same messages, already rendered, over one connection.

    .venv/bin/python -m bench.mail [--messages 10000] [--rounds 10]

The SMTP server is aiosmtpd's own ``Sink`` handler in a separate process
(``python -m aiosmtpd -c aiosmtpd.handlers.Sink``) on loopback, as in
shared/research/libraries.md, section 3. The messages are sent in rounds: in each,
the bare loop sends one slice of the pre-rendered messages, then the dispatcher
(``send_due``: reap, fold digests, claim, render with Jinja, compose, send on one
connection, record) sends the same slice from the outbox. Interleaving the two keeps
the load of a shared machine from favouring one side. Each side sends every message
once; the rates are totals over all rounds. Not a test: nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosmtplib
from sqlalchemy import insert, select

from bench.results import machine_line, write_section
from notifications.compose import Sender, compose
from notifications.dispatcher import send_due
from notifications.render import render
from workflow.service.core import Service
from workflow.service.notices import message_id
from workflow.service.setup import init_database
from workflow.settings import PROJECT_ROOT, Settings
from workflow.store.db import Store
from workflow.store.tables import OUTBOX

NOW = datetime(2026, 5, 12, 1, 0, tzinfo=UTC)
DUE = "2026-05-14T10:00:00+00:00"
CYCLE = "Đánh giá công chức tháng 4/2026 — Sở Nội vụ"
NAMES = ["Phạm Thị Lan", "Hoàng Văn Nam", "Vũ Thị Mai", "Đỗ Minh Quân", "Trịnh Thu Hằng",
         "Nguyễn Đức Phúc", "Lý Thanh Việt", "Nguyễn Minh Hạnh"]
RESULT = {"score": "83.50", "class_id": "well_completed",
          "class_label": {"en": "Well completed", "vi": "Hoàn thành tốt nhiệm vụ"},
          "breakdown": [{"criterion": f"c{i}", "points": str(6 + i % 4), "max": "10",
                         "label": {"en": f"Criterion {i}", "vi": f"Tiêu chí số {i}"}}
                        for i in range(8)]}


def outbox_rows(n: int, settings: Settings) -> list[dict[str, Any]]:
    """A realistic mix: tasks, reminders and results (with an 8-line breakdown), 4 in 5
    Vietnamese, each with its personal link."""
    events = ["task_supervisor_scoring", "reminder", "result", "task_self_assessment"]
    rows = []
    for i in range(n):
        event = events[i % len(events)]
        name = NAMES[i % len(NAMES)]
        context: dict[str, Any] = {
            "cycle_id": "snv-2026-04", "cycle_name": CYCLE, "evaluation_id": i + 1,
            "reviewee_id": f"SNV{i:05d}", "reviewee_name": NAMES[(i + 3) % len(NAMES)],
            "state": {"result": "appeal_window", "task_self_assessment": "self_assessment"}
            .get(event, "supervisor_scoring"),
            "due_at": DUE, "cycle_timezone": "Asia/Ho_Chi_Minh", "trigger": "submit_score",
            "reason": None, "action_url": f"{settings.base_url}/t/{i:032x}",
            "recipient_name": name}
        if event == "result":
            context.update(RESULT)
        key = f"bench:{i}"
        rows.append({
            "dedupe_key": key, "event": event, "evaluation_id": i + 1,
            "recipient_id": f"P{i}", "recipient_email": f"person{i}@snv.example.gov.vn",
            "recipient_name": name, "locale": "en" if i % 5 == 4 else "vi",
            "timezone": "Asia/Ho_Chi_Minh", "context": context, "status": "pending",
            "attempts": 0, "available_at": NOW - timedelta(minutes=1), "lease_until": None,
            "last_error": None,
            "message_id": message_id(key, settings.mail_from, settings.base_url),
            "created_at": NOW, "sent_at": None})
    return rows


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sink(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                             "-c", "aiosmtpd.handlers.Sink"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                if conn.recv(100).startswith(b"220"):
                    return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the aiosmtpd sink did not start")


def prerender(rows: list[dict[str, Any]], settings: Settings) -> list[tuple[str, bytes]]:
    """The very bytes the dispatcher sends, made before the bare loop's clock starts."""
    sender = Sender.parse(settings.mail_from)
    out = []
    for r in rows:
        rendered = render(event=r["event"], locale=r["locale"], timezone=r["timezone"],
                          recipient_name=r["recipient_name"], recipient_id=r["recipient_id"],
                          context=r["context"], base_url=settings.base_url,
                          templates_dir=settings.templates_dir)
        out.append((r["recipient_email"],
                    compose(rendered, sender=sender, to_name=r["recipient_name"],
                            to_address=r["recipient_email"], message_id=r["message_id"],
                            date=NOW, locale=r["locale"], event=r["event"])))
    return out


async def bare_loop(port: int, messages: list[tuple[str, bytes]], sender: str) -> int:
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False,
                           local_hostname="localhost")
    await smtp.connect()
    sent = 0
    for to, data in messages:
        refused, _ = await smtp.sendmail(sender, [to], data)
        sent += not refused
    await smtp.quit()
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    port = free_port()
    sink = start_sink(port)
    work = Path(tempfile.mkdtemp(prefix="kpi-bench-mail-"))
    try:
        path = work / "outbox.sqlite3"
        settings = Settings(database_url=f"sqlite:///{path}", smtp_port=port,
                            base_url="https://kpi.example.gov.vn",
                            mail_from="Hệ thống KPI <kpi@snv.example.gov.vn>",
                            templates_dir=PROJECT_ROOT / "templates", source="bench")
        svc = Service(Store(settings.database_url), settings)
        init_database(svc)
        rows = outbox_rows(args.messages, settings)
        size = -(-args.messages // args.rounds)
        for i, row in enumerate(rows):  # round k's slice becomes due at NOW + k minutes
            row["available_at"] = NOW + timedelta(minutes=i // size)
        with svc.store.write() as s:
            for start in range(0, len(rows), 2000):
                s.execute(insert(OUTBOX), rows[start:start + 2000])
        t = time.perf_counter()
        messages = prerender(rows, settings)
        render_s = time.perf_counter() - t
        sender = Sender.parse(settings.mail_from).address
        bare, ours, ratios = [], [], []
        for k in range(args.rounds):
            part = messages[k * size:(k + 1) * size]
            t = time.perf_counter()
            sent = asyncio.run(bare_loop(port, part, sender))
            bare.append(time.perf_counter() - t)
            assert sent == len(part), sent
            t = time.perf_counter()
            report = send_due(svc, now=NOW + timedelta(minutes=k, seconds=30))
            ours.append(time.perf_counter() - t)
            assert report.sent == len(part), report.summary()
            ratios.append(bare[-1] / ours[-1])
            print(f"round {k + 1}: {len(part)} messages; bare loop {len(part) / bare[-1]:.0f} "
                  f"msg/s, dispatcher {len(part) / ours[-1]:.0f} msg/s "
                  f"({report.connections} connection)", flush=True)
        with svc.store.read() as s:
            left = s.execute(select(OUTBOX.c.id).where(OUTBOX.c.status != "sent")).all()
        assert not left, f"{len(left)} rows not sent"
        svc.store.dispose()
        bare_rate = args.messages / sum(bare)
        ours_rate = args.messages / sum(ours)
        average = sum(len(d) for _, d in messages) / len(messages)
        render_rate = args.messages / render_s
        body = f"""## Email: render and send {args.messages:,} messages (`bench/mail.py`)

The dispatcher (`notifications.dispatcher.send_due`: take back expired leases, fold
digests, claim a batch of outbox rows, render subject, text and HTML, compose the MIME
message, send it over one reused aiosmtplib connection, record the outcomes) against a
bare aiosmtplib loop sending the very same bytes, rendered beforehand, over one
connection. Both send to aiosmtpd's `Sink` in a separate process on loopback; the
messages are a realistic mix (80% Vietnamese, {average / 1024:.1f} KiB each on average,
text + HTML); the two alternate in {args.rounds} rounds so that the machine's changing
load favours neither.

Command: `.venv/bin/python -m bench.mail --messages {args.messages} --rounds {args.rounds}`
Machine: {machine_line()}; aiosmtplib {aiosmtplib.__version__}; SQLite.

| | rate | time |
| --- | --- | --- |
| render + compose alone (no SMTP, no database) | {render_rate:,.0f} msg/s | {render_s:.1f} s |
| bare aiosmtplib loop, pre-rendered bytes | {bare_rate:,.0f} msg/s | {sum(bare):.1f} s |
| dispatcher, from the outbox to the server and back | {ours_rate:,.0f} msg/s | {sum(ours):.1f} s |

**Ratio dispatcher / bare loop: {ours_rate / bare_rate:.0%}** over the whole run (per
round: median {statistics.median(ratios):.0%}, lowest {min(ratios):.0%}, highest
{max(ratios):.0%}). The aim is at least 70%.
"""
        print(body)
        write_section("mail", body)
    finally:
        sink.terminate()
        sink.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
