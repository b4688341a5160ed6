#!/usr/bin/env bats
# push --to offline|online_and_offline: pushed rows appended to the push
# source's batch source (csv, sqlite or postgres), every row checked first,
# kept only when the whole push succeeds. Each behaviour runs on the three
# kinds of batch source; the csv file's guarantees (final newline, kills,
# crashes, concurrent pushes) have tests of their own.

load test_helper
load lib-online
load lib-postgres

setup_file() {
    # the postgres cases skip when the server is not installed
    local bin
    if bin=$(pg_bindir) && [ -x "$bin/initdb" ]; then start_postgres; fi
}
teardown_file() { stop_postgres; }

setup() {
    common_setup
    [ -z "${PG_DSN:-}" ] || export FS_POSTGRES_DSN=$PG_DSN
}

PUSH_HEADER=driver_id,event_timestamp,conv_rate,trips

# offline_repo KIND: a repo whose push source trips_push has the batch
# source trips, a KIND source (csv, sqlite or postgres) holding one row
# (driver 1 at 09:00), read by the view pa (conv_rate, trips). Applied; cwd
# inside; WHERE says where the rows are, as messages name it.
offline_repo() {
    local src
    KIND=$1
    if [ "$KIND" = postgres ] && [ -z "${PG_DSN:-}" ]; then
        skip "the PostgreSQL server is not installed"
    fi
    init_repo
    git rm -q features/driver.yaml data/driver_stats.csv
    mkdir -p features data
    case $KIND in
    csv)
        src=$'type: csv\npath: data/trips.csv'
        WHERE=data/trips.csv
        printf '%s\n' driver_id,event_timestamp,created,conv_rate,trips,note \
            1,2024-05-01T09:00:00Z,,0.1,1,seed > data/trips.csv
        ;;
    sqlite)
        src=$'type: sqlite\npath: data/trips.db\ntable: trips'
        WHERE="data/trips.db table 'trips'"
        sqlite3 data/trips.db "CREATE TABLE trips (driver_id INTEGER, event_timestamp TEXT,
                                   created TEXT, conv_rate REAL, trips INTEGER, note TEXT);
                               INSERT INTO trips VALUES (1, '2024-05-01T09:00:00Z', NULL, 0.1, 1, 'seed');"
        ;;
    postgres)
        PG_TABLE=trips_$BATS_TEST_NUMBER
        src="type: postgres"$'\n'"table: $PG_TABLE"
        WHERE="postgres table '$PG_TABLE'"
        psql_fs -c "SET client_min_messages = warning; DROP TABLE IF EXISTS $PG_TABLE;
                    CREATE TABLE $PG_TABLE (driver_id bigint, event_timestamp timestamptz,
                        created timestamptz, conv_rate float8, trips bigint, note text);
                    INSERT INTO $PG_TABLE VALUES (1, '2024-05-01T09:00:00Z', NULL, 0.1, 1, 'seed');"
        ;;
    esac
    cat > features/push.yaml <<EOF
kind: entity
name: driver
join_key: driver_id
type: int64
---
kind: source
name: trips
$src
timestamp_field: event_timestamp
created_timestamp_field: created
---
kind: source
name: trips_push
type: push
batch_source: trips
---
kind: feature_view
name: pa
entities: [driver]
source: trips_push
features:
  - {name: conv_rate, type: float64}
  - {name: trips, type: int64}
EOF
    fs apply -q
}

