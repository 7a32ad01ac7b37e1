"""Loading YAML configuration files so that every error names file, line and key.

The files admins write (cycles, regimes, frameworks) are parsed with PyYAML's
composer, which keeps the position of every node. Validation is done by pydantic
models; its error locations (``("phases", "peer_input", "due")``) are mapped back to
the line where that key stands, so the message an admin reads is
``config/cycles/april.yaml:17: phases.peer_input.due: ...``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from workflow.catalog import N_
from workflow.errors import ConfigFileError, ConfigFileErrors, InputFileError, Problem
from workflow.inputfile import CONFIG_CAP, read_text

ModelT = TypeVar("ModelT", bound=BaseModel)


class _NoDatesLoader(yaml.SafeLoader):
    """A safe loader that leaves dates and times as strings.

    PyYAML turns ``2026-02-30`` into an error with no line of ours and ``08:00`` into
    the sexagesimal 480; pydantic parses strings with clear messages instead.
    """


_NoDatesLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:timestamp",)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# YAML 1.1 reads 08:00 as a base-60 integer; keep anything with a colon a string.
for _first, _resolvers in list(_NoDatesLoader.yaml_implicit_resolvers.items()):
    _NoDatesLoader.yaml_implicit_resolvers[_first] = [
        (tag, rx)
        for tag, rx in _resolvers
        if not (tag == "tag:yaml.org,2002:int" and rx.pattern.find(":") >= 0)
    ]


# YAML 1.1 reads yes/no/on/off/y/n as booleans: a unit called "NO" or "OFF" would
# turn into False. Only true and false are booleans here, as in YAML 1.2.
_BOOL_TAG = "tag:yaml.org,2002:bool"
for _first, _resolvers in list(_NoDatesLoader.yaml_implicit_resolvers.items()):
    _NoDatesLoader.yaml_implicit_resolvers[_first] = [
        (tag, rx) for tag, rx in _resolvers if tag != _BOOL_TAG]
_NoDatesLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


if yaml.__with_libyaml__:
    from yaml.cyaml import CParser  # type: ignore[attr-defined]  # (the stubs leave it out)

    class _NoDatesCLoader(CParser, yaml.constructor.SafeConstructor,
                          yaml.resolver.Resolver):
        """``_NoDatesLoader`` on libyaml's parser: the same resolvers and constructors (so
        the same data), the same nodes with their lines, about twenty times faster (a
        regime file: 48 ms to compose and load in pure Python, 2.2 ms here; a series
        check reads some sixty files)."""

        yaml_implicit_resolvers = _NoDatesLoader.yaml_implicit_resolvers
        yaml_constructors = _NoDatesLoader.yaml_constructors

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

    _LOADER: Any = _NoDatesCLoader
else:  # pragma: no cover - PyYAML built without libyaml
    _LOADER = _NoDatesLoader


def _parse(text: str) -> tuple[Any, Any]:
    """The node tree and the data of one YAML document, parsed once (the data is
    constructed from the very nodes whose lines the errors name)."""
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


class LoadedFile:
    """A parsed YAML file: its data, its node tree (for line numbers) and its hash."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text
        self.content_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
        try:
            node, data = _parse(text)
            self.node: Any = node
            self.data: Any = data
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            line = mark.line + 1 if mark is not None else None
            raise ConfigFileError(str(path), line, "", f"not valid YAML: {exc.problem}") from exc
        except yaml.YAMLError as exc:
            raise ConfigFileError(str(path), None, "", f"not valid YAML: {exc}") from exc
        if self.data is None:
            raise ConfigFileError(str(path), None, "", "the file is empty")
        if not isinstance(self.data, dict):
            raise ConfigFileError(str(path), 1, "", "expected a mapping of keys at the top level")

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """The 1-based line of the deepest node of ``loc`` that exists in the file."""
        node = self.node
        line = node.start_mark.line + 1 if node is not None else None
        for part in loc:
            child = None
            if isinstance(node, yaml.MappingNode):
                for key_node, value_node in node.value:
                    if str(key_node.value) == str(part):
                        child = value_node
                        line = key_node.start_mark.line + 1
                        break
            elif (isinstance(node, yaml.SequenceNode) and isinstance(part, int)
                  and 0 <= part < len(node.value)):
                child = node.value[part]
                line = child.start_mark.line + 1
            if child is None:
                break
            node = child
        return line

    def error(self, loc: Sequence[str | int], problem: str) -> ConfigFileError:
        """An error at ``loc`` (a key path) with the line where it stands."""
        return ConfigFileError(str(self.path), self.line_of(loc), _dotted(loc), problem)


