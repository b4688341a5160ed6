#!/usr/bin/env bats
# serve-lite: every bad request gets its 4xx status and a JSON body
# {"error": "..."} naming the problem, and the server stays healthy
# (GET /health 200 after each one). One server for the file, started with
# --max-body 4096.

load test_helper
load lib-serve

setup_file() { shared_server sqlite --max-body 4096; }
teardown_file() { stop_shared_servers; }
setup() {
    common_setup
    use_server sqlite
}

F='"features": ["driver_hourly_stats:conv_rate"]'

# gof BODY: POST it to /get-online-features.
gof() { post /get-online-features "$1"; }

# A /push body for driver_push whose df column $1 holds the JSON list $2
# (the other columns valid, one row).
push_with() {
    python3 -c '
import json, sys
df = {"driver_id": [4242], "event_timestamp": ["2024-05-01T10:00:00Z"], "created": [None],
      "conv_rate": [0.5], "acc_rate": [0.5], "avg_daily_trips": [3]}
df[sys.argv[1]] = json.loads(sys.argv[2])
print(json.dumps({"push_source_name": "driver_push", "df": df, "to": "online"}))' "$1" "$2"
}

# ---- /get-online-features ----

@test "serve errors: invalid JSON is 400 naming the position" {
    gof '{"entities": {"driver_id": [1001]}, '
    assert_error 400 "invalid JSON at line 1"
    gof '{"entities": {"driver_id": [1001,]}}'
    assert_error 400 "invalid JSON"
    gof ''
    assert_error 400 "invalid JSON"
    gof '{"entities": {"driver_id": [1001]}, "features": [], "features": []}'
    assert_error 400 "duplicate object key"
}

@test "serve errors: a body that is not a JSON object is 400" {
    local b
    gof '[{"entities": {"driver_id": [1001]}}]'
    assert_error 400 "the body must be a JSON object"
    # a bare scalar is not even a JSON text to the parser
    for b in '"text"' '42' 'null' 'true'; do
        gof "$b"
        assert_error 400 "'[' or '{' expected"
    done
}

@test "serve errors: entities missing is 400" {
    gof "{$F}"
    assert_error 400 "entities: expected an object"
}

@test "serve errors: entities not an object is 400" {
    local e
    for e in '[1001]' '"driver_id"' '1001' 'null'; do
        gof "{\"entities\": $e, $F}"
        assert_error 400 "entities: expected an object"
    done
    gof "{\"entities\": {}, $F}"
    assert_error 400 "entities: expected an object"
}

@test "serve errors: an entity column that is not a list is 400" {
    gof "{\"entities\": {\"driver_id\": 1001}, $F}"
    assert_error 400 "entities.driver_id: expected a list"
    gof "{\"entities\": {\"driver_id\": {\"a\": 1}}, $F}"
    assert_error 400 "entities.driver_id: expected a list"
}

@test "serve errors: entity columns of unequal length are 400" {
    gof "{\"entities\": {\"driver_id\": [1001, 1002], \"region\": [\"eu\"]}, $F}"
    assert_error 400 "columns have different lengths (region has 1, expected 2)"
}

@test "serve errors: a missing join key is 400 naming it" {
    gof "{\"entities\": {\"region\": [1001]}, $F}"
    assert_error 400 "missing join key 'driver_id'"
}

@test "serve errors: a float, object, list, boolean or text for an int64 key is 400" {
    local v
    for v in 1001.5 '{"id": 1}' '[1001]' true; do
        gof "{\"entities\": {\"driver_id\": [1001, $v]}, $F}"
        assert_error 400 "entities.driver_id[1]: expected an integer"
    done
    gof "{\"entities\": {\"driver_id\": [\"abc\"]}, $F}"
    assert_error 400 "'abc' is not an int64"
    gof "{\"entities\": {\"driver_id\": [123456789012345678901234567890]}, $F}"
    assert_error 400 "too big integer"
}

@test "serve errors: features not a list is 400" {
    local f
    for f in '"driver_hourly_stats:conv_rate"' '{"driver_hourly_stats": "conv_rate"}' '[]' 'null'; do
        gof "{\"entities\": {\"driver_id\": [1001]}, \"features\": $f}"
        assert_error 400 "features: expected a non-empty list"
    done
}

@test "serve errors: a features item that is not \"view:feature\" is 400 naming its index" {
    gof '{"entities": {"driver_id": [1001]}, "features": ["driver_hourly_stats:conv_rate", "conv_rate"]}'
    assert_error 400 'features[1]: expected "view:feature"'
    gof '{"entities": {"driver_id": [1001]}, "features": [42]}'
    assert_error 400 'features[0]: expected "view:feature"'
}

