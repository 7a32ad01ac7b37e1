"""Settings: the file, then the environment; a wrong value is named with its source."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflow.errors import ConfigError
from workflow.settings import load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_settings_file_loads(tmp_path: Path) -> None:
    settings = load_settings(env={})
    assert settings.is_sqlite and settings.smtp_tls == "none"


def test_environment_variables_override_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'database_url = "sqlite:///a.db"\n[smtp]\nport = 25\n')
    settings = load_settings(path, env={"KPI_DATABASE_URL": "postgresql+psycopg://h/db",
                                        "KPI_SMTP_PORT": "2525", "KPI_SMTP_TLS": "STARTTLS"})
    assert (settings.database_url, settings.smtp_port, settings.smtp_tls) == (
        "postgresql+psycopg://h/db", 2525, "starttls")


@pytest.mark.parametrize(("text", "env", "message"), [
    ("smtp_port = 'twenty-five'\n", {}, "smtp_port must be a whole number"),
    ("", {"KPI_SMTP_PORT": "x"}, "smtp_port must be a whole number, got 'x'"),
    ("[smtp]\ntls = 'ssl'\n", {}, "smtp_tls must be one of none, starttls, tls"),
    ("databse_url = 'x'\n", {}, "unknown setting 'databse_url'"),
    ("database_url = \n", {}, "not valid TOML"),
    ("[admin_scope]\nE1 = ['agency:SNV']\n", {}, "admin_scope.E1: 'agency:SNV' is not a grant"),
    ("[admin_scope]\nE1 = []\n", {}, "admin_scope.E1 must be a list of grants"),
    ("admin_scope = 'E1'\n", {}, "admin_scope must be a table"),
])
def test_a_wrong_setting_is_named_with_its_source(tmp_path: Path, text: str,
                                                  env: dict[str, str], message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message):
        load_settings(path, env=env)


def test_admins_can_be_a_comma_list_in_the_environment(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, ""), env={"KPI_SETTINGS": "x",
                                                       "KPI_BASE_URL": "https://kpi.gov.vn"})
    assert settings.base_url == "https://kpi.gov.vn"
    settings = load_settings(write(tmp_path, "admins = 'A1, A2 ,'\n"), env={})
    assert settings.admins == ("A1", "A2")


def test_admin_scope_grants_per_person(tmp_path: Path) -> None:
    path = write(tmp_path, '[admin_scope]\nE1 = ["unit:SNV", "cycle:2026-04"]\nP1 = "*"\n')
    assert load_settings(path, env={}).admin_scope == (
        ("E1", ("unit:SNV", "cycle:2026-04")), ("P1", ("*",)))
