"""Files handed to `kpi` that are too big, in the wrong encoding, or nested too deeply
end in one line saying what to do, never a traceback (issue 15, item 4)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.e2e.test_cli import kpi
from tests.support import CONFIG
from workflow.inputfile import CONFIG_CAP, PAYLOAD_DEPTH

SUBMISSION = {"results": {"c1": {"value": "3", "note": "Báo cáo quý — \"đã nộp\" <b>"}}}


def one_line_error(result: object) -> str:
    stderr = getattr(result, "stderr", "")
    assert getattr(result, "returncode", 0) == 2, stderr
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kpi: error: "), stderr
    return lines[0]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_a_utf16_submission_is_refused_with_the_fix(tmp_path: Path, encoding: str) -> None:
    # PowerShell's `>` writes UTF-16 with a byte-order mark; some editors without one.
    kpi(tmp_path, "init")
    path = tmp_path / "score.json"
    path.write_bytes(json.dumps(SUBMISSION, ensure_ascii=False).encode(encoding))
    line = one_line_error(kpi(tmp_path, "act", "1", "submit_score", "--by", "S1",
                              "--file", str(path), check=False))
    assert "UTF-16" in line and "save it as UTF-8" in line and str(path) in line


def test_a_deeply_nested_submission_is_refused_before_parsing(tmp_path: Path) -> None:
    kpi(tmp_path, "init")
    path = tmp_path / "deep.json"
    path.write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    line = one_line_error(kpi(tmp_path, "act", "1", "submit_score", "--by", "S1",
                              "--file", str(path), check=False))
    assert f"more than {PAYLOAD_DEPTH} levels" in line


def test_nesting_inside_a_string_does_not_count(tmp_path: Path) -> None:
    from workflow.inputfile import read_json_object
    path = tmp_path / "note.json"
    path.write_text(json.dumps({"note": "[[[[" * 50 + '\\"{{'}), encoding="utf-8")
    assert read_json_object(path)["note"].startswith("[[[[")


def test_a_huge_cycle_file_is_refused_at_once(tmp_path: Path) -> None:
    kpi(tmp_path, "init")
    big = tmp_path / "big.yaml"
    sample = (CONFIG / "cycles" / "sample-2026-04.yaml").read_text(encoding="utf-8")
    with big.open("w", encoding="utf-8") as out:
        out.write(sample)
        out.write("\n# padding\n")
        while out.tell() <= CONFIG_CAP:
            out.write("# " + "x" * 1000 + "\n")
    started = time.monotonic()
    line = one_line_error(kpi(tmp_path, "cycle", "check", str(big), check=False))
    assert time.monotonic() - started < 30  # refused by its size, not parsed
    assert "over the cap of 4.0 MB" in line and str(big) in line


def test_a_utf16_cycle_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    kpi(tmp_path, "init")
    path = tmp_path / "cycle.yaml"
    path.write_bytes((CONFIG / "cycles" / "sample-2026-04.yaml").read_text(
        encoding="utf-8").encode("utf-16"))
    line = one_line_error(kpi(tmp_path, "cycle", "check", str(path), check=False))
    assert "UTF-16 text, not UTF-8" in line
