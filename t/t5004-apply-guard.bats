#!/usr/bin/env bats
# apply refuses to remove features a production model was trained on
# (unless --force); plan shows which model versions each change affects.

load test_helper
load lib-models

# eta version 1 (auc 0.9) in production.
production_v1() {
    register_eta --metric auc=0.9 >/dev/null
    "$FS" promote eta 1 staging >/dev/null
    "$FS" promote eta 1 production >/dev/null
}

# Remove acc_rate from the view and from the feature service.
remove_acc_rate() {
    sed -i -e 's/  - driver_hourly_stats: \[conv_rate, acc_rate\]/  - driver_hourly_stats: [conv_rate]/' \
        -e '/{name: acc_rate, type: float32}/d' features/driver.yaml
    ! grep -q acc_rate features/driver.yaml
}

# Replace the view driver_hourly_stats by driver_daily_stats (the service follows).
rename_view() {
    sed -i 's/driver_hourly_stats/driver_daily_stats/g' features/driver.yaml
}

@test "apply guard: removing a trained-on feature of a production version is refused" {
    models_repo
    production_v1
    remove_acc_rate
    local before head models
    before=$(registry_dump)
    head=$(git rev-parse HEAD)
    models=$(fs models --json)
    run -128 --separate-stderr fs apply
    assert_equal "$stderr" "fatal: changing feature_view 'driver_hourly_stats' would remove features [\"acc_rate\"] that model 'eta' version 1 in production was trained on; use --force to apply anyway"
    assert_output ""
    assert_equal "$(registry_dump)" "$before"
    assert_equal "$(git rev-parse HEAD)" "$head"
    assert_equal "$(fs models --json)" "$models"
    run -0 fs describe feature_view driver_hourly_stats --json
    [[ "$output" == *'"acc_rate"'* ]]
}

@test "apply guard: --force applies the removal" {
    models_repo
    production_v1
    remove_acc_rate
    run -0 --separate-stderr fs apply --force -q
    run -0 fs log --json
    assert_equal "$(jq '[.applies[].registry_version] | max' <<<"$output")" "2"
    run -0 fs describe feature_view driver_hourly_stats --json
    [[ "$output" != *acc_rate* ]]
    assert_equal "$(git status --porcelain features)" ""
    # the production version is untouched; a version trained on the new view promotes
    assert_equal "$(stage_of 1)" "production"
    register_eta --metric auc=0.9 >/dev/null
    fs promote eta 2 staging >/dev/null
    run -0 fs promote eta 2 production
}

@test "apply guard: deleting the whole view is refused the same way" {
    models_repo
    production_v1
    rename_view
    local before
    before=$(registry_dump)
    run -128 --separate-stderr fs apply -q
    assert_equal "$stderr" "fatal: deleting feature_view 'driver_hourly_stats' would remove features [\"conv_rate\",\"acc_rate\"] that model 'eta' version 1 in production was trained on; use --force to apply anyway"
    assert_equal "$(registry_dump)" "$before"
    run -0 fs apply -q --force
    run -0 fs ls feature_view
    assert_equal "${#lines[@]}" 2
    assert_line --index 0 --regexp '^feature_view +driver_daily_stats +v1$'
    assert_line --index 1 --regexp '^feature_view +driver_trip_stats +v1$'
}

@test "apply guard: a change that keeps the trained-on features applies" {
    models_repo
    production_v1
    sed -i -e '/{name: avg_daily_trips, type: int64}/d' -e 's/^ttl: 1d$/ttl: 2d/' features/driver.yaml
    run -0 --separate-stderr fs apply
    assert_line "~ feature_view driver_hourly_stats: features, ttl"
    assert_line "    affects model eta version 1 (production)"
    assert_line --regexp '^Applied registry version 2 '
}

@test "apply guard: a version in staging does not block apply" {
    models_repo
    register_eta >/dev/null
    fs promote eta 1 staging >/dev/null
    remove_acc_rate
    run -0 --separate-stderr fs apply
    assert_line "    affects model eta version 1 (staging): removes trained-on features [\"acc_rate\"]"
    assert_line --regexp '^Applied registry version 2 '
}

@test "plan: lists the model versions a change affects and the features it removes" {
    models_repo
    production_v1
    register_eta >/dev/null
    fs promote eta 2 staging >/dev/null
    register_eta >/dev/null
    remove_acc_rate
    run -0 --separate-stderr fs plan
    assert_equal "$stderr" ""
    assert_line -n 0 "~ feature_view driver_hourly_stats: features"
    assert_line -n 1 "    affects model eta version 1 (production): removes trained-on features [\"acc_rate\"]"
    assert_line -n 2 "    affects model eta version 2 (staging): removes trained-on features [\"acc_rate\"]"
    assert_line -n 3 "    affects model eta version 3 (none): removes trained-on features [\"acc_rate\"]"
    assert_line -n 4 "~ feature_service driver_activity_v1: features"
    # a plan changes nothing
    run -0 fs log --json
    assert_equal "$(jq '.applies | length' <<<"$output")" "1"
}

@test "plan: archived versions are not listed" {
    models_repo
    production_v1
    register_eta --metric auc=0.9 >/dev/null
    fs promote eta 2 staging >/dev/null
    fs promote eta 2 production >/dev/null
    assert_equal "$(stage_of 1)" "archived"
    sed -i 's/^ttl: 1d$/ttl: 2d/' features/driver.yaml
    run -0 fs plan
    assert_line "    affects model eta version 2 (production)"
    refute_line --partial "version 1"
}

@test "plan: deleting a view lists every trained-on feature" {
    models_repo
    production_v1
    rename_view
    run -0 fs plan
    assert_line "- feature_view driver_hourly_stats"
    assert_line "    affects model eta version 1 (production): removes trained-on features [\"conv_rate\",\"acc_rate\"]"
}

@test "plan --json: each change has a models array" {
    models_repo
    production_v1
    register_eta >/dev/null
    fs promote eta 2 staging >/dev/null
    remove_acc_rate
    run -0 --separate-stderr fs plan --json
    assert_equal "$(jq -c '[.changes[] | {kind, name, models}]' <<<"$output")" \
        '[{"kind":"feature_view","name":"driver_hourly_stats","models":[{"model":"eta","version":1,"stage":"production","breaks":["acc_rate"]},{"model":"eta","version":2,"stage":"staging","breaks":["acc_rate"]}]},{"kind":"feature_service","name":"driver_activity_v1","models":[]}]'
}

@test "plan --json: a change that breaks nothing lists the model with no breaks" {
    models_repo
    production_v1
    sed -i 's/^ttl: 1d$/ttl: 2d/' features/driver.yaml
    run -0 fs plan --json
    assert_equal "$(jq -c '.changes[0].models' <<<"$output")" \
        '[{"model":"eta","version":1,"stage":"production","breaks":[]}]'
}
