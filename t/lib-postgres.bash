# A private PostgreSQL cluster for the tests of one file: call start_postgres
# in setup_file and stop_postgres in teardown_file. initdb into a temporary
# directory, a free loopback port, password authentication over TCP (user
# fs, password fs-secret), trust on the cluster's own socket for psql_fs.
# Exports PG_DSN (a test's setup sets FS_POSTGRES_DSN to it: common_setup
# unsets it), PG_PORT and PG_DIR. As root the cluster runs as
# the postgres user (initdb refuses root).

pg_bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2> /dev/null | sort -V | tail -n 1)
    [ -n "$d" ] && echo "$d"
}

pg_as() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start_postgres() {
    local bin port try
    bin=$(pg_bindir) || skip "the PostgreSQL server is not installed"
    [ -x "$bin/initdb" ] || skip "the PostgreSQL server is not installed"
    PG_BIN=$bin
    PG_DIR=$(mktemp -d /tmp/fs-pg.XXXXXX)
    chmod 755 "$PG_DIR"
    echo fs-secret > "$PG_DIR/pw"
    [ "$(id -u)" = 0 ] && chown -R postgres "$PG_DIR"
    if ! pg_as "$bin/initdb" -D "$PG_DIR/data" -U fs --pwfile="$PG_DIR/pw" -E UTF8 \
        --auth-local=trust --auth-host=scram-sha-256 > "$PG_DIR/initdb.log" 2>&1; then
        cat "$PG_DIR/initdb.log" >&2
        return 1
    fi
    for try in 1 2 3; do
        port=$("${FS_TEST_PYTHON:-python3}" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        if pg_as "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
            -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off" \
            start > /dev/null 2>&1; then
            export PG_DIR PG_BIN PG_PORT=$port
            export PG_DSN="postgresql://fs:fs-secret@127.0.0.1:$port/postgres"
            return 0
        fi
    done
    cat "$PG_DIR/server.log" >&2
    return 1
}

stop_postgres() {
    [ -n "${PG_DIR:-}" ] || return 0
    pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop > /dev/null 2>&1 || true
    rm -rf "$PG_DIR"
}

# psql on the private cluster (socket, trust), quiet, stop on errors.
psql_fs() {
    psql -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U fs -d postgres "$@"
}

# setup() of a file using the cluster.
pg_setup() {
    common_setup
    export FS_POSTGRES_DSN=$PG_DSN
}
