#!/usr/bin/env bats
# promote: stages, promotion gates (from, metrics), --force, archiving of the
# previous holder, @stage references, the training/serving skew guard.
#
# The gate of `fs init`'s model eta: production from [staging], auc >= 0.80.

load test_helper
load lib-models

# Every version's stage, "1:none 2:staging ...".
stages() {
    "$FS" models eta --json | jq -r '[.versions[] | "\(.version):\(.stage)"] | join(" ")'
}

@test "promote: moves a version through staging, production, archived and none" {
    models_repo
    register_eta --metric auc=0.9 >/dev/null
    run -0 --separate-stderr fs promote eta 1 staging
    assert_output "model 'eta' version 1: none -> staging"
    assert_equal "$(stage_of 1)" "staging"
    run -0 fs promote eta 1 production
    assert_output "model 'eta' version 1: staging -> production"
    assert_equal "$(stage_of 1)" "production"
    run -0 fs promote eta 1 archived
    assert_equal "$(stage_of 1)" "archived"
    run -0 fs promote eta 1 none
    assert_output "model 'eta' version 1: archived -> none"
    assert_equal "$(stage_of 1)" "none"
}

@test "promote: stage names are case-insensitive" {
    models_repo
    register_eta --metric auc=0.9 >/dev/null
    run -0 fs promote eta 1 Staging
    assert_equal "$(stage_of 1)" "staging"
    run -0 fs promote eta 1 PRODUCTION
    assert_equal "$(stage_of 1)" "production"
    run -0 fs promote eta 1 ArChIvEd
    assert_equal "$(stage_of 1)" "archived"
}

@test "promote: an unknown stage is a usage error and changes nothing" {
    models_repo
    register_eta >/dev/null
    run -129 --separate-stderr fs promote eta 1 live
    [[ "$stderr" == *"unknown stage 'live' (expected none, staging, production or archived)"* ]]
    assert_equal "$(stage_of 1)" "none"
    run -0 fs models log eta --json
    assert_equal "$(jq '.transitions | length' <<<"$output")" "1"
    # checked before the version is looked up
    run -129 --separate-stderr fs promote eta 99 live
    [[ "$stderr" == *"unknown stage 'live'"* ]]
    run -129 --separate-stderr fs promote eta @production live
    [[ "$stderr" == *"unknown stage 'live'"* ]]
}

@test "promote: a bad or unknown version" {
    models_repo
    register_eta >/dev/null
    run -129 --separate-stderr fs promote eta abc staging
    [[ "$stderr" == *"bad version 'abc'"* ]]
    run -128 --separate-stderr fs promote eta 7 staging
    assert_equal "$stderr" "fatal: model 'eta' has no version 7"
    run -129 fs promote eta 1
}

@test "promote: the 'from' gate refuses none -> production, naming the condition" {
    models_repo
    register_eta --metric auc=0.9 >/dev/null
    local before
    before=$(fs models --json)
    run -1 --separate-stderr fs promote eta 1 production
    assert_output ""
    [[ "$stderr" == *"promotion of model 'eta' version 1 to production refused"* ]]
    [[ "$stderr" == *"version is in 'none', promotion to 'production' requires one of [\"staging\"]"* ]]
    [[ "$stderr" != *"metric"* ]]
    assert_equal "$(fs models --json)" "$before"
    run -0 fs models log eta --json
    assert_equal "$(jq '.transitions | length' <<<"$output")" "1"
}

@test "promote: the metric gate refuses auc 0.75 and accepts 0.85" {
    models_repo
    register_eta --metric auc=0.75 >/dev/null
    register_eta --metric auc=0.85 >/dev/null
    fs promote eta 1 staging --keep-existing >/dev/null
    fs promote eta 2 staging --keep-existing >/dev/null
    run -1 --separate-stderr fs promote eta 1 production
    [[ "$stderr" == *"metric 'auc': 0.75 does not satisfy >= 0.80"* ]]
    [[ "$stderr" != *"requires one of"* ]]
    assert_equal "$(stage_of 1)" "staging"
    run -0 fs promote eta 2 production
    assert_equal "$(stage_of 2)" "production"
    assert_equal "$(stage_of 1)" "staging"
}

