"""A worker process for tests/integration/test_workers.py: exactly what
`kpi serve --role worker` runs (the deadline sweeper and the mail dispatcher,
``worker_components``), on a clock the test moves.

    python -m tests.integration.worker_main DATABASE_URL SMTP_PORT CLOCK_FILE

The clock is the only fake: ``CLOCK_FILE`` holds an ISO instant, read at every
sweep and every look at the outbox, which the test rewrites (atomically) to let
time pass. It stops on SIGTERM like `kpi serve`.
"""

from __future__ import annotations

import sys
import threading
from datetime import datetime
from pathlib import Path

from tests.conftest import make_settings
from workflow.cli.serve import (
    configure_logging,
    run_components,
    stop_on_signals,
    worker_components,
)
from workflow.service.core import Service
from workflow.store.db import Store

INTERVAL = 0.2  # seconds between sweeps and between looks at the outbox


def main() -> None:
    url, port, clock_file = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])

    def clock() -> datetime:
        return datetime.fromisoformat(clock_file.read_text(encoding="ascii").strip())

    configure_logging()
    svc = Service(Store(url), make_settings(url, smtp_port=port, mail_batch_size=100))
    stop = threading.Event()
    restore = stop_on_signals(stop)
    try:
        run_components(worker_components(svc, INTERVAL, INTERVAL, clock), stop)
    finally:
        restore()
        svc.store.dispose()


if __name__ == "__main__":
    main()
