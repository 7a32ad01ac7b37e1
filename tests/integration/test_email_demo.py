"""The demo's mail (the sample organisation and cycle, played from opening to the last
appeal by ``kpi demo``'s own script) read in both languages: in Vietnamese no English
sentence and no internal name, in English no Vietnamese word."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import select

from notifications.render import render
from tests.conftest import make_settings
from tests.mail_words import (
    english_words,
    html_text,
    internal_names,
    supplied,
    vietnamese_letters,
    without,
)
from workflow.demo import run_demo
from workflow.service.core import Service
from workflow.store.db import Store
from workflow.store.tables import OUTBOX


def test_every_mail_of_the_demo_reads_in_one_language_with_no_internal_name(
        tmp_path: Path, schema_template: Path) -> None:
    path = tmp_path / "demo.sqlite3"
    shutil.copy(schema_template, path)
    url = f"sqlite:///{path}"
    svc = Service(Store(url), make_settings(url))
    try:
        run_demo(svc, svc.settings.config_dir, lambda _line: None)
        with svc.store.read() as s:
            rows: list[dict[str, Any]] = [dict(r._mapping) for r in s.execute(
                select(OUTBOX).where(OUTBOX.c.status != "folded").order_by(OUTBOX.c.id))]
    finally:
        svc.store.dispose()
    assert len({r["event"] for r in rows}) >= 10, "the demo no longer sends its usual mail"
    problems: list[tuple[str, str, str, list[str]]] = []
    for row in rows:
        for locale in ("vi", "en"):
            out = render(event=row["event"], locale=locale, timezone=row["timezone"],
                         recipient_name=row["recipient_name"],
                         recipient_id=row["recipient_id"], context=row["context"],
                         base_url=svc.settings.base_url,
                         templates_dir=svc.settings.templates_dir)
            for part, text in (("subject", out.subject), ("text", out.text),
                               ("html", html_text(out.html))):
                left = without(text, supplied(row))
                found = internal_names(left) + (english_words(left) if locale == "vi"
                                                else vietnamese_letters(left))
                if found:
                    problems.append((row["event"], locale, part, found))
    assert not problems, problems[:10]
