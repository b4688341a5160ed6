#!/usr/bin/env bats
# get-online: statuses, the exact Feast response, column order, entity rows
# of one and of several entities, errors, and the table output. Each
# behaviour runs on the SQLite and on the Redis online store.

load test_helper
load lib-online

EP=1970-01-01T00:00:00Z

# A repo with driver_stats (driver, ttl 1d) and cust_driver (driver and
# customer, ttl 0) over data/trips.csv, a feature service svc, materialized
# over [now-3d, now]. RECENT (now - 1h) and OLD (now - 2d) are the event
# times, R and O the same as fs prints them.
online_repo() {
    init_repo
    git rm -q features/driver.yaml data/driver_stats.csv
    mkdir -p features data
    cat > features/online.yaml <<'EOF'
kind: entity
name: driver
join_key: driver_id
type: int64
---
kind: entity
name: customer
join_key: customer_id
type: string
---
kind: source
name: trips
type: csv
path: data/trips.csv
timestamp_field: event_timestamp
created_timestamp_field: created
---
kind: feature_view
name: driver_stats
entities: [driver]
source: trips
ttl: 1d
features:
  - {name: conv_rate, type: float64}
  - {name: acc_rate, type: float32}
  - {name: trips, type: int64}
---
kind: feature_view
name: cust_driver
entities: [driver, customer]
source: trips
ttl: 0
features:
  - {name: spend, type: float64}
  - {name: note, type: string}
---
kind: feature_service
name: svc
features:
  - driver_stats: [trips, conv_rate]
  - cust_driver
EOF
    local now
    now=$(date +%s)
    RECENT=$((now - 3600))
    OLD=$((now - 2 * 86400))
    R=$(date -u -d "@$RECENT" +%Y-%m-%dT%H:%M:%SZ)
    O=$(date -u -d "@$OLD" +%Y-%m-%dT%H:%M:%SZ)
    cat > data/trips.csv <<EOF
driver_id,customer_id,event_timestamp,created,conv_rate,acc_rate,trips,spend,note
1001,c1,$RECENT,,0.52,0.9,12,10.5,"a, b"
1002,c2,$OLD,,0.61,0.8,7,,
1003,c1,$RECENT,,,0.7,3,2.25,x
EOF
    fs apply -q
    fs materialize now-3d now
}

# The statuses of every feature of every row, and exit 0 when not found.
statuses() {
    online_repo
    run -0 --separate-stderr fs get-online -f driver_stats --json \
        -e driver_id=1001 -e driver_id=1002 -e driver_id=1003 -e driver_id=1004
    assert_equal "$stderr" ""
    assert_output '{"metadata":{"feature_names":["driver_id","conv_rate","acc_rate","trips"]},"results":['\
'{"values":[1001,1002,1003,1004],"statuses":["PRESENT","PRESENT","PRESENT","PRESENT"],"event_timestamps":["'$EP'","'$EP'","'$EP'","'$EP'"]},'\
'{"values":[0.52,0.61,null,null],"statuses":["PRESENT","OUTSIDE_MAX_AGE","NULL_VALUE","NOT_FOUND"],"event_timestamps":["'$R'","'$O'","'$R'","'$EP'"]},'\
'{"values":[0.9,0.8,0.7,null],"statuses":["PRESENT","OUTSIDE_MAX_AGE","PRESENT","NOT_FOUND"],"event_timestamps":["'$R'","'$O'","'$R'","'$EP'"]},'\
'{"values":[12,7,3,null],"statuses":["PRESENT","OUTSIDE_MAX_AGE","PRESENT","NOT_FOUND"],"event_timestamps":["'$R'","'$O'","'$R'","'$EP'"]}]}'
}

@test "get-online: PRESENT, OUTSIDE_MAX_AGE (value kept), NULL_VALUE, NOT_FOUND in Feast's exact response (sqlite)" { use_backend sqlite; statuses; }
@test "get-online: PRESENT, OUTSIDE_MAX_AGE (value kept), NULL_VALUE, NOT_FOUND in Feast's exact response (redis)" { use_backend redis; statuses; }

not_found() {
    online_repo
    run -0 --separate-stderr fs get-online -f driver_stats:trips -e driver_id=42 --json
    assert_equal "$stderr" ""
    assert_output '{"metadata":{"feature_names":["driver_id","trips"]},"results":[{"values":[42],"statuses":["PRESENT"],"event_timestamps":["'$EP'"]},{"values":[null],"statuses":["NOT_FOUND"],"event_timestamps":["'$EP'"]}]}'
    # a view never materialized answers NOT_FOUND too
    online_wipe
    run -0 fs get-online -f driver_stats:trips -e driver_id=1001 --json
    assert_equal "$(jq -c '.results[1].statuses' <<< "$output")" '["NOT_FOUND"]'
}

@test "get-online: an unknown key is NOT_FOUND with exit 0 (sqlite)" { use_backend sqlite; not_found; }

