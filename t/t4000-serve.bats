#!/usr/bin/env bats
# serve-lite: POST /get-online-features (features, feature_service,
# full_feature_names, statuses, many rows) and POST /push, on SQLite and
# on Redis. The data is serve_repo's (see lib-serve.bash).

load test_helper
load lib-serve

setup_file() {
    shared_server sqlite
    shared_server redis
}

teardown_file() { stop_shared_servers; }

EPOCH=1970-01-01T00:00:00Z
ALL='"driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate", "driver_hourly_stats:avg_daily_trips"'

# The join-key result of rows $1 (a JSON list body) of $2 rows.
key_result() {
    local st ts i
    st=$(for ((i = 0; i < $2; i++)); do printf '"PRESENT",'; done)
    ts=$(for ((i = 0; i < $2; i++)); do printf '"%s",' "$EPOCH"; done)
    printf '{"values": [%s], "statuses": [%s], "event_timestamps": [%s]}' "$1" "${st%,}" "${ts%,}"
}

# ---- bodies shared by the SQLite and Redis tests ----

features_form() {
    post /get-online-features "$(online_request '1001, 1002, 1003, 9999' "$ALL")"
    assert_code 200
    assert_json "$body" '{
      "metadata": {"feature_names": ["driver_id", "conv_rate", "acc_rate", "avg_daily_trips"]},
      "results": [
        '"$(key_result '1001, 1002, 1003, 9999' 4)"',
        {"values": [0.5, 0.125, 1.5, null],
         "statuses": ["PRESENT", "PRESENT", "PRESENT", "NOT_FOUND"],
         "event_timestamps": ["'"$T1"'", "'"$T1"'", "'"$T2"'", "'$EPOCH'"]},
        {"values": [0.75, null, 0.25, null],
         "statuses": ["PRESENT", "NULL_VALUE", "PRESENT", "NOT_FOUND"],
         "event_timestamps": ["'"$T1"'", "'"$T1"'", "'"$T2"'", "'$EPOCH'"]},
        {"values": [10, 20, -3, null],
         "statuses": ["PRESENT", "PRESENT", "PRESENT", "NOT_FOUND"],
         "event_timestamps": ["'"$T1"'", "'"$T1"'", "'"$T2"'", "'$EPOCH'"]}]}'
}

service_form() {
    post /get-online-features '{"entities": {"driver_id": [1003, 1001]}, "feature_service": "driver_activity_v1"}'
    assert_code 200
    assert_json "$body" '{
      "metadata": {"feature_names": ["driver_id", "conv_rate", "acc_rate"]},
      "results": [
        '"$(key_result '1003, 1001' 2)"',
        {"values": [1.5, 0.5], "statuses": ["PRESENT", "PRESENT"],
         "event_timestamps": ["'"$T2"'", "'"$T1"'"]},
        {"values": [0.25, 0.75], "statuses": ["PRESENT", "PRESENT"],
         "event_timestamps": ["'"$T2"'", "'"$T1"'"]}]}'
}

not_found() {
    post /get-online-features "$(online_request '424242' "$ALL")"
    assert_code 200
    assert_json "$body" '{
      "metadata": {"feature_names": ["driver_id", "conv_rate", "acc_rate", "avg_daily_trips"]},
      "results": [
        '"$(key_result 424242 1)"',
        {"values": [null], "statuses": ["NOT_FOUND"], "event_timestamps": ["'$EPOCH'"]},
        {"values": [null], "statuses": ["NOT_FOUND"], "event_timestamps": ["'$EPOCH'"]},
        {"values": [null], "statuses": ["NOT_FOUND"], "event_timestamps": ["'$EPOCH'"]}]}'
}