@test "serve errors: an unknown feature view is 404 naming it" {
    # Feast's FeatureViewNotFoundException, with fs's hint
    gof '{"entities": {"driver_id": [1001]}, "features": ["driver_hourly_stat:conv_rate"]}'
    assert_feast_error 404 FeatureViewNotFoundException \
        "Feature view driver_hourly_stat does not exist (did you mean 'driver_hourly_stats'?)"
    gof '{"entities": {"driver_id": [1001]}, "features": ["driver_hourly_stat@latest:conv_rate"]}'
    assert_feast_error 404 FeatureViewNotFoundException "Feature view driver_hourly_stat does not exist"
}

@test "serve errors: an unknown feature is 404 naming it and its view" {
    gof '{"entities": {"driver_id": [1001]}, "features": ["driver_hourly_stats:conv_rat"]}'
    assert_error 404 "feature_view 'driver_hourly_stats' has no feature 'conv_rat'"
}

@test "serve errors: an unknown feature service is 404 naming it, and the one it is a typo of" {
    gof '{"entities": {"driver_id": [1001]}, "feature_service": "driver_activity_v9"}'
    assert_feast_error 404 FeatureServiceNotFoundException \
        "Feature service driver_activity_v9 does not exist (did you mean 'driver_activity_v1'?)"
    gof '{"entities": {"driver_id": [1001]}, "feature_service": "zzzzzzzz"}'
    assert_feast_error 404 FeatureServiceNotFoundException "Feature service zzzzzzzz does not exist"
    [[ "$body" != *"did you mean"* ]] || fail "a hint with nothing close: $body"
    gof '{"entities": {"driver_id": [1001]}, "feature_service": 1}'
    assert_error 400 "feature_service: expected a string"
}

@test "serve errors: both features and feature_service is 400" {
    gof "{\"entities\": {\"driver_id\": [1001]}, \"feature_service\": \"driver_activity_v1\", $F}"
    assert_error 400 "either features or feature_service"
}

@test "serve errors: full_feature_names not a boolean is 400" {
    gof "{\"entities\": {\"driver_id\": [1001]}, $F, \"full_feature_names\": \"yes\"}"
    assert_error 400 "full_feature_names: expected true or false"
}

