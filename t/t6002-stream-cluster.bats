#!/usr/bin/env bats
# fs stream into an online store on a Redis Cluster (t/lib-cluster.bash: 3
# masters, 3 replicas), where no transaction spans the nodes: each batch is
# stored as an intent with its positions (one slot), then applied with
# marked updates, then settled. Values equal the reference
# (t/stream_reference.py) for Kafka and Redis Streams sources; killed at
# every step of a batch (before its intent, after it, before it is
# settled, after) and at random, restarted: every event counted once, no
# intent or marker left behind; two processes in a group, one killed; a
# master killed mid-stream.

load test_helper
load lib-online
load lib-stream
load lib-cluster

setup_file() { start_cluster; }
teardown_file() { stop_cluster; }

setup() {
    common_setup
    use_cluster
    cluster_empty
    export FS_REDIS_CLUSTER=$CLUSTER_SEED
}

# cluster_keys PATTERN: the keys matching PATTERN on every master, sorted
cluster_keys() {
    local p
    for p in $(cluster_masters); do redis-cli -p "$p" --scan --pattern "$1"; done | sort
}

# nothing_pending: no intent left to apply, and every marker its steps
# left expires within a minute (they were applied and settled)
nothing_pending() {
    local p k ttl
    assert_equal "$(cluster_keys '*stream-intent*')" ""
    for p in $(cluster_masters); do
        for k in $(redis-cli -p "$p" --scan --pattern '*:done:*'); do
            ttl=$(redis-cli -p "$p" pttl "$k")
            # (-2: expired since the scan)
            [ "$ttl" -eq -2 ] || { [ "$ttl" -gt 0 ] && [ "$ttl" -le 60000 ]; } ||
                fail "marker $k expires in $ttl ms"
        done
    done
}

@test "stream cluster: kafka events of 4 partitions into plain and aggregation views equal the reference; a second run reads nothing" {
    start_kafka ev:4
    stream_repo kafka
    T=$(next_hour)
    sref gen 21 3000 "$T" ev.jsonl
    produce ev ev.jsonl
    run -0 --separate-stderr fs stream --once --json --batch-events 200
    assert_equal "$(jq -c '.sources[0] | [.source, .type, .events, .applied, .bad]' <<<"$output")" \
        '["ev","kafka",3000,3000,0]'
    check_online ev.jsonl "$T"
    nothing_pending
    # the views' records are spread over every master; the positions sit
    # together in the project's slot
    local p
    for p in $(cluster_masters); do
        [ "$(redis-cli -p "$p" --scan --pattern 'fs:repo:agg:{*}:r:*' | wc -l)" -gt 0 ] ||
            fail "master $p holds no tile"
    done
    # (one a partition written: the producer's sticky partitioner may fill only some)
    assert_equal "$(cluster_keys 'fs:{repo}:@stream/ev/*')" \
        "$(fs status --json | jq -r '.streams[0].partitions[] | select(.position != null) | .partition' | sed 's|^|fs:{repo}:@stream/ev/|' | sort)"
    # nothing is read twice
    run -0 --separate-stderr fs stream --once --json
    assert_equal "$(jq -c '.sources[0] | [.events, .applied]' <<<"$output")" '[0,0]'
    check_online ev.jsonl "$T"
    run -0 fs status --json
    assert_equal "$(jq -c '.streams[0] | [.source, .applied, .bad, .lag, ([.partitions[].position] | add)]' <<<"$output")" \
        '["ev",3000,0,0,3000]'
    assert_equal "$(jq '.views[] | select(.name == "agg") | .events_applied' <<<"$output")" 3000
}

@test "stream cluster: killed before and after each step of a batch and at random, restarted: every event counted exactly once" {
    start_kafka ev:3
    stream_repo kafka
    crash_loop stream-before-commit#3 stream-after-intent#2 stream-before-settle#2 random \
        stream-after-intent#4 stream-after-commit#2 stream-before-settle#5
    # (a kill between a settle and its markers' expiry leaves them to last 7 days)
    assert_equal "$(cluster_keys '*stream-intent*')" ""
    assert_equal "$(jq '.views[] | select(.name == "agg") | .events_applied' <<<"$(fs status --json)")" 4000
}

