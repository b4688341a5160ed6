#!/usr/bin/env bats
# models: the version list, its JSON, the audit trail (models log) and the
# stages at a past time (--at).

load test_helper
load lib-models

now_rfc3339() { date -u +%Y-%m-%dT%H:%M:%SZ; }

@test "models: one row per version with stage, time, digest and metrics" {
    models_repo
    echo one > m1.bin
    echo two > m2.bin
    fs register-model eta --artifact m1.bin --metric auc=0.85 --metric rmse=4 >/dev/null
    fs register-model eta --artifact m2.bin >/dev/null
    fs promote eta 2 staging >/dev/null
    local sum1 sum2
    sum1=$(sha256sum m1.bin | cut -c1-12)
    sum2=$(sha256sum m2.bin | cut -c1-12)
    run -0 --separate-stderr fs models
    assert_equal "${#lines[@]}" 2
    assert_line -n 0 --regexp "^eta +v1 +none +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z sha256:$sum1 auc=0.85 rmse=4\$"
    assert_line -n 1 --regexp "^eta +v2 +staging +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z sha256:$sum2\$"
    run -0 fs models eta
    assert_equal "${#lines[@]}" 2
}

@test "models: no versions prints nothing" {
    models_repo
    run -0 --separate-stderr fs models
    assert_output ""
    run -0 fs models --json
    assert_equal "$(jq -c . <<<"$output")" '{"versions":[]}'
}

@test "models: --json has every field of every version" {
    models_repo
    echo weights > model.pkl
    fs register-model eta --artifact model.pkl --metric auc=0.85 --param lr=0.1 --tag team=a -m "weekly retrain" >/dev/null
    run -0 fs models eta --json
    assert_equal "$(jq -r 'keys | join(",")' <<<"$output")" "versions"
    assert_equal "$(jq '.versions | length' <<<"$output")" "1"
    local v sum
    v=$(jq -c '.versions[0]' <<<"$output")
    sum=$(sha256sum model.pkl | cut -d' ' -f1)
    assert_equal "$(jq -c '{model, version, stage, metrics, params, tags, description, author}' <<<"$v")" \
        '{"model":"eta","version":1,"stage":"none","metrics":{"auc":0.85},"params":{"lr":"0.1"},"tags":{"team":"a"},"description":"weekly retrain","author":"Test User <test@example.com>"}'
    assert_equal "$(jq -c '.artifact' <<<"$v")" \
        "{\"uri\":\"$PWD/model.pkl\",\"sha256\":\"$sum\",\"size\":8,\"path\":\"$PWD/.fs/artifacts/sha256/${sum:0:2}/$sum\",\"kind\":\"file\"}"
    assert_equal "$(jq -r '.lineage | keys | join(",")' <<<"$v")" "feature_service,feature_views,git_commit,registry_version"
    assert_equal "$(jq -r '.lineage.feature_views[0] | keys | join(",")' <<<"$v")" "features,name,version"
    [[ "$(jq -r '.created_at' <<<"$v")" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]]
}

@test "models log: registrations and transitions oldest first, with author and reason" {
    models_repo
    register_eta --metric auc=0.9 >/dev/null
    register_eta --metric auc=0.9 >/dev/null
    fs promote eta 1 staging --reason "first candidate" >/dev/null
    GIT_AUTHOR_NAME="Ada Lovelace" GIT_AUTHOR_EMAIL="ada@example.com" \
        fs promote eta 1 production --reason "beats baseline" >/dev/null
    fs promote eta 2 staging >/dev/null
    run -0 --separate-stderr fs models log eta --json
    assert_equal "$(jq -r '.model' <<<"$output")" "eta"
    assert_equal "$(jq -c '[.transitions[] | [.version, .from, .to, .author, .reason, .forced]]' <<<"$output")" \
        '[[1,null,"none","Test User <test@example.com>","registered",false],[2,null,"none","Test User <test@example.com>","registered",false],[1,"none","staging","Test User <test@example.com>","first candidate",false],[1,"staging","production","Ada Lovelace <ada@example.com>","beats baseline",false],[2,"none","staging","Test User <test@example.com>",null,false]]'
    assert_equal "$(jq -r '.transitions[0] | keys | join(",")' <<<"$output")" "at,at_unix,author,forced,from,reason,to,version"
    # at and at_unix agree, and never go backwards
    local t
    for t in $(jq -r '.transitions[] | "\(.at_unix)=\(.at)"' <<<"$output"); do
        assert_equal "$(date -u -d "@${t%%=*}" +%Y-%m-%dT%H:%M:%SZ)" "${t#*=}"
    done
    assert_equal "$(jq '[.transitions[].at_unix] | . == sort' <<<"$output")" "true"
}

