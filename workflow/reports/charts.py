"""The report's charts, drawn by matplotlib as static SVG (no JavaScript needed).

Readable without colour: every series has its own hatch pattern as well as a
colour from the Okabe-Ito palette (safe for colour-blind readers), every bar
carries its number as a label, and every SVG has a <title> and <desc> read by
screen readers; the report prints the same figures as a table under each chart.
Pure: figures in, SVG text out.

No ``style`` anywhere: matplotlib writes each mark's paint as an inline ``style``
attribute and a ``<style>`` element, which the web app's Content-Security-Policy
(``style-src 'self'``) refuses, so the bars came out black. ``_presentation`` turns them
into SVG presentation attributes (``fill=``, ``stroke=``...), which no policy blocks and
which the SVG renders exactly the same.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import matplotlib
from markupsafe import escape
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

# Okabe-Ito colours and hatches: two cues per series, so greyscale still works.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442")
HATCHES = ("", "//", "..", "xx", "\\\\", "++", "oo")
INK = "#222222"
_RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",  # ships with matplotlib and has Vietnamese letters
    "font.size": 9,
    "text.parse_math": False,  # a name with $ is text, not mathematics
    "svg.fonttype": "none",  # text stays text: searchable, selectable, smaller
    "hatch.linewidth": 0.8,
    "axes.edgecolor": INK,
    "text.color": INK,
}
# rcParams are process-global; the web app may draw from several threads.
_LOCK = threading.Lock()
_HEAD = re.compile(r"^.*?(<svg\b)", re.S)
_ID = re.compile(r'(\bid="|url\(#|href="#)([^")]+)')
_STYLE_ATTR = re.compile(r' style="([^"]*)"')
_STYLE_ELEMENT = re.compile(r"\s*<style[^>]*>(.*?)</style>", re.S)
_DECLARATION = re.compile(r"^\s*([a-z-]+)\s*:\s*(.*?)\s*$")


def _attributes(declarations: str) -> str:
    """``fill: #fff; stroke-width: 0.8`` as `` fill="#fff" stroke-width="0.8"``: every
    property matplotlib writes (paint, stroke, opacity, font size, family and anchor)
    is also an SVG presentation attribute of the same name."""
    out = []
    for part in declarations.split(";"):
        if not part.strip():
            continue
        found = _DECLARATION.match(part)
        if found is None:
            raise ValueError(f"an SVG style this module cannot turn into attributes: {part!r}")
        out.append(f' {found.group(1)}="{found.group(2)}"')
    return "".join(out)


def _presentation(svg: str) -> str:
    """The SVG without ``style``: inline styles as attributes, and the ``<style>``
    element's rule for every element (``*{...}``) as attributes of the root, which its
    children inherit unless they set their own (as the rule did)."""
    rules = _STYLE_ELEMENT.findall(svg)
    inherited = "".join(_attributes(r.strip().removeprefix("*{").removesuffix("}"))
                        for r in rules)
    svg = _STYLE_ELEMENT.sub("", svg)
    svg = _STYLE_ATTR.sub(lambda m: _attributes(m.group(1)), svg)
    return svg.replace("<svg ", f"<svg{inherited} ", 1)


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float]


@contextmanager
def _drawing(name: str) -> Iterator[None]:
    """The house style for one chart; the salt makes its SVG ids its own and stable."""
    style = {**_RC, "svg.hashsalt": name}
    with _LOCK, matplotlib.rc_context(style):  # type: ignore[arg-type]
        yield


def _svg(fig: Figure, name: str, title: str, desc: str) -> str:
    """The figure as inline SVG with a title and a description for screen readers."""
    out = io.StringIO()
    FigureCanvasSVG(fig)
    fig.savefig(out, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = _presentation(_HEAD.sub(r"\1", out.getvalue(), count=1))
    ident = f"chart-{name}"
    # matplotlib numbers its elements (figure_1, patch_1...) in every figure alike:
    # several charts in one page need ids of their own, and references to match.
    text = _ID.sub(lambda m: f"{m.group(1)}{ident}-{m.group(2)}", text)
    text = text.replace(
        "<svg ", f'<svg role="img" aria-labelledby="{ident}-title {ident}-desc" ', 1)
    end = text.index(">", text.index("<svg")) + 1
    return (text[:end] + f'<title id="{ident}-title">{escape(title)}</title>'
            f'<desc id="{ident}-desc">{escape(desc)}</desc>' + text[end:])


def _figure(rows: int, min_height: float = 2.2) -> tuple[Figure, Any]:
    fig = Figure(figsize=(8, max(min_height, 0.9 + 0.42 * rows)), layout="constrained")
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _label_segments(ax: Any, bars: Any, labels: Sequence[str], min_width: float) -> None:
    for bar, text in zip(bars, labels, strict=True):
        if text and bar.get_width() >= min_width:
            ax.text(bar.get_x() + bar.get_width() / 2, bar.get_y() + bar.get_height() / 2,
                    text, ha="center", va="center", fontsize=8,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                          "alpha": 0.85})


def stacked_bars(name: str, title: str, desc: str, categories: Sequence[str],
                 series: Sequence[Series], *, as_share: bool = True,
                 notes: Sequence[str] | None = None, xlabel: str = "", decimal: str = "."
                 ) -> str:
    """Horizontal stacked bars, one per category; shares of the row when ``as_share``.
    ``decimal``: the reader's decimal separator, for the numbers printed on the bars."""
    with _drawing(name):
        fig, ax = _figure(len(categories))
        totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
        left = [0.0] * len(categories)
        ys = list(range(len(categories)))[::-1]
        for k, s in enumerate(series):
            widths = [(v / t if t else 0.0) if as_share else v
                      for v, t in zip(s.values, totals, strict=True)]
            bars = ax.barh(ys, widths, left=left, color=COLOURS[k % len(COLOURS)],
                           hatch=HATCHES[k % len(HATCHES)], edgecolor=INK, linewidth=0.6,
                           label=s.label)
            _label_segments(ax, bars, [f"{v:g}".replace(".", decimal) if v else ""
                                       for v in s.values],
                            0.04 if as_share else max(totals or [1]) * 0.04)
            left = [a + b for a, b in zip(left, widths, strict=True)]
        ax.set_yticks(ys, [f"{c}" for c in categories])
        if as_share:
            ax.set_xlim(0, 1)
            ax.xaxis.set_major_formatter(lambda x, _pos: f"{x:.0%}")
        if notes:
            for y, note in zip(ys, notes, strict=True):
                if note:
                    ax.text(1.01 if as_share else max(left) * 1.01, y, note, va="center",
                            fontsize=8, transform=ax.get_yaxis_transform() if as_share
                            else ax.transData)
        ax.set_xlabel(xlabel)
        # Above the plot: below it, it would cover the axis label.
        # Long names (the decree's class names in Vietnamese) take two columns, not four:
        # four would squeeze the plot to nothing.
        wide = sum(len(x.label) for x in series) > 60
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1.01),
                  ncols=min(2 if wide else 4, len(series)), frameon=False, handleheight=1.4,
                  handlelength=2.4)
        return _svg(fig, name, title, desc)


