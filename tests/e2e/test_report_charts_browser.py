"""The admin report's charts in Debian's chromium under the app's strict
Content-Security-Policy (issue 18, item 4): the policy refuses inline styles, so the
charts carry their colours as SVG presentation attributes. The bars read their own
colours (Okabe-Ito blue, the hatch patterns), the policy refused nothing on the page,
and a screenshot of the page is kept for a person to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from tests.e2e.conftest import Inbox, LiveServer
from tests.e2e.test_browser import shot, sign_in
from tests.support import World
from tests.web_support import Clock

pytestmark = pytest.mark.browser

# The bars of each chart (the legend's swatches and the label boxes are not bars).
FIRST_BAR = 'svg[aria-labelledby^="chart-{name}-"] rect.bar'


def test_the_report_charts_keep_their_colours_under_the_content_security_policy(
        page: Page, live: LiveServer, world: World, clock: Clock, artifacts: Path,
        inbox: Inbox) -> None:
    for who, level in (("S1", 0.95), ("S2", 0.7), ("S3", 0.45)):
        world.submit_self(who, when="2026-05-05 09:00")
        world.answer_peers(who, when="2026-05-07 09:00")
        world.score(who, level=level, when="2026-05-08 10:00")
    clock.set("2026-05-08 11:00")
    refused: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Refused" in message.text:
            refused.append(message.text)

    page.on("console", console)
    sign_in(page, live, world, inbox, "A1")
    response = page.goto(f"{live.base}/admin/cycle/{world.cycle_id}/report")
    assert response is not None
    assert "style-src 'self'" in response.headers["content-security-policy"]
    page.set_viewport_size({"width": 1280, "height": 900})
    expect(page.locator("figure svg").first).to_be_visible()
    # The histogram's bars: hatched, outlined in the ink colour; the class chart's first
    # series: the first colour, plain. Black (the default paint) was what the policy left.
    histogram = _painted(page, "histogram")
    assert histogram["stroke"] == "rgb(34, 34, 34)" and histogram["fill"].startswith("url(")
    assert _painted(page, "classes")["fill"] == "rgb(0, 114, 178)"
    # No inline style anywhere in the charts, and nothing refused on the page.
    assert page.locator("figure svg [style], figure svg style").count() == 0
    assert refused == []
    # The histogram names each class threshold; in Vietnamese (A1's page) the names are
    # long: no two of them may be drawn over each other.
    boxes = page.evaluate("""() => Array.from(
        document.querySelectorAll('svg[aria-labelledby^="chart-histogram-"] text'))
        .filter(t => t.textContent.includes('\u2265'))
        .map(t => { const b = t.getBoundingClientRect();
                    return [t.textContent.trim(), b.left, b.top, b.right, b.bottom]; })""")
    assert len(boxes) == 3, boxes  # completed, well completed, excellent
    crossing = [(a[0], b[0]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
                if a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]]
    assert not crossing, crossing
    page.locator("figure").first.scroll_into_view_if_needed()
    shot(page, artifacts, "30-admin-report-charts")


def _painted(page: Page, chart: str) -> dict[str, str]:
    """The computed paint of the chart's first bar that has a height (a bin of nobody
    is a bar of height 0)."""
    found: dict[str, str] | None = page.evaluate(
        """sel => {
            const bar = Array.from(document.querySelectorAll(sel))
                .find(e => e.getBBox().height > 0 && e.getBBox().width > 0);
            if (!bar) return null;
            const s = getComputedStyle(bar);
            return {fill: s.fill, stroke: s.stroke};
        }""", FIRST_BAR.format(name=chart))
    assert found is not None, f"no bar drawn in the {chart} chart"
    return found
