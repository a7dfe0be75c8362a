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