@test "stream cluster: an intent left by a killed writer is applied by the next stream, and applied once more changes nothing" {
    start_kafka ev:2
    stream_repo kafka
    T=$(next_hour)
    sref gen 22 600 "$T" ev.jsonl
    produce ev ev.jsonl
    # killed after the third batch's intent is stored, before any of it is applied
    run env FS_TEST_CRASH_AT=stream-after-intent#3 "$FS" stream --once --batch-events 100
    assert_equal "$status" 137
    assert_equal "$(cluster_keys '*stream-intent/ev/*' | wc -l)" 1
    local intent
    intent=$(cluster_keys '*stream-intent/ev/*')
    redis-cli -c -p "${CLUSTER_PORTS[0]}" get "$intent" > intent.txt
    head -n 2 intent.txt | tr '\t' ' ' > head.txt
    assert_equal "$(sed -n 2p head.txt)" "ts token amount price qty"
    [[ "$(head -n 1 head.txt)" =~ ^fs-intent\ 1\ [01]$ ]] || fail "$(head -n 1 head.txt)"
    # its positions moved with it: the stored ones count its events
    # already, the views do not hold them yet
    local stored in_views
    stored=$(stream_stat applied)
    in_views=$(fs status --json | jq '.views[] | select(.name == "agg") | .events_applied')
    assert_equal "$((stored - in_views))" "$(($(grep -c . intent.txt) - 2))"
    [ "$in_views" -gt 0 ] && [ "$stored" -lt 600 ] || fail "$in_views in the views, $stored stored"
    # killed again as the replay settles it: its steps all done, none twice
    run env FS_TEST_CRASH_AT=stream-before-settle#1 "$FS" stream --once --batch-events 100
    assert_equal "$status" 137
    assert_equal "$(cluster_keys '*stream-intent/ev/*')" "$intent"
    # the same intent, applied by two streams at once: still once (two
    # --once members of a group may both stop before one is given a
    # partition: a third reads what is left)
    stream_bg --once --batch-events 100
    run -0 --separate-stderr fs stream --once --batch-events 100
    wait "$STREAM_PID"
    fs stream --once --batch-events 100 2>> "$BATS_TEST_TMPDIR/stream.err"
    [[ "$stderr$(cat "$BATS_TEST_TMPDIR/stream.err")" == *"ev: applying a batch whose writer stopped half-way (stream-intent/ev/"* ]] ||
        fail "no replay said: $stderr"
    check_online ev.jsonl "$T"
    assert_equal "$(stream_stat applied)" 600
    nothing_pending
}

@test "stream kafka cluster: two processes in one group split the partitions; one killed and restarted mid-way: exact" {
    two_consumers 23 3000
}

@test "stream cluster: a Redis stream into the cluster equals the reference; killed mid-way, restarted: exact" {
    start_redis
    stream_repo redis_stream "url: $FS_REDIS_URL"
    T=$(next_hour)
    sref redis 24 1500 "$T" ev.txt
    xadd ev ev.txt
    unset FS_REDIS_URL
    run env FS_TEST_CRASH_AT=stream-after-intent#4 "$FS" stream --once --batch-events 100
    assert_equal "$status" 137
    run -0 --separate-stderr fs stream --once --json --batch-events 100
    as_json ev.txt > ev.jsonl
    check_online ev.jsonl "$T"
    assert_equal "$(stream_stat applied)" 1500
    nothing_pending
}

# kill_a_master: kill -9 a master (not the first seed); its replica takes over
kill_a_master() {
    local victim
    victim=$(cluster_masters | grep -vx "${CLUSTER_PORTS[0]}" | head -n 1)
    kill -9 "$(redis-cli -p "$victim" info server | tr -d '\r' | sed -n 's/^process_id://p')"
}

@test "stream cluster: a master killed mid-stream: the stream rides through the failover; exact" {
    outage_midway 3 25 3000 kill_a_master
    cluster_settled || fail "no replica took over"
    nothing_pending
}