@test "promote: a missing gate metric refuses the promotion" {
    models_repo
    register_eta --metric rmse=3 >/dev/null
    fs promote eta 1 staging >/dev/null
    run -1 --separate-stderr fs promote eta 1 production
    [[ "$stderr" == *"metric 'auc': missing (requires >= 0.80)"* ]]
    assert_equal "$(stage_of 1)" "staging"
}

@test "promote: --json on a refused promotion lists the unmet conditions" {
    models_repo
    register_eta --metric auc=0.5 >/dev/null
    run -1 --separate-stderr fs promote eta 1 production --json
    assert_equal "$(jq -r '.unmet | length' <<<"$output")" "2"
    assert_equal "$(jq -r '.unmet[1]' <<<"$output")" "metric 'auc': 0.5 does not satisfy >= 0.80"
    # stderr: the refusal as one line of JSON, the unmet conditions as its errors
    assert_equal "$(jq -c . <<<"$stderr")" "$(jq -c '{error: "promotion of model '"'eta'"' version 1 to production refused", code: 1, errors: .unmet}' <<<"$output")"
    assert_equal "${#stderr_lines[@]}" 1
}

@test "promote: --force overrides the gates and is recorded as forced" {
    models_repo
    register_eta --metric auc=0.5 >/dev/null
    run -0 --separate-stderr fs promote eta 1 production --force --reason "hotfix" --json
    assert_equal "$(jq -r '.forced' <<<"$output")" "true"
    assert_equal "$(jq -r '.from' <<<"$output")" "none"
    assert_equal "$(jq -r '.to' <<<"$output")" "production"
    assert_equal "$(jq -r '.unmet | length' <<<"$output")" "2"
    [[ "$stderr" == *"warning: forced past: metric 'auc': 0.5 does not satisfy >= 0.80"* ]]
    assert_equal "$(stage_of 1)" "production"
    run -0 fs models log eta --json
    assert_equal "$(jq -c '.transitions[-1] | [.version, .from, .to, .reason, .forced]' <<<"$output")" \
        '[1,"none","production","hotfix",true]'
    # a promotion that meets its gates is not recorded as forced, even with --force
    register_eta --metric auc=0.9 >/dev/null
    fs promote eta 2 staging >/dev/null
    run -0 fs promote eta 2 production --force --json
    assert_equal "$(jq -r '.forced' <<<"$output")" "false"
    run -0 fs models log eta --json
    assert_equal "$(jq -c '[.transitions[] | select(.version == 2 and .to == "production") | .forced]' <<<"$output")" '[false]'
}

@test "promote: into production archives the previous production version" {
    models_repo
    register_eta --metric auc=0.9 >/dev/null
    register_eta --metric auc=0.9 >/dev/null
    fs promote eta 1 staging >/dev/null
    fs promote eta 1 production >/dev/null
    fs promote eta 2 staging >/dev/null
    run -0 fs promote eta 2 production
    assert_line "model 'eta' version 2: staging -> production"
    assert_line "model 'eta' version 1: production -> archived"
    assert_equal "$(stages)" "1:archived 2:production"
    run -0 fs models log eta --json
    assert_equal "$(jq -c '[.transitions[] | select(.version == 1)][-1] | [.from, .to, .reason]' <<<"$output")" \
        '["production","archived","replaced in production by version 2"]'
}

@test "promote: into staging archives the previous staging version" {
    models_repo
    register_eta >/dev/null
    register_eta >/dev/null
    fs promote eta 1 staging >/dev/null
    run -0 fs promote eta 2 staging --json
    assert_equal "$(jq -c '.archived' <<<"$output")" "[1]"
    assert_equal "$(stages)" "1:archived 2:staging"
}

@test "promote: --keep-existing keeps the previous holder" {
    models_repo
    register_eta --metric auc=0.9 >/dev/null
    register_eta --metric auc=0.9 >/dev/null
    fs promote eta 1 staging >/dev/null
    run -0 fs promote eta 2 staging --keep-existing --json
    assert_equal "$(jq -c '.archived' <<<"$output")" "[]"
    assert_equal "$(stages)" "1:staging 2:staging"
    fs promote eta 1 production >/dev/null
    fs promote eta 2 production --keep-existing >/dev/null
    assert_equal "$(stages)" "1:production 2:production"
}

