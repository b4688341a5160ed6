#!/usr/bin/env bats
# serve-lite: bearer tokens (--token-file), the access log, the warning for
# a non-loopback address without tokens, and the Prometheus metrics.
#
# Two servers for the file: "auth" (--token-file with two tokens,
# --access-log) and "open" (no tokens) for the metrics.

load test_helper
load lib-serve

TOK1=tok-alpha-0123456789
TOK2=tok-beta-9876543210

setup_file() {
    # surrounding whitespace, a blank line, a CRLF line end: all ignored
    printf '  %s  \n\n\t%s\t\r\n' "$TOK1" "$TOK2" > "$BATS_FILE_TMPDIR/tokens"
    shared_server auth --token-file "$BATS_FILE_TMPDIR/tokens" --access-log "$BATS_FILE_TMPDIR/access.log"
    shared_server open
}

teardown_file() { stop_shared_servers; }

ACCESS_LOG=$BATS_FILE_TMPDIR/access.log

GOF='{"entities": {"driver_id": [1001]}, "features": ["driver_hourly_stats:avg_daily_trips"]}'

push_body() {
    printf '{"push_source_name": "driver_push", "df": {"driver_id": [%s], "event_timestamp": ["%s"], "created": [null], "conv_rate": [1], "acc_rate": [1], "avg_daily_trips": [%s]}}' \
        "$1" "$(ago '1 minute')" "$2"
}

# Every authenticated endpoint answers 401 with the extra curl arguments $@.
all_unauthorized() {
    post /get-online-features "$GOF" "$@"
    assert_error 401 "unauthorized"
    post /push "$(push_body 61 1)" "$@"
    assert_error 401 "unauthorized"
    http GET /metrics "$@"
    assert_error 401 "unauthorized"
    http GET /models/eta/production "$@"
    assert_error 401 "unauthorized"
}

# ---- tokens ----

@test "serve auth: requests without a token get 401 on every endpoint but /health" {
    use_server auth
    all_unauthorized
    # the challenge names the scheme
    run -0 curl -s -D - -o /dev/null "$URL/metrics"
    assert_output --partial "WWW-Authenticate: Bearer"
    # and the push was not written
    run -0 fs get-online -f driver_pushed:avg_daily_trips -e driver_id=61 --json
    jq -e '.results[1].statuses == ["NOT_FOUND"]' <<< "$output" > /dev/null || fail "written: $output"
}

@test "serve auth: a wrong token gets 401" {
    use_server auth
    local h
    for h in "Bearer wrong" "Bearer ${TOK1}x" "Basic $TOK1"; do
        all_unauthorized -H "Authorization: $h"
    done
    for h in "Bearer ${TOK1:0:10}" "Bearer  $TOK1" "Bearer " "$TOK1" "Bearer $TOK1 $TOK2" \
        "Bearer $TOK1$TOK2" "Bearer ${TOK1^^}"; do
        post /get-online-features "$GOF" -H "Authorization: $h"
        assert_error 401 "unauthorized"
    done
}

@test "serve auth: both tokens of the file are accepted everywhere" {
    use_server auth
    local t
    for t in "$TOK1" "$TOK2"; do
        AUTH=(-H "Authorization: Bearer $t")
        post /get-online-features "$GOF"
        assert_code 200
        jq -e '.results[1].values == [10]' <<< "$body" > /dev/null || fail "$body"
        post /push "$(push_body 62 5)"
        assert_code 200
        http GET /metrics
        assert_code 200
        [[ "$body" == *fs_requests_total* ]] || fail "no metrics: $body"
        http GET /models/eta/production
        assert_error 404 "no model version"
    done
}

@test "serve auth: the scheme name is case-insensitive" {
    use_server auth
    post /get-online-features "$GOF" -H "Authorization: bearer $TOK2"
    assert_code 200
    post /get-online-features "$GOF" -H "Authorization: BEARER $TOK1"
    assert_code 200
}

@test "serve auth: /health needs no token" {
    use_server auth
    http GET /health
    assert_code 200
    assert_json "$body" '{"status": "ok"}'
    http GET /health -H "Authorization: Bearer wrong"
    assert_code 200
}

