#!/usr/bin/env bats
# Stream sources (type kafka and redis_stream) at apply: their keys checked
# with file:line:col (required ones named, unknown ones refused, format,
# url, options, topic names, dead_letter), their batch_source a csv, sqlite
# or postgres source holding the columns of the views that read them, and
# no broker or Redis ever contacted. Offline, get-historical and materialize
# read the batch_source. Last, t/kafka-mock (librdkafka's mock cluster) is
# proven to work with kcat, for the `fs stream` tests.
#
# The repo is `fs init`'s: source driver_trips (data/driver_trips.csv:
# driver_id,event_timestamp,fare) is the batch source; the stream sources
# and their views are in features/stream.yaml, written by each test.

load test_helper
load lib-validate

S=features/stream.yaml

# kafka_source [LINE...]: features/stream.yaml with a valid kafka source
# (lines 1-5) followed by LINE... (from line 6 on).
kafka_source() {
    printf '%s\n' "kind: source" "name: trips_kafka" "type: kafka" "topic: trips" \
        "timestamp_field: ts" "$@" > $S
}

# redis_source [LINE...]: the same with a redis_stream source (lines 1-4).
redis_source() {
    printf '%s\n' "kind: source" "name: trips_redis" "type: redis_stream" "stream: trips" \
        "$@" > $S
}

# ---- required keys ----

@test "validate stream sources: a kafka source names its missing topic, timestamp_field and batch_source" {
    printf 'kind: source\nname: trips_kafka\ntype: kafka\n' > $S
    apply_fails \
        "error: features/stream.yaml:1:1: source 'trips_kafka': missing 'topic' (a kafka source needs the topic it reads)" \
        "error: features/stream.yaml:1:1: source 'trips_kafka': missing 'timestamp_field' (a kafka source needs the message field holding the event time)" \
        "error: features/stream.yaml:1:1: source 'trips_kafka': missing 'batch_source' (a kafka source names the csv, sqlite or postgres source that holds its history)" \
        "fatal: 3 errors in definitions"
}

@test "validate stream sources: a redis_stream source names its missing stream and batch_source" {
    printf 'kind: source\nname: trips_redis\ntype: redis_stream\n' > $S
    apply_fails \
        "error: features/stream.yaml:1:1: source 'trips_redis': missing 'stream' (a redis_stream source needs the stream key it reads)" \
        "error: features/stream.yaml:1:1: source 'trips_redis': missing 'batch_source' (a redis_stream source names the csv, sqlite or postgres source that holds its history)" \
        "fatal: 2 errors in definitions"

    # timestamp_field is optional (the entry id's milliseconds)
    redis_source "batch_source: driver_trips"
    run -0 --separate-stderr fs apply -q
}

@test "validate stream sources: a push source's missing batch_source is still named so" {
    printf 'kind: source\nname: trips_push\ntype: push\n' > $S
    apply_fatal "features/stream.yaml:1:1: source 'trips_push': missing 'batch_source' (a push source names the csv, sqlite or postgres source that holds its history)"
}

# ---- keys ----

@test "validate stream sources: unknown keys are refused, with did-you-mean" {
    kafka_source "topics: trips" "batch_source: driver_trips"
    apply_fatal "features/stream.yaml:6:1: source 'trips_kafka': unknown key 'topics' (did you mean 'topic'?)"

    redis_source "streams: trips" "batch_source: driver_trips"
    apply_fatal "features/stream.yaml:5:1: source 'trips_redis': unknown key 'streams' (did you mean 'stream'?)"
}