@test "promote: none and archived never archive other versions" {
    models_repo
    register_eta >/dev/null
    register_eta >/dev/null
    fs promote eta 1 archived >/dev/null
    fs promote eta 2 archived >/dev/null
    assert_equal "$(stages)" "1:archived 2:archived"
    fs promote eta 1 none >/dev/null
    fs promote eta 2 none >/dev/null
    assert_equal "$(stages)" "1:none 2:none"
}

@test "promote: @production and @staging name the current holder" {
    models_repo
    register_eta --metric auc=0.9 >/dev/null
    register_eta --metric auc=0.9 >/dev/null
    fs promote eta 1 staging >/dev/null
    fs promote eta 1 production >/dev/null
    fs promote eta 2 staging >/dev/null
    run -0 fs promote eta @staging production --json
    assert_equal "$(jq -r '.version' <<<"$output")" "2"
    assert_equal "$(stages)" "1:archived 2:production"
    run -0 fs promote eta @production archived --json
    assert_equal "$(jq -r '.version' <<<"$output")" "2"
    assert_equal "$(stages)" "1:archived 2:archived"
}

@test "promote: @production when no version holds it is fatal" {
    models_repo
    register_eta >/dev/null
    run -128 --separate-stderr fs promote eta @production archived
    assert_equal "$stderr" "fatal: model 'eta' has no version in stage 'production'"
    assert_equal "$(stage_of 1)" "none"
    # @name that is no stage is an alias (fs alias): none of that name
    run -128 --separate-stderr fs promote eta @live archived
    assert_equal "$stderr" "fatal: model 'eta' has no alias 'live'"
    run -129 fs promote eta @no.such archived
    assert_equal "$(stage_of 1)" "none"
}

@test "promote: to the stage the version is in changes nothing" {
    models_repo
    register_eta >/dev/null
    fs promote eta 1 staging >/dev/null
    run -0 fs models log eta --json
    local log=$output
    run -0 --separate-stderr fs promote eta 1 staging
    assert_output "version 1 of model 'eta' is already in staging"
    run -0 fs promote eta 1 STAGING --json
    assert_equal "$(jq -c . <<<"$output")" \
        '{"model":"eta","version":1,"from":"staging","to":"staging","forced":false,"unmet":[],"archived":[]}'
    run -0 fs models log eta --json
    assert_equal "$output" "$log"
    assert_equal "$(stage_of 1)" "staging"
}

@test "promote: --json prints the transition" {
    models_repo
    register_eta --metric auc=0.9 >/dev/null
    register_eta --metric auc=0.9 >/dev/null
    fs promote eta 1 staging >/dev/null
    run -0 --separate-stderr fs promote eta 2 staging --reason why --json
    assert_equal "$(jq -c . <<<"$output")" \
        '{"model":"eta","version":2,"from":"none","to":"staging","forced":false,"unmet":[],"archived":[1]}'
}

@test "promote: the skew guard refuses production after a trained-on feature changed type" {
    models_repo
    register_eta --metric auc=0.9 >/dev/null
    fs promote eta 1 staging >/dev/null
    sed -i 's/{name: conv_rate, type: float64}/{name: conv_rate, type: float32}/' features/driver.yaml
    fs apply -q --force
    run -1 --separate-stderr fs promote eta 1 production
    [[ "$stderr" == *"skew: feature 'driver_hourly_stats:conv_rate' was float64 when trained, is float32 now"* ]]
    [[ "$stderr" != *"acc_rate"* ]]
    assert_equal "$(stage_of 1)" "staging"
    # staging is not guarded
    register_eta --metric auc=0.9 >/dev/null
    run -0 fs promote eta 2 staging --keep-existing
    # --force overrides, recorded
    run -0 --separate-stderr fs promote eta 1 production --force
    [[ "$stderr" == *"warning: forced past: skew: feature 'driver_hourly_stats:conv_rate'"* ]]
    assert_equal "$(stage_of 1)" "production"
    run -0 fs models log eta --json
    assert_equal "$(jq -r '.transitions[-1].forced' <<<"$output")" "true"
}

@test "promote: a version registered after the type change passes the skew guard" {
    models_repo
    sed -i 's/{name: conv_rate, type: float64}/{name: conv_rate, type: float32}/' features/driver.yaml
    fs apply -q --force
    register_eta --metric auc=0.9 >/dev/null
    fs promote eta 1 staging >/dev/null
    run -0 fs promote eta 1 production
    assert_equal "$(stage_of 1)" "production"
}

