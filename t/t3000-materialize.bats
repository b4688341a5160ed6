#!/usr/bin/env bats
# materialize and materialize-incremental on small hand-made data: the
# window, ties, newest-wins, the recorded interval, cron's output rule,
# errors, view selection, and what fs apply does to materialized views.
# Each behaviour runs on the SQLite and on the Redis online store.

load test_helper
load lib-online

# A repo with two online views over data/trips.csv (stats: conv_rate,
# trips; stats_b, in a file of its own: trips) and an offline one, applied;
# cwd inside. ttl of stats is $1 (default 0).
trips_repo() {
    init_repo
    git rm -q features/driver.yaml data/driver_stats.csv
    mkdir -p features data
    cat > features/trips.yaml <<EOF
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
field_mapping: {conv: conv_rate}
---
kind: feature_view
name: stats
description: driver statistics
entities: [driver]
source: trips
ttl: ${1:-0}
features:
  - {name: conv_rate, type: float64}
  - {name: trips, type: int64}
---
kind: feature_view
name: stats_offline
entities: [driver]
source: trips
online: false
features:
  - {name: trips, type: int64}
EOF
    cat > features/stats_b.yaml <<EOF
kind: feature_view
name: stats_b
entities: [driver]
source: trips
ttl: 0
features:
  - {name: trips, type: int64}
EOF
    echo "driver_id,event_timestamp,created,conv,trips" > data/trips.csv
    fs apply -q
}

# Append CSV rows (arguments, one a row) to data/trips.csv.
rows() {
    printf '%s\n' "$@" >> data/trips.csv
}

# `fs get-online` of feature $1 for drivers $2... as "driver=value:status@ts" words.
online() {
    local f=$1 d args=()
    shift
    for d in "$@"; do args+=(-e "driver_id=$d"); done
    "$FS" get-online -f "$f" --json "${args[@]}" |
        jq -r '[.results[0].values, .results[1].values, .results[1].statuses, .results[1].event_timestamps]
               | transpose | map("\(.[0])=\(.[1] // "null"):\(.[2])@\(.[3])") | join(" ")'
}

T10=2024-05-01T10:00:00Z
T12=2024-05-01T12:00:00Z

window() {
    trips_repo
    rows 1,2024-05-01T09:00:00Z,,0.1,10 \
        1,2024-05-01T10:00:00Z,,0.2,20 \
        1,2024-05-01T11:00:00Z,,0.3,30 \
        1,2024-05-01T13:00:00Z,,0.9,90 \
        2,2024-05-01T12:00:00Z,,0.5,50 \
        3,2024-05-01T09:59:59Z,,0.7,70 \
        4,2024-05-01T12:00:01Z,,0.8,80
    run -0 --separate-stderr fs materialize "$T10" "$T12" -v stats --json
    assert_equal "$(jq -c '.views[] | [.view, .start, .end, .rows_read, .keys, .keys_written]' <<< "$output")" \
        "[\"stats\",\"$T10\",\"$T12\",3,2,2]"
    assert_equal "$(online stats:trips 1 2 3 4)" \
        "1=30:PRESENT@2024-05-01T11:00:00Z 2=50:PRESENT@2024-05-01T12:00:00Z 3=null:NOT_FOUND@1970-01-01T00:00:00Z 4=null:NOT_FOUND@1970-01-01T00:00:00Z"
    assert_equal "$(online stats:conv_rate 1 2)" \
        "1=0.3:PRESENT@2024-05-01T11:00:00Z 2=0.5:PRESENT@2024-05-01T12:00:00Z"
}

@test "materialize: the latest row per key of [START, END], bounds inclusive, nothing outside (sqlite)" { use_backend sqlite; window; }
@test "materialize: the latest row per key of [START, END], bounds inclusive, nothing outside (redis)" { use_backend redis; window; }

ties() {
    trips_repo
    rows 5,2024-05-01T11:00:00Z,2024-05-01T11:30:00Z,0.1,51 \
        5,2024-05-01T11:00:00Z,2024-05-01T11:20:00Z,0.2,52 \
        6,2024-05-01T11:00:00Z,2024-05-01T11:00:00Z,0.3,61 \
        6,2024-05-01T11:00:00Z,2024-05-01T11:00:00Z,0.4,62 \
        7,2024-05-01T11:00:00Z,,0.5,71 \
        7,2024-05-01T11:00:00Z,2024-05-01T10:00:00Z,0.6,72 \
        7,2024-05-01T11:00:00Z,,0.55,73 \
        8,2024-05-01T11:00:00Z,2024-05-01T12:00:00Z,0.7,81 \
        8,2024-05-01T11:30:00Z,2024-05-01T09:00:00Z,0.8,82
    run -0 fs materialize "$T10" "$T12" -v stats
    # 5: greater created; 6: full tie, the later row; 7: null created loses;
    # 8: ts decides before created
    assert_equal "$(online stats:trips 5 6 7 8)" \
        "5=51:PRESENT@2024-05-01T11:00:00Z 6=62:PRESENT@2024-05-01T11:00:00Z 7=72:PRESENT@2024-05-01T11:00:00Z 8=82:PRESENT@2024-05-01T11:30:00Z"
}

