"""A `kpi serve` process asked for a cycle's export, for
tests/integration/test_report_cache_processes.py.

    python -m tests.integration.report_build_main DATABASE_URL CYCLE NOW FOLDER

It writes ``FOLDER/ready-<pid>``, waits for ``FOLDER/go`` (so that the processes ask at
the same moment), asks ``report_cache.kept`` for the cycle's CSV report and prints the
kept file's id and whether this process built it. Each build it starts is written to
``FOLDER/builds`` (one line per build, its pid) and takes at least ``SLOW`` seconds: long
enough that the other process asks while it runs.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.conftest import make_settings
from workflow.service import report_cache
from workflow.service.core import Service
from workflow.store.db import Store

SLOW = 1.5


def main() -> None:
    url, cycle, now, folder = sys.argv[1], sys.argv[2], datetime.fromisoformat(sys.argv[3]), \
        Path(sys.argv[4])
    svc = Service(Store(url), make_settings(url))
    real_build = report_cache._build

    def build(*args: Any, **kwargs: Any) -> Path:
        with (folder / "builds").open("a", encoding="ascii") as log:
            log.write(f"{os.getpid()}\n")
        time.sleep(SLOW)
        return real_build(*args, **kwargs)

    report_cache._build = build
    (folder / f"ready-{os.getpid()}").touch()
    while not (folder / "go").exists():
        time.sleep(0.01)
    kept = report_cache.kept(svc, cycle, "report.csv", "en", now=now)
    print(json.dumps({"id": kept.id, "built_now": kept.built_now}))
    svc.store.dispose()


if __name__ == "__main__":
    main()
