#!/usr/bin/env bash
# Shared helpers for Milepost's ops scripts. Source it; it only defines
# functions and variables (no side effects besides those).
#
# Layout (all project-local, git-ignored):
#   .venv/                      virtualenv (+ .installed-<sha256 of pyproject.toml> stamp)
#   .local/pg/{data,run,log}    PostgreSQL cluster, socket dir, server log
#   .local/redis/               Redis dir, pidfile, log
#   .local/logs/                logs of `make run` processes
#   .local/env.sh               exports DATABASE_URL, DATABASE_OWNER_URL, REDIS_URL

MILEPOST_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
MILEPOST_LOCAL="$MILEPOST_ROOT/.local"
MILEPOST_VENV="$MILEPOST_ROOT/.venv"
MILEPOST_PG_PORT="${MILEPOST_PG_PORT:-54329}"
MILEPOST_REDIS_PORT="${MILEPOST_REDIS_PORT:-63799}"
MILEPOST_PG_USER="milepost" # system user that owns the cluster when we run as root
MILEPOST_REDIS_DIR="$MILEPOST_LOCAL/redis"
MILEPOST_REDIS_PIDFILE="$MILEPOST_REDIS_DIR/redis.pid"
MILEPOST_REDIS_LOG="$MILEPOST_REDIS_DIR/redis.log"
MILEPOST_LOCAL_DATABASE_URL="postgres://milepost_app:milepost_app@127.0.0.1:${MILEPOST_PG_PORT}/milepost"
MILEPOST_LOCAL_DATABASE_OWNER_URL="postgres://milepost_owner:milepost_owner@127.0.0.1:${MILEPOST_PG_PORT}/milepost"
MILEPOST_LOCAL_REDIS_URL="redis://127.0.0.1:${MILEPOST_REDIS_PORT}/0"
# Set to 1 by ensure_postgres / ensure_redis when *this process* started the server.
MILEPOST_PG_STARTED_HERE="${MILEPOST_PG_STARTED_HERE:-0}"
MILEPOST_REDIS_STARTED_HERE="${MILEPOST_REDIS_STARTED_HERE:-0}"

export PIP_DISABLE_PIP_VERSION_CHECK=1

# ---------------------------------------------------------------- messages
mp_log() { printf '==> %s\n' "$*" >&2; }
mp_warn() { printf 'WARNING: %s\n' "$*" >&2; }
mp_die() {
    printf 'ERROR: %s\n' "$*" >&2
    exit 1
}
mp_is_root() { [[ "$(id -u)" -eq 0 ]]; }

# Show the tail of a log file (used when a server fails to come up).
mp_show_log() {
    local file="$1"
    if [[ -f "$file" ]]; then
        printf -- '----- last 20 lines of %s -----\n' "$file" >&2
        tail -n 20 "$file" >&2 || true
        printf -- '-----\n' >&2
    else
        printf '(no log file at %s)\n' "$file" >&2
    fi
}

# ---------------------------------------------------------------- apt
MILEPOST_APT_UPDATED="${MILEPOST_APT_UPDATED:-0}"
mp_apt_install() {
    mp_is_root || mp_die "need root to apt-get install $*"
    command -v apt-get >/dev/null 2>&1 || mp_die "apt-get not found; install manually: $*"
    local aptopts=(-o DPkg::Lock::Timeout=300 -q)
    if [[ "$MILEPOST_APT_UPDATED" != 1 ]]; then
        mp_log "apt-get update"
        apt-get "${aptopts[@]}" update >/dev/null || mp_die "apt-get update failed"
        MILEPOST_APT_UPDATED=1
        export MILEPOST_APT_UPDATED
    fi
    mp_log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get "${aptopts[@]}" install -y --no-install-recommends "$@" >/dev/null ||
        mp_die "apt-get install $* failed"
}

