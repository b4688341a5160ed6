#!/usr/bin/env bats
# register-model: numbered versions, the content-addressed artifact store,
# metrics/params/tags, lineage, http artifacts, concurrent registrations.

load test_helper
load lib-models

@test "register-model: prints version 1, then 2 and 3 without gaps" {
    models_repo
    echo one > m1.bin
    echo two > m2.bin
    echo three > m3.bin
    run -0 --separate-stderr fs register-model eta --artifact m1.bin
    assert_output "1"
    assert_equal "$stderr" ""
    run -0 fs register-model eta --artifact m2.bin
    assert_output "2"
    run -0 fs register-model eta --artifact m3.bin
    assert_output "3"
    run -0 fs models eta --json
    assert_equal "$(jq -c '[.versions[].version]' <<<"$output")" "[1,2,3]"
    assert_equal "$(jq -r '[.versions[].stage] | unique | join(",")' <<<"$output")" "none"
}

@test "register-model: --json prints the whole version" {
    models_repo
    echo weights > model.pkl
    run -0 --separate-stderr fs register-model eta --artifact model.pkl --metric auc=0.86 --json
    jq -e . <<<"$output" >/dev/null
    assert_equal "$(jq -r '[keys[]] | sort | join(",")' <<<"$output")" \
        "artifact,author,created_at,description,lineage,metrics,model,params,stage,tags,version"
    assert_equal "$(jq -r '.model' <<<"$output")" "eta"
    assert_equal "$(jq -r '.version' <<<"$output")" "1"
    assert_equal "$(jq -r '.stage' <<<"$output")" "none"
    assert_equal "$(jq -r '.artifact | [keys[]] | sort | join(",")' <<<"$output")" "path,sha256,size,uri"
    assert_equal "$(jq -r '.artifact.uri' <<<"$output")" "$PWD/model.pkl"
    assert_equal "$(jq -c '.metrics' <<<"$output")" '{"auc":0.86}'
    assert_equal "$(jq -r '.author' <<<"$output")" "Test User <test@example.com>"
    assert_equal "$(jq -r '.description' <<<"$output")" "null"
    [[ "$(jq -r '.created_at' <<<"$output")" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]]
    # the same object as `fs models --json` shows
    local shown
    shown=$(jq -S . <<<"$output")
    run -0 fs models eta --json
    assert_equal "$(jq -S '.versions[0]' <<<"$output")" "$shown"
}

@test "register-model: sha256 and size are those of the file" {
    models_repo
    head -c 100000 /dev/urandom > model.bin
    run -0 fs register-model eta --artifact model.bin --json
    assert_equal "$(jq -r '.artifact.sha256' <<<"$output")" "$(sha256sum model.bin | cut -d' ' -f1)"
    assert_equal "$(jq -r '.artifact.size' <<<"$output")" "$(stat -c %s model.bin)"
}

@test "register-model: the artifact is stored under .fs/artifacts/sha256/<2>/<64> with the same bytes" {
    models_repo
    head -c 70000 /dev/urandom > model.bin
    local sum
    sum=$(sha256sum model.bin | cut -d' ' -f1)
    run -0 fs register-model eta --artifact model.bin --json
    local stored=".fs/artifacts/sha256/${sum:0:2}/$sum"
    [ -f "$stored" ]
    cmp model.bin "$stored"
    assert_equal "$(jq -r '.artifact.path' <<<"$output")" "$PWD/$stored"
    # the stored copy survives the original
    rm model.bin
    [ "$(sha256sum "$stored" | cut -d' ' -f1)" = "$sum" ]
}

@test "register-model: the same content registered twice is stored once" {
    models_repo
    echo same > a.bin
    echo same > b.bin
    run -0 fs register-model eta --artifact a.bin
    assert_output "1"
    run -0 fs register-model eta --artifact b.bin
    assert_output "2"
    run -0 find .fs/artifacts -type f
    assert_equal "${#lines[@]}" 1
    run -0 fs models eta --json
    assert_equal "$(jq -r '[.versions[].artifact.sha256] | unique | length' <<<"$output")" "1"
    assert_equal "$(jq -r '[.versions[].artifact.uri] | join(" ")' <<<"$output")" "$PWD/a.bin $PWD/b.bin"
}

