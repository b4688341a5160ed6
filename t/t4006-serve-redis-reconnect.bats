#!/usr/bin/env bats
# serve-lite on Redis survives the connection breaking: a connection that
# Redis closed (CLIENT KILL, a restart) is made again for the next
# request, an idempotent read is sent again once, /health names the online
# store while Redis is down and recovers by itself when it is back.

load test_helper
load lib-serve

# Restart the private redis-server on the same port (its data is gone).
restart_redis() {
    local dir=$BATS_TEST_TMPDIR i
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$dir" > "$dir/redis2.log" 2>&1 3>&- &
    REDIS_PID=$!
    for i in $(seq 100); do
        [ "$(redis-cli -p "$REDIS_PORT" ping 2> /dev/null)" = PONG ] && return 0
        sleep 0.05
    done
    fail "redis-server did not come back"
}

conv_of_1001() {
    post /get-online-features "$(online_request 1001 '"driver_hourly_stats:conv_rate"')"
}

@test "serve redis: a connection killed by Redis is made again for the next request" {
    start_redis
    serve_repo
    start_server
    conv_of_1001
    assert_code 200
    [ "$(jq -c '.results[1].values' <<< "$body")" = "[0.5]" ]
    run -0 redis-cli -p "$REDIS_PORT" CLIENT KILL TYPE normal
    [ "$output" -ge 1 ]
    conv_of_1001
    assert_code 200
    [ "$(jq -c '.results[1].values' <<< "$body")" = "[0.5]" ]
    assert_healthy
}

@test "serve redis: /health names the online store while Redis is down and recovers after a restart" {
    start_redis
    serve_repo
    start_server
    conv_of_1001
    assert_code 200
    stop_redis
    http GET /health
    assert_code 503
    [ "$(jq -r .error <<< "$body")" = "online store unavailable" ]
    conv_of_1001
    [[ "$code" == 5* ]] || fail "expected a 5xx while Redis is down, got $code: $body"
    kill -0 "$SERVE_PID"
    restart_redis
    poll_until 200 GET /health
    # every server thread reconnects by itself (each at most every 0.5 s):
    # the data went with the old server, so an answer, not found
    poll_until 200 POST /get-online-features -H 'Content-Type: application/json' \
        --data-binary "$(online_request 1001 '"driver_hourly_stats:conv_rate"')"
    sleep 0.6 # past every thread's last failed attempt
    conv_of_1001
    assert_code 200
    [ "$(jq -c '.results[1].statuses' <<< "$body")" = '["NOT_FOUND"]' ]
    # materialized again, read again
    fs materialize now-1d now
    conv_of_1001
    assert_code 200
    [ "$(jq -c '.results[1].values' <<< "$body")" = "[0.5]" ]
}