@test "validate stream sources: a key of another kind of source is refused, naming the kinds that use it" {
    kafka_source "batch_source: driver_trips" "stream: trips" "path: data/driver_trips.csv"
    apply_fails \
        "error: features/stream.yaml:7:9: source 'trips_kafka': 'stream' is not used by a kafka source (only redis_stream)" \
        "error: features/stream.yaml:8:7: source 'trips_kafka': 'path' is not used by a kafka source (only csv and sqlite)" \
        "fatal: 2 errors in definitions"

    redis_source "batch_source: driver_trips" "topic: trips" "options: {a: b}" "group: g"
    apply_fails \
        "error: features/stream.yaml:6:8: source 'trips_redis': 'topic' is not used by a redis_stream source (only kafka)" \
        "error: features/stream.yaml:7:10: source 'trips_redis': 'options' is not used by a redis_stream source (only kafka)" \
        "error: features/stream.yaml:8:8: source 'trips_redis': 'group' is not used by a redis_stream source (only kafka)" \
        "fatal: 3 errors in definitions"

    # and the stream keys on a csv source
    replace features/driver.yaml "created_timestamp_field: created
" "created_timestamp_field: created
dead_letter: dlq
topic: trips
"
    rm $S
    apply_fails \
        "error: features/driver.yaml:16:14: source 'driver_stats': 'dead_letter' is not used by a csv source (only kafka and redis_stream)" \
        "error: features/driver.yaml:17:8: source 'driver_stats': 'topic' is not used by a csv source (only kafka)" \
        "fatal: 2 errors in definitions"
}

@test "validate stream sources: an unknown source type lists kafka and redis_stream" {
    kafka_source "batch_source: driver_trips"
    replace $S "type: kafka" "type: kafak"
    apply_fatal "features/stream.yaml:3:7: source 'trips_kafka': unknown source type 'kafak' (did you mean 'kafka'?)"

    replace $S "type: kafak" "type: kinesis"
    apply_fatal "features/stream.yaml:3:7: source 'trips_kafka': unknown source type 'kinesis' (expected one of: csv sqlite postgres push kafka redis_stream)"
}

@test "validate stream sources: a kafka format other than json is refused" {
    kafka_source "batch_source: driver_trips" "format: avro"
    apply_fatal "features/stream.yaml:7:9: source 'trips_kafka': unsupported format 'avro' (only json)"
}

@test "validate stream sources: a redis_stream url must be redis://" {
    redis_source "batch_source: driver_trips" "url: http://127.0.0.1:6379/0"
    apply_fatal "features/stream.yaml:6:6: source 'trips_redis': unsupported URL 'http://127.0.0.1:6379/0' (only redis://)"

    replace $S "url: http://127.0.0.1:6379/0" "url: 127.0.0.1:6379"
    apply_fatal "features/stream.yaml:6:6: source 'trips_redis': unsupported URL '127.0.0.1:6379' (only redis://)"
}

@test "validate stream sources: kafka options must be a map of strings" {
    kafka_source "batch_source: driver_trips" "options: security.protocol=SSL"
    apply_fatal "features/stream.yaml:7:10: source 'trips_kafka': 'options' must be a mapping, not a scalar"

    kafka_source "batch_source: driver_trips" "options:" "  fetch.wait.max.ms: [10]" \
        "  sasl: {mechanism: PLAIN}"
    apply_fails \
        "error: features/stream.yaml:8:22: source 'trips_kafka': 'options.fetch.wait.max.ms' must be a string, not a list" \
        "error: features/stream.yaml:9:9: source 'trips_kafka': 'options.sasl' must be a string, not a mapping" \
        "fatal: 2 errors in definitions"
}

@test "validate stream sources: bad kafka topic names and empty brokers are refused" {
    kafka_source "batch_source: driver_trips" "dead_letter: bad letters" "brokers: ''"
    replace $S "topic: trips" "topic: trips/all"
    apply_fails \
        "error: features/stream.yaml:4:8: source 'trips_kafka': bad topic name 'trips/all' in 'topic' (1 to 249 letters, digits, '.', '_' or '-')" \
        "error: features/stream.yaml:7:14: source 'trips_kafka': bad topic name 'bad letters' in 'dead_letter' (1 to 249 letters, digits, '.', '_' or '-')" \
        "error: features/stream.yaml:8:10: source 'trips_kafka': empty 'brokers' (leave it out to use FS_KAFKA_BROKERS)" \
        "fatal: 3 errors in definitions"
}

