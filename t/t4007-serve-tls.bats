#!/usr/bin/env bats
# serve-lite over HTTPS (--tls-cert, --tls-key): a round trip with a
# self-signed certificate, what a client without TLS or without trust gets,
# start-up errors naming the file at fault, token auth and SIGTERM over TLS;
# and, over plain HTTP, HEAD /health and the metrics labels of the
# endpoints Feast's remote online store calls. The data is serve_repo's
# (see lib-serve.bash).

load test_helper
load lib-serve

# One certificate for the file, for 127.0.0.1 (its subjectAltName too:
# curl matches the address against it).
setup_file() {
    command -v openssl > /dev/null || return 0
    openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
        -addext subjectAltName=IP:127.0.0.1 -days 1 \
        -keyout "$BATS_FILE_TMPDIR/key.pem" -out "$BATS_FILE_TMPDIR/cert.pem" 2> /dev/null
}

setup() {
    common_setup
    command -v openssl > /dev/null || skip "openssl is not installed"
    CERT=$BATS_FILE_TMPDIR/cert.pem
    KEY=$BATS_FILE_TMPDIR/key.pem
}

GOF='{"entities": {"driver_id": [1001, 1002, 9999]}, "features": ["driver_hourly_stats:conv_rate", "driver_hourly_stats:avg_daily_trips"]}'
EPOCH=1970-01-01T00:00:00Z

# Start `fs serve-lite --port 0 --tls-cert CERT --tls-key KEY OPTIONS...`
# in the background, as start_server does over HTTP: wait until it prints
# its https:// address and /health answers 200 over TLS. Sets SERVE_PID,
# PORT and URL; AUTH (the curl arguments of http and post) trusts CERT.
start_tls_server() {
    local i health
    SERVE_OUT=$BATS_TEST_TMPDIR/serve.out
    SERVE_ERR=$BATS_TEST_TMPDIR/serve.err
    : > "$SERVE_OUT" # there before the first read
    : > "$SERVE_ERR"
    "$FS" serve-lite --port 0 --tls-cert "$CERT" --tls-key "$KEY" "$@" \
        > "$SERVE_OUT" 2> "$SERVE_ERR" 3>&- &
    SERVE_PID=$!
    PORT=
    AUTH=(--cacert "$CERT")
    for i in $(seq 200); do
        [ -n "$PORT" ] ||
            PORT=$(sed -n 's|^fs serve-lite listening on https://127\.0\.0\.1:\([0-9][0-9]*\)$|\1|p' "$SERVE_OUT")
        if [ -n "$PORT" ]; then
            URL=https://127.0.0.1:$PORT
            health=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$CERT" "$URL/health") || true
            [ "$health" = 200 ] && return 0
        fi
        if ! kill -0 "$SERVE_PID" 2> /dev/null; then
            cat "$SERVE_OUT" "$SERVE_ERR" >&2
            fail "fs serve-lite exited before it was ready"
        fi
        sleep 0.1
    done
    cat "$SERVE_OUT" "$SERVE_ERR" >&2
    fail "fs serve-lite did not become ready over https (port '${PORT}', /health ${health:-none})"
}

# The TLS server still answers /health with 200.
assert_tls_healthy() {
    run -0 curl -sS --max-time 5 --cacert "$CERT" "$URL/health"
    assert_output '{"status":"ok"}'
}

# Run `fs serve-lite --port P ARGS...` on a free port P, expected to fail
# at start (a timeout stops one that serves instead); then nothing listens
# on P.
run_failing_server() {
    local status_want=$1 port
    shift
    port=$(free_port)
    run "-$status_want" --separate-stderr timeout 20 "$FS" serve-lite --port "$port" "$@"
    assert_equal "$output" ""
    run curl -s --max-time 5 "http://127.0.0.1:$port/health"
    [ "$status" -eq 7 ] || fail "something listens on port $port (curl status $status)"
}

# ---- HTTPS ----