@test "get-online: an unknown key is NOT_FOUND with exit 0 (redis)" { use_backend redis; not_found; }

column_order() {
    online_repo
    # the order of -f
    run -0 fs get-online -f driver_stats:trips -f driver_stats:acc_rate -f driver_stats:conv_rate \
        -e driver_id=1001 --json
    assert_equal "$(jq -c '[.metadata.feature_names, [.results[].values[0]]]' <<< "$output")" \
        '[["driver_id","trips","acc_rate","conv_rate"],[1001,12,0.9,0.52]]'
    # a feature service: its listed order, a bare view in definition order
    run -0 fs get-online -f svc -e driver_id=1001,customer_id=c1 --json
    assert_equal "$(jq -c '[.metadata.feature_names, [.results[].values[0]]]' <<< "$output")" \
        '[["driver_id","customer_id","trips","conv_rate","spend","note"],[1001,"c1",12,0.52,10.5,"a, b"]]'
    # with full feature names
    run -0 fs get-online -f svc -f driver_stats:acc_rate -e driver_id=1003,customer_id=c1 --json --full-feature-names
    assert_equal "$(jq -c '[.metadata.feature_names, [.results[].values[0]], [.results[].statuses[0]]]' <<< "$output")" \
        '[["driver_id","customer_id","driver_stats__trips","driver_stats__conv_rate","cust_driver__spend","cust_driver__note","driver_stats__acc_rate"],[1003,"c1",3,null,2.25,"x",0.7],["PRESENT","PRESENT","PRESENT","NULL_VALUE","PRESENT","PRESENT","PRESENT"]]'
}

@test "get-online: columns in -f order, feature service order, --full-feature-names (sqlite)" { use_backend sqlite; column_order; }
@test "get-online: columns in -f order, feature service order, --full-feature-names (redis)" { use_backend redis; column_order; }

multi_entity() {
    online_repo
    run -0 --separate-stderr fs get-online -f cust_driver --json \
        -e driver_id=1001,customer_id=c1 -e driver_id=1002,customer_id=c2 \
        -e driver_id=1001,customer_id=c2 -e customer_id=c1,driver_id=1003
    assert_output '{"metadata":{"feature_names":["driver_id","customer_id","spend","note"]},"results":['\
'{"values":[1001,1002,1001,1003],"statuses":["PRESENT","PRESENT","PRESENT","PRESENT"],"event_timestamps":["'$EP'","'$EP'","'$EP'","'$EP'"]},'\
'{"values":["c1","c2","c2","c1"],"statuses":["PRESENT","PRESENT","PRESENT","PRESENT"],"event_timestamps":["'$EP'","'$EP'","'$EP'","'$EP'"]},'\
'{"values":[10.5,null,null,2.25],"statuses":["PRESENT","NULL_VALUE","NOT_FOUND","PRESENT"],"event_timestamps":["'$R'","'$O'","'$EP'","'$R'"]},'\
'{"values":["a, b",null,null,"x"],"statuses":["PRESENT","NULL_VALUE","NOT_FOUND","PRESENT"],"event_timestamps":["'$R'","'$O'","'$EP'","'$R'"]}]}'
}

@test "get-online: a view of two entities takes -e a=1,b=x rows (sqlite)" { use_backend sqlite; multi_entity; }
@test "get-online: a view of two entities takes -e a=1,b=x rows (redis)" { use_backend redis; multi_entity; }

errors() {
    online_repo
    run -128 --separate-stderr fs get-online -f driver_stats:conv_rat -e driver_id=1001
    assert_output ""
    assert_equal "$stderr" "fatal: feature_view 'driver_stats' has no feature 'conv_rat' (did you mean 'conv_rate'?)"
    run -128 --separate-stderr fs get-online -f driver_stat -e driver_id=1001
    assert_equal "$stderr" "fatal: no feature view or feature service 'driver_stat' is registered (did you mean 'driver_stats'?)"
    run -128 --separate-stderr fs get-online -f cust_driver -e driver_id=1001
    assert_output ""
    assert_equal "$stderr" "fatal: entities: missing join key 'customer_id' (of entity 'customer', needed by feature_view 'cust_driver')"
    run -128 --separate-stderr fs get-online -f driver_stats -e driver_id=abc
    assert_equal "$stderr" "fatal: entities row 0: column 'driver_id': 'abc' is not an int64 (join key of entity 'driver')"
    run -129 --separate-stderr fs get-online -f driver_stats
    assert_equal "${stderr_lines[0]}" "error: at least one -e <key=value> is required"
    run -129 --separate-stderr fs get-online -e driver_id=1001
    assert_equal "${stderr_lines[0]}" "error: at least one -f <ref> is required"
    assert_equal "${stderr_lines[1]}" "usage: fs get-online (-f <ref>)... (-e <key=value>[,<key=value>...])... [--at <time>] [--full-feature-names] [--json]"
    run -129 --separate-stderr fs get-online -f cust_driver -e driver_id=1001,customer_id=c1 -e driver_id=1002
    assert_equal "${stderr_lines[0]}" "error: -e 'driver_id=1002': every row needs the same keys"
    run -129 --separate-stderr fs get-online -f driver_stats -e driver_id=1001,driver_id=1002
    assert_equal "${stderr_lines[0]}" "error: -e 'driver_id=1001,driver_id=1002': 'driver_id' is given twice"
}