@test "serve auth: the access log has one line per request and never the token" {
    use_server auth
    local before after
    before=$(wc -l < "$ACCESS_LOG")
    post /get-online-features "$GOF" -H "Authorization: Bearer $TOK1"
    assert_code 200
    post /get-online-features "$GOF" -H "Authorization: Bearer $TOK2"
    assert_code 200
    post /get-online-features "$GOF" -H "Authorization: Bearer not-$TOK1"
    assert_code 401
    http GET /models/eta/staging -H "Authorization: Bearer $TOK2"
    assert_code 404
    http GET /health
    assert_code 200
    http GET /nope -H "Authorization: Bearer $TOK1"
    assert_code 404
    after=$(wc -l < "$ACCESS_LOG")
    [ $((after - before)) -eq 6 ] || fail "$((after - before)) new lines for 6 requests: $(tail -n +$((before + 1)) "$ACCESS_LOG")"
    run -0 tail -n 6 "$ACCESS_LOG"
    assert_line --index 0 --regexp '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z "POST /get-online-features" 200 [0-9]+ [0-9.]+ms$'
    assert_line --index 2 --regexp '"POST /get-online-features" 401 '
    assert_line --index 3 --regexp '"GET /models/eta/staging" 404 '
    assert_line --index 4 --regexp '"GET /health" 200 '
    assert_line --index 5 --regexp '"GET /nope" 404 '
    # no token, nor any part of one, in the whole log
    run grep -c -e "$TOK1" -e "$TOK2" -e tok- -e Bearer "$ACCESS_LOG"
    assert_output 0
}

@test "serve auth: the access log escapes control characters and logs the bytes sent" {
    use_server auth
    local before
    before=$(wc -l < "$ACCESS_LOG")
    # a decoded path that would end the line and forge another
    http GET '/health%0a2026-12-06T00:00:00Z%20%22GET%20/metrics%22%20200%201%201.0ms'
    http GET /health
    assert_code 200
    run -0 tail -n +$((before + 1)) "$ACCESS_LOG"
    assert_equal "${#lines[@]}" 2
    [[ "${lines[0]}" == *'"GET /health\x0a2026-12-06T00:00:00Z \x22GET /metrics\x22 200 1 1.0ms" '* ]]
    # {"status":"ok"} is 15 bytes
    assert_line --index 1 --regexp '"GET /health" 200 15 [0-9.]+ms$'
}

@test "serve auth: a non-loopback address without --token-file prints a warning" {
    init_repo
    fs apply -q
    start_server --host 0.0.0.0
    run cat "$SERVE_ERR"
    assert_output --partial "warning: serving on 0.0.0.0 without --token-file"
    stop_server TERM
    assert_equal "$SERVE_STATUS" 0
}

@test "serve auth: loopback, or a token file, gives no warning" {
    init_repo
    fs apply -q
    echo "$TOK1" > tokens
    chmod 600 tokens
    start_server --host 0.0.0.0 --token-file tokens
    run cat "$SERVE_ERR"
    refute_output --partial "warning"
    stop_server TERM
    start_server --host 127.0.0.1
    run cat "$SERVE_ERR"
    refute_output --partial "warning"
    stop_server TERM
}

@test "serve auth: a token file readable by others gets a warning" {
    init_repo
    fs apply -q
    echo "$TOK1" > tokens
    chmod 644 tokens
    start_server --token-file tokens
    run cat "$SERVE_ERR"
    assert_output --partial "warning: token file 'tokens' is readable by others"
    stop_server TERM
}

@test "serve auth: a control character in the token file or the header is refused" {
    init_repo
    fs apply -q
    printf 'abc\0def\n' > tokens
    run -128 --separate-stderr fs serve-lite --port 0 --token-file tokens
    assert_equal "$stderr" "fatal: token file 'tokens': a control character (byte 3, 0x00) is in no token"
    printf 'abc\033def\n' > tokens
    run -128 --separate-stderr fs serve-lite --port 0 --token-file tokens
    [[ "$stderr" == *"(byte 3, 0x1b)"* ]]
    # a header with a control character in the token is not the token
    printf 'abcdef\n' > tokens
    chmod 600 tokens
    start_server --token-file tokens
    http GET /metrics -H $'Authorization: Bearer abc\x01def'
    assert_code 401
    http GET /metrics -H 'Authorization: Bearer abcdef'
    assert_code 200
    stop_server TERM
}

@test "serve auth: an empty token file is refused at start" {
    init_repo
    fs apply -q
    printf '  \n\n' > tokens
    run -128 --separate-stderr fs serve-lite --port 0 --token-file tokens
    assert_equal "$stderr" "fatal: token file 'tokens' holds no token"
    run -128 --separate-stderr fs serve-lite --port 0 --token-file missing
    [[ "$stderr" == "fatal: cannot read token file 'missing'"* ]] || fail "$stderr"
}

