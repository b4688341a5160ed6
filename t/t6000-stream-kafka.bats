#!/usr/bin/env bats
# fs stream from Kafka (librdkafka's mock brokers, t/kafka-mock): values
# equal the reference (t/stream_reference.py) computed from the events
# produced, exactly once across kills (at the crash points around the
# commit and at random moments), a second consumer of the group, brokers
# down; bad messages skipped, reported and dead-lettered; positions from
# the online store; status and metrics.

load test_helper
load lib-online
load lib-stream

@test "stream kafka: events of 4 partitions into plain and aggregation views equal the reference; a second run reads nothing" {
    start_kafka ev:4
    stream_repo kafka
    T=$(next_hour)
    sref gen 11 3000 "$T" ev.jsonl
    produce ev ev.jsonl
    run -0 --separate-stderr fs stream --once --json
    assert_equal "$(jq -c '.sources[0] | [.source, .type, .events, .applied, .bad]' <<<"$output")" \
        '["ev","kafka",3000,3000,0]'
    check_online ev.jsonl "$T"

    # the group's offsets are committed too, for lag tools: a member of
    # the group that starts from them finds nothing left
    run -0 --separate-stderr kcat -b "$KAFKA" -G fs-repo-ev -X auto.offset.reset=earliest \
        -X session.timeout.ms=6000 -e -f '%o\n' ev
    assert_equal "$output" ""
    run -0 --separate-stderr kcat -b "$KAFKA" -G fs-other -X auto.offset.reset=earliest \
        -X session.timeout.ms=6000 -e -f '%o\n' ev
    assert_equal "$(wc -l <<<"$output")" 3000

    # the positions are in the store: nothing is read twice
    run -0 --separate-stderr fs stream --once --json
    assert_equal "$(jq -c '.sources[0] | [.events, .applied]' <<<"$output")" '[0,0]'
    check_online ev.jsonl "$T"
    run -0 fs status --json
    assert_equal "$(jq -c '.streams[0] | [.source, .topic, .applied, .bad, .lag, (.partitions | length), ([.partitions[].position] | add)]' <<<"$output")" \
        '["ev","ev",3000,0,0,4,3000]'
    # the plain view, fed by the stream alone, is as fresh as the newest event
    python3 - ev.jsonl "$output" <<'PY'
import json, sys
from datetime import datetime
def secs(t):
    if isinstance(t, str):
        return datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
    return t / 1000 if t > 1e11 else t
newest = max(secs(json.loads(l)["ts"]) for l in open(sys.argv[1]))
st = json.loads(sys.argv[2])
last = [v for v in st["views"] if v["name"] == "last"][0]
for what, t in (("view last_end", last["last_end"]), ("stream newest_event", st["streams"][0]["newest_event"])):
    assert abs(secs(t) - newest) < 1e-6, (what, t, newest)
PY
}

# backlog_batches STORE: 6000 events waiting, --batch-events 50: the batch
# sizes the writer saw, and an exact result
backlog_batches() {
    start_kafka ev:2
    stream_repo kafka
    T=$(next_hour)
    sref gen 12 6000 "$T" ev.jsonl
    produce ev ev.jsonl
    run -0 --separate-stderr fs stream --once --json --batch-events 50
    assert_equal "$(jq -c '.sources[0] | [.events, .applied]' <<<"$output")" '[6000,6000]'
    batches=$(jq '.sources[0].batches' <<<"$output")
    check_online ev.jsonl "$T"
}

@test "stream kafka: a backlog into SQLite is written in batches that grow while the writer works (at most 10 x --batch-events); exact" {
    backlog_batches
    # 120 batches of 50 without growth; never more than 500 a batch
    echo "# $batches batches" >&3
    [ "$batches" -lt 100 ] || fail "$batches batches: they did not grow"
    [ "$batches" -ge 12 ] || fail "$batches batches: more than 500 events in one"
}

@test "stream kafka: into Redis batches stay at --batch-events (Redis pays per event); exact" {
    start_redis # FS_REDIS_URL: the online store is this Redis
    backlog_batches
    [ "$batches" -ge 120 ] || fail "$batches batches: some held more than 50 events"
}

@test "stream kafka: the stored position is the one trusted, not the group's committed offsets" {
    start_kafka ev:2
    stream_repo kafka "group: first"
    T=$(next_hour)
    sref gen 12 500 "$T" ev.jsonl
    produce ev ev.jsonl
    run -0 fs stream --once ev
    # a new group has no committed offsets: the store's positions still hold
    sed -i 's/^group: first/group: second/' features/ev.yaml
    fs apply -q -m "another group"
    run -0 --separate-stderr fs stream --once --json ev
    assert_equal "$(jq -c '.sources[0].events' <<<"$output")" 0
    # and an online store without positions reads the topic from its start
    rm -f .fs/online.db*
    run -0 --separate-stderr fs stream --once --json ev
    assert_equal "$(jq -c '.sources[0].events' <<<"$output")" 500
    check_online ev.jsonl "$T"
}

