"""The members of each mailing list: its `members` and those of its source, read on demand.

The description's own sources (every mailbox of a domain, the targets of an alias) are read
from the model. A file or a command is read only here, when the list host's share is made
(mailstack.share), never while the description is validated or its DNS planned: a file,
relative to the inventory directory, or a command run on the controller in that directory,
its standard output one address per line (`#` comment lines and blank lines skipped in both),
within COMMAND_TIMEOUT seconds. A source that fails, gives a line that is not an address, or
gives no address at all (unless the list says `allow_empty: true`) is an error that names the
list and the field; then no list gets members, so that a broken source never empties a list.
What a source gives is never shown in an error beyond the line's number and its first
characters.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from mailstack.fields import NAME_LIMIT, is_address
from mailstack.lists import MailingList, from_description
from mailstack.model import Description, Domain
from mailstack.problems import DescriptionError, Problems

# How long a member command may run, in seconds.
COMMAND_TIMEOUT = 30.0
# The most a source may give, in bytes: far more than a million addresses.
SOURCE_LIMIT = 64 * 1024 * 1024
# How much of a command's output is read at a time, in bytes.
CHUNK = 64 * 1024
# How many characters of a refused line an error shows.
SHOWN = 32


class SourceFailed(Exception):
    """A file or command that gave no member list; the message says why."""


def resolve(
    description: Description,
    domains: Iterable[Domain],
    inventory_dir: Path | None,
    *,
    timeout: float = COMMAND_TIMEOUT,
) -> dict[str, dict[str, list[str]]]:
    """The members of each list of `domains`, by domain and list name: the list's `members`
    and those of its source, lower case, each once, sorted. DescriptionError names every list
    whose source failed, and then nothing is returned."""
    sources = _Sources(description, inventory_dir, timeout)
    problems = Problems()
    out: dict[str, dict[str, list[str]]] = {}
    for domain in domains:
        found = out.setdefault(domain.name, {})
        for lst in domain.mailman.lists if domain.mailman is not None else ():
            try:
                found[lst.name] = union(lst, sources.members(lst))
            except SourceFailed as exc:
                kind = lst.members_from.kind if lst.members_from else ""
                problems.error(
                    f"{lst.path}.members_from.{kind}", f"{lst.address(domain.name)}: {exc}"
                )
    if problems.errors:
        raise DescriptionError(problems)
    return out


@dataclass(frozen=True)
class _Sources:
    """Where the sources of the lists are read: the description, and for a file or command,
    the inventory directory."""

    description: Description
    inventory_dir: Path | None
    timeout: float

    def members(self, lst: MailingList) -> list[str]:
        """The members the list's source gives (none without a source)."""
        source = lst.members_from
        if source is None:
            return []
        if not source.generated:
            return from_description(self.description, source)
        if self.inventory_dir is None:
            raise SourceFailed(
                "is read in the inventory directory, and none is given (the mailstack_share"
                " filter and `mailstack spec share` give it)"
            )
        if source.kind == "file":
            data = read_file(self.inventory_dir / source.value[0])
        else:
            data = run_command(list(source.value), self.inventory_dir, self.timeout)
        found = addresses(data)
        if not found and not lst.allow_empty:
            raise SourceFailed(
                "gave no address, and an empty source is refused so that a broken one never"
                " empties the list (set allow_empty: true on a list that may have no member)"
            )
        return found


def union(lst: MailingList, found: list[str]) -> list[str]:
    """The list's own members and those found, lower case, each once, sorted."""
    return sorted({a.lower() for a in (*lst.members, *found)})


def read_file(path: Path) -> bytes:
    """The bytes of a member file, SOURCE_LIMIT at most."""
    try:
        if not path.is_file():
            raise SourceFailed(f"{path} is not a file")
        with path.open("rb") as f:
            data = f.read(SOURCE_LIMIT + 1)
    except OSError as exc:
        raise SourceFailed(f"{path} cannot be read: {exc.strerror}") from None
    _within_limit(len(data))
    return data


def run_command(argv: list[str], cwd: Path, timeout: float) -> bytes:
    """The standard output of `argv`, run in `cwd` with no input, its standard error
    discarded. Read as it comes, SOURCE_LIMIT at most: a command that gives more, or that has
    not finished (with every process it started) within `timeout` seconds, is stopped with
    those processes, and nothing it gave is kept."""
    deadline = time.monotonic() + timeout
    try:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        raise SourceFailed(f"{argv[0]!r} cannot be run: {exc.strerror}") from None
    out = cast("IO[bytes]", process.stdout)  # stdout=PIPE: always there
    try:
        data = _read(out, deadline)
        code = process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except (TimeoutError, subprocess.TimeoutExpired):
        raise SourceFailed(f"did not finish within {timeout:g} s, and was stopped") from None
    finally:
        if process.returncode is None:
            _stop(process)
        out.close()
    if code != 0:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        raise SourceFailed(f"{how} (its output is not shown: run it in {cwd} to see why)")
    return data


def _read(stream: IO[bytes], deadline: float) -> bytes:
    """What `stream` gives until its end; TimeoutError at `deadline`, SourceFailed beyond
    SOURCE_LIMIT bytes (the reader stops there, holding no more than that in memory)."""
    data = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                raise TimeoutError
            chunk = os.read(stream.fileno(), CHUNK)
            if not chunk:
                return bytes(data)
            data += chunk
            _within_limit(len(data))


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Kill the command, with its process group (the children it started), and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _within_limit(size: int) -> None:
    """SourceFailed when a source gave `size` bytes, more than SOURCE_LIMIT."""
    if size > SOURCE_LIMIT:
        raise SourceFailed(f"gave more than {SOURCE_LIMIT // (1024 * 1024)} MiB: no member list")


def addresses(data: bytes) -> list[str]:
    """The addresses of a member list: one a line, lower-cased; blank lines and lines that
    begin with `#` are skipped; any other line that is not an address is refused."""
    out = []
    for number, raw in enumerate(data.split(b"\n"), 1):
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise SourceFailed(f"line {number} is not UTF-8 text") from None
        if not line or line.startswith("#"):
            continue
        address = line.lower()
        if len(address) > NAME_LIMIT or not is_address(address):
            raise SourceFailed(f"line {number} is not a mail address: {shown(line)}")
        out.append(address)
    return out


def shown(line: str) -> str:
    """A refused line as an error shows it: its first SHOWN characters, quoted."""
    return repr(line[:SHOWN]) + ("..." if len(line) > SHOWN else "")
