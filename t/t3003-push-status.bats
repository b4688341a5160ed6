#!/usr/bin/env bats
# push (rows of a push source into the online store) and status (how fresh
# each online view is). Each behaviour runs on the SQLite and on the Redis
# online store.

load test_helper
load lib-online

EP=1970-01-01T00:00:00Z
HEADER=driver_id,event_timestamp,created,conv_rate,trips,acc_rate

# A repo with a push source trips_push (batch source trips, a csv) read by
# the views pa (conv_rate, trips) and pb (trips, acc_rate); the view plain
# reads trips itself and offline is not online. Applied; cwd inside.
push_repo() {
    init_repo
    git rm -q features/driver.yaml data/driver_stats.csv
    mkdir -p features data
    cat > features/push.yaml <<'EOF'
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
---
kind: feature_view
name: pb
entities: [driver]
source: trips_push
features:
  - {name: trips, type: int64}
  - {name: acc_rate, type: float32}
---
kind: feature_view
name: plain
entities: [driver]
source: trips
features:
  - {name: trips, type: int64}
---
kind: feature_view
name: offline
entities: [driver]
source: trips
online: false
features:
  - {name: trips, type: int64}
EOF
    echo "$HEADER" > data/trips.csv
    fs apply -q
}

# `fs get-online` of feature $1 for drivers $2... as "driver=value@ts" words
# (value "-" when not found).
online() {
    local f=$1 d args=()
    shift
    for d in "$@"; do args+=(-e "driver_id=$d"); done
    "$FS" get-online -f "$f" --json "${args[@]}" |
        jq -r '[.results[0].values, .results[1].values, .results[1].statuses, .results[1].event_timestamps]
               | transpose | map("\(.[0])=\(if .[2] == "NOT_FOUND" then "-" else .[1] end)@\(.[3])") | join(" ")'
}

push_views() {
    push_repo
    printf '%s\n' "$HEADER" 1,2024-05-01T10:00:00Z,,0.5,5,0.25 2,2024-05-01T11:00:00Z,,0.6,6,0.75 > push.csv
    # cron's rule: silent unless --verbose or --json
    run -0 --separate-stderr fs push trips_push push.csv
    assert_output ""
    assert_equal "$stderr" ""
    assert_equal "$(online pa:conv_rate 1 2 3)" "1=0.5@2024-05-01T10:00:00Z 2=0.6@2024-05-01T11:00:00Z 3=-@$EP"
    assert_equal "$(online pa:trips 1 2)" "1=5@2024-05-01T10:00:00Z 2=6@2024-05-01T11:00:00Z"
    assert_equal "$(online pb:acc_rate 1 2)" "1=0.25@2024-05-01T10:00:00Z 2=0.75@2024-05-01T11:00:00Z"
    # a view of the batch source itself is not pushed to
    assert_equal "$(online plain:trips 1)" "1=-@$EP"
    # from standard input, with the summaries
    printf '%s\n' "$HEADER" 3,2024-05-01T12:00:00Z,,0.7,7,0.5 | {
        run -0 --separate-stderr fs push trips_push - --json
        assert_equal "$(jq -c . <<< "$output")" \
            '{"views":[{"view":"pa","rows":1,"keys_written":1,"newest_event":"2024-05-01T12:00:00Z"},{"view":"pb","rows":1,"keys_written":1,"newest_event":"2024-05-01T12:00:00Z"}]}'
    }
    printf '%s\n' "$HEADER" 4,2024-05-01T12:00:00Z,,0.8,8,0.5 4,2024-05-01T12:30:00Z,,0.9,9,0.5 > more.csv
    run -0 --separate-stderr fs push trips_push more.csv --verbose
    assert_output "pa: 2 rows, 1 keys written
pb: 2 rows, 1 keys written"
    assert_equal "$(online pb:trips 3 4)" "3=7@2024-05-01T12:00:00Z 4=9@2024-05-01T12:30:00Z"
}

@test "push: CSV rows are written for every view reading the push source (sqlite)" { use_backend sqlite; push_views; }
@test "push: CSV rows are written for every view reading the push source (redis)" { use_backend redis; push_views; }

