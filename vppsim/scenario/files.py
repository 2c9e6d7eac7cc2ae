"""Reading the input files (scenario and case YAML, agent catalogs, profile CSV headers) strictly.

Every problem becomes one :class:`vppsim.scenario.schema.ScenarioError` line that names the
file and, for YAML syntax, duplicate keys and bytes that are not UTF-8, the line: a missing
file, a folder given for a file, an unreadable, empty, binary or non-UTF-8 file, invalid YAML,
a key given twice in one mapping, a document that is not a mapping. YAML is parsed with the
safe loader plus a duplicate-key check (plain PyYAML keeps the last value silently).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

from vppsim.scenario.schema import ScenarioError

_MERGE_TAG = "tag:yaml.org,2002:merge"


class _DuplicateKeyError(ConstructorError):
    """A key given twice in one YAML mapping."""


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that rejects a key given twice in one mapping (merge keys ``<<`` aside)."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        """The mapping of ``node``, after checking that no explicit key appears twice."""
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                seen = key in first
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if seen:
                raise _DuplicateKeyError(
                    None, None, f"{key!r} again (first at line {first[key]})", key_node.start_mark
                )
            first[key] = line
        return super().construct_mapping(node, deep=deep)


def _line_col(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of character ``index`` of ``text``."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def yaml_problem(exc: yaml.YAMLError, text: str) -> str:
    """One line saying what is wrong with the YAML text and where (line, column)."""
    if isinstance(exc, _DuplicateKeyError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return (f"expected each key once per mapping, got {exc.problem} at line "
                f"{mark.line + 1}, column {mark.column + 1}")
    if isinstance(exc, yaml.reader.ReaderError):
        line, col = _line_col(text, exc.position)
        return (f"expected text, got the control character #x{exc.character:04x} at line "
                f"{line}, column {col} (a binary file?)")
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = exc.problem or exc.context or "invalid"
        if exc.context and exc.problem:
            ctx = exc.context_mark
            what += f" ({exc.context}" + (
                f" at line {ctx.line + 1}, column {ctx.column + 1})" if ctx else ")")
        return f"expected valid YAML{where}: {what}"
    return f"expected valid YAML: {exc}"


def read_text(path: Path, what: str) -> str:
    """The UTF-8 text of ``path`` (a byte-order mark is dropped).

    Raises
    ------
    ScenarioError
        ``path`` missing, a folder, unreadable, or not UTF-8 (naming the line of the first
        bad byte); ``what`` names the kind of file in the message ("scenario YAML").
    """
    if path.is_dir():
        article = "an" if what[0] in "aeiou" else "a"
        return _raise(path, f"expected {article} {what} file, got a folder")
    if not path.is_file():
        return _raise(path, f"expected an existing {what} file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        return _raise(path, f"expected a readable {what} file: {exc.strerror}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return _raise(path, f"expected UTF-8 text, got the byte 0x{data[exc.start]:02x} at "
                            f"line {line} (a binary file or another encoding?)")


def _raise(path: Path, what: str) -> str:
    raise ScenarioError(path, [("(file)", what)])


def parse_yaml(text: str) -> tuple[Any, str | None]:
    """``(document, None)``, or ``(None, problem)`` if ``text`` is not valid YAML (one line)."""
    try:
        return yaml.load(text, Loader=_StrictLoader), None  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        return None, yaml_problem(exc, text)
    except RecursionError:  # PyYAML composes nested collections recursively
        return None, "expected YAML nested less deeply (too many nested lists or mappings)"


def _kind_of(doc: Any) -> str:
    if doc is None:
        return "an empty document"
    return {list: "a list", str: "a string"}.get(type(doc), f"a {type(doc).__name__}")


def read_yaml_mapping(path: Path, what: str, fields: str) -> dict[str, Any]:
    """The YAML mapping in ``path``, read strictly (see the module docstring).

    ``what`` names the kind of file ("scenario YAML"), ``fields`` what its keys are
    ("scenario fields").

    Raises
    ------
    ScenarioError
        Naming ``path`` and, for syntax, duplicate keys and encoding, the line.
    """
    text = read_text(path, what)
    doc, problem = parse_yaml(text)
    if problem is not None:
        raise ScenarioError(path, [("(file)", problem)])
    if not isinstance(doc, dict):
        raise ScenarioError(path, [("(top level)", f"expected a mapping of {fields}, "
                                                   f"got {_kind_of(doc)}")])
    return doc


def duplicate_csv_columns(path: Path) -> list[str]:
    """Column names given more than once in the header of the CSV file ``path``.

    pandas renames a repeated ``a`` to ``a.1`` silently; this reads the header itself. A
    header that cannot be read gives no names (reading the table reports it).
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(io.StringIO(fh.readline())), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return []
    names = [h.strip() for h in header]
    return sorted({n for n in names if names.count(n) > 1})


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: mappings merge key by key, anything else is replaced."""
    out = dict(base)
    for k, v in over.items():
        out[k] = (_deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict)
                  else v)
    return out


def _resolve_extends(raw: dict[str, Any], path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    """``extends: BASE.yaml`` (relative to this file): this file's fields on top of the base's.

    Mappings merge key by key; lists (``vpps``, ``assumptions``) and scalars replace the base's.
    Relative paths in the result (``profiles``, catalogs) are read relative to the extending
    file, so keep both files in one folder or give the path anew.
    """
    ref = raw.pop("extends", None)
    if ref is None:
        return raw
    if not isinstance(ref, str):
        raise ScenarioError(path, [("extends", "expected the path of a base scenario YAML file")])
    base_path = (path.parent / ref).resolve()
    if base_path in seen:
        raise ScenarioError(path, [("extends", f"expected no cycle, {ref} extends this file")])
    if not base_path.is_file():
        raise ScenarioError(path, [("extends", f"expected an existing YAML file, got {ref!r}")])
    base = read_yaml_mapping(base_path, "base scenario YAML", "scenario fields")
    base = _resolve_extends(base, base_path, seen + (base_path,))
    return _deep_merge(base, raw)


def read_scenario_mapping(path: Path) -> dict[str, Any]:
    """A scenario file's fields as a mapping, its ``extends:`` base merged in (not validated)."""
    raw = read_yaml_mapping(path, "scenario YAML", "scenario fields")
    return _resolve_extends(raw, path, seen=(path.resolve(),))
