"""One place for output: lines, tables, progress, JSON and GitHub Actions workflow commands.

Every line goes through `masking.mask` first, and its hints name the program run
(`errors.as_typed`). On a terminal tables and progress are drawn with rich; elsewhere (pipes,
CI) output is plain lines. Under GitHub Actions, sections become `::group::` blocks, failures
`::error::` annotations, secrets are registered with `::add-mask::` and summaries are appended
to `$GITHUB_STEP_SUMMARY`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, NoReturn, TextIO

from lomash_tasks import masking
from lomash_tasks.errors import as_typed

OK, FAIL, SKIP, WARN = "✓", "✗", "-", "!"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def in_ci() -> bool:
    return _truthy(os.environ.get("CI")) or in_github_actions()


def in_github_actions() -> bool:
    return _truthy(os.environ.get("GITHUB_ACTIONS"))


class Console:
    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self._out = out
        self._err = err
        self._lock = threading.Lock()

    # -- environment -----------------------------------------------------------------------
    @property
    def out(self) -> TextIO:
        return self._out or sys.stdout

    @property
    def err(self) -> TextIO:
        return self._err or sys.stderr

    @property
    def github(self) -> bool:
        return in_github_actions()

    @property
    def interactive(self) -> bool:
        """A person at a terminal: prompts and live displays are allowed."""
        return not in_ci() and self.out.isatty() and sys.stdin is not None and sys.stdin.isatty()

    @property
    def color(self) -> bool:
        return self.interactive and "NO_COLOR" not in os.environ

    # -- lines -----------------------------------------------------------------------------
    def print(self, text: str = "", *, err: bool = False) -> None:
        stream = self.err if err else self.out
        with self._lock:
            _write(stream, _shown(str(text)) + "\n")

    def print_raw(self, text: str) -> None:
        """Print without masking: only for output the user asked to see unmasked (--reveal)."""
        with self._lock:
            _write(self.out, str(text) + "\n")

    def info(self, text: str) -> None:
        self.print(text)

    def ok(self, text: str) -> None:
        self.print(f"{OK} {text}")

    def warn(self, text: str) -> None:
        if self.github:
            self.print(f"::warning::{_escape(_shown(text))}")
        else:
            self.print(f"{WARN} {text}", err=True)

    def error(self, text: str, title: str | None = None) -> None:
        """A failure: an annotation under GitHub Actions, a line on stderr otherwise."""
        if self.github:
            head = f" title={_escape_property(_shown(title))}" if title else ""
            self.print(f"::error{head}::{_escape(_shown(text))}")
        else:
            self.print(f"{FAIL} {title + ': ' if title else ''}{text}", err=True)

    def json(self, data: Any) -> None:
        self.print(json.dumps(data, indent=2, sort_keys=False, default=str))

    def add_mask(self, *values: str | None) -> None:
        """Hide values from this run's output (and from the GitHub Actions log)."""
        for value in masking.register(values):
            if self.github:
                with self._lock:  # the value itself must reach the runner, unmasked
                    self.out.write(f"::add-mask::{value}\n")
                    self.out.flush()

    # -- structure -------------------------------------------------------------------------
    @contextlib.contextmanager
    def group(self, title: str) -> Iterator[None]:
        if self.github:
            self.print(f"::group::{title}")
            try:
                yield
            finally:
                self.print("::endgroup::")
        else:
            self.print(f"── {title}")
            yield

    def table(
        self, columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None
    ) -> None:
        cells = [[_shown("" if c is None else str(c)) for c in row] for row in rows]
        if self.color:
            from rich.console import Console as RichConsole
            from rich.table import Table

            table = Table(title=_shown(title) if title else None, title_justify="left")
            for col in columns:
                table.add_column(col)
            for row in cells:
                table.add_row(*row)
            try:
                RichConsole(file=self.out, highlight=False).print(table)
            except BrokenPipeError:
                closed(self.out)
            return
        widths = (
            [max(len(str(c)) for c in col) for col in zip(columns, *cells)]
            if cells
            else [len(c) for c in columns]
        )
        if title:
            self.print(title)
        self.print("  ".join(str(c).ljust(w) for c, w in zip(columns, widths)).rstrip())
        self.print("  ".join("-" * w for w in widths))
        for row in cells:
            self.print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())

    def step_summary(self, markdown: str) -> None:
        """Append markdown to `$GITHUB_STEP_SUMMARY` when it is set."""
        path = os.environ.get("GITHUB_STEP_SUMMARY")
        if path:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(_shown(markdown).rstrip() + "\n\n")

    def progress(self, names: Sequence[str], title: str) -> Progress:
        return Progress(self, list(names), title)

    # -- questions -------------------------------------------------------------------------
    def confirm(self, question: str, yes: bool = False) -> bool:
        """True when `--yes` was given or the person typed y; False (never a prompt) in CI."""
        if yes:
            return True
        if not self.interactive:
            return False
        with self._lock:
            self.out.write(_shown(question) + " [y/N] ")
            self.out.flush()
        answer = sys.stdin.readline().strip().lower()
        return answer in ("y", "yes")


