#!/usr/bin/env bats
# serve-lite: the web UI's read-only JSON API under /api/v1/. Each endpoint
# answers what the matching command prints with --json (the same core
# code), so every test compares the two; then the errors (404 with a
# did-you-mean, 400, 405 with Allow), the token rule, odd paths, and a new
# apply seen without a restart.
#
# The shared "api" server's repo: serve_repo's (applied, materialized),
# then the entity driver's description changed and applied (two versions
# of it, registry version 2), and eta with two versions, promotions and an
# alias. The "auth" server has --token-file.

load test_helper
load lib-serve

TOK=tok-api-0123456789

setup_file() {
    shared_server api
    cd "$BATS_FILE_TMPDIR/api/repo"
    sed -i 's/^description: A driver of the ride-hailing service$/description: A driver, as the UI shows it/' \
        features/driver.yaml
    "$FS" apply -q -m "describe the driver"
    echo one > "$BATS_FILE_TMPDIR/m1.bin"
    echo two > "$BATS_FILE_TMPDIR/m2.bin"
    "$FS" register-model -q eta --artifact "$BATS_FILE_TMPDIR/m1.bin" --metric auc=0.85
    "$FS" register-model -q eta --artifact "$BATS_FILE_TMPDIR/m2.bin" --metric auc=0.9
    "$FS" promote -q eta 1 staging
    "$FS" promote -q eta 1 production --reason "better ETA"
    "$FS" promote -q eta 2 staging
    "$FS" alias -q eta champion 1
    printf '%s\n' "$TOK" > "$BATS_FILE_TMPDIR/tokens"
    shared_server auth --token-file "$BATS_FILE_TMPDIR/tokens"
}

teardown_file() { stop_shared_servers; }

# same_json ACTUAL EXPECTED: equal once both are sorted (jq -S).
same_json() {
    local a e
    a=$(jq -S . <<< "$1") || fail "not JSON: $1"
    e=$(jq -S . <<< "$2") || fail "not JSON: $2"
    [ "$a" = "$e" ] || fail "JSON differs
actual:   $(jq -S -c . <<< "$1")
expected: $(jq -S -c . <<< "$2")"
}

# The body of GET /api/v1/objects is fs ls --json with each object's spec
# (fs describe's) and the project (fs.yaml's).
objects_are_cli() {
    same_json "$(jq 'del(.registry_version, .last_apply, .project) | del(.objects[].spec)' <<< "$body")" \
        "$(fs ls --json)"
    local kind name
    while read -r kind name; do
        same_json "$(jq --arg k "$kind" --arg n "$name" '.objects[] | select(.kind == $k and .name == $n) | .spec' \
            <<< "$body")" "$(fs describe "$kind" "$name" --json | jq .spec)"
    done < <(fs ls --json | jq -r '.objects[] | "\(.kind) \(.name)"')
    assert_equal "$(jq -r .project <<< "$body")" "$(sed -n 's/^project: *//p' fs.yaml)"
}

# api PATH: GET /api/v1/PATH, which must answer 200 with a JSON object.
api() {
    http GET "/api/v1/$1"
    assert_code 200
    jq -e 'type == "object"' <<< "$body" > /dev/null || fail "not a JSON object: $body"
}

# ---- the endpoints, each against its command ----

@test "serve api: GET /api/v1/objects is fs ls --json with the specs, the project, the registry version and the newest apply" {
    use_server api
    api objects
    objects_are_cli
    same_json "$(jq .last_apply <<< "$body")" "$(fs log --json | jq '.applies[0]')"
    assert_equal "$(jq .registry_version <<< "$body")" 2
    assert_equal "$(jq -r .last_apply.summary <<< "$body")" "describe the driver"
    jq -e '.last_apply | (.commit | test("^[0-9a-f]{40}$")) and (.author | length > 0) and (.time | length > 0)' \
        <<< "$body" > /dev/null || fail "last_apply: $body"
    # every kind of init's sample is there
    assert_equal "$(jq -c '[.objects[].kind] | unique' <<< "$body")" \
        '["entity","feature_service","feature_view","model","source"]'
}

