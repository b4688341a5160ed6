#!/usr/bin/env bats
# serve-lite: start-up failures, SIGTERM and SIGINT (exit 0, port closed,
# in-flight requests finished), and picking up `fs apply` and model stage
# changes without a restart.

load test_helper
load lib-serve

GOF='{"entities": {"driver_id": [1001]}, "features": ["driver_hourly_stats:avg_daily_trips"]}'

# The port is closed: connecting fails.
assert_port_closed() {
    run curl -s --max-time 5 "http://127.0.0.1:$1/health"
    [ "$status" -eq 7 ] || fail "port $1 still answers (curl status $status): $output"
}

@test "serve lifecycle: SIGTERM exits 0 and closes the port" {
    serve_repo
    start_server
    post /get-online-features "$GOF"
    assert_code 200
    stop_server TERM
    assert_equal "$SERVE_STATUS" 0
    assert_port_closed "$PORT"
}

@test "serve lifecycle: SIGINT exits 0 and closes the port" {
    serve_repo
    start_server
    stop_server INT
    assert_equal "$SERVE_STATUS" 0
    assert_port_closed "$PORT"
}

@test "serve lifecycle: a request in flight at SIGTERM is answered before exit" {
    serve_repo
    start_server
    # a large body sent slowly in 6 parts; SIGTERM after the first part
    run python3 - "$PORT" "$SERVE_PID" <<'EOF'
import json, os, signal, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
ids = [1001, 1002, 1003, 9999] * 2500
body = json.dumps({"entities": {"driver_id": ids},
                   "features": ["driver_hourly_stats:avg_daily_trips"]}).encode()
s = socket.create_connection(("127.0.0.1", port), timeout=30)
s.sendall(b"POST /get-online-features HTTP/1.1\r\nHost: 127.0.0.1\r\n"
          b"Content-Type: application/json\r\nConnection: close\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body))
step = len(body) // 6 + 1
for i in range(0, len(body), step):
    s.sendall(body[i:i + step])
    if i == 0:
        time.sleep(0.2)
        os.kill(pid, signal.SIGTERM)
    time.sleep(0.2)
    if i + step < len(body):
        os.kill(pid, 0)  # still running while the request is incomplete
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
head, _, payload = data.partition(b"\r\n\r\n")
status = head.split(b"\r\n")[0]
assert status.startswith(b"HTTP/1.1 200"), data[:300]
r = json.loads(payload)
want = {1001: 10, 1002: 20, 1003: -3, 9999: None}
assert r["results"][1]["values"] == [want[i] for i in ids], "wrong values"
print("answered", len(ids), "rows")
EOF
    [ "$status" -eq 0 ] || fail "$output"
    assert_output "answered 10000 rows"
    # SIGTERM was sent already: the server exits by itself, with 0
    wait_server
    assert_equal "$SERVE_STATUS" 0
    assert_port_closed "$PORT"
}

@test "serve lifecycle: an idle keep-alive connection does not delay the exit" {
    serve_repo
    start_server
    # a client that keeps its connection open after a request, as Feast's
    # requests.Session does; the server must exit at once on SIGTERM
    run python3 - "$PORT" "$SERVE_PID" <<'EOF'
import http.client, os, signal, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
c.request("POST", "/get-online-features", body=b'{"entities": {"driver_id": [1001]}, '
          b'"features": ["driver_hourly_stats:avg_daily_trips"]}')
r = c.getresponse()
r.read()
assert r.status == 200, r.status
os.kill(pid, signal.SIGTERM)
t = time.time()
while time.time() - t < 20:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        break
    time.sleep(0.05)
took = time.time() - t
assert took < 3, "exited %.1f s after SIGTERM" % took
EOF
    [ "$status" -eq 0 ] || fail "$output"
    wait_server
    assert_equal "$SERVE_STATUS" 0
}

@test "serve lifecycle: a port in use is a fatal error at start, fs's own message only" {
    serve_repo
    start_server
    run -128 --separate-stderr fs serve-lite --port "$PORT"
    # no message of libmicrohttpd's own before it
    assert_equal "$stderr" "fatal: cannot listen on 127.0.0.1:$PORT: Address already in use"
    assert_output ""
}

@test "serve lifecycle: a port another program listens on is a fatal error, fs's own message only" {
    serve_repo
    local port
    python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
print(s.getsockname()[1], flush=True)
sys.stdout.close()
time.sleep(60)' > port.txt 3>&- &
    track_pid $!
    for _ in $(seq 100); do [ -s port.txt ] && break; sleep 0.05; done
    port=$(cat port.txt)
    [ -n "$port" ] || fail "the listener did not start"
    run -128 --separate-stderr fs serve-lite --port "$port"
    assert_equal "$stderr" "fatal: cannot listen on 127.0.0.1:$port: Address already in use"
    assert_output ""
}

@test "serve lifecycle: bad options are usage errors" {
    serve_repo
    run -129 fs serve-lite --port 70000
    assert_output --partial "bad port '70000'"
    run -129 fs serve-lite --max-body 0
    assert_output --partial "bad --max-body '0'"
    run -129 fs serve-lite extra
}

@test "serve lifecycle: a model promoted while serving is served without a restart" {
    init_repo
    fs apply -q
    start_server
    http GET /models/eta/production
    assert_error 404 "no model version for 'eta/production'"
    echo "weights of a tiny model" > model.bin
    run -0 fs register-model eta --artifact model.bin --metric auc=0.9
    assert_output 1
    fs promote eta 1 staging > /dev/null
    poll_until 200 GET /models/eta/staging
    fs promote eta 1 production > /dev/null
    poll_until 200 GET /models/eta/production
    local sum
    sum=$(sha256sum model.bin | cut -d' ' -f1)
    jq -e --arg sum "$sum" '.model == "eta" and .version == 1 and .stage == "production"
        and .sha256 == $sum and .metrics == {"auc": 0.9} and (.artifact_uri | type == "string" and length > 0)' \
        <<< "$body" > /dev/null || fail "unexpected model version: $body"
    # and version 1 left staging
    http GET /models/eta/staging
    assert_error 404 "no model version"
}

@test "serve lifecycle: a feature view added by fs apply is served without a restart" {
    serve_repo
    start_server
    local req='{"entities": {"driver_id": [1001, 1003]}, "features": ["driver_trips:avg_daily_trips"]}'
    post /get-online-features "$req"
    assert_feast_error 404 FeatureViewNotFoundException "Feature view driver_trips does not exist"
    cat > features/trips.yaml <<'EOF'
kind: feature_view
name: driver_trips
entities: [driver]
source: driver_stats
ttl: 1d
features:
  - {name: avg_daily_trips, type: int64}
EOF
    fs apply -q -m "add driver_trips"
    fs materialize-incremental -q now
    local i
    for i in $(seq 50); do
        post /get-online-features "$req"
        [ "$code" = 200 ] && break
        sleep 0.1
    done
    assert_code 200
    assert_json "$body" '{
      "metadata": {"feature_names": ["driver_id", "avg_daily_trips"]},
      "results": [
        {"values": [1001, 1003], "statuses": ["PRESENT", "PRESENT"],
         "event_timestamps": ["1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"]},
        {"values": [10, -3], "statuses": ["PRESENT", "PRESENT"],
         "event_timestamps": ["'"$T1"'", "'"$T2"'"]}]}'
}

