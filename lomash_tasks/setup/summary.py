"""What `inv setup` prints at its end: the steps' table (or `--json`), the GitHub step summary,
and "Where things are" (each service and server that answers, with its address)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lomash_tasks.console import Console, Report
from lomash_tasks.setup import pipeline


@dataclass
class Link:
    """One row of "Where things are": a service, a server or a tool, and how to reach it."""

    name: str
    address: str
    state: str
    note: str

    def row(self) -> list[str]:
        return [self.name, self.address, self.state, self.note]


LINK_COLUMNS = ("service", "address", "state", "note")


@dataclass
class SetupSummary(Report):
    """One run's steps (`pipeline.StepResult`) and, after a real run, where things are."""

    results: Sequence[pipeline.StepResult]
    workspace: str
    links: list[Link] = field(default_factory=list)
    dry: bool = False

    columns = ("step", "result", "time", "detail")

    def heading(self) -> str:
        return "inv setup --dry (nothing changed)" if self.dry else "inv setup"

    def rows(self) -> list[list[Any]]:
        return list(pipeline.summary_rows(self.results))

    def data(self) -> dict[str, Any]:
        return {
            "steps": [r.as_dict() for r in self.results],
            "workspace": self.workspace,
            "urls": {link.name: link.address for link in self.links},
            "states": {link.name: link.state for link in self.links},
        }

    def render(self, console: Console, json: bool = False) -> None:
        if json:
            console.json(self.data())
            return
        super().render(console)
        table = "\n".join(f"| {' | '.join(link.row())} |" for link in self.links)
        console.step_summary(
            pipeline.markdown(
                self.results,
                self.heading(),
                "| service | address | state | note |\n|---|---|---|---|\n" + table,
            )
        )
        if self.dry:
            return
        if all(r.status in (pipeline.ALREADY, pipeline.SKIPPED) for r in self.results):
            console.ok("Nothing to do: the stack was already set up.")
        if not any(r.status in (pipeline.FAILED, pipeline.NOT_RUN) for r in self.results):
            console.table(
                list(LINK_COLUMNS), [link.row() for link in self.links], title="Where things are"
            )
