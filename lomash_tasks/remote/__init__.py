"""Staging and production: targets, SSH tunnels through a bastion (fabric), secrets (Secrets
Manager), migrations as ECS one-off tasks (boto3), the production guard and the audit log.

    targets.py   the typed, validated `targets:` config     targets.load(config, name, registry)
    credentials.py each service's DATABASE_URL (masked)    credentials.database_urls(target, ...)
    tunnel.py    the one place that uses fabric             tunnel.opened(hop, host, port)
    session.py   a Workspace pointed at a target's Postgres session.opened(ws, target, services)
    ecs.py       one run_task per service, watched         ecs.run(target, services, on_line)
    guard.py     production needs --yes in CI, else the typed name
    audit.py     who / what / when / result as JSON lines in .lomash/remote-audit.log
    awscalls.py  botocore failures (expired credentials, ...) as one paragraph
    ops.py       what the db and aws tasks call with --target
"""