push_read_back() {
    local ts
    ts=$(ago '5 minutes')
    post /push '{"push_source_name": "driver_push", "to": "online", "df": {
        "driver_id": [7, 8, 7], "event_timestamp": ["'"$ts"'", "'"$ts"'", "'"$(ago '10 minutes')"'"],
        "created": [null, null, null], "conv_rate": [0.5, 2, 9.75],
        "acc_rate": [0.25, null, 0.5], "avg_daily_trips": [3, 4, 5]}}'
    assert_code 200
    assert_json "$body" '{"status": "ok", "views": [{"view": "driver_pushed", "rows": 3, "keys_written": 2, "newest_event": "'"$ts"'"}]}'
    post /get-online-features '{"entities": {"driver_id": [7, 8, 9]}, "full_feature_names": true,
        "features": ["driver_pushed:conv_rate", "driver_pushed:acc_rate", "driver_pushed:avg_daily_trips"]}'
    assert_code 200
    assert_json "$body" '{
      "metadata": {"feature_names": ["driver_id", "driver_pushed__conv_rate", "driver_pushed__acc_rate",
                                     "driver_pushed__avg_daily_trips"]},
      "results": [
        '"$(key_result '7, 8, 9' 3)"',
        {"values": [0.5, 2.0, null], "statuses": ["PRESENT", "PRESENT", "NOT_FOUND"],
         "event_timestamps": ["'"$ts"'", "'"$ts"'", "'$EPOCH'"]},
        {"values": [0.25, null, null], "statuses": ["PRESENT", "NULL_VALUE", "NOT_FOUND"],
         "event_timestamps": ["'"$ts"'", "'"$ts"'", "'$EPOCH'"]},
        {"values": [3, 4, null], "statuses": ["PRESENT", "PRESENT", "NOT_FOUND"],
         "event_timestamps": ["'"$ts"'", "'"$ts"'", "'$EPOCH'"]}]}'
}

# ---- SQLite ----

@test "serve: get-online-features with features answers Feast's column-oriented shape" {
    use_server sqlite
    features_form
}

@test "serve: an int64 key sent as the string \"01001\" or \"+1001\" reads 1001 and is echoed as 1001" {
    use_server sqlite
    post /get-online-features "$(online_request '"01001", "+1001", 1001' '"driver_hourly_stats:avg_daily_trips"')"
    assert_code 200
    assert_equal "$(jq -c '[.results[0].values, (.results[1].values | map(. != null))]' <<< "$body")" \
        '[[1001,1001,1001],[true,true,true]]'
}

@test "serve: get-online-features with full_feature_names true names view__feature" {
    use_server sqlite
    post /get-online-features "$(online_request '1001' \
        '"driver_hourly_stats:avg_daily_trips", "driver_hourly_stats:conv_rate"' ', "full_feature_names": true')"
    assert_code 200
    assert_json "$body" '{
      "metadata": {"feature_names": ["driver_id", "driver_hourly_stats__avg_daily_trips",
                                     "driver_hourly_stats__conv_rate"]},
      "results": [
        '"$(key_result 1001 1)"',
        {"values": [10], "statuses": ["PRESENT"], "event_timestamps": ["'"$T1"'"]},
        {"values": [0.5], "statuses": ["PRESENT"], "event_timestamps": ["'"$T1"'"]}]}'
}

@test "serve: get-online-features with full_feature_names false names the bare feature" {
    use_server sqlite
    post /get-online-features "$(online_request '1002' '"driver_hourly_stats:avg_daily_trips"' \
        ', "full_feature_names": false')"
    assert_code 200
    assert_json "$body" '{
      "metadata": {"feature_names": ["driver_id", "avg_daily_trips"]},
      "results": ['"$(key_result 1002 1)"',
        {"values": [20], "statuses": ["PRESENT"], "event_timestamps": ["'"$T1"'"]}]}'
}

@test "serve: get-online-features with feature_service answers the service's features in order" {
    use_server sqlite
    service_form
}

