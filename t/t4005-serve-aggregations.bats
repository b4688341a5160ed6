#!/usr/bin/env bats
# serve-lite and aggregation views: POST /push adds events to the tiles,
# POST /get-online-features answers the windows at the time of the request
# in Feast's shape (PRESENT with the newest event's time, NOT_FOUND with
# the empty window's values), for both online stores.

load test_helper
load lib-serve

# A repo from fs init with a push source over driver_trips and a view of
# windows on it; nothing materialized (every pushed event is applied).
agg_serve_repo() {
    init_repo
    live_trips_view
}

push_and_read() {
    local t30 t20 t90
    t30=$(ago '30 minutes')
    t20=$(ago '20 minutes')
    t90=$(ago '90 minutes')
    post /push '{"push_source_name": "trips_push", "df": {"driver_id": [1001, 1001, 1001],
        "event_timestamp": ["'"$t30"'", "'"$t20"'", "'"$t90"'"], "fare": [5.0, 7.5, 100.0]}}'
    assert_code 200
    post /get-online-features '{"entities": {"driver_id": [1001, 1002]},
        "features": ["live_trips:n_1h", "live_trips:fare_1h", "live_trips:last_fare"]}'
    assert_code 200
    # the event of 90 minutes ago is outside the hour
    assert_json "$body" '{
      "metadata": {"feature_names": ["driver_id", "n_1h", "fare_1h", "last_fare"]},
      "results": [
        {"values": [1001, 1002], "statuses": ["PRESENT", "PRESENT"],
         "event_timestamps": ["1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"]},
        {"values": [2, 0], "statuses": ["PRESENT", "NOT_FOUND"],
         "event_timestamps": ["'"$t20"'", "1970-01-01T00:00:00Z"]},
        {"values": [12.5, 0], "statuses": ["PRESENT", "NOT_FOUND"],
         "event_timestamps": ["'"$t20"'", "1970-01-01T00:00:00Z"]},
        {"values": [7.5, null], "statuses": ["PRESENT", "NOT_FOUND"],
         "event_timestamps": ["'"$t20"'", "1970-01-01T00:00:00Z"]}]}'
    # the command line reads the same
    run -0 --separate-stderr fs get-online -f live_trips -e driver_id=1001 --json
    assert_json "$output" "$(jq -c '.results |= map(.values |= .[0:1] | .statuses |= .[0:1] | .event_timestamps |= .[0:1])' <<< "$body")"
}

@test "serve aggregations: /push adds to the tiles, /get-online-features reads the windows (sqlite)" {
    agg_serve_repo
    start_server
    push_and_read
}

@test "serve aggregations: /push adds to the tiles, /get-online-features reads the windows (redis)" {
    agg_serve_repo
    start_redis
    start_server
    push_and_read
}

@test "serve aggregations: a pushed value not of its type is a 4xx and writes nothing" {
    agg_serve_repo
    start_server
    post /push '{"push_source_name": "trips_push", "df": {"driver_id": [1001, 1001],
        "event_timestamp": ["'"$(ago '5 minutes')"'", "'"$(ago '4 minutes')"'"], "fare": [1.0, "cheap"]}}'
    [[ "$code" == 4* ]] || fail "expected a 4xx, got $code: $body"
    post /get-online-features '{"entities": {"driver_id": [1001]}, "features": ["live_trips:n_1h"]}'
    assert_code 200
    [ "$(jq -c '.results[1].values' <<< "$body")" = "[0]" ]
}
