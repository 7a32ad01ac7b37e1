"""The email templates on their own: every event in both languages, escaping, strict
names, time zones, and what the HTML may contain. No database, no network."""

from __future__ import annotations

import re
from collections.abc import Mapping
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from notifications.compose import BadAddress, Sender, check_address, compose
from notifications.render import (
    EVENTS,
    LOCALES,
    REQUIRED,
    Rendered,
    RenderError,
    environment,
    local_time,
    number,
    one_line,
    render,
)
from workflow.errors import ConfigError
from workflow.settings import PROJECT_ROOT

TEMPLATES = PROJECT_ROOT / "templates"
BASE = "https://kpi.example.gov.vn"
LINK = f"{BASE}/t/Zq3-rT9_token"
DUE = "2026-05-07T10:00:00+00:00"  # 17:00 in Ha Noi

# Contexts shaped like the rows the engine writes (see tests/integration/
# test_email_delivery.py, which renders the real rows of a driven cycle).
COMMON: dict[str, Any] = {
    "cycle_id": "snv-2026-04", "cycle_name": "Đánh giá công chức tháng 4/2026 — Sở Nội vụ",
    "period_start": "2026-04-01", "period_end": "2026-04-30", "evaluation_id": 12,
    "reviewee_id": "SNV012", "reviewee_name": "Phạm Thị Lan", "state": "supervisor_scoring",
    "due_at": DUE, "cycle_timezone": "Asia/Ho_Chi_Minh", "trigger": "submit_score",
    "reason": None, "action_url": LINK,
}
RESULT = {"score": "83.50", "class_id": "well_completed",
          "class_label": {"en": "Well completed", "vi": "Hoàn thành tốt nhiệm vụ"},
          "breakdown": [
              {"criterion": "political_quality", "points": "9", "max": "10",
               "label": {"en": "Political quality", "vi": "Phẩm chất chính trị"}},
              {"criterion": "peer", "points": None, "max": "5",
               "label": {"en": "Peer input", "vi": "Góp ý đồng nghiệp"}}]}
CONTEXTS: Mapping[str, dict[str, Any]] = {
    "task_self_assessment": {**COMMON, "state": "self_assessment"},
    "task_peer_input": {**COMMON, "state": "peer_input"},
    "task_supervisor_scoring": COMMON,
    "task_calibration": {"cycle_id": "snv-2026-04", "cycle_name": COMMON["cycle_name"],
                         "evaluations": 56, "due_at": DUE, "state": "calibration",
                         "action_url": LINK},
    "task_appeal_review": {**COMMON, **RESULT, "state": "appeal_review",
                           "appeal_reasons": "Hai sản phẩm hoàn thành đúng hạn.\nXin xem lại."},
    "reminder": {**COMMON, "timer_kind": "reminder"},
    "overdue": {**COMMON, "timer_kind": "due"},
    "escalation": {**COMMON, "action_url": None, "escalation_level": 2,
                   "escalated_to": "admins", "assignee_name": "Lê Văn Hùng"},
    "result": {**COMMON, **RESULT, "state": "appeal_window"},
    "results_published": {"cycle_id": "vc-2026-08", "cycle_name": "Viên chức 8/2026",
                          "evaluation_id": 12, "published_at": "2026-09-01T03:00:00+00:00",
                          "due_at": DUE, "cycle_timezone": "Asia/Ho_Chi_Minh",
                          "state": "appeal_window", "action_url": LINK,
                          "publication_url": f"{BASE}/t/Pub-token"},
    "self_assessment_missed": {**COMMON, "state": "peer_input", "action_url": None},
    "appeal_lodged": {**COMMON, **RESULT, "state": "appeal_review", "action_url": None,
                      "appeal_reasons": "Item 2 was on time."},
    "appeal_decided": {**COMMON, **RESULT, "state": "finalised", "action_url": None,
                       "due_at": None,
                       "decision": "revise_score", "decision_reason": "The register says so."},
    "finalised": {**COMMON, **RESULT, "state": "finalised", "action_url": None, "due_at": None,
                  "trigger": "appeal_window_closed"},
    "stepped_aside": {**COMMON, "action_url": None, "due_at": None, "steps_aside_from": "scoring",
                      "assignee_name": "Giám đốc Nguyễn Thị Sở",
                      "reason": "conflict of interest declared in the organisation file"},
    "cancelled": {**COMMON, "state": "cancelled", "action_url": None, "due_at": None,
                  "reason": "Chuyển công tác"},
    "reopened": {**COMMON, "action_url": None, "reason": "Quyết định 12/QĐ"},
    "extension_granted": {**COMMON, "old_due_at": "2026-05-05T10:00:00+00:00",
                          "reason": "Nghỉ ốm"},
    "digest": {"digest_at": "2026-05-06T01:00:00+00:00", "overdue_count": 1,
               "also_waiting": 2, "cycle_names": [COMMON["cycle_name"]], "items": [
                   {"evaluation_id": 12, "cycle_name": COMMON["cycle_name"],
                    "reviewee_id": "SNV012", "reviewee_name": "Phạm Thị Lan",
                    "state": "supervisor_scoring", "due_at": DUE, "action_url": LINK,
                    "notices": ["task_supervisor_scoring", "overdue"],
                    "most_urgent": "overdue", "self_assessment_missing": True},
                   {"evaluation_id": 13, "cycle_name": COMMON["cycle_name"],
                    "reviewee_id": "SNV013", "reviewee_name": "Hoàng Văn Nam",
                    "state": "peer_input", "due_at": DUE, "action_url": None,
                    "notices": ["self_assessment_missed"],
                    "most_urgent": "self_assessment_missed",
                    "self_assessment_missing": True}]},
    "sign_in": {"action_url": LINK, "expires_at": "2026-05-06T02:30:00+00:00"},
}


