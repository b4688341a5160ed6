#!/usr/bin/env bats
# Definition validation against the data: each csv or sqlite source must
# exist and have the columns its definition and its views need (timestamp
# fields, join keys, features, field_mapping). Failures name file:line:col,
# exit 128 and change neither the registry nor git.
#
# features/driver.yaml (share/init/driver.yaml), the lines that matter:
#  10 kind: source            14 timestamp_field: event_timestamp
#  12 type: csv               15 created_timestamp_field: created
#  13 path: data/driver_stats.csv
#  17 kind: feature_view  19 entities: [driver]  20 source: driver_stats
# data/driver_stats.csv header:
#  driver_id,event_timestamp,conv_rate,acc_rate,avg_daily_trips,created

load test_helper
load lib-validate

D=features/driver.yaml
CSV=data/driver_stats.csv

# use_sqlite LINES: make the source read data/stats.db (a copy of the csv in
# table "stats"); LINES replace "type: csv\npath: ...\n" (lines 12-13).
use_sqlite() {
    [ -f data/stats.db ] || sqlite3 data/stats.db ".import --csv $CSV stats"
    replace $D "type: csv
path: data/driver_stats.csv
" "$1"
}

# ---- csv ----

@test "validate sources: a csv file that does not exist is reported" {
    replace $D "path: data/driver_stats.csv" "path: data/driver_stat.csv"
    apply_fatal "features/driver.yaml:13:7: source 'driver_stats': file 'data/driver_stat.csv' does not exist"
}

@test "validate sources: an empty csv file is reported" {
    : > data/empty.csv
    replace $D "path: data/driver_stats.csv" "path: data/empty.csv"
    apply_fatal "features/driver.yaml:13:7: source 'driver_stats': file 'data/empty.csv' is empty (a csv source needs a header row)"
}

@test "validate sources: an empty csv path is reported once" {
    replace $D "path: data/driver_stats.csv" "path: ''"
    apply_fatal "features/driver.yaml:13:7: source 'driver_stats': empty path"
}

@test "validate sources: a csv file without the timestamp field is reported" {
    replace $CSV "driver_id,event_timestamp," "driver_id,ts,"
    apply_fatal "features/driver.yaml:14:18: source 'driver_stats': data/driver_stats.csv has no column 'event_timestamp' (timestamp_field)"
}

@test "validate sources: a csv file without the created_timestamp_field is reported" {
    replace $CSV "avg_daily_trips,created" "avg_daily_trips,created_at"
    apply_fatal "features/driver.yaml:15:26: source 'driver_stats': data/driver_stats.csv has no column 'created' (created_timestamp_field)"
}

@test "validate sources: a csv file without a join key column is reported" {
    replace $CSV "driver_id,event_timestamp," "driver,event_timestamp,"
    apply_fatal "features/driver.yaml:20:9: feature_view 'driver_hourly_stats': source 'driver_stats' (data/driver_stats.csv) has no column 'driver_id' (join key of entity 'driver')"
}

@test "validate sources: a csv file without a feature column is reported" {
    replace $CSV "conv_rate,acc_rate," "conv_rate,accuracy,"
    apply_fatal "features/driver.yaml:20:9: feature_view 'driver_hourly_stats': source 'driver_stats' (data/driver_stats.csv) has no column 'acc_rate' for feature 'acc_rate'"
}

@test "validate sources: a field_mapping whose source column is missing is reported" {
    # conv is there, acc is not: the error points at the acc line
    replace $CSV "conv_rate,acc_rate," "conv,acc_rate,"
    replace $D "created_timestamp_field: created
" "created_timestamp_field: created
field_mapping:
  conv: conv_rate
  acc: acc_rate
"
    apply_fails \
        "error: features/driver.yaml:18:3: source 'driver_stats': data/driver_stats.csv has no column 'acc' (in field_mapping)" \
        "error: features/driver.yaml:23:9: feature_view 'driver_hourly_stats': source 'driver_stats' (data/driver_stats.csv) has no column 'acc' for feature 'acc_rate'" \
        "fatal: 2 errors in definitions"
}

@test "validate sources: a field_mapping that maps a renamed column is accepted" {
    replace $CSV "conv_rate,acc_rate," "conv_rate,acc,"
    # without the mapping the feature column is missing
    apply_fatal "features/driver.yaml:20:9: feature_view 'driver_hourly_stats': source 'driver_stats' (data/driver_stats.csv) has no column 'acc_rate' for feature 'acc_rate'"

    replace $D "created_timestamp_field: created" "created_timestamp_field: created
field_mapping: {acc: acc_rate}"
    run -0 --separate-stderr fs apply -q
    run -0 fs describe source driver_stats --json
    assert_equal "$(json_at spec field_mapping <<<"$output")" '{"acc":"acc_rate"}'
    run -0 fs plan --exit-code
}

