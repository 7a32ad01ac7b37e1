"""The `kpi` commands whose data now comes from the service as frozen records:
`cycle list`, `status` (overdue items), `mail show`, and the one-line answer when
the database cannot be reached. In-process, on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.support import DATA
from workflow.cli import main

HOSTILE = '<b>"Lan" & O\'Brien</b>'  # markup, quotes and an ampersand in a name


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    org = (DATA / "small_org.csv").read_text(encoding="utf-8")
    assert "Phạm Thị Lan" in org
    csv = tmp_path / "org.csv"
    csv.write_text(org.replace("Phạm Thị Lan", f'"{HOSTILE.replace(chr(34), chr(34) * 2)}"'),
                   encoding="utf-8")
    env = {"KPI_DATABASE_URL": f"sqlite:///{tmp_path / 'kpi.sqlite3'}",
           "KPI_BASE_URL": "http://kpi.test"}
    run(env, "init")
    run(env, "--now", "2026-05-01T09:00", "org", "import", str(csv))
    run(env, "--now", "2026-05-02T10:00", "cycle", "open", str(DATA / "small_cycle.yaml"))
    return env


def run(env: dict[str, str], *args: str, code: int | None = 0) -> Result:
    result = CliRunner().invoke(main, list(args), env=env)
    assert code is None or result.exit_code == code, result.output
    return result


def test_cycle_list_prints_each_evaluation_with_its_reviewees_name_and_state(
        env: dict[str, str]) -> None:
    out = run(env, "cycle", "list", "t-2026-04", "--unit", "P1").output
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines and all("self_assessment" in line for line in lines)
    [lan] = [line for line in lines if " S1 " in f" {line} "]
    assert HOSTILE in lan and "due Thu 2026-05-07" in lan and "score      -" in lan
    assert all(" P1 " in line for line in lines)
    assert run(env, "cycle", "list", "t-2026-04", "--state", "finalised").output == ""


def test_cycle_list_of_an_unknown_cycle_says_so(env: dict[str, str]) -> None:
    out = run(env, "cycle", "list", "no-such-cycle", code=1).output
    assert "no-such-cycle" in out


def test_status_lists_the_overdue_items_with_who_they_wait_on(env: dict[str, str]) -> None:
    before = run(env, "--now", "2026-05-06T10:00", "status").output
    assert "overdue: 0" in before
    after = run(env, "--now", "2026-05-07T18:00", "status").output
    [lan] = [line for line in after.splitlines() if HOSTILE in line]
    assert "self_assessment" in lan and "waiting on S1" in lan


def test_mail_show_renders_a_queued_row_for_its_recipient(env: dict[str, str]) -> None:
    outputs = [run(env, "mail", "show", str(i), code=None).output for i in range(1, 30)]
    shown = [out for out in outputs if "lan@snv" in out]
    assert shown, "no email to S1 was queued at the opening"
    first = shown[0]
    assert first.startswith(f"To: {HOSTILE} <lan@snv.example.gov.vn>\n")
    assert "status: pending, attempts 0" in first and "http://kpi.test/t/" in first
    missing = run(env, "mail", "show", "999999", code=1).output
    assert "outbox row 999999 does not exist" in missing


def test_a_database_that_cannot_be_reached_is_one_line_not_a_traceback() -> None:
    env = {"KPI_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    result = CliRunner().invoke(main, ["status"], env=env)
    assert result.exit_code == 1
    assert result.output.startswith("kpi: error: the database cannot be used: ")
    assert "Traceback" not in result.output
