"""What every task module shares: Invoke's `task`, with repeatable flags that take a string or
a list on every path.

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
    """`invoke.task`, normalising the `iterable` flags; usable bare (`@task`) or with options."""
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return task()(args[0])
    iterable = tuple(kwargs.get("iterable") or ())

    def decorate(body: Callable[..., Any]) -> Any:
        if not iterable:
            return invoke.task(*args, **kwargs)(body)

        @functools.wraps(body)
        def wrapper(*call_args: Any, **call_kwargs: Any) -> Any:
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