class Report:
    """A result that prints itself: a table on the console, or its data as JSON (`--json`).

    A subclass (a dataclass, beside the work it reports on) names its `columns` and gives its
    `rows()`, its `heading()` (the table's title) and its `data()` (plain values: what `--json`
    prints); `notes()` prints what follows the table (warnings). A task then only says
    `report.render(out, json=json)`."""

    columns: ClassVar[tuple[str, ...]] = ()

    def heading(self) -> str | None:
        return None

    def rows(self) -> list[list[Any]]:
        raise NotImplementedError

    def data(self) -> Any:
        raise NotImplementedError

    def notes(self, console: Console) -> None:
        """What follows the table (nothing by default)."""

    def render(self, console: Console, json: bool = False) -> None:
        if json:
            console.json(self.data())
            return
        console.table(list(self.columns), self.rows(), title=self.heading())
        self.notes(console)


class Progress:
    """Per-item progress for long work: a live table on a terminal, a line per change elsewhere."""

    def __init__(self, console: Console, names: list[str], title: str) -> None:
        self.console = console
        self.title = title
        self.state = {name: "waiting" for name in names}
        self.started: dict[str, float] = {}
        self._live: Any = None  # rich's Live while shown
        self._lock = threading.Lock()

    def __enter__(self) -> Progress:
        if self.console.color:
            from rich.live import Live

            self._live = Live(
                self._render(),
                refresh_per_second=8,
                transient=True,
                console=_rich_console(self.console.out),
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def update(self, name: str, state: str, final: bool = False) -> None:
        with self._lock:
            if state == "running":
                self.started[name] = time.monotonic()
            self.state[name] = state
            if self._live is not None:
                self._live.update(self._render())
                return
        if final:
            self.console.print(f"  {name}: {state}")

    def _render(self) -> Any:
        from rich.table import Table

        table = Table(title=self.title, title_justify="left", show_header=False, box=None)
        now = time.monotonic()
        for name, state in self.state.items():
            clock = f"{now - self.started[name]:.1f}s" if state == "running" else ""
            table.add_row(name, _shown(state), clock)
        return table


def _shown(text: str) -> str:
    """What the user sees of `text`: secrets masked, hints naming the program run."""
    return as_typed(masking.mask(text))


def _write(stream: TextIO, text: str) -> None:
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
        closed(stream)


def closed(stream: TextIO) -> NoReturn:
    """The reader went away (`inv env.show ... | head`): stop quietly, as Unix tools do.

    The stream's descriptor is pointed at /dev/null so nothing more (not even Python's own
    flush at exit) fails on it; the task stops with the usual exit code of a closed pipe."""
    from invoke import Exit

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (a test's StringIO)
        pass
    raise Exit(code=141)


def _rich_console(stream: TextIO) -> Any:
    from rich.console import Console as RichConsole

    return RichConsole(file=stream, highlight=False)


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape(text).replace(":", "%3A").replace(",", "%2C")


_console = Console()


def get() -> Console:
    """The process's console."""
    return _console
