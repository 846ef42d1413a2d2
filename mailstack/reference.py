"""The generated references: the mail description's fields, and the roles' variables.

`python -m mailstack.reference` writes both under docs/reference/:

- description.md from the model itself: the model reads a description of Probes (any mapping,
  every field present, then every field absent) while each Reader records the fields it reads,
  with their type, default, choices, bounds and whether they are required
  (`mailstack.fields.recording`); the words come from `mailstack.fielddocs`, and a field read
  without words there (or words for a field no longer read) stops the generator;
- roles.md from every `roles/*/meta/argument_specs.yml`, with the defaults of
  `roles/*/defaults/main.yml` shown as YAML.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from mailstack import fielddocs, inventory, model
from mailstack.fields import UNTYPED, Field, Probe, Schema, recording
from mailstack.problems import Problems

ROOT = Path(__file__).resolve().parent.parent
DESCRIPTION = Path("docs/reference/description.md")
ROLES = Path("docs/reference/roles.md")
COMMAND = "python -m mailstack.reference"
DOMAINS = "mailstack_domains"
_ELEMENT = "[]"
_GROUPS = (inventory.MAIL_GROUP, inventory.GATEWAY_GROUP)
_HEADER = "| {} | type | values | default | meaning |\n|---|---|---|---|---|\n"


class StaleDocs(Exception):
    """The words of mailstack/fielddocs.py do not match the fields the model reads."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"mailstack/fielddocs.py does not match the model:\n{lines}")


# The description, from the model


def description_schema() -> Schema:
    """Every field the model reads, by path pattern, in the order it reads them; a list whose
    items the model reads as mappings has an entry of its own (`mailstack_domains`)."""
    with recording() as fields:
        for present in (True, False):
            model.read([Probe(present)], {}, Problems())
    for path in list(fields):
        base = path.removesuffix(_ELEMENT)
        if base != path and base not in fields:
            fields[base] = Field(base, "list")
    return fields


def _documented(fields: Schema) -> list[Field]:
    """The fields that are documented: an item of a list is described with its list."""
    return [f for f in fields.values() if not f.path.endswith(_ELEMENT)]


def check_docs(fields: Schema) -> list[str]:
    """What mailstack/fielddocs.py lacks, or has that the model no longer reads."""
    documented = _documented(fields)
    untyped = [f.path for f in documented if f.kind == UNTYPED] + list(inventory.HOST_VARS)
    return [
        *_both_ways([f.path for f in documented], fielddocs.DOCS, "DOCS"),
        *_both_ways(inventory.HOST_VARS, fielddocs.HOST_VARS, "HOST_VARS"),
        *_both_ways(_GROUPS, fielddocs.GROUPS, "GROUPS"),
        *_both_ways(untyped, fielddocs.TYPES, "TYPES (read untyped, with Reader.raw)"),
    ]


def _both_ways(read: Collection[str], words: Collection[str], where: str) -> list[str]:
    return [f"{k}: read by the model, missing from {where}" for k in read if k not in words] + [
        f"{k}: in {where}, but the model does not read it" for k in words if k not in read
    ]


def description_reference() -> str:
    fields = description_schema()
    problems = check_docs(fields)
    if problems:
        raise StaleDocs(problems)
    return "".join(
        [
            _generated("mailstack/model.py (as it reads a description) and mailstack/fielddocs.py"),
            "# The mail description: field reference\n\n",
            "The description lives in the Ansible inventory: the hosts of groups"
            f" `{inventory.MAIL_GROUP}` and `{inventory.GATEWAY_GROUP}` in `hosts.yml` with"
            f" their addresses, and the domains in `{DOMAINS}`.\n\n",
            "## Groups\n\n| group | meaning |\n|---|---|\n",
            *(f"| `{g}` | {_cell(fielddocs.GROUPS[g])} |\n" for g in _GROUPS),
            "\n## Host variables\n\nOf every host of both groups.\n\n",
            _HEADER.format("variable"),
            *(_row(Field(v, UNTYPED), v, fielddocs.HOST_VARS[v]) for v in inventory.HOST_VARS),
            *(_top_level(f, fields) for f in _documented(fields) if len(_prefixes(f.path)) == 1),
        ]
    )


def _top_level(top: Field, fields: Schema) -> str:
    """The section of a variable of the description (`mailstack_domains`) and its fields."""
    order = {path: i for i, path in enumerate(fields)}
    inside = sorted(
        (f for f in _documented(fields) if f.path != top.path and _prefixes(f.path)[0] == top.path),
        key=lambda f: [order[p] for p in _prefixes(f.path) if p in order],
    )
    each = ", each" if top.path + _ELEMENT in fields else ""
    return "".join(
        [
            f"\n## `{top.path}`\n\n{fielddocs.DOCS[top.path]}\n\n",
            f"A {_type(top, fields)}{each} with these fields:\n\n" if inside else "",
            _HEADER.format("field") if inside else "",
            *(_row(f, _relative(f.path, top.path), fielddocs.DOCS[f.path], fields) for f in inside),
        ]
    )


