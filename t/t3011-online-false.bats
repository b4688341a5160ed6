#!/usr/bin/env bats
# online: false: switching a materialized view off drops its online data
# (fs plan says so), get-online and serve-lite refuse to read it, and
# switching it back on starts empty until a materialize fills it. Each
# behaviour runs on the SQLite and on the Redis online store.

load test_helper
load lib-online
load lib-serve

T10=2024-05-01T10:00:00Z
T12=2024-05-01T12:00:00Z
ERR="feature view 'speed' is not online (online: false): materialize it after setting online: true"

# A repo with the online view speed (trips) and keep (trips) over
# data/trips.csv, materialized over [T10, T12]; cwd inside.
speed_repo() {
    init_repo
    git rm -q features/driver.yaml data/driver_stats.csv
    mkdir -p features data
    cat > features/trips.yaml <<'EOF2'
kind: entity
name: driver
join_key: driver_id
type: int64
---
kind: source
name: trips
type: csv
path: data/trips.csv
timestamp_field: event_timestamp
---
kind: feature_view
name: keep
entities: [driver]
source: trips
features:
  - {name: trips, type: int64}
EOF2
    cat > features/speed.yaml <<'EOF2'
kind: feature_view
name: speed
entities: [driver]
source: trips
online: true
features:
  - {name: trips, type: int64}
EOF2
    printf '%s\n' driver_id,event_timestamp,trips 1,2024-05-01T11:00:00Z,30 2,2024-05-01T11:00:00Z,40 \
        > data/trips.csv
    fs apply -q
    fs materialize -q "$T10" "$T12"
}

set_online() {
    sed -i "s/^online: .*/online: $1/" features/speed.yaml
}

# The number of records of view speed in the online store.
stored() {
    if [ "$BACKEND" = redis ]; then
        redis_cli --scan --pattern 'fs:*:speed:*' | wc -l
    else
        sqlite3 .fs/online.db "SELECT count(*) FROM rows JOIN views ON rows.view = views.id WHERE views.name = 'speed'"
    fi
}

# `fs get-online -f $1 -e driver_id=1 -e driver_id=2 --json`: "value:status" words.
online() {
    "$FS" get-online -f "$1" -e driver_id=1 -e driver_id=2 --json |
        jq -r '[.results[1].values, .results[1].statuses] | transpose | map("\(.[0]):\(.[1])") | join(" ")'
}

switch_off() {
    speed_repo
    assert_equal "$(online speed:trips)" "30:PRESENT 40:PRESENT"
    [ "$(stored)" -gt 0 ] || fail "no records of speed before the switch"
    set_online false
    run -0 fs plan
    assert_line "Drops the online data and materialization state of: speed (rematerialize them)"
    run -0 fs plan --json
    assert_equal "$(jq -c .resets <<< "$output")" '["speed"]'
    run -0 fs apply -q
    assert_equal "$(stored)" 0
    # fs status lists online views only
    assert_equal "$(fs status --json | jq -c '[.views[] | [.name, .last_end]]')" "[[\"keep\",\"$T12\"]]"
    assert_equal "$(online keep:trips)" "30:PRESENT 40:PRESENT"
    # get-online refuses it, alone or next to an online view
    run -128 --separate-stderr fs get-online -f speed:trips -e driver_id=1
    assert_equal "$stderr" "fatal: $ERR"
    run -128 --separate-stderr fs get-online -f keep:trips -f speed -e driver_id=1 --json --full-feature-names
    assert_equal "$(jq -r .error <<< "$stderr")" "$ERR"
    # materialize skips it, and refuses it by name
    run -0 --separate-stderr fs materialize "$T10" "$T12" --json
    assert_equal "$(jq -c '[.views[].view]' <<< "$output")" '["keep"]'
    run -128 --separate-stderr fs materialize "$T10" "$T12" -v speed
    assert_equal "$stderr" "fatal: feature view 'speed' is not online (online: false)"
    assert_equal "$(stored)" 0
    # another change to the offline view drops nothing more
    echo "description: speed, off" >> features/speed.yaml
    run -0 fs plan
    assert_line --partial "feature_view speed"
    refute_output --partial "Drops the online data"
}

@test "online false: apply drops the view's online data and get-online refuses it (sqlite)" { use_backend sqlite; switch_off; }
@test "online false: apply drops the view's online data and get-online refuses it (redis)" { use_backend redis; switch_off; }

switch_back() {
    speed_repo
    set_online false
    fs apply -q
    set_online true
    run -0 fs plan
    refute_output --partial "Drops the online data"
    run -0 fs apply -q
    assert_equal "$(last_end speed)" null
    assert_equal "$(status_keys speed)" 0
    assert_equal "$(online speed:trips)" "null:NOT_FOUND null:NOT_FOUND"
    run -0 fs materialize -q "$T10" "$T12" -v speed
    assert_equal "$(online speed:trips)" "30:PRESENT 40:PRESENT"
}

@test "online false: switched back on, the view starts empty until materialized (sqlite)" { use_backend sqlite; switch_back; }
@test "online false: switched back on, the view starts empty until materialized (redis)" { use_backend redis; switch_back; }

serve_off() {
    speed_repo
    set_online false
    fs apply -q
    start_server
    post /get-online-features '{"entities": {"driver_id": [1]}, "features": ["speed:trips"]}'
    assert_error 400 "$ERR"
    post /get-online-features '{"entities": {"driver_id": [1]}, "features": ["keep:trips"]}'
    assert_code 200
    assert_equal "$(jq -c '.results[1].values' <<< "$body")" '[30]'
    stop_server
}

@test "online false: serve-lite answers 400 naming the view (sqlite)" { use_backend sqlite; serve_off; }
@test "online false: serve-lite answers 400 naming the view (redis)" { use_backend redis; serve_off; }

# push_off: a push source read by an online and an offline view writes the online one only
push_off() {
    speed_repo
    cat >> features/trips.yaml <<'EOF2'
---
kind: source
name: trips_push
type: push
batch_source: trips
---
kind: feature_view
name: pushed_on
entities: [driver]
source: trips_push
features:
  - {name: trips, type: int64}
---
kind: feature_view
name: pushed_off
entities: [driver]
source: trips_push
online: false
features:
  - {name: trips, type: int64}
EOF2
    fs apply -q
    printf '%s\n' driver_id,event_timestamp,trips 1,2024-05-01T13:00:00Z,99 > push.csv
    run -0 fs push trips_push push.csv --json
    assert_equal "$(jq -c '[.views[].view]' <<< "$output")" '["pushed_on"]'
    assert_equal "$(online pushed_on:trips)" "99:PRESENT null:NOT_FOUND"
    if [ "$BACKEND" = redis ]; then
        assert_equal "$(redis_cli --scan --pattern 'fs:*:pushed_off:*' | wc -l)" 0
    else
        assert_equal "$(sqlite3 .fs/online.db "SELECT count(*) FROM views WHERE name = 'pushed_off'")" 0
    fi
}

@test "online false: a push writes the source's online views only (sqlite)" { use_backend sqlite; push_off; }
@test "online false: a push writes the source's online views only (redis)" { use_backend redis; push_off; }
