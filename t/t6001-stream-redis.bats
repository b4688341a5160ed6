#!/usr/bin/env bats
# fs stream from Redis Streams (a redis-server of the test's own): values
# equal the reference computed from the entries added, exactly once across
# kills, into SQLite and into Redis; bad entries skipped, reported with
# their ids and copied to the dead-letter stream; the entry id as the time;
# the online store down mid-stream; errors.

load test_helper
load lib-online
load lib-stream

# redis_repo sqlite|redis: stream_repo over stream ev of the test's Redis,
# the online store SQLite (the source names the Redis) or that Redis.
redis_repo() {
    start_redis
    if [ "$1" = sqlite ]; then
        stream_repo redis_stream "url: $FS_REDIS_URL"
        unset FS_REDIS_URL
    else
        stream_repo redis_stream
    fi
}

@test "stream redis: entries into plain and aggregation views (SQLite store) equal the reference; a second run reads nothing" {
    redis_repo sqlite
    T=$(next_hour)
    sref redis 21 3000 "$T" ev.txt
    xadd ev ev.txt
    run -0 --separate-stderr fs stream --once --json
    assert_equal "$(jq -c '.sources[0] | [.source, .type, .events, .applied, .bad]' <<<"$output")" \
        '["ev","redis_stream",3000,3000,0]'
    as_json ev.txt > ev.jsonl
    check_online ev.jsonl "$T"
    run -0 --separate-stderr fs stream --once --json
    assert_equal "$(jq -c '.sources[0].events' <<<"$output")" 0
    last=$(redis_cli xrevrange ev + - count 1 | head -n 1)
    run -0 fs status --json
    assert_equal "$(jq -c '.streams[0] | [.stream, .applied, .lag, .partitions[0].position]' <<<"$output")" \
        "[\"ev\",3000,0,\"$last\"]"
    # entries added later: read from the stored id on
    sref redis 22 500 "$T" more.txt
    xadd ev more.txt
    run -0 fs status --json
    assert_equal "$(jq -c '.streams[0].lag' <<<"$output")" 500
    run -0 --separate-stderr fs stream --once --json
    assert_equal "$(jq -c '.sources[0].events' <<<"$output")" 500
    as_json more.txt >> ev.jsonl
    check_online ev.jsonl "$T"
}

# redis_crash_loop: kill fs stream around its commits and at random, then
# check that every entry counted once.
redis_crash_loop() {
    local T
    T=$(next_hour)
    sref redis 23 5000 "$T" ev.txt
    xadd ev ev.txt
    kill_points 40 0.05 0.3 stream-before-commit#2 stream-after-commit#3 stream-before-commit#5 random random
    run -0 fs stream --once --batch-events 40
    as_json ev.txt > ev.jsonl
    check_online ev.jsonl "$T"
    assert_equal "$(stream_stat applied)" 5000
}

@test "stream redis: killed before and after commits and at random, restarted: exactly once (SQLite store)" {
    redis_repo sqlite
    redis_crash_loop
}

@test "stream redis: killed before and after commits and at random, restarted: exactly once (Redis store)" {
    redis_repo redis
    redis_crash_loop
}

@test "stream redis: bad entries are skipped, counted, reported with their ids and copied to the dead-letter stream" {
    redis_repo sqlite
    sed -i 's/^batch_source: ev_log/batch_source: ev_log\ndead_letter: ev_dlq/' features/ev.yaml
    fs apply -q -m "dead letters"
    now=$(date +%s)
    redis_cli xadd ev 1-1 token k1 ts "$now" amount 4 price 1.25 qty 1 > /dev/null
    redis_cli xadd ev 1-2 ts "$now" amount 4 > /dev/null
    redis_cli xadd ev 1-3 token k2 amount 4 > /dev/null
    redis_cli xadd ev 1-4 token k3 ts "$now" amount four > /dev/null
    redis_cli xadd ev 1-5 token k4 ts yesterday > /dev/null
    redis_cli xadd ev 1-6 token k1 ts "$((now + 1))" amount 5 price 2.5 qty 9 > /dev/null
    run -0 --separate-stderr fs stream --once --json
    assert_equal "$(jq -c '.sources[0] | [.events, .applied, .bad]' <<<"$output")" '[6,2,4]'
    run grep -F "warning: ev: ev@1-2: no join key 'token'" <<<"$stderr"; assert_success
    run grep -F "warning: ev: ev@1-3: no timestamp 'ts'" <<<"$stderr"; assert_success
    run grep -F "warning: ev: ev@1-4: 'amount': 'four' is not" <<<"$stderr"; assert_success
    run grep -F "warning: ev: ev@1-5: 'ts': bad timestamp 'yesterday'" <<<"$stderr"; assert_success
    run -0 fs get-online -f last:price -f last:qty -e token=k1
    assert_equal "$(tail -n 1 <<<"$output")" "k1     2.5    9"
    # the entries as they were, with why and where
    run -0 redis_cli --no-raw xrange ev_dlq - +
    run -0 redis_cli xlen ev_dlq
    assert_output 4
    run -0 redis_cli xrange ev_dlq - + count 1
    assert_equal "$(tr '\n' ' ' <<<"$output" | sed 's/^[0-9]*-[0-9]* //')" \
        "ts $now amount 4 fs-error no join key 'token' fs-origin 1-2 "

    # many bad entries: at most 10 warnings a second, the others counted
    for i in $(seq 40); do echo "XADD ev * token k$i ts $now amount x$i"; done | redis_cli > /dev/null
    run -0 --separate-stderr fs stream --once --json
    assert_equal "$(jq -c '.sources[0].bad' <<<"$output")" 40
    shown=$(grep -c '^warning: ev: ev@.*is not' <<<"$stderr")
    hidden=$(sed -n 's/^warning: ev: \([0-9]*\) more warnings not shown$/\1/p' <<<"$stderr" | awk '{ s += $1 } END { print s + 0 }')
    [ "$shown" -le 20 ] || fail "$shown warnings shown: $stderr"
    assert_equal "$((shown + hidden))" 40
}

