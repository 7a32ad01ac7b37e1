"""A streaming XLSX writer for the cycle report: the cells written as SpreadsheetML text
straight into the zip, one sheet after the other.

Why not openpyxl's write-only mode (used before): it builds a cell object and an XML
element per cell, about 60 microseconds each; a cycle of 100,000 people is four million
cells, four minutes (bench/RESULTS.md, report-cache). Written as text, a cell costs a
string format. The file holds what openpyxl wrote: inline strings (never a formula,
whatever the text starts with), numbers with a number format per cell, booleans,
date-times as Excel serials, bold headers, column widths and frozen panes; openpyxl
and spreadsheet programs read it back (tests/integration/test_reports.py).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from xml.sax.saxutils import escape

from openpyxl.utils import get_column_letter

# Characters XML 1.0 cannot hold (openpyxl refuses them): a name pasted from a PDF may
# carry one; it is dropped rather than the whole report failing.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_EPOCH = date(1899, 12, 30).toordinal()  # day 0 of Excel's serial dates
# Excel's own number formats (no <numFmt> needed for these).
_BUILT_IN = {"General": 0, "0": 1, "0.00": 2}
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_REL_NS = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'


def _text(value: str) -> str:
    # Every character _ILLEGAL matches is unprintable: a printable text (nearly all of
    # them, Vietnamese included) is escaped without the expression's scan.
    return escape(value if value.isprintable() else _ILLEGAL.sub("", value))


def _attr(value: str) -> str:
    return escape(_ILLEGAL.sub("", value), {'"': "&quot;"})


class Styles:
    """The cell formats used so far (number format, bold), numbered as Excel's cellXfs."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, bool], int] = {("General", False): 0}
        self._custom: dict[str, int] = {}

    def id(self, number_format: str | None, bold: bool = False) -> int:
        key = (number_format or "General", bold)
        found = self._ids.get(key)
        if found is None:
            if key[0] not in _BUILT_IN and key[0] not in self._custom:
                self._custom[key[0]] = 164 + len(self._custom)
            found = self._ids[key] = len(self._ids)
        return found

    def xml(self) -> str:
        formats = "".join(f'<numFmt numFmtId="{i}" formatCode="{_attr(code)}"/>'
                          for code, i in self._custom.items())
        xfs = []
        for fmt, bold in self._ids:
            fmt_id = _BUILT_IN.get(fmt, self._custom.get(fmt, 0))
            font = ' applyFont="1"' if bold else ""
            xfs.append(f'<xf numFmtId="{fmt_id}" fontId="{1 if bold else 0}" fillId="0" '
                       f'borderId="0" xfId="0" applyNumberFormat="{1 if fmt_id else 0}"'
                       f"{font}/>")
        return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<styleSheet {_NS}>'
                f'<numFmts count="{len(self._custom)}">{formats}</numFmts>'
                '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
                '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
                '<fills count="2"><fill><patternFill patternType="none"/></fill>'
                '<fill><patternFill patternType="gray125"/></fill></fills>'
                '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
                '</borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" '
                f'borderId="0"/></cellStyleXfs><cellXfs count="{len(xfs)}">{"".join(xfs)}'
                '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" '
                'builtinId="0"/></cellStyles></styleSheet>')