@test "materialize: ties on ts go to the greater created, then to the later row (sqlite)" { use_backend sqlite; ties; }
@test "materialize: ties on ts go to the greater created, then to the later row (redis)" { use_backend redis; ties; }

older_window() {
    trips_repo
    rows 1,2024-05-01T09:00:00Z,,0.1,10 \
        1,2024-05-01T11:00:00Z,,0.3,30 \
        2,2024-05-01T09:30:00Z,,0.2,20 \
        2,2024-05-01T11:00:00Z,2024-05-01T11:00:00Z,0.4,40 \
        2,2024-05-01T11:00:00Z,2024-05-01T10:00:00Z,0.5,45 \
        3,2024-05-01T09:00:00Z,,0.6,60
    run -0 fs materialize 2024-05-01T10:30:00Z "$T12"
    # an older window, then one holding the older duplicate of 2 only
    run -0 fs materialize 2024-05-01T08:00:00Z "$T10"
    assert_equal "$(online stats:trips 1 2 3)" \
        "1=30:PRESENT@2024-05-01T11:00:00Z 2=40:PRESENT@2024-05-01T11:00:00Z 3=60:PRESENT@2024-05-01T09:00:00Z"
    printf '%s\n' driver_id,event_timestamp,created,conv,trips 2,2024-05-01T11:00:00Z,2024-05-01T10:00:00Z,0.5,45 > data/trips.csv
    run -0 fs materialize "$T10" "$T12"
    assert_equal "$(online stats:trips 2)" "2=40:PRESENT@2024-05-01T11:00:00Z"
    # the newest end stays the recorded one
    assert_equal "$(last_end stats)" "$T12"
}

@test "materialize: newest wins: an older window does not overwrite newer values (sqlite)" { use_backend sqlite; older_window; }
@test "materialize: newest wins: an older window does not overwrite newer values (redis)" { use_backend redis; older_window; }

interval() {
    trips_repo
    rows 1,2024-05-01T11:00:00Z,,0.3,30 2,2024-05-01T11:00:00Z,,0.4,40 3,2024-05-01T13:00:00Z,,0.4,40
    run -0 fs materialize "$T10" "$T12"
    run -0 fs status --json
    local now
    now=$(date +%s)
    assert_equal "$(jq -c '[.views[] | [.name, .last_end, .keys]]' <<< "$output")" \
        "[[\"stats\",\"$T12\",2],[\"stats_b\",\"$T12\",2]]"
    # staleness: now - END
    local st
    st=$(jq '.views[0].staleness_seconds' <<< "$output")
    [ $((now - 1714564800 - st)) -ge 0 ] && [ $((now - 1714564800 - st)) -le 30 ] ||
        fail "staleness $st, expected about $((now - 1714564800))"
}

@test "materialize: records the interval: status last_end is END (sqlite)" { use_backend sqlite; interval; }
@test "materialize: records the interval: status last_end is END (redis)" { use_backend redis; interval; }

cron_silent() {
    trips_repo
    rows 1,2024-05-01T11:00:00Z,,0.3,30 2,2024-05-01T11:00:00Z,,0.4,40
    run -0 --separate-stderr fs materialize "$T10" "$T12"
    assert_output ""
    assert_equal "$stderr" ""
    run -0 --separate-stderr fs materialize-incremental 2024-05-01T12:30:00Z
    assert_output ""
    assert_equal "$stderr" ""
    run -0 --separate-stderr fs materialize-incremental 2024-05-01T13:00:00Z --verbose
    assert_equal "$stderr" ""
    assert_line --index 0 --regexp '^stats: 0 rows read, 0 keys written in [0-9]+\.[0-9]+ s \(2024-05-01T12:30:00Z \.\. 2024-05-01T13:00:00Z\)$'
    assert_line --index 1 --regexp '^stats_b: 0 rows read, 0 keys written in [0-9]+\.[0-9]+ s \(2024-05-01T12:30:00Z \.\. 2024-05-01T13:00:00Z\)$'
    [ "${#lines[@]}" -eq 2 ] || fail "expected one line per online view: $output"
    run -0 --separate-stderr fs materialize "$T10" "$T12" -v stats --verbose
    assert_output --regexp '^stats: 2 rows read, 2 keys written in [0-9]+\.[0-9]+ s \(2024-05-01T10:00:00Z \.\. 2024-05-01T12:00:00Z\)$'
}

