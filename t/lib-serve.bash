# Helpers for the serve-lite tests (t4xxx): a repo with known online data,
# the server in the background on a free port, HTTP requests through curl
# on loopback, JSON checks, a private Redis server.
#
#   load test_helper
#   load lib-serve
#
#   serve_repo                  # repo, data, push view; applied, materialized
#   start_server [OPTIONS...]   # fs serve-lite --port 0 OPTIONS; sets PORT, URL
#   post /get-online-features '{"entities": ...}'   # sets $code and $body
#   assert_json "$body" '{"metadata": ...}'
#   stop_server TERM            # sets $SERVE_STATUS
#
# teardown kills what a test left running (server, redis).
#
# Starting a repo and a server takes a while, so files whose tests only
# read (or write keys of their own) share one per backend, made in
# setup_file and stopped in teardown_file:
#
#   setup_file() { shared_server sqlite; shared_server redis; }
#   teardown_file() { stop_shared_servers; }
#   @test "..." { use_server sqlite; post ...; }

# The time $1 ago ('2 hours'), whole seconds, as RFC 3339 UTC: the way the
# server prints event times.
ago() { date -u -d "-$1" +%Y-%m-%dT%H:%M:%SZ; }

# A repo from `fs init` whose driver_stats.csv holds known rows, plus a push
# source `driver_push` (batch source driver_stats) read by the view
# `driver_pushed` (same features, ttl 1h). Applied and materialized; cwd
# inside. T1 and T2 are an hour and two hours ago. Online,
# driver_hourly_stats then holds:
#   1001: conv_rate 0.5,   acc_rate 0.75, avg_daily_trips 10  at $T1
#   1002: conv_rate 0.125, acc_rate null, avg_daily_trips 20  at $T1
#   1003: conv_rate 1.5,   acc_rate 0.25, avg_daily_trips -3  at $T2
# (1001 also has an older row at $T2, which must lose).
serve_repo() {
    T1=$(ago '1 hour')
    T2=$(ago '2 hours')
    init_repo
    cat > data/driver_stats.csv <<EOF
driver_id,event_timestamp,conv_rate,acc_rate,avg_daily_trips,created
1001,$T2,0.25,0.5,7,$T2
1001,$T1,0.5,0.75,10,$T1
1002,$T1,0.125,,20,$T1
1003,$T2,1.5,0.25,-3,$T2
EOF
    cat > features/push.yaml <<'EOF'
kind: source
name: driver_push
type: push
batch_source: driver_stats
---
kind: feature_view
name: driver_pushed
entities: [driver]
source: driver_push
ttl: 1h
features:
  - {name: conv_rate, type: float64}
  - {name: acc_rate, type: float32}
  - {name: avg_daily_trips, type: int64}
EOF
    "$FS" apply -q -m "serve test data"
    "$FS" materialize-incremental -q now
}

# ---- the server ----

# Start `fs serve-lite --port 0 OPTIONS...` in the background (stdout in
# $SERVE_OUT, stderr in $SERVE_ERR); wait until it prints its address and
# /health answers 200. Sets SERVE_PID, PORT and URL.
start_server() {
    local i health dir=${BATS_TEST_TMPDIR:-$PWD}
    SERVE_OUT=$dir/serve.out
    SERVE_ERR=$dir/serve.err
    # there before the first read: the server's shell may open them later
    : > "$SERVE_OUT"
    : > "$SERVE_ERR"
    "$FS" serve-lite --port 0 "$@" > "$SERVE_OUT" 2> "$SERVE_ERR" 3>&- &
    SERVE_PID=$!
    PORT=
    for i in $(seq 200); do
        [ -n "$PORT" ] ||
            PORT=$(sed -n 's|^fs serve-lite listening on http://.*:\([0-9][0-9]*\)$|\1|p' "$SERVE_OUT")
        if [ -n "$PORT" ]; then
            URL=http://127.0.0.1:$PORT
            health=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/health") || true
            [ "$health" = 200 ] && return 0
        fi
        if ! kill -0 "$SERVE_PID" 2> /dev/null; then
            cat "$SERVE_ERR" >&2
            fail "fs serve-lite exited before it was ready"
        fi
        sleep 0.05
    done
    cat "$SERVE_OUT" "$SERVE_ERR" >&2
    fail "fs serve-lite did not become ready (port '${PORT}', /health ${health:-none})"
}

# Send signal $1 (default TERM) to the server and wait_server.
stop_server() {
    kill -s "${1:-TERM}" "$SERVE_PID"
    wait_server
}

# Wait for the server to exit (it fails the test when that takes over
# 15 s); its exit status goes to SERVE_STATUS.
wait_server() {
    local i
    for i in $(seq 300); do
        kill -0 "$SERVE_PID" 2> /dev/null || break
        sleep 0.05
    done
    kill -0 "$SERVE_PID" 2> /dev/null && fail "fs serve-lite did not exit"
    SERVE_STATUS=0
    wait "$SERVE_PID" || SERVE_STATUS=$?
    SERVE_PID=
}