@test "serve errors: a body larger than --max-body is 413, one at the limit is served" {
    local pad
    pad=$(printf '%*s' 4100 '' | tr ' ' x)
    gof "{\"entities\": {\"driver_id\": [1001]}, $F, \"pad\": \"$pad\"}"
    assert_error 413 "request body larger than 4096 bytes"
    # padded to exactly 4096 bytes: not too large
    local b="{\"entities\": {\"driver_id\": [1001]}, $F, \"pad\": \"\"}"
    pad=$(printf '%*s' $((4096 - ${#b})) '' | tr ' ' x)
    b="{\"entities\": {\"driver_id\": [1001]}, $F, \"pad\": \"$pad\"}"
    [ "${#b}" -eq 4096 ]
    gof "$b"
    assert_code 200
    post /push "{\"push_source_name\": \"driver_push\", \"df\": {\"pad\": [\"$pad$pad\"]}}"
    assert_error 413 "request body larger than 4096 bytes"
}

@test "serve errors: an unknown path is 404 (/ is the web UI's page, t4010)" {
    local p
    for p in /ui/ /get-online-feature /get-online-features/x /v1/push /healthz; do
        http GET "$p"
        assert_error 404 "no such endpoint"
    done
    post /nope '{}'
    assert_error 404 "no such endpoint"
}

@test "serve errors: a wrong method is 405" {
    http GET /get-online-features
    assert_error 405 "use POST"
    http PUT /get-online-features -d '{}'
    assert_error 405 "use POST"
    http GET /push
    assert_error 405 "use POST"
    http DELETE /push
    assert_error 405 "use POST"
    http POST /health
    assert_error 405 "use GET"
    http POST /models/eta/production
    assert_error 405 "use GET"
}

@test "serve errors: HEAD /health answers as GET, without a body" {
    run -0 curl -sS -I --max-time 5 "$URL/health"
    [[ "$output" == "HTTP/1.1 200"* ]]
    run -0 curl -sS --head --max-time 5 -o body.out -w '%{http_code} %{size_download}' "$URL/health"
    assert_output "200 0"
}

@test "serve errors: a bad model path is 404" {
    local p
    for p in /models/eta /models/ /models/nope/production /models/eta/production/x; do
        http GET "$p"
        assert_error 404 "no model version"
    done
}

# ---- /push ----

@test "serve errors: push to an unknown source is 404 naming it" {
    # Feast's PushSourceNotFoundException, 422, with fs's hint
    post /push "$(push_with driver_id '[4242]' | sed 's/"driver_push"/"driver_pusj"/')"
    assert_feast_error 422 PushSourceNotFoundException \
        "Unable to find push source 'driver_pusj'. (did you mean 'driver_push'?)"
}

@test "serve errors: push to a source that is not a push source is 422" {
    post /push "$(push_with driver_id '[4242]' | sed 's/"driver_push"/"driver_stats"/')"
    assert_feast_error 422 PushSourceNotFoundException \
        "Unable to find push source 'driver_stats'. ('driver_stats' is a csv source, not a push source)"
}

@test "serve errors: push with values of the wrong type is 400 naming the column" {
    post /push "$(push_with conv_rate '["fast"]')"
    assert_error 400 "column 'conv_rate': 'fast' is not a float64"
    post /push "$(push_with avg_daily_trips '[2.5]')"
    assert_error 400 "column 'avg_daily_trips'"
    post /push "$(push_with driver_id '["x1"]')"
    assert_error 400 "column 'driver_id': 'x1' is not an int64"
    post /push "$(push_with event_timestamp '["yesterday"]')"
    assert_error 400 "bad timestamp 'yesterday'"
    post /push "$(push_with acc_rate '[{"v": 1}]')"
    assert_error 400 "df.acc_rate[0]: expected a string, number, boolean or null"
    # nothing of these was written
    run -0 fs get-online -f driver_pushed:conv_rate -e driver_id=4242 --json
    jq -e '.results[1].statuses == ["NOT_FOUND"]' <<< "$output" > /dev/null || fail "written: $output"
}

@test "serve errors: a malformed push body is 400" {
    post /push '{"df": {"driver_id": [1]}}'
    assert_error 400 "push_source_name: expected a string"
    post /push '{"push_source_name": "driver_push", "df": [1]}'
    assert_error 400 "df: expected an object"
    post /push '{"push_source_name": "driver_push", "df": {}}'
    assert_error 400 "df: expected an object"
    post /push "$(push_with driver_id '{"a": 4242}')"
    assert_error 400 "df.driver_id: expected a list"
    post /push "$(push_with driver_id '[4242, 4243]')"
    assert_error 400 "columns have different lengths"
    post /push '{"push_source_name": "driver_push", "df": {"driver_id": [1]}}'
    assert_error 400 "has no column 'event_timestamp'"
    post /push '[]'
    assert_error 400 "the body must be a JSON object"
}

# ---- garbage ----

@test "serve errors: 300 random and mangled bodies never crash the server" {
    python3 - "$PORT" <<'EOF'
import http.client, json, random, sys
port = int(sys.argv[1])
rnd = random.Random(4000)
valid = json.dumps({"entities": {"driver_id": [1001, 1002]},
                    "features": ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate"]}).encode()
push = json.dumps({"push_source_name": "driver_push", "df": {"driver_id": [5], "event_timestamp": ["2024-05-01T10:00:00Z"],
                   "created": [None], "conv_rate": [1], "acc_rate": [1], "avg_daily_trips": [1]}}).encode()
bad = 0
for i in range(300):
    kind = i % 3
    if kind == 0:
        body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 600)))
    else:
        b = bytearray(valid if kind == 1 else push)
        for _ in range(rnd.randrange(1, 6)):
            op = rnd.randrange(3)
            pos = rnd.randrange(len(b))
            if op == 0:
                b[pos] = rnd.randrange(256)
            elif op == 1:
                del b[pos]
            else:
                b[pos:pos] = rnd.choice([b"[", b"{", b"\"", b":", b",", b"null", b"1e999", b"-", b"\\u0000"])
        body = bytes(b)
    path = rnd.choice(["/get-online-features", "/push"])
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status >= 500:
        print("request %d to %s: %d %r (body %r)" % (i, path, r.status, data, body)); bad += 1
        continue
    if r.status == 200:
        continue
    d = json.loads(data)
    if isinstance(d, str):  # Feast's error body: its error detail as a JSON string
        d = json.loads(d)
        ok = d.get("module") == "feast.errors" and isinstance(d.get("message"), str)
    else:
        ok = isinstance(d.get("error"), str)
    if not ok:
        print("request %d: %d without an error text: %r" % (i, r.status, data)); bad += 1
sys.exit(1 if bad else 0)
EOF
    assert_healthy
}

@test "serve errors: a feature name holding a newline is not taken for two features" {
    # the first request leaves its feature list in the server's plan cache
    gof '{"entities": {"driver_id": [1001]}, "features": ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate"]}'
    assert_code 200
    gof '{"entities": {"driver_id": [1001]}, "features": ["driver_hourly_stats:conv_rate\ndriver_hourly_stats:acc_rate"]}'
    assert_error 404 "has no feature 'conv_rate"
    gof '{"entities": {"driver_id": [1001]}, "features": ["driver_hourly_stats:conv_rate\ndriver_hourly_stats:acc_rate"]}'
    assert_error 404 "has no feature 'conv_rate"
}