def rendered(event: str, locale: str, **over: Any) -> Rendered:
    context = {**CONTEXTS[event], **over.pop("context", {})}
    args: dict[str, Any] = {
        "event": event, "locale": locale, "timezone": "Asia/Ho_Chi_Minh",
        "recipient_name": "Lê Văn Hùng", "recipient_id": "H1", "context": context,
        "base_url": BASE, "templates_dir": TEMPLATES, **over}
    return render(**args)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_every_event_has_one_set_of_three_templates_for_every_language() -> None:
    assert set(CONTEXTS) == set(EVENTS)
    for event in EVENTS:
        for part in ("subject", "txt", "html"):
            assert (TEMPLATES / "email" / f"{event}.{part}.j2").is_file()
    # No template without an event: a stray file would be a mail nobody sends; and no
    # copy per locale: the words are in the catalogue.
    names = {p.name.split(".")[0] for p in (TEMPLATES / "email").glob("*.j2")}
    assert names - set(EVENTS) == {"_layout", "_macros"}
    assert not [p for p in (TEMPLATES / "email").iterdir() if p.is_dir()]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("event", EVENTS)
def test_every_template_renders_a_subject_a_text_and_safe_html(event: str, locale: str) -> None:
    out = rendered(event, locale)
    assert out.subject.startswith("[KPI] ") and "\n" not in out.subject
    assert len(out.subject) < 200
    greeting = "Kính gửi" if locale == "vi" else "Dear"
    assert out.text.startswith(f"{greeting} Lê Văn Hùng,\n\n")
    assert "\n-- \n" in out.text  # the signature separator mail clients recognise
    assert "{{" not in out.text + out.html and "{%" not in out.text + out.html
    # HTML for mail clients: tables for layout, styles inline, nothing active.
    parser = _Tags()
    parser.feed(out.html)
    tags = {t for t, _ in parser.tags}
    assert {"html", "body", "table", "td"} <= tags
    assert not tags & {"script", "style", "link", "iframe", "form", "img", "object"}
    assert all(not k.startswith("on") for _, attrs in parser.tags for k in attrs)
    assert all(a.get("style") for t, a in parser.tags if t in ("td", "p", "a", "h1"))
    assert f'<html lang="{locale}">' in out.html
    # Every link absolute, from the base URL.
    hrefs = [a["href"] for t, a in parser.tags if t == "a" and a.get("href")]
    assert hrefs and all(h and h.startswith(BASE) for h in hrefs)
    link = CONTEXTS[event].get("action_url")
    if link:
        assert link in out.text and f'href="{link}"' in out.html
    # The deadline, in the recipient's zone and language, where there is one.
    due = CONTEXTS[event].get("due_at")
    if due and event != "digest":
        assert local_time(due, "Asia/Ho_Chi_Minh", locale) in out.text
        assert "(Giờ Việt Nam, UTC+07:00)" in out.text or "(Vietnam Time, UTC+07:00)" in out.text