# ---- servers shared by the tests of a file ----

# In setup_file: a serve_repo and a server (options "$@") on BACKEND
# (sqlite, or redis with a private redis-server; without redis-server the
# redis tests skip), written down in $BATS_FILE_TMPDIR/BACKEND/env for
# use_server.
shared_server() {
    local backend=$1 dir=$BATS_FILE_TMPDIR/$1
    shift
    export HOME=$BATS_FILE_TMPDIR/home GIT_CONFIG_NOSYSTEM=1
    mkdir -p "$HOME" "$dir"
    git config --global user.name "Test User"
    git config --global user.email "test@example.com"
    git config --global init.defaultBranch main
    unset FS_REGISTRY FS_ONLINE_PATH FS_REDIS_URL FS_POSTGRES_DSN
    cd "$dir"
    if [ "$backend" = redis ]; then
        command -v redis-server > /dev/null && command -v redis-cli > /dev/null || return 0
        start_redis
        echo "$REDIS_PID" >> "$BATS_FILE_TMPDIR/shared-pids"
    fi
    serve_repo
    start_server "$@"
    echo "$SERVE_PID" >> "$BATS_FILE_TMPDIR/shared-pids"
    {
        printf 'SHARED_PID=%q PORT=%q URL=%q T1=%q T2=%q SERVE_OUT=%q SERVE_ERR=%q\n' \
            "$SERVE_PID" "$PORT" "$URL" "$T1" "$T2" "$SERVE_OUT" "$SERVE_ERR"
        printf 'REPO=%q REDIS_PORT=%q\n' "$PWD" "${REDIS_PORT:-}"
        [ -z "${FS_REDIS_URL:-}" ] || printf 'export FS_REDIS_URL=%q\n' "$FS_REDIS_URL"
    } > "$dir/env"
    # the per-test teardown must not stop what the whole file uses
    SERVE_PID= REDIS_PID=
}

# In a test: talk to the shared server of BACKEND, cwd in its repo.
use_server() {
    local env=$BATS_FILE_TMPDIR/$1/env
    if [ ! -f "$env" ]; then
        [ "$1" = redis ] && skip "redis-server is not installed"
        fail "no shared $1 server: call shared_server $1 in setup_file"
    fi
    # shellcheck disable=SC1090
    . "$env"
    cd "$REPO"
}

# In teardown_file: stop the shared servers (and redis), newest first.
stop_shared_servers() {
    local pid
    [ -f "$BATS_FILE_TMPDIR/shared-pids" ] || return 0
    for pid in $(tac "$BATS_FILE_TMPDIR/shared-pids"); do
        kill "$pid" 2> /dev/null || true
        wait "$pid" 2> /dev/null || true
    done
}

# ---- requests ----