@test "register-model: a metric that is not a number is a usage error and creates no version" {
    models_repo
    echo m > m.bin
    run -129 --separate-stderr fs register-model eta --artifact m.bin --metric auc=abc
    [[ "$stderr" == *"metric 'auc': 'abc' is not a number"* ]]
    assert_output ""
    run -129 fs register-model eta --artifact m.bin --metric auc=
    run -129 fs register-model eta --artifact m.bin --metric auc=1x
    run -0 fs models eta --json
    assert_equal "$(jq '.versions | length' <<<"$output")" "0"
    [ ! -e .fs/artifacts/sha256 ] || [ -z "$(find .fs/artifacts -type f)" ]
}

@test "register-model: --metric without '=' is a usage error" {
    models_repo
    echo m > m.bin
    run -129 --separate-stderr fs register-model eta --artifact m.bin --metric auc
    [[ "$stderr" == *"--metric takes KEY=VALUE, not 'auc'"* ]]
    run -129 fs register-model eta --artifact m.bin --param lr
    run -0 fs models eta --json
    assert_equal "$(jq '.versions | length' <<<"$output")" "0"
}

@test "register-model: an unregistered model is fatal, names the fix and creates no version" {
    models_repo
    echo m > m.bin
    run -128 --separate-stderr fs register-model nosuch --artifact m.bin
    assert_equal "$stderr" "fatal: model 'nosuch' is not registered: add a 'kind: model' definition named 'nosuch' and run 'fs apply'"
    assert_output ""
    run -0 fs models --json
    assert_equal "$(jq '.versions | length' <<<"$output")" "0"
    [ -z "$(find .fs -path '*artifacts*' -type f 2>/dev/null)" ]
}

@test "register-model: a model defined but not applied is not registered" {
    init_repo
    echo m > m.bin
    run -128 --separate-stderr fs register-model eta --artifact m.bin
    [[ "$stderr" == "fatal: model 'eta' is not registered"*"run 'fs apply'" ]]
}

@test "register-model: params, tags and the description are recorded" {
    models_repo
    echo m > m.bin
    run -0 fs register-model eta --artifact m.bin --metric auc=0.9 --metric rmse=3.25 \
        --param lr=0.1 --param depth=6 --tag team=eta --tag "note=a=b" -m "weekly retrain"
    run -0 fs models eta --json
    local v
    v=$(jq -c '.versions[0]' <<<"$output")
    assert_equal "$(jq -c '.metrics' <<<"$v")" '{"auc":0.9,"rmse":3.25}'
    assert_equal "$(jq -c '.params' <<<"$v")" '{"depth":"6","lr":"0.1"}'
    assert_equal "$(jq -c '.tags' <<<"$v")" '{"note":"a=b","team":"eta"}'
    assert_equal "$(jq -r '.description' <<<"$v")" "weekly retrain"
    # params stay strings even when they look like numbers
    assert_equal "$(jq -r '.params.lr | type' <<<"$v")" "string"
    assert_equal "$(jq -r '.metrics.auc | type' <<<"$v")" "number"
}

@test "register-model: lineage records the feature service, views, registry version and commit" {
    models_repo
    # a second apply, so that the latest apply is not the first one
    sed -i 's/^description: Estimated time of arrival$/description: ETA in minutes/' features/driver.yaml
    fs apply -q -m "reword eta"
    echo m > m.bin
    run -0 fs register-model eta --artifact m.bin --json
    local lin
    lin=$(jq -c '.lineage' <<<"$output")
    assert_equal "$(jq -r '.feature_service' <<<"$lin")" "driver_activity_v1"
    assert_equal "$(jq -c '.feature_views' <<<"$lin")" \
        '[{"features":[{"name":"conv_rate","type":"float64"},{"name":"acc_rate","type":"float32"}],"name":"driver_hourly_stats","version":1}]'
    run -0 fs log --json
    local latest_version latest_commit
    latest_version=$(jq '[.applies[].registry_version] | max' <<<"$output")
    latest_commit=$(jq -r --argjson v "$latest_version" '.applies[] | select(.registry_version == $v) | .commit' <<<"$output")
    assert_equal "$latest_version" "2"
    assert_equal "$(jq -r '.registry_version' <<<"$lin")" "$latest_version"
    assert_equal "$(jq -r '.git_commit' <<<"$lin")" "$latest_commit"
    assert_equal "$(jq -r '.git_commit' <<<"$lin")" "$(git rev-parse HEAD)"
}