def test_vietnamese_keeps_its_diacritics_in_subject_and_body() -> None:
    out = rendered("task_supervisor_scoring", "vi")
    assert out.subject == "[KPI] Chấm điểm cho Phạm Thị Lan: hạn chót 17:00 07/05/2026"
    assert "Phiếu đánh giá của Phạm Thị Lan trong kỳ «Đánh giá công chức tháng 4/2026 — " \
           "Sở Nội vụ» đang chờ Anh/Chị chấm điểm." in out.text
    assert "17:00, Thứ Năm 07/05/2026 (Giờ Việt Nam, UTC+07:00)" in out.text


def test_names_written_decomposed_come_out_composed() -> None:
    import unicodedata
    nfd = unicodedata.normalize("NFD", "Phạm Thị Lan")
    assert nfd != "Phạm Thị Lan"
    out = rendered("task_supervisor_scoring", "vi", context={"reviewee_name": nfd})
    assert "Phạm Thị Lan" in out.subject and "Phạm Thị Lan" in out.text
    assert "Phạm Thị Lan" in out.html


def test_the_deadline_is_shown_in_the_recipients_own_time_zone() -> None:
    paris = rendered("task_self_assessment", "en", timezone="Europe/Paris")
    assert "12:00, Thursday 7 May 2026 (France Time, UTC+02:00)" in paris.text
    assert paris.subject.endswith("due 7 May 2026, 12:00")
    hanoi = rendered("task_self_assessment", "en")
    assert "17:00, Thursday 7 May 2026 (Vietnam Time, UTC+07:00)" in hanoi.text


def test_the_result_states_score_class_breakdown_and_the_right_to_appeal_by_a_date() -> None:
    vi = rendered("result", "vi")
    assert vi.subject == ("[KPI] Kết quả đánh giá (Đánh giá công chức tháng 4/2026 — Sở Nội vụ)"
                          ": 83,50/100 điểm, Hoàn thành tốt nhiệm vụ")
    assert "Điểm: 83,50/100" in vi.text and "Xếp loại: Hoàn thành tốt nhiệm vụ" in vi.text
    assert "- Phẩm chất chính trị: 9/10" in vi.text
    assert "- Góp ý đồng nghiệp: không tính" in vi.text
    assert re.search(r"quyền kiến nghị, nêu rõ lý do, đến hết\n\s+17:00, Thứ Năm 07/05/2026",
                     vi.text)
    en = rendered("result", "en")
    assert "Total score: 83.50 / 100" in en.text and "Class: Well completed" in en.text
    assert re.search(r"you may appeal, giving your reasons, until\n\s+17:00, Thursday 7 May",
                     en.text)
    assert "Appeal until" in en.html and "17:00, Thursday 7 May 2026" in en.html


def test_html_escapes_what_people_typed_and_text_keeps_it_as_typed() -> None:
    evil = '<script>alert("x")</script> & <b>bold</b>'
    out = rendered("task_appeal_review", "en",
                   context={"reviewee_name": evil, "appeal_reasons": evil})
    assert "<script>" not in out.html and "&lt;script&gt;" in out.html
    assert "&lt;b&gt;bold&lt;/b&gt;" in out.html and "&amp;" in out.html
    assert evil in out.text  # the text part is not HTML: shown exactly as written