def _prefixes(path: str) -> list[str]:
    """`a[].b` -> `a`, `a[]`, `a[].b`."""
    out: list[str] = []
    for token in re.findall(r"[^.\[\]]+|\[\]", path):
        last = out[-1] if out else ""
        out.append(last + token if token == _ELEMENT or not last else f"{last}.{token}")
    return out


def _relative(path: str, top: str) -> str:
    return path.removeprefix(f"{top}{_ELEMENT}.").removeprefix(f"{top}.")


def _type(field: Field, fields: Schema | None = None) -> str:
    if field.kind == UNTYPED:
        kind = fielddocs.TYPES[field.path]
    elif field.kind == "list" and fields and field.path + _ELEMENT in fields:
        kind = "list of mappings"
    else:
        kind = field.kind
    return f"{kind}, required" if field.required else kind


def _values(field: Field) -> str:
    if field.choices is not None:
        return ", ".join(_code(str(c)) for c in field.choices)
    if field.low is not None and field.high is not None:
        return f"{field.low} to {field.high}"
    if field.longest is not None:
        return f"{field.longest} characters at most"
    return ""


def _row(field: Field, name: str, meaning: str, fields: Schema | None = None) -> str:
    default = "" if field.default is None else _code(_yaml(field.default))
    return _line(_code(name), _type(field, fields), _values(field), default, meaning)


# The roles, from their argument specs


def roles_reference(roles: Path) -> str:
    parts = [
        _generated("roles/*/meta/argument_specs.yml and roles/*/defaults/main.yml"),
        "# The roles' variables\n\n",
        "Each role checks its variables against its `meta/argument_specs.yml` before any task"
        " runs. A default is the value in the role's `defaults/main.yml`, shown as YAML.\n",
    ]
    for specs in sorted(roles.glob("*/meta/argument_specs.yml")):
        parts.append(_role(specs.parent.parent))
    return "".join(parts)


def _role(role: Path) -> str:
    specs = _load(role / "meta" / "argument_specs.yml").get("argument_specs") or {}
    defaults = _load(role / "defaults" / "main.yml")
    parts = [f"\n## `{role.name}`\n"]
    for entry, spec in specs.items():
        if entry != "main":
            parts.append(f"\n### Entry point `{entry}`\n")
        if spec.get("short_description"):
            parts.append(f"\n{_cell(spec['short_description']).rstrip('.')}.\n")
        parts.extend(f"\n{_cell(p)}\n" for p in _paragraphs(spec.get("description")))
        options = spec.get("options") or {}
        if options:
            parts.append("\n" + _HEADER.format("variable"))
            parts.extend(_options(options, defaults, ""))
    return "".join(parts)


def _options(options: Mapping[str, Any], defaults: Mapping[str, Any], prefix: str) -> list[str]:
    """One row per option, then its suboptions, named `option.suboption`."""
    rows = []
    for name, spec in options.items():
        rows.append(_option(prefix + name, spec, defaults))
        rows.extend(_options(spec.get("options") or {}, {}, f"{prefix}{name}."))
    return rows


def _option(name: str, spec: Mapping[str, Any], defaults: Mapping[str, Any]) -> str:
    kind = str(spec.get("type", "str"))
    if spec.get("elements"):
        kind = f"{kind} of {spec['elements']}"
    field = Field(
        name,
        kind,
        choices=tuple(str(c) for c in spec["choices"]) if "choices" in spec else None,
        required=bool(spec.get("required")),
    )
    if name in defaults:
        default = _code(_yaml(defaults[name]))
    elif "default" in spec:
        default = _code(_yaml(spec["default"]))
    else:
        default = ""
    meaning = " ".join(_paragraphs(spec.get("description")))
    return _line(_code(name), _type(field), _values(field), default, meaning)


def _paragraphs(text: str | Iterable[str] | None) -> list[str]:
    if text is None:
        return []
    return [text] if isinstance(text, str) else [str(t) for t in text]


def _load(path: Path) -> Mapping[str, Any]:
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data if isinstance(data, Mapping) else {}


# Markdown


def _generated(sources: str) -> str:
    return f"<!-- Generated by `{COMMAND}` from {sources}: do not edit. -->\n\n"


def _yaml(value: object) -> str:
    text = yaml.safe_dump(
        value, default_flow_style=True, width=1_000_000, allow_unicode=True, sort_keys=False
    )
    return text.removesuffix("\n").removesuffix("\n...")


def _code(text: str) -> str:
    """`text` as a code span, whatever backticks it holds."""
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _line(*cells: str) -> str:
    return f"| {' | '.join(_cell(c) for c in cells)} |\n"


def _cell(text: str) -> str:
    """One line, with the pipes that would end a table cell escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def generate(root: Path = ROOT) -> dict[Path, str]:
    """Each reference file, relative to the repository at `root`, and its text."""
    return {DESCRIPTION: description_reference(), ROLES: roles_reference(root / "roles")}


def main() -> int:
    try:
        files = generate()
    except StaleDocs as exc:
        print(exc, file=sys.stderr)
        return 1
    for relative, text in files.items():
        path = ROOT / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {relative}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
