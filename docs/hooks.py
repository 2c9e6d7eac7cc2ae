"""MkDocs hooks: the generated pages of the documentation site.

The scenario reference (from the pydantic schema, :mod:`vppsim.scenario.schema`) and the CLI
reference (from the argparse parser, :func:`vppsim.cli.main.build_parser`) are generated on
every build and never committed: ``on_files`` adds them to the site as
``reference/scenario.md`` and ``reference/cli.md``, so a new field or sub-command appears
without anyone editing a page. The benchmark tables of ``benchmarks/results/*.md`` are added
the same way under ``reproductions/benchmarks/``, so the paper-reproduction page links to the
last tables instead of copying them. ``tests/test_docs.py`` builds the site with ``--strict``.
"""

from __future__ import annotations

import argparse
import inspect
import re
import types
import typing
from pathlib import Path
from typing import Any

import annotated_types as at
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from vppsim.cli.main import build_parser
from vppsim.scenario.schema import MemberSpec, Scenario, member_tag

ROOT = Path(__file__).resolve().parent.parent

#: the pages this hook adds to the site (paths inside docs/)
SCENARIO_PAGE = "reference/scenario.md"
CLI_PAGE = "reference/cli.md"
BENCHMARK_DIR = "reproductions/benchmarks"

#: unit of a field from its name's suffix (longest suffix first), the project's naming rule
UNIT_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_cny_per_kw2h", "CNY/(kW²h)"),
    ("_cny_per_kwh", "CNY/kWh"),
    ("_cny_per_h", "CNY/h"),
    ("_kw_per_h", "kW/h"),
    ("_per_c", "1/°C"),
    ("_kwh", "kWh"),
    ("_kw", "kW"),
    ("_cny", "CNY"),
    ("_pct", "%"),
    ("_pu", "pu"),
    ("_m_s", "m/s"),
    ("_m2", "m²"),
    ("_c", "°C"),
    ("_h", "h"),
    ("_s", "s"),
)

#: a unit named at the end of a description: "rated power of one turbine, kW"
_DESCRIPTION_UNIT = re.compile(r",\s*(kW|kWh|CNY/kWh|CNY|h|s|pu|%|m/s|W/m2|degrees C)\s*\)?\s*$")


# ---------------------------------------------------------------- scenario reference


def field_unit(name: str, info: FieldInfo) -> str:
    """The unit of a field: from its name's suffix, else from the end of its description."""
    for suffix, unit in UNIT_SUFFIXES:
        if name.endswith(suffix):
            return unit
    match = _DESCRIPTION_UNIT.search(info.description or "")
    return match.group(1) if match else ""


def _number(x: Any) -> str:
    if isinstance(x, int) and x > 2**20 and (x & (x - 1)) == 0:
        return f"2**{x.bit_length() - 1}"
    if isinstance(x, float) and (abs(x) >= 1e5 or 0 < abs(x) < 1e-3):
        return f"{x:.0e}".replace("e+0", "e").replace("e+", "e")
    return f"{x:g}" if isinstance(x, float) else str(x)


def constraints(metadata: list[Any]) -> list[str]:
    """The bounds and patterns of a field's metadata, as ``> 0``, ``<= 1e6``, ``pattern ...``."""
    out = []
    for m in metadata:
        for cls, op, attr in ((at.Gt, ">", "gt"), (at.Ge, ">=", "ge"), (at.Lt, "<", "lt"),
                              (at.Le, "<=", "le")):
            if isinstance(m, cls):
                out.append(f"{op} {_number(getattr(m, attr))}")
        if isinstance(m, at.MinLen):
            out.append(f"at least {m.min_length} item{'s' if m.min_length != 1 else ''}")
        if isinstance(m, at.MaxLen):
            out.append(f"at most {m.max_length} items")
        pattern = getattr(m, "pattern", None)
        if isinstance(pattern, str):
            out.append(f"pattern `{pattern}`")
    return out


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def type_text(t: Any) -> str:
    """A field's type in words: ``float``, ``list[int (>= 0, <= 23)]``, ``GameSpec``."""
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin is typing.Annotated:
        inner, extra = type_text(args[0]), constraints(list(args[1:]))
        return f"{inner} ({', '.join(extra)})" if extra else inner
    if origin is typing.Literal:
        return " \\| ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(type_text(a) for a in args)
    if origin is list:
        return f"list[{type_text(args[0])}]"
    if origin is dict:
        return f"dict[{type_text(args[0])}, {type_text(args[1])}]"
    if t is type(None):
        return "null"
    if _is_model(t):
        return f"[{t.__name__}](#{anchor(t)})"
    return getattr(t, "__name__", str(t))


