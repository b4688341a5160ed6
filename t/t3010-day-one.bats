#!/usr/bin/env bats
# Rough edges of day one (issue 14): fs status names what is stale and
# aligns its table; a view fed by push counts its newest pushed event as
# freshness; timestamps: bad ones name the accepted formats, entity rows
# take a date alone, a materialize END in the future suggests now.

load test_helper

setup() {
    common_setup
    init_repo
    fs apply -q
}

@test "day one: status --max-staleness names each stale view, its staleness and last end" {
    run -0 fs materialize now-2d now-3h
    run -1 --separate-stderr fs status --max-staleness 2h
    local end
    end=$(fs status --json | jq -r '.views[] | select(.name == "driver_hourly_stats") | .last_end')
    [[ "$stderr" == *"error: view 'driver_hourly_stats' is 3h"*" stale (last end $end)"* ]] ||
        fail "stale view not named: $stderr"
    [[ "$stderr" == *"error: view 'driver_trip_stats' is 3h"*" stale (last end "* ]] ||
        fail "stale view not named: $stderr"
    [[ "$stderr" != *"a view is staler"* ]] || fail "$stderr"
    run -0 --separate-stderr fs status --max-staleness 4h
    assert_equal "$stderr" ""
}

@test "day one: status's table aligns whatever the names' length" {
    cat >> features/driver.yaml <<'EOF'
---
kind: feature_view
name: driver_hourly_stats_with_a_rather_long_name_indeed
entities: [driver]
source: driver_stats
features:
  - {name: conv_rate, type: float64}
EOF
    fs apply -q -m long
    run -0 fs materialize-incremental now
    run -0 fs status
    # every row's LAST END starts where the header's does
    local col line
    col=$(head -n 1 <<< "$output" | awk '{ print index($0, "LAST END") }')
    [ "$col" -gt 50 ] || fail "the name column is not widened: $output"
    while IFS= read -r line; do
        case $line in driver_*) ;; *) continue ;; esac
        [ "${line:col-1:4}" = "$(date -u +%Y)" ] || [ "${line:col-1:1}" = "-" ] ||
            fail "not aligned at $col: '$line'"
    done <<< "$output"
}

@test "day one: entity rows take a date alone, as the command line does" {
    local day
    day=$(date -u +%F)
    printf 'driver_id,event_timestamp\n1001,%s\n1001,%sT00:00:00Z\n' "$day" "$day" > rows.csv
    run -0 fs get-historical --entities rows.csv -f driver_hourly_stats:conv_rate --format json
    local a b
    a=$(sed -n 1p <<< "$output" | jq -c 'del(.event_timestamp)')
    b=$(sed -n 2p <<< "$output" | jq -c 'del(.event_timestamp)')
    assert_equal "$a" "$b"
    # a bad one names the accepted forms
    printf 'driver_id,event_timestamp\n1001,yesterday\n' > bad.csv
    run -128 --separate-stderr fs get-historical --entities bad.csv -f driver_hourly_stats:conv_rate
    assert_equal "$stderr" "fatal: bad.csv:2: column 'event_timestamp': bad timestamp 'yesterday' (expected RFC 3339 like 2024-05-01T10:00:00Z, 'YYYY-MM-DD HH:MM:SS' in UTC, or Unix seconds, or YYYY-MM-DD)"
}

@test "day one: a bad timestamp in a source names the accepted formats" {
    echo "1001,last tuesday,0.5,0.5,3,2024-05-01T10:00:00Z" >> data/driver_stats.csv
    run -128 --separate-stderr fs materialize-incremental now
    [[ "$stderr" == *"column 'event_timestamp': bad timestamp 'last tuesday' (expected RFC 3339 like 2024-05-01T10:00:00Z, 'YYYY-MM-DD HH:MM:SS' in UTC, or Unix seconds)" ]] ||
        fail "$stderr"
}
