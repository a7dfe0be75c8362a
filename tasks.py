"""This repository's Invoke entry: the suite's own namespace, as any monorepo would use it."""

from lomash_tasks.tasks import namespace  # noqa: F401
