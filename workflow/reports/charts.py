"""The report's charts as static SVG, their geometry computed here (no JavaScript
needed, no plotting library). Pure: figures in, SVG text out.

Why not matplotlib (used before): its layout engine took 10-15 s for the report's six
charts of a national cycle, whatever the cycle's size, most of a kept report's first
build once the rows were fast (bench/RESULTS.md, report-first-build); the charts are a
few dozen bars, which are rectangles at computed places.

Readable without colour: every series has its own hatch pattern as well as a colour
from the Okabe-Ito palette (safe for colour-blind readers), every bar carries its
number as a label, and every SVG has a <title> and <desc> read by screen readers; the
report prints the same figures as a table under each chart.

No ``style`` anywhere: the web app's Content-Security-Policy (``style-src 'self'``)
refuses inline styles and ``<style>`` elements, so every paint is an SVG presentation
attribute (``fill=``, ``stroke=``...), which no policy blocks.

Text has no font metrics here: its width is estimated from its length (``_width``, a
generous average advance of DejaVu Sans), and every column and margin is sized from
those estimates, so a long Vietnamese unit name widens the chart instead of running
into the bars (the page scales the SVG down to its width).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import escape

# Okabe-Ito colours and hatches: two cues per series, so greyscale still works.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442")
HATCHES = ("", "//", "..", "xx", "\\\\", "++", "oo")
INK = "#222222"
FONT = "DejaVu Sans, Verdana, sans-serif"  # DejaVu has the Vietnamese letters
SIZE = 9  # text size, px
SMALL = 8  # bar labels and notes
EM = 0.62  # average advance of DejaVu Sans, in em: a little over, so text never collides
PLOT_WIDTH = 480.0
ROW = 24.0  # one category's height in the bar charts
PAD = 6.0
# One tile of each hatch, 8 px square: strokes in the ink colour over the series colour.
_HATCH_TILES = {
    "//": '<path d="M-2,2 L2,-2 M0,8 L8,0 M6,10 L10,6"/>',
    "\\\\": '<path d="M-2,6 L2,10 M0,0 L8,8 M6,-2 L10,2"/>',
    "xx": '<path d="M-2,2 L2,-2 M0,8 L8,0 M6,10 L10,6 M-2,6 L2,10 M0,0 L8,8 M6,-2 L10,2"/>',
    "++": '<path d="M4,0 V8 M0,4 H8"/>',
    "..": '<circle cx="2" cy="2" r="0.9" fill="{ink}"/><circle cx="6" cy="6" r="0.9" '
          'fill="{ink}"/>',
    "oo": '<circle cx="4" cy="4" r="2.2" fill="none"/>',
}


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float]


def _width(text: str, size: float = SIZE) -> float:
    return len(text) * size * EM


def _n(value: float) -> str:
    """A coordinate, short and stable (no float noise in the SVG text)."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _g(value: float, decimal: str) -> str:
    """A figure printed on a bar: as few digits as it needs, the reader's separator."""
    return f"{value:g}".replace(".", decimal)


