"""The demo's mail catcher: a real SMTP server on loopback keeping .eml files, and
the small API the web app lists and reads them with."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosmtplib
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from notifications.catcher import MailCatcher, list_caught, read_caught
from workflow.cli import main
from workflow.errors import NotFound
from workflow.store.db import Store
from workflow.store.tables import OUTBOX

MESSAGE = ("From: kpi@localhost\r\nTo: =?utf-8?b?UGjhuqFtIFRo4buLIExhbg==?= <lan@x.vn>\r\n"
           "Subject: =?utf-8?b?S+G6v3QgcXXhuqM=?=\r\nMessage-ID: <m{n}@localhost>\r\n"
           "X-KPI-Event: result\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/alternative; boundary=b\r\n\r\n"
           "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nchào {n}\r\n"
           "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>chào {n}</p>\r\n--b--\r\n")


def deliver(port: int, n: int, to: str = "lan@x.vn") -> None:
    asyncio.run(aiosmtplib.send(MESSAGE.format(n=n).encode("utf-8"), sender="kpi@localhost",
                                recipients=[to], hostname="127.0.0.1", port=port,
                                start_tls=False))


def test_the_catcher_keeps_each_message_and_lists_and_reads_them(tmp_path: Path) -> None:
    folder = tmp_path / "mail"
    assert list_caught(folder) == []
    with MailCatcher(folder) as catcher:
        assert catcher.port > 0
        deliver(catcher.port, 1)
        deliver(catcher.port, 2, to="nam@x.vn")
    caught = list_caught(folder)
    assert [c.id for c in caught] == ["000001", "000002"]
    first = caught[0]
    assert first.subject == "Kết quả" and first.to == "Phạm Thị Lan <lan@x.vn>"
    assert first.message_id == "<m1@localhost>" and first.event == "result"
    assert caught[1].envelope_to == "nam@x.vn"
    message = read_caught(folder, "000002")
    assert message.text.strip() == "chào 2" and message.html.strip() == "<p>chào 2</p>"
    assert message.raw.startswith(b"X-Caught-Mail-From: kpi@localhost\r\n")
    # Started again on the same folder, it goes on numbering: nothing is overwritten.
    with MailCatcher(folder) as catcher:
        deliver(catcher.port, 3)
    assert [c.id for c in list_caught(folder)] == ["000001", "000002", "000003"]
    assert read_caught(folder, "000001").text.strip() == "chào 1"


def test_reading_a_caught_message_takes_only_its_listed_ids(tmp_path: Path) -> None:
    (tmp_path / "secret.eml").write_text("x")
    for bad in ("../secret", "secret", "1", "0000011", "/etc/passwd"):
        with pytest.raises(NotFound):
            read_caught(tmp_path, bad)
    with pytest.raises(NotFound, match="no caught message 000009"):
        read_caught(tmp_path, "000009")


@pytest.mark.slow
def test_kpi_demo_delivers_every_email_to_its_catcher(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--narrated", "--dir", str(folder)])
    assert result.exit_code == 0, result.output
    caught = list_caught(folder / "mail")
    store = Store(f"sqlite:///{folder / 'kpi.sqlite3'}")
    with store.read() as s:
        rows = s.execute(select(OUTBOX.c.status, OUTBOX.c.message_id)).all()
    store.dispose()
    sent = {r.message_id for r in rows if r.status == "sent"}
    assert {r.status for r in rows} <= {"sent", "folded"}  # nothing left behind
    assert {c.message_id for c in caught} == sent and len(caught) == len(sent)
    assert f"{len(sent)} emails delivered to the demo's mail catcher" in result.output
    assert str(folder / "mail") in result.output
    assert {c.event for c in caught} >= {"task_self_assessment", "result", "digest",
                                         "escalation", "appeal_decided"}