# The rows of the batch source, in order, as CSV lines (times RFC 3339 UTC,
# null empty): driver_id,event_timestamp,created,conv_rate,trips,note.
offline_dump() {
    case $KIND in
    csv) tail -n +2 data/trips.csv ;;
    sqlite) sqlite3 -csv data/trips.db "SELECT * FROM trips ORDER BY rowid" ;;
    postgres)
        psql_fs -t --csv -c "SELECT driver_id,
                to_char(event_timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                to_char(created AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                conv_rate, trips, note FROM $PG_TABLE ORDER BY ctid"
        ;;
    esac
}

# get-historical of pa:conv_rate and pa:trips for the entity rows "driver,time".
hist() {
    printf '%s\n' driver_id,event_timestamp "$@" > entities.csv
    "$FS" get-historical --entities entities.csv -f pa:conv_rate -f pa:trips
}

# pa:trips online for the drivers given: "value@event_timestamp", or "-".
online() {
    local d args=()
    for d in "$@"; do args+=(-e "driver_id=$d"); done
    "$FS" get-online -f pa:trips --json "${args[@]}" |
        jq -r '[.results[1].values, .results[1].statuses, .results[1].event_timestamps] | transpose
               | map(if .[1] == "NOT_FOUND" then "-" else "\(.[0])@\(.[2])" end) | join(" ")'
}

to_offline() {
    offline_repo "$1"
    # times in the three forms data may have; columns in another order, some absent
    printf '%s\n' driver_id,trips,event_timestamp,conv_rate,note \
        "1,5,2024-05-01 10:00:00,0.5,\"hi, there\"" 2,6,1714561200,0.6, > push.csv
    run -0 --separate-stderr fs push trips_push push.csv --to offline
    assert_output ""
    assert_equal "$stderr" ""
    assert_equal "$(offline_dump)" '1,2024-05-01T09:00:00Z,,0.1,1,seed
1,2024-05-01T10:00:00Z,,0.5,5,"hi, there"
2,2024-05-01T11:00:00Z,,0.6,6,'
    # point in time: a row before a pushed event does not see it
    run -0 --separate-stderr hist 1,2024-05-01T09:59:59Z 1,2024-05-01T10:00:00Z \
        2,2024-05-01T10:59:59Z 2,2024-05-01T11:00:00Z 1,2024-05-01T12:00:00Z
    assert_output "driver_id,event_timestamp,conv_rate,trips
1,2024-05-01T09:59:59Z,0.1,1
1,2024-05-01T10:00:00Z,0.5,5
2,2024-05-01T10:59:59Z,,
2,2024-05-01T11:00:00Z,0.6,6
1,2024-05-01T12:00:00Z,0.5,5"
    # the online store is not written
    assert_equal "$(online 1 2)" "- -"
    # the summaries; an offset in a time is normalised to UTC
    printf '%s\n' driver_id,event_timestamp,trips 3,2024-05-01T14:00:00+02:00,7 > more.csv
    run -0 --separate-stderr fs push trips_push more.csv --to offline --json
    assert_equal "$(jq -c . <<< "$output")" \
        "{\"offline\":{\"source\":\"trips\",\"where\":\"$WHERE\",\"rows\":1}}"
    run -0 --separate-stderr fs push trips_push more.csv --to offline --verbose
    assert_output "offline: 1 rows appended to source 'trips' ($WHERE)"
    assert_equal "$(offline_dump | tail -n 2)" "3,2024-05-01T12:00:00Z,,,7,
3,2024-05-01T12:00:00Z,,,7,"
    [ ! -e data/trips.csv.fs-journal ]
}

@test "push --to offline: rows reach get-historical at their times, not the online store (csv)" { to_offline csv; }
@test "push --to offline: rows reach get-historical at their times, not the online store (sqlite)" { to_offline sqlite; }
@test "push --to offline: rows reach get-historical at their times, not the online store (postgres)" { to_offline postgres; }

both_stores() {
    offline_repo "$1"
    printf '%s\n' "$PUSH_HEADER" 1,2024-05-01T10:00:00Z,0.5,5 > push.csv
    run -0 --separate-stderr fs push trips_push push.csv --to online_and_offline --json
    assert_equal "$(jq -c . <<< "$output")" \
        "{\"views\":[{\"view\":\"pa\",\"rows\":1,\"keys_written\":1,\"newest_event\":\"2024-05-01T10:00:00Z\"}],\"offline\":{\"source\":\"trips\",\"where\":\"$WHERE\",\"rows\":1}}"
    assert_equal "$(online 1)" "5@2024-05-01T10:00:00Z"
    assert_equal "$(hist 1,2024-05-01T10:30:00Z | tail -n 1)" "1,2024-05-01T10:30:00Z,0.5,5"
    # what the online store refuses (an event more than a day ahead of the
    # clock) but the offline store would take: neither is written
    local before
    before=$(offline_dump)
    printf '%s\n' "$PUSH_HEADER" 2,2024-05-01T10:00:00Z,0.6,6 2,2999-01-01T00:00:00Z,0.7,7 > future.csv
    run -128 --separate-stderr fs push trips_push future.csv --to online_and_offline
    assert_equal "$stderr" "fatal: future.csv:3: event time 2999-01-01T00:00:00Z is more than a day ahead of the clock (a clock or unit error?)"
    assert_equal "$(offline_dump)" "$before"
    assert_equal "$(online 2)" "-"
    # the default is the online store only
    printf '%s\n' "$PUSH_HEADER" 2,2024-05-01T11:00:00Z,0.6,6 > online.csv
    run -0 --separate-stderr fs push trips_push online.csv --json
    assert_equal "$(jq -c . <<< "$output")" '{"views":[{"view":"pa","rows":1,"keys_written":1,"newest_event":"2024-05-01T11:00:00Z"}]}'
    assert_equal "$(online 1 2)" "5@2024-05-01T10:00:00Z 6@2024-05-01T11:00:00Z"
    assert_equal "$(offline_dump)" "$before"
    [ ! -e data/trips.csv.fs-journal ]
}

@test "push --to online_and_offline: both stores, or neither when one refuses (csv)" { both_stores csv; }
@test "push --to online_and_offline: both stores, or neither when one refuses (sqlite)" { both_stores sqlite; }
@test "push --to online_and_offline: both stores, or neither when one refuses (postgres)" { both_stores postgres; }

bad_rows() {
    offline_repo "$1"
    local before to
    before=$(offline_dump)
    [ "$KIND" != csv ] || cp data/trips.csv before.csv
    printf '%s\n' "$PUSH_HEADER" 1,2024-05-01T10:00:00Z,0.5,5 2,2024-05-01T11:00:00Z,0.6,6 \
        3,2024-05-01T12:00:00Z,0.7,seven > type.csv
    printf '%s\n' "$PUSH_HEADER" 1,2024-05-01T10:00:00Z,0.5,5 2,soon,0.6,6 \
        3,2024-05-01T12:00:00Z,0.7,7 > time.csv
    printf '%s\n' "$PUSH_HEADER" 1,2024-05-01T10:00:00Z,0.5,5 x2,2024-05-01T11:00:00Z,0.6,6 > key.csv
    printf '%s\n' "$PUSH_HEADER" 1,2024-05-01T10:00:00Z,0.5,5 ,2024-05-01T11:00:00Z,0.6,6 > nokey.csv
    printf '%s\n' "$PUSH_HEADER,trps" 1,2024-05-01T10:00:00Z,0.5,5,5 > column.csv
    printf '%s\n' event_timestamp,conv_rate,trips 2024-05-01T10:00:00Z,0.5,5 > keycol.csv
    printf '%s\n' driver_id,conv_rate,trips 1,0.5,5 > timecol.csv
    for to in offline online_and_offline; do
        run -128 --separate-stderr fs push trips_push type.csv --to $to
        assert_equal "$stderr" "fatal: type.csv:4: column 'trips': 'seven' is not an int64 (feature 'trips')"
        run -128 --separate-stderr fs push trips_push time.csv --to $to
        assert_equal "$stderr" "fatal: time.csv:3: column 'event_timestamp': bad timestamp 'soon' (expected RFC 3339 like 2024-05-01T10:00:00Z, 'YYYY-MM-DD HH:MM:SS' in UTC, or Unix seconds)"
        run -128 --separate-stderr fs push trips_push key.csv --to $to
        assert_equal "$stderr" "fatal: key.csv:3: column 'driver_id': 'x2' is not an int64 (join key of entity 'driver')"
        run -128 --separate-stderr fs push trips_push nokey.csv --to $to
        assert_equal "$stderr" "fatal: nokey.csv:3: join key column 'driver_id' is empty (feature_view 'pa' needs a value in every row)"
        run -128 --separate-stderr fs push trips_push column.csv --to $to
        assert_equal "$stderr" "fatal: source 'trips' ($WHERE) has no column 'trps' (pushed in column.csv; did you mean 'trips'?)"
        run -128 --separate-stderr fs push trips_push keycol.csv --to $to
        assert_equal "$stderr" "fatal: source 'trips_push' (keycol.csv) has no column 'driver_id' (join key of feature_view 'pa')"
        run -128 --separate-stderr fs push trips_push timecol.csv --to $to
        assert_equal "$stderr" "fatal: source 'trips_push' (timecol.csv) has no column 'event_timestamp' (timestamp_field of source 'trips')"
    done
    assert_equal "$(offline_dump)" "$before"
    if [ "$KIND" = csv ]; then
        cmp before.csv data/trips.csv
        [ ! -e data/trips.csv.fs-journal ]
    fi
    assert_equal "$(online 1 2 3)" "- - -"
}

@test "push --to offline: a bad row or column anywhere is named, exit 128, nothing written (csv)" { bad_rows csv; }
@test "push --to offline: a bad row or column anywhere is named, exit 128, nothing written (sqlite)" { bad_rows sqlite; }
@test "push --to offline: a bad row or column anywhere is named, exit 128, nothing written (postgres)" { bad_rows postgres; }

@test "push --to: an unknown store is bad usage; unknown and non-push sources are named" {
    offline_repo csv
    printf '%s\n' "$PUSH_HEADER" 1,2024-05-01T10:00:00Z,0.5,5 > push.csv
    run -129 --separate-stderr fs push trips_push push.csv --to offlne
    assert_output ""
    assert_equal "$(head -n 1 <<< "$stderr")" "error: unknown store 'offlne' for --to (online, offline or online_and_offline)"
    run -128 --separate-stderr fs push trips_pusj push.csv --to offline
    assert_equal "$stderr" "fatal: no source 'trips_pusj' is registered (did you mean 'trips_push'?)"
    run -128 --separate-stderr fs push trips push.csv --to online_and_offline
    assert_equal "$stderr" "fatal: source 'trips' is a csv source, not a push source"
    assert_equal "$(offline_dump)" "1,2024-05-01T09:00:00Z,,0.1,1,seed"
}

# Replace the spec lines of source trips before its timestamp_field with $1.
set_trips_source() {
    "$FS_TEST_PYTHON" - "$1" <<'PY'
import re, sys
text = open("features/push.yaml").read()
text = re.sub(r"(name: trips\n).*?(timestamp_field:)", lambda m: m.group(1) + sys.argv[1] + "\n" + m.group(2),
              text, count=1, flags=re.S)
open("features/push.yaml", "w").write(text)
PY
    "$FS" apply -q
}

@test "push --to offline: a batch source that cannot be appended to is an error (a query, a URL)" {
    offline_repo sqlite
    printf '%s\n' "$PUSH_HEADER" 1,2024-05-01T10:00:00Z,0.5,5 > push.csv
    set_trips_source $'type: sqlite\npath: data/trips.db\nquery: SELECT * FROM trips'
    run -128 --separate-stderr fs push trips_push push.csv --to offline
    assert_equal "$stderr" "fatal: source 'trips' (data/trips.db query): rows can only be appended to a table, not a query"
    set_trips_source $'type: csv\npath: http://127.0.0.1:9/trips.csv'
    run -128 --separate-stderr fs push trips_push push.csv --to online_and_offline
    assert_equal "$stderr" "fatal: source 'trips' (http://127.0.0.1:9/trips.csv): rows can only be appended to a local file, not a URL"
    if [ -n "${PG_DSN:-}" ]; then
        psql_fs -c "SET client_min_messages = warning; DROP TABLE IF EXISTS q_trips; CREATE TABLE q_trips (driver_id bigint,
            event_timestamp timestamptz, created timestamptz, conv_rate float8, trips bigint)"
        set_trips_source $'type: postgres\nquery: SELECT * FROM q_trips'
        run -128 --separate-stderr fs push trips_push push.csv --to offline
        assert_equal "$stderr" "fatal: source 'trips' (postgres query): rows can only be appended to a table, not a query"
        [ "$(psql_fs -At -c 'SELECT count(*) FROM q_trips')" = 0 ]
    fi
    [ "$(sqlite3 data/trips.db 'SELECT count(*) FROM trips')" = 1 ]
    assert_equal "$(online 1)" "-"
}

