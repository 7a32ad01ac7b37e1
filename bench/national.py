"""The national-scale benchmark's steps, each run in a child process of its own.

    .venv/bin/python -m bench.national STEP DATABASE_URL [ARGS...]

`bench.run` starts one child per step, so that each step's peak memory is its own:
the child prints one JSON line with its figures and ``peak_rss_mib``, the child's
peak resident set size (VmHWM from /proc/self/status at its end, which includes the
interpreter and the imported modules; the ``idle`` step measures that alone).
Timings cover only the work, not the imports or the connection set-up.

Steps: ``idle``, ``org`` (the fixture), ``open`` (``open_cycle``), ``open-floor`` (the
same rows copied from an opened database into a clone of the unopened one with the
driver's raw ``executemany``), ``web-links``, ``sweep`` (``workflow.service.sweep.tick``),
``sweep-floor`` (plain ``UPDATE`` statements of the same rows, then the rows the
sweep added, copied raw), ``mail-prepare``,
``mail`` (``send_due`` to an SMTP sink), ``mail-floor`` (a bare aiosmtplib loop over the
same messages), ``verify`` (the audit chain).
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from bench import orggen
from workflow.service.core import Service
from workflow.settings import PROJECT_ROOT, Settings
from workflow.store.db import Store
from workflow.store.tables import EVALUATION, OUTBOX, PERSON

SECRET = "bench-national-secret-key-0123456789abcdef"
MAIL_FROM = "Hệ thống KPI <kpi@kpi.example>"
# Tables opening a cycle writes, in foreign-key order (the cycle row comes first).
OPEN_TABLES = ("rulebook", "cycle", "evaluation", "assignment", "deadline", "accesstoken",
               "outbox", "auditevent")
TIMED_TABLES = OPEN_TABLES[2:]


def settings(url: str, base_url: str = "http://127.0.0.1:8000", smtp_port: int = 1025
             ) -> Settings:
    return Settings(database_url=url, base_url=base_url, secret_key=SECRET, smtp_port=smtp_port,
                    mail_from=MAIL_FROM, config_dir=PROJECT_ROOT / "config",
                    templates_dir=PROJECT_ROOT / "templates", source="bench")


def service(url: str, **kwargs: Any) -> Service:
    return Service(Store(url), settings(url, **kwargs))


def peak_rss_mib() -> float:
    """This process's peak resident set size (VmHWM). Not ``getrusage``'s ru_maxrss:
    on Linux a child's ru_maxrss starts from its parent's peak at fork (exec keeps it),
    so it would report the orchestrator's memory whenever that is the larger."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: KiB


def warm_imports() -> None:
    """Import what the engine imports lazily: ``holidays`` (about 0.4 s here, more
    under load), on the first working-day question of opening or of a sweep. Timings
    cover the work, not the imports; a ``kpi serve`` process has it imported after its
    first sweep."""
    import holidays  # noqa: F401


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


# --- steps --------------------------------------------------------------------------


def step_idle(url: str) -> dict[str, Any]:
    svc = service(url)
    with svc.store.read() as s:
        s.execute(select(func.count()).select_from(PERSON)).scalar_one()
    return {}


def step_org(url: str, size: str) -> dict[str, Any]:
    from workflow.service.setup import init_database
    svc = service(url)
    init_database(svc)
    seconds, _ = timed(lambda: orggen.generate(svc, int(size)))
    return {"seconds": seconds, "people": int(size)}


def step_open(url: str, cycle_path: str) -> dict[str, Any]:
    from workflow.service.cycles import open_cycle
    svc = service(url)
    warm_imports()
    seconds, report = timed(lambda: open_cycle(svc, cycle_path, actor_id="bench",
                                               now=datetime.now(UTC)))
    counts = table_counts(svc.store)
    return {"seconds": seconds, "evaluations": report.evaluations, "emails": report.emails,
            "rows": sum(counts[t] for t in TIMED_TABLES), "tables": counts}


