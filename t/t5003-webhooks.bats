#!/usr/bin/env bats
# webhooks: model.registered and model.promoted POSTed as JSON, signed as
# Standard Webhooks says, retried on 5xx, a failure is only a warning.

load test_helper
load lib-models

setup() {
    common_setup
    unset FS_WEBHOOK_SECRET
    export FS_WEBHOOK_RETRY_MS=50 FS_WEBHOOK_TIMEOUT=5
}

# The n-th (from 0) request the listener received, as JSON.
request() {
    sed -n "$(($1 + 1))p" "$BATS_TEST_TMPDIR/hooks.jsonl"
}

# Its body, parsed.
body() {
    request "$1" | jq -r .body | jq -c .
}

requests() {
    if [ -f "$BATS_TEST_TMPDIR/hooks.jsonl" ]; then
        wc -l < "$BATS_TEST_TMPDIR/hooks.jsonl"
    else
        echo 0
    fi
}

# Recompute the signature of request n with secret $2, independently of fs:
# HMAC-SHA256 over "id.timestamp.body", key = the secret's bytes, or the
# base64-decoded part after "whsec_" (unless $3 is "raw"); prints "v1,<base64>".
expected_signature() {
    request "$1" | SECRET=$2 RAW=${3:-} python3 -c '
import base64, hashlib, hmac, json, os, sys
r = json.load(sys.stdin)
secret = os.environ["SECRET"]
raw = os.environ["RAW"] == "raw"
b64 = secret[6:] + "=" * (-len(secret[6:]) % 4)
key = base64.b64decode(b64, validate=True) if secret.startswith("whsec_") and not raw else secret.encode()
msg = (r["headers"]["webhook-id"] + "." + r["headers"]["webhook-timestamp"] + "." + r["body"]).encode()
print("v1," + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode())'
}

header() {
    request "$1" | jq -r --arg h "$2" '.headers[$h] // "(none)"'
}

@test "webhooks: register-model posts model.registered with the version" {
    models_repo
    start_hook_listener
    add_webhook "http://127.0.0.1:$HOOK_PORT/hook" "model.registered, model.promoted"
    echo weights > model.pkl
    run -0 --separate-stderr fs register-model eta --artifact model.pkl --json
    assert_equal "$stderr" ""
    local created
    created=$(jq -r .created_at <<<"$output")
    assert_equal "$(requests)" "1"
    assert_equal "$(request 0 | jq -r .path)" "/hook"
    assert_equal "$(header 0 content-type)" "application/json"
    local b sum
    b=$(body 0)
    sum=$(sha256sum model.pkl | cut -d' ' -f1)
    assert_equal "$(jq -r '.event' <<<"$b")" "model.registered"
    assert_equal "$(jq -r '.model' <<<"$b")" "eta"
    assert_equal "$(jq -r '.version' <<<"$b")" "1"
    assert_equal "$(jq -r '.from_stage' <<<"$b")" "null"
    assert_equal "$(jq -r '.to_stage' <<<"$b")" "none"
    assert_equal "$(jq -r '.author' <<<"$b")" "Test User <test@example.com>"
    assert_equal "$(jq -r '.time' <<<"$b")" "$created"
    assert_equal "$(jq -c '.artifact' <<<"$b")" "{\"sha256\":\"$sum\",\"uri\":\"$PWD/model.pkl\"}"
}