def test_an_undefined_name_in_a_template_is_an_error_not_an_empty_string(tmp_path: Path
                                                                         ) -> None:
    (tmp_path / "email").mkdir(parents=True)
    for name in ("_layout.html.j2", "_layout.txt.j2", "_macros.html.j2", "_macros.txt.j2"):
        (tmp_path / "email" / name).write_text(
            (TEMPLATES / "email" / name).read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "email" / "sign_in.subject.j2").write_text("[KPI] {{ typo_name }}")
    (tmp_path / "email" / "sign_in.txt.j2").write_text("x")
    (tmp_path / "email" / "sign_in.html.j2").write_text("x")
    with pytest.raises(RenderError, match="'typo_name' is undefined"):
        rendered("sign_in", "en", templates_dir=tmp_path)


def test_a_row_missing_a_fact_its_email_needs_names_the_fact() -> None:
    with pytest.raises(RenderError, match="outbox row 7: cannot render 'result' in 'vi': "
                                          "its context lacks score, class_label"):
        rendered("result", "vi", outbox_id=7, context={"score": None, "class_label": None})
    with pytest.raises(RenderError, match="no templates for event 'weekly'"):
        render(event="weekly", locale="vi", timezone="Asia/Ho_Chi_Minh", recipient_name="x",
               context={}, base_url=BASE, templates_dir=TEMPLATES)
    with pytest.raises(RenderError, match="no templates for locale 'fr'"):
        rendered("sign_in", "fr")
    with pytest.raises(RenderError, match="unknown time zone 'Mars/Olympus'"):
        rendered("sign_in", "en", timezone="Mars/Olympus")


def test_links_must_be_absolute() -> None:
    with pytest.raises(RenderError, match="not an absolute http"):
        rendered("sign_in", "en", context={"action_url": "/t/abc"})
    with pytest.raises(RenderError, match=r"base_url 'kpi\.local' is not an absolute"):
        rendered("sign_in", "en", base_url="kpi.local")


def test_every_event_that_needs_a_fact_says_so() -> None:
    for event, needs in REQUIRED.items():
        for fact in needs:
            with pytest.raises(RenderError, match=f"lacks {fact}"):
                rendered(event, "en", context={fact: None})


def test_autoescape_is_on_for_html_only() -> None:
    env = environment(TEMPLATES)
    assert env.from_string("{{ x }}").render(x="<b>") == "<b>"
    html = env.get_template("sign_in.html.j2")
    txt = env.get_template("sign_in.txt.j2")
    assert html.environment.autoescape is not False
    assert callable(env.autoescape) and env.autoescape("sign_in.html.j2")
    assert not env.autoescape("sign_in.txt.j2") and not env.autoescape("x.subject.j2")
    assert txt is not None


def test_one_line_removes_every_kind_of_line_break_and_control_character() -> None:
    assert one_line("a\r\nBcc: b\u2028c\u2029d\x85e\x00f\tg  h\u200bi") == \
        "a Bcc: b c d e f g h i"


def test_scores_keep_their_digits_in_each_language() -> None:
    assert number("83.50", "vi") == "83,50" and number("83.50", "en") == "83.50"
    assert number("100", "vi") == "100" and number(None, "en") == "—"


def test_compose_puts_text_first_and_encodes_non_ascii_headers() -> None:
    out = rendered("task_supervisor_scoring", "vi")
    from datetime import UTC, datetime
    data = compose(out, sender=Sender.parse("Hệ thống KPI <kpi@snv.example.gov.vn>"),
                   to_name="Lê Văn Hùng", to_address="hung@snv.example.gov.vn",
                   message_id="<abc123@snv.example.gov.vn>",
                   date=datetime(2026, 5, 5, 2, 0, tzinfo=UTC), locale="vi",
                   event="task_supervisor_scoring")
    assert data.isascii()
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert "From: =?utf-8?" in head and "<kpi@snv.example.gov.vn>" in head
    assert "Date: Tue, 05 May 2026 02:00:00 +0000" in head
    assert "Message-ID: <abc123@snv.example.gov.vn>" in head
    assert "Auto-Submitted: auto-generated" in head
    assert all(len(line) <= 76 for line in head.split("\r\n"))
    assert data.index(b"text/plain") < data.index(b"text/html")


