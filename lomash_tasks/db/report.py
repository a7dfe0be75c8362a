"""What the db tasks print: `db.status`'s report (`MigrationStatus`: its table, its JSON, its
gate's words), `db.diff`'s summary and each difference (the data comes from `db.migrate` and
`db.diff`; `--json` prints it as is)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lomash_tasks.console import Console, Report


def behind(state: Any) -> str:
    """What keeps one service's migrations from being up to date (`1 pending, 1 edited`)."""
    if state.error:
        return "cannot be read"
    parts = [
        f"{len(items)} {label}"
        for label, items in (
            ("failed", state.failed),
            ("pending", state.pending),
            ("edited", state.modified),
            ("folder gone", state.missing),
        )
        if items
    ]
    return ", ".join(parts)


@dataclass
class MigrationStatus(Report):
    """`db.status`: each service's migrations (`MigrationState`), as a table or JSON, and the
    gate's words when one is not up to date."""

    states: list[Any]

    columns = ("service", "applied", "pending", "failed", "edited", "folder gone", "state")

    def heading(self) -> str:
        return "db.status"

    def rows(self) -> list[list[Any]]:
        rows: list[list[Any]] = []
        for s in self.states:
            if s.error:
                rows.append([s.service, "", "", "", "", "", f"✗ {s.error}"])
                continue
            rows.append(
                [
                    s.service,
                    len(s.applied),
                    ", ".join(m.name for m in s.pending),
                    ", ".join(r.name for r in s.failed),
                    ", ".join(s.modified),
                    ", ".join(s.missing),
                    _state_word(s),
                ]
            )
        return rows

    def data(self) -> list[dict[str, Any]]:
        return [s.as_dict() for s in self.states]

    def notes(self, console: Console) -> None:
        for s in self.states:
            for warning in [] if s.error else s.warnings():
                console.warn(f"{s.service}: {warning}")

    def failure(self, where: str = "", report_only: bool = False) -> str | None:
        """Why the gate fails (None when it passes): a service that cannot be read or has a
        failed migration always; one behind (pending, edited, folder gone) unless
        `report_only`. `where` is the flag the fix repeats (` --target staging`)."""
        bad = [s for s in self.states if s.error or s.failed]
        behind_ = [s for s in self.states if not s.error and (s.pending or s.modified or s.missing)]
        if not bad and not (behind_ and not report_only):
            return None
        names = ", ".join(f"{s.service} ({behind(s)})" for s in bad + behind_)
        return (
            f"db.status: {len(bad + behind_)} of {len(self.states)} service(s) not up "
            f"to date: {names}. `inv db.migrate{where}` applies what is pending; "
            f"see above for the rest (--report-only: report without failing)."
        )


def _state_word(s: Any) -> str:
    if not (s.pending or s.failed or s.modified or s.missing):
        return "up to date"
    if s.failed:
        return "needs attention"
    if s.pending:
        return "pending"
    return "edited" if s.modified else "folder gone"


def diff_table(out: Console, results: list[Any]) -> None:
    out.table(
        ["service", "database vs migrations", "schema vs migrations", "result"],
        [[r.service, _db_cell(r), _schema_cell(r), r.summary] for r in results],
        title="db.diff",
    )
    for r in results:
        _print_diff(out, r)


def _db_cell(r: Any) -> str:
    if r.error:
        return "-"
    if r.drift_note.startswith("schema not compared"):
        return "not compared"
    return f"{len(r.drift)} difference(s)" if r.drift else "same"


def _schema_cell(r: Any) -> str:
    if r.error or not r.schema_note.startswith("compared"):
        return "not compared"
    return "changes without a migration" if r.schema_sql else "same"


def _print_diff(out: Console, r: Any) -> None:
    if r.error:
        out.error(r.error, title=r.service)
        return
    for label, items in (
        ("pending", r.pending),
        ("failed", r.failed),
        ("edited after it was applied", r.edited),
        ("recorded but its folder is gone", r.missing),
    ):
        if items:
            out.warn(f"{r.service}: {label}: {', '.join(items)}")
    for d in r.drift:
        out.warn(f"{r.service}: {d.line()}")
    if r.drift_note:
        out.info(f"{r.service}: {r.drift_note}")
    if r.schema_sql:
        out.warn(
            f"{r.service}: the schema has changes no migration holds (`inv db.migrate "
            f"--mode dev --service {r.service} --name NAME` writes one):"
        )
        for line in r.schema_sql.splitlines():
            out.print(f"    {line}")
    elif not r.schema_note.startswith("compared"):
        out.info(f"{r.service}: schema {r.schema_note}")
