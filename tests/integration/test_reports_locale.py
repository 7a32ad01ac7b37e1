"""The cycle report, its fairness signals and the personnel record, read in Vietnamese:
no English sentence, no internal id (state, class, pool, trigger), numbers written the
Vietnamese way; and the same in English for the English reader."""

from __future__ import annotations

import re

from tests.integration.test_reports import seeded  # noqa: F401 (the module's fixture)
from tests.support import World
from tests.web_support import text_of
from workflow.reports.html import cycle_report_html, fairness_fragment, record_html

STATE_IDS = ("self_assessment", "peer_input", "supervisor_scoring", "appeal_window",
             "appeal_review", "finalised", "cancelled")
CLASS_IDS = ("well_completed", "not_completed", "excellent")
ENGLISH = re.compile(r"\b(the|of|and|per|with|Method|Scores|Supervisor|Appeal|people|"
                     r"evaluation|evaluations|rows?|quota|mean|on time|late|upheld|revised|"
                     r"pending|Excellently|Well completed|Not completed)\b")


def _visible(html: str) -> str:
    # The <style> block and the SVG's drawing instructions are not read by anyone.
    html = re.sub(r"<style>.*?</style>", " ", html, flags=re.S)
    html = re.sub(r"<defs>.*?</defs>|<metadata>.*?</metadata>", " ", html, flags=re.S)
    return text_of(html)


def _internal_ids(text: str) -> list[str]:
    found = [i for i in STATE_IDS + CLASS_IDS if re.search(rf"\b{i}\b", text)]
    found += re.findall(r"task_group:\w+|submit_\w+|\w+_\w+_\w+", text)
    return found


def test_the_cycle_report_reads_in_vietnamese(seeded: World) -> None:  # noqa: F811
    page = _visible(cycle_report_html(seeded.svc, seeded.cycle_id, locale="vi"))
    assert "Xếp loại theo đơn vị" in page and "Cấp trên chấm điểm" in page
    assert "Hoàn thành tốt nhiệm vụ" in page and "toàn cơ quan" in page
    assert not _internal_ids(page), _internal_ids(page)
    english = sorted(set(ENGLISH.findall(page)))
    assert not english, [page[max(0, m.start() - 60):m.end() + 30] for m in ENGLISH.finditer(page)]
    point = re.search(r"\d\.\d{2}\b", page)
    assert point is None, f"a decimal point in Vietnamese: {page[point.start() - 80:point.end()]}"


def test_the_cycle_report_reads_in_english(seeded: World) -> None:  # noqa: F811
    page = _visible(cycle_report_html(seeded.svc, seeded.cycle_id, locale="en"))
    assert "Classes per unit" in page and "Supervisor scoring" in page
    assert "the agency" in page and "Well completed" in page
    assert not re.findall(r"task_group:\w+|\b[a-z]+_[a-z_]+\b", page)
    assert "Xếp loại theo đơn vị" not in page


def test_the_fairness_signals_read_in_the_calibrators_language(seeded: World) -> None:  # noqa: F811
    vi = _visible(fairness_fragment(seeded.svc, seeded.cycle_id, locale="vi"))
    assert "Dấu hiệu cần lưu ý về tính khách quan" in vi and "Cách xác định:" in vi
    english = sorted(set(ENGLISH.findall(vi)))
    assert not english, english
    en = _visible(fairness_fragment(seeded.svc, seeded.cycle_id, locale="en"))
    assert "Fairness signals" in en and "standardised difference" in en


def test_the_personnel_record_is_printed_in_the_persons_language(seeded: World) -> None:  # noqa: F811
    page = _visible(record_html(seeded.svc, "S4"))  # S4 reads Vietnamese
    page = page.replace("Item 2 was late for a reason", "")  # what S4 typed, as typed
    assert "Hồ sơ đánh giá" in page and "Chuỗi nhật ký" in page
    assert "gửi kiến nghị" in page and "giữ nguyên kết quả" in page
    assert "khiếu nại" not in page
    assert not _internal_ids(page), _internal_ids(page)
    english = sorted(set(ENGLISH.findall(page)))
    assert not english, [page[max(0, m.start() - 60):m.end() + 30] for m in ENGLISH.finditer(page)]
    en = _visible(record_html(seeded.svc, "S2"))  # S2 reads English
    assert "Personnel record" in en and "appeal lodged" in en
