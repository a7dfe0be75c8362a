"""The Lomash Wood task suite: plain functions over typed data; `lomash_tasks.tasks` is the
Invoke layer over them (`from lomash_tasks import tasks as suite`)."""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# A source checkout of the suite (its tools/ folder holds pinned Node tools); absent when the
# suite is installed from a wheel.
CHECKOUT_DIR = PACKAGE_DIR.parent