@test "get-online: an unknown feature or view, a missing or bad join key are errors (sqlite)" { use_backend sqlite; errors; }
@test "get-online: an unknown feature or view, a missing or bad join key are errors (redis)" { use_backend redis; errors; }

@test "get-online: an unreachable online store is an error" {
    online_repo
    export FS_REDIS_URL="redis://127.0.0.1:$(free_port)/0"
    run -128 --separate-stderr fs get-online -f driver_stats -e driver_id=1001
    assert_output ""
    assert_equal "$stderr" "fatal: online store '$FS_REDIS_URL': cannot connect: Connection refused"
    # with --json, the error as one line of JSON
    run -128 --separate-stderr fs get-online -f driver_stats -e driver_id=1001 --json
    assert_output ""
    assert_equal "$stderr" "{\"error\": \"online store '$FS_REDIS_URL': cannot connect: Connection refused\", \"code\": 128}"
}

table() {
    online_repo
    run -0 --separate-stderr fs get-online -f driver_stats -f cust_driver:note \
        -e driver_id=1001,customer_id=c1 -e driver_id=1002,customer_id=c2 \
        -e driver_id=1003,customer_id=c1 -e driver_id=1004,customer_id=c1
    # columns as wide as their widest cell, two spaces apart
    assert_output "driver_id  customer_id  conv_rate               acc_rate               trips                note
1001       c1           0.52                    0.9                    12                   a, b
1002       c2           0.61 (outside max age)  0.8 (outside max age)  7 (outside max age)  (null)
1003       c1           (null)                  0.7                    3                    x
1004       c1           (not found)             (not found)            (not found)          (not found)"
}

@test "get-online: without --json a table of keys and features (sqlite)" { use_backend sqlite; table; }
@test "get-online: without --json a table of keys and features (redis)" { use_backend redis; table; }

@test "get-online: the table's columns line up whatever the length of the names and values" {
    init_repo
    local long=driver_hourly_statistics_under_a_rather_long_name # 49 characters
    cat > features/long.yaml <<Y
kind: feature_view
name: $long
entities: [driver]
source: driver_stats
features:
  - {name: conv_rate, type: float64}
  - {name: avg_daily_trips_over_the_last_seven_days_of_work, type: int64}
---
kind: source
name: long_stats
type: csv
path: data/long.csv
timestamp_field: event_timestamp
Y
    sed -i 's/^driver_id,event_timestamp,conv_rate,acc_rate,avg_daily_trips,created$/&,avg_daily_trips_over_the_last_seven_days_of_work/; 2,$s/$/,7/' data/driver_stats.csv
    cp data/driver_stats.csv data/long.csv
    fs apply -q
    fs materialize-incremental -q now
    run -0 --separate-stderr fs get-online -f $long -f driver_hourly_stats:acc_rate \
        -e driver_id=1001 -e driver_id=99
    assert_equal "${#lines[@]}" 3
    assert_equal "${lines[0]}" "driver_id  conv_rate    avg_daily_trips_over_the_last_seven_days_of_work  acc_rate"
    assert_aligned 11 24 74
    assert_line --index 2 "99         (not found)  (not found)                                       (not found)"
    # with short names only, as narrow as its cells
    run -0 --separate-stderr fs get-online -f driver_hourly_stats:acc_rate -e driver_id=99
    assert_output "driver_id  acc_rate
99         (not found)"
}

@test "get-online: the table escapes control characters, so a value with a newline stays on its row" {
    init_repo
    cat > features/notes.yaml <<'Y'
kind: source
name: notes
type: csv
path: data/notes.csv
timestamp_field: ts
---
kind: feature_view
name: note_view
entities: [driver]
source: notes
features:
  - {name: note, type: string}
Y
    printf 'driver_id,ts,note\n1001,2024-05-01T10:00:00Z,"two\nlines\there"\n1002,2024-05-01T10:00:00Z,back\\slash\n' > data/notes.csv
    fs apply -q
    fs materialize 2024-05-01 2024-05-02 -v note_view
    run -0 --separate-stderr fs get-online -f note_view -e driver_id=1001 -e driver_id=1002
    assert_equal "${#lines[@]}" 3
    assert_equal "${lines[0]}" "driver_id  note"
    assert_equal "${lines[1]}" "1001       two\\nlines\\there"
    assert_equal "${lines[2]}" "1002       back\\\\slash"
    run -0 --separate-stderr fs get-online -f note_view -e driver_id=1001 --json
    [ "$(jq -r '.results[1].values[0]' <<< "$output")" = "$(printf 'two\nlines\there')" ]
}