@test "promote: the skew guard refuses production when the view is not online" {
    models_repo
    register_eta --metric auc=0.9 >/dev/null
    fs promote eta 1 staging >/dev/null
    sed -i 's/^online: true$/online: false/' features/driver.yaml
    fs apply -q --force
    run -1 --separate-stderr fs promote eta 1 production
    [[ "$stderr" == *"skew: feature_view 'driver_hourly_stats' is not online"* ]]
    assert_equal "$(stage_of 1)" "staging"
    run -0 fs promote eta 1 production --force
    assert_equal "$(stage_of 1)" "production"
}

@test "promote: the skew guard refuses production when a trained-on feature is gone" {
    models_repo
    register_eta --metric auc=0.9 >/dev/null
    fs promote eta 1 staging >/dev/null
    sed -i 's/  - driver_hourly_stats: \[conv_rate, acc_rate\]/  - driver_hourly_stats: [conv_rate]/; /{name: acc_rate, type: float32}/d' features/driver.yaml
    fs apply -q
    run -1 --separate-stderr fs promote eta 1 production
    [[ "$stderr" == *"skew: feature 'driver_hourly_stats:acc_rate' is no longer registered"* ]]
    assert_equal "$(stage_of 1)" "staging"
}

# Drop the `kind: model` document of eta from the definitions.
delete_model_definition() {
    python3 - features/driver.yaml <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
i = s.index("---\nkind: model\n")
open(p, "w").write(s[:i])
PY
}

# Replace eta's promotion gates by the YAML in $1 (indented under promotion:).
set_gates() {
    GATES=$1 python3 - features/driver.yaml <<'PY'
import os, sys
p = sys.argv[1]
s = open(p).read()
i = s.index("promotion:\n")
open(p, "w").write(s[:i] + "promotion:\n" + os.environ["GATES"])
PY
}

@test "promote: a model whose definition was deleted is refused into staging and production" {
    models_repo
    register_eta --metric auc=0.1 >/dev/null
    delete_model_definition
    fs apply -q
    run -0 fs ls model --json
    assert_equal "$(jq -c '[.objects[] | select(.name == "eta")]' <<<"$output")" "[]"
    local log
    log=$(fs models log eta --json)
    for stage in staging production; do
        run -128 --separate-stderr fs promote eta 1 $stage
        assert_output ""
        assert_equal "$stderr" "fatal: model 'eta': its definition is not applied, so its promotion gates cannot be checked; apply it with 'fs apply', or use --force"
    done
    assert_equal "$(stage_of 1)" "none"
    assert_equal "$(fs models log eta --json)" "$log"
    # leaving service is always allowed
    run -0 --separate-stderr fs promote eta 1 archived
    assert_equal "$stderr" ""
    assert_equal "$(stage_of 1)" "archived"
    run -0 fs promote eta 1 none
    assert_equal "$(stage_of 1)" "none"
}

@test "promote: --force promotes a model whose definition was deleted, recorded as forced" {
    models_repo
    register_eta --metric auc=0.1 >/dev/null
    delete_model_definition
    fs apply -q
    run -0 --separate-stderr fs promote eta 1 staging --force --json
    assert_equal "$(jq -c '[.from, .to, .forced, .unmet]' <<<"$output")" \
        "[\"none\",\"staging\",true,[\"definition: model 'eta' is not applied, its gates were not checked\"]]"
    assert_equal "$stderr" "warning: forced past: definition: model 'eta' is not applied, its gates were not checked"
    assert_equal "$(stage_of 1)" "staging"
    run -0 fs models log eta --json
    assert_equal "$(jq -c '.transitions[-1] | [.from, .to, .forced]' <<<"$output")" '["none","staging",true]'
}