def anchor(model: type[BaseModel]) -> str:
    """The anchor of a model's section in the scenario reference."""
    return f"model-{model.__name__.lower()}"


def default_text(info: FieldInfo) -> str:
    """A field's default as it would be written in YAML, or *required*."""
    if info.is_required():
        return "*required*"
    value = info.default_factory() if info.default_factory is not None else info.default
    if value is PydanticUndefined:
        return "*required*"
    if isinstance(value, BaseModel):
        return "*defaults below*"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'`"{value}"`' if value else '`""`'
    return f"`{_number(value)}`" if isinstance(value, (int, float)) else f"`{value!r}`"


def _models_in(t: Any) -> list[type[BaseModel]]:
    """The pydantic models a field's type holds (inside unions, lists, annotations)."""
    if _is_model(t):
        return [t]
    return [m for a in typing.get_args(t) for m in _models_in(a)]


def _child_path(path: str, name: str, annotation: Any) -> str:
    full = f"{path}.{name}" if path else name
    return full + "[]" if typing.get_origin(annotation) is list or _is_list_of_models(annotation) else full


def _is_list_of_models(t: Any) -> bool:
    """True for ``list[Model]`` possibly inside an Annotated or an optional union."""
    origin = typing.get_origin(t)
    if origin is list:
        return True
    if origin is typing.Annotated:
        return _is_list_of_models(typing.get_args(t)[0])
    return False


def walk_models(root: type[BaseModel]) -> list[tuple[type[BaseModel], list[str]]]:
    """Every model reachable from ``root`` with the dotted paths where it occurs, first seen first.

    A path ends in ``[]`` where the field is a list (``vpps[]``); a member kind's path carries its
    tag (``vpps[].members[] (kind: wind)``).
    """
    order: list[type[BaseModel]] = []
    paths: dict[type[BaseModel], list[str]] = {}
    queue: list[tuple[type[BaseModel], str]] = [(root, "")]
    while queue:
        model, path = queue.pop(0)
        if model not in paths:
            order.append(model)
            paths[model] = []
        paths[model].append(path)
        if len(paths[model]) > 1:
            continue
        for name, info in model.model_fields.items():
            child = _child_path(path, name, info.annotation)
            for sub in _models_in(info.annotation):
                tagged = (f"{child} (kind: {member_tag(sub)})"
                          if issubclass(sub, MemberSpec) and sub is not MemberSpec else child)
                queue.append((sub, tagged))
    return [(m, paths[m]) for m in order]


def _cell(text: str) -> str:
    """Text for one table cell: one line, pipes and angle brackets escaped."""
    text = " ".join(text.split()).replace("|", "\\|")
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _docstring(model: type[BaseModel]) -> str:
    """A model's docstring as Markdown (reST double backticks become code spans)."""
    doc = inspect.cleandoc(model.__doc__ or "")
    return re.sub(r":\w+:`~?([^`]+)`", r"`\1`", doc).replace("``", "`")


def model_section(model: type[BaseModel], paths: list[str]) -> list[str]:
    """One model's section: heading (its first path), where else it occurs, its field table."""
    first = paths[0] or "(top level)"
    lines = [f"## `{first}` {{#{anchor(model)}}}", "", f"**{model.__name__}**: {_docstring(model)}", ""]
    if len(paths) > 1:
        lines += ["Also at: " + ", ".join(f"`{p}`" for p in paths[1:]), ""]
    lines += ["| field | type | unit | default | description |", "|---|---|---|---|---|"]
    base = re.sub(r" \(kind: .*\)$", "", paths[0])
    for name, info in model.model_fields.items():
        dotted = f"{base}.{name}" if base else name
        bounds = constraints(info.metadata)
        kind = type_text(info.annotation) + (f" ({', '.join(bounds)})" if bounds else "")
        lines.append(f"| `{dotted}` | {kind} | {field_unit(name, info)} | {default_text(info)} "
                     f"| {_cell(info.description or '')} |")
    return lines + [""]