class _Svg:
    """One chart being written: its defs (hatches, clip), its marks, its size."""

    def __init__(self, name: str) -> None:
        self.ident = f"chart-{name}"
        self.defs: list[str] = []
        self.marks: list[str] = []
        self._paints: dict[tuple[str, str], str] = {}
        self._bars = 0

    def paint(self, k: int, hatch_k: int | None = None) -> str:
        """The fill of series ``k``: its colour, or a pattern of its hatch (series
        ``hatch_k``'s, by default its own) over it."""
        colour = COLOURS[k % len(COLOURS)]
        hatch = HATCHES[(k if hatch_k is None else hatch_k) % len(HATCHES)]
        if not hatch:
            return colour
        key = (colour, hatch)
        if key not in self._paints:
            pid = f"{self.ident}-hatch{len(self._paints) + 1}"
            tile = _HATCH_TILES[hatch].replace("{ink}", INK)
            self.defs.append(
                f'<pattern id="{pid}" patternUnits="userSpaceOnUse" width="8" height="8">'
                f'<rect width="8" height="8" fill="{colour}"/><g stroke="{INK}" '
                f'stroke-width="0.8">{tile}</g></pattern>')
            self._paints[key] = f"url(#{pid})"
        return self._paints[key]

    def bar(self, x: float, y: float, w: float, h: float, fill: str) -> None:
        self._bars += 1
        self.marks.append(
            f'<rect class="bar" id="{self.ident}-bar{self._bars}" x="{_n(x)}" y="{_n(y)}" '
            f'width="{_n(max(w, 0))}" height="{_n(max(h, 0))}" fill="{fill}" '
            f'stroke="{INK}" stroke-width="0.6"/>')

    def line(self, x1: float, y1: float, x2: float, y2: float, dashed: bool = False,
             width: float = 0.8) -> None:
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        self.marks.append(f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" '
                          f'stroke="{INK}" stroke-width="{width}"{dash}/>')

    def text(self, x: float, y: float, value: str, anchor: str = "start",
             size: float = SIZE, rotate: bool = False, boxed: bool = False) -> None:
        """``value`` escaped (names are typed by people), its baseline centred on ``y``."""
        if boxed:  # a white box under a label printed on a bar, so the hatch stays behind
            w = _width(value, size) + 4
            left = x - w / 2 if anchor == "middle" else x - 2 if anchor == "start" else x - w
            self.marks.append(f'<rect x="{_n(left)}" y="{_n(y - size * 0.65)}" '
                              f'width="{_n(w)}" height="{_n(size * 1.3)}" rx="2" '
                              'fill="#ffffff" fill-opacity="0.85"/>')
        turn = f' transform="rotate(-90 {_n(x)} {_n(y)})"' if rotate else ""
        self.marks.append(f'<text x="{_n(x)}" y="{_n(y + size * 0.35)}" font-size="{size}" '
                          f'text-anchor="{anchor}"{turn}>{escape(value)}</text>')

    def legend(self, series: Sequence[str], paints: Sequence[str], left: float, top: float,
               columns: int) -> float:
        """Swatches and names in ``columns`` columns from (left, top); its height."""
        cell = max(_width(s) for s in series) + 34
        for k, label in enumerate(series):
            x = left + (k % columns) * cell
            y = top + (k // columns) * 16
            self.marks.append(f'<rect x="{_n(x)}" y="{_n(y)}" width="22" height="12" '
                              f'fill="{paints[k]}" stroke="{INK}" stroke-width="0.6"/>')
            self.text(x + 27, y + 6, label)
        return math.ceil(len(series) / columns) * 16

    def finish(self, width: float, height: float, title: str, desc: str) -> str:
        ident = self.ident
        return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" '
                f'aria-labelledby="{ident}-title {ident}-desc" width="{_n(width)}" '
                f'height="{_n(height)}" viewBox="0 0 {_n(width)} {_n(height)}" '
                f'font-family="{FONT}" font-size="{SIZE}" fill="{INK}">'
                f'<title id="{ident}-title">{escape(title)}</title>'
                f'<desc id="{ident}-desc">{escape(desc)}</desc>'
                f'<defs>{"".join(self.defs)}</defs>'
                f'<rect width="{_n(width)}" height="{_n(height)}" fill="#ffffff"/>'
                f'{"".join(self.marks)}</svg>')


def _ticks(top: float) -> list[float]:
    """Round tick values from 0 to at least ``top`` (steps of 1, 2 or 5 times a power
    of ten, about five of them)."""
    top = max(top, 1.0)
    raw = top / 5
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]


def _x_axis(svg: _Svg, left: float, bottom: float, width: float, ticks: Sequence[float],
            top: float, label: str, decimal: str, share: bool = False) -> float:
    """The axis under a plot of ``width`` spanning 0..``top``; the height it takes."""
    svg.line(left, bottom, left + width, bottom)
    for t in ticks:
        x = left + width * t / top
        svg.line(x, bottom, x, bottom + 3.5)
        svg.text(x, bottom + 10, f"{t:.0%}" if share else _g(t, decimal), "middle")
    if label:
        svg.text(left + width / 2, bottom + 24, label, "middle")
    return 32.0 if label else 18.0


