#!/usr/bin/env bats
# serve-lite and Feast, round 2: what Feast's SDK sends to a remote online
# store, field for field, taken from Feast's code (feast-dev/feast,
# sdk/python/feast/infra/online_stores/remote.py: online_write_batch and
# online_read; feature_store.py: materialize and materialize_incremental
# with a remote online store; feature_server.py: /push with each "to",
# /write-to-online-store, /materialize, /materialize-incremental and its
# exception handler; errors.py: FeastError.to_error_detail), and the
# answers checked against what Feast's server returns for them.

load test_helper
load lib-serve

setup_file() { shared_server sqlite; }
teardown_file() { stop_shared_servers; }
setup() {
    common_setup
    use_server sqlite
}

# feast_read IDS FEATURES: what RemoteOnlineStore.online_read sends
# ({"features": ["view:f", ...], "entities": {join_key: [values]}}), read
# back the way it reads the answer: per entity row, the PRESENT values of
# the features asked for, and _get_event_ts (results[1].event_timestamps[0]
# through datetime.fromisoformat) -- printed as JSON.
feast_read() {
    post /get-online-features "{\"features\": [$2], \"entities\": {\"driver_id\": [$1]}}"
    assert_code 200
    run -0 python3 - "$body" <<'EOF'
import json, sys
from datetime import datetime
r = json.loads(sys.argv[1])
names = r["metadata"]["feature_names"]
ets = r["results"][1]["event_timestamps"]
rows = []
for j in range(len(r["results"][0]["values"])):
    row = {}
    for i, n in enumerate(names[1:], 1):
        if r["results"][i]["statuses"][j] == "PRESENT":
            row[n] = r["results"][i]["values"][j]
    rows.append(row)
ts = datetime.fromisoformat(ets[0].replace("Z", "+00:00")) if ets else None
print(json.dumps({"rows": rows, "ts": ts.isoformat() if ts else None}))
EOF
    read_out=$output
}

@test "feast write: online_write_batch's request writes the rows, read back by online_read" {
    # RemoteOnlineStore.online_write_batch: join keys, features, naive UTC
    # isoformat() event times, created None, allow_registry_cache false
    post /write-to-online-store '{"feature_view_name": "driver_hourly_stats",
      "df": {"driver_id": [7001, 7002], "conv_rate": [3.0, 0.25], "acc_rate": [0.5, null],
             "avg_daily_trips": [4, 5],
             "event_timestamp": ["'"${T1%Z}"'", "'"${T1%Z}"'.123456"],
             "created": [null, null]},
      "allow_registry_cache": false}'
    assert_code 200
    feast_read '7001, 7002' '"driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate", "driver_hourly_stats:avg_daily_trips"'
    assert_json "$read_out" '{"rows": [{"conv_rate": 3.0, "acc_rate": 0.5, "avg_daily_trips": 4},
                                      {"conv_rate": 0.25, "avg_daily_trips": 5}],
                             "ts": "'"${T1%Z}"'+00:00"}'
    # the float 3.0 is written as a float, never as 3
    post /get-online-features '{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [7001, 7002]}}'
    [[ "$body" == *'"values":[3.0,0.25]'* ]] || fail "a whole float not written as 3.0: $body"
    # event timestamps with 0 or 6 fractional digits (Python 3.10's fromisoformat reads no others)
    [[ "$body" == *"\"event_timestamps\":[\"$T1\",\"${T1%Z}.123456Z\"]"* ]] ||
        fail "event timestamps not as Feast writes them: $body"
}

@test "feast write: a fraction of .12 seconds is written with 6 digits" {
    post /write-to-online-store '{"feature_view_name": "driver_hourly_stats",
      "df": {"driver_id": [7003], "conv_rate": [1], "acc_rate": [1], "avg_daily_trips": [1],
             "event_timestamp": ["'"${T1%Z}"'.12"], "created": [null]}}'
    assert_code 200
    post /get-online-features '{"features": ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate"], "entities": {"driver_id": [7003]}}'
    # (raw text: jq would print 1.0 as 1)
    [[ "$body" == *'{"values":[1.0],"statuses":["PRESENT"],"event_timestamps":["'"${T1%Z}"'.120000Z"]},{"values":[1.0],'* ]] ||
        fail "not 1.0 and 6 digits: $body"
    # an int64 stays an int
    post /get-online-features '{"features": ["driver_hourly_stats:avg_daily_trips"], "entities": {"driver_id": [7003]}}'
    [[ "$body" == *'"values":[1]'* ]] || fail "an int64 not written as an int: $body"
}

