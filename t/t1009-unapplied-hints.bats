#!/usr/bin/env bats
# A name asked for that the registry lacks but the working tree defines:
# the error says where it is defined and to run 'fs apply' (get-online,
# get-historical, materialize -v, push, stream, describe, and serve-lite's
# /get-online-features, /push, /materialize and /write-to-online-store). A typo of a registered name keeps its
# "did you mean"; a name defined nowhere is just unknown.

load test_helper
load lib-serve

# The fs init repository, applied; then, not applied: features/trips.yaml
# (a view, a service over it, a push source and a kafka source) and a
# feature 'rating' added to driver_hourly_stats in features/driver.yaml.
unapplied_repo() {
    init_repo
    cat > features/stream.yaml <<'EOF'
kind: source
name: ev
type: kafka
topic: ev
brokers: 127.0.0.1:9
timestamp_field: event_timestamp
batch_source: driver_stats
EOF
    fs apply -q
    cat > features/trips.yaml <<'EOF'
kind: feature_view
name: trips
entities: [driver]
source: driver_stats
ttl: 1d
features:
  - {name: conv_rate, type: float64}
---
kind: feature_service
name: trips_svc
features:
  - trips
---
kind: source
name: rides_push
type: push
batch_source: driver_stats
---
kind: source
name: rides_kafka
type: kafka
topic: rides
brokers: 127.0.0.1:9
timestamp_field: event_timestamp
batch_source: driver_stats
EOF
    sed -i 's/^  - {name: avg_daily_trips, type: int64}$/&\n  - {name: rating, type: float64}/' features/driver.yaml
    grep -q 'name: rating' features/driver.yaml || fail "the test could not add a feature"
    printf '%s\n' driver_id,event_timestamp 1001,2026-12-06T10:00:00Z > rows.csv
}

NOT_APPLIED="is defined in features/trips.yaml but not applied; run 'fs apply'"

@test "unapplied: get-online names the file of a view, a feature service and a feature not applied" {
    unapplied_repo
    run -128 --separate-stderr fs get-online -f trips -e driver_id=1001
    assert_output ""
    assert_equal "$stderr" "fatal: feature view 'trips' $NOT_APPLIED"
    run -128 --separate-stderr fs get-online -f trips:conv_rate -e driver_id=1001
    assert_equal "$stderr" "fatal: feature view 'trips' $NOT_APPLIED"
    run -128 --separate-stderr fs get-online -f trips_svc -e driver_id=1001
    assert_equal "$stderr" "fatal: feature service 'trips_svc' $NOT_APPLIED"
    run -128 --separate-stderr fs get-online -f driver_hourly_stats:rating -e driver_id=1001
    assert_equal "$stderr" "fatal: feature view 'driver_hourly_stats' has no feature 'rating' in the registry; features/driver.yaml defines it: run 'fs apply'"
}

@test "unapplied: a typo of a registered name keeps its did-you-mean; a name defined nowhere is unknown" {
    unapplied_repo
    run -128 --separate-stderr fs get-online -f driver_hourly_stat -e driver_id=1001
    assert_equal "$stderr" "fatal: no feature view or feature service 'driver_hourly_stat' is registered (did you mean 'driver_hourly_stats'?)"
    run -128 --separate-stderr fs get-online -f driver_hourly_stats:conv_rat -e driver_id=1001
    assert_equal "$stderr" "fatal: feature_view 'driver_hourly_stats' has no feature 'conv_rat' (did you mean 'conv_rate'?)"
    run -128 --separate-stderr fs get-online -f zzzzzzzz -e driver_id=1001
    assert_equal "$stderr" "fatal: no feature view or feature service 'zzzzzzzz' is registered"
    # once applied, the name is found
    sed -i '/name: rating/d' features/driver.yaml
    fs apply -q
    run -0 fs get-online -f trips -e driver_id=1001
}

@test "unapplied: a working tree that does not parse leaves the registry's own message" {
    unapplied_repo
    echo 'kind: [' > features/broken.yaml
    run -128 --separate-stderr fs get-online -f zzzzzzzz -e driver_id=1001
    assert_equal "$stderr" "fatal: no feature view or feature service 'zzzzzzzz' is registered"
    run -128 --separate-stderr fs get-online -f trips -e driver_id=1001
    assert_equal "$stderr" "fatal: feature view 'trips' $NOT_APPLIED"
}

@test "unapplied: get-historical -f names the file; typos of views, features and services get did-you-mean" {
    unapplied_repo
    run -128 --separate-stderr fs get-historical --entities rows.csv -f trips
    assert_output ""
    assert_equal "$stderr" "fatal: feature view 'trips' $NOT_APPLIED"
    run -128 --separate-stderr fs get-historical --entities rows.csv -f trips_svc
    assert_equal "$stderr" "fatal: feature service 'trips_svc' $NOT_APPLIED"
    run -128 --separate-stderr fs get-historical --entities rows.csv -f driver_hourly_stats:rating
    assert_equal "$stderr" "fatal: feature view 'driver_hourly_stats' has no feature 'rating' in the registry; features/driver.yaml defines it: run 'fs apply'"
    run -128 --separate-stderr fs get-historical --entities rows.csv -f driver_hourly_stat:conv_rate
    assert_equal "$stderr" "fatal: no feature view 'driver_hourly_stat' is registered (did you mean 'driver_hourly_stats'?)"
    run -128 --separate-stderr fs get-historical --entities rows.csv -f driver_activity_v2
    assert_equal "$stderr" "fatal: no feature view or feature service 'driver_activity_v2' is registered (did you mean 'driver_activity_v1'?)"
}