@test "push --to offline (csv): a file without a final newline gets one; quoting, nulls, CRLF, paths from the root" {
    offline_repo csv
    printf 'driver_id,event_timestamp,created,conv_rate,trips,note\n1,2024-05-01T09:00:00Z,,0.1,1,seed' > data/trips.csv
    printf '%s\n' driver_id,event_timestamp,note,created,trips \
        '2,2024-05-01T10:00:00.250Z,"say ""hi"", then
go",,2' '3,2024-05-01T11:00:00Z,"",2024-05-01T11:05:00Z,3' > push.csv
    # from a subdirectory: data/trips.csv is the repository's
    mkdir -p features/sub
    (cd features/sub && "$FS" push trips_push ../../push.csv --to offline)
    [ ! -e features/sub/data ]
    printf 'driver_id,event_timestamp,created,conv_rate,trips,note\n1,2024-05-01T09:00:00Z,,0.1,1,seed\n2,2024-05-01T10:00:00.25Z,,,2,"say ""hi"", then\ngo"\n3,2024-05-01T11:00:00Z,2024-05-01T11:05:00Z,,3,""\n' > expected.csv
    cmp expected.csv data/trips.csv
    run -0 hist 2,2024-05-01T10:00:01Z 3,2024-05-01T11:00:00Z
    assert_output "driver_id,event_timestamp,conv_rate,trips
2,2024-05-01T10:00:01Z,,2
3,2024-05-01T11:00:00Z,,3"
    # a file with CRLF line ends gets CRLF rows
    printf 'driver_id,event_timestamp,created,conv_rate,trips,note\r\n1,2024-05-01T09:00:00Z,,0.1,1,seed\r\n' > data/trips.csv
    printf '%s\n' "$PUSH_HEADER" 4,2024-05-01T12:00:00Z,0.4,4 > crlf.csv
    run -0 fs -C "$BATS_TEST_TMPDIR/repo" push trips_push crlf.csv --to offline
    printf 'driver_id,event_timestamp,created,conv_rate,trips,note\r\n1,2024-05-01T09:00:00Z,,0.1,1,seed\r\n4,2024-05-01T12:00:00Z,,0.4,4,\r\n' > expected.csv
    cmp expected.csv data/trips.csv
}