def test_long_vietnamese_names_and_subjects_fold_into_short_lines_and_read_back_whole(
        ) -> None:
    from datetime import UTC, datetime
    from email import message_from_bytes, policy
    from email.header import decode_header, make_header
    name = "Nguyễn Thị Phương Thảo Hoàng Lê Ngọc Bích Trần Vũ Đặng " * 3
    out = rendered("task_supervisor_scoring", "vi", context={"reviewee_name": name})
    data = compose(out, sender=Sender.parse("kpi@snv.example.gov.vn"), to_name=name,
                   to_address="a.very.long.address.of.someone@department.province.gov.vn",
                   message_id="<x@y>", date=datetime(2026, 5, 5, tzinfo=UTC), locale="vi",
                   event="task_supervisor_scoring")
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert max(len(line) for line in head.split("\r\n")) <= 76
    msg = message_from_bytes(data, policy=policy.default)
    assert msg["To"].addresses[0].addr_spec.startswith("a.very.long.address")
    assert msg["Subject"] == out.subject and name.strip() in out.subject
    assert not msg.defects
    # Decoded as RFC 2047 says (white space between encoded words is not text). The
    # modern parser of Python's email package adds a space between the words of a
    # display name split over several encoded words (its own output does the same).
    raw_to = re.search(r"^To: (.*?) <", head.replace("\r\n ", " "), re.M)
    assert raw_to is not None
    assert str(make_header(decode_header(raw_to.group(1)))) == name.strip()


def test_bad_addresses_and_senders_are_refused() -> None:
    for bad in ("", "no-at-sign", "a@b.c, d@e.f", "a@b.c\r\nRCPT TO:<x@y.z>", "Ann <a@b.c>",
                "ẩn@b.c", "a..b@c.d", "a@-b.c"):
        with pytest.raises(BadAddress):
            check_address(bad)
    assert check_address("first.last+kpi@sub.example.gov.vn") == \
        "first.last+kpi@sub.example.gov.vn"
    with pytest.raises(ConfigError, match=r"mail_from 'kpi-workflow' \(KPI_MAIL_FROM\)"):
        Sender.parse("kpi-workflow")


@pytest.mark.parametrize(("count", "english", "vietnamese"), [
    (1, "1 evaluation ready", "1 phiếu"), (2, "2 evaluations ready", "2 phiếu"),
    (1000, "1,000 evaluations ready", "1.000 phiếu")])
def test_a_count_takes_the_plural_form_of_each_language(count: int, english: str,
                                                         vietnamese: str) -> None:
    ctx = {"evaluations": count}
    en = rendered("task_calibration", "en", context=ctx)
    vi = rendered("task_calibration", "vi", context=ctx)
    assert english in en.subject and vietnamese in vi.subject
    waits = "waits" if count == 1 else "wait"
    shown_en, shown_vi = f"{count:,}", f"{count:,}".replace(",", ".")
    assert f"scored: {shown_en} {waits} for your calibration." in en.text
    assert f"đã được chấm điểm: {shown_vi} phiếu đang chờ Anh/Chị rà soát." in vi.text
    reminder = rendered("reminder", "en", context={"state": "calibration", **ctx})
    noun = "evaluation waits" if count == 1 else "evaluations wait"
    assert f"{shown_en} {noun} for it." in reminder.text
    assert f"Có {shown_vi} phiếu đang chờ." in rendered(
        "reminder", "vi", context={"state": "calibration", **ctx}).text


def test_the_digest_counts_in_both_languages() -> None:
    one = {"also_waiting": 1, "overdue_count": 0,
           "items": CONTEXTS["digest"]["items"][:1]}
    en = rendered("digest", "en", context=one)
    assert en.subject == "[KPI] Your daily summary, Wednesday 6 May 2026: 1 evaluation to score"
    assert "1 other evaluation you were told about earlier still waits" in en.text
    assert ">1 evaluation</div>" in en.html  # the preheader
    two = rendered("digest", "en")
    assert "2 other evaluations you were told about earlier still wait for" in two.text
    assert "news on" not in two.subject and "1 evaluation to score, 1 overdue" in two.subject
    vi = rendered("digest", "vi")
    assert vi.subject == "[KPI] Tổng hợp việc trong ngày Thứ Tư 06/05/2026: " \
                         "1 phiếu cần chấm điểm, 1 phiếu quá hạn"
    assert "Ngoài ra, 2 phiếu khác đã được báo trước đây vẫn đang chờ" in vi.text
    only_news = {"items": CONTEXTS["digest"]["items"][1:], "overdue_count": 0,
                 "also_waiting": 0}
    assert rendered("digest", "en", context=only_news).subject.endswith(
        ": news on 1 evaluation")
    assert rendered("digest", "vi", context=only_news).subject.endswith(
        ": thông tin về 1 phiếu đánh giá")