@test "promote: gate operators > < <= == at their boundaries" {
    models_repo
    set_gates '  staging:
    metrics: {auc: "> 0.80", mae: "< 2", rmse: "<= 4.5", k: "== 3"}
'
    fs apply -q
    # every gate exactly at its boundary or just past it on the wrong side
    register_eta --metric auc=0.80 --metric mae=2 --metric rmse=4.5000001 --metric k=3.0000001 >/dev/null
    run -1 --separate-stderr fs promote eta 1 staging
    assert_equal "$stderr" "error: promotion of model 'eta' version 1 to staging refused:
  - metric 'auc': 0.8 does not satisfy > 0.80
  - metric 'k': 3.0000001 does not satisfy == 3
  - metric 'mae': 2 does not satisfy < 2
  - metric 'rmse': 4.5000001 does not satisfy <= 4.5
hint: fix the causes, or use --force (recorded in 'fs models log')"
    assert_equal "$(stage_of 1)" "none"
    # just below for == is unmet too
    register_eta --metric auc=0.9 --metric mae=1 --metric rmse=1 --metric k=2.9999999 >/dev/null
    run -1 --separate-stderr fs promote eta 2 staging --json
    assert_equal "$(jq -c .unmet <<<"$output")" "[\"metric 'k': 2.9999999 does not satisfy == 3\"]"
    # every gate met at (or just inside) its boundary
    register_eta --metric auc=0.8000001 --metric mae=1.9999999 --metric rmse=4.5 --metric k=3 >/dev/null
    run -0 --separate-stderr fs promote eta 3 staging --json
    assert_equal "$(jq -c '[.to, .forced, .unmet]' <<<"$output")" '["staging",false,[]]'
    assert_equal "$stderr" ""
    assert_equal "$(stage_of 3)" "staging"
}

@test "promote: a gate failure prints the metric with every digit it has" {
    models_repo
    register_eta --metric auc=0.7999999 >/dev/null
    register_eta --metric auc=0.30000000000000004 >/dev/null
    fs promote eta 1 staging --keep-existing >/dev/null
    fs promote eta 2 staging --keep-existing >/dev/null
    run -1 --separate-stderr fs promote eta 1 production
    [[ "$stderr" == *"  - metric 'auc': 0.7999999 does not satisfy >= 0.80"* ]]
    run -1 --separate-stderr fs promote eta 2 production
    [[ "$stderr" == *"  - metric 'auc': 0.30000000000000004 does not satisfy >= 0.80"* ]]
}

@test "promote: the skew guard refuses production when the trained-on view was deleted" {
    models_repo
    register_eta --metric auc=0.9 >/dev/null
    fs promote eta 1 staging >/dev/null
    # the service now reads a renamed copy; driver_hourly_stats is gone
    sed -i 's/^name: driver_hourly_stats$/name: driver_stats_v2/; s/  - driver_hourly_stats: /  - driver_stats_v2: /' features/driver.yaml
    fs apply -q
    run -0 fs ls feature_view --json
    assert_equal "$(jq -c '[.objects[].name]' <<<"$output")" '["driver_stats_v2","driver_trip_stats"]'
    run -1 --separate-stderr fs promote eta 1 production
    [[ "$stderr" == *"  - skew: feature_view 'driver_hourly_stats' is no longer registered"* ]]
    assert_equal "$(stage_of 1)" "staging"
    run -0 --separate-stderr fs promote eta 1 production --force --reason "view renamed"
    [[ "$stderr" == *"warning: forced past: skew: feature_view 'driver_hourly_stats' is no longer registered"* ]]
    assert_equal "$(stage_of 1)" "production"
    run -0 fs models log eta --json
    assert_equal "$(jq -c '.transitions[-1] | [.from, .to, .reason, .forced]' <<<"$output")" \
        '["staging","production","view renamed",true]'
}

@test "promote: into production waits for a running apply (the apply lock)" {
    models_repo
    register_eta --metric auc=0.9 >/dev/null
    fs promote eta 1 staging >/dev/null
    # hold the lock fs apply holds from reading the registry to writing it
    flock .fs/registry.db.lock sleep 2 &
    track_pid $!
    sleep 0.3
    local t0 t1
    t0=$(date +%s.%N)
    run -0 fs promote eta 1 production
    t1=$(date +%s.%N)
    python3 -c "import sys; sys.exit(0 if $t1 - $t0 >= 1.2 else 1)"
    assert_equal "$(stage_of 1)" "production"
    # staging does not wait
    register_eta --metric auc=0.9 >/dev/null
    flock .fs/registry.db.lock sleep 2 &
    track_pid $!
    sleep 0.3
    t0=$(date +%s.%N)
    run -0 fs promote eta 2 staging
    t1=$(date +%s.%N)
    python3 -c "import sys; sys.exit(0 if $t1 - $t0 < 1.2 else 1)"
}
