#!/usr/bin/env bats
# get-historical: the summary on stderr (-v, or a terminal) and the warning
# for a feature view that matched no entity row, with its reason.

load test_helper

# driver_stats (ttl DRIVER_TTL, default 1h) over data/driver.csv, and
# customer_profile (ttl 0) over data/customer.csv.
setup_repo() {
    init_repo
    rm features/driver.yaml
    cat > features/defs.yaml <<EOF
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
name: driver_src
type: csv
path: data/driver.csv
timestamp_field: event_timestamp
---
kind: source
name: customer_src
type: csv
path: data/customer.csv
timestamp_field: ts
---
kind: feature_view
name: driver_stats
entities: [driver]
source: driver_src
ttl: ${DRIVER_TTL:-1h}
features:
  - {name: trips, type: int64}
---
kind: feature_view
name: customer_profile
entities: [customer]
source: customer_src
ttl: 0
features:
  - {name: visits, type: int32}
EOF
    cat > data/driver.csv <<'EOF'
driver_id,event_timestamp,trips
1,2024-05-01T10:00:00Z,10
2,2024-05-02T10:00:00Z,20
EOF
    cat > data/customer.csv <<'EOF'
customer_id,ts,visits
c1,2024-04-01T00:00:00Z,3
EOF
    fs apply -q
}

@test "get-historical: -v prints the rows written and the rows matched per view" {
    setup_repo
    cat > rows.csv <<'EOF'
driver_id,customer_id,event_timestamp
1,c1,2024-05-01T10:30:00Z
1,c1,2024-05-01T12:00:00Z
2,c1,2024-05-02T10:00:00Z
EOF
    run -0 --separate-stderr fs get-historical -v --entities rows.csv -f driver_stats -f customer_profile
    assert_equal "$stderr" "3 rows written
driver_stats: 2 of 3 rows matched
customer_profile: 3 of 3 rows matched"
    assert_output - <<'EOF'
driver_id,customer_id,event_timestamp,trips,visits
1,c1,2024-05-01T10:30:00Z,10,3
1,c1,2024-05-01T12:00:00Z,,3
2,c1,2024-05-02T10:00:00Z,20,3
EOF
}

@test "get-historical: nothing on stderr when it is not a terminal and every view matched" {
    setup_repo
    cat > rows.csv <<'EOF'
driver_id,customer_id,event_timestamp
1,c1,2024-05-01T10:30:00Z
1,c1,2024-05-01T12:00:00Z
EOF
    run -0 --separate-stderr fs get-historical --entities rows.csv -f driver_stats -f customer_profile
    assert_equal "$stderr" ""
    assert_output - <<'EOF'
driver_id,customer_id,event_timestamp,trips,visits
1,c1,2024-05-01T10:30:00Z,10,3
1,c1,2024-05-01T12:00:00Z,,3
EOF
}

@test "get-historical: warns when the entity rows are before the source's first event" {
    setup_repo
    cat > rows.csv <<'EOF'
driver_id,event_timestamp
1,2024-01-01
2,2024-01-02
EOF
    run -0 --separate-stderr fs get-historical --entities rows.csv -f driver_stats
    assert_equal "$stderr" "warning: feature_view 'driver_stats' matched none of the 2 entity rows: the entity rows' times (2024-01-01 .. 2024-01-02) are before the first event of source 'driver_src' (2024-05-01T10:00:00Z)"
    assert_output - <<'EOF'
driver_id,event_timestamp,trips
1,2024-01-01,
2,2024-01-02,
EOF
}

@test "get-historical: warns when the entity rows are past the ttl of the source's last event" {
    setup_repo
    cat > rows.csv <<'EOF'
driver_id,event_timestamp
1,2024-06-01
2,2024-06-02T12:00:00Z
EOF
    run -0 --separate-stderr fs get-historical --entities rows.csv -f driver_stats
    assert_equal "$stderr" "warning: feature_view 'driver_stats' matched none of the 2 entity rows: the entity rows' times (2024-06-01 .. 2024-06-02T12:00:00Z) are more than the view's ttl 1h after the last event of source 'driver_src' (2024-05-02T10:00:00Z)"
    assert_output - <<'EOF'
driver_id,event_timestamp,trips
1,2024-06-01,
2,2024-06-02T12:00:00Z,
EOF
}