# ---------------------------------------------------------------- venv
mp_ensure_venv() {
    local py="$MILEPOST_VENV/bin/python"
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        if mp_is_root; then
            mp_apt_install python3-venv
        elif [[ ! -x "$py" ]]; then
            mp_die "python3's venv/ensurepip module is missing: install it (Debian: sudo apt-get install python3-venv)"
        fi
    fi
    if [[ ! -x "$py" ]] || ! "$py" -c 'import sys' >/dev/null 2>&1; then
        mp_log "creating virtualenv .venv"
        rm -rf "$MILEPOST_VENV"
        python3 -m venv "$MILEPOST_VENV" || mp_die "python3 -m venv .venv failed"
    fi
    local sha stamp
    sha="$(sha256sum "$MILEPOST_ROOT/pyproject.toml" | cut -d' ' -f1)"
    stamp="$MILEPOST_VENV/.installed-$sha"
    if [[ ! -f "$stamp" ]]; then
        mp_log "pip install -e '.[dev]' (pyproject.toml changed or first run)"
        # Quiet: pip's and setuptools' chatter goes to a log that is shown only on failure.
        local piplog="$MILEPOST_LOCAL/pip-install.log"
        mkdir -p "$MILEPOST_LOCAL"
        if ! (cd "$MILEPOST_ROOT" && "$py" -m pip install -q -e '.[dev]') >"$piplog" 2>&1; then
            cat "$piplog" >&2
            mp_die "pip install -e '.[dev]' failed (output above, also in .local/pip-install.log)"
        fi
        rm -f "$MILEPOST_VENV"/.installed-*
        : >"$stamp"
    fi
}

# ---------------------------------------------------------------- PostgreSQL
# Directory holding data/, run/, log/. Normally .local/pg. When we must run the
# server as the `milepost` system user (we are root) and that user cannot
# traverse the repo path (e.g. a clone under /root), fall back to a directory
# under /var/tmp derived from the repo path (deterministic, so `make stop` finds it).
mp_pg_base() {
    if [[ -n "${MILEPOST_PG_DIR:-}" ]]; then
        printf '%s\n' "$MILEPOST_PG_DIR"
        return 0
    fi
    if mp_is_root && id -u "$MILEPOST_PG_USER" >/dev/null 2>&1 &&
        ! runuser -u "$MILEPOST_PG_USER" -- test -x "$MILEPOST_ROOT" 2>/dev/null; then
        local h
        h="$(printf '%s' "$MILEPOST_ROOT" | sha256sum | cut -c1-12)"
        printf '/var/tmp/milepost-pg-%s\n' "$h"
        return 0
    fi
    printf '%s\n' "$MILEPOST_LOCAL/pg"
}