@test "serve api: GET /api/v1/objects/KIND/NAME is fs describe --json, with every version and its spec" {
    use_server api
    api objects/entity/driver
    same_json "$(jq 'del(.versions)' <<< "$body")" "$(fs describe entity driver --json)"
    assert_equal "$(jq '.versions | length' <<< "$body")" 2
    assert_equal "$(jq -c '[.versions[] | [.version, .op, .registry_version]]' <<< "$body")" \
        '[[1,"+",1],[2,"~",2]]'
    # the newest version's spec is the current one; the first has the old description
    jq -e '.versions[-1].spec == .spec' <<< "$body" > /dev/null || fail "$body"
    assert_equal "$(jq -r '.versions[0].spec.description' <<< "$body")" \
        "A driver of the ride-hailing service"
    assert_equal "$(jq -r '.versions[1].spec.description' <<< "$body")" "A driver, as the UI shows it"
    # each version's commit, time and author are those of its apply in fs log
    local log
    log=$(fs log --json)
    same_json "$(jq -c '[.versions[] | {registry_version, commit, time, author}]' <<< "$body")" \
        "$(jq -c '[.applies | reverse[] | {registry_version, commit, time, author}]' <<< "$log")"
    # an object changed once: one version
    api objects/feature_view/driver_hourly_stats
    same_json "$(jq 'del(.versions)' <<< "$body")" \
        "$(fs describe feature_view driver_hourly_stats --json)"
    assert_equal "$(jq -c '[.versions[] | [.version, .registry_version]]' <<< "$body")" '[[1,1]]'
}

@test "serve api: KIND as the CLI spells it, plurals too; feature-view is refused by both" {
    use_server api
    local k
    for k in entity source feature_view feature_service model; do
        name=$(fs ls "$k" --json | jq -r '.objects[0].name')
        api "objects/$k/$name"
        same_json "$(jq 'del(.versions)' <<< "$body")" "$(fs describe "$k" "$name" --json)"
    done
    api objects/feature_views/driver_hourly_stats
    assert_equal "$(jq -r .kind <<< "$body")" feature_view
    run -129 fs describe feature-view driver_hourly_stats
    http GET /api/v1/objects/feature-view/driver_hourly_stats
    assert_error 404 "unknown kind 'feature-view' (expected entity, source, feature_view, feature_service or model)"
}

@test "serve api: an object not registered is 404 with the CLI's did-you-mean" {
    use_server api
    http GET /api/v1/objects/feature_view/driver_hourly_stat
    assert_error 404 "no feature view 'driver_hourly_stat' is registered (did you mean 'driver_hourly_stats'?)"
    run -128 --separate-stderr fs describe feature_view driver_hourly_stat
    assert_equal "$(jq -r .error <<< "$body")" "${stderr#fatal: }"
    # a name of another kind is not found under this one
    http GET /api/v1/objects/entity/driver_hourly_stats
    assert_error 404 "no entity 'driver_hourly_stats' is registered"
    # defined in the working tree but not applied: said so
    cat > features/api-extra.yaml <<'EOF'
kind: entity
name: rider
join_key: rider_id
type: int64
EOF
    # (the server reads the working tree at most once a second: the last read may predate the file)
    local i
    for i in $(seq 30); do
        http GET /api/v1/objects/entity/rider
        [[ "$body" == *"not applied"* ]] && break
        sleep 0.1
    done
    rm features/api-extra.yaml
    assert_error 404 "entity 'rider' is defined in features/api-extra.yaml but not applied; run 'fs apply'"
}

@test "serve api: GET /api/v1/models is fs models --json" {
    use_server api
    api models
    same_json "$body" "$(fs models --json)"
    assert_equal "$(jq -c '[.versions[] | [.model, .version, .stage, .aliases]]' <<< "$body")" \
        '[["eta",1,"production",["champion"]],["eta",2,"staging",[]]]'
}

@test "serve api: GET /api/v1/models/NAME is fs models NAME --json with fs models log NAME --json" {
    use_server api
    api models/eta
    same_json "$(jq '{versions}' <<< "$body")" "$(fs models eta --json)"
    same_json "$(jq 'del(.versions)' <<< "$body")" "$(fs models log eta --json)"
    assert_equal "$(jq -c '[.transitions[] | [.version, .to]]' <<< "$body")" \
        '[[1,"none"],[2,"none"],[1,"staging"],[1,"production"],[2,"staging"]]'
    assert_equal "$(jq -r '.transitions[3].reason' <<< "$body")" "better ETA"
    assert_equal "$(jq -c '[.alias_changes[] | [.alias, .version, .previous]]' <<< "$body")" \
        '[["champion",1,null]]'
    assert_equal "$(jq -r .model <<< "$body")" eta
}

