"""The `kpi` command in real subprocesses, as admins script it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import CONFIG, DATA

KPI = [sys.executable, "-m", "workflow.cli"]


def kpi(tmp_path: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KPI_DATABASE_URL": f"sqlite:///{tmp_path / 'kpi.sqlite3'}",
           "KPI_CONFIG_DIR": str(CONFIG)}
    env.pop("KPI_NOW", None)
    result = subprocess.run([*KPI, *args], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=120, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"kpi {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def opened_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """init, org import and cycle open, each a real `kpi` process, once per module:
    three process starts (8 s) that every test using ``opened`` would otherwise repeat."""
    folder = tmp_path_factory.mktemp("opened")
    kpi(folder, "init")
    kpi(folder, "org", "import", str(CONFIG / "organisation.csv"))
    kpi(folder, "--now", "2026-05-02T10:00", "cycle", "open",
        str(CONFIG / "cycles" / "sample-2026-04.yaml"))
    return folder / "kpi.sqlite3"


@pytest.fixture
def opened(tmp_path: Path, opened_once: Path) -> Path:
    """A folder of this test's own with a copy of the opened database (the database
    file is all that init, import and open leave behind)."""
    shutil.copy(opened_once, tmp_path / "kpi.sqlite3")
    return tmp_path


def test_init_import_open_status_shows_every_reviewee_in_self_assessment_by_unit(
        opened: Path) -> None:
    out = kpi(opened, "--now", "2026-05-04T10:00", "status").stdout
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("  ")}
    # columns: unit, name words..., then one count per state, self_assessment first
    for unit, total in {"BGD": 3, "VP": 19, "TCBC": 18, "CCVC": 18}.items():
        counts = [int(x) for x in lines[unit] if x.isdigit()]
        assert counts[0] == total and sum(counts) == total, lines[unit]
    assert "(58 evaluations)" in out


def test_init_twice_says_up_to_date(tmp_path: Path) -> None:
    assert "created database" in kpi(tmp_path, "init").stdout
    assert "is up to date" in kpi(tmp_path, "init").stdout


def test_commands_before_init_say_to_run_init(tmp_path: Path) -> None:
    result = kpi(tmp_path, "status", check=False)
    assert result.returncode != 0
    assert result.stderr.strip().startswith("kpi: error:")
    assert "kpi init" in result.stderr and "Traceback" not in result.stderr


def test_a_bad_csv_prints_each_bad_line_and_no_traceback(tmp_path: Path) -> None:
    kpi(tmp_path, "init")
    bad = tmp_path / "bad.csv"
    lines = (DATA / "small_org.csv").read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace("hung@snv.example.gov.vn", "not-an-email")
    lines[5] = lines[5].replace(",H1,", ",NOBODY,")
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = kpi(tmp_path, "org", "import", str(bad), check=False)
    assert result.returncode == 2
    assert f"{bad}:4: email 'not-an-email' is not an email address" in result.stderr
    assert f"{bad}:6: unknown supervisor 'NOBODY'" in result.stderr
    assert "nothing was imported" in result.stderr and "Traceback" not in result.stderr


def test_a_bad_cycle_file_names_the_line_and_key(opened: Path) -> None:
    text = (DATA / "small_cycle.yaml").read_text(encoding="utf-8")
    bad = opened / "bad.yaml"
    bad.write_text(text.replace('timezone: Asia/Ho_Chi_Minh', 'timezone: Asia/Hanoii'),
                   encoding="utf-8")
    result = kpi(opened, "cycle", "check", str(bad), check=False)
    assert result.returncode == 2
    assert f"{bad}:5: timezone: unknown time zone 'Asia/Hanoii'" in result.stderr


def test_opening_a_cycle_twice_is_refused(opened: Path) -> None:
    result = kpi(opened, "cycle", "open", str(CONFIG / "cycles" / "sample-2026-04.yaml"),
                 check=False)
    assert result.returncode == 1
    assert "cycle 'snv-2026-04' is already open" in result.stderr


def test_act_with_bad_json_names_the_line(opened: Path) -> None:
    payload = opened / "p.json"
    payload.write_text('{\n  "criteria": {,\n}', encoding="utf-8")
    result = kpi(opened, "act", "1", "submit_self_assessment", "--by", "UBND001", "--file",
                 str(payload), check=False)
    assert result.returncode == 2 and f"{payload}:2: not valid JSON" in result.stderr


def test_audit_verify_names_the_first_broken_row(opened: Path) -> None:
    assert "audit chain intact: 61 rows" in kpi(opened, "audit", "verify").stdout
    import sqlite3

    with sqlite3.connect(opened / "kpi.sqlite3") as db:
        db.execute("UPDATE auditevent SET reason = 'nothing to see' WHERE seq = 17")
    result = kpi(opened, "audit", "verify", check=False)
    assert result.returncode == 1
    assert "audit chain BROKEN at row 17" in result.stderr


def test_tick_and_explain_on_the_sample_cycle(opened: Path) -> None:
    out = kpi(opened, "tick", "--now", "2026-05-08T09:00").stdout
    assert "self_assessment_missed 58" in out
    assert "self_assessment_missed 58" not in kpi(opened, "tick", "--now",
                                                  "2026-05-08T09:00").stdout
    listing = kpi(opened, "cycle", "list", "snv-2026-04", "--state", "supervisor_scoring")
    assert listing.stdout.count("supervisor_scoring") >= 1
    result = kpi(opened, "score", "explain", "1")
    assert "not scored yet" in result.stdout
