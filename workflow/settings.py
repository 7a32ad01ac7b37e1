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
    "audit_key": "KPI_AUDIT_KEY",
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
    # Keys the audit chain's HMAC; empty: derived from secret_key. Never in the database.
    audit_key: str = ""
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_tls: str = "none"
    smtp_timeout_seconds: float = 20.0
    # Mail delivery (notifications/): see the README, "Email".
    smtp_send_timeout_seconds: float = 60.0  # one whole message, all its SMTP commands
    smtp_validate_certs: bool = True
    smtp_local_hostname: str = ""  # EHLO name; empty: the domain of mail_from
    mail_from: str = "kpi-workflow <kpi@localhost>"
    mail_batch_size: int = 100  # outbox rows claimed (and sent on one connection) at once
    mail_lease_seconds: int = 300  # a claimed row whose sender died is retried after this
    mail_max_attempts: int = 10  # transient failures before a message becomes a dead letter
    mail_retry_base_seconds: float = 30.0  # backoff: base * 2**(attempt-1), jittered
    mail_retry_max_seconds: float = 6 * 3600.0
    mail_interval_seconds: float = 10.0  # how often `kpi serve` looks at the outbox
    digest_enabled: bool = True  # supervisors' per-item mails folded into one a day
    digest_at: str = "08:00"  # local time of the recipient
    config_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "config")
    templates_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "templates")
    admins: tuple[str, ...] = ()
    # Admins whose rights stop at some agencies or cycles (workflow/service/admin_scope.py):
    # ((person id, ("unit:SNV", "cycle:2026-04", "*")), ...); each is an admin of every cycle
    # within that scope. ``admins`` above see everything.
    admin_scope: tuple[tuple[str, tuple[str, ...]], ...] = ()
    sweep_interval_seconds: int = 60
    # A sweep round that hangs this long between statements loses its claim
    # (PostgreSQL ends its session; another worker then takes the rows).
    sweep_lease_seconds: float = 300.0
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
        if key == "admin_scope":  # a table of person id -> grants, not settings of its own
            out[key] = value
        elif isinstance(value, dict):
            for sub, subvalue in value.items():
                out[f"{key}_{sub}"] = subvalue
        else:
            out[key] = value
    return out


_INTS = ("smtp_port", "sweep_interval_seconds", "mail_batch_size", "mail_lease_seconds",
         "mail_max_attempts")
_FLOATS = ("sweep_lease_seconds", "smtp_timeout_seconds", "smtp_send_timeout_seconds",
           "mail_retry_base_seconds", "mail_retry_max_seconds", "mail_interval_seconds")
_BOOLS = ("smtp_validate_certs", "digest_enabled")


def _coerce(values: dict[str, Any], source: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in _INTS:
            try:
                out[key] = int(value)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"{source}: {key} must be a whole number, got {value!r}") from None
        elif key in _FLOATS:
            try:
                out[key] = float(value)
            except (TypeError, ValueError):
                raise ConfigError(f"{source}: {key} must be a number, got {value!r}") from None
        elif key in _BOOLS:
            out[key] = _boolean(key, value, source)
        elif key == "digest_at":
            out[key] = _clock_time(key, value, source)
        elif key in ("config_dir", "templates_dir"):
            out[key] = Path(value)
        elif key == "admins":
            items = value.split(",") if isinstance(value, str) else value
            out[key] = tuple(str(v).strip() for v in items if str(v).strip())
        elif key == "admin_scope":
            out[key] = _admin_scope(value, source)
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


def _admin_scope(value: Any, source: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``[admin_scope]`` as (person id, grants) pairs; every grant checked for its form."""
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: admin_scope must be a table of employee id = [grants], "
                          'e.g. [admin_scope] E1 = ["unit:SNV"]')
    out = []
    for person_id, grants in sorted(value.items()):
        items = [grants] if isinstance(grants, str) else grants
        if not isinstance(items, list) or not items:
            raise ConfigError(f"{source}: admin_scope.{person_id} must be a list of grants, "
                              'e.g. ["unit:SNV"], ["cycle:2026-04"] or ["*"]')
        for grant in items:
            kind, _, target = str(grant).partition(":")
            if not (str(grant) == "*" or (kind in ("unit", "cycle") and target.strip())):
                raise ConfigError(f"{source}: admin_scope.{person_id}: {grant!r} is not a grant; "
                                  'write "unit:UNIT_ID" (the unit and everyone below its people), '
                                  '"cycle:CYCLE_ID" or "*" (everything)')
        out.append((str(person_id), tuple(str(g).strip() for g in items)))
    return tuple(out)


def _boolean(key: str, value: Any, source: str) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{source}: {key} must be true or false, got {value!r}")


def _clock_time(key: str, value: Any, source: str) -> str:
    text = str(value).strip()
    hour, _, minute = text.partition(":")
    if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60):
        raise ConfigError(f"{source}: {key} must be a local time HH:MM, got {value!r}")
    return f"{int(hour):02d}:{int(minute):02d}"