@test "unapplied: materialize -v names the file, or the view a typo is of" {
    unapplied_repo
    run -128 --separate-stderr fs materialize 2024-01-01 now -v trips
    assert_output ""
    assert_equal "$stderr" "fatal: feature view 'trips' $NOT_APPLIED"
    run -128 --separate-stderr fs materialize-incremental now -v driver_hourly_stat
    assert_equal "$stderr" "fatal: no feature view 'driver_hourly_stat' is registered (did you mean 'driver_hourly_stats'?)"
    run -128 --separate-stderr fs materialize 2024-01-01 now -v zzzzzzzz
    assert_equal "$stderr" "fatal: no feature view 'zzzzzzzz' is registered"
}

@test "unapplied: push names the file of a push source not applied" {
    unapplied_repo
    run -128 --separate-stderr fs push rides_push rows.csv
    assert_output ""
    assert_equal "$stderr" "fatal: source 'rides_push' $NOT_APPLIED"
    run -128 --separate-stderr fs push rides_push --to offline < rows.csv
    assert_equal "$stderr" "fatal: source 'rides_push' $NOT_APPLIED"
}

@test "unapplied: stream names the file of a stream source not applied, or the one a typo is of" {
    unapplied_repo
    run -128 --separate-stderr fs stream rides_kafka --once
    assert_output ""
    assert_equal "$stderr" "fatal: source 'rides_kafka' $NOT_APPLIED"
    run -128 --separate-stderr fs stream evv --once
    assert_equal "$stderr" "fatal: no source 'evv' is registered (did you mean 'ev'?)"
    run -128 --separate-stderr fs stream zzzzzzzz --once
    assert_equal "$stderr" "fatal: no source 'zzzzzzzz' is registered"
}

@test "unapplied: describe names the file of an object not applied" {
    unapplied_repo
    run -128 --separate-stderr fs describe feature_view trips
    assert_output ""
    assert_equal "$stderr" "fatal: feature view 'trips' $NOT_APPLIED"
    run -128 --separate-stderr fs describe source rides_push
    assert_equal "$stderr" "fatal: source 'rides_push' $NOT_APPLIED"
    # the kind asked for: a view's name as a service is unknown
    run -128 --separate-stderr fs describe feature_service trips
    assert_equal "$stderr" "fatal: no feature service 'trips' is registered"
}

@test "unapplied: serve-lite answers Feast's error bodies with the same hint" {
    unapplied_repo
    start_server
    post /get-online-features '{"entities": {"driver_id": [1001]}, "features": ["trips:conv_rate"]}'
    assert_feast_error 404 FeatureViewNotFoundException \
        "Feature view trips does not exist (it $NOT_APPLIED)"
    post /get-online-features '{"entities": {"driver_id": [1001]}, "feature_service": "trips_svc"}'
    assert_feast_error 404 FeatureServiceNotFoundException \
        "Feature service trips_svc does not exist (it $NOT_APPLIED)"
    post /get-online-features '{"entities": {"driver_id": [1001]}, "features": ["driver_hourly_stats:rating"]}'
    assert_error 404 "feature view 'driver_hourly_stats' has no feature 'rating' in the registry; features/driver.yaml defines it: run 'fs apply'"
    post /push '{"push_source_name": "rides_push", "df": {"driver_id": [1001]}}'
    assert_feast_error 422 PushSourceNotFoundException \
        "Unable to find push source 'rides_push'. (it $NOT_APPLIED)"
    post /materialize '{"start_ts": "2024-05-01T00:00:00", "end_ts": "2024-05-02T00:00:00", "feature_views": ["trips"]}'
    assert_feast_error 404 FeatureViewNotFoundException \
        "Feature view trips does not exist (it $NOT_APPLIED)"
    post /write-to-online-store '{"feature_view_name": "trips", "df": {"driver_id": [1001]}}'
    assert_feast_error 404 FeastObjectNotFoundException \
        "Can't recognize feast object with a name trips (it $NOT_APPLIED)"
    post /write-to-online-store '{"feature_view_name": "driver_hourly_stat", "df": {"driver_id": [1001]}}'
    assert_feast_error 404 FeastObjectNotFoundException \
        "Can't recognize feast object with a name driver_hourly_stat (did you mean 'driver_hourly_stats'?)"
    # a typo of a registered name keeps its hint
    post /get-online-features '{"entities": {"driver_id": [1001]}, "features": ["driver_hourly_stat:conv_rate"]}'
    assert_feast_error 404 FeatureViewNotFoundException \
        "Feature view driver_hourly_stat does not exist (did you mean 'driver_hourly_stats'?)"
}
