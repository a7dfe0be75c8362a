"""The monorepo's Invoke entry: the Lomash Wood task suite's namespace (add tasks of your own
to it, or compose the suite's: see the suite's README, "Use it in your monorepo")."""
from lomash_tasks.tasks import namespace  # noqa: F401