@test "serve: get-online-features with feature_service and full_feature_names true" {
    use_server sqlite
    post /get-online-features '{"entities": {"driver_id": [1002]}, "feature_service": "driver_activity_v1",
                                "full_feature_names": true}'
    assert_code 200
    assert_json "$body" '{
      "metadata": {"feature_names": ["driver_id", "driver_hourly_stats__conv_rate", "driver_hourly_stats__acc_rate"]},
      "results": ['"$(key_result 1002 1)"',
        {"values": [0.125], "statuses": ["PRESENT"], "event_timestamps": ["'"$T1"'"]},
        {"values": [null], "statuses": ["NULL_VALUE"], "event_timestamps": ["'"$T1"'"]}]}'
}

@test "serve: the response equals fs get-online --json for the same request" {
    use_server sqlite
    post /get-online-features "$(online_request '1001, 1002, 1003, 9999' "$ALL")"
    assert_code 200
    run -0 fs get-online -f driver_hourly_stats:conv_rate -f driver_hourly_stats:acc_rate \
        -f driver_hourly_stats:avg_daily_trips -e driver_id=1001 -e driver_id=1002 -e driver_id=1003 \
        -e driver_id=9999 --json
    assert_json "$body" "$output"
    post /get-online-features '{"entities": {"driver_id": [1003, 1001, 5]}, "feature_service": "driver_activity_v1",
                                "full_feature_names": true}'
    assert_code 200
    run -0 fs get-online -f driver_activity_v1 -e driver_id=1003 -e driver_id=1001 -e driver_id=5 \
        --full-feature-names --json
    assert_json "$body" "$output"
}

@test "serve: the sample data of fs init is served as fs get-online reads it" {
    init_repo
    fs apply -q
    fs materialize-incremental -q now
    start_server
    post /get-online-features "$(online_request '1001, 1002, 1003, 1004, 1005' "$ALL")"
    assert_code 200
    # every sample driver has a value, none is stale
    jq -e '[.results[1:][].statuses[]] | unique == ["PRESENT"]' <<< "$body" > /dev/null ||
        fail "not all PRESENT: $body"
    run -0 fs get-online -f driver_hourly_stats:conv_rate -f driver_hourly_stats:acc_rate \
        -f driver_hourly_stats:avg_daily_trips -e driver_id=1001 -e driver_id=1002 -e driver_id=1003 \
        -e driver_id=1004 -e driver_id=1005 --json
    assert_json "$body" "$output"
}

@test "serve: an unknown entity key is NOT_FOUND with a null value" {
    use_server sqlite
    not_found
}

@test "serve: a null feature value is NULL_VALUE with its event timestamp" {
    use_server sqlite
    post /get-online-features "$(online_request '1002' '"driver_hourly_stats:acc_rate"')"
    assert_code 200
    assert_json "$body" '{
      "metadata": {"feature_names": ["driver_id", "acc_rate"]},
      "results": ['"$(key_result 1002 1)"',
        {"values": [null], "statuses": ["NULL_VALUE"], "event_timestamps": ["'"$T1"'"]}]}'
}

@test "serve: a value older than now - ttl is OUTSIDE_MAX_AGE and still returned" {
    use_server sqlite
    local old new
    old=$(ago '3 hours')
    new=$(ago '20 minutes')
    post /push '{"push_source_name": "driver_push", "df": {"driver_id": [11, 12],
        "event_timestamp": ["'"$old"'", "'"$new"'"], "created": [null, null],
        "conv_rate": [0.5, 0.25], "acc_rate": [1, 2], "avg_daily_trips": [11, 22]}}'
    assert_code 200
    post /get-online-features "$(online_request '11, 12' '"driver_pushed:conv_rate", "driver_pushed:avg_daily_trips"')"
    assert_code 200
    assert_json "$body" '{
      "metadata": {"feature_names": ["driver_id", "conv_rate", "avg_daily_trips"]},
      "results": ['"$(key_result '11, 12' 2)"',
        {"values": [0.5, 0.25], "statuses": ["OUTSIDE_MAX_AGE", "PRESENT"],
         "event_timestamps": ["'"$old"'", "'"$new"'"]},
        {"values": [11, 22], "statuses": ["OUTSIDE_MAX_AGE", "PRESENT"],
         "event_timestamps": ["'"$old"'", "'"$new"'"]}]}'
}

