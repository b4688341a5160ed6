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
        "aliases,artifact,author,created_at,description,lineage,metrics,model,params,stage,tags,version"
    assert_equal "$(jq -r '.model' <<<"$output")" "eta"
    assert_equal "$(jq -r '.version' <<<"$output")" "1"
    assert_equal "$(jq -r '.stage' <<<"$output")" "none"
    assert_equal "$(jq -r '.artifact | [keys[]] | sort | join(",")' <<<"$output")" "kind,path,sha256,size,uri"
    assert_equal "$(jq -r '.artifact.kind' <<<"$output")" "file"
    assert_equal "$(jq -c '.aliases' <<<"$output")" "[]"
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

@test "register-model: without --artifact is a usage error naming it" {
    models_repo
    run -129 --separate-stderr fs register-model eta
    assert_output ""
    assert_equal "${stderr_lines[0]}" "error: --artifact is required"
    assert_equal "${stderr_lines[1]}" "usage: fs register-model <name> --artifact <path|url> [--metric <key=value>]..."
    # the artifact as a second argument, as a newcomer types it
    echo m > m.pkl
    run -129 --separate-stderr fs register-model eta m.pkl
    assert_output ""
    assert_equal "${stderr_lines[0]}" "error: --artifact is required (fs register-model eta --artifact m.pkl)"
    [ -z "$(find .fs/artifacts -type f 2>/dev/null)" ]
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

@test "register-model: artifact_store in fs.yaml, relative to the repo root, stored without '..'" {
    models_repo
    echo 'artifact_store: models/../store/./artifacts' >> fs.yaml
    fs apply -q
    mkdir sub
    echo weights > sub/m.bin
    cd sub
    run -0 --separate-stderr fs register-model eta --artifact m.bin --json
    cd ..
    local sum root
    sum=$(sha256sum sub/m.bin | cut -d' ' -f1)
    root=$(realpath .)
    assert_equal "$(jq -r '.artifact.path' <<<"$output")" "$root/store/artifacts/sha256/${sum:0:2}/$sum"
    cmp sub/m.bin "store/artifacts/sha256/${sum:0:2}/$sum"
    # relative to the root, not to the current directory, and not the default store
    [ ! -e sub/store ]
    [ ! -e .fs/artifacts/sha256 ]
    run -0 fs models eta --json
    assert_equal "$(jq -r '.versions[0].artifact.path' <<<"$output")" "$root/store/artifacts/sha256/${sum:0:2}/$sum"
}

@test "register-model: an absolute artifact_store, through a symlink, is stored as its real path" {
    models_repo
    mkdir -p "$BATS_TEST_TMPDIR/real/store"
    ln -s "$BATS_TEST_TMPDIR/real" "$BATS_TEST_TMPDIR/link"
    echo "artifact_store: $BATS_TEST_TMPDIR/link/x/../store" >> fs.yaml
    fs apply -q
    echo weights > m.bin
    run -0 fs register-model eta --artifact m.bin --json
    local sum want
    sum=$(sha256sum m.bin | cut -d' ' -f1)
    want="$(realpath "$BATS_TEST_TMPDIR/real/store")/sha256/${sum:0:2}/$sum"
    assert_equal "$(jq -r '.artifact.path' <<<"$output")" "$want"
    cmp m.bin "$want"
    [ ! -e .fs/artifacts/sha256 ]
}

@test "register-model: an artifact_store that cannot be created is fatal and creates no version" {
    models_repo
    echo 'artifact_store: fs.yaml/store' >> fs.yaml
    fs apply -q
    run -128 --separate-stderr fs register-model eta --artifact fs.yaml
    assert_equal "$stderr" "fatal: cannot create artifact store '$PWD/fs.yaml/store': Not a directory"
    run -0 fs models eta --json
    assert_equal "$(jq '.versions | length' <<<"$output")" "0"
}

@test "register-model: a stored artifact keeps its source's readability: 0644 less the umask, or 0600" {
    models_repo
    echo one > m1.bin
    echo two > m2.bin
    echo four > m4.bin
    chmod 600 m1.bin
    chmod 644 m2.bin
    chmod 640 m4.bin
    # not readable by others: stays so
    run -0 fs register-model eta --artifact m1.bin --json
    assert_equal "$(stat -c %a "$(jq -r .artifact.path <<<"$output")")" "600"
    run -0 fs register-model eta --artifact m4.bin --json
    assert_equal "$(stat -c %a "$(jq -r .artifact.path <<<"$output")")" "600"
    run -0 bash -c 'umask 027 && "$FS" register-model eta --artifact m2.bin --json'
    assert_equal "$(stat -c %a "$(jq -r .artifact.path <<<"$output")")" "640"
    chmod 666 m2.bin
    echo more >> m2.bin
    run -0 fs register-model eta --artifact m2.bin --json
    assert_equal "$(stat -c %a "$(jq -r .artifact.path <<<"$output")")" "644"
    # an http download too
    mkdir "$BATS_TEST_TMPDIR/www"
    echo three > "$BATS_TEST_TMPDIR/www/m3.bin"
    start_http_server "$BATS_TEST_TMPDIR/www"
    run -0 fs register-model eta --artifact "http://127.0.0.1:$HTTP_PORT/m3.bin" --json
    assert_equal "$(stat -c %a "$(jq -r .artifact.path <<<"$output")")" "644"
    # no temporary file left behind
    assert_equal "$(find .fs/artifacts -name 'tmp-*' | wc -l)" "0"
}

@test "register-model: the temporary files of killed runs are removed by the next run" {
    models_repo
    echo one > m1.bin
    run -0 fs register-model eta --artifact m1.bin
    local dir=.fs/artifacts/sha256 dead
    sh -c 'exit 0' &
    dead=$!
    wait "$dead"
    printf 'partial' > "$dir/tmp-$dead-AbCdEf"
    printf 'partial' > "$dir/tmp-$$-XyZabc"       # a live process's: kept
    printf 'old' > "$dir/tmp-Q1w2E3"              # an older fs's, an hour old
    touch -d '2 hours ago' "$dir/tmp-Q1w2E3"
    printf 'new' > "$dir/tmp-R4t5Y6"              # an older fs's, just written: kept
    echo two > m2.bin
    run -0 fs register-model eta --artifact m2.bin
    [ ! -e "$dir/tmp-$dead-AbCdEf" ]
    [ ! -e "$dir/tmp-Q1w2E3" ]
    [ -e "$dir/tmp-$$-XyZabc" ]
    [ -e "$dir/tmp-R4t5Y6" ]
}

@test "register-model: hex, inf and out-of-range metrics are usage errors" {
    models_repo
    local m
    for m in 0x10 0X1p3 -0x1 inf nan infinity 1e400 -1e999; do
        run -129 --separate-stderr fs register-model eta --artifact fs.yaml --metric "auc=$m"
        assert_output ""
        [[ "$stderr" == "error: metric 'auc': '$m' is not a number (expected a finite decimal such as 0.85)"* ]]
    done
    run -0 fs models eta --json
    assert_equal "$(jq '.versions | length' <<<"$output")" "0"
}

@test "register-model: whitespace around keys or values is a usage error" {
    models_repo
    run -129 --separate-stderr fs register-model eta --artifact fs.yaml --metric "auc= 0.9"
    [[ "$stderr" == "error: metric 'auc': leading or trailing whitespace in 'auc= 0.9'"* ]]
    run -129 --separate-stderr fs register-model eta --artifact fs.yaml --metric "auc=0.9 "
    [[ "$stderr" == "error: metric 'auc': leading or trailing whitespace in 'auc=0.9 '"* ]]
    run -129 --separate-stderr fs register-model eta --artifact fs.yaml --metric " auc=0.9"
    [[ "$stderr" == "error: metric ' auc': leading or trailing whitespace in ' auc=0.9'"* ]]
    run -129 --separate-stderr fs register-model eta --artifact fs.yaml --param "lr =0.1"
    [[ "$stderr" == "error: param 'lr ': leading or trailing whitespace in 'lr =0.1'"* ]]
    run -129 --separate-stderr fs register-model eta --artifact fs.yaml --tag $'team=a\t'
    [[ "$stderr" == "error: tag 'team': leading or trailing whitespace in"* ]]
    # inner spaces are part of the value
    run -0 fs register-model eta --artifact fs.yaml --tag "owner=Ada Lovelace" --json
    assert_equal "$(jq -r '.tags.owner' <<<"$output")" "Ada Lovelace"
    run -0 fs models eta --json
    assert_equal "$(jq '.versions | length' <<<"$output")" "1"
}

@test "register-model: a key given twice is a usage error naming it" {
    models_repo
    run -129 --separate-stderr fs register-model eta --artifact fs.yaml --metric auc=0.9 --metric rmse=1 --metric auc=0.8
    [[ "$stderr" == "error: metric 'auc' given twice"* ]]
    run -129 --separate-stderr fs register-model eta --artifact fs.yaml --param lr=0.1 --param lr=0.1
    [[ "$stderr" == "error: param 'lr' given twice"* ]]
    run -129 --separate-stderr fs register-model eta --artifact fs.yaml --tag a=1 --tag a=2
    [[ "$stderr" == "error: tag 'a' given twice"* ]]
    # the same key in metrics and params is fine
    run -0 fs register-model eta --artifact fs.yaml --metric k=3 --param k=3 --json
    assert_equal "$(jq -c '[.metrics.k, .params.k]' <<<"$output")" '[3,"3"]'
}

@test "register-model: a metric below the smallest double is kept as the nearest number" {
    models_repo
    run -0 --separate-stderr fs register-model eta --artifact fs.yaml --metric p=1e-400 --metric q=4e-320 --json
    assert_equal "$stderr" ""
    assert_equal "$(jq -c '.metrics.p' <<<"$output")" "0"
    [[ "$output" == *'"p": 0.0,'* ]]
    [[ "$output" == *'"q": 4e-320'* ]]
}

@test "register-model: creation times follow version order even when a download is slow" {
    models_repo
    cat > "$BATS_TEST_TMPDIR/slow.py" <<'PY'
import http.server, os, sys, time
class Slow(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(2.5)
        body = b"slow weights\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
open(sys.argv[1] + ".tmp", "w").write(str(server.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()
PY
    python3 "$BATS_TEST_TMPDIR/slow.py" "$BATS_TEST_TMPDIR/slow.port" &
    track_pid $!
    wait_for_file "$BATS_TEST_TMPDIR/slow.port"
    # the slow registration starts first, the fast one gets its version first
    "$FS" register-model eta --artifact "http://127.0.0.1:$(cat "$BATS_TEST_TMPDIR/slow.port")/m.bin" > slow.out &
    local slow=$!
    sleep 1.2
    echo fast > fast.bin
    run -0 fs register-model eta --artifact fast.bin
    assert_output "1"
    wait "$slow"
    assert_equal "$(cat slow.out)" "2"
    run -0 fs models eta --json
    local c1 c2
    c1=$(date -u -d "$(jq -r '.versions[0].created_at' <<<"$output")" +%s)
    c2=$(date -u -d "$(jq -r '.versions[1].created_at' <<<"$output")" +%s)
    (( c2 >= c1 ))
    run -0 fs models log eta --json
    assert_equal "$(jq -c '[.transitions[].version]' <<<"$output")" "[1,2]"
    assert_equal "$(jq '.transitions[1].at_unix >= .transitions[0].at_unix' <<<"$output")" "true"
}

@test "register-model: a registry at schema version 1 is migrated on first use" {
    init_repo
    local fresh
    "$FS" apply -q
    fresh=$(sqlite3 .fs/registry.db 'PRAGMA user_version')
    (( fresh > 1 ))
    # what an fs from before the model registry left: objects and applies only
    sqlite3 .fs/registry.db 'DROP TABLE IF EXISTS model_alias_changes; DROP TABLE IF EXISTS model_aliases;
        DROP TABLE model_transitions; DROP TABLE model_versions;
        DROP TABLE IF EXISTS materializations; PRAGMA user_version = 1;'
    assert_equal "$(sqlite3 .fs/registry.db "SELECT count(*) FROM sqlite_master WHERE name LIKE 'model%'")" "0"
    run -0 --separate-stderr fs models --json
    assert_equal "$(jq -c . <<<"$output")" '{"versions":[]}'
    assert_equal "$(sqlite3 .fs/registry.db 'PRAGMA user_version')" "$fresh"
    echo weights > m.bin
    run -0 fs register-model eta --artifact m.bin --metric auc=0.9
    assert_output "1"
    run -0 fs promote eta 1 staging
    run -0 fs models log eta --json
    assert_equal "$(jq -c '[.transitions[].to]' <<<"$output")" '["none","staging"]'
    # the applied definitions survived the migration
    run -0 fs plan
    assert_output "No changes."
}

@test "register-model: a registry newer than this fs is refused" {
    models_repo
    sqlite3 .fs/registry.db 'PRAGMA user_version = 999'
    echo weights > m.bin
    run -128 --separate-stderr fs register-model eta --artifact m.bin
    [[ "$stderr" == "fatal: registry '"*"registry.db' has schema version 999, newer than this fs knows ("*"): upgrade fs" ]]
    run -128 --separate-stderr fs models
    [[ "$stderr" == *"has schema version 999"* ]]
    assert_equal "$(sqlite3 .fs/registry.db 'SELECT count(*) FROM model_versions')" "0"
}