@test "materialize: silent on success when stdout is not a terminal; --verbose prints the summary (sqlite)" { use_backend sqlite; cron_silent; }
@test "materialize: silent on success when stdout is not a terminal; --verbose prints the summary (redis)" { use_backend redis; cron_silent; }

@test "materialize: on a terminal a summary per view is printed" {
    command -v script > /dev/null || skip "script(1) is not installed"
    trips_repo
    rows 1,2024-05-01T11:00:00Z,,0.3,30
    run -0 script -qec "'$FS' materialize $T10 $T12 -v stats_b" /dev/null
    assert_output --regexp 'stats_b: 1 rows read, 1 keys written in [0-9.]+ s \(2024-05-01T10:00:00Z \.\. 2024-05-01T12:00:00Z\)'
}

future_end() {
    trips_repo
    local ts
    ts=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    rows "1,$ts,,0.3,30"
    run -128 --separate-stderr fs materialize 2024-05-01 2999-01-01
    assert_output ""
    assert_equal "$stderr" "fatal: the end of the window, 2999-01-01T00:00:00Z, is in the future: later incremental runs would skip what arrives until then (use 'now')"
    run -128 --separate-stderr fs materialize-incremental now+10m --verbose
    assert_output ""
    [[ "$stderr" == "fatal: the end of the window, "*"Z, is in the future: later incremental runs would skip what arrives until then (use 'now')" ]] ||
        fail "$stderr"
    assert_equal "$(last_end stats)" null
    assert_equal "$(online stats:trips 1)" "1=null:NOT_FOUND@1970-01-01T00:00:00Z"
    # now itself is not in the future
    run -0 fs materialize 2024-05-01 now
    assert_equal "$(online stats:trips 1)" "1=30:PRESENT@$ts"
}

@test "materialize: an END in the future is refused with 128 and records nothing (sqlite)" { use_backend sqlite; future_end; }
@test "materialize: an END in the future is refused with 128 and records nothing (redis)" { use_backend redis; future_end; }

bad_row() {
    trips_repo
    rows 1,2024-05-01T11:00:00Z,,0.3,30 2,2024-05-01T11:00:00Z,,0.4,forty 3,2024-05-01T11:00:00Z,,0.5,50
    run -128 --separate-stderr fs materialize "$T10" "$T12" -v stats --verbose
    assert_output ""
    assert_equal "$stderr" "fatal: data/trips.csv:3: column 'trips': 'forty' is not an int64 (feature 'trips')"
    assert_equal "$(last_end stats)" null
    assert_equal "$(online stats:trips 1 3)" "1=null:NOT_FOUND@1970-01-01T00:00:00Z 3=null:NOT_FOUND@1970-01-01T00:00:00Z"
    # a bad timestamp too
    printf '%s\n' driver_id,event_timestamp,created,conv,trips 1,2024-05-01T11:00:00Z,,0.3,30 1,yesterday,,0.3,30 > data/trips.csv
    run -128 --separate-stderr fs materialize "$T10" "$T12" -v stats
    assert_equal "$stderr" "fatal: data/trips.csv:3: column 'event_timestamp': bad timestamp 'yesterday' (expected RFC 3339 like 2024-05-01T10:00:00Z, 'YYYY-MM-DD HH:MM:SS' in UTC, or Unix seconds)"
    assert_equal "$(last_end stats)" null
    # a row without its join key has no place online: an error, not a row dropped
    printf '%s\n' driver_id,event_timestamp,created,conv,trips 1,2024-05-01T11:00:00Z,,0.3,30 ,2024-05-01T11:00:00Z,,0.3,30 > data/trips.csv
    run -128 --separate-stderr fs materialize "$T10" "$T12" -v stats
    assert_equal "$stderr" "fatal: data/trips.csv:3: join key column 'driver_id' is empty (feature_view 'stats' needs a value in every row)"
    assert_equal "$(last_end stats)" null
    assert_equal "$(online stats:trips 1)" "1=null:NOT_FOUND@1970-01-01T00:00:00Z"
    # get-historical reads the same file: that row matches no entity row
    printf '%s\n' driver_id,event_timestamp 1,2024-05-01T12:00:00Z > ent.csv
    run -0 --separate-stderr fs get-historical --entities ent.csv -f stats:trips
    assert_equal "$(printf '%s' "$output" | tail -n 1)" "1,2024-05-01T12:00:00Z,30"
}