def histogram(name: str, title: str, desc: str, edges: Sequence[float],
              counts: Sequence[int], width: float,
              thresholds: Sequence[tuple[float, str]], *, xlabel: str = "score",
              ylabel: str = "people", decimal: str = ".") -> str:
    """Vertical bars of counts per score bin, the class thresholds drawn and named."""
    with _drawing(name):
        fig = Figure(figsize=(8, 3.4), layout="constrained")
        ax = fig.add_subplot()
        ax.spines[["top", "right"]].set_visible(False)
        bars = ax.bar(edges, counts, width=width, align="edge", color=COLOURS[0],
                      hatch="//", edgecolor=INK, linewidth=0.6)
        ax.bar_label(bars, labels=[str(c) if c else "" for c in counts], fontsize=8,
                     padding=2)
        top = max([*counts, 1])
        # One row per threshold above the bars: the class names (Vietnamese ones are
        # long) written side by side at 50, 70 and 90 ran into each other. A threshold in
        # the right half is named to the left of its line, so that it stays in the chart.
        marked = sorted((x, label) for x, label in thresholds if x > 0)
        middle = edges[0] + (edges[-1] + width - edges[0]) / 2
        for row, (x, label) in enumerate(marked):
            ax.axvline(x, color=INK, linestyle="--", linewidth=1)
            right = x > middle
            text = f" {label} \u2265 {x:g} ".replace(".", decimal)
            ax.text(x, top * (1.14 + 0.16 * row), text, fontsize=8, va="bottom",
                    ha="right" if right else "left",
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})
        ax.set_ylim(0, top * (1.16 + 0.16 * len(marked)))
        # People are counted whole, and the rows of names are not counts: whole ticks,
        # none above the tallest bar.
        ticks = MaxNLocator(integer=True).tick_values(0, top)
        ax.set_yticks([t for t in ticks if 0 <= t <= top])
        ax.set_xlim(edges[0], edges[-1] + width)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        return _svg(fig, name, title, desc)


def paired_bars(name: str, title: str, desc: str, categories: Sequence[str],
                first: Series, second: Series, xlabel: str, value_format: str = "{:.1f}",
                decimal: str = ".") -> str:
    """Two bars per category (e.g. self-assessed against supervisor), values printed."""
    with _drawing(name):
        fig, ax = _figure(round(len(categories) * 1.6))
        ys = list(range(len(categories)))[::-1]
        h = 0.38
        for k, (s, offset) in enumerate(((first, h / 2), (second, -h / 2))):
            bars = ax.barh([y + offset for y in ys], s.values, height=h,
                           color=COLOURS[k], hatch=HATCHES[k + 1], edgecolor=INK,
                           linewidth=0.6, label=s.label)
            ax.bar_label(bars, labels=[value_format.format(v).replace(".", decimal)
                                           for v in s.values], fontsize=8,
                         padding=2)
        ax.set_yticks(ys, list(categories))
        ax.set_xlabel(xlabel)
        top = max([*first.values, *second.values, 1])
        ax.set_xlim(0, top * 1.15)
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1.01), ncols=2, frameon=False,
                  handleheight=1.4, handlelength=2.4)
        return _svg(fig, name, title, desc)
