"""Log lines as one JSON object each (``KPI_LOG_FORMAT=json``), for log collectors.

Each line carries the time, level, logger and message, and the ids that tie it to
the work: ``cycle_id`` and ``evaluation_id`` when the code logging passes them
(``log.info(..., extra={"evaluation_id": 7})``), and ``request_id`` for lines logged
while a web request is handled (set by the web app's request-timing middleware).
"""

from __future__ import annotations

import contextvars
import json
import logging
from datetime import UTC, datetime

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("kpi_request_id",
                                                                        default=None)
IDS = ("cycle_id", "evaluation_id", "request_id")
FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    """One JSON object a line; a traceback goes into ``exception``, never a new line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in IDS:
            value = getattr(record, key, None)
            if value is None and key == "request_id":
                value = REQUEST_ID.get()
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def handler_for(log_format: str) -> logging.Handler:
    """A stderr handler in ``log_format`` ("text" or "json"); ValueError for another."""
    if log_format not in FORMATS:
        raise ValueError(f"KPI_LOG_FORMAT must be one of {', '.join(FORMATS)}, "
                         f"not {log_format!r}")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler
