#!/usr/bin/env bats
# get-historical: bad input fails with exit 128 (129 for bad usage), a
# message that says where (file:line and the column), and no output file.

load test_helper

setup() {
    common_setup
    init_repo
    rm features/driver.yaml
    cat > features/defs.yaml <<'EOF'
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
created_timestamp_field: created
---
kind: source
name: customer_src
type: csv
path: data/customer.csv
timestamp_field: event_timestamp
---
kind: feature_view
name: driver_stats
entities: [driver]
source: driver_src
ttl: 1d
features:
  - {name: conv_rate, type: float64}
  - {name: trips, type: int64}
  - {name: small, type: int32}
  - {name: active, type: bool}
---
kind: feature_view
name: customer_stats
entities: [customer]
source: customer_src
ttl: 1d
features:
  - {name: trips, type: int64}
---
kind: feature_service
name: driver_activity
features:
  - driver_stats: [conv_rate]
EOF
    HEADER=driver_id,event_timestamp,created,conv_rate,trips,small,active
    GOOD=1,2024-05-01T10:00:00Z,,0.5,10,3,true
    printf '%s\n%s\n' "$HEADER" "$GOOD" > data/driver.csv
    printf 'customer_id,event_timestamp,trips\nc1,2024-05-01T10:00:00Z,4\n' > data/customer.csv
    fs apply -q
    printf 'driver_id,customer_id,event_timestamp\n1,c1,2024-05-01T11:00:00Z\n' > rows.csv
}

# hist_fails ARGS...: get-historical ARGS -o out.csv exits 128, prints
# nothing on stdout and leaves no output file (nor a temporary one).
hist_fails() {
    run -128 --separate-stderr fs get-historical "$@" -o out.csv
    assert_equal "$output" ""
    [ ! -e out.csv ]
    [ -z "$(ls -A | grep '^out\.csv')" ]
}

# source_rows LINE...: data/driver.csv with the header, a good row, then LINEs
source_rows() {
    { echo "$HEADER"; echo "$GOOD"; printf '%s\n' "$@"; } > data/driver.csv
}

@test "get-historical errors: the good case works (the fixtures are sound)" {
    run -0 fs get-historical --entities rows.csv -f driver_stats -o out.csv
    assert_equal "$(cat out.csv)" "driver_id,customer_id,event_timestamp,conv_rate,trips,small,active
1,c1,2024-05-01T11:00:00Z,0.5,10,3,true"
}

@test "get-historical errors: a missing entities file" {
    hist_fails --entities nope.csv -f driver_stats
    [[ "$stderr" == "fatal: "*"'nope.csv'"*"No such file or directory" ]]
}

@test "get-historical errors: an empty entities file" {
    : > empty.csv
    hist_fails --entities empty.csv -f driver_stats
    [[ "$stderr" == "fatal: empty.csv: "*"header"* ]]
}

@test "get-historical errors: entity rows without the timestamp column" {
    printf 'driver_id,ts\n1,2024-05-01T11:00:00Z\n' > bad.csv
    hist_fails --entities bad.csv -f driver_stats
    [[ "$stderr" == "fatal: bad.csv: "*"'event_timestamp'"* ]]
    # and with --timestamp-column naming a column that is not there
    hist_fails --entities rows.csv -f driver_stats --timestamp-column asof
    [[ "$stderr" == "fatal: rows.csv: "*"'asof'"* ]]
}

@test "get-historical errors: entity rows without a join key column" {
    printf 'driver,event_timestamp\n1,2024-05-01T11:00:00Z\n' > bad.csv
    hist_fails --entities bad.csv -f driver_stats
    [[ "$stderr" == "fatal: bad.csv: "*"'driver_id'"* ]]
    # the customer view needs customer_id
    printf 'driver_id,event_timestamp\n1,2024-05-01T11:00:00Z\n' > bad.csv
    hist_fails --entities bad.csv -f driver_stats -f customer_stats:trips --full-feature-names
    [[ "$stderr" == "fatal: bad.csv: "*"'customer_id'"* ]]
}

@test "get-historical errors: a bad timestamp in an entity row names file, line and column" {
    printf 'driver_id,event_timestamp\n1,2024-05-01T11:00:00Z\n1,2024-05-01T25:00:00Z\n' > bad.csv
    hist_fails --entities bad.csv -f driver_stats
    [[ "$stderr" == "fatal: bad.csv:3: column 'event_timestamp'"*"'2024-05-01T25:00:00Z'"* ]]
    printf 'driver_id,event_timestamp\n1,2024-05-01T11:00:00Z\n1,\n' > bad.csv
    hist_fails --entities bad.csv -f driver_stats
    [[ "$stderr" == "fatal: bad.csv:3: column 'event_timestamp'"* ]]
    printf 'driver_id,event_timestamp\n1,yesterday\n' > bad.csv
    hist_fails --entities bad.csv -f driver_stats
    [[ "$stderr" == "fatal: bad.csv:2: column 'event_timestamp'"*"'yesterday'"* ]]
    # Unix seconds too large for the microsecond clock (19 digits: once wrapped around)
    printf 'driver_id,event_timestamp\n1,9999999999999999999\n' > bad.csv
    hist_fails --entities bad.csv -f driver_stats
    [[ "$stderr" == "fatal: bad.csv:2: column 'event_timestamp'"*"'9999999999999999999'"* ]]
}

@test "get-historical errors: a non-integer key for an int64 entity" {
    printf 'driver_id,event_timestamp\n1,2024-05-01T11:00:00Z\n\n1.5,2024-05-01T11:00:00Z\n' > bad.csv
    hist_fails --entities bad.csv -f driver_stats
    [[ "$stderr" == "fatal: bad.csv:4: column 'driver_id': '1.5'"*"int64"* ]]
    printf 'driver_id,event_timestamp\nabc,2024-05-01T11:00:00Z\n' > bad.csv
    hist_fails --entities bad.csv -f driver_stats
    [[ "$stderr" == "fatal: bad.csv:2: column 'driver_id': 'abc'"*"int64"* ]]
}

@test "get-historical errors: an entity row with too few fields names the first column without a value" {
    printf 'driver_id,event_timestamp,label\n1,2024-05-01T11:00:00Z,a\n1,2024-05-01T11:00:00Z\n' > bad.csv
    hist_fails --entities bad.csv -f driver_stats
    assert_equal "$stderr" "fatal: bad.csv:3: 2 fields, expected 3: no value for column 'label'"
    printf 'driver_id,event_timestamp\n1\n' > bad.csv
    hist_fails --entities bad.csv -f driver_stats
    assert_equal "$stderr" "fatal: bad.csv:2: 1 field, expected 2: no value for column 'event_timestamp'"
}

@test "get-historical errors: an entity row with too many fields names the first field without a column" {
    printf 'driver_id,event_timestamp\n1,2024-05-01T11:00:00Z\n1,2024-05-01T11:00:00Z,x,y\n' > bad.csv
    hist_fails --entities bad.csv -f driver_stats
    assert_equal "$stderr" "fatal: bad.csv:3: 4 fields, expected 2: field 3 has no column in the header"
}

@test "get-historical errors: an unterminated quote in the entity rows" {
    printf 'driver_id,event_timestamp,note\n1,2024-05-01T11:00:00Z,ok\n1,2024-05-01T11:00:00Z,"open\n' > bad.csv
    hist_fails --entities bad.csv -f driver_stats
    [[ "$stderr" == "fatal: bad.csv:3: "*"quote"* ]]
}

@test "get-historical errors: a source row with a bad timestamp" {
    source_rows 1,2024-05-01X10:00:00Z,,0.5,10,3,true
    hist_fails --entities rows.csv -f driver_stats
    [[ "$stderr" == "fatal: data/driver.csv:3: column 'event_timestamp'"*"'2024-05-01X10:00:00Z'"* ]]
    source_rows 1,,,0.5,10,3,true
    hist_fails --entities rows.csv -f driver_stats
    [[ "$stderr" == "fatal: data/driver.csv:3: column 'event_timestamp'"* ]]
    source_rows 1,2024-05-01T10:00:00Z,soon,0.5,10,3,true
    hist_fails --entities rows.csv -f driver_stats
    [[ "$stderr" == "fatal: data/driver.csv:3: column 'created'"*"'soon'"* ]]
}

@test "get-historical errors: a value that does not fit its type names source file, line and column" {
    local bad
    for bad in "conv_rate abc float64 1,2024-05-01T10:00:00Z,,abc,10,3,true" \
               "trips 3.5 int64 1,2024-05-01T10:00:00Z,,0.5,3.5,3,true" \
               "trips 9223372036854775808 int64 1,2024-05-01T10:00:00Z,,0.5,9223372036854775808,3,true" \
               "small 2147483648 int32 1,2024-05-01T10:00:00Z,,0.5,10,2147483648,true" \
               "small -2147483649 int32 1,2024-05-01T10:00:00Z,,0.5,10,-2147483649,true" \
               "active maybe bool 1,2024-05-01T10:00:00Z,,0.5,10,3,maybe"; do
        set -- $bad
        source_rows "$GOOD" "$4"
        hist_fails --entities rows.csv -f driver_stats
        [[ "$stderr" == "fatal: data/driver.csv:4: column '$1': '$2' is not a"*" $3"* ]] ||
            { echo "for $1=$2: $stderr"; false; }
    done
    # the limits themselves fit
    source_rows 1,2024-05-01T10:30:00Z,,-1e-3,-9223372036854775808,-2147483648,FALSE
    run -0 fs get-historical --entities rows.csv -f driver_stats
    assert_line -n 1 "1,c1,2024-05-01T11:00:00Z,-1e-3,-9223372036854775808,-2147483648,false"
}

@test "get-historical errors: a source row with too few fields names the first column without a value" {
    source_rows 1,2024-05-01T10:00:00Z,,0.5,10,3
    hist_fails --entities rows.csv -f driver_stats
    assert_equal "$stderr" "fatal: data/driver.csv:3: 6 fields, expected 7: no value for column 'active'"
    source_rows 1,2024-05-01T10:00:00Z
    hist_fails --entities rows.csv -f driver_stats
    assert_equal "$stderr" "fatal: data/driver.csv:3: 2 fields, expected 7: no value for column 'created'"
}

@test "get-historical errors: a source row with too many fields names the first field without a column" {
    source_rows "$GOOD" 1,2024-05-01T10:00:00Z,,0.5,10,3,true,extra
    hist_fails --entities rows.csv -f driver_stats
    assert_equal "$stderr" "fatal: data/driver.csv:4: 8 fields, expected 7: field 8 has no column in the header"
}

@test "get-historical errors: every source row is checked, not only the rows of wanted keys" {
    # rows.csv asks for driver 1 only: driver 2's rows are still read and checked
    source_rows 2,2024-05-01T10:00:00Z,,abc,10,3,true
    hist_fails --entities rows.csv -f driver_stats
    assert_equal "$stderr" "fatal: data/driver.csv:3: column 'conv_rate': 'abc' is not a float64 (feature 'conv_rate' of feature_view 'driver_stats')"
    source_rows "$GOOD" 2,2024-05-01T10:00:00Z,,0.5,3.5,3,true
    hist_fails --entities rows.csv -f driver_stats:trips
    assert_equal "$stderr" "fatal: data/driver.csv:4: column 'trips': '3.5' is not an int64 (feature 'trips' of feature_view 'driver_stats')"
    source_rows 2,yesterday,,0.5,10,3,true
    hist_fails --entities rows.csv -f driver_stats
    assert_equal "$stderr" "fatal: data/driver.csv:3: column 'event_timestamp': bad timestamp 'yesterday' (expected RFC 3339 like 2024-05-01T10:00:00Z, 'YYYY-MM-DD HH:MM:SS' in UTC, or Unix seconds)"
    source_rows x,2024-05-01T10:00:00Z,,0.5,10,3,true
    hist_fails --entities rows.csv -f driver_stats
    assert_equal "$stderr" "fatal: data/driver.csv:3: column 'driver_id': 'x' is not an int64 (join key of entity 'driver')"
    source_rows 2,2024-05-01T10:00:00Z,,0.5,10,3,true,extra
    hist_fails --entities rows.csv -f driver_stats
    assert_equal "$stderr" "fatal: data/driver.csv:3: 8 fields, expected 7: field 8 has no column in the header"
}

