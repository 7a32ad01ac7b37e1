"""The organisation page: upload, preview (nothing written), apply exactly what was
previewed; the bad files an HR officer produces are named by line and change nothing."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.integration.test_web_access import session_cookie
from tests.support import DATA, World, at
from tests.web_support import WebWorld, make_web, text_of
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org
from workflow.store.tables import PERSON, STAGED_FILE
from workflow.web.security import SESSION_COOKIE

SMALL = (DATA / "small_org.csv").read_text(encoding="utf-8")
TOKEN = re.compile(r'name="upload" value="([^"]+)"')


@pytest.fixture
def web(new_service: Callable[..., Service]) -> WebWorld:
    svc = new_service(admins=("UB1",), admin_scope=(("A1", ("unit:BGD",)),))
    import_org(svc, DATA / "small_org.csv", now=at("2026-05-01 09:00"))
    open_cycle(svc, DATA / "small_cycle.yaml", now=at("2026-05-02 10:00"))
    return make_web(World(svc, "t-2026-04"))


def province_admin(web: WebWorld) -> TestClient:
    """UB1, reading in English (their own locale is Vietnamese: one test reads that)."""
    client = web.sign_in("UB1")
    client.get("/lang/en")
    return client


def upload(web: WebWorld, client: TestClient, name: str, raw: bytes,
           csrf: str | None = None) -> tuple[int, str]:
    token = csrf if csrf is not None else web.csrf(client, "/admin/org")
    page = client.post("/admin/org/preview", data={"csrf_token": token},
                       files={"organisation": (name, raw, "text/csv")})
    return page.status_code, page.text


def count(web: WebWorld, table: object = PERSON) -> int:
    with web.svc.store.read() as s:
        return int(s.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_preview_then_apply_exactly_what_was_previewed(web: WebWorld) -> None:
    ub1 = province_admin(web)
    rows = SMALL.replace("S2,Hoàng Văn Nam", "S2,Hoàng Văn Nam Anh") + (
        'N1,"Người <b>Mới</b> ""O\'Hara""",moi@snv.example.gov.vn,P1,Phòng Một,Chuyên viên,'
        "specialist,H1,C,en,false\n")
    rows = "\n".join(r for r in rows.splitlines() if not r.startswith("S4,")) + "\n"
    status, page = upload(web, ub1, "to-chuc.csv", rows.encode("utf-8-sig"))
    assert status == 200, text_of(page)
    text = text_of(page)
    assert "Người <b>Mới</b> \"O'Hara\"" in text and "<b>Mới</b>" not in page  # escaped
    assert "“Hoàng Văn Nam” → “Hoàng Văn Nam Anh”" in text
    assert re.search(r"Đỗ Minh Quân \(S4.*Open evaluations", text)
    assert count(web) == 8  # nothing written by the preview
    token = TOKEN.search(page)
    assert token
    csrf = web.csrf(ub1, "/admin/org")
    # Another browser of the same admin cannot confirm this browser's upload.
    other = web.client_for()
    other.cookies.set(SESSION_COOKIE, session_cookie(web.svc, "UB1", web.clock.now))
    refused = other.post("/admin/org/apply", data={"csrf_token": web.csrf(other, "/admin/org"),
                                                    "upload": token.group(1)})
    assert refused.status_code == 409 and count(web) == 8
    done = ub1.post("/admin/org/apply", data={"csrf_token": csrf, "upload": token.group(1)})
    assert done.status_code == 200, text_of(done.text)
    assert "1 added, 1 changed" in text_of(done.text)
    assert count(web) == 9 and count(web, STAGED_FILE) == 0
    again = ub1.post("/admin/org/apply", data={"csrf_token": csrf, "upload": token.group(1)})
    assert again.status_code == 409 and "no longer waiting" in text_of(again.text)