@test "get-historical: warns when no entity row's key occurs in the source" {
    setup_repo
    cat > rows.csv <<'EOF'
driver_id,event_timestamp
7,2024-05-01T10:30:00Z
8,2024-05-02T10:30:00Z
EOF
    run -0 --separate-stderr fs get-historical --entities rows.csv -f driver_stats
    assert_equal "$stderr" "warning: feature_view 'driver_stats' matched none of the 2 entity rows: none of the entity rows' driver_id values occur in source 'driver_src'"
    assert_output - <<'EOF'
driver_id,event_timestamp,trips
7,2024-05-01T10:30:00Z,
8,2024-05-02T10:30:00Z,
EOF
}

@test "get-historical: warns when every match is older than the ttl" {
    setup_repo
    cat > rows.csv <<'EOF'
driver_id,event_timestamp
1,2024-05-01T12:00:00Z
2,2024-05-02T11:00:01Z
EOF
    run -0 --separate-stderr fs get-historical --entities rows.csv -f driver_stats
    assert_equal "$stderr" "warning: feature_view 'driver_stats' matched none of the 2 entity rows: every match is older than the view's ttl 1h"
    assert_output - <<'EOF'
driver_id,event_timestamp,trips
1,2024-05-01T12:00:00Z,
2,2024-05-02T11:00:01Z,
EOF
}

@test "get-historical: warns when every entity row is before its key's first event" {
    setup_repo
    cat > rows.csv <<'EOF'
driver_id,event_timestamp
1,2024-05-01T09:00:00Z
2,2024-05-02T09:00:00Z
EOF
    run -0 --separate-stderr fs get-historical --entities rows.csv -f driver_stats
    assert_equal "$stderr" "warning: feature_view 'driver_stats' matched none of the 2 entity rows: every entity row is before the first event of its key in source 'driver_src'"
}

@test "get-historical: warns when the source has no rows" {
    setup_repo
    echo "driver_id,event_timestamp,trips" > data/driver.csv
    cat > rows.csv <<'EOF'
driver_id,event_timestamp
1,2024-05-01T10:00:00Z
EOF
    run -0 --separate-stderr fs get-historical --entities rows.csv -f driver_stats
    assert_equal "$stderr" "warning: feature_view 'driver_stats' matched none of the 1 entity rows: source 'driver_src' has no rows"
}

@test "get-historical: only the view that matched nothing is warned about; -v adds the summary" {
    setup_repo
    cat > rows.csv <<'EOF'
driver_id,customer_id,event_timestamp
1,c9,2024-05-01T10:30:00Z
EOF
    run -0 --separate-stderr fs get-historical -v --entities rows.csv -f driver_stats -f customer_profile -o out.csv
    assert_equal "$stderr" "warning: feature_view 'customer_profile' matched none of the 1 entity rows: none of the entity rows' customer_id values occur in source 'customer_src'
1 row written
driver_stats: 1 of 1 rows matched
customer_profile: 0 of 1 rows matched"
    assert_output ""
    run -0 cat out.csv
    assert_output - <<'EOF'
driver_id,customer_id,event_timestamp,trips,visits
1,c9,2024-05-01T10:30:00Z,10,
EOF
}

