# Helpers for the fs stream tests (t6xxx): a Kafka cluster of librdkafka's
# mock brokers (t/kafka-mock), a Redis of the test's own, a repository
# whose views read a stream source, and t/stream_reference.py.
#
#   load test_helper
#   load lib-online     (free_port, start_redis, track_pid, teardown)
#   load lib-stream

STREAM_REFERENCE="$BATS_TEST_DIRNAME/stream_reference.py"
sref() { "$FS_TEST_PYTHON" -S "$STREAM_REFERENCE" "$@"; }

# start_kafka TOPIC:PARTITIONS...: a mock cluster; KAFKA holds its bootstrap
# address, MOCK_PID its process (SIGUSR1: brokers down, SIGUSR2: up).
start_kafka() {
    local mock=${FS_KAFKA_MOCK:-$(dirname "$FS")/t/kafka-mock} t i args=()
    [ -x "$mock" ] || skip "no t/kafka-mock (librdkafka not found at build time)"
    command -v kcat > /dev/null || skip "no kcat"
    for t in "$@"; do args+=(-t "$t"); done
    : > "$BATS_TEST_TMPDIR/mock.out" # there before the first read
    "$mock" "${args[@]}" > "$BATS_TEST_TMPDIR/mock.out" 2> "$BATS_TEST_TMPDIR/mock.err" 3>&- &
    MOCK_PID=$!
    track_pid "$MOCK_PID"
    KAFKA=
    for i in $(seq 100); do
        KAFKA=$(head -n 1 "$BATS_TEST_TMPDIR/mock.out")
        [ -n "$KAFKA" ] && break
        sleep 0.1
    done
    [[ "$KAFKA" =~ ^127\.0\.0\.1:[0-9]+$ ]] || fail "no bootstrap address: $(cat "$BATS_TEST_TMPDIR/mock.err")"
    export FS_KAFKA_BROKERS=$KAFKA
}

# produce TOPIC FILE: every line of FILE a message.
produce() {
    kcat -P -b "$KAFKA" -t "$1" -X compression.codec=lz4 -l "$2"
}

# The end of the next hour after now (Unix seconds): read time of the tests.
next_hour() { echo $(( ($(date +%s) / 3600 + 1) * 3600 )); }

# stream_repo TYPE [SOURCE-LINES...]: a repo whose views `last` (price
# float64, qty int64, newest-wins) and `agg` (n_1h, amount_sum_1h,
# amount_max_2h, price_avg_30m) read stream source `ev` of TYPE (kafka:
# topic ev; redis_stream: stream ev) over data/ev.csv; extra lines go into
# the source; STREAM_TS= leaves its timestamp_field out. Applied; cwd inside.
stream_repo() {
    local type=$1 line
    shift
    init_repo
    git rm -q features/driver.yaml data/driver_stats.csv
    mkdir -p features data
    echo "token,ts,amount,price,qty" > data/ev.csv
    {
        cat <<'EOF'
kind: entity
name: token
join_key: token
type: string
---
kind: source
name: ev_log
type: csv
path: data/ev.csv
timestamp_field: ts
---
kind: source
name: ev
EOF
        echo "type: $type"
        if [ "$type" = kafka ]; then
            echo "topic: ev"
            echo "options: {session.timeout.ms: '6000', heartbeat.interval.ms: '500'}"
        else
            echo "stream: ev"
        fi
        [ -z "${STREAM_TS-ts}" ] || echo "timestamp_field: ${STREAM_TS-ts}"
        echo "batch_source: ev_log"
        for line in "$@"; do echo "$line"; done
        cat <<'EOF'
---
kind: feature_view
name: last
entities: [token]
source: ev
features:
  - {name: price, type: float64}
  - {name: qty, type: int64}
---
kind: feature_view
name: agg
entities: [token]
source: ev
aggregations:
  - {name: n_1h, function: count, window: 1h}
  - {name: amount_sum_1h, function: sum, column: amount, window: 1h}
  - {name: amount_max_2h, function: max, column: amount, window: 2h}
  - {name: price_avg_30m, function: avg, column: price, window: 30m}
EOF
    } > features/ev.yaml
    "$FS" apply -q -m "stream views"
}

# online_rows T: the online values of every key k0..k39 at T, as
# `sref expect` prints them: nulls (an empty window's avg and max are
# NOT_FOUND) as the empty string, keys never seen left out.
online_rows() {
    local t=$1 args=() k
    for k in $(seq 0 39); do args+=(-e "token=k$k"); done
    "$FS" get-online -f last -f agg --at "$t" "${args[@]}" --json | "$FS_TEST_PYTHON" -c '
import json, sys
res = json.load(sys.stdin)["results"]
def cell(col, j):
    st, v = col["statuses"][j], col["values"][j]
    if st in ("NOT_FOUND", "NULL_VALUE"):
        return ""
    text = v if isinstance(v, str) else json.dumps(v)
    return text + (" (outside max age)" if st == "OUTSIDE_MAX_AGE" else "")
for j in range(len(res[0]["values"])):
    row = [str(res[0]["values"][j])] + [cell(col, j) for col in res[1:]]
    if row[1] != "":
        print("\t".join(row))' | sort
}

# check_online EVENTS T: the online values equal the reference's.
check_online() {
    sref expect "$1" "$2" > expected.tsv
    online_rows "$2" > actual.tsv
    run sref compare expected.tsv actual.tsv
    [ "$status" -eq 0 ] || fail "online values differ from the reference: $output"
}