push_newest() {
    push_repo
    printf '%s\n' 1,2024-05-01T11:00:00Z,,0.1,10,0.1 2,2024-05-01T11:00:00Z,,0.2,20,0.2 >> data/trips.csv
    run -0 fs materialize 2024-05-01 2024-05-02 -v pa
    # older than the materialized row of 1: kept out; newer for 2: written
    printf '%s\n' "$HEADER" 1,2024-05-01T10:59:59Z,,0.9,19,0.9 2,2024-05-01T11:00:01Z,,0.8,28,0.8 > p1.csv
    run -0 --separate-stderr fs push trips_push p1.csv --json
    assert_equal "$(jq -c '.views[0] | del(.newest_event)' <<< "$output")" '{"view":"pa","rows":2,"keys_written":1}'
    assert_equal "$(online pa:trips 1 2)" "1=10@2024-05-01T11:00:00Z 2=28@2024-05-01T11:00:01Z"
    # within one push: the newest of each key, whatever the order; ties go
    # to the greater created, then to the later row
    printf '%s\n' "$HEADER" \
        5,2024-05-01T12:00:00Z,,0.5,51,0.5 5,2024-05-01T11:00:00Z,,0.5,52,0.5 \
        6,2024-05-01T12:00:00Z,2024-05-01T12:10:00Z,0.6,61,0.6 6,2024-05-01T12:00:00Z,2024-05-01T12:05:00Z,0.6,62,0.6 \
        7,2024-05-01T12:00:00Z,,0.7,71,0.7 7,2024-05-01T12:00:00Z,,0.7,72,0.7 > p2.csv
    run -0 fs push trips_push p2.csv
    assert_equal "$(online pa:trips 5 6 7)" "5=51@2024-05-01T12:00:00Z 6=61@2024-05-01T12:00:00Z 7=72@2024-05-01T12:00:00Z"
    # a row equal to the stored one in (ts, created) replaces it
    printf '%s\n' "$HEADER" 7,2024-05-01T12:00:00Z,,0.7,73,0.7 > p3.csv
    run -0 fs push trips_push p3.csv
    assert_equal "$(online pa:trips 7)" "7=73@2024-05-01T12:00:00Z"
    # a later materialization of older rows does not overwrite pushed values
    run -0 fs materialize 2024-05-01 2024-05-02 -v pa
    assert_equal "$(online pa:trips 1 2)" "1=10@2024-05-01T11:00:00Z 2=28@2024-05-01T11:00:01Z"
}

@test "push: newest wins against materialized data and within the push (sqlite)" { use_backend sqlite; push_newest; }
@test "push: newest wins against materialized data and within the push (redis)" { use_backend redis; push_newest; }

push_bad() {
    push_repo
    # acc_rate is read by pb only: pa must not be written either
    printf '%s\n' "$HEADER" 1,2024-05-01T10:00:00Z,,0.5,5,0.25 2,2024-05-01T11:00:00Z,,0.6,6,high > bad.csv
    run -128 --separate-stderr fs push trips_push bad.csv --verbose
    assert_output ""
    assert_equal "$stderr" "fatal: bad.csv:3: column 'acc_rate': 'high' is not a float32 (feature 'acc_rate')"
    assert_equal "$(online pa:trips 1 2)" "1=-@$EP 2=-@$EP"
    assert_equal "$(online pb:trips 1 2)" "1=-@$EP 2=-@$EP"
    # a bad key, a bad timestamp, from standard input
    printf '%s\n' "$HEADER" 1,2024-05-01T10:00:00Z,,0.5,5,0.25 x1,2024-05-01T10:00:00Z,,0.5,5,0.25 |
        { run -128 --separate-stderr fs push trips_push -; assert_equal "$stderr" "fatal: <stdin>:3: column 'driver_id': 'x1' is not an int64 (join key of entity 'driver')"; }
    printf '%s\n' "$HEADER" 1,2024-05-01T10:00:00Z,,0.5,5,0.25 1,soon,,0.5,5,0.25 > bad2.csv
    run -128 --separate-stderr fs push trips_push bad2.csv
    assert_equal "$stderr" "fatal: bad2.csv:3: column 'event_timestamp': bad timestamp 'soon' (expected RFC 3339 like 2024-05-01T10:00:00Z, 'YYYY-MM-DD HH:MM:SS' in UTC, or Unix seconds)"
    # a row without its key would be dropped: a bad row
    printf '%s\n' "$HEADER" 1,2024-05-01T10:00:00Z,,0.5,5,0.25 ,2024-05-01T10:00:00Z,,0.5,5,0.25 > bad5.csv
    run -128 --separate-stderr fs push trips_push bad5.csv
    assert_equal "$stderr" "fatal: bad5.csv:3: join key column 'driver_id' is empty (feature_view 'pa' needs a value in every row)"
    # a row of the wrong width
    printf '%s\n' "$HEADER" 1,2024-05-01T10:00:00Z,,0.5,5 > bad3.csv
    run -128 --separate-stderr fs push trips_push bad3.csv
    assert_equal "$stderr" "fatal: bad3.csv:2: 5 fields, expected 6: no value for column 'acc_rate'"
    printf '%s\n' "$HEADER" 1,2024-05-01T10:00:00Z,,0.5,5,0.25,9 > bad4.csv
    run -128 --separate-stderr fs push trips_push bad4.csv
    assert_equal "$stderr" "fatal: bad4.csv:2: 7 fields, expected 6: field 7 has no column in the header"
    assert_equal "$(online pa:trips 1)" "1=-@$EP"
    assert_equal "$(status_keys pa) $(status_keys pb)" "0 0"
}