def table_counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {t: int(conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar_one())
                for t in OPEN_TABLES}


def _key(table: str) -> str:
    return "seq" if table == "auditevent" else "id"


def _raw_rows(conn: Any, table: str, dialect: str, batch: int, after: int = 0
              ) -> Iterator[list[tuple[Any, ...]]]:
    """The table's rows exactly as stored, in id order, ``batch`` at a time (those
    with an id above ``after``)."""
    cur = conn.cursor(name=f"bench_{table}") if dialect == "postgresql" else conn.cursor()
    where = f"WHERE {_key(table)} > {int(after)} " if after else ""
    cur.execute(f"SELECT * FROM {table} {where}ORDER BY {_key(table)}")
    while rows := cur.fetchmany(batch):
        if dialect == "postgresql":
            from psycopg.types.json import Json
            rows = [tuple(Json(v) if isinstance(v, dict | list) else v for v in r) for r in rows]
        yield rows
    cur.close()


def _copy_raw(src: Any, dst: Any, dialect: str, tables: tuple[str, ...],
              timed: tuple[str, ...], after: dict[str, int] | None = None, *,
              copy: bool = False) -> tuple[float, int]:
    """Copy the rows of ``tables`` (those with an id above ``after[table]``) from the
    raw connection ``src`` into ``dst`` with the driver's ``executemany`` (``copy``,
    on PostgreSQL: with ``COPY ... FROM STDIN``), in one transaction that ends by
    moving the audit chain's head and committing. Returns the seconds of the inserts
    into the ``timed`` tables and of the commit, and how many rows those inserts
    wrote."""
    mark = "%s" if dialect == "postgresql" else "?"
    seconds, rows = 0.0, 0
    cur = dst.cursor()
    if dialect == "sqlite":
        cur.execute("BEGIN IMMEDIATE")
    for table in tables:
        columns = [c[0] for c in _columns(src, table, dialect)]
        sql = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
               f"({', '.join([mark] * len(columns))})")
        for part in _raw_rows(src.driver_connection, table, dialect, 5000,
                              (after or {}).get(table, 0)):
            start = time.perf_counter()
            if copy and dialect == "postgresql":
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as stream:
                    for row in part:
                        stream.write_row(row)
            else:
                cur.executemany(sql, part)
            if table in timed:
                seconds += time.perf_counter() - start
                rows += len(part)
    start = time.perf_counter()
    cur.execute("UPDATE audithead SET last_seq = (SELECT max(seq) FROM auditevent)")
    dst.commit()
    return seconds + time.perf_counter() - start, rows


def step_open_floor(url: str, source_url: str) -> dict[str, Any]:
    """Copy what `open` wrote into ``url`` (a clone of the database before opening) with
    the driver's own ``executemany``; only the inserts and the commit are timed."""
    target, source = Store(url), Store(source_url)
    src = source.engine.raw_connection()
    dst = target.engine.raw_connection()
    try:
        seconds, rows = _copy_raw(src, dst, target.dialect, OPEN_TABLES, TIMED_TABLES)
    finally:
        src.close()
        dst.close()
    return {"seconds": seconds, "rows": rows}


def _columns(conn: Any, table: str, dialect: str) -> list[tuple[str]]:
    cur = conn.cursor()
    cur.execute(f"SELECT * FROM {table} WHERE 1 = 0")
    out = [(d[0],) for d in cur.description]
    cur.close()
    return out


