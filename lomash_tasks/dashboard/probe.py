"""The dashboard's reads that need a database, Redis or AWS client, in a short-lived child:

    python -m lomash_tasks.dashboard.probe CONFIG.json [migrations] [cache] [aws]

It prints one JSON object with what was asked for: `migrations` (db.status's rows), `cache`
(cache.stats's rows), `aws` (aws.status's listing), each read by the same function as its task,
or `<read>_error` saying why it could not be read. Run as a child so that the dashboard's own
process never loads psycopg, redis-py and boto3 (about 25 MB between them) and stays small for
as long as it runs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

READS = ("migrations", "cache", "aws")


def load_workspace(config: dict[str, Any]) -> Any:
    from lomash_tasks.registry import Registry
    from lomash_tasks.workspace import Workspace

    return Workspace.locate(config["workspace"]["root"], Registry.from_mapping(config))


def _read(what: Callable[[], Any]) -> tuple[Any, str]:
    from lomash_tasks.errors import UserError

    try:
        return what(), ""
    except UserError as err:
        return None, err.text
    except Exception as err:
        return None, f"{type(err).__name__}: {err}"


def probe(config: dict[str, Any], reads: set[str]) -> dict[str, Any]:
    from lomash_tasks import settings

    ws = load_workspace(config)

    def migrations() -> list[dict[str, Any]]:
        from lomash_tasks.db import migrate

        migrate.check_reachable(ws)
        return [state.as_dict() for state in migrate.status(ws)]

    def cache() -> list[dict[str, Any]]:
        from lomash_tasks import cache as cache_ops

        limit = settings.CacheSettings.load(config).timeout
        return [row.as_dict() for row in cache_ops.stats(ws, timeout=limit)]

    def aws() -> dict[str, Any]:
        from lomash_tasks import aws as aws_ops

        return aws_ops.status(ws, settings.AwsSettings.load(config).secret_prefix).data()

    out: dict[str, Any] = {}
    for key, read in (("migrations", migrations), ("cache", cache), ("aws", aws)):
        if key in reads:
            out[key], out[f"{key}_error"] = _read(read)
    return out


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    print(json.dumps(probe(config, set(argv[1:]) & set(READS)), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