# Check that data/trips.csv is whole lines: the header, then rows
# "driver,RFC 3339 time,,rate,trips," (the seed row's note is "seed").
# Prints the number of rows.
check_whole_lines() {
    "$FS_TEST_PYTHON" - data/trips.csv <<'PY'
import re, sys
data = open(sys.argv[1], newline="").read()
assert data.endswith("\n"), "the file does not end with a newline"
lines = data.split("\n")[:-1]
assert lines[0] == "driver_id,event_timestamp,created,conv_rate,trips,note", lines[0]
row = re.compile(r"\d+,\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ,,0\.\d+,\d+,(seed)?")
for n, line in enumerate(lines[1:], 2):
    assert row.fullmatch(line), "line %d is torn: %r" % (n, line)
print(len(lines) - 1)
PY
}

# N rows for drivers from $2 on, as pushed ($3 = push) or as the file holds them ($3 = stored).
gen_rows() {
    "$FS_TEST_PYTHON" - "$@" <<'PY'
import sys, datetime
n, first, form = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
base = datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone.utc)
out = ["driver_id,event_timestamp,conv_rate,trips"] if form == "push" else []
for i in range(n):
    ts = (base + datetime.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
    d, rate, trips = first + i % 5000, "0.%d" % (i % 97 + 1), i
    out.append("%d,%s,%s,%d" % (d, ts, rate, trips) if form == "push"
               else "%d,%s,,%s,%d," % (d, ts, rate, trips))
print("\n".join(out))
PY
}

