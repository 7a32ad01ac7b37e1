"""The race loser is told the truth (issue 15, item 5): two submissions of one step at
once with different values, in real threads or processes against one database file
(and PostgreSQL). One is kept; the other person reads that another submission was
recorded first, by whom and when as far as their role may know, and what was kept,
in their language; nothing of theirs is stored. Before, they read "already submitted
... nothing more to do" (or "moved on") while their values were discarded."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.support import CONFIG, at, small_world
from tests.web_support import WebWorld, make_web, score_fields, self_fields, text_of
from workflow.domain import State, SubmissionKind
from workflow.service import records
from workflow.service.core import Service
from workflow.store.tables import SUBMISSION

pytestmark = pytest.mark.both_stores


def at_once(*posts: Callable[[], Any]) -> list[Any]:
    """Run the posts in threads released together; their answers, in order."""
    barrier = threading.Barrier(len(posts))
    answers: list[Any] = [None] * len(posts)

    def run(i: int) -> None:
        barrier.wait()
        answers[i] = posts[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(posts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def submissions(svc: Service, evaluation_id: int, kind: SubmissionKind) -> list[Any]:
    with svc.store.read() as s:
        return list(s.execute(select(SUBMISSION.c.author_id, SUBMISSION.c.payload).where(
            SUBMISSION.c.evaluation_id == evaluation_id, SUBMISSION.c.kind == kind.value)))


def ready_to_score(svc: Service) -> tuple[WebWorld, int]:
    world = small_world(svc)
    world.submit_self("S1")
    world.answer_peers("S1")
    assert world.state("S1") is State.SUPERVISOR_SCORING
    records.delegate(svc, world.cycle_id, "H1", "S4", at("2026-05-30 17:00"), "nghỉ phép",
                     "A1", now=at("2026-05-06 09:00"))
    web = make_web(world)
    web.clock.set("2026-05-08 09:00")
    return web, world.ev("S1")


def test_two_scorers_at_once_the_loser_reads_who_scored_first_and_what_was_kept(
        svc: Service) -> None:
    web, ev = ready_to_score(svc)
    path = f"/e/{ev}/score"
    scorers = {"H1": web.sign_in("H1"), "S4": web.sign_in("S4")}
    scorers["S4"].get("/lang/en?next=/team")  # the acting supervisor reads English
    points = {"H1": "9", "S4": "5"}
    forms = {who: score_fields(web.world.framework("S1"), points=points[who], op="submit",
                               comment=f"chấm bởi {who}",
                               csrf_token=web.csrf(browser, path))
             for who, browser in scorers.items()}
    answers = dict(zip(scorers, at_once(*[
        (lambda who=who: scorers[who].post(path, data=forms[who])) for who in scorers]),
        strict=True))
    codes = sorted(a.status_code for a in answers.values())
    assert codes == [200, 409], {w: (a.status_code, text_of(a.text)[-300:])
                                 for w, a in answers.items()}
    winner = next(w for w, a in answers.items() if a.status_code == 200)
    loser = "S4" if winner == "H1" else "H1"
    kept = submissions(svc, ev, SubmissionKind.SUPERVISOR_SCORE)
    assert [k.author_id for k in kept] == [winner]  # nothing of the loser's was stored
    assert kept[0].payload["comment"] == f"chấm bởi {winner}"
    page = text_of(answers[loser].text)
    names = {"H1": "Trưởng phòng Lê Văn Hùng", "S4": "Đỗ Minh Quân"}
    if loser == "S4":
        assert "Another submission was recorded first" in page
        assert f"{names[winner]}'s submission was recorded first, on" in page
        assert "What you sent was not saved" in page and "What was kept" in page
        assert f"chấm bởi {winner}" in page and f"chấm bởi {loser}" not in page
        assert "Calibration" in page or "Appeal window" in page  # the step it is at now
    else:
        assert "Một bài nộp khác đã được ghi nhận trước" in page
        assert f"{names[winner]} đã được ghi nhận trước" in page
        assert "Những gì được giữ lại" in page and f"chấm bởi {winner}" in page
    # The kept points, criterion by criterion, in the reader's decimal mark.
    assert re.search(rf"\b{points[winner]}[.,]00 / 10[.,]00", page), page[-900:]
    assert "nothing more to do" not in page.lower()


def test_one_person_in_two_tabs_is_told_the_first_tab_was_kept(svc: Service) -> None:
    world = small_world(svc)
    web = make_web(world)
    link = web.link("S1", "task_self_assessment")
    tabs = [web.client_for(), web.client_for()]
    forms = [self_fields(world.framework("S1"), note=f"tab {i}",
                         **{"criteria.innovation.points": str(3 + i)},
                         csrf_token=web.csrf(tab, link), op="confirm_submit")
             for i, tab in enumerate(tabs)]
    answers = at_once(*[(lambda i=i: tabs[i].post(link, data=forms[i])) for i in (0, 1)])
    assert sorted(a.status_code for a in answers) == [200, 409]
    won = next(i for i, a in enumerate(answers) if a.status_code == 200)
    (kept,) = submissions(svc, world.ev("S1"), SubmissionKind.SELF_ASSESSMENT)
    assert kept.payload["note"] == f"tab {won}"
    page = text_of(answers[1 - won].text)  # S1 reads Vietnamese
    assert "Anh/Chị đã gửi nội dung này lúc" in page, page[-600:]
    assert f"tab {won}" in page and f"tab {1 - won}" not in page
    assert "Những gì được giữ lại" in page
    # A peer's second tab: told their own first answer was kept, nobody else's shown.
    peer, other = world.peers_of("S1")
    link = web.link(peer, "task_peer_input")
    tabs = [web.client_for(), web.client_for()]
    forms = [{"criteria.political_quality.points": str(6 + i),
              "criteria.competence_attitude.points": "8", "criteria.innovation.points": "7",
              "comment": f"ý kiến {i}", "op": "submit", "csrf_token": web.csrf(tab, link)}
             for i, tab in enumerate(tabs)]
    answers = at_once(*[(lambda i=i: tabs[i].post(link, data=forms[i])) for i in (0, 1)])
    assert sorted(a.status_code for a in answers) == [200, 409]
    won = next(i for i, a in enumerate(answers) if a.status_code == 200)
    page = text_of(answers[1 - won].text)
    assert f"ý kiến {won}" in page and f"ý kiến {1 - won}" not in page
    assert [k.author_id for k in submissions(svc, world.ev("S1"),
                                             SubmissionKind.PEER_INPUT)] == [peer]
    assert other not in page


def kpi_act(svc: Service, tmp_path: Path, who: str, ev: int, points: int
            ) -> subprocess.Popen[str]:
    payload = tmp_path / f"score-{who}.json"
    payload.write_text(json.dumps({"criteria": {c: {"points": points} for c in (
        "political_quality", "competence_attitude", "innovation")},
        "tasks": [{"title": "Báo cáo", "completed": True, "meets_requirements": True}],
        "comment": f"by {who}"}), encoding="utf-8")
    env = {**os.environ, "KPI_DATABASE_URL": svc.store.url, "KPI_CONFIG_DIR": str(CONFIG),
           "KPI_SECRET_KEY": svc.settings.secret_key}
    env.pop("KPI_NOW", None)
    return subprocess.Popen(
        [sys.executable, "-m", "workflow.cli", "--now", "2026-05-08T09:00", "act", str(ev),
         "submit_score", "--by", who, "--file", str(payload)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_two_kpi_act_processes_at_once_the_loser_exits_saying_what_was_kept(
        svc: Service, tmp_path: Path) -> None:
    _web, ev = ready_to_score(svc)
    svc.store.dispose()  # the processes are the only writers
    procs = {who: kpi_act(svc, tmp_path, who, ev, points)
             for who, points in (("H1", 9), ("S4", 5))}
    done = {who: (p.wait(timeout=120), *p.communicate()) for who, p in procs.items()}
    codes = sorted(code for code, _out, _err in done.values())
    assert codes == [0, 1], done
    winner = next(w for w, (code, _o, _e) in done.items() if code == 0)
    loser = "S4" if winner == "H1" else "H1"
    err = done[loser][2]
    names = {"H1": "Trưởng phòng Lê Văn Hùng", "S4": "Đỗ Minh Quân"}
    assert f"another submission was recorded first, by {names[winner]} ({winner}) on " \
        in err, err
    assert "nothing of yours was saved" in err and "supervisor score: score " in err, err
    kept = submissions(svc, ev, SubmissionKind.SUPERVISOR_SCORE)
    assert [(k.author_id, k.payload["comment"]) for k in kept] == [(winner, f"by {winner}")]