@test "serve lifecycle: a feature removed by fs apply stops being served without a restart" {
    serve_repo
    start_server
    post /get-online-features "$GOF"
    assert_code 200
    sed -i '/name: avg_daily_trips/d' features/driver.yaml
    fs apply -q -m "drop avg_daily_trips"
    local i
    for i in $(seq 50); do
        post /get-online-features "$GOF"
        [ "$code" = 404 ] && break
        sleep 0.1
    done
    assert_error 404 "feature_view 'driver_hourly_stats' has no feature 'avg_daily_trips'"
    # the rest of the view is still served
    post /get-online-features '{"entities": {"driver_id": [1001]}, "feature_service": "driver_activity_v1"}'
    assert_code 200
}

@test "serve lifecycle: 1,100 slow clients from one address do not starve another address" {
    serve_repo
    start_server
    # 1,100 connections from 127.0.0.2, each sending a header line every 2 s
    cat > drip.py <<'PY'
import resource, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
port = int(sys.argv[1])
socks = []
for i in range(1100):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.settimeout(0.5)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    except OSError:
        s.close()
open("drip.ready", "w").write("%d\n" % len(socks))
end = time.time() + 12
while time.time() < end:
    for s in socks:
        try:
            s.sendall(b"X-Drip: 1\r\n")
        except OSError:
            pass
    time.sleep(2)
PY
    python3 drip.py "$PORT" 3>&- &
    local drip=$! i code slow=0
    for i in $(seq 200); do [ -s drip.ready ] && break; sleep 0.1; done
    [ -s drip.ready ] || fail "the slow clients did not connect"
    # meanwhile 127.0.0.1 is answered at once
    for i in $(seq 10); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$URL/metrics") || code=timeout
        [ "$code" = 200 ] || slow=$((slow + 1))
        sleep 0.3
    done
    kill "$drip" 2> /dev/null || true
    wait "$drip" 2> /dev/null || true
    assert_equal "$slow" 0
    stop_server
    assert_equal "$SERVE_STATUS" 0
}

@test "serve lifecycle: a client that trickles its request head is cut off 10 s after it connected" {
    serve_repo
    start_server
    cat > trickle.py <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
start = time.time()
s.settimeout(0.5)
while time.time() - start < 30:
    try:
        s.sendall(b"X-Drip: 1\r\n")
        if s.recv(4096) == b"":
            break
    except socket.timeout:
        continue
    except OSError:
        break
print("%.1f" % (time.time() - start))
PY
    run -0 python3 trickle.py "$PORT"
    awk -v t="$output" 'BEGIN { exit !(t >= 9.5 && t < 14) }' || fail "cut off after $output s"
    # a client that sends its request at once is answered as ever
    run -0 curl -sf "$URL/health"
    stop_server
    assert_equal "$SERVE_STATUS" 0
}
