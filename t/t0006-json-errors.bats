#!/usr/bin/env bats
# Failures as JSON: a command given --json reports a failure on stderr as
# one line {"error": "<message>", "code": <exit status>} (with "errors"
# when there are several problems) instead of fatal:/error: text, and exits
# as it would without --json. Usage errors stay text (exit 129).

load test_helper

# The exact stderr of a failure as JSON.
json_error() {
    jq -cn --arg e "$1" --argjson c "$2" '{error: $e, code: $c}' | sed 's/^{"error":/{"error": /; s/,"code":/, "code": /'
}

@test "json errors: not a repository, as JSON with --json and as text without" {
    mkdir outside && cd outside
    local msg="not an fs repository (or any of the parent directories): no fs.yaml; create one with 'fs init'"
    run -128 --separate-stderr fs ls --json
    assert_output ""
    assert_equal "$stderr" "$(json_error "$msg" 128)"
    run -128 --separate-stderr fs ls
    assert_equal "$stderr" "fatal: $msg"
    # --json anywhere among the options
    run -128 --separate-stderr fs status --json --max-staleness 1h
    assert_equal "$stderr" "$(json_error "$msg" 128)"
}

@test "json errors: describe of an object that is not registered" {
    init_repo
    fs apply -q
    run -128 --separate-stderr fs describe entity drivr --json
    assert_output ""
    assert_equal "$stderr" "$(json_error "no entity 'drivr' is registered (did you mean 'driver'?)" 128)"
    run -128 --separate-stderr fs describe entity drivr
    assert_equal "$stderr" "fatal: no entity 'drivr' is registered (did you mean 'driver'?)"
}

@test "json errors: get-online with an unknown view, models of an unknown model, plan of a bad revision" {
    init_repo
    fs apply -q
    run -128 --separate-stderr fs get-online -f nope:x -e driver_id=1 --json
    assert_output ""
    assert_equal "$stderr" "$(json_error "no feature view 'nope' is registered" 128)"
    run -128 --separate-stderr fs models nope --json
    assert_equal "$stderr" "$(json_error "unknown model 'nope': no model of that name is defined or has versions" 128)"
    run -128 --separate-stderr fs models log nope --json
    assert_equal "$stderr" "$(json_error "unknown model 'nope': no model of that name is defined or has versions" 128)"
    run -128 --separate-stderr fs plan --rev nope --json
    assert_equal "$stderr" "$(json_error "unknown revision 'nope'" 128)"
}

@test "json errors: apply of an invalid definition, one problem and several" {
    init_repo
    sed -i '0,/type: float64/s//type: float65/' features/driver.yaml
    local before
    before=$(git rev-parse HEAD)
    run -128 --separate-stderr fs apply --json
    assert_output ""
    assert_equal "$stderr" "$(json_error "features/driver.yaml:24:29: feature_view 'driver_hourly_stats': unknown feature type 'float65' (did you mean 'float64'?)" 128)"
    sed -i 's/entities: \[driver\]/entities: [drivr]/' features/driver.yaml
    run -128 --separate-stderr fs apply --json
    assert_equal "${#stderr_lines[@]}" 1
    assert_equal "$(jq -c . <<< "$stderr")" '{"error":"3 errors in definitions","code":128,"errors":["features/driver.yaml:19:12: feature_view '"'driver_hourly_stats'"': unknown entity '"'drivr'"' (did you mean '"'driver'"'?)","features/driver.yaml:24:29: feature_view '"'driver_hourly_stats'"': unknown feature type '"'float65'"' (did you mean '"'float64'"'?)","features/driver.yaml:54:12: feature_view '"'driver_trip_stats'"': unknown entity '"'drivr'"' (did you mean '"'driver'"'?)"]}'
    # the same failure as text
    run -128 --separate-stderr fs apply
    assert_equal "${stderr_lines[3]}" "fatal: 3 errors in definitions"
    # nothing changed
    assert_equal "$(git rev-parse HEAD)" "$before"
    assert_equal "$(registry_dump)" ""
}

@test "json errors: an invalid fs.yaml, reported once the options are read" {
    init_repo
    echo "bogus: 1" >> fs.yaml
    run -128 --separate-stderr fs ls --json
    assert_equal "$stderr" "$(json_error "fs.yaml:16:1: unknown key 'bogus'" 128)"
    run -128 --separate-stderr fs plan --json
    assert_equal "$stderr" "$(json_error "fs.yaml:16:1: unknown key 'bogus'" 128)"
    # bad usage still wins, as text
    run -129 --separate-stderr fs ls --json --bogus
    assert_equal "${stderr_lines[0]}" "error: unknown option 'bogus'"
}

@test "json errors: a failed check exits 1 with the error as JSON" {
    init_repo
    fs apply -q
    fs materialize-incremental now -v driver_hourly_stats
    run -1 --separate-stderr fs status --max-staleness 52w --json
    assert_equal "$(jq -r '.views[0].name' <<< "$output")" "driver_hourly_stats"
    assert_equal "$stderr" "$(json_error "view 'driver_trip_stats' has never been materialized, pushed to or streamed into" 1)"
    run -1 --separate-stderr fs status --max-staleness 52w
    assert_equal "$stderr" "error: view 'driver_trip_stats' has never been materialized, pushed to or streamed into"
}

@test "json errors: usage errors stay text, exit 129" {
    init_repo
    run -129 --separate-stderr fs log --oneline --json
    assert_equal "${stderr_lines[0]}" "error: --oneline and --json cannot be used together"
    assert_equal "${stderr_lines[1]}" "usage: fs log [<name>] [-n <number>] [--oneline] [--json]"
}

@test "json errors: a message quoting bytes that are not UTF-8 is still JSON" {
    init_repo
    fs apply -q
    run -128 --separate-stderr fs describe entity $'dr\xffiver' --json
    assert_equal "$(jq -r .error <<< "$stderr")" "no entity 'dr?iver' is registered (did you mean 'driver'?)"
}