# ---- sqlite ----

@test "validate sources: a sqlite table that does not exist is reported" {
    use_sqlite "type: sqlite
path: data/stats.db
table: driver_stat
"
    apply_fatal "features/driver.yaml:14:8: source 'driver_stats': database 'data/stats.db' has no table 'driver_stat'"
}

@test "validate sources: a sqlite table without a column is reported" {
    sqlite3 data/stats.db "CREATE TABLE t2 (driver_id, event_timestamp, conv_rate, avg_daily_trips, created)"
    use_sqlite "type: sqlite
path: data/stats.db
table: t2
"
    apply_fatal "features/driver.yaml:21:9: feature_view 'driver_hourly_stats': source 'driver_stats' (data/stats.db table 't2') has no column 'acc_rate' for feature 'acc_rate'"

    sqlite3 data/stats.db "CREATE TABLE t3 (driver_id, ts, conv_rate, acc_rate, avg_daily_trips, created)"
    replace $D "table: t2" "table: t3"
    apply_fatal "features/driver.yaml:15:18: source 'driver_stats': data/stats.db table 't3' has no column 'event_timestamp' (timestamp_field)"
}

@test "validate sources: a sqlite source with a table is accepted" {
    use_sqlite "type: sqlite
path: data/stats.db
table: stats
"
    run -0 --separate-stderr fs apply -q
    run -0 fs describe source driver_stats --json
    assert_equal "$(json_at spec type <<<"$output")" '"sqlite"'
    assert_equal "$(json_at spec path <<<"$output")" '"data/stats.db"'
    assert_equal "$(json_at spec table <<<"$output")" '"stats"'
}

@test "validate sources: a sqlite source with a query is accepted" {
    use_sqlite "type: sqlite
path: data/stats.db
query: SELECT * FROM stats WHERE conv_rate > 0;
"
    # a trailing ';' is fine: the query is prepared as the reader prepares it
    run -0 --separate-stderr fs apply -q
    run -0 fs describe source driver_stats --json
    assert_equal "$(json_at spec query <<<"$output")" '"SELECT * FROM stats WHERE conv_rate > 0;"'

    # its columns are checked like a table's
    replace $D "query: SELECT * FROM stats WHERE conv_rate > 0;" \
        "query: SELECT driver_id, event_timestamp, created, conv_rate, avg_daily_trips FROM stats"
    run -128 --separate-stderr fs apply -q
    assert_equal "$stderr" "fatal: features/driver.yaml:21:9: feature_view 'driver_hourly_stats': source 'driver_stats' (data/stats.db query) has no column 'acc_rate' for feature 'acc_rate'"
}

@test "validate sources: a sqlite source with both table and query is reported" {
    use_sqlite "type: sqlite
path: data/stats.db
table: stats
query: SELECT * FROM stats
"
    apply_fatal "features/driver.yaml:10:1: source 'driver_stats': a sqlite source needs exactly one of 'table' and 'query'"

    # neither: the same one error, no second one from reading the database
    replace $D "table: stats
query: SELECT * FROM stats
" ""
    apply_fatal "features/driver.yaml:10:1: source 'driver_stats': a sqlite source needs exactly one of 'table' and 'query'"
}

@test "validate sources: a sqlite database that does not exist is reported at its path" {
    use_sqlite "type: sqlite
path: data/nope.db
table: stats
"
    apply_fatal "features/driver.yaml:13:7: source 'driver_stats': database 'data/nope.db' does not exist"
}

@test "validate sources: a sqlite path that is not a database is reported" {
    use_sqlite "type: sqlite
path: data/driver_stats.csv
table: stats
"
    apply_fatal "features/driver.yaml:13:7: source 'driver_stats': cannot read database 'data/driver_stats.csv': file is not a database"
}

@test "validate sources: a failing or writing sqlite query is reported" {
    use_sqlite "type: sqlite
path: data/stats.db
query: SELECT * FROM nope
"
    apply_fatal "features/driver.yaml:14:8: source 'driver_stats': query fails on database 'data/stats.db': no such table: nope"

    replace $D "query: SELECT * FROM nope" "query: DELETE FROM stats"
    apply_fatal "features/driver.yaml:14:8: source 'driver_stats': query on database 'data/stats.db' must be a SELECT statement"
    run -0 sqlite3 data/stats.db "SELECT count(*) > 0 FROM stats"
    assert_output 1
}

@test "validate: a join key renamed by field_mapping is found through the mapping" {
    init_repo
    sed -i 's/^driver_id,/drv,/' data/driver_stats.csv
    sed -i 's|created_timestamp_field: created|created_timestamp_field: created\nfield_mapping: {drv: driver_id}|' features/driver.yaml
    run -0 fs apply -q
    printf 'driver_id,event_timestamp\n1001,%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > rows.csv
    run -0 fs get-historical --entities rows.csv -f driver_hourly_stats:conv_rate
    assert_line --index 1 --regexp '^1001,[^,]+,0\.07$'
}

# ---- timestamp fields through field_mapping ----

# mapped_times HEADER: the driver source's timestamp fields read from columns
# t and c (field_mapping), data/driver_stats.csv rewritten with HEADER.
mapped_times() {
    replace $D "created_timestamp_field: created
" "created_timestamp_field: created
field_mapping:
  t: event_timestamp
  c: created
"
    cat > $CSV <<CSV
$1
1001,2024-05-01T10:00:00Z,0.10,0.50,10,2024-05-01T10:00:00Z
1001,2024-05-01T11:00:00Z,0.20,0.60,20,2024-05-01T11:00:00Z
1001,2024-05-01T11:00:00Z,0.30,0.70,30,2024-05-01T11:30:00Z
1001,2024-05-01T11:00:00Z,0.40,0.80,40,2024-05-01T11:10:00Z
CSV
}

@test "validate sources: timestamp fields renamed by field_mapping are found through it and read" {
    mapped_times "driver_id,t,conv_rate,acc_rate,avg_daily_trips,c"
    run -0 --separate-stderr fs apply -q
    assert_equal "$stderr" ""
    run -0 fs plan --exit-code

    # 10:30 sees the 10:00 row; at 11:00 three rows tie on t and the
    # greatest c (11:30) wins over the later row (11:10)
    printf 'driver_id,event_timestamp\n1001,2024-05-01T10:30:00Z\n1001,2024-05-01T11:00:00Z\n1001,2024-05-01T09:00:00Z\n' > rows.csv
    run -0 --separate-stderr fs get-historical --entities rows.csv \
        -f driver_hourly_stats:conv_rate -f driver_hourly_stats:avg_daily_trips
    assert_equal "$output" "driver_id,event_timestamp,conv_rate,avg_daily_trips
1001,2024-05-01T10:30:00Z,0.10,10
1001,2024-05-01T11:00:00Z,0.30,30
1001,2024-05-01T09:00:00Z,,"
}

@test "validate sources: a timestamp field's mapped column that is missing is reported" {
    mapped_times "driver_id,ts,conv_rate,acc_rate,avg_daily_trips,cr"
    apply_fails \
        "error: features/driver.yaml:14:18: source 'driver_stats': data/driver_stats.csv has no column 't' (timestamp_field 'event_timestamp', through field_mapping)" \
        "error: features/driver.yaml:15:26: source 'driver_stats': data/driver_stats.csv has no column 'c' (created_timestamp_field 'created', through field_mapping)" \
        "error: features/driver.yaml:17:3: source 'driver_stats': data/driver_stats.csv has no column 't' (in field_mapping)" \
        "error: features/driver.yaml:18:3: source 'driver_stats': data/driver_stats.csv has no column 'c' (in field_mapping)" \
        "fatal: 4 errors in definitions"
}

@test "validate sources: a timestamp field is not found under its own name when field_mapping renames another column to it" {
    # the readers take column t for event_timestamp: a column named
    # event_timestamp is not used, and t must exist
    mapped_times "driver_id,event_timestamp,conv_rate,acc_rate,avg_daily_trips,c"
    replace $D "  c: created
" ""
    apply_fails \
        "error: features/driver.yaml:14:18: source 'driver_stats': data/driver_stats.csv has no column 't' (timestamp_field 'event_timestamp', through field_mapping)" \
        "error: features/driver.yaml:15:26: source 'driver_stats': data/driver_stats.csv has no column 'created' (created_timestamp_field)" \
        "error: features/driver.yaml:17:3: source 'driver_stats': data/driver_stats.csv has no column 't' (in field_mapping)" \
        "fatal: 3 errors in definitions"
}

@test "validate sources: a csv column named twice in the header is an error, at apply and when read" {
    init_repo
    fs apply -q
    sed -i '1s/acc_rate/conv_rate/' data/driver_stats.csv
    run -128 --separate-stderr fs plan
    assert_equal "$stderr" "fatal: features/driver.yaml:13:7: source 'driver_stats': file 'data/driver_stats.csv': column 'conv_rate' is in the header twice (fields 3 and 4)"
    # the registered view reads the file as it is now
    run -128 --separate-stderr fs materialize-incremental now
    assert_equal "$stderr" "fatal: data/driver_stats.csv:1: column 'conv_rate' is in the header twice (fields 3 and 4)"
}