@test "serve tls: get-online-features round trip over https with the certificate trusted" {
    serve_repo
    start_tls_server
    assert_equal "$(cat "$SERVE_OUT")" "fs serve-lite listening on https://127.0.0.1:$PORT"
    post /get-online-features "$GOF"
    assert_code 200
    assert_json "$body" '{
      "metadata": {"feature_names": ["driver_id", "conv_rate", "avg_daily_trips"]},
      "results": [
        {"values": [1001, 1002, 9999], "statuses": ["PRESENT", "PRESENT", "PRESENT"],
         "event_timestamps": ["'$EPOCH'", "'$EPOCH'", "'$EPOCH'"]},
        {"values": [0.5, 0.125, null], "statuses": ["PRESENT", "PRESENT", "NOT_FOUND"],
         "event_timestamps": ["'"$T1"'", "'"$T1"'", "'$EPOCH'"]},
        {"values": [10, 20, null], "statuses": ["PRESENT", "PRESENT", "NOT_FOUND"],
         "event_timestamps": ["'"$T1"'", "'"$T1"'", "'$EPOCH'"]}]}'
    # a push over TLS is read back over TLS
    post /push '{"push_source_name": "driver_push", "df": {"driver_id": [77],
        "event_timestamp": ["'"$(ago '1 minute')"'"], "created": [null], "conv_rate": [2.5],
        "acc_rate": [null], "avg_daily_trips": [4]}}'
    assert_code 200
    post /get-online-features '{"entities": {"driver_id": [77]}, "features": ["driver_pushed:conv_rate"]}'
    assert_code 200
    assert_equal "$(jq -c '.results[1].values' <<< "$body")" "[2.5]"
}

@test "serve tls: /health over https, GET and HEAD" {
    serve_repo
    start_tls_server
    assert_tls_healthy
    run -0 curl -sS --max-time 5 --cacert "$CERT" -I "$URL/health"
    assert_line --index 0 --regexp '^HTTP/1\.1 200 OK'
}

@test "serve tls: a plain http request to the https port gets no answer, and the server lives on" {
    serve_repo
    start_tls_server
    run curl -sS --max-time 5 "http://127.0.0.1:$PORT/health"
    # 52: empty reply, 56: connection reset
    [ "$status" -eq 52 ] || [ "$status" -eq 56 ] || fail "curl status $status: $output"
    refute_output --partial '"status"'
    assert_tls_healthy
}

@test "serve tls: a client that does not trust the certificate refuses the server" {
    serve_repo
    start_tls_server
    run -60 curl -sS --max-time 5 "$URL/health"
    assert_output --partial "self-signed certificate"
    # nor does a client trusting another certificate
    openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
        -addext subjectAltName=IP:127.0.0.1 -days 1 -keyout other-key.pem -out other.pem 2> /dev/null
    run -60 curl -sS --max-time 5 --cacert other.pem "$URL/health"
    assert_tls_healthy
}

@test "serve tls: --token-file works over https, /health needs no token" {
    serve_repo
    printf 'tls-token-0123\n' > tokens
    chmod 600 tokens
    start_tls_server --token-file tokens
    post /get-online-features "$GOF"
    assert_code 401
    assert_json "$body" '{"error": "unauthorized: send Authorization: Bearer <token>"}'
    AUTH+=(-H "Authorization: Bearer wrong")
    post /get-online-features "$GOF"
    assert_code 401
    AUTH=(--cacert "$CERT" -H "Authorization: Bearer tls-token-0123")
    post /get-online-features "$GOF"
    assert_code 200
    assert_equal "$(jq -c '[.results[1].values, .results[2].values]' <<< "$body")" \
        "[[0.5,0.125,null],[10,20,null]]"
    # the metrics count the requests over TLS too
    assert_equal "$(metric 'fs_requests_total{endpoint="/get-online-features",code="401"}')" 2
    assert_equal "$(metric 'fs_requests_total{endpoint="/get-online-features",code="200"}')" 1
    assert_tls_healthy
}

@test "serve tls: SIGTERM exits 0 and closes the port" {
    serve_repo
    start_tls_server
    stop_server TERM
    assert_equal "$SERVE_STATUS" 0
    run curl -s --max-time 5 --cacert "$CERT" "$URL/health"
    [ "$status" -eq 7 ] || fail "port $PORT still answers (curl status $status)"
}

# ---- start-up errors ----

@test "serve tls: --tls-cert without --tls-key, or the reverse, is a usage error" {
    serve_repo
    run -129 --separate-stderr fs serve-lite --port 0 --tls-cert "$CERT"
    assert_equal "$output" ""
    assert_equal "${stderr_lines[0]}" "error: --tls-cert and --tls-key go together"
    assert_equal "${stderr_lines[1]}" "usage: fs serve-lite [--host <addr>] [--port <port>] [--token-file <file>] [--threads <n>]"
    run -129 --separate-stderr fs serve-lite --port 0 --tls-key "$KEY"
    assert_equal "$output" ""
    assert_equal "${stderr_lines[0]}" "error: --tls-cert and --tls-key go together"
}