def step_web_links(url: str, count: str, base_url: str) -> dict[str, Any]:
    """Up to ``count`` specialists' self-assessment links (raw tokens kept in the outbox
    until the mail is sent), spread over the whole organisation."""
    svc = service(url, base_url=base_url)
    with svc.store.read() as s:
        total = s.execute(select(func.count()).select_from(OUTBOX)
                          .where(OUTBOX.c.event == "task_self_assessment")).scalar_one()
        step = max(1, int(total) // max(1, int(count)))
        links = [r.context["action_url"].removeprefix(base_url) for r in s.execute(
            select(OUTBOX.c.context)
            .join(PERSON, PERSON.c.id == OUTBOX.c.recipient_id)
            .where(OUTBOX.c.event == "task_self_assessment",
                   PERSON.c.position_group == "specialist", OUTBOX.c.id % step == 0)
            .order_by(OUTBOX.c.id).limit(int(count)))]
    return {"links": links}


def sweep_instant(store: Store) -> datetime:
    """One minute after the last self-assessment deadline: every evaluation still in
    self-assessment is past its deadline then."""
    with store.read() as s:
        due = s.execute(select(func.max(EVALUATION.c.due_at))
                        .where(EVALUATION.c.state == "self_assessment")).scalar_one()
    assert due is not None, "no evaluation is in self-assessment"
    return due + timedelta(minutes=1)  # type: ignore[no-any-return]


def step_sweep_prepare(url: str) -> dict[str, Any]:
    """The opening emails count as sent already (the dispatcher sends them in the days
    before the deadline), so that the mail step sends what the sweep made."""
    svc = service(url)
    with svc.store.write() as s:
        n = s.execute(update(OUTBOX).where(OUTBOX.c.status == "pending")
                      .values(status="sent", sent_at=func.now())).rowcount
    return {"marked_sent": n, "sweep_at": sweep_instant(svc.store).isoformat()}


def step_sweep(url: str) -> dict[str, Any]:
    from workflow.service.sweep import tick
    svc = service(url)
    now = sweep_instant(svc.store)
    warm_imports()
    cpu = time.process_time()
    seconds, report = timed(lambda: tick(svc, now))
    # This process's CPU (SQLite runs in it): steadier than the wall time on a shared
    # machine, for comparing two versions of the sweep.
    cpu = time.process_time() - cpu
    moved = sum(report.transitions.values())
    return {"seconds": seconds, "cpu_seconds": cpu, "moved": moved,
            "transitions": dict(report.transitions), "fired": dict(report.fired),
            "skipped": report.skipped, "emails": report.emails, "rounds": report.rounds}


# Tables a sweep adds rows to (the rest it only updates).
SWEEP_INSERTS = ("deadline", "accesstoken", "outbox", "auditevent")


def step_sweep_floor(url: str, swept_url: str) -> dict[str, Any]:
    """What the sweep changes in place, as two plain UPDATE statements (the floor the
    aim names): the evaluations leave self-assessment for supervisor scoring, and the
    due deadline rows are done. Then, in a second transaction, the rows the sweep
    added (read from the swept database ``swept_url``) copied in with the driver's
    raw ``executemany``: the two together are what the sweep writes, done raw."""
    store = Store(url)
    now = sweep_instant(store)
    conn = store.engine.raw_connection()
    mark = "%s" if store.dialect == "postgresql" else "?"
    source = Store(swept_url).engine.raw_connection()
    try:
        cur = conn.cursor()
        start = time.perf_counter()
        if store.dialect == "sqlite":
            cur.execute("BEGIN IMMEDIATE")
        cur.execute(
            f"UPDATE evaluation SET state = 'supervisor_scoring', version = version + 1, "
            f"phase_entered_at = due_at, phase_opens_at = due_at, due_at = {mark}, "
            f"self_assessment_missing = {mark}, updated_at = {mark} "
            "WHERE state = 'self_assessment'",
            (now + timedelta(days=3), True, now))
        moved = cur.rowcount
        cur.execute(f"UPDATE deadline SET status = 'done', done_at = {mark} "
                    f"WHERE status = 'pending' AND fire_at <= {mark}", (now, now))
        timers = cur.rowcount
        conn.commit()
        seconds = time.perf_counter() - start
        after = {}
        for table in SWEEP_INSERTS:
            cur.execute(f"SELECT coalesce(max({_key(table)}), 0) FROM {table}")
            after[table] = int(cur.fetchone()[0])
        conn.commit()
        # COPY on PostgreSQL, as the sweep's own inserts of many rows (store/bulk.py):
        # a floor of executemany was slower than the engine's path, not a floor.
        inserts_seconds, inserted = _copy_raw(source, conn, store.dialect, SWEEP_INSERTS,
                                              SWEEP_INSERTS, after, copy=True)
    finally:
        conn.close()
        source.close()
    return {"seconds": seconds, "moved": moved, "timers": timers,
            "inserts_seconds": inserts_seconds, "inserted": inserted}


def dispatch_instant(store: Store) -> datetime:
    """Late enough that every held notice's digest is due and folded."""
    with store.read() as s:
        last = s.execute(select(func.max(OUTBOX.c.available_at))
                         .where(OUTBOX.c.status.in_(("pending", "held")))).scalar_one()
    assert last is not None, "the outbox has nothing to send"
    return last + timedelta(minutes=30)  # type: ignore[no-any-return]


def step_mail(url: str, port: str, limit: str = "0") -> dict[str, Any]:
    """``send_due``; with a ``limit`` (the 1,000,000 run), only the first batches that
    make up about that many messages: digests are still folded over the whole outbox."""
    from notifications.dispatcher import Dispatcher, run_blocking, send_due
    svc = service(url, smtp_port=int(port))
    now = dispatch_instant(svc.store)
    if int(limit):
        batches = -(-int(limit) // svc.settings.mail_batch_size)
        dispatcher = Dispatcher(svc, now=lambda: now)
        seconds, report = timed(lambda: run_blocking(
            lambda: dispatcher.drain(max_batches=batches)))
    else:
        seconds, report = timed(lambda: send_due(svc, now=now))
    return {"seconds": seconds, "sent": report.sent, "digests": report.digests,
            "dead": report.dead, "retried": report.retried,
            "connections": report.connections, "errors": report.errors[:3]}


def step_mail_floor(url: str, port: str) -> dict[str, Any]:
    """The messages the dispatcher sent, rendered again beforehand (untimed; their
    personal links were scrubbed after sending, a few bytes each), then sent by a bare
    aiosmtplib loop over one connection."""
    from bench.mail import bare_loop, prerender
    from notifications.compose import Sender
    cfg = settings(url, smtp_port=int(port))
    store = Store(url)
    with store.read() as s:
        rows = [dict(r._mapping) for r in s.execute(
            select(OUTBOX).where(OUTBOX.c.status == "sent",
                                 OUTBOX.c.event != "task_self_assessment")
            .order_by(OUTBOX.c.id))]
    messages = prerender(rows, cfg)
    sender = Sender.parse(cfg.mail_from).address
    seconds, sent = timed(lambda: asyncio.run(bare_loop(int(port), messages, sender)))
    size = sum(len(m) for _, m in messages) / max(1, len(messages))
    return {"seconds": seconds, "sent": sent, "average_bytes": size}


def step_verify(url: str) -> dict[str, Any]:
    from workflow.service.queries import verify_audit
    seconds, result = timed(lambda: verify_audit(service(url)))
    return {"seconds": seconds, "rows": result.rows, "ok": result.ok, "problem": result.problem}


STEPS: dict[str, Callable[..., dict[str, Any]]] = {
    "idle": step_idle, "org": step_org, "open": step_open, "open-floor": step_open_floor,
    "web-links": step_web_links, "sweep-prepare": step_sweep_prepare, "sweep": step_sweep,
    "sweep-floor": step_sweep_floor, "mail": step_mail, "mail-floor": step_mail_floor,
    "verify": step_verify,
}


def main() -> None:
    name, url, *args = sys.argv[1:]
    out = STEPS[name](url, *args)
    out["peak_rss_mib"] = peak_rss_mib()
    sys.stdout.write(json.dumps(out, default=str) + "\n")


if __name__ == "__main__":
    main()