@test "push: a bad value is an error naming file:line and column, and nothing is written (sqlite)" { use_backend sqlite; push_bad; }
@test "push: a bad value is an error naming file:line and column, and nothing is written (redis)" { use_backend redis; push_bad; }

push_errors() {
    push_repo
    printf '%s\n' driver_id,event_timestamp,created,conv_rate,acc_rate 1,2024-05-01T10:00:00Z,,0.5,0.25 > nocol.csv
    run -128 --separate-stderr fs push trips_push nocol.csv
    assert_equal "$stderr" "fatal: source 'trips_push' (nocol.csv) has no column 'trips' (feature of feature_view 'pa')"
    printf '%s\n' "$HEADER" 1,2024-05-01T10:00:00Z,,0.5,5,0.25 > ok.csv
    run -128 --separate-stderr fs push trips ok.csv
    assert_equal "$stderr" "fatal: source 'trips' is a csv source, not a push source"
    run -128 --separate-stderr fs push trips_pusj ok.csv
    assert_equal "$stderr" "fatal: no source 'trips_pusj' is registered (did you mean 'trips_push'?)"
    # the source is looked up before any row is read: none from stdin here
    run -128 --separate-stderr fs push zzzzzzzz < /dev/null
    assert_equal "$stderr" "fatal: no source 'zzzzzzzz' is registered"
    run -128 --separate-stderr fs push zzzzzzzz missing.csv
    assert_equal "$stderr" "fatal: no source 'zzzzzzzz' is registered"
    run -129 --separate-stderr fs push
    assert_equal "${stderr_lines[0]}" "error: expected a push source and a CSV file (or -)"
    run -128 --separate-stderr fs push trips_push missing.csv
    assert_equal "$stderr" "fatal: cannot open 'missing.csv': No such file or directory"
    assert_equal "$(online pa:trips 1)" "1=-@$EP"
}

@test "push: a missing column, a source that is not a push source, an unknown source (with did you mean): 128 (sqlite)" { use_backend sqlite; push_errors; }
@test "push: a missing column, a source that is not a push source, an unknown source (with did you mean): 128 (redis)" { use_backend redis; push_errors; }

status_never() {
    push_repo
    run -0 --separate-stderr fs status --json
    assert_equal "$stderr" ""
    assert_equal "$(jq -c . <<< "$output")" \
        '{"views":[{"name":"pa","last_end":null,"staleness_seconds":null,"keys":0},{"name":"pb","last_end":null,"staleness_seconds":null,"keys":0},{"name":"plain","last_end":null,"staleness_seconds":null,"keys":0}],"streams":[]}'
    run -0 fs status
    assert_output --regexp '^VIEW +LAST END +STALENESS +KEYS
pa +- +never +0
pb +- +never +0
plain +- +never +0$'
    # a view fed by push is as fresh as its newest pushed event
    printf '%s\n' "$HEADER" 1,2024-05-01T10:00:00Z,,0.5,5,0.25 2,2024-05-01T09:00:00Z,,0.5,5,0.25 | fs push trips_push -
    run -0 fs status --json
    assert_equal "$(jq -c '.views[0] | del(.staleness_seconds)' <<< "$output")" '{"name":"pa","last_end":"2024-05-01T10:00:00Z","keys":2}'
    assert_equal "$(jq -c '.views[2]' <<< "$output")" '{"name":"plain","last_end":null,"staleness_seconds":null,"keys":0}'
    # an older push does not make it older
    printf '%s\n' "$HEADER" 3,2024-04-01T10:00:00Z,,0.5,5,0.25 | fs push trips_push -
    run -0 fs status --json
    assert_equal "$(jq -r '.views[0].last_end' <<< "$output")" 2024-05-01T10:00:00Z
}