@test "materialize: a bad source row is an error naming file:line and column; nothing written (sqlite)" { use_backend sqlite; bad_row; }
@test "materialize: a bad source row is an error naming file:line and column; nothing written (redis)" { use_backend redis; bad_row; }

select_views() {
    trips_repo
    rows 1,2024-05-01T11:00:00Z,,0.3,30
    run -0 --separate-stderr fs materialize "$T10" "$T12" -v stats_b --json
    assert_equal "$(jq -c '[.views[].view]' <<< "$output")" '["stats_b"]'
    assert_equal "$(last_end stats)" null
    assert_equal "$(last_end stats_b)" "$T12"
    assert_equal "$(online stats:trips 1)" "1=null:NOT_FOUND@1970-01-01T00:00:00Z"
    assert_equal "$(online stats_b:trips 1)" "1=30:PRESENT@2024-05-01T11:00:00Z"
    # no -v: every online view, in name order; the offline one is not materialized
    run -0 --separate-stderr fs materialize "$T10" "$T12" --json
    assert_equal "$(jq -c '[.views[].view]' <<< "$output")" '["stats","stats_b"]'
    assert_equal "$(online stats:trips 1)" "1=30:PRESENT@2024-05-01T11:00:00Z"
    run -128 --separate-stderr fs materialize "$T10" "$T12" -v stats -v nope
    assert_equal "$stderr" "fatal: no feature view 'nope' is registered"
    run -128 --separate-stderr fs materialize "$T10" "$T12" -v stats_offline
    assert_equal "$stderr" "fatal: feature view 'stats_offline' is not online (online: false)"
}

@test "materialize: FS_ONLINE_PATH moves the SQLite online store" {
    trips_repo
    rows 1,2024-05-01T11:00:00Z,,0.3,30
    FS_ONLINE_PATH=elsewhere/online.db run -0 fs materialize "$T10" "$T12" -v stats
    [ -s elsewhere/online.db ] || fail "elsewhere/online.db was not written"
    FS_ONLINE_PATH=elsewhere/online.db run -0 fs get-online -f stats:trips -e driver_id=1 --json
    assert_equal "$(jq -c '.results[1].values' <<< "$output")" '[30]'
    assert_equal "$(online stats:trips 1)" "1=null:NOT_FOUND@1970-01-01T00:00:00Z"
}

# A store the drop of `fs apply` did not reach (another SQLite file, another
# Redis database) still holds records of the old schema: reads find
# nothing rather than values decoded with the wrong types, and the next
# write replaces them all.
stale_schema() {
    trips_repo
    rows 1,2024-05-01T11:00:00Z,,0.3,30 2,2024-05-01T11:00:00Z,,0.4,40 3,2024-05-01T11:00:00Z,,0.5,50
    local other
    if [ "$BACKEND" = sqlite ]; then
        other=(env FS_ONLINE_PATH=other.db)
    else
        other=(env FS_REDIS_URL="${FS_REDIS_URL%/0}/1")
    fi
    run -0 "${other[@]}" "$FS" materialize "$T10" "$T12" -v stats
    sed -i 's/{name: trips, type: int64}/{name: trips, type: string}/' features/trips.yaml
    run -0 fs apply -q
    run -0 "${other[@]}" "$FS" get-online -f stats -e driver_id=1 -e driver_id=3 --json
    assert_equal "$(jq -c '[.results[1:][] | .statuses[]] | unique' <<< "$output")" '["NOT_FOUND"]'
    run -0 "${other[@]}" "$FS" status --json
    assert_equal "$(jq -c '.views[0] | [.last_end, .keys]' <<< "$output")" '[null,0]'
    printf '%s\n' driver_id,event_timestamp,created,conv,trips 1,2024-05-01T11:30:00Z,,0.6,x60 2,2024-05-01T11:30:00Z,,0.7,x70 > data/trips.csv
    run -0 "${other[@]}" "$FS" materialize "$T10" "$T12" -v stats
    run -0 "${other[@]}" "$FS" get-online -f stats:trips -e driver_id=1 -e driver_id=3 --json
    assert_equal "$(jq -c '.results[1] | [.values, .statuses]' <<< "$output")" '[["x60",null],["PRESENT","NOT_FOUND"]]'
    run -0 "${other[@]}" "$FS" status --json
    assert_equal "$(jq -c '.views[0] | [.last_end, .keys]' <<< "$output")" "[\"$T12\",2]"
}

