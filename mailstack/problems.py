"""Problems found in a description or a plan: each names where it is and what is wrong."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding: `path` points into the description (`mailstack_domains[0].dmarc.p`)."""

    severity: Severity
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.path}: {self.message}"


class Problems:
    """An ordered collection of findings, errors and warnings."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def error(self, path: str, message: str) -> None:
        self.items.append(Problem("error", path, message))

    def warning(self, path: str, message: str) -> None:
        self.items.append(Problem("warning", path, message))

    def extend(self, other: Problems) -> None:
        self.items.extend(other.items)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.items if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.items if p.severity == "warning"]

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)


class DescriptionError(Exception):
    """Raised when a description has errors; carries every finding, not only the first."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        lines = "\n".join(str(p) for p in problems.errors)
        super().__init__(f"the description has {len(problems.errors)} error(s):\n{lines}")