@test "feast write: an unknown view is Feast's FeastObjectNotFoundException; a bad row writes nothing" {
    post /write-to-online-store '{"feature_view_name": "driver_hourly_stat", "df": {"driver_id": [1]}}'
    assert_feast_error 404 FeastObjectNotFoundException "Can't recognize feast object with a name driver_hourly_stat"
    post /write-to-online-store '{"feature_view_name": "driver_hourly_stats",
      "df": {"driver_id": [7010, 7011], "conv_rate": [0.5, "fast"], "acc_rate": [1, 1], "avg_daily_trips": [1, 1],
             "event_timestamp": ["'"$T1"'", "'"$T1"'"], "created": [null, null]}}'
    assert_error 400 "'fast' is not a float64"
    post /write-to-online-store '{"feature_view_name": "driver_hourly_stats", "df": {"driver_id": [7012]}}'
    assert_error 400 "has no column 'event_timestamp'"
    post /write-to-online-store '{"df": {"driver_id": [7012]}}'
    assert_error 400 "feature_view_name: expected a string"
    feast_read '7010, 7011' '"driver_hourly_stats:conv_rate"'
    assert_json "$read_out" '{"rows": [{}, {}], "ts": "1970-01-01T00:00:00+00:00"}'
}

@test "feast write: an aggregation view takes its events through write-to-online-store" {
    # events after the view's batch end are applied to its tiles, one before is late
    local be t1 t2 late
    be=$(fs status --json | jq -r '.views[] | select(.name == "driver_trip_stats") | .batch_end')
    t1=$(date -u -d "$be + 1 second" +%Y-%m-%dT%H:%M:%SZ)
    t2=$(date -u -d "$be + 2 seconds" +%Y-%m-%dT%H:%M:%SZ)
    late=$(date -u -d "$be - 1 hour" +%Y-%m-%dT%H:%M:%SZ)
    post /write-to-online-store '{"feature_view_name": "driver_trip_stats",
      "df": {"driver_id": [7020, 7020, 7020], "fare": [10, 2.5, 100],
             "event_timestamp": ["'"$t1"'", "'"$t2"'", "'"$late"'"]}}'
    assert_code 200
    run -0 jq -c '.views[0] | [.view, .applied, .late]' <<< "$body"
    assert_output '["driver_trip_stats",2,1]'
    post /get-online-features '{"features": ["driver_trip_stats:trips_1h", "driver_trip_stats:fare_sum_1h", "driver_trip_stats:fare_max_1d"], "entities": {"driver_id": [7020]}}'
    run -0 jq -c '[.results[1].values[0], .results[2].values[0], .results[3].values[0]]' <<< "$body"
    assert_output '[2,12.5,10]'
    # the sum and max of a float column are floats, the count an int (raw text)
    [[ "$body" == *'"values":[2],'*'"values":[12.5],'*'"values":[10.0],'* ]] || fail "$body"
}

@test "feast write: timestamp features are Unix seconds" {
    local tdir=$BATS_TEST_TMPDIR/tsrepo
    mkdir -p "$tdir" && cd "$tdir"
    init_repo
    cat > data/signup.csv <<EOF
driver_id,event_timestamp,signed_up
1,$T1,2024-05-01T10:00:00Z
2,$T1,2024-05-01T10:00:00.25Z
3,$T1,1969-12-31T23:59:59.5Z
EOF
    cat > features/signup.yaml <<'EOF'
kind: source
name: signup
type: csv
path: data/signup.csv
timestamp_field: event_timestamp
---
kind: feature_view
name: driver_signup
entities: [driver]
source: signup
features:
  - {name: signed_up, type: timestamp}
EOF
    "$FS" apply -q -m signup
    "$FS" materialize-incremental -q now
    start_server
    post /get-online-features '{"features": ["driver_signup:signed_up"], "entities": {"driver_id": [1, 2, 3, 4]}}'
    assert_code 200
    [[ "$body" == *'"values":[1714557600,1714557600.250000,-0.500000,null]'* ]] ||
        fail "timestamp features not as Unix seconds: $body"
    # fs get-online --json prints the same response
    run -0 "$FS" get-online --json -f driver_signup:signed_up -e driver_id=1 -e driver_id=2
    [[ "$output" == *'"values":[1714557600,1714557600.250000]'* ]] || fail "$output"
}

