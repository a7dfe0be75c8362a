"""Modules loaded on first use, so `inv --list` pays only for Invoke and the task modules.

    aws_ops = lazy("lomash_tasks.aws")   # imported when a task first touches aws_ops.X

A stand-in module object: nothing is looked up or imported (not even the parent package, which
`importlib.util.find_spec` would import) until an attribute is first read; then the real module
is imported and every read or write goes to it.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any


class _Lazy(ModuleType):
    def _load(self) -> ModuleType:
        module = self.__dict__.get("_module")
        if module is None:
            module = importlib.import_module(self.__name__)
            self.__dict__["_module"] = module
        return module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._load(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._load(), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._load(), name)


def lazy(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    return _Lazy(name)