# http METHOD PATH [CURL-ARGS...]: one request; sets $code (the HTTP
# status) and $body. The elements of the array AUTH are added to every
# request (e.g. AUTH=(-H "Authorization: Bearer x")).
http() {
    local method=$1 path=$2 resp
    shift 2
    resp=$(curl -sS --max-time 20 -X "$method" "${AUTH[@]}" "$@" -w '\n%{http_code}' "$URL$path") ||
        fail "curl failed: $method $path"
    code=${resp##*$'\n'}
    body=${resp%$'\n'*}
}

# post PATH BODY [CURL-ARGS...]: POST a JSON body (BODY "@file" reads a file).
post() {
    local path=$1 data=$2
    shift 2
    http POST "$path" -H 'Content-Type: application/json' --data-binary "$data" "$@"
}

# online_request IDS FEATURES [EXTRA]: the body {"entities": {"driver_id":
# [IDS]}, "features": [FEATURES] EXTRA}.
online_request() {
    local ids=$1 features=$2 extra=${3:-}
    printf '{"entities": {"driver_id": [%s]}, "features": [%s]%s}' "$ids" "$features" "$extra"
}

# ---- checks ----

# assert_json ACTUAL EXPECTED: equal as JSON values (key order, spacing and
# the spelling of numbers aside; list order counts).
assert_json() {
    local same
    same=$(jq -n --argjson a "$1" --argjson e "$2" '$a == $e' 2>&1) ||
        fail "not JSON: $same
actual:   $1
expected: $2"
    [ "$same" = true ] || fail "JSON differs
actual:   $(jq -S -c . <<< "$1")
expected: $(jq -S -c . <<< "$2")"
}

# assert_code N: the last request answered N.
assert_code() {
    [ "$code" = "$1" ] || fail "expected HTTP $1, got $code: $body"
}

# The server answers GET /health with 200.
assert_healthy() {
    local h
    h=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$URL/health") || true
    [ "$h" = 200 ] || fail "the server is not healthy after the request (/health: '${h}')"
    kill -0 "${SERVE_PID:-$SHARED_PID}" 2> /dev/null || fail "the server died"
}

# assert_error N TEXT: the last request answered N with {"error": "..."}
# (a JSON object with one string member) containing TEXT, and the server
# is still healthy.
assert_error() {
    local msg
    assert_code "$1"
    msg=$(jq -r 'if type == "object" and keys == ["error"] and (.error | type == "string")
                 then .error else error("no error text") end' <<< "$body" 2>&1) ||
        fail "not an {\"error\": \"...\"} body: $body"
    [[ "$msg" == *"$2"* ]] || fail "error '$msg' does not mention '$2'"
    assert_healthy
}

# metric 'NAME{LABELS}': its value in GET /metrics (0 when absent).
metric() {
    local text
    text=$(curl -sS --max-time 5 "${AUTH[@]}" "$URL/metrics") || fail "GET /metrics failed"
    awk -v m="$1" '$1 == m { v = $2 } END { print v == "" ? 0 : v }' <<< "$text"
}

# Poll (up to ~5 s) until `http METHOD PATH ARGS...` answers status $1.
poll_until() {
    local want=$1 i
    shift
    for i in $(seq 50); do
        http "$@"
        [ "$code" = "$want" ] && return 0
        sleep 0.1
    done
    fail "still HTTP $code after 5 s (wanted $want): $body"
}

# ---- redis ----

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Start a private redis-server on a free loopback port (no persistence)
# and export FS_REDIS_URL. Skips the test without redis-server.
start_redis() {
    local try i dir=${BATS_TEST_TMPDIR:-$BATS_FILE_TMPDIR}
    command -v redis-server > /dev/null || skip "redis-server is not installed"
    command -v redis-cli > /dev/null || skip "redis-cli is not installed"
    for try in 1 2 3; do
        REDIS_PORT=$(free_port)
        redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
            --dir "$dir" > "$dir/redis.log" 2>&1 3>&- &
        REDIS_PID=$!
        for i in $(seq 100); do
            if [ "$(redis-cli -p "$REDIS_PORT" ping 2> /dev/null)" = PONG ]; then
                export FS_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
                return 0
            fi
            kill -0 "$REDIS_PID" 2> /dev/null || break
            sleep 0.05
        done
        stop_redis
    done
    cat "$dir/redis.log" >&2
    fail "cannot start redis-server"
}

stop_redis() {
    [ -n "${REDIS_PID:-}" ] || return 0
    kill "$REDIS_PID" 2> /dev/null || true
    wait "$REDIS_PID" 2> /dev/null || true
    REDIS_PID=
}

# Remember another background process; teardown kills it.
track_pid() {
    echo "$1" >> "$BATS_TEST_TMPDIR/pids"
}

teardown() {
    local pid
    if [ -n "${SERVE_PID:-}" ]; then
        kill -9 "$SERVE_PID" 2> /dev/null || true
        wait "$SERVE_PID" 2> /dev/null || true
    fi
    if [ -f "$BATS_TEST_TMPDIR/pids" ]; then
        while read -r pid; do
            kill -9 "$pid" 2> /dev/null || true
            wait "$pid" 2> /dev/null || true
        done < "$BATS_TEST_TMPDIR/pids"
    fi
    stop_redis
}

AUTH=()

# assert_feast_error N CLASS TEXT: the last request answered N with Feast's
# error body: a JSON string holding {"module": "feast.errors", "class":
# CLASS, "message": ...}, as FeastError.to_error_detail() writes it and
# FastAPI sends it, the message containing TEXT; the server still healthy.
assert_feast_error() {
    local msg
    assert_code "$1"
    msg=$(jq -r 'if type == "string" then (fromjson |
                   if keys == ["class", "message", "module"] and .module == "feast.errors"
                   then .class + ": " + .message else error("not the fields of Feast") end)
                 else error("not a JSON string") end' <<< "$body" 2>&1) ||
        fail "not Feast's error body: $body ($msg)"
    [[ "$msg" == "$2: "*"$3"* ]] || fail "error '$msg' is not $2 mentioning '$3'"
    assert_healthy
}

# redis_trades URL: a redis_stream source `trades` (the stream trades of the
# Redis at URL, at rest in data/trades.csv) and the view trade_last (the
# price of a driver's newest trade), in features/trades.yaml; not applied.
redis_trades() {
    printf 'driver_id,ts,price\n' > data/trades.csv
    cat > features/trades.yaml <<Y
kind: source
name: trades_log
type: csv
path: data/trades.csv
timestamp_field: ts
---
kind: source
name: trades
type: redis_stream
stream: trades
url: $1
batch_source: trades_log
---
kind: feature_view
name: trade_last
entities: [driver]
source: trades
features:
  - {name: price, type: float64}
Y
}

# live_trips_view: a push source trips_push over driver_trips and the view
# live_trips of windows on it (n_1h, fare_1h, last_fare), applied.
live_trips_view() {
    cat > features/live.yaml <<'Y'
kind: source
name: trips_push
type: push
batch_source: driver_trips
---
kind: feature_view
name: live_trips
entities: [driver]
source: trips_push
aggregations:
  - {name: n_1h, function: count, window: 1h}
  - {name: fare_1h, function: sum, column: fare, window: 1h}
  - {name: last_fare, function: last, column: fare, window: 1h}
Y
    fs apply -q
}