@test "feast write: entities by entity name stand for the join key; other columns are dropped" {
    # Feast maps an entity's name to its join key (with a warning)
    post /get-online-features '{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver": [1001, 1002]}}'
    assert_code 200
    run -0 jq -c '[.metadata.feature_names, .results[0].values, .results[1].values]' <<< "$body"
    assert_output '[["driver_id","conv_rate"],[1001,1002],[0.5,0.125]]'
    # a column that is no join key of the views asked for is not in the answer
    post /get-online-features '{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001], "region": ["eu"]}}'
    assert_code 200
    run -0 jq -c '[.metadata.feature_names, .results[1].values]' <<< "$body"
    assert_output '[["driver_id","conv_rate"],[0.5]]'
    # still checked: unequal lengths
    post /get-online-features '{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001], "region": ["eu", "us"]}}'
    assert_error 400 "columns have different lengths (region has 2, expected 1)"
}

@test "feast write: view@latest:feature is the view" {
    post /get-online-features '{"features": ["driver_hourly_stats@latest:conv_rate"], "entities": {"driver_id": [1001]}}'
    assert_code 200
    run -0 jq -c '[.metadata.feature_names, .results[1].values]' <<< "$body"
    assert_output '[["driver_id","conv_rate"],[0.5]]'
}

@test "feast write: materialize with the body Feast's SDK sends runs fs materialize" {
    # a row added to the offline data after the shared materialization
    printf '1003,%s,9.5,0.5,30,%s\n' "$(ago '30 minutes')" "$(ago '30 minutes')" >> data/driver_stats.csv
    # FeatureStore.materialize with a remote online store: isoformat() times
    local end
    end=$(date -u +%Y-%m-%dT%H:%M:%S)
    post /materialize '{"start_ts": "'"$(date -u -d '-1 day' +%Y-%m-%dT%H:%M:%S+00:00)"'",
                        "end_ts": "'"$end"'.123456+00:00",
                        "feature_views": ["driver_hourly_stats"], "disable_event_timestamp": false,
                        "full_feature_names": false}'
    assert_code 200
    run -0 jq -c '[.views[] | .view]' <<< "$body"
    assert_output '["driver_hourly_stats"]'
    feast_read 1003 '"driver_hourly_stats:conv_rate"'
    run -0 jq -c '.rows' <<< "$read_out"
    assert_output '[{"conv_rate":9.5}]'
    # recorded as the CLI records it: the next incremental run starts there
    run -0 "$FS" status --json
    run -0 jq -r '.views[] | select(.name == "driver_hourly_stats") | .last_end' <<< "$output"
    assert_output "$end.123456Z"
}

@test "feast write: materialize-incremental with Feast's body, feature_views null" {
    # after the last recorded end (an earlier test may have materialized up to now)
    local t
    sleep 2
    t=$(date -u -d '-1 second' +%Y-%m-%dT%H:%M:%SZ)
    printf '1002,%s,7.25,0.5,30,%s\n' "$t" "$t" >> data/driver_stats.csv
    post /materialize-incremental '{"end_ts": "'"$(date -u +%Y-%m-%dT%H:%M:%S)"'", "feature_views": null, "full_feature_names": false}'
    assert_code 200
    feast_read 1002 '"driver_hourly_stats:conv_rate"'
    run -0 jq -c '.rows' <<< "$read_out"
    assert_output '[{"conv_rate":7.25}]'
}

@test "feast write: materialize errors: an unknown view is Feast's; bad times are 400" {
    post /materialize '{"start_ts": "2024-05-01T00:00:00", "end_ts": "2024-05-02T00:00:00", "feature_views": ["nope"]}'
    assert_feast_error 404 FeatureViewNotFoundException "Feature view nope does not exist"
    post /materialize '{"start_ts": "2024-05-02T00:00:00", "end_ts": "2024-05-01T00:00:00"}'
    assert_error 400 "start_ts must be before end_ts"
    post /materialize '{"end_ts": "2024-05-01T00:00:00"}'
    assert_error 400 "start_ts: expected a time"
    post /materialize-incremental '{"end_ts": "tomorrow-ish"}'
    assert_error 400 "end_ts: expected a time"
    post /materialize-incremental '{"end_ts": "2024-05-01T00:00:00", "feature_views": "driver_hourly_stats"}'
    assert_error 400 "feature_views: expected a list"
    http GET /materialize
    assert_error 405 "use POST"
}

@test "feast write: push with a single value broadcasts it down the column" {
    post /push '{"push_source_name": "driver_push",
      "df": {"driver_id": [7101, 7102], "event_timestamp": "'"$T1"'", "created": null,
             "conv_rate": 0.75, "acc_rate": [0.5, 0.25], "avg_daily_trips": 2}, "to": "online"}'
    assert_code 200
    post /get-online-features '{"features": ["driver_pushed:conv_rate", "driver_pushed:acc_rate", "driver_pushed:avg_daily_trips"], "entities": {"driver_id": [7101, 7102]}}'
    run -0 jq -c '[.results[1].values, .results[2].values, .results[3].values]' <<< "$body"
    assert_output '[[0.75,0.75],[0.5,0.25],[2,2]]'
}