@test "materialize: records of an old schema left in a store are never read, and replaced (sqlite)" { use_backend sqlite; stale_schema; }
@test "materialize: records of an old schema left in a store are never read, and replaced (redis)" { use_backend redis; stale_schema; }

@test "materialize: a start after the end or a bad time is a usage error (129)" {
    trips_repo
    run -129 --separate-stderr fs materialize 2024-05-02 2024-05-01
    assert_equal "${stderr_lines[0]}" "error: the start '2024-05-02' is after the end '2024-05-01'"
    run -129 --separate-stderr fs materialize 2024-05-01 tomorrow
    assert_equal "${stderr_lines[0]}" "error: bad time 'tomorrow' (expected RFC 3339 like 2024-05-01T10:00:00Z, YYYY-MM-DD, now, or now-2h)"
    run -129 --separate-stderr fs materialize-incremental
    assert_equal "${stderr_lines[0]}" "error: expected an end time (e.g. now)"
    run -129 --separate-stderr fs materialize 2024-05-01
    assert_equal "${stderr_lines[0]}" "error: expected a start and an end time"
    assert_equal "${stderr_lines[1]}" "usage: fs materialize <start> <end> [-v <view>]... [--no-wait] [--verbose] [--json]"
    assert_equal "$(last_end stats)" null
}

@test "materialize: an unreachable Redis is an error and records nothing" {
    trips_repo
    rows 1,2024-05-01T11:00:00Z,,0.3,30
    export FS_REDIS_URL="redis://127.0.0.1:$(free_port)/0"
    run -128 --separate-stderr fs materialize "$T10" "$T12" --verbose
    assert_output ""
    assert_equal "$stderr" "fatal: online store '$FS_REDIS_URL': cannot connect: Connection refused"
    run -128 --separate-stderr fs materialize-incremental "$T12"
    assert_equal "$stderr" "fatal: online store '$FS_REDIS_URL': cannot connect: Connection refused"
    unset FS_REDIS_URL
    assert_equal "$(last_end stats) $(last_end stats_b)" "null null"
}

@test "materialize: -v selects views; without it every online view (sqlite)" { use_backend sqlite; select_views; }
@test "materialize: -v selects views; without it every online view (redis)" { use_backend redis; select_views; }

incremental_appended() {
    trips_repo 1d
    rows 1,2024-05-01T09:00:00Z,,0.1,10 \
        1,2024-05-01T11:00:00Z,,0.3,30 \
        2,2024-05-01T11:30:00Z,,0.4,40
    run -0 --separate-stderr fs materialize-incremental "$T12" -v stats --json
    assert_equal "$(jq -c '.views[0] | [.start, .end, .rows_read]' <<< "$output")" "[\"2024-04-30T12:00:00Z\",\"$T12\",3]"
    # appended: two rows after the last end, and a late one before it
    rows 1,2024-05-01T12:30:00Z,,0.5,50 \
        3,2024-05-01T13:00:00Z,,0.6,60 \
        2,2024-05-01T11:45:00Z,,0.9,99
    run -0 --separate-stderr fs materialize-incremental 2024-05-01T14:00:00Z -v stats --json
    assert_equal "$(jq -c '.views[0] | [.start, .end, .rows_read, .keys_written]' <<< "$output")" \
        "[\"$T12\",\"2024-05-01T14:00:00Z\",2,2]"
    assert_equal "$(online stats:trips 1 2 3)" \
        "1=50:OUTSIDE_MAX_AGE@2024-05-01T12:30:00Z 2=40:OUTSIDE_MAX_AGE@2024-05-01T11:30:00Z 3=60:OUTSIDE_MAX_AGE@2024-05-01T13:00:00Z"
    assert_equal "$(last_end stats)" 2024-05-01T14:00:00Z
    # nothing new: an empty window, same values
    run -0 --separate-stderr fs materialize-incremental 2024-05-01T14:00:00Z -v stats --json
    assert_equal "$(jq -c '.views[0] | [.start, .rows_read, .keys_written]' <<< "$output")" '["2024-05-01T14:00:00Z",0,0]'
    assert_equal "$(online stats:trips 1)" "1=50:OUTSIDE_MAX_AGE@2024-05-01T12:30:00Z"
}

@test "materialize-incremental: a second run picks up the appended rows only (sqlite)" { use_backend sqlite; incremental_appended; }
@test "materialize-incremental: a second run picks up the appended rows only (redis)" { use_backend redis; incremental_appended; }