@test "status: a view never materialized has last_end and staleness null (sqlite)" { use_backend sqlite; status_never; }
@test "status: a view never materialized has last_end and staleness null (redis)" { use_backend redis; status_never; }

status_aligned() {
    push_repo
    local long=trips_of_every_driver_over_the_whole_day_and_night # 50 characters
    cat >> features/push.yaml <<EOF
---
kind: feature_view
name: $long
entities: [driver]
source: trips
features:
  - {name: trips, type: int64}
EOF
    fs apply -q
    fs materialize -q 2024-05-01 2024-05-02 -v pa
    # a staleness of some 20000 days, longer than the column's 12 characters
    fs materialize -q 1970-01-01 1970-01-01T00:00:01Z -v pb
    run -0 fs status
    assert_line --index 0 --regexp "^VIEW {$((${#long} - 3))}LAST END  +STALENESS +KEYS\$"
    assert_aligned $(offset_of "${lines[0]}" "LAST END") $(offset_of "${lines[0]}" STALENESS) \
        $(offset_of "${lines[0]}" KEYS)
    assert_line --regexp "^pa {$((${#long} - 1))}2024-05-02T00:00:00Z "
    assert_line --regexp "^$long - +never +0\$"
}

@test "status: columns line up whatever the length of the view names (sqlite)" { use_backend sqlite; status_aligned; }

