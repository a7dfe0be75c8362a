"""Modules loaded on first use, so `inv --list` pays only for Invoke and the task modules.

    aws_ops = lazy("lomash_tasks.aws")   # imported when a task first touches aws_ops.X

This is the standard library's recipe (`importlib.util.LazyLoader`): the module object exists
at once and runs its body on the first attribute access.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"no module named {name!r}")
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