@test "stream kafka: killed before and after commits and at random, restarted: every event counted exactly once (sqlite)" {
    start_kafka ev:3
    stream_repo kafka
    crash_loop
}

@test "stream kafka: killed before and after commits and at random, restarted: every event counted exactly once (redis)" {
    start_redis # FS_REDIS_URL: the online store is this Redis
    start_kafka ev:3
    stream_repo kafka
    crash_loop
    # the positions are in Redis with the values, one record a partition
    # written (the producer's sticky partitioner may fill only some; status
    # lists the others too, with no position)
    run -0 redis_cli --scan --pattern 'fs:*:@stream/ev/*'
    assert_equal "$(sort <<<"$output" | tr '\n' ' ')" \
        "$(fs status --json | jq -r '.streams[0].partitions[] | select(.position != null) | .partition' | sed 's|^|fs:repo:@stream/ev/|' | sort | tr '\n' ' ')"
    [ -n "$output" ] || fail "no position stored in Redis"
}

@test "stream kafka: two processes in one group split the partitions; one killed and restarted mid-way: exact result" {
    two_consumers 14 6000
}

brokers_down_3s() {
    kill -USR1 "$MOCK_PID"
    sleep 3
    kill -USR2 "$MOCK_PID"
}

@test "stream kafka: brokers down for a few seconds mid-stream: nothing lost, nothing counted twice" {
    outage_midway 2 15 3000 brokers_down_3s
}

@test "stream kafka: bad messages are skipped, counted, reported with partition and offset and copied to the dead-letter topic" {
    start_kafka ev:1 ev_dlq:1
    stream_repo kafka "dead_letter: ev_dlq"
    T=$(next_hour)
    now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    {
        echo "{\"token\": \"k1\", \"ts\": \"$now\", \"amount\": 5, \"price\": 1.5, \"qty\": 2}"
        echo 'not json at all'
        echo "{\"ts\": \"$now\", \"amount\": 5}"
        echo "{\"token\": \"k2\", \"amount\": 5}"
        echo "{\"token\": \"k3\", \"ts\": \"$now\", \"amount\": \"five\"}"
        echo "[1, 2]"
        echo "{\"token\": \"k4\", \"ts\": \"2999-01-01T00:00:00Z\", \"amount\": 5}"
        echo "{\"token\": {\"a\": 1}, \"ts\": \"$now\", \"amount\": 5}"
        "$FS_TEST_PYTHON" -c 'print("{\"token\": \"k5\", \"junk\": \"" + "x" * 1100000 + "\"}")'
        echo "{\"token\": \"k1\", \"ts\": $(date +%s)000, \"amount\": 7, \"price\": 2.5, \"qty\": 3}"
    } > ev.jsonl
    kcat -P -b "$KAFKA" -t ev -X message.max.bytes=2000000 -l ev.jsonl
    run --separate-stderr fs stream --once --json
    [ "$status" -eq 0 ] || fail "fs stream exited $status: $stderr"
    assert_equal "$(jq -c '.sources[0] | [.events, .applied, .bad]' <<<"$output")" '[10,2,8]'
    assert_equal "$(grep -c '^warning: ev: ev\[0\]@' <<<"$stderr")" 8
    run grep -F "ev[0]@1: not JSON" <<<"$stderr"; assert_success
    run grep -F "ev[0]@2: no join key 'token'" <<<"$stderr"; assert_success
    run grep -F "ev[0]@3: no timestamp 'ts'" <<<"$stderr"; assert_success
    run grep -F "ev[0]@4: 'amount': 'five' is not" <<<"$stderr"; assert_success
    run grep -F "ev[0]@5: not a JSON object" <<<"$stderr"; assert_success
    run grep -F "ev[0]@6: 'ts': event time 2999-01-01T00:00:00Z is more than a day ahead of the clock" <<<"$stderr"; assert_success
    run grep -F "ev[0]@7: 'token' is an object, not a value" <<<"$stderr"; assert_success
    run grep -F "ev[0]@8: a message of" <<<"$stderr"; assert_success
    # the good events: the last one (Unix milliseconds) wins
    run -0 fs get-online -f last:price -f last:qty -e token=k1
    assert_equal "$(tail -n 1 <<<"$output")" "k1     2.5    3"
    # each bad message in the dead-letter topic, as it was, with why and where
    kcat -C -b "$KAFKA" -t ev_dlq -e -X fetch.message.max.bytes=2000000 -f '%h|%S\n' > dlq.txt
    assert_equal "$(wc -l < dlq.txt)" 8
    run grep -c 'fs-origin=ev\[0\]@1|15$' dlq.txt; assert_output 1
    run grep -F "fs-error=no join key 'token',fs-origin=ev[0]@2|" dlq.txt; assert_success
    assert_equal "$(stream_stat bad)" 8
}