incremental_ttl() {
    trips_repo 1h
    rows 1,2024-05-01T10:59:59Z,,0.1,10 2,2024-05-01T11:00:00Z,,0.2,20 3,2024-05-01T11:30:00Z,,0.3,30
    run -0 --separate-stderr fs materialize-incremental "$T12" -v stats --json
    assert_equal "$(jq -c '.views[0] | [.start, .rows_read]' <<< "$output")" '["2024-05-01T11:00:00Z",2]'
    assert_equal "$(online stats:trips 1 2 3 | sed 's/OUTSIDE_MAX_AGE/OLD/g')" \
        "1=null:NOT_FOUND@1970-01-01T00:00:00Z 2=20:OLD@2024-05-01T11:00:00Z 3=30:OLD@2024-05-01T11:30:00Z"
    # stats_b has ttl 0: its first run read all history
    run -0 --separate-stderr fs materialize-incremental "$T12" -v stats_b --json
    assert_equal "$(jq -c '.views[0] | [.start, .rows_read]' <<< "$output")" '[null,3]'
    assert_equal "$(online stats_b:trips 1)" "1=10:PRESENT@2024-05-01T10:59:59Z"
}

@test "materialize-incremental: the first run starts at END - ttl, or at the beginning with ttl 0 (sqlite)" { use_backend sqlite; incremental_ttl; }
@test "materialize-incremental: the first run starts at END - ttl, or at the beginning with ttl 0 (redis)" { use_backend redis; incremental_ttl; }

apply_keeps() {
    trips_repo
    rows 1,2024-05-01T11:00:00Z,,0.3,30 2,2024-05-01T11:00:00Z,,0.4,40
    run -0 fs materialize "$T10" "$T12"
    run -0 fs status --json
    local before=$output
    run -0 fs apply
    assert_output "No changes."
    # an unrelated change: the description
    sed -i 's/^description: driver statistics$/description: hourly driver statistics/' features/trips.yaml
    run -0 fs plan
    assert_line --partial "feature_view stats"
    refute_output --partial "Drops the online data"
    run -0 fs apply -q
    run -0 fs status --json
    assert_equal "$(jq -c '[.views[] | [.name, .last_end, .keys]]' <<< "$output")" \
        "$(jq -c '[.views[] | [.name, .last_end, .keys]]' <<< "$before")"
    assert_equal "$(online stats:trips 1 2)" "1=30:PRESENT@2024-05-01T11:00:00Z 2=40:PRESENT@2024-05-01T11:00:00Z"
}

@test "apply: an unrelated change keeps the online data and the interval (sqlite)" { use_backend sqlite; apply_keeps; }
@test "apply: an unrelated change keeps the online data and the interval (redis)" { use_backend redis; apply_keeps; }

apply_drops() {
    trips_repo
    rows 1,2024-05-01T11:00:00Z,,0.3,30 2,2024-05-01T11:00:00Z,,0.4,40
    run -0 fs materialize "$T10" "$T12"
    sed -i 's/{name: conv_rate, type: float64}/{name: conv_rate, type: float32}/' features/trips.yaml
    run -0 fs plan
    assert_line "Drops the online data and materialization state of: stats (rematerialize them)"
    run -0 fs plan --json
    assert_equal "$(jq -c .resets <<< "$output")" '["stats"]'
    run -0 fs apply -q
    run -0 fs status --json
    assert_equal "$(jq -c '[.views[] | [.name, .last_end, .staleness_seconds, .keys]]' <<< "$output")" \
        "[[\"stats\",null,null,0],[\"stats_b\",\"$T12\",$(jq '.views[1].staleness_seconds' <<< "$output"),2]]"
    assert_equal "$(online stats:conv_rate 1 2)" "1=null:NOT_FOUND@1970-01-01T00:00:00Z 2=null:NOT_FOUND@1970-01-01T00:00:00Z"
    assert_equal "$(online stats_b:trips 1)" "1=30:PRESENT@2024-05-01T11:00:00Z"
    # the next incremental run rebuilds it from the beginning (ttl 0)
    run -0 --separate-stderr fs materialize-incremental "$T12" --json
    assert_equal "$(jq -c '[.views[] | [.view, .start]]' <<< "$output")" "[[\"stats\",null],[\"stats_b\",\"$T12\"]]"
    assert_equal "$(online stats:conv_rate 1 2)" "1=0.3:PRESENT@2024-05-01T11:00:00Z 2=0.4:PRESENT@2024-05-01T11:00:00Z"
    # deleting a view drops its data: re-added, it starts empty
    mv features/stats_b.yaml ..
    run -0 fs plan
    assert_line "Drops the online data and materialization state of: stats_b (rematerialize them)"
    run -0 fs apply -q
    mv ../stats_b.yaml features/
    run -0 fs apply -q
    run -0 fs status --json
    assert_equal "$(jq -c '.views[1]' <<< "$output")" '{"name":"stats_b","last_end":null,"staleness_seconds":null,"keys":0}'
    assert_equal "$(online stats_b:trips 1)" "1=null:NOT_FOUND@1970-01-01T00:00:00Z"
}