status_staleness() {
    push_repo
    local now d
    now=$(date +%s)
    for d in 1 2 3; do echo "$d,$((now - 4 * 3600)),,0.5,$d,0.5" >> data/trips.csv; done
    run -1 --separate-stderr fs status --max-staleness 2h
    assert_equal "$stderr" "error: view 'pa' has never been materialized, pushed to or streamed into
error: view 'pb' has never been materialized, pushed to or streamed into
error: view 'plain' has never been materialized, pushed to or streamed into"
    # every view ended 3 h ago: too stale
    run -0 fs materialize now-1d now-3h
    run -1 --separate-stderr fs status --max-staleness 2h --json
    # stderr: one line of JSON, each stale view one of its errors
    assert_equal "${#stderr_lines[@]}" 1
    assert_equal "$(jq -c '[.error, .code, (.errors | length)]' <<< "$stderr")" '["3 views are staler than 2h",1,3]'
    local v
    for v in 0 1 2; do
        [[ "$(jq -r ".errors[$v]" <<< "$stderr")" =~ ^view\ \'$(jq -r ".views[$v].name" <<< "$output")\'\ is\ 3h[0-9s]*\ stale\ \(last\ end\ $(jq -r ".views[$v].last_end" <<< "$output")\)$ ]] ||
            fail "errors[$v]: $stderr"
    done
    d=$(jq -r '[.views[].staleness_seconds] | min' <<< "$output")
    [ "$d" -ge 10800 ] && [ "$d" -le 10860 ] || fail "staleness $d, expected 3 h"
    assert_equal "$(jq -c '[.views[] | [.name, .keys]]' <<< "$output")" '[["pa",3],["pb",3],["plain",3]]'
    run -0 fs status --max-staleness 4h
    # two fresh views, one stale
    run -0 fs materialize now-1d now-1h -v pa -v pb
    run -1 --separate-stderr fs status --max-staleness 2h --json
    assert_equal "$(jq -c '[.views[] | .staleness_seconds < 7200]' <<< "$output")" '[true,true,false]'
    assert_equal "$(jq -c 'keys_unsorted, .code, (.error | test("^view .plain. is 3h[0-9s]* stale"))' <<< "$stderr")" '["error","code"]
1
true'
    run -0 fs materialize-incremental now-30m -v plain
    run -0 --separate-stderr fs status --max-staleness 2h
    assert_equal "$stderr" ""
    # never materialized is infinitely stale, whatever the bound
    rm -f .fs/registry.db* && fs apply -q
    run -1 fs status --max-staleness 52w
    run -129 --separate-stderr fs status --max-staleness soon
    [[ "$stderr" == *"bad duration 'soon'"* ]] || fail "unexpected: $stderr"
}

@test "status: --max-staleness exits 1 when a view is never materialized or staler, 0 when fresh (sqlite)" { use_backend sqlite; status_staleness; }
@test "status: --max-staleness exits 1 when a view is never materialized or staler, 0 when fresh (redis)" { use_backend redis; status_staleness; }

status_keys_count() {
    push_repo
    local k
    for k in 1 2 3 4 5; do echo "$k,2024-05-01T10:00:00Z,,0.5,$k,0.5" >> data/trips.csv; done
    echo "1,2024-05-01T11:00:00Z,,0.5,9,0.5" >> data/trips.csv
    run -0 fs materialize 2024-05-01 2024-05-02 -v pa -v plain
    run -0 fs status --json
    assert_equal "$(jq -c '[.views[] | [.name, .keys]]' <<< "$output")" '[["pa",5],["pb",0],["plain",5]]'
    # new keys by push add up; known keys do not
    printf '%s\n' "$HEADER" 5,2024-05-01T12:00:00Z,,0.5,5,0.5 6,2024-05-01T12:00:00Z,,0.5,6,0.5 | fs push trips_push -
    run -0 fs status --json
    assert_equal "$(jq -c '[.views[] | [.name, .keys]]' <<< "$output")" '[["pa",6],["pb",2],["plain",5]]'
}

@test "status: keys counts the keys of each view in the online store (sqlite)" { use_backend sqlite; status_keys_count; }
@test "status: keys counts the keys of each view in the online store (redis)" { use_backend redis; status_keys_count; }

@test "push: 200,000 new keys in one push (growth is geometric, not a reallocation per key)" {
    push_repo
    python3 -c '
print("driver_id,event_timestamp,created,conv_rate,trips,acc_rate")
for i in range(200000):
    print("%d,2024-05-01T10:00:00Z,2024-05-01T10:00:00Z,0.5,%d,0.25" % (i, i))' > big.csv
    run -0 --separate-stderr fs push trips_push big.csv --json
    run -0 jq -c '[.views[] | [.view, .rows, .keys_written]]' <<< "$output"
    assert_output '[["pa",200000,200000],["pb",200000,200000]]'
    run -0 --separate-stderr fs get-online -f pa:trips -e driver_id=199999 --json
    [ "$(jq -c '.results[1].values' <<< "$output")" = "[199999]" ]
}

@test "push source: a problem with its batch source's data names the batch source" {
    push_repo
    rm data/trips.csv
    run -128 --separate-stderr fs materialize 2024-05-01 2024-05-02 -v pa
    assert_equal "$stderr" "fatal: source 'trips': cannot open 'data/trips.csv': No such file or directory"
}

@test "push: an event more than a day ahead of the clock is a bad row and nothing is written" {
    push_repo
    local soon far
    soon=$(date -u -d '+23 hours' +%Y-%m-%dT%H:%M:%SZ)
    far=$(date -u -d '+25 hours' +%Y-%m-%dT%H:%M:%SZ)
    printf 'driver_id,event_timestamp,created,conv_rate,trips,acc_rate\n1,%s,%s,0.5,1,0.25\n2,%s,%s,0.5,2,0.25\n' \
        "$soon" "$soon" "$far" "$far" > ahead.csv
    run -128 --separate-stderr fs push trips_push ahead.csv
    assert_equal "$stderr" "fatal: ahead.csv:3: event time $far is more than a day ahead of the clock (a clock or unit error?)"
    run -0 --separate-stderr fs get-online -f pa:trips -e driver_id=1 --json
    [ "$(jq -c '.results[1].statuses' <<< "$output")" = '["NOT_FOUND"]' ]
    sed -i '$d' ahead.csv
    run -0 fs push trips_push ahead.csv
    run -0 --separate-stderr fs get-online -f pa:trips -e driver_id=1 --json
    [ "$(jq -c '.results[1].values' <<< "$output")" = '[1]' ]
}