@test "webhooks: promote posts model.promoted with from and to stages" {
    models_repo
    start_hook_listener
    add_webhook "http://127.0.0.1:$HOOK_PORT/hook" "model.registered, model.promoted"
    echo weights > model.pkl
    fs register-model eta --artifact model.pkl --metric auc=0.9 >/dev/null
    run -0 --separate-stderr fs promote eta 1 staging --reason "looks good"
    assert_equal "$stderr" ""
    assert_equal "$(requests)" "2"
    local b sum at
    b=$(body 1)
    sum=$(sha256sum model.pkl | cut -d' ' -f1)
    assert_equal "$(jq -r '.event' <<<"$b")" "model.promoted"
    assert_equal "$(jq -r '.model' <<<"$b")" "eta"
    assert_equal "$(jq -r '.version' <<<"$b")" "1"
    assert_equal "$(jq -r '.from_stage' <<<"$b")" "none"
    assert_equal "$(jq -r '.to_stage' <<<"$b")" "staging"
    assert_equal "$(jq -r '.author' <<<"$b")" "Test User <test@example.com>"
    assert_equal "$(jq -r '.reason' <<<"$b")" "looks good"
    assert_equal "$(jq -r '.forced' <<<"$b")" "false"
    assert_equal "$(jq -c '.artifact' <<<"$b")" "{\"sha256\":\"$sum\",\"uri\":\"$PWD/model.pkl\"}"
    # the time is the transition's, give or take the clock ticking
    at=$(fs models log eta --json | jq '.transitions[-1].at_unix')
    local t
    t=$(date -u -d "$(jq -r '.time' <<<"$b")" +%s)
    (( t >= at && t <= at + 2 ))
    # --force with every gate met is not forced; the author follows git's rules
    GIT_AUTHOR_NAME=Ada GIT_AUTHOR_EMAIL=ada@example.com run -0 fs promote eta 1 production --force
    run -0 fs promote eta 1 archived
    b=$(body 2)
    assert_equal "$(jq -c '[.from_stage, .to_stage, .forced, .author]' <<<"$b")" \
        '["staging","production",false,"Ada <ada@example.com>"]'
    b=$(body 3)
    assert_equal "$(jq -c '[.from_stage, .to_stage, .reason]' <<<"$b")" '["production","archived",null]'
}

@test "webhooks: a forced promotion is flagged in the body" {
    models_repo
    start_hook_listener
    add_webhook "http://127.0.0.1:$HOOK_PORT/hook" "model.promoted"
    register_eta --metric auc=0.1 >/dev/null
    run -0 --separate-stderr fs promote eta 1 production --force
    assert_equal "$(requests)" "1"
    assert_equal "$(body 0 | jq -c '[.event, .from_stage, .to_stage, .forced]')" \
        '["model.promoted","none","production",true]'
}

@test "webhooks: a refused promotion posts nothing" {
    models_repo
    start_hook_listener
    add_webhook "http://127.0.0.1:$HOOK_PORT/hook" "model.promoted"
    register_eta --metric auc=0.1 >/dev/null
    run -1 fs promote eta 1 production
    fs promote eta 1 none >/dev/null
    assert_equal "$(requests)" "0"
}

@test "webhooks: signed with a plain secret as Standard Webhooks says" {
    models_repo
    start_hook_listener
    add_webhook "http://127.0.0.1:$HOOK_PORT/hook" "model.registered, model.promoted"
    export FS_WEBHOOK_SECRET="s3cret-plain"
    register_eta --metric auc=0.9 >/dev/null
    fs promote eta 1 staging >/dev/null
    assert_equal "$(requests)" "2"
    local i now
    now=$(date +%s)
    for i in 0 1; do
        [[ "$(header $i webhook-id)" =~ ^msg_[0-9a-f]+$ ]]
        local ts
        ts=$(header $i webhook-timestamp)
        [[ "$ts" =~ ^[0-9]+$ ]]
        (( ts <= now && ts >= now - 30 ))
        [[ "$(header $i webhook-signature)" =~ ^v1,[A-Za-z0-9+/]{43}=$ ]]
        assert_equal "$(header $i webhook-signature)" "$(expected_signature $i "$FS_WEBHOOK_SECRET")"
        # and not what another secret gives
        [ "$(header $i webhook-signature)" != "$(expected_signature $i other)" ]
    done
    # every message has its own id
    [ "$(header 0 webhook-id)" != "$(header 1 webhook-id)" ]
}