# stream_stat FIELD: the sum of FIELD over the stream sources of fs status --json.
stream_stat() {
    "$FS" status --json | "$FS_TEST_PYTHON" -c '
import json, sys
print(sum(s[sys.argv[1]] for s in json.load(sys.stdin)["streams"]))' "$1"
}

# stream_bg [ARGS...]: fs stream in the background (its pid in STREAM_PID).
stream_bg() {
    "$FS" stream "$@" > "$BATS_TEST_TMPDIR/stream.out" 2>> "$BATS_TEST_TMPDIR/stream.err" 3>&- &
    STREAM_PID=$!
    track_pid "$STREAM_PID"
}

# wait_applied N [SECS]: until the stream sources' stored applied + bad reach N.
wait_applied() {
    local n=$1 secs=${2:-60} i got
    for i in $(seq $((secs * 5))); do
        got=$(( $(stream_stat applied) + $(stream_stat bad) ))
        [ "$got" -ge "$n" ] && return 0
        sleep 0.2
    done
    fail "after ${secs}s, $got events of $n written; stderr: $(tail -5 "$BATS_TEST_TMPDIR/stream.err")"
}

# kill_points BATCH MIN SPREAD POINT...: run fs stream --batch-events BATCH
# and kill it at each crash point in turn (POINT#K: the K-th time it is
# reached), or for "random" MIN seconds plus up to SPREAD after it started.
kill_points() {
    local batch=$1 min=$2 spread=$3 point pid
    shift 3
    for point in "$@"; do
        if [ "$point" = random ]; then
            "$FS" stream --batch-events "$batch" 2>> "$BATS_TEST_TMPDIR/stream.err" 3>&- &
            pid=$!
            sleep "$(awk -v m="$min" -v s="$spread" 'BEGIN { srand(); printf "%.2f", m + rand() * s }')"
            kill -9 "$pid"
            wait "$pid" || true
        else
            run env FS_TEST_CRASH_AT="$point" "$FS" stream --once --batch-events "$batch"
            [ "$status" -eq 137 ] || fail "crash point $point not reached: $status $output"
        fi
    done
}

# two_consumers SEED N: N events in three parts on topic ev (4 partitions)
# read by two fs streams of one group, the first killed after the first
# part, a third started for the last: every event applied once.
two_consumers() {
    local T a third=$(($2 / 3))
    start_kafka ev:4
    stream_repo kafka
    T=$(next_hour)
    sref gen "$1" "$2" "$T" all.jsonl
    head -n "$third" all.jsonl > part1.jsonl
    tail -n +$((third + 1)) all.jsonl | head -n "$third" > part2.jsonl
    tail -n +$((2 * third + 1)) all.jsonl > part3.jsonl
    stream_bg --batch-events 50
    a=$STREAM_PID
    stream_bg --batch-events 50
    produce ev part1.jsonl
    wait_applied "$third"
    kill -9 "$a"
    produce ev part2.jsonl
    wait_applied $((2 * third))
    stream_bg --batch-events 50
    produce ev part3.jsonl
    wait_applied "$2"
    sleep 1
    kill -TERM $(tail -n 2 "$BATS_TEST_TMPDIR/pids")
    assert_equal "$(stream_stat applied)" "$2"
    check_online all.jsonl "$T"
}

# outage_midway PARTITIONS SEED N FN: N events on topic ev (PARTITIONS
# partitions) read by one fs stream (--batch-events 50); once half of them
# are applied FN is called (an outage, over when FN returns or soon
# after), the other half produced: every event applied once, and the
# stream stops cleanly on SIGTERM.
outage_midway() {
    local T half=$(($3 / 2))
    start_kafka "ev:$1"
    stream_repo kafka
    T=$(next_hour)
    sref gen "$2" "$3" "$T" all.jsonl
    head -n "$half" all.jsonl > a.jsonl
    tail -n +$((half + 1)) all.jsonl > b.jsonl
    stream_bg --batch-events 50
    produce ev a.jsonl
    wait_applied "$half"
    "$4"
    produce ev b.jsonl
    wait_applied "$3" 90
    kill -TERM "$STREAM_PID"
    wait "$STREAM_PID"
    assert_equal "$(stream_stat applied)" "$3"
    check_online all.jsonl "$T"
}

# crash_loop [POINT...]: kill fs stream at each crash point (POINT#K: the
# K-th time it is reached; "random": a random moment; by default before and
# after the commit of a batch and at random), restart it, then check every
# event counted once.
crash_loop() {
    local T points=("$@")
    [ ${#points[@]} -gt 0 ] || points=(stream-before-commit#3 stream-after-commit#2 random stream-before-commit#6)
    T=$(next_hour)
    sref gen 13 4000 "$T" ev.jsonl --bad
    produce ev ev.jsonl
    kill_points 50 3.2 1 "${points[@]}"
    run -0 --separate-stderr fs stream --once --batch-events 50 --json
    check_online ev.jsonl "$T"
    # every message counted once: good ones applied, bad ones bad
    assert_equal "$(stream_stat applied)" 4000
    assert_equal "$(stream_stat bad)" "$(wc -l < ev.jsonl.bad)"
}

# xadd STREAM FILE: each line of FILE ("field value ...") an entry.
xadd() {
    sed "s/^/XADD $1 * /" "$2" | redis_cli > /dev/null
}

# The events of FILE (sref redis lines) as JSON lines, for sref expect.
as_json() {
    awk '{ printf "{\"token\": \"%s\", \"ts\": %s, \"amount\": %s, \"price\": %s, \"qty\": %s}\n", $2, $4, $6, $8, $10 }' "$1"
}
