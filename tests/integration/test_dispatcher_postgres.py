"""Several dispatchers on one PostgreSQL outbox: claims with FOR UPDATE SKIP LOCKED
share the work, and no message is sent twice while none of them fails."""

from __future__ import annotations

import os
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from notifications.dispatcher import DeliveryReport, send_due
from notifications.testing import RecordingServer
from tests.conftest import make_settings
from tests.support import at, small_world
from workflow.service.core import Service
from workflow.service.notices import message_id
from workflow.service.setup import init_database
from workflow.store.db import Store
from workflow.store.tables import OUTBOX

pytestmark = pytest.mark.postgres
ADMIN_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres connect_timeout=3"
NOW = at("2026-05-04 08:00")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A database of its own on the PostgreSQL at 127.0.0.1:5432, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(ADMIN_DSN, autocommit=True)
    except psycopg.OperationalError as exc:
        if os.environ.get("KPI_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432 ({exc}); see README, Running the tests")
    name = f"kpi_mail_{uuid.uuid4().hex[:10]}"
    admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        admin.close()


def test_three_dispatchers_share_the_outbox_and_send_each_message_once(pg_url: str) -> None:
    with RecordingServer() as smtp:
        svc = Service(Store(pg_url), make_settings(pg_url, smtp_port=smtp.port,
                                                   mail_batch_size=20))
        init_database(svc)
        small_world(svc)
        extra = [{
            "dedupe_key": f"load:{i}", "event": "sign_in", "evaluation_id": None,
            "recipient_id": f"X{i}", "recipient_email": f"x{i}@example.org",
            "recipient_name": f"Người nhận {i}", "locale": "vi",
            "timezone": "Asia/Ho_Chi_Minh", "status": "pending", "attempts": 0,
            "available_at": NOW, "lease_until": None, "last_error": None,
            "message_id": message_id(f"load:{i}", svc.settings.mail_from,
                                     svc.settings.base_url),
            "created_at": NOW, "sent_at": None,
            "context": {"action_url": f"http://kpi.test/t/{i}",
                        "expires_at": (NOW + timedelta(hours=1)).isoformat()},
        } for i in range(240)]
        with svc.store.write() as s:
            s.execute(insert(OUTBOX), extra)
        reports: list[DeliveryReport] = []
        barrier = threading.Barrier(3)

        def run() -> None:
            barrier.wait()
            reports.append(send_due(svc, now=NOW))

        threads = [threading.Thread(target=run) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        with svc.store.read() as s:
            rows = s.execute(select(OUTBOX.c.status, OUTBOX.c.message_id)).all()
        svc.store.dispose()
    assert len(reports) == 3 and sum(r.sent for r in reports) == len(rows) == 247
    assert sum(1 for r in reports if r.sent) >= 2  # the work was shared
    assert {r.status for r in rows} == {"sent"}
    received = Counter(smtp.message_ids())
    assert set(received) == {r.message_id for r in rows}
    assert max(received.values()) == 1  # nobody sent what another had claimed
