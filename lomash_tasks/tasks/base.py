"""What every task module shares: Invoke's `task`, with repeatable flags that take a string or
a list on every path.

On the command line a repeatable flag (`iterable=[...]`) arrives as a list; from Python,
`call(db.migrate, service="auth")` hands the task a string, which would be read as the
services `a`, `u`, `t`, `h`. The wrapper turns a lone string into a one-item list (and None
into []), so the bodies see the same type however they are called.
"""

from __future__ import annotations

import copy
import functools
from typing import Any, Callable

import invoke
import invoke.parser


class SuiteTask(invoke.Task):
    """Invoke's Task, cheap to copy and to inspect. `inv` copies every task of the collection it
    loads, and then every task's flags twice, with `copy.deepcopy` (thousands of calls for the
    suite's 45 tasks), and reads each body's signature again for every parse; here a copy is
    the same object with its own lists and dicts (nothing the parser changes is shared), and
    the signature is read once."""

    def __deepcopy__(self, memo: dict[int, Any]) -> "SuiteTask":
        clone = copy.copy(self)
        memo[id(self)] = clone
        _own_containers(clone)
        return clone

    def argspec(self, body: Callable[..., Any]) -> Any:
        """Invoke's signature of the body, read once (it is asked again for every parse)."""
        cached = self.__dict__.get("_signature")
        if cached is None or cached[0] is not body:
            cached = (body, super().argspec(body))
            self.__dict__["_signature"] = cached
        return cached[1]

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Any]:
        args = super().get_arguments(ignore_unknown_help=ignore_unknown_help)
        for arg in args:
            arg.__class__ = _Argument
        return args


class _Argument(invoke.parser.Argument):
    def __deepcopy__(self, memo: dict[int, Any]) -> "_Argument":
        clone = copy.copy(self)
        memo[id(self)] = clone
        _own_containers(clone)
        return clone


def _own_containers(obj: Any) -> None:
    for name, value in vars(obj).items():
        if isinstance(value, (list, dict, set)):
            setattr(obj, name, copy.copy(value))


def task(*args: Any, **kwargs: Any) -> Any:
    """`invoke.task`, normalising the `iterable` flags; usable bare (`@task`) or with options."""
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return task()(args[0])
    kwargs.setdefault("klass", SuiteTask)
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
