"""`kpi org import`: idempotent upsert, and every bad row named with nothing imported."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.support import CONFIG, DATA
from workflow.errors import OrgImportError
from workflow.service.core import Service
from workflow.service.org import REQUIRED_COLUMNS, import_org
from workflow.store.tables import PERSON

HEADER = ",".join(REQUIRED_COLUMNS)
GOOD = [
    "B1,Nguyễn Văn Bình,binh@x.gov.vn,U1,Phòng Một,Trưởng phòng,leader,,A,vi,true",
    "B2,Trần Thị Lan,lan@x.gov.vn,U1,Phòng Một,Chuyên viên,specialist,B1,C,vi,false",
    "B3,Lê Minh An,an@x.gov.vn,U1,Phòng Một,Chuyên viên,specialist,B1,C,en,false",
]


def write(tmp_path: Path, lines: list[str], header: str = HEADER, name: str = "org.csv",
          encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *lines]) + "\n", encoding=encoding)
    return path


def people(svc: Service) -> int:
    with svc.store.read() as s:
        return int(s.execute(select(func.count()).select_from(PERSON)).scalar_one())


def test_the_sample_organisation_imports_and_reimports_unchanged(svc: Service) -> None:
    first = import_org(svc, CONFIG / "organisation.csv")
    assert len(first.added) == 59 and not first.changed
    again = import_org(svc, CONFIG / "organisation.csv")
    assert (len(again.added), len(again.changed), len(again.unchanged)) == (0, 0, 59)


def test_changes_are_reported_field_by_field(svc: Service, tmp_path: Path) -> None:
    import_org(svc, write(tmp_path, GOOD))
    moved = [*GOOD[:2],
             "B3,Lê Minh An,an.le@x.gov.vn,U1,Phòng Một,Chuyên viên,specialist,B2,C,vi,false"]
    report = import_org(svc, write(tmp_path, moved))
    assert report.changed == {"B3": ["email", "supervisor_id", "locale"]}
    assert sorted(report.unchanged) == ["B1", "B2"]


def test_two_people_swap_addresses_and_a_newcomer_takes_a_freed_one(
        svc: Service, tmp_path: Path) -> None:
    import_org(svc, write(tmp_path, GOOD))
    swapped = [GOOD[0],
               "B2,Trần Thị Lan,an@x.gov.vn,U1,Phòng Một,Chuyên viên,specialist,B1,C,vi,false",
               "B3,Lê Minh An,an.le@x.gov.vn,U1,Phòng Một,Chuyên viên,specialist,B1,C,en,false",
               "B4,Phạm Văn Tú,lan@x.gov.vn,U1,Phòng Một,Chuyên viên,specialist,B1,C,vi,false"]
    report = import_org(svc, write(tmp_path, swapped))
    assert report.added == ["B4"] and report.changed == {"B2": ["email"], "B3": ["email"]}
    with svc.store.read() as s:
        emails = dict(s.execute(select(PERSON.c.id, PERSON.c.email)).all())
    assert emails == {"B1": "binh@x.gov.vn", "B2": "an@x.gov.vn", "B3": "an.le@x.gov.vn",
                      "B4": "lan@x.gov.vn"}


def test_a_supervisor_may_come_later_in_the_file(svc: Service, tmp_path: Path) -> None:
    report = import_org(svc, write(tmp_path, list(reversed(GOOD))))
    assert sorted(report.added) == ["B1", "B2", "B3"]


def test_people_left_out_of_the_file_are_kept(svc: Service, tmp_path: Path) -> None:
    import_org(svc, write(tmp_path, GOOD))
    report = import_org(svc, write(tmp_path, GOOD[:2]))
    assert report.not_in_file == 1 and people(svc) == 3


BAD_ROWS = [
    ("unknown supervisor", ["B4,Đỗ Hà,ha@x.gov.vn,U1,Phòng Một,Chuyên viên,specialist,B9,C,vi,"
                            "false"], "line 5|:5: unknown supervisor 'B9'"),
    ("duplicate id", ["B2,Trần Thị Lan Hai,lan2@x.gov.vn,U1,Phòng Một,Chuyên viên,specialist,"
                      "B1,C,vi,false"], ":5: employee_id B2 is also on line 3"),
    ("duplicate email", ["B4,Đỗ Hà,LAN@x.gov.vn,U1,Phòng Một,Chuyên viên,specialist,B1,C,vi,"
                         "false"], ":5: email LAN@x.gov.vn is also used by B2 (line 3)"),
    ("malformed email", ["B4,Đỗ Hà,ha at x.gov.vn,U1,Phòng Một,Chuyên viên,specialist,B1,C,vi,"
                         "false"], ":5: email 'ha at x.gov.vn' is not an email address"),
    ("unknown unit", ["B4,Đỗ Hà,ha@x.gov.vn,U9,,Chuyên viên,specialist,B1,C,vi,false"],
     ":5: unknown unit 'U9'"),
    ("bad locale", ["B4,Đỗ Hà,ha@x.gov.vn,U1,Phòng Một,Chuyên viên,specialist,B1,C,fr,false"],
     ":5: locale 'fr' is not one of vi, en"),
    ("bad leader flag", ["B4,Đỗ Hà,ha@x.gov.vn,U1,Phòng Một,Chuyên viên,specialist,B1,C,vi,"
                         "maybe"], ":5: is_leader 'maybe' is not true or false"),
    ("empty name", ["B4,,ha@x.gov.vn,U1,Phòng Một,Chuyên viên,specialist,B1,C,vi,false"],
     ":5: full_name is empty"),
    ("own supervisor", ["B4,Đỗ Hà,ha@x.gov.vn,U1,Phòng Một,Chuyên viên,specialist,B4,C,vi,"
                        "false"], ":5: supervisor_id is the person themselves"),
    ("unit named twice", ["B4,Đỗ Hà,ha@x.gov.vn,U1,Phòng Hai,Chuyên viên,specialist,B1,C,vi,"
                          "false"], ":5: unit U1 is named 'Phòng Hai' here but 'Phòng Một' on "
                                    "line 2"),
    ("comma without quotes", ["B4,Đỗ, Hà,ha@x.gov.vn,U1,Phòng Một,Chuyên viên,specialist,B1,C,"
                              "vi,false"], ":5: has 12 fields, the header has 11"),
]


@pytest.mark.parametrize(("case", "rows", "message"), BAD_ROWS, ids=[c[0] for c in BAD_ROWS])
def test_a_bad_row_is_named_and_nothing_is_imported(svc: Service, tmp_path: Path, case: str,
                                                    rows: list[str], message: str) -> None:
    with pytest.raises(OrgImportError) as info:
        import_org(svc, write(tmp_path, GOOD + rows))
    text = str(info.value)
    assert any(m in text for m in message.split("|")), text
    assert "nothing was imported" in text
    assert people(svc) == 0, case


def test_a_supervisor_cycle_is_refused(svc: Service, tmp_path: Path) -> None:
    rows = ["C1,Một,c1@x.gov.vn,U1,Phòng Một,CV,specialist,C2,C,vi,false",
            "C2,Hai,c2@x.gov.vn,U1,Phòng Một,CV,specialist,C3,C,vi,false",
            "C3,Ba,c3@x.gov.vn,U1,Phòng Một,CV,specialist,C1,C,vi,false"]
    with pytest.raises(OrgImportError, match=r"supervisor cycle: C1 -> C2 -> C3 -> C1"):
        import_org(svc, write(tmp_path, GOOD + rows))
    assert people(svc) == 0


def test_a_cycle_through_people_already_imported_is_refused(svc: Service,
                                                            tmp_path: Path) -> None:
    import_org(svc, write(tmp_path, GOOD))
    # B1 now reports to B2, who reports to B1.
    with pytest.raises(OrgImportError, match="supervisor cycle"):
        import_org(svc, write(tmp_path, ["B1,Nguyễn Văn Bình,binh@x.gov.vn,U1,Phòng Một,"
                                         "Trưởng phòng,leader,B2,A,vi,true"]))


def test_every_bad_row_is_reported_at_once(svc: Service, tmp_path: Path) -> None:
    rows = [r[1][0] for r in BAD_ROWS[:4]]
    with pytest.raises(OrgImportError) as info:
        import_org(svc, write(tmp_path, GOOD + rows))
    assert len(info.value.problems) >= 4


def test_a_missing_column_is_named(svc: Service, tmp_path: Path) -> None:
    header = HEADER.replace(",task_group", "")
    with pytest.raises(OrgImportError, match=r":1: missing column\(s\): task_group"):
        import_org(svc, write(tmp_path, [], header=header))


def test_an_unknown_column_is_named(svc: Service, tmp_path: Path) -> None:
    with pytest.raises(OrgImportError, match=r"unknown column\(s\): phone"):
        import_org(svc, write(tmp_path, [r + ",0900" for r in GOOD], header=HEADER + ",phone"))


def test_an_excel_file_saved_in_windows_1258_is_refused_clearly(svc: Service,
                                                                tmp_path: Path) -> None:
    path = tmp_path / "org.csv"
    path.write_bytes(("\n".join([HEADER, *GOOD])).encode("utf-8").replace(
        "ễ".encode(), b"\xd4\xe5"))
    with pytest.raises(OrgImportError, match="not UTF-8 text; save the sheet as 'CSV UTF-8'"):
        import_org(svc, path)


def test_a_byte_order_mark_from_excel_is_fine(svc: Service, tmp_path: Path) -> None:
    path = tmp_path / "org.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join([HEADER, *GOOD]).encode("utf-8"))
    assert len(import_org(svc, path).added) == 3


def test_an_empty_file_and_a_header_only_file_are_refused(svc: Service,
                                                          tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(OrgImportError, match="the file is empty"):
        import_org(svc, empty)
    with pytest.raises(OrgImportError, match="only its header"):
        import_org(svc, write(tmp_path, []))


def test_a_missing_file_is_named(svc: Service, tmp_path: Path) -> None:
    with pytest.raises(OrgImportError, match="no such file"):
        import_org(svc, tmp_path / "nope.csv")


def test_an_optional_timezone_column_is_checked(svc: Service, tmp_path: Path) -> None:
    rows = [r + ",Asia/Ho_Chi_Minh" for r in GOOD[:2]] + [GOOD[2] + ",Mars/Olympus"]
    with pytest.raises(OrgImportError, match=r":4: timezone: unknown time zone 'Mars/Olympus'"):
        import_org(svc, write(tmp_path, rows, header=HEADER + ",timezone"))


def test_an_email_taken_by_someone_in_the_organisation_is_refused(svc: Service,
                                                                  tmp_path: Path) -> None:
    import_org(svc, DATA / "small_org.csv")
    with pytest.raises(OrgImportError, match="already belongs to S1"):
        import_org(svc, write(tmp_path, ["Z1,Z,lan@snv.example.gov.vn,P1,Phòng Một,CV,"
                                         "specialist,,C,vi,false"]))


def conflicts(svc: Service) -> dict[str, str | None]:
    with svc.store.read() as s:
        return dict(s.execute(select(PERSON.c.id, PERSON.c.conflicts_with)).all())


def test_conflicts_with_takes_ids_separated_by_semicolons_or_spaces(
        svc: Service, tmp_path: Path) -> None:
    rows = [GOOD[0] + ",B3 ; B2", GOOD[1] + ",", GOOD[2] + ",B1"]
    import_org(svc, write(tmp_path, rows, header=HEADER + ",conflicts_with"))
    assert conflicts(svc) == {"B1": "B2 B3", "B2": None, "B3": "B1"}
    # A later file without the column says nothing about conflicts: they stay.
    assert not import_org(svc, write(tmp_path, GOOD)).changed
    assert conflicts(svc)["B1"] == "B2 B3"
    # One with the column replaces them, and the report says so.
    report = import_org(svc, write(tmp_path, [GOOD[0] + ",B2", GOOD[1] + ",", GOOD[2] + ","],
                                   header=HEADER + ",conflicts_with"))
    assert report.changed == {"B1": ["conflicts_with"], "B3": ["conflicts_with"]}


BAD_CONFLICTS = [
    ("unknown id", "B9", ":2: conflicts_with: unknown employee 'B9'"),
    ("themselves", "B2;B1", ":2: conflicts_with names the person themselves"),
    ("markup", "<b>B2</b>", ":2: conflicts_with: '<b>B2</b>' is not an employee id"),
    ("commas", "B2|B3", ":2: conflicts_with: 'B2|B3' is not an employee id"),
]


@pytest.mark.parametrize(("case", "cell", "message"), BAD_CONFLICTS,
                         ids=[c[0] for c in BAD_CONFLICTS])
def test_a_bad_conflicts_with_cell_names_the_line_and_nothing_is_imported(
        svc: Service, tmp_path: Path, case: str, cell: str, message: str) -> None:
    rows = [f'{GOOD[0]},"{cell}"', GOOD[1] + ",", GOOD[2] + ","]
    with pytest.raises(OrgImportError) as info:
        import_org(svc, write(tmp_path, rows, header=HEADER + ",conflicts_with"))
    assert message in str(info.value), str(info.value)
    assert people(svc) == 0, case


# --- what Excel writes, and the preview the admin page shows -------------------------


def test_semicolons_and_utf16_from_excel_are_read(svc: Service, tmp_path: Path) -> None:
    """Excel in a Vietnamese locale writes ";" between values; "Unicode text" is UTF-16
    with tabs. Both are read as they are, with the diacritics intact."""
    semi = tmp_path / "semi.csv"
    semi.write_text("\n".join([HEADER, *GOOD]).replace(",", ";"), encoding="utf-8-sig")
    assert sorted(import_org(svc, semi).added) == ["B1", "B2", "B3"]
    assert sorted(import_org(svc, semi).unchanged) == ["B1", "B2", "B3"]
    tabs = tmp_path / "unicode.txt"
    tabs.write_bytes("\n".join([HEADER, *GOOD]).replace(",", "\t").replace(
        "Trần Thị Lan", "Trần Thị Lan Anh").encode("utf-16"))
    assert import_org(svc, tabs).changed == {"B2": ["full_name"]}
    with svc.store.read() as s:
        assert s.execute(select(PERSON.c.full_name).where(PERSON.c.id == "B2")).scalar_one() \
            == "Trần Thị Lan Anh"


def test_an_xlsx_workbook_is_read_and_a_damaged_one_refused(svc: Service, tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(REQUIRED_COLUMNS))
    for line in GOOD:
        values: list[object] = list(line.split(","))
        values[-1] = values[-1] == "true"  # a real boolean cell
        sheet.append(values)
    sheet.append([None] * len(REQUIRED_COLUMNS))  # an empty formatted row at the end
    path = tmp_path / "org.xlsx"
    book.save(path)
    assert sorted(import_org(svc, path).added) == ["B1", "B2", "B3"]
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(path.read_bytes()[:300])
    with pytest.raises(OrgImportError, match="not a workbook Excel can open"):
        import_org(svc, broken)


def test_a_windows_1258_file_is_named_as_such(svc: Service, tmp_path: Path) -> None:
    path = tmp_path / "org.csv"
    path.write_bytes("\n".join([HEADER, *GOOD]).encode("cp1258", errors="replace"))
    with pytest.raises(OrgImportError, match=r":2: not UTF-8 text.*looks like Windows-1258"):
        import_org(svc, path)


def test_the_preview_names_changes_field_by_field_and_writes_nothing(
        svc: Service, tmp_path: Path) -> None:
    from tests.support import at
    from workflow.errors import OrgChangedSincePreview
    from workflow.service.cycles import open_cycle
    from workflow.service.org import apply_org, preview_org

    import_org(svc, DATA / "small_org.csv")
    open_cycle(svc, DATA / "small_cycle.yaml", now=at("2026-05-02 10:00"))
    rows = (DATA / "small_org.csv").read_text(encoding="utf-8").splitlines()
    # S2 moves to D1; S4 leaves the file; a newcomer joins.
    rows = [r.replace(",H1,C,en,", ",D1,C,en,") for r in rows if not r.startswith("S4,")]
    rows.append("N1,Người <b>Mới</b> \"O'Hara\",moi@snv.example.gov.vn,P1,Phòng Một,"
                "Chuyên viên,specialist,H1,C,vi,false")
    raw = ("\n".join(rows) + "\n").encode()
    preview = preview_org(svc, "org.csv", raw)
    assert [a.person_id for a in preview.added] == ["N1"]
    assert [(c.person_id, [(f.field, f.before, f.after) for f in c.changes])
            for c in preview.changed] == [("S2", [("supervisor_id", "H1", "D1")])]
    assert preview.changed[0].open_evaluations  # S2's evaluation of the open cycle
    assert [(p.person_id, bool(p.open_evaluations)) for p in preview.not_in_file] == [
        ("S4", True)]
    assert people(svc) == 8  # nothing written
    # Applied against the organisation previewed: done; against a changed one: refused.
    apply_org(svc, "org.csv", raw, expected_fingerprint=preview.fingerprint)
    assert people(svc) == 9
    with pytest.raises(OrgChangedSincePreview):
        apply_org(svc, "org.csv", raw, expected_fingerprint=preview.fingerprint)
