"""The live web demo: seeded so that one evaluation is left to click through."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace
from typing import cast

from fastapi.testclient import TestClient

from tests.support import World
from tests.web_support import CSRF, Clock, WebWorld, text_of
from workflow.domain import State
from workflow.service.core import Service
from workflow.settings import PROJECT_ROOT
from workflow.web import DemoHooks, create_app
from workflow.web.demo import DEMO_START, DemoClock, jumper, mail_source, prepare


def test_demo_leaves_the_protagonist_to_play_and_its_clock_jumps_to_deadlines(
        new_service: Callable[..., Service]) -> None:
    svc = new_service("demo.sqlite3")
    plan = prepare(svc, PROJECT_ROOT / "config", lambda _line: None)
    clock = DemoClock()
    assert clock() - DEMO_START < timedelta(minutes=1)
    app = create_app(svc, clock=clock, demo=DemoHooks(jump=jumper(svc, clock),
                                                      mails=mail_source(svc, None)))
    browser = TestClient(app, base_url="http://kpi.test")
    page = browser.get(plan.self_assessment_link.removeprefix("http://kpi.test"))
    assert page.status_code == 200 and plan.protagonist_name in page.text
    assert "Bản demo" in page.text  # the demo bar with its clock control
    mails = browser.get("/demo/mail")
    assert mails.status_code == 200 and "task_calibration" not in mails.text
    token = CSRF.search(mails.text)
    assert token
    jumped = browser.post("/demo/clock/next", data={"csrf_token": token.group(1)})
    assert jumped.status_code == 200 and "Đồng hồ đã chuyển" in text_of(jumped.text)
    assert clock() > DEMO_START + timedelta(hours=1)
    with svc.store.read() as s:
        from sqlalchemy import select

        from workflow.store.tables import EVALUATION

        states = {r.reviewee_id: r.state for r in s.execute(
            select(EVALUATION.c.reviewee_id, EVALUATION.c.state))}
    assert states[plan.protagonist] == State.SELF_ASSESSMENT.value
    assert {s for p, s in states.items() if p != plan.protagonist} == {State.CALIBRATION.value}


def test_after_make_demo_the_admin_dashboard_leads_to_the_sample_cycles_charts(
        new_service: Callable[..., Service]) -> None:
    svc = new_service("demo.sqlite3")
    prepare(svc, PROJECT_ROOT / "config", lambda _line: None)
    clock = DemoClock()
    app = create_app(svc, clock=clock, demo=DemoHooks(jump=jumper(svc, clock),
                                                      mails=mail_source(svc, None)))
    web = WebWorld(cast(World, SimpleNamespace(svc=svc)), cast(Clock, clock),
                   TestClient(app, base_url="http://kpi.test"))
    admin = web.sign_in("SNV060")  # the sample cycle's admin
    dashboard = admin.get("/admin")
    link = re.search(r'href="(/admin/cycle/([^"/]+)/report)"', dashboard.text)
    assert dashboard.status_code == 200 and link
    report = admin.get(link.group(1))
    assert report.status_code == 200
    # Everyone but the protagonist is scored: the class distribution and the
    # histogram are drawn, with the units of the sample organisation.
    assert report.text.count("<svg") >= 2 and "Xếp loại theo đơn vị" in report.text
    assert "Dấu hiệu cần lưu ý về tính khách quan" in report.text and "(VP)" in report.text