# Kill push $1 (a pid) after $2 seconds, then wait for a writer it left
# behind to finish, and check the file.
kill_and_check() {
    sleep "$2"
    kill -9 "$1" 2> /dev/null || true
    wait "$1" || true
    flock data/trips.csv true
    run -0 check_whole_lines
    run -0 --separate-stderr hist 100,2024-05-02T00:00:00Z
}

@test "push --to offline (csv): a push killed at random moments leaves whole lines only" {
    offline_repo csv
    local start end round pid ms total small=0
    gen_rows 200000 100 push > big.csv
    printf '%s\n' "$PUSH_HEADER" 7,2024-05-01T10:00:00Z,0.7,7 > small.csv
    # one whole push, to know how long one takes
    start=$(date +%s%N)
    run -0 fs push trips_push big.csv --to offline
    end=$(date +%s%N)
    ms=$(((end - start) / 1000000))
    for round in 1 2 3 4 5; do
        "$FS" push trips_push big.csv --to offline &
        pid=$!
        kill_and_check "$pid" "$(awk -v ms="$ms" -v r="$RANDOM" 'BEGIN { printf "%.3f", ms * (r % 1000) / 1e6 }')"
    done
    # the moment a torn line could be made: the journal written, the write starting
    for round in 1 2 3 4; do
        run -0 fs push trips_push small.csv --to offline # (it removes the journal of a killed push)
        small=$((small + 1))
        "$FS" push trips_push big.csv --to offline &
        pid=$!
        while [ ! -e data/trips.csv.fs-journal ] && kill -0 "$pid" 2> /dev/null; do :; done
        kill_and_check "$pid" 0
    done
    # the next push takes back what a killed one had not committed
    run -0 fs push trips_push small.csv --to offline
    small=$((small + 1))
    [ ! -e data/trips.csv.fs-journal ]
    run -0 check_whole_lines
    total=$output
    # the seed row, the small pushes, and each whole push that committed
    (((total - 1 - small) % 200000 == 0)) || fail "$total rows: a push is in the file in part"
    assert_equal "$(tail -n 1 data/trips.csv)" "7,2024-05-01T10:00:00Z,,0.7,7,"
}