def read_yaml(path: str | Path) -> LoadedFile:
    """Read and parse ``path``; a missing or unreadable file is a ConfigFileError."""
    p = Path(path)
    try:
        # Capped before parsing: PyYAML keeps every node of a composed file in memory.
        text = read_text(p, CONFIG_CAP, "configuration file")
    except InputFileError as exc:
        raise ConfigFileError(str(p), exc.line, "", exc.problem) from exc
    return LoadedFile(p, text)


def validate(loaded: LoadedFile, model: type[ModelT],
             context: dict[str, Any] | None = None) -> ModelT:
    """Validate the file's data with a pydantic model, reporting every error with its line."""
    try:
        return model.model_validate(loaded.data, context=context)
    except ValidationError as exc:
        errors = [loaded.error(_clean_loc(err["loc"]), _explain(err)) for err in exc.errors()]
        raise (errors[0] if len(errors) == 1 else ConfigFileErrors(errors)) from None


def _clean_loc(loc: Sequence[Any]) -> list[str | int]:
    # pydantic adds the names of union members and validators to locations
    # ("function-after[...]", "tagged-union[...]"): they are not keys of the file.
    return [p for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith("function")))]


# pydantic's own refusals, by type, as catalogue messages: the English stays pydantic's
# words (scripts and tests read them), a page says the catalogue's in its language.
# The values come from the error's context.
_PYDANTIC_SAYS: dict[str, tuple[str, tuple[str, ...]]] = {
    "greater_than_equal": (N_("must be at least %(ge)s"), ("ge",)),
    "greater_than": (N_("must be more than %(gt)s"), ("gt",)),
    "less_than_equal": (N_("must be at most %(le)s"), ("le",)),
    "less_than": (N_("must be less than %(lt)s"), ("lt",)),
    "int_parsing": (N_("must be a whole number"), ()),
    "int_type": (N_("must be a whole number"), ()),
    "int_from_float": (N_("must be a whole number"), ()),
    "decimal_parsing": (N_("must be a number"), ()),
    "bool_parsing": (N_("must be true or false"), ()),
    "bool_type": (N_("must be true or false"), ()),
    "literal_error": (N_("must be one of %(expected)s"), ("expected",)),
    "enum": (N_("must be one of %(expected)s"), ("expected",)),
    "string_too_short": (N_("must have at least %(min_length)s characters"), ("min_length",)),
    "string_too_long": (N_("must have at most %(max_length)s characters"), ("max_length",)),
    "string_pattern_mismatch": (N_("does not have the expected form (%(pattern)s)"),
                                ("pattern",)),
    "string_type": (N_("must be text"), ()),
    "dict_type": (N_("must be a mapping of keys"), ()),
    "model_type": (N_("must be a mapping of keys"), ()),
    "model_attributes_type": (N_("must be a mapping of keys"), ()),
    "list_type": (N_("must be a list"), ()),
    "tuple_type": (N_("must be a list"), ()),
}
UNKNOWN_KEY = N_("unknown key (check its spelling against the documented keys)")
MISSING = N_("required, but missing")


def _explain(err: Any) -> str:
    """What is wrong, as a catalogue message with its values (``errors.Problem``) when it
    has one: a validator's own (raised as ``ValueError(Problem(...))``) or pydantic's."""
    msg = str(err["msg"])
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    raised = ctx.get("error")
    if isinstance(raised, ValueError) and raised.args and isinstance(raised.args[0], Problem):
        return raised.args[0]
    if kind == "extra_forbidden":
        return Problem(UNKNOWN_KEY)
    if kind == "missing":
        return Problem(MISSING)
    if kind in _PYDANTIC_SAYS:
        message, names = _PYDANTIC_SAYS[kind]
        return Problem(message, english=msg, **{n: str(ctx.get(n, "")) for n in names})
    return msg.removeprefix("Value error, ")


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