@test "validate stream sources: dead_letter cannot be the topic or stream read" {
    kafka_source "batch_source: driver_trips" "dead_letter: trips"
    apply_fatal "features/stream.yaml:7:14: source 'trips_kafka': dead_letter 'trips' is the topic this source reads (bad messages would be read again)"

    redis_source "batch_source: driver_trips" "dead_letter: trips"
    apply_fatal "features/stream.yaml:6:14: source 'trips_redis': dead_letter 'trips' is the stream this source reads (bad messages would be read again)"
}

# ---- batch_source ----

@test "validate stream sources: an unknown batch_source is reported with did-you-mean" {
    kafka_source "batch_source: driver_trip"
    apply_fatal "features/stream.yaml:6:15: source 'trips_kafka': unknown source 'driver_trip' (did you mean 'driver_trips'?)"

    redis_source "batch_source: driver_trip"
    apply_fatal "features/stream.yaml:5:15: source 'trips_redis': unknown source 'driver_trip' (did you mean 'driver_trips'?)"
}

@test "validate stream sources: a batch_source must hold rows (not push, kafka or redis_stream)" {
    kafka_source "batch_source: trips_redis" "---" "kind: source" "name: trips_redis" \
        "type: redis_stream" "stream: trips" "batch_source: trips_push" "---" \
        "kind: source" "name: trips_push" "type: push" "batch_source: trips_kafka"
    apply_fails \
        "error: features/stream.yaml:6:15: source 'trips_kafka': batch_source 'trips_redis' is a redis_stream source (it must be csv, sqlite or postgres)" \
        "error: features/stream.yaml:12:15: source 'trips_redis': batch_source 'trips_push' is a push source (it must be csv, sqlite or postgres)" \
        "error: features/stream.yaml:17:15: source 'trips_push': batch_source 'trips_kafka' is a kafka source (it must be csv, sqlite or postgres)" \
        "fatal: 3 errors in definitions"
}

@test "validate stream sources: views reading a stream source find their columns in its batch_source" {
    kafka_source "batch_source: driver_trips" "---" \
        "kind: feature_view" "name: trips_stats" "entities: [driver]" "source: trips_kafka" \
        "aggregations: [{name: n_30m, function: count, window: 30m}, {name: tips, function: sum, column: tip, window: 1h}]" \
        "---" \
        "kind: feature_view" "name: trips_last" "entities: [driver]" "source: trips_kafka" \
        "features: [{name: fare, type: float64}, {name: tip, type: float64}]"
    apply_fails \
        "error: features/stream.yaml:12:89: feature_view 'trips_stats': source 'driver_trips' (data/driver_trips.csv) has no column 'tip' (column of aggregation 'tips')" \
        "error: features/stream.yaml:17:9: feature_view 'trips_last': source 'driver_trips' (data/driver_trips.csv) has no column 'tip' for feature 'tip'" \
        "fatal: 2 errors in definitions"

    # and the join keys, through a redis_stream source
    redis_source "batch_source: driver_trips" "---" \
        "kind: entity" "name: rider" "type: int64" "---" \
        "kind: feature_view" "name: rider_trips" "entities: [rider]" "source: trips_redis" \
        "features: [{name: fare, type: float64}]"
    apply_fatal "features/stream.yaml:14:9: feature_view 'rider_trips': source 'driver_trips' (data/driver_trips.csv) has no column 'rider' (join key of entity 'rider')"
}

# ---- valid ----

