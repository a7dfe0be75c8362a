#!/bin/sh
# The official redis image's entry point contract: redis-server as the redis user, in /data.
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
    set -- redis-server "$@"
fi
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
    find . \! -user redis -exec chown redis '{}' + 2>/dev/null || true
    for arg in "$@"; do  # a config file written by root for us must stay readable
        [ -f "$arg" ] && chown redis "$arg" 2>/dev/null || true
    done
    exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
exec "$@"