@test "push --to offline (csv): a write cut short by a crash is taken back by the next push" {
    offline_repo csv
    cp data/trips.csv before.csv
    gen_rows 3000 100 push > rows.csv
    run -137 env FS_TEST_CRASH_AT=offline-append-torn-write "$FS" push trips_push rows.csv --to offline
    [ -e data/trips.csv.fs-journal ]
    [ "$(stat -c %s data/trips.csv)" -gt "$(stat -c %s before.csv)" ]
    printf '%s\n' "$PUSH_HEADER" 7,2024-05-01T10:00:00Z,0.7,7 > small.csv
    run -0 fs push trips_push small.csv --to offline
    { cat before.csv; echo "7,2024-05-01T10:00:00Z,,0.7,7,"; } > expected.csv
    cmp expected.csv data/trips.csv
    [ ! -e data/trips.csv.fs-journal ]
    # a crash after the write, before commit: whole lines, taken back the same way
    run -137 env FS_TEST_CRASH_AT=offline-append-before-commit "$FS" push trips_push rows.csv --to offline
    run -0 check_whole_lines
    assert_output 3002
    run -0 fs push trips_push small.csv --to offline
    { cat expected.csv; echo "7,2024-05-01T10:00:00Z,,0.7,7,"; } > expected2.csv
    cmp expected2.csv data/trips.csv
    # with the online store: the offline rows of a push that died go with it
    run -137 env FS_TEST_CRASH_AT=offline-append-before-commit "$FS" push trips_push small.csv --to online_and_offline
    run -0 fs push trips_push small.csv --to offline
    { cat expected2.csv; echo "7,2024-05-01T10:00:00Z,,0.7,7,"; } > expected3.csv
    cmp expected3.csv data/trips.csv
}

@test "push --to offline (csv): concurrent pushes append every row exactly once" {
    offline_repo csv
    local k pids=()
    for k in 1 2 3 4; do
        gen_rows 3000 $((k * 10000)) push > push$k.csv
        gen_rows 3000 $((k * 10000)) stored >> expected.txt
    done
    echo "1,2024-05-01T09:00:00Z,,0.1,1,seed" >> expected.txt
    for k in 1 2 3 4; do
        "$FS" push trips_push push$k.csv --to offline &
        pids+=($!)
    done
    for k in "${pids[@]}"; do
        wait "$k" || fail "a push failed"
    done
    run -0 check_whole_lines
    assert_output 12001
    diff <(sort expected.txt) <(tail -n +2 data/trips.csv | sort)
    # each push's rows are together, in their order
    for k in 1 2 3 4; do
        diff <(gen_rows 3000 $((k * 10000)) stored) <(grep -E "^${k}[0-9]{4}," data/trips.csv)
    done
}
