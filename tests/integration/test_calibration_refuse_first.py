"""A calibration move or undo is refused to whoever does not decide it before its reason
is read (issue 17): the empty form of someone who may not decide gets the 403 that names
who decides, never "needs a reason"; the decider's empty form gets the 422.

The small cycle: D1 calibrates; UB1 calibrates D1's own evaluation instead (recusal).
"""

from __future__ import annotations

import pytest

from tests.integration.test_calibration_reasons import scored
from tests.integration.test_recusal_calibration import MOVED, record_of
from tests.support import at, small_world
from tests.web_support import make_web, text_of
from workflow.errors import NotTheirCalibration, RecusedFromCalibration, SubmissionInvalid
from workflow.service import calibration, calibration_moves
from workflow.service.core import Service

UB1 = "Chủ tịch Trần Văn Tỉnh"
D1 = "Giám đốc Nguyễn Thị Sở"


@pytest.mark.both_stores
def test_an_empty_move_by_someone_who_may_not_decide_is_refused_naming_the_decider(
        svc: Service) -> None:
    w = small_world(svc)
    scored(w, {"D1", "S1"})
    own, s1 = w.ev("D1"), w.ev("S1")
    now = at(MOVED)
    before = record_of(svc, s1), record_of(svc, own)
    # UB1 decides D1's evaluation alone; S1's is D1's to decide.
    for attempt in (lambda: calibration.move_class(svc, s1, "well_completed", "", "UB1",
                                                   now=now),
                    lambda: calibration_moves.undo_move(svc, s1, " ", "UB1", now=now)):
        with pytest.raises(NotTheirCalibration, match="D1 decides its calibration") as refused:
            attempt()
        assert not isinstance(refused.value, RecusedFromCalibration)
        assert refused.value.decider_id == "D1" and refused.value.decider_name == D1
    with pytest.raises(RecusedFromCalibration, match="UB1 decides its calibration"):
        calibration.move_class(svc, own, "well_completed", "", "D1", now=now)
    assert (record_of(svc, s1), record_of(svc, own)) == before  # nothing written
    # The deciders' own empty forms: needs a reason.
    with pytest.raises(SubmissionInvalid, match="needs a reason"):
        calibration.move_class(svc, s1, "well_completed", "  ", "D1", now=now)
    with pytest.raises(SubmissionInvalid, match="needs a reason"):
        calibration.move_class(svc, own, "well_completed", "", "UB1", now=now)
    assert (record_of(svc, s1), record_of(svc, own)) == before


def test_the_page_refuses_a_strangers_empty_move_with_403_and_who_decides(svc: Service
                                                                          ) -> None:
    w = small_world(svc)
    scored(w, {"D1", "S1"})
    web = make_web(w)
    web.clock.set(MOVED)
    own, s1 = w.ev("D1"), w.ev("S1")
    # UB1, from the task email, posts an empty move on S1's evaluation (not theirs).
    link = web.link("UB1", "task_calibration")
    taker = web.client_for()
    token = web.csrf(taker, link)
    refused = taker.post(link, data={"op": "move", "evaluation_id": str(s1), "reason": "",
                                     "csrf_token": token})
    said = text_of(refused.text)
    assert refused.status_code == 403, said
    assert D1 in said, said
    assert "reason" not in said and "lý do" not in said.lower(), said
    # D1 on their own evaluation, empty: refused as a recusal, naming UB1.
    director = web.sign_in("D1")
    path = f"/calibration/{w.cycle_id}"
    refused = director.post(path, data={"op": "move", "evaluation_id": str(own),
                                        "reason": "", "csrf_token": web.csrf(director, path)})
    said = text_of(refused.text)
    assert refused.status_code == 403 and UB1 in said, said
    assert w.row("D1")["final_class"] == w.row("S1")["final_class"] == "excellent"
    # The decider's own empty move: 422, the reason field marked.
    wanting = director.post(path, data={"op": "move", "evaluation_id": str(s1), "reason": "",
                                        "csrf_token": web.csrf(director, path)})
    assert wanting.status_code == 422, text_of(wanting.text)
    assert w.row("S1")["final_class"] == "excellent"