@test "apply: a feature type change or deletion drops the view's online data and interval (sqlite)" { use_backend sqlite; apply_drops; }
@test "apply: a feature type change or deletion drops the view's online data and interval (redis)" { use_backend redis; apply_drops; }

# On two CPUs a csv file is read in two halves on two threads (cut at a
# line end after its middle) and the halves' latest rows merged; any error,
# or a quote anywhere (a quoted field may span the cut), rereads the whole
# file on one thread. FS_MATERIALIZE_THREADS=2 forces the split.

# "driver=trips:PRESENT@ts" for drivers 1..$1 as materialize should leave
# them: newest (event, created) wins, exact ties go to the later row.
expected_latest() {
    awk -F, -v n="$1" 'NR > 1 {
        sub(/\r$/, "", $5)
        if (!($1 in ts) || $2 > ts[$1] || ($2 == ts[$1] && $3 >= cr[$1])) { ts[$1] = $2; cr[$1] = $3; v[$1] = $5 }
    } END {
        for (d = 1; d <= n; d++) {
            if (d in v) w = d "=" v[d] ":PRESENT@" ts[d]
            else w = d "=null:NOT_FOUND@1970-01-01T00:00:00Z"
            printf "%s%s", (d > 1 ? " " : ""), w
        }
        print ""
    }' data/trips.csv
}

# Rows over 20 drivers with few distinct timestamps: ties, exact ties
# (same event and created), and a key's winner in either half.
tie_rows() {
    awk -v n="$1" 'BEGIN { srand(7); for (i = 0; i < n; i++)
        printf "%d,2024-05-01T11:0%d:00Z,2024-05-01T12:0%d:00Z,0.%d,%d\n", 1 + int(rand() * 20), int(rand() * 3), int(rand() * 2), i % 10, i }' >> data/trips.csv
}

drivers() { seq -s ' ' 1 "$1"; }

split_ties() {
    trips_repo
    tie_rows 400
    FS_MATERIALIZE_THREADS=2 run -0 fs materialize "$T10" "$T12" -v stats --json
    assert_equal "$(jq -c '[.views[0].rows_read, .views[0].keys]' <<< "$output")" "[400,20]"
    assert_equal "$(online stats:trips $(drivers 20))" "$(expected_latest 20)"
    # one thread: the same
    FS_MATERIALIZE_THREADS=1 run -0 fs materialize "$T10" "$T12" -v stats
    assert_equal "$(online stats:trips $(drivers 20))" "$(expected_latest 20)"
}

@test "materialize: a file read in two halves keeps the newest row per key, exact ties to the later row (sqlite)" { use_backend sqlite; split_ties; }
@test "materialize: a file read in two halves keeps the newest row per key, exact ties to the later row (redis)" { use_backend redis; split_ties; }

split_crlf() {
    trips_repo
    tie_rows 300
    sed -i 's/$/\r/' data/trips.csv
    FS_MATERIALIZE_THREADS=2 run -0 fs materialize "$T10" "$T12" -v stats --json
    assert_equal "$(jq -c '[.views[0].rows_read, .views[0].keys]' <<< "$output")" "[300,20]"
    assert_equal "$(online stats:trips $(drivers 20))" "$(expected_latest 20)"
}

@test "materialize: CRLF line ends in a file read in two halves (sqlite)" { use_backend sqlite; split_crlf; }
@test "materialize: CRLF line ends in a file read in two halves (redis)" { use_backend redis; split_crlf; }