# Print the bindir holding initdb + pg_ctl, or nothing.
mp_find_pg_bindir() {
    local d
    if command -v pg_config >/dev/null 2>&1; then
        d="$(pg_config --bindir 2>/dev/null || true)"
        if [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
            printf '%s\n' "$d"
            return 0
        fi
    fi
    d="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1 || true)"
    if [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
        printf '%s\n' "$d"
        return 0
    fi
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    fi
}

# Run a PostgreSQL server-side binary (initdb, pg_ctl) as the cluster owner.
mp_pg_as_owner() {
    local base
    base="$(mp_pg_base)"
    if mp_is_root; then
        (cd "$base" && runuser -u "$MILEPOST_PG_USER" -- "$@")
    else
        (cd "$base" && "$@")
    fi
}

mp_pg_tools() {
    # Sets MP_PG_BIN, MP_PSQL, MP_PG_ISREADY for the current shell.
    MP_PG_BIN="$(mp_find_pg_bindir)"
    if [[ -z "$MP_PG_BIN" ]]; then
        if mp_is_root; then
            mp_apt_install postgresql
            MP_PG_BIN="$(mp_find_pg_bindir)"
        fi
        [[ -n "$MP_PG_BIN" ]] || mp_die "PostgreSQL server binaries (initdb, pg_ctl) not found.
  Install PostgreSQL (Debian/Ubuntu: sudo apt-get install postgresql; macOS: brew install postgresql),
  or set DATABASE_URL (and DATABASE_OWNER_URL) to an existing database."
    fi
    if [[ -x "$MP_PG_BIN/psql" ]]; then
        MP_PSQL="$MP_PG_BIN/psql"
    else
        MP_PSQL="$(command -v psql || true)"
        [[ -n "$MP_PSQL" ]] || mp_die "psql not found next to $MP_PG_BIN/initdb nor on PATH"
    fi
    if [[ -x "$MP_PG_BIN/pg_isready" ]]; then
        MP_PG_ISREADY="$MP_PG_BIN/pg_isready"
    else
        MP_PG_ISREADY="$(command -v pg_isready || true)"
    fi
}

mp_pg_ready() {
    if [[ -n "${MP_PG_ISREADY:-}" ]]; then
        "$MP_PG_ISREADY" -q -h 127.0.0.1 -p "$MILEPOST_PG_PORT" -t 2 >/dev/null 2>&1
    else
        PGCONNECT_TIMEOUT=2 "$MP_PSQL" -h 127.0.0.1 -p "$MILEPOST_PG_PORT" -U postgres -d postgres \
            -tAc 'select 1' >/dev/null 2>&1
    fi
}

mp_pg_running() {
    # Is *our* cluster (the data dir) running?
    local base
    base="$(mp_pg_base)"
    [[ -f "$base/data/PG_VERSION" ]] || return 1
    [[ -n "${MP_PG_BIN:-}" ]] || return 1
    mp_pg_as_owner "$MP_PG_BIN/pg_ctl" -D "$base/data" status >/dev/null 2>&1
}

mp_psql_super() {
    PGCONNECT_TIMEOUT=5 "$MP_PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$MILEPOST_PG_PORT" \
        -U postgres "$@"
}

mp_ensure_postgres() {
    mp_pg_tools
    if mp_is_root; then
        command -v runuser >/dev/null 2>&1 || mp_die "runuser not found (util-linux); needed to run PostgreSQL as a non-root user"
        if ! id -u "$MILEPOST_PG_USER" >/dev/null 2>&1; then
            mp_log "creating system user $MILEPOST_PG_USER (owns the project-local PostgreSQL cluster)"
            useradd --system --no-create-home --shell /usr/sbin/nologin "$MILEPOST_PG_USER" ||
                mp_die "useradd $MILEPOST_PG_USER failed"
        fi
    fi
    local base data sock logdir logfile
    base="$(mp_pg_base)"
    if mp_is_root && [[ "$base" != "$MILEPOST_LOCAL/pg" && -z "${MILEPOST_PG_DIR:-}" ]]; then
        mp_warn "user '$MILEPOST_PG_USER' cannot traverse $MILEPOST_ROOT (a parent directory lacks o+x);"
        mp_warn "using $base for the PostgreSQL cluster instead of .local/pg"
    fi
    data="$base/data"
    sock="$base/run"
    logdir="$base/log"
    logfile="$logdir/postgres.log"
    mkdir -p "$base" "$sock" "$logdir"
    if mp_is_root; then
        chown "$MILEPOST_PG_USER:" "$base" "$sock" "$logdir"
        [[ ! -e "$logfile" ]] || chown "$MILEPOST_PG_USER:" "$logfile"
        runuser -u "$MILEPOST_PG_USER" -- test -w "$base" ||
            mp_die "user '$MILEPOST_PG_USER' cannot write $base: make the path traversable (chmod o+x on its parents) or set MILEPOST_PG_DIR"
    fi
    # Sized for one small machine running everything (2 cores, a few GiB for PostgreSQL), as
    # docker-compose's postgres: initdb's 128 MB of shared buffers and 1 GB of WAL between
    # checkpoints suit a laptop's toy data, not a tenant of a million shipments (the sweep
    # benchmark's writes waited on checkpoints started by its own build).
    MP_PG_TUNING="-c shared_buffers=512MB -c max_wal_size=4GB -c checkpoint_timeout=15min"
    MP_PG_TUNING+=" -c effective_cache_size=4GB"
    # Unix socket paths are limited to ~107 bytes; disable the socket if ours is too long
    # (everything connects over TCP anyway).
    local sockopt="-k $sock"
    if ((${#sock} > 90)); then sockopt="-c unix_socket_directories=''"; fi
    [[ "$sock" != *' '* ]] || sockopt="-c unix_socket_directories=''"

    if [[ ! -f "$data/PG_VERSION" ]]; then
        mp_log "initdb $data"
        rm -rf "$data"
        local locale=C
        if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then locale=C.UTF-8; fi
        if ! mp_pg_as_owner "$MP_PG_BIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 \
            --locale="$locale" >"$logdir/initdb.log" 2>&1; then
            if [[ "$locale" != C ]] && mp_pg_as_owner "$MP_PG_BIN/initdb" -D "$data" -U postgres \
                --auth=trust -E UTF8 --locale=C >"$logdir/initdb.log" 2>&1; then
                :
            else
                mp_show_log "$logdir/initdb.log"
                mp_die "initdb failed"
            fi
        fi
    fi

    if mp_pg_running; then
        :
    else
        if mp_pg_ready; then
            mp_die "something else is already listening on 127.0.0.1:$MILEPOST_PG_PORT;
  set MILEPOST_PG_PORT to a free port (or DATABASE_URL to use an existing database)"
        fi
        mp_log "starting PostgreSQL on 127.0.0.1:$MILEPOST_PG_PORT ($data)"
        if ! mp_pg_as_owner "$MP_PG_BIN/pg_ctl" -D "$data" -l "$logfile" -w -t 60 \
            -o "-p $MILEPOST_PG_PORT $sockopt -c listen_addresses=127.0.0.1 $MP_PG_TUNING" start >/dev/null; then
            mp_show_log "$logfile"
            mp_die "PostgreSQL failed to start (port $MILEPOST_PG_PORT)"
        fi
        MILEPOST_PG_STARTED_HERE=1
    fi
    local i
    for ((i = 0; i < 60; i++)); do
        mp_pg_ready && break
        sleep 0.5
    done
    if ! mp_pg_ready; then
        mp_show_log "$logfile"
        mp_die "PostgreSQL on 127.0.0.1:$MILEPOST_PG_PORT did not become ready within 30s"
    fi

    # Roles and database (idempotent; attributes re-asserted every run).
    mp_psql_super -d postgres <<'SQL' >/dev/null || mp_die "creating PostgreSQL roles failed"
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'milepost_owner') THEN
    CREATE ROLE milepost_owner LOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'milepost_app') THEN
    CREATE ROLE milepost_app LOGIN;
  END IF;
END
$$;
ALTER ROLE milepost_owner LOGIN CREATEDB PASSWORD 'milepost_owner';
-- The benchmarks start their measurements from a checkpoint (not inside one their build began).
-- (Quietly: a repeated GRANT of a role notices that it is granted already.)
SET client_min_messages = warning;
GRANT pg_checkpoint TO milepost_owner;
ALTER ROLE milepost_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD 'milepost_app';
SQL
    if [[ "$(mp_psql_super -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'milepost'")" != 1 ]]; then
        mp_psql_super -d postgres -c 'CREATE DATABASE milepost OWNER milepost_owner' >/dev/null ||
            mp_die "CREATE DATABASE milepost failed"
    fi
    mp_psql_super -d milepost <<'SQL' >/dev/null || mp_die "granting privileges on database milepost failed"
ALTER DATABASE milepost OWNER TO milepost_owner;
ALTER SCHEMA public OWNER TO milepost_owner;
GRANT CONNECT, TEMPORARY ON DATABASE milepost TO milepost_app;
GRANT USAGE ON SCHEMA public TO milepost_app;
SQL
    # Other backends' query text is not for the app role: every backend of one role sees the
    # others' current statements, literals included (session keys, webhook tokens: Django binds
    # parameters client-side). Per database, so template1 too (test databases copy it).
    local db
    for db in milepost template1; do
        mp_psql_super -d "$db" <<'SQL' >/dev/null || mp_die "hiding query texts in database $db failed"
REVOKE SELECT ON pg_catalog.pg_stat_activity FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION pg_catalog.pg_stat_get_activity(integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION pg_catalog.pg_stat_get_backend_activity(integer) FROM PUBLIC;
SQL
    done
}

mp_stop_postgres() {
    local base data
    base="$(mp_pg_base)"
    data="$base/data"
    [[ -f "$data/PG_VERSION" ]] || return 0
    MP_PG_BIN="${MP_PG_BIN:-$(mp_find_pg_bindir)}"
    [[ -n "$MP_PG_BIN" ]] || return 0
    if mp_pg_running; then
        mp_log "stopping project-local PostgreSQL (port $MILEPOST_PG_PORT)"
        mp_pg_as_owner "$MP_PG_BIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null ||
            mp_warn "pg_ctl stop failed"
    fi
}

# ---------------------------------------------------------------- Redis
mp_redis_ping() {
    if command -v redis-cli >/dev/null 2>&1; then
        [[ "$(redis-cli -h 127.0.0.1 -p "$MILEPOST_REDIS_PORT" ping 2>/dev/null)" == PONG ]]
    else
        # no redis-cli: speak RESP over bash's /dev/tcp
        local reply
        reply="$(
            exec 2>/dev/null
            exec 3<>"/dev/tcp/127.0.0.1/$MILEPOST_REDIS_PORT" || exit 1
            printf 'PING\r\n' >&3
            IFS= read -r -t 2 line <&3 || exit 1
            printf '%s' "$line"
        )" || return 1
        [[ "$reply" == +PONG* ]]
    fi
}

mp_ensure_redis() {
    if mp_redis_ping; then
        return 0
    fi
    if ! command -v redis-server >/dev/null 2>&1; then
        if mp_is_root; then
            mp_apt_install redis-server
        fi
        command -v redis-server >/dev/null 2>&1 || mp_die "redis-server not found.
  Install Redis (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis),
  or set REDIS_URL to an existing Redis."
    fi
    mkdir -p "$MILEPOST_REDIS_DIR"
    mp_log "starting Redis on 127.0.0.1:$MILEPOST_REDIS_PORT"
    if ! redis-server --port "$MILEPOST_REDIS_PORT" --bind 127.0.0.1 --daemonize yes \
        --dir "$MILEPOST_REDIS_DIR" --pidfile "$MILEPOST_REDIS_PIDFILE" \
        --logfile "$MILEPOST_REDIS_LOG" --save "" --appendonly no >/dev/null; then
        mp_show_log "$MILEPOST_REDIS_LOG"
        mp_die "redis-server failed to start"
    fi
    local i
    for ((i = 0; i < 60; i++)); do
        mp_redis_ping && break
        sleep 0.5
    done
    if ! mp_redis_ping; then
        mp_show_log "$MILEPOST_REDIS_LOG"
        mp_die "Redis on 127.0.0.1:$MILEPOST_REDIS_PORT did not answer PING within 30s"
    fi
    MILEPOST_REDIS_STARTED_HERE=1
}

mp_stop_redis() {
    [[ -f "$MILEPOST_REDIS_PIDFILE" ]] || return 0
    local pid
    pid="$(cat "$MILEPOST_REDIS_PIDFILE" 2>/dev/null || true)"
    if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null ||
        [[ "$(cat "/proc/$pid/comm" 2>/dev/null || echo redis)" != redis* ]]; then
        rm -f "$MILEPOST_REDIS_PIDFILE"
        return 0
    fi
    mp_log "stopping project-local Redis (port $MILEPOST_REDIS_PORT)"
    if command -v redis-cli >/dev/null 2>&1; then
        redis-cli -h 127.0.0.1 -p "$MILEPOST_REDIS_PORT" shutdown nosave >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    else
        kill "$pid" 2>/dev/null || true
    fi
    local i
    for ((i = 0; i < 40; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    rm -f "$MILEPOST_REDIS_PIDFILE"
}

# ---------------------------------------------------------------- orchestration
# Bring up venv + services and export DATABASE_URL, DATABASE_OWNER_URL, REDIS_URL.
# A URL equal to the project-local default (e.g. from `source .local/env.sh`)
# still makes us ensure the local server is up.
mp_bootstrap() {
    mkdir -p "$MILEPOST_LOCAL"
    mp_ensure_venv

    if [[ -n "${DATABASE_URL:-}" && "$DATABASE_URL" != "$MILEPOST_LOCAL_DATABASE_URL" ]]; then
        export DATABASE_URL
        export DATABASE_OWNER_URL="${DATABASE_OWNER_URL:-$DATABASE_URL}"
    else
        mp_ensure_postgres
        export DATABASE_URL="$MILEPOST_LOCAL_DATABASE_URL"
        export DATABASE_OWNER_URL="$MILEPOST_LOCAL_DATABASE_OWNER_URL"
    fi

    if [[ -n "${REDIS_URL:-}" && "$REDIS_URL" != "$MILEPOST_LOCAL_REDIS_URL" ]]; then
        export REDIS_URL
    else
        mp_ensure_redis
        export REDIS_URL="$MILEPOST_LOCAL_REDIS_URL"
    fi

    mp_write_env
}

mp_write_env() {
    local tmp="$MILEPOST_LOCAL/env.sh.tmp.$$"
    {
        printf '# Written by scripts/bootstrap.sh; "source .local/env.sh" to use the dev services.\n'
        printf 'export DATABASE_URL=%q\n' "$DATABASE_URL"
        printf 'export DATABASE_OWNER_URL=%q\n' "$DATABASE_OWNER_URL"
        printf 'export REDIS_URL=%q\n' "$REDIS_URL"
    } >"$tmp"
    mv -f "$tmp" "$MILEPOST_LOCAL/env.sh"
}

# Stop only what this process started (for EXIT traps of test/soak/bench/run).
mp_stop_started_here() {
    set +e # best effort: runs from EXIT traps
    if [[ "$MILEPOST_PG_STARTED_HERE" == 1 ]]; then
        MILEPOST_PG_STARTED_HERE=0
        mp_stop_postgres
    fi
    if [[ "$MILEPOST_REDIS_STARTED_HERE" == 1 ]]; then
        MILEPOST_REDIS_STARTED_HERE=0
        mp_stop_redis
    fi
}
