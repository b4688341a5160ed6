#!/usr/bin/env bats
# push: the created timestamp is a tie-break only, so pushed rows may leave
# it out even when the batch source has one.

load test_helper

setup() {
    common_setup
    init_repo
    cat >> features/driver.yaml <<'YAML'
---
kind: source
name: driver_push
type: push
batch_source: driver_stats
---
kind: feature_view
name: driver_live
entities: [driver]
source: driver_push
ttl: 0
features:
  - {name: conv_rate, type: float64}
YAML
    fs apply -q
}

@test "push: rows without the created column are written" {
    printf 'driver_id,event_timestamp,conv_rate\n1001,2024-05-01T10:00:00Z,0.25\n' > rows.csv
    run -0 fs push driver_push rows.csv --json
    [ "$(echo "$output" | python3 -c 'import json,sys; print(json.load(sys.stdin)["views"][0]["keys_written"])')" = 1 ]
    run -0 fs get-online -f driver_live:conv_rate -e driver_id=1001 --json
    [ "$(echo "$output" | python3 -c 'import json,sys; r=json.load(sys.stdin)["results"][1]; print(r["values"][0], r["statuses"][0], r["event_timestamps"][0])')" = "0.25 PRESENT 2024-05-01T10:00:00Z" ]
}

@test "push: a missing feature column is still an error naming it" {
    printf 'driver_id,event_timestamp\n1001,2024-05-01T10:00:00Z\n' > rows.csv
    run -128 --separate-stderr fs push driver_push rows.csv
    [[ "$stderr" == *"has no column 'conv_rate'"* ]]
}

@test "push: a bad value names the line and says 'an int64' for integers" {
    printf 'driver_id,event_timestamp,conv_rate\nx1,2024-05-01T10:00:00Z,0.5\n' > rows.csv
    run -128 --separate-stderr fs push driver_push rows.csv
    [[ "$stderr" == "fatal: rows.csv:2: column 'driver_id': 'x1' is not an int64 (join key of entity 'driver')" ]]
}