@test "models log: the text form shows each step oldest first" {
    models_repo
    register_eta --metric auc=0.5 >/dev/null
    fs promote eta 1 staging --reason "try it" >/dev/null
    fs promote eta 1 production --force --reason "urgent" >/dev/null 2>&1
    run -0 --separate-stderr fs models log eta
    assert_line -n 0 --regexp '^[0-9TZ:-]+  v1  \(new\) -> none  by Test User <test@example.com>  "registered"$'
    assert_line -n 1 --regexp '^[0-9TZ:-]+  v1  none -> staging  by Test User <test@example.com>  "try it"$'
    assert_line -n 2 --regexp '^[0-9TZ:-]+  v1  staging -> production  by Test User <test@example.com>  "urgent"$'
    assert_line -n 3 --partial "forced"
    assert_equal "${#lines[@]}" 4
}

@test "models log: the author comes from git config" {
    models_repo
    git config user.name "Repo Person"
    git config user.email "repo@example.com"
    register_eta >/dev/null
    run -0 fs models log eta --json
    assert_equal "$(jq -r '.transitions[0].author' <<<"$output")" "Repo Person <repo@example.com>"
    run -0 fs models eta --json
    assert_equal "$(jq -r '.versions[0].author' <<<"$output")" "Repo Person <repo@example.com>"
}

@test "models --at: which version held each stage at each moment" {
    models_repo
    local t0 t1 t2 t3 t4
    t0=$(now_rfc3339)
    sleep 1
    register_eta --metric auc=0.9 >/dev/null
    register_eta --metric auc=0.9 >/dev/null
    fs promote eta 1 staging >/dev/null
    t1=$(now_rfc3339)
    sleep 1
    fs promote eta 1 production >/dev/null
    t2=$(now_rfc3339)
    sleep 1
    fs promote eta 2 staging >/dev/null
    t3=$(now_rfc3339)
    sleep 1
    fs promote eta 2 production >/dev/null
    t4=$(now_rfc3339)

    run -0 fs models eta --at "$t0" --json
    assert_equal "$(jq -c '.stages' <<<"$output")" '{"none":[],"staging":[],"production":[],"archived":[]}'
    run -0 fs models eta --at "$t1" --json
    assert_equal "$(jq -c '.stages' <<<"$output")" '{"none":[2],"staging":[1],"production":[],"archived":[]}'
    run -0 fs models eta --at "$t2" --json
    assert_equal "$(jq -c '.stages' <<<"$output")" '{"none":[2],"staging":[],"production":[1],"archived":[]}'
    run -0 fs models eta --at "$t3" --json
    assert_equal "$(jq -c '.stages' <<<"$output")" '{"none":[],"staging":[2],"production":[1],"archived":[]}'
    run -0 fs models eta --at "$t4" --json
    assert_equal "$(jq -c '.stages' <<<"$output")" '{"none":[],"staging":[],"production":[2],"archived":[1]}'
    run -0 fs models eta --at now --json
    assert_equal "$(jq -c '.stages' <<<"$output")" '{"none":[],"staging":[],"production":[2],"archived":[1]}'

    # the text form
    run -0 fs models eta --at "$t3"
    assert_equal "$output" "$(printf 'none        -\nstaging     v2\nproduction  v1\narchived    -')"
}

@test "models --at: the JSON shape" {
    models_repo
    register_eta >/dev/null
    run -0 --separate-stderr fs models eta --at 2020-01-01 --json
    assert_equal "$(jq -c . <<<"$output")" \
        '{"model":"eta","at":"2020-01-01T00:00:00Z","stages":{"none":[],"staging":[],"production":[],"archived":[]},"aliases":{}}'
    run -0 fs models eta --at 2020-01-01T10:00:00+02:00 --json
    assert_equal "$(jq -r '.at' <<<"$output")" "2020-01-01T08:00:00Z"
    run -0 fs models eta --at now-1h --json
    assert_equal "$(jq -c '.stages.none' <<<"$output")" "[]"
    run -0 fs models eta --at now --json
    assert_equal "$(jq -c '.stages.none' <<<"$output")" "[1]"
}

@test "models --at: a bad time or a missing name is a usage error" {
    models_repo
    register_eta >/dev/null
    run -129 --separate-stderr fs models eta --at yesterday-ish
    [[ "$stderr" == *"bad time 'yesterday-ish'"* ]]
    assert_output ""
    run -129 fs models eta --at 2024-13-45
    run -129 fs models --at now
    run -129 fs models eta --at
}

