"""`make bench`: the national-scale benchmark, and the others in bench/.

    .venv/bin/python -m bench.run [--suite all|national|machine|mail|web|peers]
                                  [--size N] [--backends sqlite,postgresql]
                                  [--web-submissions N]

Environment: ``BENCH_SIZE`` (reviewees, default 100,000; ``--size`` wins),
``BENCH_LARGE=1`` (also 1,000,000 on PostgreSQL, sending the first 100,000 of its
messages), ``BENCH_MAIL_LIMIT`` (``--mail-limit``: send only about that many of the
queued messages), ``BENCH_PG_ADMIN_URL`` (where to create the benchmark's own
database; default the local trust-auth server).

For each backend and size, on a database of its own (a temporary SQLite file; a
PostgreSQL database created for the run and dropped after), each step in a child
process of its own (see bench/national.py):
  1. the organisation (bench/orggen.py, streamed, deterministic; not measured),
  2. opening the cycle, then its floor: the very rows it wrote, copied into a clone of
     the unopened database with the driver's raw ``executemany``,
  3. web traffic: self-assessment submissions through personal links against a running
     ``uvicorn`` server (bench/web.py's clients, 50 at once),
  4. one sweep past the self-assessment deadline (``workflow.service.sweep.tick``),
     then its floor: plain ``UPDATE`` statements of the same rows on a clone taken
     just before the sweep, and after them the rows the sweep added, copied with
     the raw ``executemany`` (the sweep against all it writes, done raw),
  5. dispatching what the sweep queued (``send_due``) to aiosmtpd's ``Sink`` in a
     separate process, then its floor: a bare aiosmtplib loop sending the same
     messages, rendered beforehand,
  6. the audit chain verified end to end.
Each section of bench/RESULTS.md is written through bench.results.write_section.
Not a test: nothing asserts a speed; the aims are reported beside the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from bench import orggen
from bench.mail import free_port, start_sink
from bench.results import machine_line, write_section

PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
OPEN_AIM, SWEEP_AIM, MEMORY_AIM_MIB = 2.0, 3.0, 400.0


def child(step: str, url: str, *args: object) -> dict[str, Any]:
    """Run one step in a child process; its last stdout line is its JSON result."""
    proc = subprocess.run([sys.executable, "-m", "bench.national", step, url,
                           *map(str, args)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"bench step {step!r} failed ({proc.returncode}):\n"
                           f"{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"  {step}: " + ", ".join(f"{k}={v}" for k, v in result.items()
                                    if k not in ("links", "tables")), flush=True)
    return result


# --- databases ----------------------------------------------------------------------


class Backend:
    name = ""

    def url(self, label: str) -> str:
        raise NotImplementedError

    def clone(self, source: str, label: str) -> str:
        """A copy of the database at ``source`` (no connection open to it); its URL."""
        raise NotImplementedError

    def drop_all(self) -> None:
        raise NotImplementedError


class SqliteBackend(Backend):
    name = "sqlite"

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="kpi-bench-national-"))

    def url(self, label: str) -> str:
        return f"sqlite:///{self.folder / label}.sqlite3"

    def clone(self, source: str, label: str) -> str:
        # Every child has exited, so the WAL is checkpointed into the main file.
        target = self.url(label)
        shutil.copyfile(source.removeprefix("sqlite:///"), target.removeprefix("sqlite:///"))
        return target

    def drop_all(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class PostgresBackend(Backend):
    """Databases of this run only (``kpi_bench_<pid>_<random>_<label>``), dropped after."""

    name = "postgresql"

    def __init__(self) -> None:
        self.prefix = f"kpi_bench_{os.getpid()}_{secrets.token_hex(3)}"
        self.created: list[str] = []
        admin = make_url(PG_ADMIN)
        self.base = admin.set(drivername="postgresql+psycopg")

    def _admin(self, sql: str) -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def url(self, label: str) -> str:
        name = f"{self.prefix}_{label}"
        if name not in self.created:
            self._admin(f'CREATE DATABASE "{name}"')
            self.created.append(name)
        return self.base.set(database=name).render_as_string(hide_password=False)

    def clone(self, source: str, label: str) -> str:
        name = f"{self.prefix}_{label}"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{make_url(source).database}"')
        self.created.append(name)
        return self.base.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        for name in reversed(self.created):
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()


def reachable_postgres() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]
    return None


# --- the web step -------------------------------------------------------------------


@dataclass
class WebResult:
    submissions: int = 0
    seconds: float = 0.0
    median_ms: float = 0.0
    p95_ms: float = 0.0
    errors: int = 0
    forms_median_ms: float = 0.0
    server_peak_mib: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)


def vm_hwm_mib(pid: int) -> float:
    """A live process's peak resident set size (VmHWM), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def web_traffic(url: str, count: int, clients: int) -> WebResult:
    """GET each form, then POST each self-assessment, against `uvicorn` in its own process."""
    from bench.web import percentile95, prepare_forms, run, serving
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    links = child("web-links", url, count, "http://127.0.0.1:8000")["links"]
    links = [link.removeprefix("http://127.0.0.1:8000") for link in links]
    out = WebResult()
    with serving(url, "bench-national-secret-key-0123456789abcdef", port) as server:
        reads, prepared = asyncio.run(prepare_forms(base, links, clients))
        submits = asyncio.run(run(clients, [("POST", link) for link in prepared], base,
                                  "submit", prepared))
        out.server_peak_mib = vm_hwm_mib(server.pid)
    ms = sorted(s * 1000 for s in submits.seconds)
    forms = sorted(s * 1000 for s in reads.seconds)
    out.submissions, out.seconds, out.errors = len(ms), submits.wall, submits.errors + reads.errors
    out.median_ms, out.p95_ms = ms[len(ms) // 2] if ms else 0.0, percentile95(ms) if ms else 0.0
    out.forms_median_ms = forms[len(forms) // 2] if forms else 0.0
    out.statuses = dict(submits.statuses)
    print(f"  web: {out}", flush=True)
    return out


# --- one backend at one size ----------------------------------------------------------


@contextmanager
def backend_for(name: str) -> Iterator[Backend]:
    backend: Backend = SqliteBackend() if name == "sqlite" else PostgresBackend()
    try:
        yield backend
    finally:
        backend.drop_all()


def national(backend_name: str, size: int, web_count: int, clients: int,
             mail_limit: int = 0, flags: str = "") -> str:
    print(f"national: {backend_name}, {size:,} people", flush=True)
    with backend_for(backend_name) as backend, tempfile.TemporaryDirectory() as tmp:
        cycle = Path(tmp) / "cycle.yaml"
        cycle.write_text(orggen.cycle_file(), encoding="utf-8")
        url = backend.url("main")
        org = child("org", url, size)
        idle = child("idle", url)
        floor_url = backend.clone(url, "before_open")
        opened = child("open", url, cycle)
        open_floor = child("open-floor", floor_url, url)
        web = web_traffic(url, web_count, clients) if web_count else None
        prepared = child("sweep-prepare", url)
        sweep_floor_url = backend.clone(url, "before_sweep")
        swept = child("sweep", url)
        sweep_floor = child("sweep-floor", sweep_floor_url, url)
        port = free_port()
        sink = start_sink(port)
        try:
            mailed = child("mail", url, port, mail_limit)
            mail_floor = child("mail-floor", url, port)
        finally:
            sink.terminate()
            sink.wait(10)
        verified = child("verify", url)
    return report(backend_name, size, org, idle, opened, open_floor, web, prepared, swept,
                  sweep_floor, mailed, mail_floor, verified, clients, mail_limit, flags)


def _rate(n: float, seconds: float) -> str:
    return f"{n / seconds:,.0f}" if seconds else "-"


def report(backend: str, size: int, org: dict[str, Any], idle: dict[str, Any],
           opened: dict[str, Any], open_floor: dict[str, Any], web: WebResult | None,
           prepared: dict[str, Any], swept: dict[str, Any], sweep_floor: dict[str, Any],
           mailed: dict[str, Any], mail_floor: dict[str, Any], verified: dict[str, Any],
           clients: int, mail_limit: int = 0, flags: str = "") -> str:
    """The section's text. ``flags``: the options given beside the size, backend and
    mail limit (``--web-submissions``, ``--clients``), for its Command line."""
    open_ratio = opened["seconds"] / open_floor["seconds"]
    sweep_ratio = swept["seconds"] / sweep_floor["seconds"]
    full_floor = sweep_floor["seconds"] + sweep_floor["inserts_seconds"]
    full_ratio = swept["seconds"] / full_floor
    mail_ratio = (mailed["sent"] / mailed["seconds"]) / (mail_floor["sent"]
                                                          / mail_floor["seconds"])
    peaks = {"open": opened["peak_rss_mib"], "sweep": swept["peak_rss_mib"],
             "mail": mailed["peak_rss_mib"]}
    worst = max(peaks.values())
    tables = ", ".join(f"{t} {n:,}" for t, n in opened["tables"].items()
                       if t not in ("rulebook", "cycle"))
    lines = [
        f"## National scale: {backend}, {size:,} people",
        "",
        f"Command: `BENCH_SIZE={size} .venv/bin/python -m bench.run --suite national "
        f"--backends {backend}" + (f" --mail-limit {mail_limit}" if mail_limit else "")
        + flags + "`",
        f"Machine: {machine_line()}.",
        "",
        f"Organisation: {size:,} people (bench/orggen.py: a director, departments of 50 "
        "units, units of a head and 19 specialists), generated in "
        f"{org['seconds']:.1f} s (not measured). Cycle: self-assessment, then supervisor "
        "scoring; no peers, no calibration; one reminder, one escalation step.",
        "",
        "Peak memory: each step runs in a child process of its own; the figure is that "
        "child's peak resident set size (VmHWM in /proc/self/status), which "
        f"includes the interpreter and the imports: a child that only imports and "
        f"connects peaks at {idle['peak_rss_mib']:.0f} MiB. The web server's is its VmHWM.",
        "",
        "| step | what | time | per second | floor (same run) | ratio | aim | peak memory |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| open the cycle (`open_cycle`) | {opened['rows']:,} rows for "
        f"{opened['evaluations']:,} evaluations | {opened['seconds']:.1f} s | "
        f"{_rate(opened['rows'], opened['seconds'])} rows | raw `executemany` of the same "
        f"rows: {open_floor['seconds']:.1f} s ({_rate(open_floor['rows'], open_floor['seconds'])}"
        f" rows/s) | {open_ratio:.2f}x | <= {OPEN_AIM:.0f}x | "
        f"{opened['peak_rss_mib']:.0f} MiB |",
        f"| one sweep past the deadline (`tick`) | {swept['moved']:,} evaluations moved, "
        f"{sum(swept['fired'].values()):,} deadline rows fired | {swept['seconds']:.1f} s | "
        f"{_rate(swept['moved'], swept['seconds'])} evaluations | plain `UPDATE` of the same "
        f"rows ({sweep_floor['moved']:,} evaluations, {sweep_floor['timers']:,} deadline rows):"
        f" {sweep_floor['seconds']:.1f} s | {sweep_ratio:.1f}x | <= {SWEEP_AIM:.0f}x | "
        f"{swept['peak_rss_mib']:.0f} MiB |",
        f"| the same sweep, against all it writes done raw | as above | "
        f"{swept['seconds']:.1f} s | - | the plain `UPDATE`s, then the "
        f"{sweep_floor['inserted']:,} rows the sweep added (deadlines, links, outbox, "
        f"audit) by raw {'`COPY`' if backend == 'postgresql' else '`executemany`'}: "
        f"{full_floor:.1f} s | {full_ratio:.1f}x | - | - |",
        f"| dispatch what the sweep queued (`send_due`) | {mailed['sent']:,} messages "
        f"({mailed['digests']:,} of them digests) | {mailed['seconds']:.1f} s | "
        f"{_rate(mailed['sent'], mailed['seconds'])} msg | bare aiosmtplib loop, same "
        f"messages pre-rendered: {mail_floor['seconds']:.1f} s "
        f"({_rate(mail_floor['sent'], mail_floor['seconds'])} msg/s) | "
        f"{mail_ratio:.0%} of the floor's rate | - | {mailed['peak_rss_mib']:.0f} MiB |",
    ]
    if web is not None:
        lines.append(
            f"| web: self-assessment submissions, {clients} clients | {web.submissions:,} "
            f"submissions ({web.errors} non-200) | {web.seconds:.1f} s | "
            f"{_rate(web.submissions, web.seconds)} submissions | - | median "
            f"{web.median_ms:.0f} ms, p95 {web.p95_ms:.0f} ms | - | server "
            f"{web.server_peak_mib:.0f} MiB |")
    lines += [
        "",
        f"Rows opened: {tables}. Opening emails marked sent before the sweep (as the "
        f"dispatcher would have sent them during the phase): {prepared['marked_sent']:,}.",
        f"Sweep: {swept['rounds']} rounds; transitions {swept['transitions']}; fired "
        f"{swept['fired']}; {swept['skipped']:,} stale rows skipped; {swept['emails']:,} "
        "outbox rows queued (supervisors' notices wait for their 08:00 digest); the "
        f"sweeping process's CPU {swept.get('cpu_seconds', 0):.1f} s of its "
        f"{swept['seconds']:.1f} s"
        + (" (SQLite works in it)." if backend == "sqlite" else
           " (the server's work is not in it)."),
        (f"Mail: only the first {mailed['sent']:,} messages of the {swept['emails']:,} "
         f"queued were sent (`--mail-limit {mail_limit}`); digests were folded over the "
         "whole outbox. " if mail_limit else "Mail: ") +
        f"{mailed['connections']} SMTP connection(s), {mailed['dead']} dead, "
        f"{mailed['retried']} retried; average message {mail_floor['average_bytes'] / 1024:.1f}"
        " KiB; sink: aiosmtpd `Sink` in a separate process on loopback.",
        f"Audit chain after all steps: {'intact' if verified['ok'] else 'BROKEN'}, "
        f"{verified['rows']:,} rows, verified in {verified['seconds']:.1f} s.",
        "",
        f"Aims: opening {'met' if open_ratio <= OPEN_AIM else 'NOT met'} ({open_ratio:.2f}x); "
        f"sweep {'met' if sweep_ratio <= SWEEP_AIM else 'NOT met'} ({sweep_ratio:.1f}x; "
        f"{full_ratio:.1f}x against all it writes done raw); "
        f"peak memory {'under' if worst < MEMORY_AIM_MIB else 'OVER'} "
        f"{MEMORY_AIM_MIB:.0f} MiB (highest {worst:.0f} MiB). See bench/NOTES.md.",
    ]
    if web is not None and web.submissions:
        day = size / 3  # a 3-working-day self-assessment phase: a third submit each day
        lines.append(
            f"A day of this phase's traffic is about {day:,.0f} submissions (a third of "
            f"{size:,} over 3 working days): at the rate above, "
            f"{day / (web.submissions / web.seconds) / 3600:.1f} hours of one server process.")
    return "\n".join(lines)


# --- the other benchmarks -----------------------------------------------------------


def run_module(module: str, *args: str) -> None:
    print(f"{module} {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", module, *args], check=True)


def _env_int(parser: argparse.ArgumentParser, name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value.replace("_", "").replace(",", ""))
    except ValueError:
        parser.error(f"{name}={value!r} is not a whole number")


def _flags(args: argparse.Namespace) -> str:
    """The options of this run that change a national section, as typed, when not
    their defaults (the size, backend and mail limit are written on their own)."""
    flags = ""
    if args.web_submissions != WEB_SUBMISSIONS:
        flags += f" --web-submissions {args.web_submissions}"
    if args.clients != CLIENTS:
        flags += f" --clients {args.clients}"
    return flags


WEB_SUBMISSIONS, CLIENTS = 2000, 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", choices=["all", "national", "machine", "mail", "web", "peers"],
                        default="all")
    parser.add_argument("--size", type=int, default=_env_int(parser, "BENCH_SIZE", 100_000))
    parser.add_argument("--backends", default=os.environ.get("BENCH_BACKENDS",
                                                             "sqlite,postgresql"))
    parser.add_argument("--web-submissions", type=int, default=WEB_SUBMISSIONS,
                        help="self-assessments submitted through the web (0: skip)")
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--mail-limit", type=int,
                        default=_env_int(parser, "BENCH_MAIL_LIMIT", 0),
                        help="send only about this many of the queued messages (0: all; "
                        "the BENCH_LARGE run sends 100,000 unless this is set)")
    args = parser.parse_args()
    backends = [b for b in args.backends.split(",") if b]
    if unknown := sorted(set(backends) - {"sqlite", "postgresql"}):
        parser.error(f"--backends: unknown {', '.join(unknown)} (sqlite, postgresql)")
    if args.size < 1 or args.mail_limit < 0 or args.web_submissions < 0 or args.clients < 1:
        parser.error("--size and --clients must be at least 1, --mail-limit and "
                     "--web-submissions at least 0 (BENCH_SIZE, BENCH_MAIL_LIMIT likewise)")
    if args.suite in ("all", "machine"):
        run_module("bench.machine")
    if args.suite in ("all", "mail"):
        run_module("bench.mail")
    if args.suite in ("all", "web"):
        run_module("bench.web")
    if args.suite in ("all", "peers"):
        run_module("bench.peers", *([] if "postgresql" in backends else ["--no-postgres"]))
    if args.suite not in ("all", "national"):
        return
    runs = [(b, args.size, args.mail_limit) for b in backends]
    if os.environ.get("BENCH_LARGE") == "1":
        # Sending all of a million-person sweep's mail takes over an hour here; the
        # dispatcher's rate and memory show in the first 100,000.
        runs.append(("postgresql", 1_000_000, args.mail_limit or 100_000))
    for backend, size, mail_limit in runs:
        if backend == "postgresql" and (why := reachable_postgres()):
            print(f"PostgreSQL at {PG_ADMIN} is not reachable ({why}): skipping it; start it "
                  "or set BENCH_PG_ADMIN_URL", file=sys.stderr)
            continue
        body = national(backend, size, min(args.web_submissions, size // 2), args.clients,
                        mail_limit, _flags(args))
        write_section(f"national-{backend}-{size}", body)
        print(body, flush=True)


if __name__ == "__main__":
    main()