@test "serve api: a model not registered is 404 with the CLI's did-you-mean" {
    use_server api
    http GET /api/v1/models/et
    assert_error 404 "unknown model 'et' (did you mean 'eta'?)"
    run -128 --separate-stderr fs models et
    assert_equal "$(jq -r .error <<< "$body")" "${stderr#fatal: }"
    http GET /api/v1/models/zzzzzzzz
    assert_error 404 "unknown model 'zzzzzzzz'"
}

@test "serve api: GET /api/v1/log is fs log --json, ?n=N as fs log -n N" {
    use_server api
    api log
    same_json "$body" "$(fs log --json)"
    assert_equal "$(jq '.applies | length' <<< "$body")" 2
    api 'log?n=1'
    same_json "$body" "$(fs log -n 1 --json)"
    assert_equal "$(jq -c '[.applies[].registry_version]' <<< "$body")" '[2]'
    api 'log?n=0'
    same_json "$body" '{"applies": []}'
    api 'log?n=99'
    same_json "$body" "$(fs log --json)"
    local n
    for n in x -1 1x '' 99999999999999999999999; do
        http GET "/api/v1/log?n=$n"
        assert_error 400 "n: '$n' is not a count (expected 0 or more)"
    done
}

@test "serve api: GET /api/v1/status is fs status --json" {
    use_server api
    local cli
    cli=$(fs status --json)
    api status
    # staleness counts seconds: the two may be a second or two apart
    same_json "$(jq 'del(.views[].staleness_seconds)' <<< "$body")" \
        "$(jq 'del(.views[].staleness_seconds)' <<< "$cli")"
    jq -e --argjson c "$cli" '[.views, $c.views] | transpose | all(.[0].staleness_seconds as $a | .[1].staleness_seconds as $b
        | ($a == null and $b == null) or ($a - $b | fabs) <= 3)' <<< "$body" > /dev/null ||
        fail "staleness differs: $body vs $cli"
    # materialized: driver_hourly_stats has its three keys
    assert_equal "$(jq '.views[] | select(.name == "driver_hourly_stats") | .keys' <<< "$body")" 3
    jq -e '.streams | type == "array"' <<< "$body" > /dev/null || fail "$body"
}

@test "serve api: answers are application/json" {
    use_server api
    local p
    for p in objects objects/entity/driver models models/eta log status nope; do
        run -0 curl -s -D - -o /dev/null "$URL/api/v1/$p"
        assert_output --partial "Content-Type: application/json"
    done
    # counted under one endpoint in /metrics
    [ "$(metric 'fs_requests_total{endpoint="/api/v1",code="200"}')" -ge 6 ] || fail "not counted"
    [ "$(metric 'fs_requests_total{endpoint="/api/v1",code="404"}')" -ge 1 ] || fail "not counted"
}

# ---- errors and odd paths ----

@test "serve api: a method other than GET is 405 with Allow: GET" {
    use_server api
    local m p
    for m in POST PUT DELETE PATCH; do
        for p in objects objects/entity/driver models models/eta log status; do
            http "$m" "/api/v1/$p"
            assert_error 405 "use GET"
        done
    done
    run -0 curl -s -D - -o /dev/null -X POST "$URL/api/v1/objects"
    assert_output --partial "Allow: GET"
    # HEAD too (no body comes back)
    run -0 curl -s -I -o /dev/null -w '%{http_code}' "$URL/api/v1/objects"
    assert_output 405
    # an unknown path is 404 whatever the method
    http POST /api/v1/nope
    assert_error 404 "no such endpoint"
}

@test "serve api: unknown paths, trailing slashes and empty segments are 404 'no such endpoint'" {
    use_server api
    local p
    for p in /api/v1/ /api/v1 /api/v1/nope /api/v1/objects/ /api/v1//objects /api/v1/objects//driver \
        /api/v1/objects/entity /api/v1/objects/entity/ /api/v1/objects/entity/driver/ \
        /api/v1/objects/entity/driver/extra /api/v1/objects/entity//driver /api/v1/models/ \
        /api/v1/models/eta/ /api/v1/models/eta/versions /api/v1/log/ /api/v1/status/x \
        /api/v1/OBJECTS /api/v2/objects /api/objects '/api/v1/?n=1' /api/v1/a/b/c/d/e/f; do
        http GET "$p"
        assert_error 404 "no such endpoint"
    done
}

