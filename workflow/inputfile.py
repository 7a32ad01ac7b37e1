"""Reading the files admins hand to commands, with a size cap and an encoding check.

Every file a command reads (a JSON submission, a cycle, regime or framework YAML, an
organisation CSV) goes through ``read_text`` first: a file over its cap is refused
before a byte is parsed (a 42 MB YAML once ran past two minutes and 940 MB), and a
file that is not UTF-8 is refused with the fix, naming UTF-16 when that is what it
is (PowerShell's ``>`` and Notepad's "Unicode" write UTF-16). A UTF-8 byte-order mark
(Excel's "CSV UTF-8") is accepted and dropped.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any

from workflow.errors import InputFileError, NotUtf8Text

MB = 1024 * 1024
# Caps by kind of file: a submission is a form's worth of text; a cycle file with
# every override of a large agency stays well under a few MB; the organisation of a
# whole country (two million people, ~150 bytes a row) fits in 512 MB.
PAYLOAD_CAP = 1 * MB
CONFIG_CAP = 4 * MB
ORG_CAP = 512 * MB
# A form's payload is an object of lists of objects; nothing real nests deeper.
PAYLOAD_DEPTH = 16

_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_UTF32_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
_SAVE_AS = "save it as UTF-8 (in PowerShell: `Out-File -Encoding utf8`; in Notepad: " \
           "Save as, Encoding UTF-8) and run the command again"


def read_text(path: str | Path, cap: int, what: str, save_as: str = _SAVE_AS) -> str:
    """The text of ``path`` as UTF-8, refusing a file over ``cap`` bytes or not UTF-8.

    ``what`` names the kind of file in the messages ("cycle file", "submission");
    ``save_as`` is the fix given for a file in another encoding.
    Raises InputFileError (a missing file included) with one line saying what to do.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > cap:
            raise InputFileError(str(p), f"the {what} is {_mb(size)}, over the cap of "
                                 f"{_mb(cap)}; check that it is the right file")
        raw = p.read_bytes()
    except FileNotFoundError:
        raise InputFileError(str(p), "no such file") from None
    except IsADirectoryError:
        raise InputFileError(str(p), f"is a folder, not a {what}") from None
    except OSError as exc:
        raise InputFileError(str(p), f"cannot be read ({exc.strerror})") from None
    return decode(str(p), raw, what, save_as)


def decode(name: str, raw: bytes, what: str, save_as: str = _SAVE_AS) -> str:
    """``raw`` as UTF-8 text (a UTF-8 byte-order mark dropped), or an InputFileError."""
    if raw.startswith(_UTF32_BOMS):
        raise NotUtf8Text(name, f"the {what} is UTF-32 text, not UTF-8; {save_as}", 1,
                          found="UTF-32")
    if raw.startswith(_UTF16_BOMS) or _looks_utf16(raw):
        raise NotUtf8Text(name, f"the {what} is UTF-16 text, not UTF-8; {save_as}", 1,
                          found="UTF-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise NotUtf8Text(name, f"not UTF-8 text; {save_as}", line) from None


def read_json_object(path: str | Path, what: str = "submission") -> dict[str, Any]:
    """A JSON object from ``path``: capped, UTF-8, at most PAYLOAD_DEPTH levels deep."""
    text = read_text(path, PAYLOAD_CAP, what)
    # Checked before parsing: json's parser recurses per level, and a file of a
    # hundred thousand "[" ends in a RecursionError instead of a message.
    if _depth(text) > PAYLOAD_DEPTH:
        raise InputFileError(str(path), f"the {what} nests more than {PAYLOAD_DEPTH} levels "
                             "deep; a submission is an object of lists of objects")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(str(path), f"not valid JSON: {exc.msg}", exc.lineno) from None
    if not isinstance(data, dict):
        raise InputFileError(str(path), "expected a JSON object ({...})")
    return data


def _depth(text: str) -> int:
    """The deepest nesting of brackets outside JSON strings (a bound, not a parser)."""
    deepest = depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _looks_utf16(raw: bytes) -> bool:
    # UTF-16 without a byte-order mark: ASCII text with a NUL beside every character.
    head = raw[:200]
    return len(head) >= 4 and head.count(0) >= len(head) // 3


def _mb(size: int) -> str:
    return f"{size / MB:.1f} MB"