split_small() {
    trips_repo
    # one row, no line end at its end: nothing to cut
    printf '1,2024-05-01T11:00:00Z,,0.3,30' >> data/trips.csv
    FS_MATERIALIZE_THREADS=2 run -0 fs materialize "$T10" "$T12" -v stats --json
    assert_equal "$(jq -c '[.views[0].rows_read, .views[0].keys]' <<< "$output")" "[1,1]"
    assert_equal "$(online stats:trips 1)" "1=30:PRESENT@2024-05-01T11:00:00Z"
    # two rows: one a half; the same key in both, the later wins the tie
    printf '\n1,2024-05-01T11:00:00Z,,0.4,40\n' >> data/trips.csv
    FS_MATERIALIZE_THREADS=2 run -0 fs materialize "$T10" "$T12" -v stats --json
    assert_equal "$(jq -c '[.views[0].rows_read, .views[0].keys]' <<< "$output")" "[2,1]"
    assert_equal "$(online stats:trips 1)" "1=40:PRESENT@2024-05-01T11:00:00Z"
    # only a header
    echo "driver_id,event_timestamp,created,conv,trips" > data/trips.csv
    FS_MATERIALIZE_THREADS=2 run -0 fs materialize "$T10" "$T12" -v stats_b --json
    assert_equal "$(jq -c '[.views[0].rows_read, .views[0].keys]' <<< "$output")" "[0,0]"
}

@test "materialize: files too small to cut in two (sqlite)" { use_backend sqlite; split_small; }
@test "materialize: files too small to cut in two (redis)" { use_backend redis; split_small; }

split_quoted() {
    trips_repo
    echo "driver_id,event_timestamp,created,conv,trips,note" > data/trips.csv
    tie_rows 100
    sed -i '2,$s/$/,/' data/trips.csv
    # a quoted field around the middle whose lines look like rows
    {
        printf '3,2024-05-01T11:00:00Z,,0.5,55,"a note\n'
        for i in $(seq 1 150); do printf '99,2024-05-01T11:59:00Z,,0.9,99,x\n'; done
        printf 'end, with ""quotes"""\n'
    } >> data/trips.csv
    tie_rows 100
    sed -i '254,$s/$/,/' data/trips.csv
    FS_MATERIALIZE_THREADS=2 run -0 fs materialize "$T10" "$T12" -v stats --json
    assert_equal "$(jq -c '[.views[0].rows_read, .views[0].keys]' <<< "$output")" "[201,20]"
    assert_equal "$(online stats:trips 99)" "99=null:NOT_FOUND@1970-01-01T00:00:00Z"
    FS_MATERIALIZE_THREADS=1 run -0 fs materialize "$T10" "$T12" -v stats_b --json
    assert_equal "$(jq -c '[.views[0].rows_read, .views[0].keys]' <<< "$output")" "[201,20]"
    assert_equal "$(online stats:trips $(drivers 20))" "$(online stats_b:trips $(drivers 20))"
}

@test "materialize: quoted fields with line ends: the whole file on one thread (sqlite)" { use_backend sqlite; split_quoted; }
@test "materialize: quoted fields with line ends: the whole file on one thread (redis)" { use_backend redis; split_quoted; }

split_bad_row() {
    trips_repo
    tie_rows 1000
    sed -i '901s/,[0-9]*$/,forty/' data/trips.csv
    FS_MATERIALIZE_THREADS=2 run -128 --separate-stderr fs materialize "$T10" "$T12" -v stats
    assert_equal "$stderr" "fatal: data/trips.csv:901: column 'trips': 'forty' is not an int64 (feature 'trips')"
    assert_equal "$(last_end stats)" null
    assert_equal "$(online stats:trips 1)" "1=null:NOT_FOUND@1970-01-01T00:00:00Z"
    # a bad line in both halves: the first is named
    sed -i '11s/,[0-9]*$/,ten/' data/trips.csv
    FS_MATERIALIZE_THREADS=2 run -128 --separate-stderr fs materialize "$T10" "$T12" -v stats
    assert_equal "$stderr" "fatal: data/trips.csv:11: column 'trips': 'ten' is not an int64 (feature 'trips')"
}

@test "materialize: a bad row in the second half names its line in the file (sqlite)" { use_backend sqlite; split_bad_row; }
@test "materialize: a bad row in the second half names its line in the file (redis)" { use_backend redis; split_bad_row; }

@test "materialize: a 1 GB file without line ends (sparse) is an error after one record's worth of memory" {
    command -v /usr/bin/time > /dev/null || skip "no GNU time"
    init_repo
    fs apply -q
    head -n 1 data/driver_stats.csv > header.csv
    cp header.csv data/driver_stats.csv
    truncate -s 1G data/driver_stats.csv
    run -128 --separate-stderr /usr/bin/time -f 'maxrss %M' "$FS" materialize-incremental now
    assert_equal "$(head -n 1 <<<"$stderr")" "fatal: data/driver_stats.csv:2: a record longer than 64 MiB (not a CSV file?)"
    rss=$(sed -n 's/^maxrss //p' <<<"$stderr")
    [ "$rss" -lt 600000 ] || fail "maxrss $rss KB for a 1 GB file"
}