@test "serve api: path segments are percent-decoded; a decoded '/' splits them" {
    use_server api
    api objects/entity/%64river
    assert_equal "$(jq -r .name <<< "$body")" driver
    api objects/%65ntity/driver
    assert_equal "$(jq -r .kind <<< "$body")" entity
    http GET /api/v1/objects/entity/dri%2Fver
    assert_error 404 "no such endpoint"
    http GET /api/v1/objects/entity/dri%20ver
    assert_error 404 "no entity 'dri ver' is registered"
    http GET '/api/v1/objects/entity/%ZZ'
    [ "$code" = 400 ] || [ "$code" = 404 ] || fail "expected 400 or 404, got $code: $body"
    assert_healthy
}

@test "serve api: very long names and paths do not crash the server" {
    use_server api
    local long
    long=$(head -c 3000 /dev/zero | tr '\0' a)
    http GET "/api/v1/objects/entity/$long"
    assert_error 404 "is registered"
    http GET "/api/v1/models/$long"
    assert_error 404 "unknown model"
    http GET "/api/v1/objects/$long/x"
    assert_error 404 "unknown kind"
    # past what the server reads of a request line: refused, still healthy
    long=$(head -c 100000 /dev/zero | tr '\0' a)
    run -0 curl -s -o /dev/null -w '%{http_code}' "$URL/api/v1/objects/entity/$long"
    [[ "$output" == 4* ]] || fail "expected a 4xx, got $output"
    assert_healthy
    # many segments
    http GET "/api/v1/$(printf 'x/%.0s' $(seq 500))x"
    assert_error 404 "no such endpoint"
}

# ---- the token rule ----

@test "serve api: with --token-file every endpoint needs the token" {
    use_server auth
    local p
    for p in objects objects/entity/driver models log status nope; do
        http GET "/api/v1/$p"
        assert_error 401 "unauthorized"
        http GET "/api/v1/$p" -H "Authorization: Bearer wrong"
        assert_error 401 "unauthorized"
    done
    AUTH=(-H "Authorization: Bearer $TOK")
    for p in objects objects/entity/driver models log status; do
        api "$p"
    done
    api objects
    objects_are_cli
    http GET /api/v1/nope
    assert_error 404 "no such endpoint"
}

# ---- no restart ----

@test "serve api: a new apply and a new model version are answered without a restart" {
    init_repo
    fs apply -q
    start_server
    api objects/entity/driver
    assert_equal "$(jq '.versions | length' <<< "$body")" 1
    api objects
    assert_equal "$(jq .registry_version <<< "$body")" 1
    sed -i 's/^description: A driver of the ride-hailing service$/description: changed/' features/driver.yaml
    fs apply -q -m "change the driver"
    # the registry is read at each request: no wait
    api objects/entity/driver
    assert_equal "$(jq '.versions | length' <<< "$body")" 2
    assert_equal "$(jq -r .spec.description <<< "$body")" changed
    api objects
    assert_equal "$(jq .registry_version <<< "$body")" 2
    assert_equal "$(jq -r .last_apply.summary <<< "$body")" "change the driver"
    api log
    same_json "$body" "$(fs log --json)"
    api models
    assert_equal "$(jq '.versions | length' <<< "$body")" 0
    echo m > m.bin
    fs register-model -q eta --artifact m.bin
    api models
    assert_equal "$(jq '.versions | length' <<< "$body")" 1
    api models/eta
    same_json "$(jq 'del(.versions)' <<< "$body")" "$(fs models log eta --json)"
}

@test "serve api: before the first apply: no objects, registry version 0, no last apply" {
    init_repo
    start_server
    api objects
    same_json "$body" '{"objects": [], "project": "repo", "registry_version": 0, "last_apply": null}'
    api log
    same_json "$body" "$(fs log --json)"
    api models
    same_json "$body" '{"versions": []}'
    http GET /api/v1/objects/entity/driver
    assert_error 404 "entity 'driver' is defined in features/driver.yaml but not applied; run 'fs apply'"
}
