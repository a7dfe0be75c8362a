"""What an alignment changed, one key of one file at a time: typed, rendered as lines (masked)
and as JSON (masked), and as a unified diff of the file (masked)."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from lomash_tasks import masking
from lomash_tasks.env import files as envfiles
from lomash_tasks.env import placeholders, urls
from lomash_tasks.errors import UserError

REGISTRY, STACK, GENERATED = "the registry", "the stack", "generated"  # the side whose value won


@dataclass(frozen=True)
class Change:
    """One key of one file set to the stack's value."""

    file: str
    key: str
    line: int
    old: str
    new: str
    reason: str
    source: str  # REGISTRY, STACK or GENERATED: the side whose value was used
    secret: bool  # its values are masked wherever shown

    def shown(self, value: str) -> str:
        if not value:
            return "(empty)"
        if "://" in value:
            return urls.mask(value)
        if self.secret:  # a placeholder is no secret: shown, so the reader knows which it was
            return (
                value if value == self.old and placeholders.is_placeholder(value) else masking.MASK
            )
        return value

    def describe(self) -> str:
        """`FILE: KEY old -> new (why; which side's value was used)`, masked."""
        side = "generated" if self.source == GENERATED else f"from {self.source}"
        return (
            f"{self.file}: {self.key} {self.shown(self.old)} -> {self.shown(self.new)} "
            f"({self.reason}; {side})"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "key": self.key,
            "line": self.line,
            "old": self.shown(self.old),
            "new": self.shown(self.new),
            "reason": self.reason,
            "source": self.source,
        }


@dataclass
class Alignment:
    """One file's changes and its aligned text."""

    file: str
    before: str
    text: str
    changes: list[Change] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)  # values to hide from all output
    error: str = ""  # why the changes cannot be written as Node would read them ('' = they can)

    def writable_text(self) -> str:
        """The aligned text; a UserError when it cannot be written (never a corrupt file)."""
        if self.error:
            raise UserError(self.error)
        return self.text

    @property
    def changed(self) -> bool:
        return self.text != self.before

    def lines(self) -> list[str]:
        return [c.describe() for c in self.changes]

    def diff(self) -> list[str]:
        """A unified diff of the file, every changed value masked."""
        old = envfiles.split_lines(self.before)
        new = envfiles.split_lines(self.text)
        shown_old, shown_new = list(old), list(new)
        for c in self.changes:  # the changed lines, values masked
            for lines, value in ((shown_old, c.old), (shown_new, c.new)):
                for i, line in enumerate(lines):
                    if re.match(rf"\s*(?:export\s+)?{re.escape(c.key)}\s*[=:]", line):
                        lines[i] = _mask_line(line, value, c)
        out = difflib.unified_diff(
            [_one(s) for s in shown_old],
            [_one(s) for s in shown_new],
            f"{self.file}",
            f"{self.file} (aligned)",
            n=0,
            lineterm="",
        )
        return list(out)


def _one(line: str) -> str:
    return line.rstrip("\r\n")


def _mask_line(line: str, value: str, change: Change) -> str:
    shown = change.shown(value)
    if value and value in line and shown != value:
        return line.replace(value, shown)
    return line
