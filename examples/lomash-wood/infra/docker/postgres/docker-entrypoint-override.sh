#!/bin/sh
# Starts the official entrypoint with the development config appended to postgresql.conf.
# The official entrypoint runs /docker-entrypoint-initdb.d/*.sql (our init.sql) on the first
# start only, as: psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB".
set -euf   # -f: no globbing of the settings (listen_addresses=*)

DEV_CONF=/etc/postgresql/postgresql.dev.conf

if [ "${1:-postgres}" = "postgres" ]; then
  shift || true
  # -c config_file would replace the generated postgresql.conf; include the dev settings instead
  # by passing each one as a -c flag, so a fresh and an existing data directory behave the same.
  set -- postgres $(grep -Ev '^\s*(#|$)' "$DEV_CONF" | sed -E "s/\s*#.*$//; s/\s*=\s*/=/; s/'//g; s/^/-c /") "$@"
fi

exec docker-entrypoint.sh "$@"
