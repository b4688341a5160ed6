#!/usr/bin/env bats
# A password in a URL never reaches a message, a log line or an HTTP body:
# the Redis URL of the online store, a webhook URL, an http(s) csv source.
# Each failing run's whole output is searched for the password.

load test_helper
load lib-serve

PW=s3cretPW42

# Every output of the test so far: the last command's, and serve-lite's.
no_password() {
    local all
    all="$output${stderr:-}$(cat "${SERVE_OUT:-/dev/null}" "${SERVE_ERR:-/dev/null}" 2> /dev/null)${body:-}"
    [[ "$all" != *"$PW"* ]] || fail "the password is in the output: $all"
}

@test "credentials: the online store's Redis password is masked in CLI errors" {
    init_repo
    fs apply -q
    export FS_REDIS_URL="redis://:$PW@127.0.0.1:$(free_port)/0"
    run -128 --separate-stderr fs materialize-incremental now
    no_password
    [[ "$stderr" == *"redis://:***@127.0.0.1:"* ]]
    run -128 --separate-stderr fs get-online -f driver_hourly_stats -e driver_id=1001
    no_password
    [[ "$stderr" == *"redis://:***@"* ]]
    run -128 --separate-stderr fs status
    no_password
    export FS_REDIS_URL="rediss://user:$PW@127.0.0.1:1/0"
    run -128 --separate-stderr fs get-online -f driver_hourly_stats -e driver_id=1001
    no_password
    [[ "$stderr" == *"rediss://user:***@127.0.0.1:1/0"* ]]
}

@test "credentials: serve-lite's answers and logs hold no Redis password when Redis goes away" {
    start_redis
    redis-cli -p "$REDIS_PORT" CONFIG SET requirepass "$PW" > /dev/null
    export FS_REDIS_URL="redis://:$PW@127.0.0.1:$REDIS_PORT/0"
    serve_repo
    start_server
    post /get-online-features "$(online_request 1001 '"driver_hourly_stats:conv_rate"')"
    assert_code 200
    stop_redis
    post /get-online-features "$(online_request 1001 '"driver_hourly_stats:conv_rate"')"
    [[ "$code" == 5* ]] || fail "expected a 5xx, got $code"
    no_password
    http GET /health
    assert_code 503
    no_password
    output=
    stop_server TERM
    no_password
}

@test "credentials: a webhook URL's password is masked in promote's warning" {
    init_repo
    printf 'webhooks:\n  - url: http://hook:%s@127.0.0.1:%s/h\n    events: [model.promoted]\n' \
        "$PW" "$(free_port)" >> fs.yaml
    fs apply -q
    printf 'm\n' > m.bin
    FS_WEBHOOK_RETRY_MS=1 fs register-model eta --artifact m.bin --metric auc=0.9 > /dev/null
    FS_WEBHOOK_RETRY_MS=1 run -0 --separate-stderr fs promote eta 1 staging
    [[ "$stderr" == *"warning:"*"http://hook:***@127.0.0.1:"* ]]
    no_password
}

@test "credentials: an http(s) csv source's password is masked when it cannot be read" {
    init_repo
    sed -i "s|path: data/driver_stats.csv|path: http://reader:$PW@127.0.0.1:$(free_port)/stats.csv|" features/driver.yaml
    fs apply -q
    printf 'driver_id,event_timestamp\n1001,2024-05-01T10:00:00Z\n' > rows.csv
    run -128 --separate-stderr fs get-historical --entities rows.csv -f driver_hourly_stats
    [[ "$stderr" == *"http://reader:***@127.0.0.1:"* ]]
    no_password
}