@test "serve: 100 entity rows in one request answer 100 values each, in request order" {
    use_server sqlite
    local ids
    # 1001..1003 and 97 unknown keys, interleaved
    ids=$(python3 -c 'print(", ".join(str(1001 + i % 3 if i % 7 == 0 else 50000 + i) for i in range(100)))')
    post /get-online-features "$(online_request "$ids" '"driver_hourly_stats:avg_daily_trips"')"
    assert_code 200
    python3 -c '
import json, sys
r = json.loads(sys.argv[1])
ids = [int(x) for x in sys.argv[2].split(",")]
trips = {1001: 10, 1002: 20, 1003: -3}
assert r["metadata"]["feature_names"] == ["driver_id", "avg_daily_trips"], r["metadata"]
keys, feat = r["results"]
assert keys["values"] == ids, keys["values"]
assert keys["statuses"] == ["PRESENT"] * 100
assert feat["values"] == [trips.get(i) for i in ids], feat["values"]
assert feat["statuses"] == ["PRESENT" if i in trips else "NOT_FOUND" for i in ids], feat["statuses"]
assert all(len(x) == 100 for x in (keys["event_timestamps"], feat["values"], feat["event_timestamps"]))
' "$body" "$ids"
}

@test "serve: push writes to the online store and get-online-features reads it back" {
    use_server sqlite
    push_read_back
    # fs get-online reads the same rows from the store
    run -0 fs get-online -f driver_pushed:conv_rate -f driver_pushed:acc_rate -f driver_pushed:avg_daily_trips \
        -e driver_id=7 -e driver_id=8 -e driver_id=9 --full-feature-names --json
    assert_json "$body" "$output"
}

@test "serve: push is newest-wins against what the online store holds" {
    use_server sqlite
    local newer older
    newer=$(ago '5 minutes')
    older=$(ago '30 minutes')
    post /push '{"push_source_name": "driver_push", "df": {"driver_id": [21], "event_timestamp": ["'"$newer"'"],
        "created": [null], "conv_rate": [1], "acc_rate": [1], "avg_daily_trips": [100]}}'
    assert_code 200
    post /push '{"push_source_name": "driver_push", "df": {"driver_id": [21], "event_timestamp": ["'"$older"'"],
        "created": [null], "conv_rate": [2], "acc_rate": [2], "avg_daily_trips": [200]}}'
    assert_code 200
    post /get-online-features "$(online_request '21' '"driver_pushed:avg_daily_trips"')"
    assert_code 200
    jq -e --arg t "$newer" '.results[1] == {"values": [100], "statuses": ["PRESENT"], "event_timestamps": [$t]}' \
        <<< "$body" > /dev/null || fail "the older push won: $body"
}

@test "serve: push with a to that is no store is refused with 400 and writes nothing" {
    use_server sqlite
    local to
    for to in '"nearline"' '"Online"' '1'; do
        post /push '{"push_source_name": "driver_push", "to": '"$to"', "df": {"driver_id": [31],
            "event_timestamp": ["'"$(ago '1 minute')"'"], "created": [null], "conv_rate": [1],
            "acc_rate": [1], "avg_daily_trips": [1]}}'
        assert_error 400 "to"
    done
    post /get-online-features "$(online_request '31' '"driver_pushed:conv_rate"')"
    assert_code 200
    jq -e '.results[1].statuses == ["NOT_FOUND"]' <<< "$body" > /dev/null || fail "written: $body"
}

# ---- Redis ----

@test "serve: get-online-features with features on Redis" {
    use_server redis
    features_form
    # and the data really is in this Redis
    run -0 redis-cli -p "$REDIS_PORT" dbsize
    [ "$output" -gt 0 ]
}

@test "serve: get-online-features with feature_service on Redis" {
    use_server redis
    service_form
}

@test "serve: an unknown entity key is NOT_FOUND on Redis" {
    use_server redis
    not_found
}

@test "serve: push then get-online-features on Redis" {
    use_server redis
    push_read_back
}