@test "models: an unknown model is fatal, with a suggestion when a name is close" {
    models_repo
    run -128 --separate-stderr fs models log nosuch
    assert_output ""
    assert_equal "$stderr" "fatal: unknown model 'nosuch': no model of that name is defined or has versions"
    run -128 --separate-stderr fs models nosuch --at now
    assert_output ""
    assert_equal "$stderr" "fatal: unknown model 'nosuch': no model of that name is defined or has versions"
    run -128 --separate-stderr fs models nosuch --json
    assert_output ""
    assert_equal "$stderr" '{"error": "unknown model '"'nosuch'"': no model of that name is defined or has versions", "code": 128}'
    run -128 --separate-stderr fs models log ets
    assert_equal "$stderr" "fatal: unknown model 'ets' (did you mean 'eta'?)"
    run -128 --separate-stderr fs models ets --at now
    assert_equal "$stderr" "fatal: unknown model 'ets' (did you mean 'eta'?)"
}

@test "models: a defined model without versions, or versions without a definition, is known" {
    models_repo
    run -0 --separate-stderr fs models log eta
    assert_output ""
    assert_equal "$stderr" ""
    run -0 fs models eta --at now --json
    assert_equal "$(jq -c .stages <<<"$output")" '{"none":[],"staging":[],"production":[],"archived":[]}'
    register_eta >/dev/null
    # the definition deleted: its versions keep the name known
    python3 -c 'import sys
p = "features/driver.yaml"; s = open(p).read()
open(p, "w").write(s[:s.index("---\nkind: model\n")])'
    fs apply -q
    run -0 fs models log eta --json
    assert_equal "$(jq -c '[.transitions[] | .to]' <<<"$output")" '["none"]'
    run -0 fs models eta --at now --json
    assert_equal "$(jq -c .stages.none <<<"$output")" '[1]'
    run -128 --separate-stderr fs models log etb
    assert_equal "$stderr" "fatal: unknown model 'etb' (did you mean 'eta'?)"
}

@test "models --json: metrics print as the shortest text that reads back the same" {
    models_repo
    register_eta --metric auc=0.85 --metric rmse=0.1 --metric p=0.30000000000000004 --metric n=3 >/dev/null
    run -0 fs models eta --json
    [[ "$output" == *'"auc": 0.85,'* ]]
    [[ "$output" == *'"rmse": 0.1'* ]]
    [[ "$output" == *'"p": 0.30000000000000004,'* ]]
    [[ "$output" != *"0.8499999"* ]]
    # every number reads back as what was registered
    assert_equal "$(python3 -c 'import json, sys; m = json.load(sys.stdin)["versions"][0]["metrics"]
print(m["auc"] == 0.85, m["p"] == 0.1 + 0.2, m["n"] == 3.0)' <<<"$output")" "True True True"
    run -0 fs register-model eta --artifact fs.yaml --metric auc=0.85 --json
    [[ "$output" == *'"auc": 0.85'* ]]
    [[ "$output" != *"0.8499999"* ]]
    # the text form too
    run -0 fs models eta
    [[ "${lines[0]}" == *" auc=0.85 n=3 p=0.30000000000000004 rmse=0.1" ]]
    # and the documented example is what fs prints
    grep -q '"metrics": {"auc": 0.85}' "$FS_SOURCE_ROOT/Documentation/fs-models.adoc"
    assert_equal "$(grep -c '": 0\.8499' "$FS_SOURCE_ROOT/Documentation/fs-models.adoc")" "0"
}

@test "models: serve-lite's /models/NAME/STAGE prints metrics as registered" {
    models_repo
    register_eta --metric auc=0.85 --metric p=0.30000000000000004 >/dev/null
    fs promote eta 1 staging >/dev/null
    : > serve.out # there before the first read
    "$FS" serve-lite --port 0 > serve.out 2> serve.err &
    track_pid $!
    local port i
    for i in $(seq 100); do
        port=$(sed -n 's|^fs serve-lite listening on http://.*:\([0-9][0-9]*\)$|\1|p' serve.out)
        [ -n "$port" ] && break
        sleep 0.1
    done
    [ -n "$port" ]
    run -0 curl -sf "http://127.0.0.1:$port/models/eta/staging"
    [[ "$output" == *'"metrics":{"auc":0.85,"p":0.30000000000000004}'* ]]
    assert_equal "$(jq -c '[.version, .stage]' <<<"$output")" '[1,"staging"]'
}
