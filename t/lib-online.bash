# Helpers for the online store tests (t3xxx): a private Redis server, the
# `ev` test view, and the reference model (online_reference.py).
#
#   load test_helper
#   load lib-online
#
# A behaviour is tested against both online stores by writing its body
# once and calling it from one @test per backend:
#
#   nulls() { ...; }
#   @test "get-online: ... (sqlite)" { use_backend sqlite; nulls; }
#   @test "get-online: ... (redis)" { use_backend redis; nulls; }
#
# `use_backend redis` starts a redis-server of the test's own (skipping the
# test when redis-server is not installed) and points FS_REDIS_URL at it;
# teardown stops it.

ONLINE_REFERENCE="$BATS_TEST_DIRNAME/online_reference.py"

# The features of the `ev` view, as online_reference.py wants them.
EV_FEATURES=f_i32:int32,f_i64:int64,f_f32:float32,f_f64:float64,f_str:string,f_bool:bool,f_ts:timestamp

# The python3 interpreter itself: a version manager's shim (pyenv) costs
# half a second a call; resolved once per run of bats.
if [ -z "${FS_TEST_PYTHON:-}" ]; then
    if [ -s "$BATS_RUN_TMPDIR/fs-test-python" ]; then
        FS_TEST_PYTHON=$(cat "$BATS_RUN_TMPDIR/fs-test-python")
    else
        FS_TEST_PYTHON=$(python3 -c 'import sys; print(sys.executable)')
        echo "$FS_TEST_PYTHON" > "$BATS_RUN_TMPDIR/fs-test-python.$$" &&
            mv "$BATS_RUN_TMPDIR/fs-test-python.$$" "$BATS_RUN_TMPDIR/fs-test-python"
    fi
fi

# Run the reference model (-S: the standard library is all it needs).
ref() { "$FS_TEST_PYTHON" -S "$ONLINE_REFERENCE" "$@"; }

# The reference with the `ev` view's definition (see ev_repo): `ref_ev
# expect --step CSV START END... [-e KEY=VAL...] [--all-keys ...]`.
ref_ev() {
    local cmd=$1
    shift
    ref "$cmd" --view ev --key "k_id:${EV_KEY_TYPE:-int64}" --features "$EV_FEATURES" \
        --map f64_raw=f_f64 --ttl "${EV_TTL:-0}" "$@"
}

# Run the test against backend $1: sqlite (the default store) or redis.
use_backend() {
    BACKEND=$1
    case $1 in
    sqlite) unset FS_REDIS_URL ;;
    redis) start_redis ;;
    *) fail "unknown backend '$1'" ;;
    esac
}

