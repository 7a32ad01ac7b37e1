"""Which tables and indexes the pages a step writes belong to (SQLite; issue 16).

A step's commit writes every page it dirtied to the write-ahead log, so the pages a
step touches are most of what its commit costs. This sets up bench/peers.py's world
(``--n`` evaluations), takes the four human steps for all but the last five, and for
each of those five checkpoints the log, copies the file, takes the step,
checkpoints again and compares the two files page by page; ``dbstat`` names the
b-tree each changed page belongs to (page 1, the header, shows as sqlite_schema).

    .venv/bin/python -m bench.step_pages [--n 60]
"""

from __future__ import annotations

import argparse
import collections
import sqlite3
import tempfile
from pathlib import Path

from bench.peers import engine_jobs, engine_service, engine_setup, engine_step

STEPS = ("self_assessment", "peer_input", "supervisor_score", "accept")
SAMPLED = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=60)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    db = folder / "engine.sqlite3"
    url = f"sqlite:///{db}"
    engine_setup(url, args.n, folder)
    svc = engine_service(url)
    jobs = engine_jobs(svc, args.n)

    def checkpoint() -> bytes:
        svc.store.engine.dispose()
        conn = sqlite3.connect(db)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        return db.read_bytes()

    conn = sqlite3.connect(db)
    size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    conn.close()

    for step, name in enumerate(STEPS):
        for job in jobs[:-SAMPLED]:
            engine_step(svc, step, job)
        pages: collections.Counter[str] = collections.Counter()
        for job in jobs[-SAMPLED:]:
            before = checkpoint()
            engine_step(svc, step, job)
            after = checkpoint()
            conn = sqlite3.connect(db)
            owner = {p: n for n, p in conn.execute("SELECT name, pageno FROM dbstat")}
            conn.close()
            for i in range(max(len(before), len(after)) // size):
                if before[i * size:(i + 1) * size] != after[i * size:(i + 1) * size]:
                    pages[owner.get(i + 1, "free or new")] += 1
        shares = ", ".join(f"{k} {v / SAMPLED:.1f}" for k, v in pages.most_common())
        print(f"{name}: {sum(pages.values()) / SAMPLED:.1f} pages a step: {shares}")
    svc.store.dispose()


if __name__ == "__main__":
    main()