def _categories(svg: _Svg, names: Sequence[str], left: float, top: float, row: float
                ) -> None:
    for i, name in enumerate(names):
        y = top + row * (i + 0.5)
        svg.line(left - 3.5, y, left, y)
        svg.text(left - 6, y, name, "end")


def stacked_bars(name: str, title: str, desc: str, categories: Sequence[str],
                 series: Sequence[Series], *, as_share: bool = True,
                 notes: Sequence[str] | None = None, xlabel: str = "", decimal: str = "."
                 ) -> str:
    """Horizontal stacked bars, one per category (the first on top); shares of the row
    when ``as_share``. ``decimal``: the reader's decimal separator, for the numbers
    printed on the bars."""
    svg = _Svg(name)
    n = len(categories)
    totals = [sum(s.values[i] for s in series) for i in range(n)]
    label_w = max([_width(c) for c in categories] + [0]) + 14
    notes_w = max([_width(x, SMALL) for x in notes or ()] + [0])
    scale_top = 1.0 if as_share else max([*totals, 1])
    # Long names (the decree's class names in Vietnamese) take two columns, not four.
    wide = sum(len(s.label) for s in series) > 60
    columns = min(2 if wide else 4, len(series)) or 1
    legend_h = svg.legend([s.label for s in series], [svg.paint(k) for k in range(len(series))],
                          label_w, PAD, columns)
    top = PAD + legend_h + 8
    plot_h = ROW * n
    left = [0.0] * n
    for k, s in enumerate(series):
        fill = svg.paint(k)
        for i, v in enumerate(s.values):
            share = (v / totals[i] if totals[i] else 0.0) if as_share else v
            x = label_w + PLOT_WIDTH * left[i] / scale_top
            w = PLOT_WIDTH * share / scale_top
            y = top + ROW * i + ROW * 0.1
            if w > 0:
                svg.bar(x, y, w, ROW * 0.8, fill)
            if v and share >= 0.04 * scale_top:
                svg.text(x + w / 2, y + ROW * 0.4, _g(v, decimal), "middle", SMALL, boxed=True)
            left[i] += share
    _categories(svg, categories, label_w, top, ROW)
    for i, note in enumerate(notes or ()):
        if note:
            end = label_w + PLOT_WIDTH * (1.0 if as_share else left[i] / scale_top)
            svg.text(end + 5, top + ROW * (i + 0.5), note, size=SMALL)
    svg.line(label_w, top, label_w, top + plot_h)
    ticks = [i / 5 for i in range(6)] if as_share else _ticks(scale_top)
    if not as_share:
        scale_top = max(scale_top, ticks[-1])
    axis_h = _x_axis(svg, label_w, top + plot_h, PLOT_WIDTH, ticks, 1.0 if as_share
                     else scale_top, xlabel, decimal, share=as_share)
    width = label_w + PLOT_WIDTH + max(notes_w + 10, 12)
    return svg.finish(width, top + plot_h + axis_h + PAD, title, desc)


def _threshold_rows(thresholds: Sequence[tuple[float, str]], x_of: float, span: float,
                    left: float, decimal: str) -> list[tuple[float, float, str, int]]:
    """Where each class threshold's name goes above the plot: (x, end, text, row). A
    name starts at its line and runs right (the chart widens for the last one); one
    that would overlap a name already placed goes a row higher (the decree's class
    names in Vietnamese are longer than the gaps between their thresholds: drawn on
    one line, they overlapped)."""
    placed: list[tuple[float, float, str, int]] = []
    for value, label in sorted(thresholds):
        if value <= 0:
            continue
        text = f"{label} \u2265 {_g(value, decimal)}"
        x = left + (value - x_of) / span * PLOT_WIDTH
        end = x + 3 + _width(text, SMALL)
        row = 0
        while any(r == row and x < b and a < end for a, b, _t, r in placed):
            row += 1
        placed.append((x, end, text, row))
    return placed