def scenario_reference(root: type[BaseModel] = Scenario) -> str:
    """The scenario file reference: one table per model of the schema, from the schema itself."""
    lines = [
        "# Scenario file reference", "",
        "Generated from the pydantic schema (`vppsim.scenario.schema`) on every build of this site.",
        "One section per model of the schema, headed by the dotted path where it first occurs "
        "(`[]`: an item of a list); each row is a field with its type and bounds, its unit "
        "(from the name's suffix, the project's rule: `_kw`, `_kwh`, `_cny_per_kwh`, `_h`, "
        "`_pu`...), its default and its description. Members of a VPP are selected by `kind`. "
        "A scenario is checked against exactly this schema (`vppsim validate FILE`): an unknown "
        "field, a value out of its bounds or a missing required field is an error naming the "
        "file and the field path (exit code 2).", "",
    ]
    for model, paths in walk_models(root):
        lines += model_section(model, paths)
    return "\n".join(lines)


# ---------------------------------------------------------------- CLI reference


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, tuple[argparse.ArgumentParser, str]]:
    """A parser's sub-commands: name -> (parser, one-line help), in the order they were added."""
    out: dict[str, tuple[argparse.ArgumentParser, str]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                out[name] = (sub, helps.get(name, ""))
    return out


def walk_commands(parser: argparse.ArgumentParser, prefix: str = "vppsim"
                  ) -> list[tuple[str, argparse.ArgumentParser, str]]:
    """Every (sub-)command of a parser, depth first: ``("vppsim run", parser, help)``."""
    out = []
    for name, (sub, help_text) in _subparsers(parser).items():
        out.append((f"{prefix} {name}", sub, help_text))
        out += walk_commands(sub, f"{prefix} {name}")
    return out


def _argument_row(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    formatter = parser._get_formatter()
    names = f"`{formatter._format_action_invocation(action)}`"
    if action.nargs == "?" and not action.option_strings:
        names += " (optional)"
    default = ""
    if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
        default = f"`{action.default}`"
    choices = ", ".join(f"`{c}`" for c in action.choices) if action.choices else ""
    help_text = formatter._expand_help(action) if action.help else ""
    return f"| {names} | {_cell(help_text)} | {choices} | {default} |"


def command_anchor(name: str) -> str:
    """The anchor of a command's section: ``vppsim run`` -> ``vppsim-run``."""
    return name.replace(" ", "-")


def command_section(name: str, parser: argparse.ArgumentParser, help_text: str) -> list[str]:
    """One command's section: its purpose, its usage line and a table of its arguments."""
    usage = " ".join(parser.format_usage().removeprefix("usage: ").split())
    purpose = f"{help_text[:1].upper()}{help_text[1:]}." if help_text else ""
    lines = [f"## `{name}` {{#{command_anchor(name)}}}", "", purpose, "",
             "```text", usage, "```", ""]
    rows = [_argument_row(parser, a) for a in parser._actions
            if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]
    if rows:
        lines += ["| argument | meaning | choices | default |", "|---|---|---|---|", *rows, ""]
    return lines


def cli_reference(parser: argparse.ArgumentParser | None = None) -> str:
    """The command-line reference: every sub-command of the ``vppsim`` parser with its options."""
    parser = parser or build_parser()
    lines = [
        "# Command-line reference", "",
        "Generated from the argparse parser (`vppsim.cli.main.build_parser`) on every build of "
        "this site; `vppsim COMMAND --help` prints the same. Exit codes of every command: 0 "
        "done, 2 bad input (a scenario file, an option, an `--out` that exists, is busy or "
        "cannot be written: the message names the file, the field or option and what was "
        "expected), 1 a failure while running, 130 Ctrl-C, 143 SIGTERM.", "",
        "| command | purpose |", "|---|---|",
    ]
    commands = walk_commands(parser)
    lines += [f"| [`{n}`](#{command_anchor(n)}) | {_cell(h)} |" for n, _, h in commands]
    lines.append("")
    for name, sub, help_text in commands:
        lines += command_section(name, sub, help_text)
    return "\n".join(lines)


# ---------------------------------------------------------------- mkdocs hooks


def benchmark_pages() -> dict[str, str]:
    """``benchmarks/results/NAME.md`` by site path, to be served as they are."""
    folder = ROOT / "benchmarks" / "results"
    return {f"{BENCHMARK_DIR}/{p.name}": p.read_text(encoding="utf-8")
            for p in sorted(folder.glob("*.md"))}


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the generated pages to the site (they are not files in docs/)."""
    pages = {SCENARIO_PAGE: scenario_reference(), CLI_PAGE: cli_reference(), **benchmark_pages()}
    for src_uri, content in pages.items():
        files.append(File.generated(config, src_uri, content=content))
    return files
