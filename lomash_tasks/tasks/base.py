"""What every task module shares: Invoke's `task`, with repeatable flags that take a string or
a list on every path, and Invoke's --echo / --dry applied once per call.

On the command line a repeatable flag (`iterable=[...]`) arrives as a list; from Python,
`call(db.migrate, service="auth")` hands the task a string, which would be read as the
services `a`, `u`, `t`, `h`. The wrapper turns a lone string into a one-item list (and None
into []), so the bodies see the same type however they are called.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import invoke


def task(*args: Any, **kwargs: Any) -> Any:
    """`invoke.task`, normalising the `iterable` flags; usable bare (`@task`) or with options.

    Each call first hands Invoke's --echo / --dry to the command layer
    (`context.apply_run_options`): one explicit step per task call, not a side effect of
    reading the console or the workspace."""
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return task()(args[0])
    iterable = tuple(kwargs.get("iterable") or ())

    def decorate(body: Callable[..., Any]) -> Any:
        @functools.wraps(body)
        def wrapper(*call_args: Any, **call_kwargs: Any) -> Any:
            from lomash_tasks.context import apply_run_options

            ctx = call_args[0] if call_args else call_kwargs.get("c")
            if ctx is not None:
                apply_run_options(ctx)
            if not iterable:
                return body(*call_args, **call_kwargs)
            import inspect

            bound = inspect.signature(body).bind_partial(*call_args, **call_kwargs)
            for name in iterable:
                bound.arguments[name] = as_list(bound.arguments.get(name))
            return body(*bound.args, **bound.kwargs)

        return invoke.task(*args, **kwargs)(wrapper)

    return decorate


def as_list(value: Any) -> list[Any]:
    """A repeatable flag's value as a list: None -> [], "a" -> ["a"], ("a", "b") -> ["a", "b"]."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)):
        return [value]
    return list(value)


class LazyContext(invoke.ParserContext):
    """A task's parser context whose flags are read from the task only when first needed.

    Invoke builds a context for every task before it parses the command line, and its parse
    state machine deep-copies them all, although a run parses the flags of the tasks it names
    only, and `inv --list` of none: with 45 tasks that is most of the listing's own work. This
    context holds the task's name and aliases (all the parser needs to recognise it) and a
    recipe for its arguments; the first read of anything else (`flags`, `args`, ...) runs the
    recipe, exactly as Invoke's own `to_contexts` would have. A copy made before that is a new
    recipe holder (arguments are made fresh per build, so nothing is shared); a copy made after
    is a deep copy, as Invoke's."""

    def __init__(self, name: str, aliases: Any, build: Callable[[], Any]) -> None:
        self.name = name
        self.aliases = aliases
        self._build = build

    def __getattr__(self, attr: str) -> Any:
        # Only reached for attributes not set yet: the ones ParserContext.__init__ makes.
        build = self.__dict__.get("_build")
        if build is None or attr.startswith("__"):
            raise AttributeError(attr)
        args = build()  # a task whose help names no flag raises here, every time, as Invoke's
        del self.__dict__["_build"]
        invoke.ParserContext.__init__(self, self.name, self.aliases, args)
        return getattr(self, attr)

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        import copy

        if "_build" in self.__dict__:
            new = LazyContext(self.name or "", self.aliases, self._build)
            memo[id(self)] = new
            return new
        new = object.__new__(LazyContext)
        memo[id(self)] = new
        new.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return new

    def __repr__(self) -> str:
        if "_build" in self.__dict__:  # Invoke formats every context for its debug log
            return f"<parser/Context {self.name!r} (flags not read yet)>"
        return super().__repr__()


class SuiteCollection(invoke.Collection):
    """The root collection: Invoke's, with two shortcuts for what a run does not use.

    - Looking a task up by name returns it without building its config: Invoke's own lookup
      copies and merges the root's whole configuration (every namespace's settings and the
      registry) each time, and listing looks up every task. Running a task still gets its
      config from `task_with_config`/`configuration`, as always.
    - Its parser contexts read each task's flags on first use (`LazyContext`).

    Both serve where this object is the program's namespace: the `lomash` program, and any
    `Program(namespace=...)`. `inv` loading a tasks.py copies the namespace into a plain
    Invoke `Collection` first (`Collection.from_module`), so there Invoke's own lookup and
    contexts apply (bench/list_bench.py measures both)."""

    def __getitem__(self, name: str | None = None) -> Any:
        if not name:
            return super().__getitem__(name)
        name = self.transform(name)
        if "." in name:
            coll, rest = self._split_path(name)
            return self.collections[coll][rest]
        if name in self.collections:
            return self.collections[name][""]
        return self.tasks[name]

    def to_contexts(self, ignore_unknown_help: bool | None = None) -> list[Any]:
        return [
            LazyContext(
                primary,
                aliases,
                functools.partial(
                    self[primary].get_arguments, ignore_unknown_help=ignore_unknown_help
                ),
            )
            for primary, aliases in self.task_names.items()
        ]