def histogram(name: str, title: str, desc: str, edges: Sequence[float],
              counts: Sequence[int], width: float,
              thresholds: Sequence[tuple[float, str]], *, xlabel: str = "score",
              ylabel: str = "people", decimal: str = ".") -> str:
    """Vertical bars of counts per score bin, the class thresholds drawn and named."""
    svg = _Svg(name)
    low, high = edges[0], edges[-1] + width
    span = high - low or 1.0
    left = 44.0
    y_ticks = _ticks(max([*counts, 1]) * 1.1)
    y_top = y_ticks[-1]
    placed = _threshold_rows(thresholds, low, span, left, decimal)
    rows = 1 + max([row for *_rest, row in placed] + [-1])
    right = max([left + PLOT_WIDTH + 44, *(end + PAD for _x, end, _t, _r in placed)])
    top = PAD + rows * 12 + 6
    plot_h = 180.0
    bottom = top + plot_h
    fill = svg.paint(0, 1)  # the report's first colour, hatched

    def y_of(count: float) -> float:
        return bottom - plot_h * count / y_top

    for edge, count in zip(edges, counts, strict=True):
        x = left + (edge - low) / span * PLOT_WIDTH
        w = width / span * PLOT_WIDTH
        svg.bar(x, y_of(count), w, plot_h * count / y_top, fill if count else COLOURS[0])
        if count:
            svg.text(x + w / 2, y_of(count) - 7, str(count), "middle", SMALL)
    for x, _end, text, row in placed:
        # The lines stop at the plot's top and the names stand above it, row 0 nearest:
        # a line drawn up to a higher row crossed the names of the rows below.
        svg.line(x, top, x, bottom, dashed=True, width=1)
        svg.text(x + 3, PAD + (rows - 1 - row) * 12 + 5, text, size=SMALL)
    svg.line(left, top, left, bottom)
    for t in y_ticks:
        svg.line(left - 3.5, y_of(t), left, y_of(t))
        svg.text(left - 6, y_of(t), _g(t, decimal), "end")
    svg.text(12, top + plot_h / 2, ylabel, "middle", rotate=True)
    x_ticks = [t for t in _ticks(span) if t <= span + 1e-9]
    axis_h = _x_axis(svg, left, bottom, PLOT_WIDTH, x_ticks, span, xlabel, decimal)
    return svg.finish(right, bottom + axis_h + PAD, title, desc)


def paired_bars(name: str, title: str, desc: str, categories: Sequence[str],
                first: Series, second: Series, xlabel: str, value_format: str = "{:.1f}",
                decimal: str = ".") -> str:
    """Two bars per category (e.g. self-assessed against supervisor), values printed."""
    svg = _Svg(name)
    label_w = max([_width(c) for c in categories] + [0]) + 14
    # The first two colours, hatched with the second and third hatches.
    paints = [svg.paint(0, 1), svg.paint(1, 2)]
    legend_h = svg.legend([first.label, second.label], paints, label_w, PAD, 2)
    top = PAD + legend_h + 8
    row = ROW * 1.4
    scale_top = max([*first.values, *second.values, 1]) * 1.15
    ticks = [t for t in _ticks(scale_top) if t <= scale_top]
    for i, _category in enumerate(categories):
        for k, s in enumerate((first, second)):
            v = s.values[i]
            y = top + row * i + row * 0.12 + k * row * 0.38
            w = PLOT_WIDTH * v / scale_top
            svg.bar(label_w, y, w, row * 0.38, paints[k])
            svg.text(label_w + w + 3, y + row * 0.19, value_format.format(v).replace(
                ".", decimal), size=SMALL)
    _categories(svg, categories, label_w, top, row)
    plot_h = row * len(categories)
    svg.line(label_w, top, label_w, top + plot_h)
    axis_h = _x_axis(svg, label_w, top + plot_h, PLOT_WIDTH, ticks, scale_top, xlabel,
                     decimal)
    return svg.finish(label_w + PLOT_WIDTH + 40, top + plot_h + axis_h + PAD, title, desc)