# ---- metrics ----

@test "serve metrics: fs_requests_total counts each 200 of /get-online-features exactly" {
    use_server open
    local m='fs_requests_total{endpoint="/get-online-features",code="200"}' before i
    before=$(metric "$m")
    for i in 1 2 3 4 5; do
        post /get-online-features "$GOF"
        assert_code 200
    done
    assert_equal "$(metric "$m")" $((before + 5))
}

@test "serve metrics: 400s are counted under code 400, not 200" {
    use_server open
    local ok='fs_requests_total{endpoint="/get-online-features",code="200"}'
    local bad='fs_requests_total{endpoint="/get-online-features",code="400"}'
    local nf='fs_requests_total{endpoint="/get-online-features",code="404"}'
    local ok0 bad0 nf0
    ok0=$(metric "$ok")
    bad0=$(metric "$bad")
    nf0=$(metric "$nf")
    post /get-online-features '{'
    assert_code 400
    post /get-online-features '{"entities": {"driver_id": [1.5]}, "features": ["driver_hourly_stats:conv_rate"]}'
    assert_code 400
    post /get-online-features '{"entities": {"driver_id": [1]}, "features": ["driver_hourly_stats:nope"]}'
    assert_code 404
    assert_equal "$(metric "$bad")" $((bad0 + 2))
    assert_equal "$(metric "$nf")" $((nf0 + 1))
    assert_equal "$(metric "$ok")" "$ok0"
}

@test "serve metrics: other endpoints are counted apart" {
    use_server open
    local p='fs_requests_total{endpoint="/push",code="200"}' m='fs_requests_total{endpoint="/models",code="404"}'
    local h='fs_requests_total{endpoint="/health",code="200"}' p0 m0 h0
    p0=$(metric "$p")
    m0=$(metric "$m")
    h0=$(metric "$h")
    post /push "$(push_body 63 1)"
    assert_code 200
    http GET /models/eta/production
    assert_code 404
    assert_equal "$(metric "$p")" $((p0 + 1))
    assert_equal "$(metric "$m")" $((m0 + 1))
    assert_equal "$(metric "$h")" "$h0"
}

@test "serve metrics: the latency histogram's count matches the requests" {
    use_server open
    local i
    for i in 1 2 3; do
        post /get-online-features "$GOF"
        assert_code 200
    done
    post /get-online-features '[]'
    assert_code 400
    http GET /metrics
    assert_code 200
    python3 -c '
import re, sys
text = sys.argv[1]
ep = "/get-online-features"
def val(name, **labels):
    want = ",".join("%s=\"%s\"" % kv for kv in labels.items())
    for line in text.splitlines():
        if line.startswith(name + "{") and line.split(" ")[0] == name + "{" + want + "}":
            return float(line.split(" ")[1])
    return None
total = sum(float(l.split(" ")[1]) for l in text.splitlines()
            if l.startswith("fs_requests_total{endpoint=\"%s\"," % ep))
count = val("fs_request_duration_seconds_count", endpoint=ep)
inf = val("fs_request_duration_seconds_bucket", endpoint=ep, le="+Inf")
assert total >= 4, total
assert count == total, (count, total)
assert inf == count, (inf, count)
buckets = [float(l.split(" ")[1]) for l in text.splitlines()
           if l.startswith("fs_request_duration_seconds_bucket{endpoint=\"%s\"," % ep)]
assert buckets == sorted(buckets), buckets
s = val("fs_request_duration_seconds_sum", endpoint=ep)
assert s is not None and s > 0, s
' "$body"
}

@test "serve metrics: the text is Prometheus exposition with fs_online_store_errors_total" {
    use_server open
    run -0 curl -s -D "$BATS_TEST_TMPDIR/headers" "$URL/metrics"
    grep -qi '^Content-Type: text/plain; version=0.0.4' "$BATS_TEST_TMPDIR/headers" ||
        fail "content type: $(cat "$BATS_TEST_TMPDIR/headers")"
    assert_line '# TYPE fs_requests_total counter'
    assert_line '# TYPE fs_request_duration_seconds histogram'
    assert_line '# TYPE fs_online_store_errors_total counter'
    assert_line 'fs_online_store_errors_total 0'
    # every sample line is NAME{LABELS} VALUE or NAME VALUE
    run -1 grep -Ev '^(# (HELP|TYPE) .*|[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9.e+-]+)$' <<< "$output"
}