def test_every_translation_uses_only_the_placeholders_of_its_message() -> None:
    from workflow import catalog
    placeholder = re.compile(r"%\((\w+)\)s")
    for locale in LOCALES:
        po = catalog.LOCALE_DIR / locale / "LC_MESSAGES" / "email.po"
        for message in catalog.read_catalog(po):
            if not message.id:
                continue
            ids = [message.id] if isinstance(message.id, str) else list(message.id)
            strings = [message.string] if isinstance(message.string, str) else \
                list(message.string)
            given = {name for text in ids for name in placeholder.findall(text)}
            for text in strings:
                assert set(placeholder.findall(text)) <= given, (locale, message.id, text)
                # A lone % would break new-style formatting of every value.
                assert "%" not in placeholder.sub("", text).replace("%%", ""), text


def test_a_text_that_cannot_be_filled_in_is_a_render_error_not_a_crash(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from notifications import phrases
    monkeypatch.setitem(phrases.TASKS, "supervisor_scoring", "scoring %(nobody)s")
    with pytest.raises(RenderError, match="could not be filled in: KeyError"):
        rendered("reminder", "en", outbox_id=9)


@pytest.mark.parametrize("event", EVENTS)
def test_vietnamese_mail_says_kien_nghi_and_anh_chi_as_the_glossary_does(event: str) -> None:
    for recipient_id in ("H1", "SNV012"):
        out = rendered(event, "vi", recipient_id=recipient_id)
        whole = (out.subject + out.text + out.html).lower()
        assert "khiếu nại" not in whole and not re.search(r"\bbạn\b", whole)
        assert "anh/chị" in whole


def test_an_email_message_means_the_same_in_every_catalogue_file_of_its_locale() -> None:
    # The files of a locale are merged into one catalogue, the last file winning: a
    # message id the web uses as a verb ("Score": "Chấm điểm") and a mail as a noun
    # would silently change the mail. An email text must not be given another meaning.
    from workflow import catalog
    for locale in LOCALES:
        files = catalog.po_files(locale)
        email = [p for p in files if p.stem == "email"]
        assert email, f"{locale}: no email.po"
        ours = {m.id if isinstance(m.id, str) else m.id[0]: m.string
                for m in catalog.read_catalog(email[0]) if m.id}
        for other in (p for p in files if p.stem != "email"):
            for message in catalog.read_catalog(other):
                key = message.id if isinstance(message.id, str) else (message.id or ("",))[0]
                if key in ours:
                    assert message.string == ours[key], (locale, other.name, key)


def test_the_email_catalogue_escapes_values_in_html_and_keeps_them_in_text() -> None:
    env = environment(TEMPLATES, "vi")
    source = ('{{ _("Dear %(name)s,", name=n) }}|{% trans name=n %}Dear {{ name }},'
              '{% endtrans %}|{{ ngettext("%(num)s evaluation", "%(num)s evaluations", 2) }}')
    html = env.from_string("{% autoescape true %}" + source + "{% endautoescape %}")
    text = env.from_string(source)
    evil = "<b>%(name)s</b>"
    assert html.render(n=evil) == ("Kính gửi &lt;b&gt;%(name)s&lt;/b&gt;,|"
                                   "Kính gửi &lt;b&gt;%(name)s&lt;/b&gt;,|2 phiếu đánh giá")
    assert text.render(n=evil) == "Kính gửi <b>%(name)s</b>,|Kính gửi <b>%(name)s</b>,|" \
                                  "2 phiếu đánh giá"
