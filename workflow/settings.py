"""Settings, loaded once into a typed object.

``config/settings.toml`` gives the defaults; the ``KPI_*`` environment variables of
DESIGN.md override them. A wrong value is a ConfigError naming the setting and
where it came from, before anything else runs.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from workflow.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The checkout: config/ and templates/ live beside the packages (editable install)."""

_ENV = {
    "database_url": "KPI_DATABASE_URL",
    "base_url": "KPI_BASE_URL",
    "secret_key": "KPI_SECRET_KEY",
    "smtp_host": "KPI_SMTP_HOST",
    "smtp_port": "KPI_SMTP_PORT",
    "smtp_user": "KPI_SMTP_USER",
    "smtp_password": "KPI_SMTP_PASSWORD",
    "smtp_tls": "KPI_SMTP_TLS",
    "mail_from": "KPI_MAIL_FROM",
    "config_dir": "KPI_CONFIG_DIR",
    "templates_dir": "KPI_TEMPLATES_DIR",
}

SMTP_TLS_MODES = ("none", "starttls", "tls")


@dataclass(frozen=True)
class Settings:
    """Everything the engine reads from its environment."""

    database_url: str = "sqlite:///kpi.sqlite3"
    base_url: str = "http://127.0.0.1:8000"
    secret_key: str = ""
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_tls: str = "none"
    smtp_timeout_seconds: float = 20.0
    mail_from: str = "kpi-workflow <kpi@localhost>"
    config_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "config")
    templates_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "templates")
    admins: tuple[str, ...] = ()
    sweep_interval_seconds: int = 60
    source: str = "defaults"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(path: str | Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Read the settings file (``KPI_SETTINGS`` or ``config/settings.toml``) and the env."""
    env = dict(os.environ) if env is None else env
    settings_path = Path(path or env.get("KPI_SETTINGS") or (PROJECT_ROOT / "config/settings.toml"))
    values: dict[str, Any] = {}
    source = "defaults"
    if settings_path.exists():
        try:
            raw = tomllib.loads(settings_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{settings_path}: not valid TOML: {exc}") from exc
        known = {f.name for f in fields(Settings)} - {"source"}
        for key, value in _flatten(raw).items():
            if key not in known:
                raise ConfigError(
                    f"{settings_path}: unknown setting {key!r}; known: {', '.join(sorted(known))}"
                )
            values[key] = value
        source = str(settings_path)
    for name, var in _ENV.items():
        if env.get(var):
            values[name] = env[var]
    settings = Settings(source=source)
    return replace(settings, **_coerce(values, source))


def _flatten(raw: dict[str, Any]) -> dict[str, Any]:
    """``[smtp] host = ...`` and ``smtp_host = ...`` mean the same setting."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            for sub, subvalue in value.items():
                out[f"{key}_{sub}"] = subvalue
        else:
            out[key] = value
    return out


def _coerce(values: dict[str, Any], source: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in ("smtp_port", "sweep_interval_seconds"):
            try:
                out[key] = int(value)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"{source}: {key} must be a whole number, got {value!r}") from None
        elif key == "smtp_timeout_seconds":
            try:
                out[key] = float(value)
            except (TypeError, ValueError):
                raise ConfigError(f"{source}: {key} must be a number, got {value!r}") from None
        elif key in ("config_dir", "templates_dir"):
            out[key] = Path(value)
        elif key == "admins":
            items = value.split(",") if isinstance(value, str) else value
            out[key] = tuple(str(v).strip() for v in items if str(v).strip())
        elif key == "smtp_tls":
            mode = str(value).lower()
            if mode not in SMTP_TLS_MODES:
                raise ConfigError(
                    f"{source}: smtp_tls must be one of {', '.join(SMTP_TLS_MODES)}, got {value!r}"
                )
            out[key] = mode
        else:
            out[key] = str(value)
    return out