# Every key of both kinds, views on top; brokers and url where nothing
# listens: apply must not try them.
valid_sources() {
    cat > $S <<'EOF'
kind: source
name: trips_kafka
type: kafka
topic: trips
brokers: 127.0.0.1:1
group: fs-trips
format: json
timestamp_field: ts
created_timestamp_field: created
dead_letter: trips_dlq
options: {fetch.wait.max.ms: 10, security.protocol: plaintext}
batch_source: driver_trips
field_mapping: {fare_cents: fare}
description: Trips as they happen
---
kind: source
name: trips_redis
type: redis_stream
stream: trips
url: redis://127.0.0.1:1/0
dead_letter: trips_dlq
batch_source: driver_trips
---
kind: feature_view
name: trips_kafka_stats
entities: [driver]
source: trips_kafka
aggregations: [{name: n_30m, function: count, window: 30m}, {name: fare_1h, function: sum, column: fare, window: 1h}]
---
kind: feature_view
name: trips_kafka_last
entities: [driver]
source: trips_kafka
ttl: 0
features: [{name: fare, type: float64}]
---
kind: feature_view
name: trips_redis_stats
entities: [driver]
source: trips_redis
aggregations: [{name: n_30m, function: count, window: 30m}]
---
kind: feature_view
name: trips_redis_last
entities: [driver]
source: trips_redis
features: [{name: fare, type: float64}]
EOF
}

@test "validate stream sources: valid kafka and redis_stream sources with views apply, never contacting a broker" {
    valid_sources
    run -0 --separate-stderr fs plan
    assert_output --partial "+ source trips_kafka"
    assert_output --partial "+ source trips_redis"
    assert_output --partial "+ feature_view trips_kafka_stats"
    assert_output --partial "+ feature_view trips_redis_last"
    assert_output --partial "6 to add, 0 to change, 0 to delete."
    run -0 --separate-stderr timeout 20 "$FS" apply -q
    assert_equal "$stderr" ""
    run -0 fs plan --exit-code

    run -0 fs describe source trips_kafka --json
    assert_equal "$(json_at spec <<<"$output")" \
        '{"batch_source":"driver_trips","brokers":"127.0.0.1:1","created_timestamp_field":"created","dead_letter":"trips_dlq","description":"Trips as they happen","field_mapping":{"fare_cents":"fare"},"format":"json","group":"fs-trips","name":"trips_kafka","options":{"fetch.wait.max.ms":"10","security.protocol":"plaintext"},"timestamp_field":"ts","topic":"trips","type":"kafka"}'
    run -0 fs describe source trips_redis --json
    assert_equal "$(json_at spec <<<"$output")" \
        '{"batch_source":"driver_trips","dead_letter":"trips_dlq","name":"trips_redis","stream":"trips","type":"redis_stream","url":"redis://127.0.0.1:1/0"}'

    # the options are strings whatever their YAML spelling: no change
    replace $S 'fetch.wait.max.ms: 10' 'fetch.wait.max.ms: "10"'
    run -0 fs plan --exit-code
}

@test "validate stream sources: a kafka source without brokers applies (FS_KAFKA_BROKERS at run time)" {
    kafka_source "batch_source: driver_trips"
    run -0 --separate-stderr fs apply -q
    run -0 fs describe source trips_kafka --json
    assert_equal "$(json_at spec <<<"$output")" \
        '{"batch_source":"driver_trips","name":"trips_kafka","timestamp_field":"ts","topic":"trips","type":"kafka"}'
}

# ---- offline: the batch source is read ----

# trades_repo: token trades in data/trades.csv behind kafka source trades;
# view token_activity (count over 30m, int sum over 1h) and last_trade.
trades_repo() {
    cat > data/trades.csv <<'EOF'
token,ts,amount
a,2024-05-01T10:00:00Z,3
a,2024-05-01T10:20:00Z,5
b,2024-05-01T10:10:00Z,7
a,2024-05-01T10:50:00Z,11
EOF
    cat > $S <<'EOF'
kind: entity
name: token
type: string
---
kind: source
name: trades_log
type: csv
path: data/trades.csv
timestamp_field: ts
---
kind: source
name: trades
type: kafka
topic: trades
timestamp_field: ts
batch_source: trades_log
---
kind: feature_view
name: token_activity
entities: [token]
source: trades
aggregations: [{name: n_30m, function: count, window: 30m}, {name: vol, function: sum, column: amount, type: int64, window: 1h}]
---
kind: feature_view
name: last_trade
entities: [token]
source: trades
ttl: 0
features: [{name: amount, type: int64}]
EOF
    run -0 --separate-stderr fs apply -q
}