@test "webhooks: a whsec_ secret signs with the base64-decoded key" {
    models_repo
    start_hook_listener
    add_webhook "http://127.0.0.1:$HOOK_PORT/hook" "model.registered"
    local key i=0
    # key lengths 24, 32 and 31 bytes: no padding, '=' and '=='
    for key in $(python3 -c 'import base64
for n in (24, 32, 31): print("whsec_" + base64.b64encode(bytes(range(200, 200 + n))).decode())'); do
        FS_WEBHOOK_SECRET=$key register_eta >/dev/null
        assert_equal "$(header $i webhook-signature)" "$(expected_signature $i "$key")"
        # not keyed with the secret's text
        [ "$(header $i webhook-signature)" != "$(expected_signature $i "$key" raw)" ]
        i=$((i + 1))
    done
    assert_equal "$(requests)" "3"
}

@test "webhooks: long secrets and an unpadded whsec_ secret sign correctly" {
    models_repo
    start_hook_listener
    add_webhook "http://127.0.0.1:$HOOK_PORT/hook" "model.registered"
    local long_whsec long_plain unpadded
    long_whsec=whsec_$(head -c 3000 /dev/urandom | base64 -w0)
    long_plain=$(head -c 3000 /dev/urandom | base64 -w0)
    unpadded=whsec_$(python3 -c 'import base64; print(base64.b64encode(bytes(range(32))).decode().rstrip("="))')
    run -0 --separate-stderr env FS_WEBHOOK_SECRET="$long_whsec" "$FS" register-model eta --artifact fs.yaml
    assert_equal "$stderr" ""
    run -0 --separate-stderr env FS_WEBHOOK_SECRET="$long_plain" "$FS" register-model eta --artifact fs.yaml
    run -0 --separate-stderr env FS_WEBHOOK_SECRET="$unpadded" "$FS" register-model eta --artifact fs.yaml
    assert_equal "$(requests)" "3"
    assert_equal "$(header 0 webhook-signature)" "$(expected_signature 0 "$long_whsec")"
    assert_equal "$(header 1 webhook-signature)" "$(expected_signature 1 "$long_plain")"
    assert_equal "$(header 2 webhook-signature)" "$(expected_signature 2 "$unpadded")"
}

@test "webhooks: a whsec_ secret that is not base64 is a warning and nothing is sent" {
    models_repo
    start_hook_listener
    add_webhook "http://127.0.0.1:$HOOK_PORT/hook" "model.registered"
    FS_WEBHOOK_SECRET='whsec_not base64!' run -0 --separate-stderr fs register-model eta --artifact fs.yaml
    assert_output "1"
    assert_equal "$stderr" "warning: webhook http://127.0.0.1:$HOOK_PORT/hook: the secret in FS_WEBHOOK_SECRET starts with 'whsec_' but the rest is not base64; nothing sent (the registration still stands)"
    assert_equal "$(requests)" "0"
    assert_equal "$(stage_of 1)" "none"
}

@test "webhooks: no signature header without a secret" {
    models_repo
    start_hook_listener
    add_webhook "http://127.0.0.1:$HOOK_PORT/hook" "model.registered"
    register_eta >/dev/null
    FS_WEBHOOK_SECRET= register_eta >/dev/null
    assert_equal "$(requests)" "2"
    assert_equal "$(header 0 webhook-signature)" "(none)"
    assert_equal "$(header 1 webhook-signature)" "(none)"
    [[ "$(header 0 webhook-id)" =~ ^msg_ ]]
    [[ "$(header 0 webhook-timestamp)" =~ ^[0-9]+$ ]]
}

@test "webhooks: a 5xx answer is retried until delivered" {
    models_repo
    start_hook_listener 500,500
    add_webhook "http://127.0.0.1:$HOOK_PORT/hook" "model.registered"
    export FS_WEBHOOK_SECRET=s3cret
    run -0 --separate-stderr fs register-model eta --artifact fs.yaml
    assert_output "1"
    assert_equal "$stderr" ""
    assert_equal "$(requests)" "3"
    assert_equal "$(request 0 | jq -r .status),$(request 1 | jq -r .status),$(request 2 | jq -r .status)" "500,500,200"
    # the same message each time, each attempt signed
    assert_equal "$(header 2 webhook-id)" "$(header 0 webhook-id)"
    assert_equal "$(request 2 | jq -r .body)" "$(request 0 | jq -r .body)"
    assert_equal "$(header 2 webhook-signature)" "$(expected_signature 2 s3cret)"
}

@test "webhooks: a webhook that keeps failing is a warning, the version stands" {
    models_repo
    start_hook_listener 500,500,500,500,500,500
    add_webhook "http://127.0.0.1:$HOOK_PORT/hook" "model.registered"
    run -0 --separate-stderr fs register-model eta --artifact fs.yaml
    assert_output "1"
    [[ "$stderr" == "warning: "*"HTTP status 500"*"registration still stands"* ]]
    assert_equal "$(requests)" "4"
    assert_equal "$(stage_of 1)" "none"
}

@test "webhooks: a closed port is a warning, exit 0, and the version and transition exist" {
    models_repo
    local port
    port=$(closed_port)
    add_webhook "http://127.0.0.1:$port/hook" "model.registered, model.promoted"
    run -0 --separate-stderr fs register-model eta --artifact fs.yaml
    assert_output "1"
    [[ "$stderr" == "warning: webhook http://127.0.0.1:$port/hook: "* ]]
    [[ "$stderr" != *"fatal"* ]]
    run -0 fs models eta --json
    assert_equal "$(jq -c '[.versions[].version]' <<<"$output")" "[1]"
    run -0 --separate-stderr fs promote eta 1 staging
    assert_output "model 'eta' version 1: none -> staging"
    [[ "$stderr" == "warning: webhook http://127.0.0.1:$port/hook: "*"transition still stands"* ]]
    assert_equal "$(stage_of 1)" "staging"
    run -0 fs models log eta --json
    assert_equal "$(jq -c '.transitions[-1] | [.from, .to]' <<<"$output")" '["none","staging"]'
}

@test "webhooks: an event that is not subscribed is not sent" {
    models_repo
    start_hook_listener
    add_webhook "http://127.0.0.1:$HOOK_PORT/hook" "model.promoted"
    register_eta >/dev/null
    register_eta >/dev/null
    assert_equal "$(requests)" "0"
    fs promote eta 2 staging >/dev/null
    assert_equal "$(requests)" "1"
    assert_equal "$(body 0 | jq -r .event)" "model.promoted"
}

@test "webhooks: fs.yaml is read at every command start" {
    models_repo
    start_hook_listener
    register_eta >/dev/null
    assert_equal "$(requests)" "0"
    add_webhook "http://127.0.0.1:$HOOK_PORT/hook" "model.registered"
    register_eta >/dev/null
    assert_equal "$(requests)" "1"
    assert_equal "$(body 0 | jq -r .version)" "2"
}

# Seconds between the arrivals of requests $1 and $2.
gap() {
    python3 -c 'import json, sys
lines = open(sys.argv[1]).read().splitlines()
print("%.3f" % (json.loads(lines[int(sys.argv[3])])["t"] - json.loads(lines[int(sys.argv[2])])["t"]))' \
        "$BATS_TEST_TMPDIR/hooks.jsonl" "$1" "$2"
}

# Is the arithmetic comparison $1 true (floats allowed)?
holds() {
    python3 -c "import sys; sys.exit(0 if ($1) else 1)"
}

@test "webhooks: a 429 answer is retried until delivered" {
    models_repo
    start_hook_listener 429,429
    add_webhook "http://127.0.0.1:$HOOK_PORT/hook" "model.registered"
    run -0 --separate-stderr fs register-model eta --artifact fs.yaml
    assert_output "1"
    assert_equal "$stderr" ""
    assert_equal "$(requests)" "3"
    assert_equal "$(request 0 | jq -r .status),$(request 1 | jq -r .status),$(request 2 | jq -r .status)" "429,429,200"
    assert_equal "$(header 2 webhook-id)" "$(header 0 webhook-id)"
}

@test "webhooks: a 4xx other than 429 is not retried: one request, a warning, exit 0" {
    models_repo
    start_hook_listener 404,404,404,404
    add_webhook "http://127.0.0.1:$HOOK_PORT/hook" "model.registered, model.promoted"
    run -0 --separate-stderr fs register-model eta --artifact fs.yaml
    assert_output "1"
    assert_equal "$stderr" "warning: webhook http://127.0.0.1:$HOOK_PORT/hook: HTTP status 404 (the registration still stands)"
    assert_equal "$(requests)" "1"
    run -0 --separate-stderr fs promote eta 1 staging
    assert_equal "$stderr" "warning: webhook http://127.0.0.1:$HOOK_PORT/hook: HTTP status 404 (the transition still stands)"
    assert_equal "$(requests)" "2"
    assert_equal "$(stage_of 1)" "staging"
}

@test "webhooks: retries back off exponentially from 500 ms" {
    models_repo
    unset FS_WEBHOOK_RETRY_MS
    start_hook_listener 500,500,500
    add_webhook "http://127.0.0.1:$HOOK_PORT/hook" "model.registered"
    run -0 --separate-stderr fs register-model eta --artifact fs.yaml
    assert_equal "$stderr" ""
    assert_equal "$(requests)" "4"
    local g1 g2 g3
    g1=$(gap 0 1)
    g2=$(gap 1 2)
    g3=$(gap 2 3)
    echo "# gaps: $g1 $g2 $g3" >&3
    # about 0.5, 1 and 2 s: each wait about twice the one before
    holds "0.4 <= $g1 < 1.0"
    holds "$g2 > 1.5 * $g1 and $g2 < 1.8"
    holds "$g3 > 1.5 * $g2 and $g3 < 3.5"
}

@test "webhooks: a connection error is retried with the same backoff" {
    models_repo
    unset FS_WEBHOOK_RETRY_MS
    local port t0 t1
    port=$(closed_port)
    add_webhook "http://127.0.0.1:$port/hook" "model.registered"
    t0=$(date +%s.%N)
    run -0 --separate-stderr fs register-model eta --artifact fs.yaml
    t1=$(date +%s.%N)
    assert_output "1"
    [[ "$stderr" == "warning: webhook http://127.0.0.1:$port/hook: "*"(the registration still stands)" ]]
    # four attempts: waits of 0.5 + 1 + 2 s between them
    holds "$t1 - $t0 >= 3.3"
    holds "$t1 - $t0 < 8"
}

@test "webhooks: the default timeout lets a receiver take 2 s" {
    models_repo
    unset FS_WEBHOOK_TIMEOUT
    HOOK_DELAY=2 start_hook_listener
    add_webhook "http://127.0.0.1:$HOOK_PORT/hook" "model.registered"
    local t0 t1
    t0=$(date +%s.%N)
    run -0 --separate-stderr fs register-model eta --artifact fs.yaml
    t1=$(date +%s.%N)
    assert_output "1"
    assert_equal "$stderr" ""
    assert_equal "$(requests)" "1"
    holds "$t1 - $t0 >= 2"
}

@test "webhooks: FS_WEBHOOK_TIMEOUT=1 gives up on a receiver that takes 2 s" {
    models_repo
    export FS_WEBHOOK_TIMEOUT=1
    HOOK_DELAY=2 start_hook_listener
    add_webhook "http://127.0.0.1:$HOOK_PORT/hook" "model.registered"
    run -0 --separate-stderr fs register-model eta --artifact fs.yaml
    assert_output "1"
    [[ "$stderr" == "warning: webhook http://127.0.0.1:$HOOK_PORT/hook: "*"timed out"*"(the registration still stands)" ]]
    assert_equal "$(stage_of 1)" "none"
    # a timeout is retried
    (( $(requests) >= 2 ))
}

@test "webhooks: a promotion that archives the previous holder posts both transitions, in order" {
    models_repo
    start_hook_listener
    add_webhook "http://127.0.0.1:$HOOK_PORT/hook" "model.promoted"
    register_eta --metric auc=0.9 >/dev/null
    register_eta --metric auc=0.9 >/dev/null
    fs promote eta 1 staging >/dev/null
    fs promote eta 1 production >/dev/null
    fs promote eta 2 staging >/dev/null
    assert_equal "$(requests)" "3"
    run -0 --separate-stderr fs promote eta 2 production --reason "better"
    assert_equal "$stderr" ""
    assert_equal "$(requests)" "5"
    local sum1
    sum1=$(fs models eta --json | jq -r '.versions[0].artifact.sha256')
    assert_equal "$(body 3 | jq -c '[.event, .version, .from_stage, .to_stage, .reason, .forced]')" \
        '["model.promoted",2,"staging","production","better",false]'
    assert_equal "$(body 4 | jq -c '[.event, .version, .from_stage, .to_stage, .reason, .forced]')" \
        '["model.promoted",1,"production","archived","replaced in production by version 2",false]'
    assert_equal "$(body 4 | jq -r .artifact.sha256)" "$sum1"
    # --keep-existing archives nothing and posts one
    register_eta --metric auc=0.9 >/dev/null
    fs promote eta 3 staging --keep-existing >/dev/null
    assert_equal "$(requests)" "6"
    assert_equal "$(body 5 | jq -c '[.version, .to_stage]')" '[3,"staging"]'
}

@test "webhooks: an empty FS_WEBHOOK_RETRY_MS counts as unset (500 ms)" {
    models_repo
    export FS_WEBHOOK_RETRY_MS=
    start_hook_listener 500
    add_webhook "http://127.0.0.1:$HOOK_PORT/hook" "model.registered"
    run -0 --separate-stderr fs register-model eta --artifact fs.yaml
    assert_equal "$stderr" ""
    assert_equal "$(requests)" "2"
    holds "$(gap 0 1) >= 0.4"
}