@test "get-historical: an aggregation view's warnings and counts: rows before every event of their key, events outside every window" {
    setup_repo
    cat >> features/defs.yaml <<'EOF'
---
kind: feature_view
name: driver_windows
entities: [driver]
source: driver_src
aggregations:
  - {name: trips_1h, function: sum, column: trips, type: int64, window: 1h}
EOF
    fs apply -q
    # driver 1's event is at 10:00, driver 2's the next day at 10:00
    cat > rows.csv <<'EOF'
driver_id,event_timestamp
1,2024-05-01T09:00:00Z
2,2024-05-02T09:59:59Z
EOF
    run -0 --separate-stderr fs get-historical --entities rows.csv -f driver_windows
    assert_equal "$stderr" "warning: feature_view 'driver_windows' matched none of the 2 entity rows: every entity row is before the first event of its key in source 'driver_src'"
    # events at or before the rows, but in no row's window: no reason to give, the counts say it
    cat > rows.csv <<'EOF'
driver_id,event_timestamp
1,2024-05-01T12:00:00Z
2,2024-05-02T10:00:00Z
EOF
    run -0 --separate-stderr fs get-historical -v --entities rows.csv -f driver_windows -o out.csv
    assert_equal "$stderr" "warning: feature_view 'driver_windows' matched none of the 2 entity rows
2 rows written
driver_windows: 0 of 2 rows matched"
    # a 1h window has 1m hops: it reaches back to 10:00 from 11:00:59, not from 11:01
    cat >> rows.csv <<'EOF'
1,2024-05-01T10:59:59Z
1,2024-05-01T11:00:59Z
1,2024-05-01T11:01:00Z
EOF
    run -0 --separate-stderr fs get-historical -v --entities rows.csv -f driver_windows -o out.csv
    assert_equal "$stderr" "5 rows written
driver_windows: 2 of 5 rows matched"
    run -0 cat out.csv
    assert_output - <<'EOF'
driver_id,event_timestamp,trips_1h
1,2024-05-01T12:00:00Z,0
2,2024-05-02T10:00:00Z,0
1,2024-05-01T10:59:59Z,10
1,2024-05-01T11:00:59Z,10
1,2024-05-01T11:01:00Z,0
EOF
}

@test "get-historical: no warning for entity rows without rows" {
    setup_repo
    echo "driver_id,event_timestamp" > rows.csv
    run -0 --separate-stderr fs get-historical --entities rows.csv -f driver_stats
    assert_equal "$stderr" ""
    assert_output "driver_id,event_timestamp,trips"
}

@test "get-historical: a single entity row time is not given as a range" {
    setup_repo
    cat > rows.csv <<'EOF'
driver_id,event_timestamp
1,2024-01-01
EOF
    run -0 --separate-stderr fs get-historical --entities rows.csv -f driver_stats
    assert_equal "$stderr" "warning: feature_view 'driver_stats' matched none of the 1 entity rows: the entity rows' time (2024-01-01) is before the first event of source 'driver_src' (2024-05-01T10:00:00Z)"
}

@test "get-historical: on a terminal, a long scan shows the source rows scanned on one line; not in a pipe" {
    setup_repo
    # 2^21 + 5 source rows: two progress reports
    mawk 'BEGIN { print "driver_id,event_timestamp,trips"
        for (i = 0; i < 2097157; i++) printf "%d,2024-05-01T10:00:00Z,%d\n", i % 1000, i }' > data/driver.csv
    printf 'driver_id,customer_id,event_timestamp\n7,c1,2024-05-01T10:30:00Z\n' > rows.csv
    command -v script > /dev/null || skip "needs script (util-linux)"
    script -qec "'$FS' get-historical --entities rows.csv -f driver_stats -o out.csv" /dev/null > tty.out
    tr '\r' '\n' < tty.out > tty.lines
    grep -qx "get-historical: feature_view 'driver_stats': 1048576 source rows scanned.*" tty.lines ||
        fail "no first report: $(cat -v tty.out)"
    grep -qx "get-historical: feature_view 'driver_stats': 2097152 source rows scanned.*" tty.lines ||
        fail "no second report: $(cat -v tty.out)"
    # the line is cleared at the end, then the summary
    grep -q "1 row written" tty.lines || fail "no summary: $(cat -v tty.out)"
    run -0 cat out.csv
    assert_output "driver_id,customer_id,event_timestamp,trips
7,c1,2024-05-01T10:30:00Z,2097007"
    run -0 --separate-stderr fs get-historical --entities rows.csv -f driver_stats -o out.csv
    assert_equal "$stderr" ""
}