@test "get-historical errors: an unterminated quote in the source" {
    source_rows '1,2024-05-01T10:00:00Z,,0.5,10,3,"true'
    hist_fails --entities rows.csv -f driver_stats
    [[ "$stderr" == "fatal: data/driver.csv:3: "*"quote"* ]]
}

@test "get-historical errors: a missing source file" {
    rm data/driver.csv
    hist_fails --entities rows.csv -f driver_stats
    [[ "$stderr" == "fatal: "*"data/driver.csv"* ]]
}

@test "get-historical errors: an unknown view, feature or feature service suggests the closest" {
    hist_fails --entities rows.csv -f driver_stat
    [[ "$stderr" == "fatal: "*"'driver_stat'"*"(did you mean 'driver_stats'?)" ]]
    hist_fails --entities rows.csv -f driver_stats:conv_rat
    [[ "$stderr" == "fatal: "*"'driver_stats'"*"'conv_rat'"*"(did you mean 'conv_rate'?)" ]]
    hist_fails --entities rows.csv -f driver_activty
    [[ "$stderr" == "fatal: "*"'driver_activty'"*"(did you mean 'driver_activity'?)" ]]
    hist_fails --entities rows.csv -f drivr_stats:trips
    [[ "$stderr" == "fatal: "*"'drivr_stats'"*"(did you mean 'driver_stats'?)" ]]
    # nothing close: no suggestion
    hist_fails --entities rows.csv -f driver_stats:trips -f zzzzzz
    [[ "$stderr" == "fatal: "*"'zzzzzz'"* ]]
    [[ "$stderr" != *"did you mean"* ]]
}

@test "get-historical errors: a name collision without --full-feature-names names both features" {
    hist_fails --entities rows.csv -f driver_stats:trips -f customer_stats
    [[ "$stderr" == "fatal: "*"--full-feature-names"* ]]
    [[ "$stderr" == *"'driver_stats'"* ]]
    [[ "$stderr" == *"'customer_stats'"* ]]
    [[ "$stderr" == *"'trips'"* ]]
    run -0 fs get-historical --entities rows.csv -f driver_stats:trips -f customer_stats --full-feature-names
    assert_output "driver_id,customer_id,event_timestamp,driver_stats__trips,customer_stats__trips
1,c1,2024-05-01T11:00:00Z,10,4"
}

@test "get-historical errors: a feature named like an input column" {
    printf 'driver_id,event_timestamp,trips\n1,2024-05-01T11:00:00Z,7\n' > labels.csv
    hist_fails --entities labels.csv -f driver_stats:trips
    [[ "$stderr" == "fatal: labels.csv: "*"'trips'"* ]]
}

@test "get-historical errors: a failure keeps an existing output file as it was" {
    echo "precious" > keep.csv
    source_rows 1,2024-05-01T10:00:00Z,,abc,10,3,true
    run -128 --separate-stderr fs get-historical --entities rows.csv -f driver_stats -o keep.csv
    assert_equal "$(cat keep.csv)" "precious"
    [ -z "$(ls -A | grep '^keep\.csv\.')" ]
}

@test "get-historical errors: bad usage exits 129" {
    # a required option that is missing is named, before the usage
    run -129 --separate-stderr fs get-historical -f driver_stats -o out.csv
    assert_equal "${stderr_lines[0]}" "error: --entities is required"
    assert_equal "${stderr_lines[1]}" "usage: fs get-historical --entities <file> (-f <ref>)... [--full-feature-names]"
    run -129 --separate-stderr fs get-historical --entities rows.csv -o out.csv
    assert_equal "${stderr_lines[0]}" "error: at least one -f <ref> is required"
    run -129 --separate-stderr fs get-historical -o out.csv
    assert_equal "${stderr_lines[0]}" "error: --entities is required"
    run -129 --separate-stderr fs get-historical --entities rows.csv -f driver_stats --format xml -o out.csv
    [[ "$stderr" == *"'xml'"* ]]
    run -129 --separate-stderr fs get-historical --entities rows.csv -f driver_stats --bogus -o out.csv
    [[ "$stderr" == *"unknown option"*"bogus"* ]]
    run -129 --separate-stderr fs get-historical --entities rows.csv -f driver_stats extra -o out.csv
    [ ! -e out.csv ]
    [ -z "$(ls -A | grep '^out\.csv')" ]
}
