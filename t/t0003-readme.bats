#!/usr/bin/env bats
# The README's session (between its "<!-- session: begin" and
# "<!-- session: end -->" lines) is what tools/readme-session prints: its
# commands run for real, compared after masking times, dates, hashes, ports
# and durations. When this fails after a change to fs's output, rewrite the
# README with `tools/readme-session --update` and read the diff.

load test_helper

setup_file() {
    command -v curl >/dev/null && command -v jq >/dev/null || return 0
    # one run, for the tests that check copies of the README against it
    "$FS_SOURCE_ROOT/tools/readme-session" > "$BATS_FILE_TMPDIR/session"
}

setup() {
    common_setup
    command -v curl >/dev/null || skip "no curl"
    command -v jq >/dev/null || skip "no jq"
    session=$BATS_FILE_TMPDIR/session
    cp "$FS_SOURCE_ROOT/README.md" README.md
}

# check_copy: the check of ./README.md against the session of setup_file
check_copy() {
    "$FS_SOURCE_ROOT/tools/readme-session" --check --readme README.md --from "$session"
}

@test "readme: the session in README.md is what its commands print" {
    run -0 --separate-stderr "$FS_SOURCE_ROOT/tools/readme-session" --check \
        --readme "$FS_SOURCE_ROOT/README.md"
    assert_output ""
}

@test "readme: the session shows real values, served and promoted" {
    run -0 cat "$session"
    # a training set with values, online reads and the server's answer PRESENT
    assert_line --regexp '^1001,[0-9T:Z-]+,1,0\.[0-9]+,0\.[0-9]+$'
    assert_line --regexp '^1001 +0\.[0-9]+ +0\.[0-9]+$'
    assert_output --partial '"statuses":["PRESENT","PRESENT"]'
    refute_output --partial 'NOT_FOUND'
    assert_output --partial '"stage":"production"'
    assert_output --partial "Applied registry version 1 (commit "
    assert_output --partial "7 to add, 0 to change, 0 to delete."
    assert_output --regexp "features/driver.yaml:19:12: feature_view 'driver_hourly_stats': unknown entity 'drivr'"
    # nothing of the scratch directory
    refute_output --partial "${TMPDIR:-/tmp}/"
}

@test "readme: a copy of README.md passes, times, hashes and ports aside" {
    run -0 check_copy
    # other times, commit and port: masked
    sed -i -E -e 's/T[0-9]{2}:[0-9]{2}:[0-9]{2}Z/T23:59:59Z/g' \
        -e 's/\(commit [0-9a-f]+\)/(commit 0123456789ab)/' \
        -e 's/6566/6567/g' README.md
    run -0 grep -c '^Applied registry version 1 (commit 0123456789ab)\.$' README.md
    run -0 grep -c '^1001,.*T23:59:59Z,1,' README.md
    run -0 grep -c 'localhost:6567/models' README.md
    run -0 check_copy
}

@test "readme: a line of the session edited by hand is caught" {
    sed -i 's/^1002       0\.14       0\.22$/1002       0.15       0.22/' README.md
    run -0 grep -c '^1002       0.15       0.22$' README.md
    run -1 --separate-stderr check_copy
    assert_line -- '-1002       0.15       0.22'
    assert_line -- '+1002       0.14       0.22'
    assert_equal "$stderr" "readme-session: README.md differs from a run of its session; to rewrite it: tools/readme-session --update"
}

@test "readme: a line of the session removed or added by hand is caught" {
    cp README.md orig.md
    sed -i '/^7 to add, 0 to change, 0 to delete\.$/d' README.md
    run -1 check_copy
    assert_line -- '+7 to add, 0 to change, 0 to delete.'
    cp orig.md README.md
    sed -i 's/^\$ fs ls$/$ fs ls\nmodel            churn                            v1/' README.md
    run -1 check_copy
    assert_line -- '-model            churn                            v1'
    # prose too
    cp orig.md README.md
    sed -i 's/^Validation reports every problem at once/Validation reports each problem/' README.md
    run -1 check_copy
    assert_line --regexp '^-Validation reports each problem'
}

@test "readme: a README without its session markers is an error" {
    sed -i '/^<!-- session: end -->$/d' README.md
    run -2 --separate-stderr check_copy
    assert_equal "$stderr" "readme-session: README.md: expected one '<!-- session: begin ... -->' line and one '<!-- session: end -->' line"
}
