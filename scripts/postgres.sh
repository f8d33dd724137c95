#!/usr/bin/env bash
# A throw-away PostgreSQL cluster on 127.0.0.1 for the test suite and the bench scripts.
#
#   eval "$(bash scripts/postgres.sh start)"   # prints export lines: TOKENCONFORM_TEST_POSTGRES_URL, TOKENCONFORM_PG_DIR
#   bash scripts/postgres.sh stop              # stops the cluster in $TOKENCONFORM_PG_DIR and removes it
#
# start installs Debian's `postgresql` package only when no server binaries are found (CI runs as
# root on Debian), then initdb's a new cluster in a temporary directory owned by the `postgres`
# user (the server refuses to run as root), listening on 127.0.0.1 only, on port 5432 if it is free
# and a random free port otherwise. The Debian-managed clusters (pg_lsclusters) are never touched.
# Authentication is scram-sha-256 with a random password for the role `tokenconform`, which may
# create databases (each test makes its own schema or database and drops it).
# Everything that is not an export line goes to stderr, so `eval "$(... start)"` is safe.
set -euo pipefail

PG_USER=postgres
ROLE=tokenconform

log() { echo "postgres.sh: $*" >&2; }

as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u "$PG_USER" -- "$@"
    else
        "$@"  # not root: run as ourselves (the cluster then belongs to this user)
    fi
}

find_bindir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then
        echo "$dir"
        return
    fi
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    fi
}

port_free() {  # port_free PORT: nothing listens on 127.0.0.1:PORT
    python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
EOF
}

pick_port() {
    if port_free 5432; then
        echo 5432
        return
    fi
    # The kernel's choice of a free ephemeral port; it could be taken again before the server
    # binds it, in which case pg_ctl start fails and says so.
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
    local bindir
    bindir=$(find_bindir)
    if [ -z "$bindir" ]; then
        log "no PostgreSQL server binaries: installing Debian's postgresql package"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
        bindir=$(find_bindir)
        [ -n "$bindir" ] || { log "postgresql installed but no initdb found"; exit 1; }
    fi
    if [ "$(id -u)" = 0 ] && ! id "$PG_USER" >/dev/null 2>&1; then
        log "no '$PG_USER' user to run the server as (the server refuses to run as root)"
        exit 1
    fi

    local dir port password
    dir=$(mktemp -d /tmp/tokenconform-pg.XXXXXX)
    # A start that fails half-way leaves no server and no directory behind.
    trap 'TOKENCONFORM_PG_DIR="'"$dir"'" stop; exit 1' ERR
    chmod 755 "$dir"
    [ "$(id -u)" = 0 ] && chown "$PG_USER" "$dir"
    password=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
    # The superuser's own connections use the Unix socket in $dir with peer authentication; TCP
    # needs the password. The password file is readable by the server user only, and deleted.
    as_postgres bash -c "umask 077; printf '%s\n' '$password' > '$dir/pw'"
    as_postgres "$bindir/initdb" -D "$dir/data" --username="$PG_USER" --auth-local=peer \
        --auth-host=scram-sha-256 --pwfile="$dir/pw" --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$dir/pw"

    port=$(pick_port)
    # max_connections: tests run in parallel (-n 2), each store holds a small pool, and the
    # multi-process tests and benches run several servers with one pool each.
    as_postgres "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300" start >&2 || {
        log "the server did not start; its log:"
        cat "$dir/server.log" >&2 || true
        TOKENCONFORM_PG_DIR="$dir" stop
        exit 1
    }
    as_postgres "$bindir/psql" -h "$dir" -p "$port" -U "$PG_USER" -d postgres -v ON_ERROR_STOP=1 -q \
        -c "CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$password'" \
        -c "CREATE DATABASE $ROLE OWNER $ROLE" >&2
    trap - ERR
    log "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, data in $dir"
    echo "export TOKENCONFORM_PG_DIR='$dir'"
    echo "export TOKENCONFORM_TEST_POSTGRES_URL='postgresql://$ROLE:$password@127.0.0.1:$port/$ROLE'"
}

stop() {
    local dir=${TOKENCONFORM_PG_DIR:-}
    if [ -z "$dir" ] || [ ! -d "$dir" ]; then
        log "stop: TOKENCONFORM_PG_DIR does not name a cluster directory; nothing to stop"
        return 0
    fi
    case "$dir" in
        /tmp/tokenconform-pg.*) ;;
        *) log "stop: refusing to remove $dir (not made by start)"; exit 1 ;;
    esac
    local bindir
    bindir=$(find_bindir)
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_postgres "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >&2 || true
    fi
    rm -rf "$dir"
    log "stopped and removed $dir"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
