"""The report's SQL (GROUP BY, EXISTS in CASE, row-value keyset paging) on PostgreSQL:
the seeded cycle of test_reports gives the same figures there as on SQLite."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.conftest import make_settings
from tests.integration.test_reports import read_csv, seed
from workflow.reports import fairness
from workflow.reports.export import write_report
from workflow.reports.facts import cycle_facts
from workflow.service.core import Service
from workflow.service.setup import init_database
from workflow.store.db import Store

SERVER = "postgresql://postgres@127.0.0.1:5432"


@pytest.fixture
def pg_service() -> Iterator[Service]:
    name = f"kpi_reports_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(f"{SERVER}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("KPI_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432 ({exc})")
    admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    svc = Service(Store(url), make_settings(url))
    try:
        init_database(svc)
        yield svc
    finally:
        svc.store.dispose()
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


@pytest.mark.postgres
def test_the_seeded_report_on_postgresql(pg_service: Service, tmp_path: Path) -> None:
    w = seed(pg_service)
    facts = cycle_facts(pg_service, w.cycle_id)
    units = {u.unit_id: u for u in facts.units}
    assert units["P1"].classes == {"well_completed": 4, "completed": 1, "not_completed": 1}
    assert {int(b.low): b.count for b in facts.histogram if b.count} == {
        25: 1, 55: 1, 75: 1, 80: 1, 85: 1, 90: 1, 95: 1}
    h1 = next(s for s in facts.scorers if s.scorer_id == "H1")
    assert (h1.scored, h1.own.n) == (5, 4)
    assert {t.phase: (t.on_time, t.late) for t in facts.timeliness}["supervisor_scoring"] == \
        (4, 3)
    report = fairness.signals(pg_service, w.cycle_id)
    assert sorted(s.kind for s in report.signals) == [fairness.PEER_GAP, fairness.SELF_GAP]
    rows = read_csv(write_report(pg_service, w.cycle_id, tmp_path / "r.csv").path)
    assert rows["S2"]["score"] == "79.50" and rows["S1"]["calibration_moves"] == "1"
