#!/usr/bin/env bats
# The plan cache (.fs/plan-cache) is a shortcut only: whatever changed since
# the last full run (a definition, a data file validation reads, the
# registry) must take the full path and give the full answer.

load test_helper

setup() {
    common_setup
    init_repo
    fs apply -q
}

@test "plan cache: an unchanged repository plans 'No changes.' and the cache exists" {
    [ -s .fs/plan-cache ]
    run -0 fs plan
    assert_output "No changes."
}

@test "plan cache: a data file losing a column is still reported" {
    run -0 fs plan
    sed -i '1s/,acc_rate,/,acc_rat,/' data/driver_stats.csv
    run -128 --separate-stderr fs plan
    [[ "$stderr" == *"has no column 'acc_rate'"* ]]
}

@test "plan cache: a registry changed behind its back is compared in full" {
    git_head=$(git rev-parse HEAD)
    sed -i 's/ttl: 1d/ttl: 2h/' features/driver.yaml
    fs apply -q
    # the registry goes back to the first commit; the working tree still says 2h
    fs apply -q --rev "$git_head"
    run -0 fs plan
    assert_output --partial "~ feature_view driver_hourly_stats: ttl"
}

@test "plan cache: a corrupt cache is ignored" {
    printf 'not json' > .fs/plan-cache
    run -0 fs plan
    assert_output "No changes."
    sed -i 's/ttl: 1d/ttl: 3h/' features/driver.yaml
    printf '{"inputs":"x","specs":"y","deps":[]}' > .fs/plan-cache
    run -0 fs plan
    assert_output --partial "~ feature_view driver_hourly_stats: ttl"
}

@test "plan cache: a changed definition is planned, then cached again" {
    sed -i 's/ttl: 1d/ttl: 4h/' features/driver.yaml
    run -1 fs plan --exit-code
    assert_output --partial "~ feature_view driver_hourly_stats: ttl"
    fs apply -q
    before=$(cat .fs/plan-cache)
    run -0 fs plan --exit-code
    assert_output "No changes."
    [ "$(cat .fs/plan-cache)" = "$before" ]
}

@test "plan cache: a deleted data file is reported" {
    rm data/driver_stats.csv
    run -128 --separate-stderr fs plan
    [[ "$stderr" == *"data/driver_stats.csv' does not exist"* ]]
}
