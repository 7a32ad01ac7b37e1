"""The same install every time (issue 15, item 8): what the engine imports is declared,
each requirement once and bounded, and the pinned set `make` installs from pins every
one of them (pydantic was imported directly but not declared; babel was listed twice;
hypothesis had no upper bound)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
OWN = {"workflow", "notifications"}


def name_of(requirement: str) -> str:
    """The normalised distribution name of a requirement ("psycopg[binary]>=3" -> psycopg)."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match is not None, requirement
    return re.sub(r"[-_.]+", "-", match[0]).lower()


def requirements() -> list[str]:
    project = PYPROJECT["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["dev"]]


def imported_top_modules() -> set[str]:
    found: set[str] = set()
    for package in OWN:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return found - OWN - set(sys.stdlib_module_names) - {"__future__"}


def test_every_package_the_engine_imports_is_declared() -> None:
    declared = {name_of(r) for r in PYPROJECT["project"]["dependencies"]}
    owners = packages_distributions()
    missing = {}
    for module in sorted(imported_top_modules()):
        dists = {name_of(d) for d in owners.get(module, [])}
        assert dists, f"{module} is imported but no installed distribution provides it"
        if not dists & declared:
            missing[module] = sorted(dists)
    assert not missing, f"imported but not in [project] dependencies: {missing}"


def test_each_requirement_is_listed_once_and_bounded() -> None:
    names = [name_of(r) for r in requirements()]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []
    # An exact pin, or an upper bound: a new major version is taken on purpose (the
    # type stubs only follow their library, and constraints.txt pins them anyway).
    unbounded = [r for r in requirements() if "==" not in r and "<" not in r
                 and not name_of(r).startswith("types-")]
    assert unbounded == []


def test_the_pinned_set_pins_every_requirement_and_make_installs_from_it() -> None:
    pinned = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            pinned[name_of(name)] = version
    assert [name_of(r) for r in requirements() if name_of(r) not in pinned] == []
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"\$\(STAMP\): pyproject\.toml constraints\.txt", makefile)
    assert re.search(r"pip install [^\n]*-c constraints\.txt -e '\.\[dev\]'", makefile)