def test_an_organisation_changed_since_the_preview_is_previewed_again(web: WebWorld) -> None:
    ub1 = province_admin(web)
    status, page = upload(web, ub1, "org.csv", SMALL.replace("S3,Vũ Thị Mai", "S3,Vũ Mai")
                          .encode())
    token = TOKEN.search(page)
    assert status == 200 and token
    # Meanwhile somebody imports another change from the command line.
    path = web.svc.settings.config_dir.parent / "tests" / "data" / "small_org.csv"
    changed = path.read_text(encoding="utf-8").replace("S1,Phạm Thị Lan", "S1,Phạm Lan")
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "org.csv").write_text(changed, encoding="utf-8")
        import_org(web.svc, Path(tmp) / "org.csv")
    csrf = web.csrf(ub1, "/admin/org")
    stale = ub1.post("/admin/org/apply", data={"csrf_token": csrf, "upload": token.group(1)})
    assert stale.status_code == 409
    text = text_of(stale.text)
    assert "The organisation changed since this file was previewed" in text
    # The new preview shows what the file does now: it would put S1's name back too.
    assert "“Phạm Lan” → “Phạm Thị Lan”" in text
    done = ub1.post("/admin/org/apply", data={"csrf_token": csrf, "upload": token.group(1)})
    assert done.status_code == 200 and "2 changed" in text_of(done.text)


BAD_FILES = [
    ("duplicate id", SMALL + "S1,Phạm Thị Lan Hai,lan2@snv.example.gov.vn,P1,Phòng Một,"
                             "Chuyên viên,specialist,H1,C,vi,false\n",
     "10 employee_id S1 is also on line 5"),
    ("unknown supervisor", SMALL + "N1,Nguyễn Mới,moi@snv.example.gov.vn,P1,Phòng Một,"
                                   "Chuyên viên,specialist,ZZ9,C,vi,false\n",
     "10 unknown supervisor 'ZZ9'"),
    ("missing column", SMALL.replace(",task_group", "", 1), "missing column(s): task_group"),
    ("empty file", "", "the file is empty"),
]


@pytest.mark.parametrize(("case", "content", "expected"), BAD_FILES,
                         ids=[b[0] for b in BAD_FILES])
def test_a_bad_file_is_named_by_line_and_nothing_is_kept(web: WebWorld, case: str,
                                                         content: str, expected: str) -> None:
    ub1 = province_admin(web)
    status, page = upload(web, ub1, "org.csv", content.encode())
    assert status == 422, case
    assert expected in text_of(page), text_of(page)[:600]
    assert "nothing was imported" in text_of(page)
    assert count(web, STAGED_FILE) == 0 and count(web) == 8


def test_excel_encodings_and_sizes(web: WebWorld) -> None:
    ub1 = province_admin(web)
    status, page = upload(web, ub1, "org.csv", SMALL.encode("cp1258", errors="replace"))
    assert status == 422 and "looks like Windows-1258" in text_of(page)
    # In Vietnamese, by the catalogue.
    ub1.get("/lang/vi")
    status, page = upload(web, ub1, "org.csv", SMALL.encode("cp1258", errors="replace"))
    assert status == 422 and "có vẻ là Windows-1258" in text_of(page)
    assert "Dòng" in text_of(page) and "chưa nhập gì" in text_of(page)
    ub1.get("/lang/en")
    status, page = upload(web, ub1, "org.csv", SMALL.replace(",", ";").encode("utf-16"))
    assert status == 200, text_of(page)[:400]
    status, page = upload(web, ub1, "huge.csv", b"x" * (21 * 1024 * 1024))
    assert status == 413 and "20 MB" in text_of(page)
    status, _ = upload(web, ub1, "org.csv", SMALL.encode(), csrf="forged")
    assert status == 403
    assert count(web) == 8


def test_only_an_admin_of_everything_imports_the_organisation(web: WebWorld) -> None:
    a1 = web.sign_in("A1")  # the admin of agency SNV only
    assert a1.get("/admin/org").status_code == 403
    token = web.csrf(a1, "/admin")
    crafted = a1.post("/admin/org/preview", data={"csrf_token": token},
                      files={"organisation": ("org.csv", SMALL.encode(), "text/csv")})
    assert crafted.status_code == 403 and count(web, STAGED_FILE) == 0
