"""Reading untyped description data (YAML from the inventory) with a path for every error."""

from __future__ import annotations

import difflib
import ipaddress
import re
import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from mailstack.problems import Problems

T = TypeVar("T")

# Every pattern here and in the model is matched whole (re.fullmatch), never with `$`, which
# also matches before a final newline.
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_LOCAL_PART = re.compile(r"[a-z0-9](?:[a-z0-9._+-]{0,62}[a-z0-9])?")

# The longest values the description accepts, in characters: a DNS name (RFC 1035), any other
# name (a selector, a local part, an address), and free text (a URL, a note).
DNS_NAME_LIMIT = 253
NAME_LIMIT = 255
TEXT_LIMIT = 1024
# Unicode categories no value of the description holds, since every value ends up in a config
# file or a DNS record: control characters (newline, NUL, ...), format characters (such as
# bidirectional overrides), line and paragraph separators, surrogates.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def is_labels(name: str, *, host: bool = False, min_labels: int = 1) -> bool:
    """Lower-case DNS labels joined by dots; `host` refuses underscores (RFC 952)."""
    if not name or len(name) > DNS_NAME_LIMIT:
        return False
    pattern = _HOST_LABEL if host else _LABEL
    labels = name.split(".")
    return len(labels) >= min_labels and all(pattern.fullmatch(label) for label in labels)


def is_dns_name(name: str, *, host: bool = False) -> bool:
    """A lower-case absolute name of two labels or more, with no final dot."""
    return is_labels(name, host=host, min_labels=2)


def is_local_part(name: str) -> bool:
    """A lower-case local part as mailstack accepts it for mailboxes and aliases."""
    return bool(_LOCAL_PART.fullmatch(name))


def is_address(address: str) -> bool:
    """local@domain, lower case, the domain ending in a label of two characters or more."""
    local, at, domain = address.partition("@")
    return (
        bool(at)
        and is_local_part(local)
        and is_dns_name(domain, host=True)
        and len(domain.rsplit(".", 1)[-1]) >= 2
    )


def text_problem(value: str, longest: int) -> str | None:
    """Why `value` cannot be a value of the description (a control character, or longer than
    `longest`), or None when it can."""
    if len(value) > longest:
        return f"is {len(value)} characters long: {longest} at most"
    for i, char in enumerate(value):
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            return (
                f"holds the control character U+{ord(char):04X} at offset {i}:"
                " a value is one line of printable text"
            )
    return None


def check_text(value: str, path: str, problems: Problems, longest: int = TEXT_LIMIT) -> bool:
    """Record an error at `path` and answer False when `text_problem` refuses `value`."""
    problem = text_problem(value, longest)
    if problem is not None:
        problems.error(path, problem)
    return problem is None


def first_time(value: str, path: str, seen: dict[str, str], problems: Problems) -> bool:
    """Record `value` as seen at `path`; a repeat is an error that names the first place."""
    if value in seen:
        problems.error(path, f"{value} is listed twice (first at {seen[value]})")
        return False
    seen[value] = path
    return True


def exactly_one(
    present: list[str], keys: tuple[str, ...], path: str, problems: Problems
) -> str | None:
    """The one key of `keys` that a mapping at `path` holds (`present`); with none or several,
    an error that names them, and None."""
    if len(present) == 1:
        return present[0]
    problems.error(
        path,
        f"needs exactly one of {', '.join(keys)}"
        + (f", not {len(present)} ({', '.join(present)})" if present else ""),
    )
    return None


# The kind of a field that the model reads with Reader.raw and checks by itself.
UNTYPED = "any"


@dataclass(frozen=True)
class Field:
    """One field of the description as the model reads it. `path` is a pattern, the indexes of
    lists left out (`mailstack_domains[].dmarc.p`); `kind` is what Reader reads it as."""

    path: str
    kind: str
    default: object = None
    choices: tuple[str, ...] | None = None
    low: int | None = None
    high: int | None = None
    required: bool = False
    # The longest string it takes, in characters.
    longest: int | None = None


Schema = dict[str, Field]
_SCHEMA: ContextVar[Schema | None] = ContextVar("mailstack_schema", default=None)


@contextmanager
def recording() -> Iterator[Schema]:
    """Within the block, every Reader records each field it reads: the description's schema,
    by path pattern, in the order the model reads the fields."""
    schema: Schema = {}
    token = _SCHEMA.set(schema)
    try:
        yield schema
    finally:
        _SCHEMA.reset(token)


def field_pattern(path: str) -> str:
    """`mailstack_domains[0].mx[1].host` -> `mailstack_domains[].mx[].host`."""
    return re.sub(r"\[[0-9]+\]", "[]", path)


def _record(field: Field) -> None:
    """Add `field` to the schema being recorded, if any; a field read untyped (raw) takes the
    kind of a typed read of it, and two different typed reads of one field are an error."""
    schema = _SCHEMA.get()
    if schema is None:
        return
    known = schema.get(field.path)
    if known is None or known.kind == UNTYPED:
        schema[field.path] = field
    elif field.kind != UNTYPED and field != known:
        raise ValueError(f"{field.path} is read in two ways: {known} and {field}")


class Probe(Mapping[str, Any]):
    """Any mapping of the description, to record its schema (`recording`) by running the model
    over it: every key is present, itself a Probe, or every key is absent; a list read from it
    by a Reader holds one Probe. The model's reads of both cover every field it may read."""

    def __init__(self, present: bool) -> None:
        self.present = present

    def __getitem__(self, key: str) -> Probe:
        if not self.present:
            raise KeyError(key)
        return Probe(present=True)

    def __contains__(self, key: object) -> bool:
        return self.present

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