@test "serve tls: a missing key or certificate file is named, exit 128, nothing listens" {
    serve_repo
    cp "$CERT" cert.pem
    cp "$KEY" key.pem
    run_failing_server 128 --tls-cert cert.pem --tls-key missing-key.pem
    assert_equal "$stderr" "fatal: cannot read TLS key 'missing-key.pem': No such file or directory"
    run_failing_server 128 --tls-cert missing-cert.pem --tls-key key.pem
    assert_equal "$stderr" "fatal: cannot read TLS certificate 'missing-cert.pem': No such file or directory"
    run_failing_server 128 --tls-cert . --tls-key key.pem
    assert_equal "$stderr" "fatal: cannot read TLS certificate '.': Is a directory"
}

@test "serve tls: a garbage certificate, a garbage key, a key of another certificate are refused by name" {
    serve_repo
    cp "$CERT" cert.pem
    cp "$KEY" key.pem
    printf 'this is no certificate\n' > garbage.pem
    run_failing_server 128 --tls-cert garbage.pem --tls-key key.pem
    assert_equal "$stderr" "fatal: TLS certificate 'garbage.pem': no PEM certificate in it"
    run_failing_server 128 --tls-cert cert.pem --tls-key garbage.pem
    assert_equal "$stderr" "fatal: TLS key 'garbage.pem': no unencrypted PEM private key in it"
    # the two swapped
    run_failing_server 128 --tls-cert key.pem --tls-key cert.pem
    assert_equal "$stderr" "fatal: TLS certificate 'key.pem': no PEM certificate in it"
    : > empty.pem
    run_failing_server 128 --tls-cert empty.pem --tls-key key.pem
    assert_equal "$stderr" "fatal: TLS certificate 'empty.pem': no PEM certificate in it"
    openssl genrsa -out other-key.pem 2048 2> /dev/null
    run_failing_server 128 --tls-cert cert.pem --tls-key other-key.pem
    assert_equal "$stderr" "fatal: TLS key 'other-key.pem' does not match the certificate 'cert.pem'"
    # an encrypted key is refused, never prompted for (stdin is no terminal here)
    openssl pkey -in key.pem -aes256 -passout pass:secret -out encrypted-key.pem
    run_failing_server 128 --tls-cert cert.pem --tls-key encrypted-key.pem < /dev/null
    assert_equal "$stderr" "fatal: TLS key 'encrypted-key.pem': no unencrypted PEM private key in it"
}

@test "serve tls: a certificate that OpenSSL reads but libmicrohttpd refuses names both files" {
    serve_repo
    # GnuTLS has no brainpool curves; OpenSSL has
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:brainpoolP256r1 -nodes \
        -subj /CN=127.0.0.1 -days 1 -keyout bp-key.pem -out bp-cert.pem 2> /dev/null ||
        skip "this openssl makes no brainpool certificate"
    run_failing_server 128 --tls-cert bp-cert.pem --tls-key bp-key.pem
    # one line, ours, with what libmicrohttpd said in it
    [ "${#stderr_lines[@]}" -eq 1 ] || fail "stderr: $stderr"
    [[ "$stderr" =~ ^"fatal: cannot serve HTTPS on 127.0.0.1:"[0-9]+" with certificate 'bp-cert.pem' and key 'bp-key.pem': ". ]] ||
        fail "stderr: $stderr"
}

# ---- plain HTTP ----

@test "serve: HEAD /health answers 200 without a body, as GET does" {
    local before
    serve_repo
    start_server
    before=$(metric 'fs_requests_total{endpoint="/health",code="200"}')
    run -0 curl -sS --max-time 5 -I "$URL/health"
    assert_line --index 0 --regexp '^HTTP/1\.1 200 OK'
    assert_line --regexp '^Content-Type: application/json'
    # the answer ends with its head: no body (curl -I would not read one)
    run -0 python3 - "$PORT" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"HEAD /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(repr(data.split(b"\r\n\r\n", 1)[1]), data.startswith(b"HTTP/1.1 200 "))
EOF
    assert_output "b'' True"
    # counted as /health
    assert_equal "$(metric 'fs_requests_total{endpoint="/health",code="200"}')" $((before + 2))
}

@test "serve metrics: the remote online store endpoints are counted under their own labels" {
    serve_repo
    start_server
    local ep
    for ep in /write-to-online-store /materialize /materialize-incremental; do
        post "$ep" '{}'
        assert_equal "$(metric "fs_request_duration_seconds_count{endpoint=\"$ep\"}")" 1
    done
    assert_equal "$(metric 'fs_request_duration_seconds_count{endpoint="other"}')" 0
    http GET /no-such-endpoint
    assert_equal "$(metric 'fs_request_duration_seconds_count{endpoint="other"}')" 1
    assert_equal "$(metric 'fs_request_duration_seconds_count{endpoint="/materialize"}')" 1
}
