"""`kpi act --file`: a JSON submission with a key the form does not know, or an item
not completed that carries delays, is refused naming it, and nothing is stored."""

from __future__ import annotations

import random
from pathlib import Path

from tests.support import kpi_act, small_world
from workflow import sample
from workflow.domain import State
from workflow.service.core import Service


def test_kpi_act_refuses_unknown_keys_and_delays_on_an_item_not_done(
        svc: Service, tmp_path: Path) -> None:
    w = small_world(svc)
    payload = sample.self_assessment(w.framework("S1"), random.Random(3), 0.8)
    payload["tasks"] = [{"title": "Báo cáo \"quý\"", "completed": False, "delays": 2},
                        {"title": "Hồ sơ", "completed": True, "delay": 1}]
    payload["attachments"] = ["x.pdf"]
    result = kpi_act(w, "S1", "submit_self_assessment", "S1", payload, tmp_path,
                     "2026-05-05 09:00")
    assert result.exit_code != 0
    for said in ("tasks[0].delays: an item not completed cannot have delays",
                 "tasks[1].delay: unknown field", "attachments: unknown field"):
        assert said in result.output, result.output
    assert w.state("S1") is State.SELF_ASSESSMENT