class Reader:
    """The fields of one mapping of the description, each read at most once.

    Every read records a problem under `path.key` when the value is missing or of the wrong
    kind, and returns the default instead, so that one pass reports every error. Within
    `recording()`, every read also records the field it reads.
    """

    def __init__(self, data: object, path: str, problems: Problems) -> None:
        self.path = path
        self.problems = problems
        self.seen: set[str] = set()
        if path:
            _record(Field(field_pattern(path), "mapping"))
        if isinstance(data, Mapping):
            self.data: Mapping[str, Any] = data
            self.ok = True
        else:
            self.data = {}
            self.ok = False
            problems.error(path, f"must be a mapping, not {_kind(data)}")

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def _note(self, key: str, kind: str, **facts: Any) -> None:
        if _SCHEMA.get() is not None:
            _record(Field(field_pattern(self.at(key)), kind, **facts))

    def _value(self, key: str) -> Any:
        self.seen.add(key)
        return self.data.get(key)

    def raw(self, key: str) -> Any:
        """The value as it is, for the model to check."""
        self._note(key, UNTYPED)
        return self._value(key)

    def text(
        self,
        key: str,
        default: str | None = None,
        *,
        required: bool = False,
        choices: tuple[str, ...] | None = None,
        longest: int = TEXT_LIMIT,
    ) -> str | None:
        """A string of one line of printable text, `longest` characters at most."""
        self._note(
            key,
            "string",
            default=default,
            choices=choices,
            required=required,
            longest=None if choices else longest,
        )
        return self._text(key, default, required=required, choices=choices, longest=longest)

    def _text(
        self,
        key: str,
        default: str | None,
        *,
        required: bool = False,
        choices: tuple[str, ...] | None = None,
        longest: int = TEXT_LIMIT,
    ) -> str | None:
        value = self._value(key)
        if value is None:
            if required:
                self.problems.error(self.at(key), "is required")
            return default
        if not isinstance(value, str):
            self.problems.error(self.at(key), f"must be a string, not {_kind(value)}")
            return default
        if not check_text(value, self.at(key), self.problems, longest):
            return default
        if choices is not None and value not in choices:
            self.problems.error(self.at(key), f"must be one of {', '.join(choices)}, not {value!r}")
            return default
        return value

    def integer(self, key: str, default: int, *, low: int, high: int) -> int:
        self._note(key, "integer", default=default, low=low, high=high)
        value = self._value(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.problems.error(self.at(key), f"must be an integer, not {_kind(value)}")
            return default
        if not low <= value <= high:
            self.problems.error(self.at(key), f"must be between {low} and {high}, not {value}")
            return default
        return value

    def flag(self, key: str, default: bool) -> bool:
        self._note(key, "boolean", default=default)
        value = self._value(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problems.error(self.at(key), f"must be true or false, not {_kind(value)}")
            return default
        return value

    def items(self, key: str) -> list[Any]:
        self._note(key, "list")
        return self._items(key)

    def _items(self, key: str) -> list[Any]:
        if isinstance(self.data, Probe):
            self.seen.add(key)
            return [Probe(self.data.present)]
        value = self._value(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problems.error(self.at(key), f"must be a list, not {_kind(value)}")
            return []
        return value

    def texts(self, key: str, *, longest: int = TEXT_LIMIT) -> list[str]:
        """Strings, each as `text` reads one; a list item that is not one is an error."""
        self._note(key, "list of strings", longest=longest)
        out = []
        for i, item in enumerate(self._items(key)):
            at = f"{self.at(key)}[{i}]"
            if not isinstance(item, str):
                self.problems.error(at, f"must be a string, not {_kind(item)}")
            elif check_text(item, at, self.problems, longest):
                out.append(item)
        return out

    def name(self, key: str, *, required: bool = False, host: bool = False) -> str | None:
        """A DNS name, lower-cased; a final dot is accepted and dropped."""
        kind = "host name" if host else "domain name"
        self._note(key, kind, required=required, longest=DNS_NAME_LIMIT)
        # One more character for the final dot.
        value = self._text(key, None, required=required, longest=DNS_NAME_LIMIT + 1)
        if value is None:
            return None
        return check_name(value, self.at(key), self.problems, host=host)

    def done(self) -> None:
        """Report the keys that no read asked for: typos must not pass silently."""
        if not self.ok:
            return
        for key in self.data:
            if key not in self.seen:
                close = difflib.get_close_matches(str(key), sorted(self.seen), n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                self.problems.error(self.at(str(key)), f"is not a known field{hint}")


def check_name(value: str, path: str, problems: Problems, *, host: bool = False) -> str | None:
    if not check_text(value, path, problems, DNS_NAME_LIMIT + 1):
        return None
    name = value.lower().removesuffix(".")
    if not is_dns_name(name, host=host):
        what = "a host name" if host else "a domain name"
        problems.error(
            path,
            f"{value!r} is not {what}: two labels or more of letters, digits"
            f"{'' if host else ', underscores'} and hyphens, 63 characters at most each",
        )
        return None
    return name


def check_network(
    value: object, version: int, path: str, problems: Problems
) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if not isinstance(value, str):
        problems.error(path, f"must be a string, not {_kind(value)}")
        return None
    if not check_text(value, path, problems, NAME_LIMIT):
        return None
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        problems.error(path, f"{value!r} is not an IPv{version} address or network: {exc}")
        return None
    if net.version != version:
        problems.error(path, f"{value!r} is an IPv{net.version} value, not IPv{version}")
        return None
    return net


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }.get(type(value), type(value).__name__)