@test "stream kafka: --max-events stops after that many, the next run goes on from there" {
    start_kafka ev:1
    stream_repo kafka
    T=$(next_hour)
    sref gen 16 1000 "$T" ev.jsonl
    produce ev ev.jsonl
    run -0 --separate-stderr fs stream --max-events 300 --batch-events 64 --json
    assert_equal "$(jq -c '.sources[0].events' <<<"$output")" 300
    run -0 fs status --json
    assert_equal "$(jq -c '.streams[0] | [.applied, .partitions[0].position, .lag]' <<<"$output")" '[300,300,700]'
    run -0 --separate-stderr fs stream --once --json
    assert_equal "$(jq -c '.sources[0].events' <<<"$output")" 700
    check_online ev.jsonl "$T"
}

@test "stream kafka: SIGTERM mid-stream writes what it read and exits 0; status and metrics show the counts" {
    start_kafka ev:2
    stream_repo kafka
    T=$(next_hour)
    sref gen 17 4000 "$T" ev.jsonl
    split -l 400 ev.jsonl chunk.
    stream_bg --batch-events 30 --verbose
    sleep 4 # the group joined
    local c n producer
    for c in chunk.*; do produce ev "$c"; done &
    producer=$!
    sleep 0.5
    kill -TERM "$STREAM_PID"
    local rc=0
    wait "$STREAM_PID" || rc=$?
    assert_equal "$rc" 0
    wait "$producer"
    # what it says it read is what the store holds: no batch half written
    n=$(sed -n 's/^ev: \([0-9]*\) events, \1 applied, 0 bad, 0 late$/\1/p' "$BATS_TEST_TMPDIR/stream.out")
    [ -n "$n" ] || fail "summary: $(cat "$BATS_TEST_TMPDIR/stream.out")"
    assert_equal "$(stream_stat applied)" "$n"
    run -0 fs stream --once
    assert_equal "$(stream_stat applied)" 4000
    check_online ev.jsonl "$T"
    run -0 fs status
    assert_line --regexp '^ev +4000 +0 +0 +0$'
    assert_line --regexp '^  ev\[0\] at [0-9]+, lag 0$'

    port=$(free_port)
    "$FS" serve-lite --port "$port" 2> serve.err 3>&- &
    track_pid $!
    for i in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" > /dev/null && break; sleep 0.1; done
    run -0 curl -sf "http://127.0.0.1:$port/metrics"
    assert_line 'fs_stream_events_total{source="ev",result="applied"} 4000'
    assert_line 'fs_stream_events_total{source="ev",result="bad"} 0'
    assert_line --regexp '^fs_stream_position\{source="ev",partition="1"\} [0-9]+$'
}

@test "stream kafka: errors: unknown source, not a stream source, no brokers, a topic that does not exist, bad options" {
    start_kafka ev:1
    stream_repo kafka
    run -128 --separate-stderr fs stream nope
    assert_equal "$stderr" "fatal: no source 'nope' is registered"
    run -128 --separate-stderr fs stream ev_log
    assert_equal "$stderr" "fatal: source 'ev_log' is a csv source, not a kafka or redis_stream source"
    run -129 --separate-stderr fs stream --max-events 0
    [[ "$stderr" == "error: --max-events: '0' is not a positive whole number"* ]] || fail "$stderr"
    run -129 --separate-stderr fs stream --batch-ms soon
    (unset FS_KAFKA_BROKERS; run -128 --separate-stderr "$FS" stream --once
     assert_equal "$stderr" "fatal: source 'ev': no brokers (set 'brokers' or FS_KAFKA_BROKERS)")
    sed -i 's/^topic: ev/topic: nothing_here/' features/ev.yaml
    fs apply -q -m "a topic that is not there"
    run -128 --separate-stderr env FS_TEST_STREAM_TIMEOUT_MS=1000 "$FS" stream --once
    assert_equal "$stderr" "fatal: source 'ev': kafka topic 'nothing_here' does not exist"
    sed -i 's/^topic: nothing_here/topic: ev/; s/^options: {/options: {fetch.wait.max.ms: "soon", /' features/ev.yaml
    fs apply -q -m "a bad option"
    run -128 --separate-stderr fs stream --once
    [[ "$stderr" == "fatal: source 'ev': kafka option 'fetch.wait.max.ms': "* ]] || fail "$stderr"
}