@test "register-model: lineage has the view version current at registration" {
    models_repo
    sed -i 's/^ttl: 1d$/ttl: 2d/' features/driver.yaml
    fs apply -q
    echo m > m.bin
    run -0 fs register-model eta --artifact m.bin --json
    assert_equal "$(jq -r '.lineage.feature_views[0].version' <<<"$output")" "2"
    assert_equal "$(jq -r '.lineage.registry_version' <<<"$output")" "2"
}

@test "register-model: an http artifact is downloaded and hashed" {
    models_repo
    mkdir "$BATS_TEST_TMPDIR/www"
    head -c 50000 /dev/urandom > "$BATS_TEST_TMPDIR/www/model.bin"
    start_http_server "$BATS_TEST_TMPDIR/www"
    local url="http://127.0.0.1:$HTTP_PORT/model.bin" sum
    sum=$(sha256sum "$BATS_TEST_TMPDIR/www/model.bin" | cut -d' ' -f1)
    run -0 fs register-model eta --artifact "$url" --json
    assert_equal "$(jq -r '.artifact.uri' <<<"$output")" "$url"
    assert_equal "$(jq -r '.artifact.sha256' <<<"$output")" "$sum"
    assert_equal "$(jq -r '.artifact.size' <<<"$output")" "50000"
    cmp "$BATS_TEST_TMPDIR/www/model.bin" ".fs/artifacts/sha256/${sum:0:2}/$sum"
}

@test "register-model: an http 404 is fatal, names the status and leaves nothing behind" {
    models_repo
    mkdir "$BATS_TEST_TMPDIR/www"
    start_http_server "$BATS_TEST_TMPDIR/www"
    local url="http://127.0.0.1:$HTTP_PORT/missing.bin"
    run -128 --separate-stderr fs register-model eta --artifact "$url"
    [[ "$stderr" == "fatal: "*"missing.bin"*"404"* ]]
    assert_output ""
    run -0 fs models eta --json
    assert_equal "$(jq '.versions | length' <<<"$output")" "0"
    run -0 fs models log eta --json
    assert_equal "$(jq '.transitions | length' <<<"$output")" "0"
    # no temporary file left in the artifact store
    assert_equal "$(find .fs/artifacts -type f 2>/dev/null | wc -l)" "0"
}

@test "register-model: a missing local file is fatal and creates no version" {
    models_repo
    run -128 --separate-stderr fs register-model eta --artifact nope.bin
    [[ "$stderr" == "fatal: cannot read artifact 'nope.bin'"* ]]
    run -0 fs models eta --json
    assert_equal "$(jq '.versions | length' <<<"$output")" "0"
}

@test "register-model: concurrent registrations get versions 1..8, each once" {
    models_repo
    local i pids=()
    for i in 1 2 3 4 5 6 7 8; do
        echo "model $i" > "m$i.bin"
    done
    for i in 1 2 3 4 5 6 7 8; do
        "$FS" register-model eta --artifact "m$i.bin" > "out$i" 2> "err$i" &
        pids+=($!)
    done
    for i in "${pids[@]}"; do
        wait "$i"
    done
    cat err* >&2
    assert_equal "$(cat out* | sort -n | tr '\n' ' ')" "1 2 3 4 5 6 7 8 "
    assert_equal "$(cat err*)" ""
    run -0 fs models eta --json
    assert_equal "$(jq -c '[.versions[].version]' <<<"$output")" "[1,2,3,4,5,6,7,8]"
    # each version points at its own file
    for i in 1 2 3 4 5 6 7 8; do
        local v
        v=$(cat "out$i")
        assert_equal "$(jq -r --argjson v "$v" '.versions[] | select(.version == $v) | .artifact.sha256' <<<"$output")" \
            "$(sha256sum "m$i.bin" | cut -d' ' -f1)"
    done
    run -0 fs models log eta --json
    assert_equal "$(jq '[.transitions[] | select(.to == "none")] | length' <<<"$output")" "8"
}

@test "register-model: a relative artifact path is relative to the current directory" {
    models_repo
    mkdir -p models/v1
    echo deep > models/v1/m.bin
    cd models/v1
    run -0 fs register-model eta --artifact m.bin --json
    assert_equal "$(jq -r '.artifact.uri' <<<"$output")" "$BATS_TEST_TMPDIR/repo/models/v1/m.bin"
    local sum
    sum=$(sha256sum m.bin | cut -d' ' -f1)
    cd ../..
    [ -f ".fs/artifacts/sha256/${sum:0:2}/$sum" ]
    [ ! -e models/v1/.fs ]
}