@test "feast write: errors come back as Feast's client raises them" {
    # rest_error_handler: FeastError.from_error_detail(response.json()):
    # module, class and message, the exception's text the message
    post /get-online-features '{"features": ["driver_hourly_stat:conv_rate"], "entities": {"driver_id": [1]}}'
    run -0 python3 - "$code" "$body" <<'EOF'
import json, sys
status, body = int(sys.argv[1]), sys.argv[2]
detail = json.loads(body)          # response.json(): a str
m = json.loads(detail)             # from_error_detail
assert all(f in m for f in ["module", "class", "message"]), m
assert status == 404 and m["module"] == "feast.errors", (status, m)
print("%s.%s: %s" % (m["module"], m["class"], m["message"]))
EOF
    assert_output "feast.errors.FeatureViewNotFoundException: Feature view driver_hourly_stat does not exist (did you mean 'driver_hourly_stats'?)"
    post /push '{"push_source_name": "nope", "df": {"driver_id": [1]}}'
    assert_feast_error 422 PushSourceNotFoundException "Unable to find push source 'nope'."
}

# historical IDS: conv_rate of driver_pushed per entity row at now, from the offline store
historical() {
    local id
    { echo "driver_id,event_timestamp"; for id in "$@"; do echo "$id,$(ago '0 seconds')"; done; } > rows.csv
    run -0 "$FS" get-historical --entities rows.csv -f driver_pushed:conv_rate
}

@test "feast write: push to offline appends to the batch source, not online" {
    local t
    t=$(ago '5 minutes')
    post /push '{"push_source_name": "driver_push", "to": "offline",
      "df": {"driver_id": [7201], "event_timestamp": ["'"$t"'"], "created": ["'"$t"'"],
             "conv_rate": [0.5], "acc_rate": [0.25], "avg_daily_trips": [9]}}'
    assert_code 200
    run -0 jq -c '[.status, .offline.source, .offline.rows, has("views")]' <<< "$body"
    assert_output '["ok","driver_stats",1,false]'
    run -0 tail -n 1 data/driver_stats.csv
    assert_output "7201,$t,0.5,0.25,9,$t"
    historical 7201
    assert_line --index 1 --regexp '^7201,.*,0\.5$'
    post /get-online-features '{"features": ["driver_pushed:conv_rate"], "entities": {"driver_id": [7201]}}'
    run -0 jq -c '.results[1].statuses' <<< "$body"
    assert_output '["NOT_FOUND"]'
}

@test "feast write: push online_and_offline (Feast's documented example) writes both; a bad row neither" {
    local t before
    t=$(ago '4 minutes')
    post /push '{"push_source_name": "driver_push", "to": "online_and_offline",
      "df": {"driver_id": [7301, 7302], "event_timestamp": ["'"$t"'", "'"$t"'"], "created": [null, null],
             "conv_rate": [1.5, 2.5], "acc_rate": [0.5, 0.5], "avg_daily_trips": [1, 2]}}'
    assert_code 200
    run -0 jq -c '[.offline.rows, [.views[].view]]' <<< "$body"
    assert_output '[2,["driver_pushed"]]'
    post /get-online-features '{"features": ["driver_pushed:conv_rate"], "entities": {"driver_id": [7301, 7302]}}'
    [[ "$body" == *'"values":[1.5,2.5]'* ]] || fail "not online: $body"
    historical 7301 7302
    assert_line --index 1 --regexp '^7301,.*,1\.5$'
    assert_line --index 2 --regexp '^7302,.*,2\.5$'
    # a bad value in the second row: neither store written
    before=$(sha256sum data/driver_stats.csv)
    post /push '{"push_source_name": "driver_push", "to": "online_and_offline",
      "df": {"driver_id": [7303, 7304], "event_timestamp": ["'"$t"'", "'"$t"'"], "created": [null, null],
             "conv_rate": [1.5, "x"], "acc_rate": [0.5, 0.5], "avg_daily_trips": [1, 2]}}'
    assert_error 400 "'x' is not a float64"
    [ "$(sha256sum data/driver_stats.csv)" = "$before" ] || fail "the CSV changed"
    post /get-online-features '{"features": ["driver_pushed:conv_rate"], "entities": {"driver_id": [7303]}}'
    run -0 jq -c '.results[1].statuses' <<< "$body"
    assert_output '["NOT_FOUND"]'
}