@test "validate stream sources: get-historical of views on a kafka source reads its batch_source" {
    trades_repo
    printf 'token,event_timestamp\na,2024-05-01T10:30:00Z\na,2024-05-01T11:00:00Z\nb,2024-05-01T10:15:00Z\nc,2024-05-01T10:15:00Z\n' > rows.csv
    run -0 --separate-stderr fs get-historical --entities rows.csv \
        -f token_activity:n_30m -f token_activity:vol -f last_trade:amount
    assert_equal "$stderr" ""
    assert_output "token,event_timestamp,n_30m,vol,amount
a,2024-05-01T10:30:00Z,2,8,5
a,2024-05-01T11:00:00Z,1,19,11
b,2024-05-01T10:15:00Z,1,7,7
c,2024-05-01T10:15:00Z,0,0,"
}

@test "validate stream sources: materialize of views on a kafka source reads its batch_source" {
    trades_repo
    run -0 --separate-stderr fs materialize 2024-05-01 2024-05-01T11:00:00Z
    run -0 --separate-stderr fs get-online -f last_trade:amount -f token_activity:vol \
        -e token=a -e token=b --at 2024-05-01T11:00:00Z
    assert_output "token  amount  vol
a      11      19
b      7       7"
}

# ---- the Kafka mock for the stream tests ----

@test "kafka-mock: kcat produces to it and consumes back, down and up on signals" {
    local mock=${FS_KAFKA_MOCK:-$(dirname "$FS")/t/kafka-mock}
    [ -x "$mock" ] || skip "no t/kafka-mock (librdkafka not found at build time)"
    command -v kcat > /dev/null || skip "no kcat"

    : > mock.out # there before the first read
    "$mock" -t trades:1 -t trades_dlq:2 > mock.out 2> mock.err 3>&- &
    MOCK_PID=$!
    local i bootstrap=
    for i in $(seq 100); do
        bootstrap=$(head -n 1 mock.out)
        [ -n "$bootstrap" ] && break
        sleep 0.1
    done
    [[ "$bootstrap" =~ ^127\.0\.0\.1:[0-9]+$ ]] || fail "no bootstrap address: '$bootstrap' $(cat mock.err)"

    printf '%s\n' '{"token":"a","amount":3,"ts":"2024-05-01T10:00:00Z"}' \
        '{"token":"b","amount":4,"ts":1714557600}' '{"token":"a","amount":5,"ts":1714557600123}' |
        timeout 30 kcat -b "$bootstrap" -t trades -P
    run -0 timeout 30 kcat -b "$bootstrap" -t trades -C -e -q
    assert_output '{"token":"a","amount":3,"ts":"2024-05-01T10:00:00Z"}
{"token":"b","amount":4,"ts":1714557600}
{"token":"a","amount":5,"ts":1714557600123}'
    run -0 timeout 30 kcat -b "$bootstrap" -L -t trades_dlq
    assert_output --partial 'topic "trades_dlq" with 2 partitions'

    # SIGUSR1: every broker down; SIGUSR2: up again
    kill -USR1 "$MOCK_PID"
    sleep 0.5
    run timeout 30 kcat -b "$bootstrap" -L -m 2
    [ "$status" -ne 0 ] || fail "metadata from a broker that is down: $output"
    kill -USR2 "$MOCK_PID"
    sleep 0.5
    run -0 timeout 30 kcat -b "$bootstrap" -t trades -C -e -q
    assert_line --index 2 '{"token":"a","amount":5,"ts":1714557600123}'

    # SIGTERM: exit 0
    local rc=0
    kill -TERM "$MOCK_PID"
    wait "$MOCK_PID" || rc=$?
    MOCK_PID=
    assert_equal "$rc" 0
}

teardown() {
    if [ -n "${MOCK_PID:-}" ]; then
        kill "$MOCK_PID" 2> /dev/null || true
    fi
}
