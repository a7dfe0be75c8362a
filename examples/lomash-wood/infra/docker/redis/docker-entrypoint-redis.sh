#!/bin/sh
# Writes a runtime copy of redis.conf with requirepass set from $REDIS_PASSWORD, then starts Redis.
set -eu

: "${REDIS_PASSWORD:?REDIS_PASSWORD must be set (see the root .env)}"
SRC=/usr/local/etc/redis/redis.conf
RUNTIME=/tmp/redis.runtime.conf

if [ "${1:-}" = "redis-server" ]; then
  grep -v '^requirepass' "$SRC" > "$RUNTIME"
  printf 'requirepass "%s"\n' "$REDIS_PASSWORD" >> "$RUNTIME"
  chmod 0600 "$RUNTIME"
  shift
  [ "${1:-}" = "$SRC" ] && shift
  set -- redis-server "$RUNTIME" "$@"
fi

exec docker-entrypoint.sh "$@"