class Sheet:
    """One worksheet being written: rows go to the zip as they come."""

    def __init__(self, out: IO[bytes], styles: Styles, widths: Sequence[float],
                 freeze: str | None) -> None:
        self._out = out
        self._styles = styles
        self._row = 0
        head = [f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<worksheet {_NS} {_REL_NS}><sheetViews><sheetView workbookViewId="0">']
        if freeze:
            col, row = _split(freeze)
            pane = []
            if col > 1:
                pane.append(f'xSplit="{col - 1}"')
            if row > 1:
                pane.append(f'ySplit="{row - 1}"')
            head.append(f'<pane {" ".join(pane)} topLeftCell="{freeze}" '
                        'activePane="bottomRight" state="frozen"/>')
        head.append("</sheetView></sheetViews><sheetFormatPr defaultRowHeight=\"15\"/>")
        if widths:
            head.append("<cols>" + "".join(
                f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>'
                for i, w in enumerate(widths, 1)) + "</cols>")
        head.append("<sheetData>")
        self._write("".join(head))

    def _write(self, text: str) -> None:
        self._out.write(text.encode("utf-8"))

    def append(self, cells: Sequence[tuple[Any, str | None, bool] | None]) -> None:
        """A row of (value, number format, bold) cells; None or a None value: empty."""
        self._row += 1
        r = self._row
        parts = [f'<row r="{r}">']
        for i, cell in enumerate(cells, 1):
            if cell is None or cell[0] is None:
                continue
            value, number_format, bold = cell
            ref = f"{get_column_letter(i)}{r}"
            style = self._styles.id(number_format, bold)
            s = f' s="{style}"' if style else ""
            if type(value) is str:  # most cells: the text branch below, without the tests
                parts.append(f'<c r="{ref}"{s} t="inlineStr"><is><t xml:space="preserve">'
                             f"{_text(value)}</t></is></c>")
            elif isinstance(value, bool):
                parts.append(f'<c r="{ref}"{s} t="b"><v>{int(value)}</v></c>')
            elif isinstance(value, int | float | Decimal):
                parts.append(f'<c r="{ref}"{s}><v>{float(value)!r}</v></c>'
                             if not isinstance(value, int) else
                             f'<c r="{ref}"{s}><v>{value}</v></c>')
            elif isinstance(value, datetime):
                seconds = (value.hour * 3600 + value.minute * 60 + value.second
                           + value.microsecond / 1e6)
                serial = value.toordinal() - _EPOCH + seconds / 86400
                parts.append(f'<c r="{ref}"{s}><v>{serial!r}</v></c>')
            else:
                parts.append(f'<c r="{ref}"{s} t="inlineStr"><is><t xml:space="preserve">'
                             f"{_text(str(value))}</t></is></c>")
        parts.append("</row>")
        self._write("".join(parts))

    def close(self) -> None:
        self._write("</sheetData></worksheet>")
        self._out.close()


def _split(ref: str) -> tuple[int, int]:
    letters = "".join(ch for ch in ref if ch.isalpha())
    col = 0
    for ch in letters.upper():
        col = col * 26 + ord(ch) - 64
    return col, int(ref[len(letters):])


class Workbook:
    """An XLSX file written sheet by sheet; ``close`` (or the ``with`` block) ends it."""

    def __init__(self, path: Path) -> None:
        self._zip = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1)
        self._styles = Styles()
        self._titles: list[str] = []
        self._sheet: Sheet | None = None

    def __enter__(self) -> Workbook:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self._zip.close()

    def sheet(self, title: str, widths: Sequence[float] = (), freeze: str | None = None
              ) -> Sheet:
        """A new sheet after the others (the one before it is finished)."""
        if self._sheet is not None:
            self._sheet.close()
        self._titles.append(title)
        out = self._zip.open(f"xl/worksheets/sheet{len(self._titles)}.xml", "w",
                             force_zip64=True)
        self._sheet = Sheet(out, self._styles, widths, freeze)
        return self._sheet

    def close(self) -> None:
        if self._sheet is not None:
            self._sheet.close()
            self._sheet = None
        n = len(self._titles)
        header = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        sheets = "".join(f'<sheet name="{_attr(t)}" sheetId="{i}" '
                         f'r:id="rId{i}"/>' for i, t in enumerate(self._titles, 1))
        self._zip.writestr("xl/workbook.xml", f"{header}<workbook {_NS} {_REL_NS}>"
                           f"<sheets>{sheets}</sheets></workbook>")
        rels = "".join(
            f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/'
            f'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, n + 1))
        rels += (f'<Relationship Id="rId{n + 1}" Type="http://schemas.openxmlformats.org/'
                 'officeDocument/2006/relationships/styles" Target="styles.xml"/>')
        rel_ns = 'xmlns="http://schemas.openxmlformats.org/package/2006/relationships"'
        self._zip.writestr("xl/_rels/workbook.xml.rels",
                           f"{header}<Relationships {rel_ns}>{rels}</Relationships>")
        self._zip.writestr("xl/styles.xml", self._styles.xml())
        self._zip.writestr("_rels/.rels", f'{header}<Relationships {rel_ns}><Relationship '
                           'Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
                           '2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
                           "</Relationships>")
        main = "application/vnd.openxmlformats-officedocument.spreadsheetml"
        overrides = "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
                            f'ContentType="{main}.worksheet+xml"/>' for i in range(1, n + 1))
        self._zip.writestr("[Content_Types].xml", (
            f'{header}<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
            f'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
            f'ContentType="{main}.sheet.main+xml"/><Override PartName="/xl/styles.xml" '
            f'ContentType="{main}.styles+xml"/>{overrides}</Types>'))
        self._zip.close()