@test "stream redis: without timestamp_field the entry id's milliseconds are the event time" {
    STREAM_TS= redis_repo sqlite
    run -0 grep -c '^timestamp_field' features/ev.yaml
    assert_output 1 # the csv source's only
    T=$(next_hour)
    redis_cli xadd ev "$(( (T - 4000) * 1000 ))-0" token k1 amount 1 price 1.0 qty 1 > /dev/null
    redis_cli xadd ev "$(( (T - 100) * 1000 ))-0" token k1 amount 2 price 2.0 qty 2 > /dev/null
    redis_cli xadd ev "$(( (T - 100) * 1000 ))-1" token k1 amount 3 price 2.0 qty 2 > /dev/null
    run -0 fs stream --once
    run -0 fs get-online -f agg:n_1h -f agg:amount_sum_1h -f agg:amount_max_2h -e token=k1 --at "$T"
    assert_equal "$(tail -n 1 <<<"$output")" "k1     2     5.0            3.0"
}

@test "stream redis: the online store down for a few seconds mid-stream: retried, nothing lost or doubled" {
    redis_repo redis
    T=$(next_hour)
    sref redis 24 4000 "$T" all.txt
    head -n 2000 all.txt > a.txt
    tail -n +2001 all.txt > b.txt
    xadd ev a.txt
    "$FS" stream --batch-events 100 > stream.out 2> stream.err 3>&- &
    local pid=$! port=$REDIS_PORT i
    track_pid $pid
    for i in $(seq 100); do [ "$(stream_stat applied)" -ge 2000 ] && break; sleep 0.1; done
    # down: saved, stopped; up again on the same port with what it held
    redis_cli shutdown save > /dev/null 2>&1 || true
    wait "$REDIS_PID" 2> /dev/null || true
    sleep 2
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$BATS_TEST_TMPDIR" > "$BATS_TEST_TMPDIR/redis2.log" 2>&1 3>&- &
    REDIS_PID=$!
    for i in $(seq 100); do [ "$(redis_cli ping 2> /dev/null)" = PONG ] && break; sleep 0.05; done
    xadd ev b.txt
    for i in $(seq 150); do [ "$(stream_stat applied)" -ge 4000 ] && break; sleep 0.2; done
    kill -TERM $pid
    wait $pid
    assert_equal "$(stream_stat applied)" 4000
    as_json all.txt > all.jsonl
    check_online all.jsonl "$T"
    run grep -c "(retrying)" stream.err
    [ "$output" -ge 1 ] || fail "no outage reported: $(cat stream.err)"
}

@test "stream redis: errors: no url with a SQLite store, a stream that does not exist" {
    start_redis
    stream_repo redis_stream
    local url=$FS_REDIS_URL
    unset FS_REDIS_URL
    run -128 --separate-stderr fs stream --once
    assert_equal "$stderr" "fatal: source 'ev': no 'url' (required when the online store is not one redis)"
    export FS_REDIS_URL=$url
    run -128 --separate-stderr env FS_TEST_STREAM_TIMEOUT_MS=500 "$FS" stream --once
    assert_equal "$stderr" "fatal: source 'ev': redis stream 'ev' does not exist"
}

@test "stream redis: --once gives up on a Redis that does not answer, with an error naming it" {
    start_redis
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    stream_repo redis_stream "url: redis://127.0.0.1:$port/0"
    unset FS_REDIS_URL
    SECONDS=0
    run -128 --separate-stderr env FS_TEST_STREAM_TIMEOUT_MS=500 timeout 20 "$FS" stream --once
    [ "$SECONDS" -lt 10 ] || fail "took $SECONDS s"
    assert_regex "$stderr" "^warning: ev: .*Connection refused.* \(retrying\)"
    assert_regex "$stderr" "fatal: source 'ev': redis does not answer: .*Connection refused"
    # nothing was recorded
    run -0 fs status --json
    assert_equal "$(jq -c '.streams[0].applied' <<<"$output")" 0
}