# A free loopback TCP port (the kernel picks it).
free_port() {
    "$FS_TEST_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

redis_cli() { redis-cli -p "$REDIS_PORT" "$@"; }

# Start a private redis-server (no persistence) and export FS_REDIS_URL.
start_redis() {
    local try i
    command -v redis-server > /dev/null || skip "redis-server is not installed"
    command -v redis-cli > /dev/null || skip "redis-cli is not installed"
    for try in 1 2 3; do
        REDIS_PORT=$(free_port)
        redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
            --dir "$BATS_TEST_TMPDIR" > "$BATS_TEST_TMPDIR/redis.log" 2>&1 3>&- &
        REDIS_PID=$!
        for i in $(seq 100); do
            if [ "$(redis_cli ping 2> /dev/null)" = PONG ]; then
                export FS_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
                return 0
            fi
            kill -0 "$REDIS_PID" 2> /dev/null || break
            sleep 0.05
        done
        stop_redis
    done
    cat "$BATS_TEST_TMPDIR/redis.log" >&2
    fail "cannot start redis-server"
}

stop_redis() {
    [ -n "${REDIS_PID:-}" ] || return 0
    kill "$REDIS_PID" 2> /dev/null || true
    wait "$REDIS_PID" 2> /dev/null || true
    REDIS_PID=
}

# Empty the online store of the current backend (between the rounds of a
# test): redis FLUSHALL, or the SQLite file.
online_wipe() {
    if [ "$BACKEND" = redis ]; then
        redis_cli flushall > /dev/null
    else
        rm -f .fs/online.db .fs/online.db-wal .fs/online.db-shm
    fi
}

# Remember a background process started by the test; teardown kills it.
track_pid() {
    echo "$1" >> "$BATS_TEST_TMPDIR/pids"
}

teardown() {
    local pid
    if [ -f "$BATS_TEST_TMPDIR/pids" ]; then
        while read -r pid; do
            kill -9 "$pid" 2> /dev/null || true
            wait "$pid" 2> /dev/null || true
        done < "$BATS_TEST_TMPDIR/pids"
    fi
    stop_redis
}

# A repo holding only the `ev` test view: entity k (join key k_id, of type
# $1: int64 or string), a csv source data/events.csv (event_ts, created_ts,
# field_mapping f64_raw -> f_f64), ttl $2 (default 0) and one feature of
# each type. Applied; cwd inside. Sets EV_KEY_TYPE and EV_TTL for ref_ev.
ev_repo() {
    EV_KEY_TYPE=${1:-int64}
    EV_TTL=${2:-0}
    init_repo
    git rm -q features/driver.yaml data/driver_stats.csv
    mkdir -p features data
    cat > features/ev.yaml <<EOF
kind: entity
name: k
join_key: k_id
type: $EV_KEY_TYPE
---
kind: source
name: events
type: csv
path: data/events.csv
timestamp_field: event_ts
created_timestamp_field: created_ts
field_mapping: {f64_raw: f_f64}
---
kind: feature_view
name: ev
entities: [k]
source: events
ttl: ${EV_TTL}s
features:
  - {name: f_i32, type: int32}
  - {name: f_i64, type: int64}
  - {name: f_f32, type: float32}
  - {name: f_f64, type: float64}
  - {name: f_str, type: string}
  - {name: f_bool, type: bool}
  - {name: f_ts, type: timestamp}
EOF
    echo "k_id,event_ts,created_ts,f_i32,f_i64,f_f32,f64_raw,f_str,f_bool,f_ts,note" > data/events.csv
    "$FS" apply -q -m "ev test view"
}

# check_online LABEL [--extra KEY] STEPS...: `fs get-online -f ev --json`
# for every key of the CSVs of STEPS (--step CSV START END ...; and KEY)
# must equal the reference after those materialization windows. LABEL
# names the case in failure messages. Leaves the entity rows in ENT (as
# `-e` arguments) and the reference's stats.json: rows_read and keys of
# the last window, stored_keys.
check_online() {
    local label=$1 line
    shift
    ref_ev expect --all-keys --entities-out entities.txt --stats-out stats.json "$@" \
        > expected.json || fail "$label: the reference failed"
    ENT=()
    while IFS= read -r line; do
        ENT+=(-e "$line")
    done < entities.txt
    "$FS" get-online -f ev --json "${ENT[@]}" > actual.json ||
        fail "$label: fs get-online failed"
    run ref compare actual.json expected.json
    [ "$status" -eq 0 ] || fail "$label: fs get-online differs from the reference: $output"
}

# The last_end of view $1 from `fs status --json` ("null" when none).
last_end() {
    "$FS" status --json | jq -r --arg v "$1" '.views[] | select(.name == $v) | .last_end'
}

# The number of keys of view $1 from `fs status --json`.
status_keys() {
    "$FS" status --json | jq -r --arg v "$1" '.views[] | select(.name == $v) | .keys'
}

# Field $2 of the summary of view $1 in the `--json` output of a
# materialize run held in $output.
summary_field() {
    jq -r --arg v "$1" --arg f "$2" '.views[] | select(.view == $v) | .[$f]' <<< "$output"
}

# Field $1 of the reference's stats.json (see check_online).
ref_stat() {
    jq -r --arg f "$1" '.[$f]' stats.json
}
