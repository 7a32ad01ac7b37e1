"""Regime and framework files: one bad file per case, each error at its file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import CONFIG
from workflow.errors import ConfigFileError, ConfigFileErrors
from workflow.scoring.model import Regime, load_framework, load_regime

REGIME = """\
id: r
version: 1
name: {en: R, vi: R}
scale: 100
groups:
  - id: general
    max: 30
    label: {en: General, vi: Chung}
  - id: tasks
    max: 70
    label: {en: Tasks, vi: Nhiệm vụ}
classes:
  - id: top
    min: 90
    label: {en: Top, vi: Cao}
  - id: mid
    min: 50
    label: {en: Mid, vi: Giữa}
  - id: low
    min: 0
    label: {en: Low, vi: Thấp}
"""

FRAMEWORK = """\
id: f
version: 1
regime: r
name: {en: F, vi: F}
position_groups: [specialist]
criteria:
  - id: quality
    kind: rubric
    group: general
    max: 30
    label: {en: Quality, vi: Chất lượng}
  - id: work
    kind: tasks
    group: tasks
    max: 70
    label: {en: Work, vi: Công việc}
"""

QUOTA = """\
quota:
  limited_class: top
  relative_to: mid
  max_ratio: 0.2
  may_move_to: mid
"""


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def the_error(excinfo: pytest.ExceptionInfo[BaseException], key: str) -> ConfigFileError:
    """The error reported at ``key`` (a file may have another problem caused by the same edit)."""
    err = excinfo.value
    errors = err.errors if isinstance(err, ConfigFileErrors) else [err]
    found = [e for e in errors if isinstance(e, ConfigFileError) and e.key == key]
    assert len(found) == 1, str(err)
    return found[0]


def check(err: ConfigFileError, path: Path, line: int, key: str, fragment: str) -> None:
    assert (err.path, err.line, err.key) == (str(path), line, key), str(err)
    assert fragment in err.problem, err.problem
    assert str(err).startswith(f"{path}:{line}: {key}: ")


# (case, the bad text, line, key, what the message must say)
REGIME_CASES = [
    ("groups_do_not_add_up_to_the_scale", edit(REGIME, "scale: 100", "scale: 90"), 4, "scale",
     "the groups' maxima add up to 100 (general 30 + tasks 70), but the scale is 90"),
    ("negative_group_maximum", edit(REGIME, "max: 30", "max: -30"), 7, "groups[0].max",
     "greater than 0"),
    ("thresholds_out_of_order", edit(REGIME, "min: 50", "min: 95"), 17, "classes[1].min",
     "thresholds out of order: 95 is not below the threshold of top (90)"),
    ("lowest_class_does_not_start_at_zero", edit(REGIME, "min: 0", "min: 10"), 20,
     "classes[2].min", "the lowest class (low) starts at 10; it must start at 0"),
    ("threshold_above_the_scale", edit(REGIME, "min: 90", "min: 120"), 14, "classes[0].min",
     "120 is above the scale 100"),
    ("class_id_used_twice", edit(REGIME, "id: low", "id: mid"), 19, "classes[2].id",
     "class id 'mid' is used twice"),
    ("override_names_an_unknown_class", REGIME + (
        "overrides:\n  - id: discipline\n    forces_class: failed\n"
        "    label: {en: D, vi: D}\n"), 24, "overrides[0].forces_class",
     "unknown class 'failed'; the classes are top, mid, low"),
    ("quota_names_an_unknown_class", REGIME + edit(QUOTA, "limited_class: top",
                                                  "limited_class: excelent"), 23,
     "quota.limited_class", "unknown class 'excelent'"),
    ("quota_moves_up", REGIME + edit(QUOTA, "may_move_to: mid", "may_move_to: top"), 26,
     "quota.may_move_to", "'top' is not below 'top'"),
    ("unit_results_names_an_unknown_class", REGIME + "unit_results:\n  all_at_least: done\n",
     23, "unit_results.all_at_least", "unknown class 'done'"),
    ("supervisor_carries_no_weight", REGIME + "source_weights: {supervisor: 0, self: 1}\n", 22,
     "source_weights.supervisor", "must be above 0"),
    ("class_rule_names_an_unknown_class", REGIME + (
        "class_rules:\n  - id: crit\n    when: critical_below\n    share: 0.4\n"
        "    forces_class: bottom\n    label: {en: C, vi: C}\n"), 26,
     "class_rules[0].forces_class", "unknown class 'bottom'"),
    ("unknown_class_rule_kind", REGIME + (
        "class_rules:\n  - id: crit\n    when: any_below\n    share: 0.4\n"
        "    forces_class: low\n    label: {en: C, vi: C}\n"), 24, "class_rules[0].when",
     "Input should be 'critical_below'"),
    ("class_by_rule_with_a_threshold", REGIME + ("  - id: none\n    only_by_rule: true\n"
                                                 "    min: 0\n    label: {en: N, vi: N}\n"),
     24, "classes[3].min", "a class given only by a rule has no threshold"),
    ("unknown_key", REGIME + "quotas: {}\n", 22, "quotas", "unknown key"),
    ("ratio_above_one", REGIME + edit(QUOTA, "max_ratio: 0.2", "max_ratio: 1.5"), 25,
     "quota.max_ratio", "less than or equal to 1"),
    ("missing_version", edit(REGIME, "version: 1\n", ""), 1, "version",
     "required, but missing"),
]


@pytest.mark.parametrize(("text", "line", "key", "fragment"),
                         [c[1:] for c in REGIME_CASES], ids=[c[0] for c in REGIME_CASES])
def test_bad_regime_file_names_file_line_and_key(tmp_path: Path, text: str, line: int, key: str,
                                                 fragment: str) -> None:
    path = write(tmp_path, "r.yaml", text)
    with pytest.raises((ConfigFileError, ConfigFileErrors)) as excinfo:
        load_regime(path)
    check(the_error(excinfo, key), path, line, key, fragment)


def test_regime_id_must_match_its_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, "vn-2026.yaml", REGIME)
    with pytest.raises(ConfigFileError) as excinfo:
        load_regime(path, expected_id="vn-2026")
    check(excinfo.value, path, 1, "id", "is 'r', but the file name says 'vn-2026'")


def test_regime_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", edit(REGIME, "scale: 100", "scale: [100"))
    with pytest.raises(ConfigFileError, match=r"r\.yaml:\d+: not valid YAML"):
        load_regime(path)


def test_several_problems_are_reported_together(tmp_path: Path) -> None:
    text = edit(edit(REGIME, "scale: 100", "scale: 90"), "min: 50", "min: 95")
    path = write(tmp_path, "r.yaml", text)
    with pytest.raises(ConfigFileErrors) as excinfo:
        load_regime(path)
    found = [(e.line, e.key, e.problem.split(":")[0]) for e in excinfo.value.errors]
    assert found == [(4, "scale", "the groups' maxima add up to 100 (general 30 + tasks 70), "
                                  "but the scale is 90; they must be equal"),
                     (17, "classes[1].min", "95 is above the scale 90"),
                     (17, "classes[1].min", "thresholds out of order")]


@pytest.fixture
def regime(tmp_path: Path) -> Regime:
    return load_regime(write(tmp_path, "r.yaml", REGIME + QUOTA))


FRAMEWORK_CASES = [
    ("maxima_do_not_add_up_to_the_group", edit(FRAMEWORK, "max: 70", "max: 60"), 15,
     "criteria[1].max", "the maxima of group 'tasks' add up to 60 (work 60), but regime r "
     "gives that group 70"),
    ("unknown_criterion_kind", edit(FRAMEWORK, "kind: tasks", "kind: task"), 13,
     "criteria[1].kind", "Input should be 'rubric', 'ratio', 'tasks', 'unit_results' or "
     "'period_mean'"),
    ("negative_maximum", edit(FRAMEWORK, "max: 30", "max: -30"), 10, "criteria[0].max",
     "greater than 0"),
    ("unknown_group", edit(FRAMEWORK, "group: tasks", "group: task"), 14, "criteria[1].group",
     "unknown group 'task'; regime r has general, tasks"),
    ("ratio_without_target", edit(FRAMEWORK, "kind: tasks", "kind: ratio"), 12,
     "criteria[1].target", "a ratio criterion needs a target"),
    ("target_on_a_rubric", edit(FRAMEWORK, "    max: 30\n", "    max: 30\n    target: 5\n"), 11,
     "criteria[0].target", "only ratio criteria have a target"),
    ("criterion_id_used_twice", edit(FRAMEWORK, "id: work", "id: quality"), 12,
     "criteria[1].id", "criterion id 'quality' is used twice"),
    ("names_another_regime", edit(FRAMEWORK, "regime: r", "regime: vn"), 3, "regime",
     "names regime 'vn', but it is used with 'r'"),
    ("unit_results_without_the_regimes_rule", edit(FRAMEWORK, "kind: tasks",
                                                  "kind: unit_results"), 13, "criteria[1].kind",
     "unit_results needs the regime's unit_results rule"),
    ("critical_without_a_class_rule", edit(FRAMEWORK, "    max: 30\n",
                                           "    max: 30\n    critical: true\n"), 11,
     "criteria[0].critical", "has no effect: regime r has no critical_below class rule"),
    ("period_mean_without_its_group", edit(FRAMEWORK, "kind: tasks", "kind: period_mean"), 12,
     "criteria[1].of_group", "names the group whose period points it averages"),
    ("period_mean_of_an_unknown_group", edit(FRAMEWORK, "kind: tasks",
                                             "kind: period_mean\n    of_group: task"), 14,
     "criteria[1].of_group", "unknown group 'task'"),
    ("peer_rated_tasks", edit(FRAMEWORK, "    max: 70\n", "    max: 70\n    peer_rated: true\n"),
     16, "criteria[1].peer_rated", "only rubric criteria can be peer-rated"),
    ("cap_above_one", edit(FRAMEWORK, "kind: tasks", "kind: ratio\n    target: 10\n    cap: 1.5"),
     15, "criteria[1].cap", "1.5 is above 1"),
    ("no_position_group", edit(FRAMEWORK, "position_groups: [specialist]", "position_groups: []"),
     5, "position_groups", "at least 1 item"),
]


@pytest.mark.parametrize(("text", "line", "key", "fragment"),
                         [c[1:] for c in FRAMEWORK_CASES], ids=[c[0] for c in FRAMEWORK_CASES])
def test_bad_framework_file_names_file_line_and_key(tmp_path: Path, regime: Regime, text: str,
                                                    line: int, key: str, fragment: str) -> None:
    path = write(tmp_path, "f.yaml", text)
    with pytest.raises((ConfigFileError, ConfigFileErrors)) as excinfo:
        load_framework(path, regime)
    check(the_error(excinfo, key), path, line, key, fragment)


def test_framework_group_without_criteria_is_named(tmp_path: Path, regime: Regime) -> None:
    text = edit(FRAMEWORK, "group: tasks", "group: general")
    path = write(tmp_path, "f.yaml", text)
    with pytest.raises(ConfigFileErrors) as excinfo:
        load_framework(path, regime)
    messages = [str(e) for e in excinfo.value.errors]
    assert f"{path}:6: criteria: no criterion in group 'tasks'" in messages[1]
    assert "add up to 100 (quality 30 + work 70)" in messages[0]


def test_shipped_rules_load_and_carry_an_id_a_version_and_a_hash() -> None:
    for regime_id, frameworks in (("vn-decree-335-2025", ["vn-specialist", "vn-leader",
                                                          "vn-year-end"]),
                                  ("us-5cfr430-five-level", ["us-gs-employee"])):
        r = load_regime(CONFIG / "regimes" / f"{regime_id}.yaml", expected_id=regime_id)
        assert r.version >= 1
        for fw_id in frameworks:
            fw = load_framework(CONFIG / "frameworks" / f"{fw_id}.yaml", r, expected_id=fw_id)
            assert fw.version >= 1 and len(fw.content_hash) == 64


def test_a_regime_built_in_code_gets_the_same_checks() -> None:
    with pytest.raises(ValueError, match=r"scale: the groups' maxima add up to 100"):
        Regime.model_validate({
            "id": "x", "version": 1, "name": {"en": "X", "vi": "X"}, "scale": 90,
            "groups": [{"id": "g", "max": 100, "label": {"en": "G", "vi": "G"}}],
            "classes": [{"id": "c", "min": 0, "label": {"en": "C", "vi": "C"}}]})
