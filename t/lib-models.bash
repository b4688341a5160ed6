# Helpers for the model registry tests (t5xxx): a repo with `eta` applied,
# small HTTP servers on free loopback ports, and their cleanup.
#
#   load test_helper
#   load lib-models

# A download that stalls fails in a minute, naming its URL, instead of
# holding the test file until meson's timeout.
export FS_FETCH_TIMEOUT=60

# A fresh repo from `fs init` with its definitions applied, cwd inside it.
models_repo() {
    init_repo
    "$FS" apply -q
}

# Register a version of eta from a new file with unique content; the
# arguments are passed on (--metric ...). Prints what fs prints.
register_eta() {
    local f
    f=$(mktemp "$BATS_TEST_TMPDIR/artifact.XXXXXX")
    echo "model $f" > "$f"
    "$FS" register-model eta --artifact "$f" "$@"
}

# The stage of eta version $1, from `fs models --json`.
stage_of() {
    "$FS" models eta --json | jq -r --argjson v "$1" '.versions[] | select(.version == $v) | .stage'
}

# Remember a background process started by the test; teardown kills it.
track_pid() {
    echo "$1" >> "$BATS_TEST_TMPDIR/pids"
}

teardown() {
    local pid
    [ -f "$BATS_TEST_TMPDIR/pids" ] || return 0
    while read -r pid; do
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done < "$BATS_TEST_TMPDIR/pids"
}

# Wait up to 10 s for file $1 to appear.
wait_for_file() {
    local i
    for i in $(seq 100); do
        [ -s "$1" ] && return 0
        sleep 0.1
    done
    echo "timed out waiting for $1" >&2
    return 1
}

# Serve directory $1 with `python3 -m http.server` on a free loopback port
# (port 0: the kernel picks it, the server prints it); sets HTTP_PORT.
start_http_server() {
    local log="$BATS_TEST_TMPDIR/http-server.log" i
    : > "$log" # there before the first read: the server's shell may open it later
    python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$1" > "$log" 2>&1 &
    track_pid $!
    for i in $(seq 100); do
        HTTP_PORT=$(sed -n 's/^Serving HTTP on .* port \([0-9][0-9]*\).*/\1/p' "$log")
        [ -n "$HTTP_PORT" ] && return 0
        sleep 0.1
    done
    echo "http.server did not start: $(cat "$log")" >&2
    return 1
}

# A webhook receiver on a free loopback port: appends every request as a
# JSON line {"path", "status", "headers" (lowercased names), "body", "t"
# (arrival, unix seconds as a float)} to $BATS_TEST_TMPDIR/hooks.jsonl and
# answers the status codes listed in $1 (comma-separated, one per request),
# then 200; with HOOK_DELAY set, it waits that many seconds before each
# answer. Sets HOOK_PORT.
start_hook_listener() {
    local dir=$BATS_TEST_TMPDIR
    cat > "$dir/listener.py" <<'EOF'
import http.server, json, os, sys, time
log, portfile = sys.argv[1], sys.argv[2]
codes = [int(c) for c in sys.argv[3].split(",") if c] if len(sys.argv) > 3 else []
delay = float(os.environ.get("HOOK_DELAY") or 0)

class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        t = time.time()
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        code = codes.pop(0) if codes else 200
        with open(log, "a") as f:
            f.write(json.dumps({"path": self.path, "status": code,
                                "headers": {k.lower(): v for k, v in self.headers.items()},
                                "body": body, "t": t}) + "\n")
        time.sleep(delay)
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(portfile + ".tmp", portfile)
server.serve_forever()
EOF
    rm -f "$dir/hook.port"
    python3 "$dir/listener.py" "$dir/hooks.jsonl" "$dir/hook.port" "${1:-}" &
    track_pid $!
    wait_for_file "$dir/hook.port"
    HOOK_PORT=$(cat "$dir/hook.port")
}

# A loopback port nothing listens on (bound, then closed).
closed_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Append a webhooks: section to fs.yaml (url, events) and apply it.
add_webhook() {
    local url=$1 events=$2
    printf 'webhooks: [{url: "%s", events: [%s], secret_env: FS_WEBHOOK_SECRET}]\n' \
        "$url" "$events" >> fs.yaml
    "$FS" apply -q
}
