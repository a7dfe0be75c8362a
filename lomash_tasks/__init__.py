"""The Lomash Wood task suite: plain functions over typed data; `lomash_tasks.tasks` is the
Invoke layer over them (`from lomash_tasks import tasks as suite`)."""

import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# A source checkout of the suite (its tools/ folder holds pinned Node tools); absent when the
# suite is installed from a wheel.
CHECKOUT_DIR = PACKAGE_DIR.parent

# `inv` turns bytecode caching off before it loads a tasks file (unless --write-pyc), so that a
# project's tasks.py leaves no __pycache__ behind; every module of this package would then be
# compiled from source on every run (about half of `inv --list`'s own time). Our modules
# keep the interpreter's own choice (-B / PYTHONDONTWRITEBYTECODE are still honoured).
sys.dont_write_bytecode = bool(sys.flags.dont_write_bytecode)
