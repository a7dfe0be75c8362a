"""Staging and production: targets, SSH tunnels through a bastion (fabric), secrets (Secrets
Manager), migrations as ECS one-off tasks (boto3), the production guard and the audit log.

    targets.load(config, name)        -> Target           (`--target NAME`; `local` is None)
    session.opened(ws, target, ...)   -> a Workspace whose Postgres is the target's, for the
                                         duration of a `with` block (the tunnel always closes)
    ecs.migrate(target, services, ...)-> [TaskResult]     one `run_task` per service
    audit.record(ws, ...)                                 who / what / when / result, JSON lines
"""
