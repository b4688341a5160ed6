#!/usr/bin/env bats
# The web UI's files as serve-lite serves them (the page at /, its script
# and style under /ui/): the bytes of share/ui/, their types and security
# headers, no token needed for them while the API needs one, HEAD and
# other methods, what is not served, the size budget and no address
# elsewhere; then fs ui, which starts the same server and prints the
# page's URL. What the page shows is t4011's, in a browser.

load test_helper
load lib-serve

TOK=tok-ui-0123456789
UI=$BATS_TEST_DIRNAME/../share/ui

setup_file() {
    shared_server plain
    printf '%s\n' "$TOK" > "$BATS_FILE_TMPDIR/tokens"
    shared_server auth --token-file "$BATS_FILE_TMPDIR/tokens"
}

teardown_file() { stop_shared_servers; }

# headers PATH [CURL-ARGS...]: GET PATH; its headers in $headers (lower-case names), body in $BATS_TEST_TMPDIR/body
headers() {
    local path=$1
    shift
    code=$(curl -sS --max-time 20 "$@" -D "$BATS_TEST_TMPDIR/headers" -o "$BATS_TEST_TMPDIR/body" \
        -w '%{http_code}' "$URL$path") || fail "curl failed: $path"
    headers=$(tr -d '\r' < "$BATS_TEST_TMPDIR/headers" | sed 's/^\([^:]*\):/\L\1:/')
}

header() { sed -n "s/^$1: //p" <<< "$headers"; }

@test "ui: GET / is share/ui/index.html, and its script and style are share/ui's, each with its type" {
    use_server plain
    local path file type
    while read -r path file type; do
        headers "$path"
        assert_code 200
        cmp "$BATS_TEST_TMPDIR/body" "$UI/$file" || fail "$path is not share/ui/$file"
        assert_equal "$(header content-type)" "${type//_/ }"
    done <<EOF
/ index.html text/html;_charset=utf-8
/index.html index.html text/html;_charset=utf-8
/ui/app.js app.js text/javascript;_charset=utf-8
/ui/app.css app.css text/css;_charset=utf-8
EOF
}

@test "ui: the page's files carry a CSP that allows only the server's own script, style and API" {
    use_server plain
    local p csp
    for p in / /ui/app.js /ui/app.css; do
        headers "$p"
        csp=$(header content-security-policy)
        [[ "$csp" == *"default-src 'none'"* ]] || fail "$p: CSP '$csp'"
        [[ "$csp" == *"script-src 'self'"* && "$csp" == *"connect-src 'self'"* ]] || fail "$p: CSP '$csp'"
        [[ "$csp" != *unsafe* ]] || fail "$p: CSP allows unsafe sources: '$csp'"
        assert_equal "$(header x-content-type-options)" nosniff
        assert_equal "$(header cache-control)" no-cache
    done
    # the page refers to its files relatively: it works behind a path prefix too
    grep -q 'src="ui/app.js"' "$UI/index.html"
    grep -q 'href="ui/app.css"' "$UI/index.html"
    # the API's answers are no page
    headers /api/v1/log
    assert_equal "$(header content-security-policy)" ""
}

@test "ui: the page's files need no token, the API behind them does" {
    use_server auth
    local p
    for p in / /index.html /ui/app.js /ui/app.css; do
        http GET "$p"
        assert_code 200
    done
    http GET /api/v1/objects
    assert_error 401 unauthorized
    http GET /api/v1/objects -H "Authorization: Bearer $TOK"
    assert_code 200
    # and the page says what to do with a 401: ask for the token, keep it for the tab
    grep -q 'sessionStorage' "$UI/app.js"
    grep -q "'Bearer '" "$UI/app.js"
}

@test "ui: HEAD answers the headers alone; other methods are 405 with Allow" {
    use_server plain
    local m out
    out=$(curl -sS -I --max-time 10 "$URL/ui/app.js" | tr -d '\r')
    [[ "$out" == "HTTP/1.1 200"* ]] || fail "HEAD: $out"
    grep -qi '^content-type: text/javascript' <<< "$out" || fail "HEAD: $out"
    for m in POST PUT DELETE; do
        http "$m" /
        assert_error 405 "use GET"
        headers / -X "$m"
        assert_equal "$(header allow)" "GET, HEAD"
    done
}

@test "ui: only the page's files are served: no other file, no template, no directory" {
    use_server plain
    local p
    for p in /ui/ /ui /ui/index.html /ui/fs.yaml /fs.yaml /driver.yaml /app.js /index.htm /ui/app.js/ \
        /ui/../fs.yaml /UI/app.js '/?x=1/../fs.yaml'; do
        http GET "$p"
        [ "$code" = 404 ] || [ "$p" = '/?x=1/../fs.yaml' ] || fail "$p: HTTP $code"
        [[ "$body" != *"kind: entity"* && "$body" != *"project:"* ]] || fail "$p served a template: $body"
    done
    # a query string is no other file: / with ?x is the page
    http GET '/?x=1/../fs.yaml'
    assert_code 200
    [[ "$body" == "<!doctype html>"* ]] || fail "$body"
    assert_healthy
}

@test "ui: the page loads nothing from elsewhere and weighs under 100 KB in all" {
    local total
    total=$(cat "$UI/index.html" "$UI/app.js" "$UI/app.css" | wc -c)
    [ "$total" -lt 102400 ] || fail "the page weighs $total bytes"
    # no address of another server: the only URL is SVG's namespace, which is a name, not a load
    run grep -noE '(https?:)?//[a-zA-Z0-9.-]+\.[a-z]{2,}[^"'\'' ]*' "$UI/index.html" "$UI/app.js" "$UI/app.css"
    local urls
    urls=$(grep -v 'www.w3.org/2000/svg' <<< "$output" || true)
    [ -z "$urls" ] || fail "addresses elsewhere: $urls"
    ! grep -nE '@import|url\(' "$UI/app.css" || fail "the style loads something"
    ! grep -nE '<(iframe|object|embed)' "$UI/index.html" || fail "the page embeds something"
    # and the binary serves exactly these bytes (embedded at build time)
    use_server plain
    headers /ui/app.js
    cmp "$BATS_TEST_TMPDIR/body" "$UI/app.js"
}

@test "ui: /metrics counts the page's files as endpoint /ui" {
    use_server plain
    http GET /ui/app.css
    http GET /ui/nope.css
    http GET /metrics
    assert_code 200
    grep -q '^fs_requests_total{endpoint="/ui",code="200"} [1-9]' <<< "$body" || fail "$body"
    grep -q '^fs_requests_total{endpoint="other",code="404"} [1-9]' <<< "$body" || fail "$body"
}

# ---- fs ui ----

# start_ui [OPTIONS...]: fs ui --port 0 OPTIONS in the background; waits for its line, sets UI_PID, URL
start_ui() {
    local i line
    : > ui.out # there before the first read
    : > ui.err
    "$FS" ui --port 0 "$@" > ui.out 2> ui.err 3>&- &
    UI_PID=$!
    for i in $(seq 200); do
        line=$(head -n 1 ui.out)
        [ -n "$line" ] && break
        kill -0 "$UI_PID" 2> /dev/null || fail "fs ui exited: $(cat ui.err)"
        sleep 0.05
    done
    [[ "$line" =~ ^fs\ ui\ listening\ on\ (http://127\.0\.0\.1:[0-9]+)/$ ]] || fail "fs ui printed '$line'"
    URL=${BASH_REMATCH[1]}
    SERVE_PID=$UI_PID # teardown stops it if the test fails
}

@test "fs ui: prints the page's URL and serves the page and its API until SIGTERM" {
    use_server plain
    cd "$BATS_TEST_TMPDIR" && cp -r "$REPO" repo && cd repo
    start_ui
    headers /
    assert_code 200
    cmp "$BATS_TEST_TMPDIR/body" "$UI/index.html"
    http GET /api/v1/objects
    assert_code 200
    same=$(jq -c '[.objects[].name]' <<< "$body")
    assert_equal "$same" "$(fs ls --json | jq -c '[.objects[].name]')"
    http GET /api/v1/status
    assert_code 200
    kill -TERM "$UI_PID"
    wait_server
    assert_equal "$SERVE_STATUS" 0
    assert_equal "$(wc -l < ui.out)" 1
    [ ! -s ui.err ] || fail "stderr: $(cat ui.err)"
}

@test "fs ui --token-file: the page is served, the API needs the token" {
    use_server plain
    cd "$BATS_TEST_TMPDIR" && cp -r "$REPO" repo && cd repo
    printf '  %s  \n' "$TOK" > tokens
    chmod 600 tokens
    start_ui --token-file tokens
    http GET /
    assert_code 200
    http GET /api/v1/log
    assert_error 401 unauthorized
    http GET /api/v1/log -H "Authorization: Bearer $TOK"
    assert_code 200
    stop_server TERM
    assert_equal "$SERVE_STATUS" 0
}

@test "fs ui: bad usage is 129, a busy port 128 with one line, a missing token file 128" {
    use_server plain
    run -129 --separate-stderr fs ui --port 70000
    assert_output ""
    [[ "$stderr" == *"bad port '70000'"* ]] || fail "$stderr"
    run -129 --separate-stderr fs ui extra
    [[ "$stderr" == *"usage: fs ui"* ]] || fail "$stderr"
    run -129 --separate-stderr fs ui --threads 2
    run -128 --separate-stderr fs ui --port "$PORT"
    assert_output ""
    assert_equal "$stderr" "fatal: cannot listen on 127.0.0.1:$PORT: Address already in use"
    run -128 --separate-stderr fs ui --port 0 --token-file "$BATS_TEST_TMPDIR/none"
    [[ "$stderr" == "fatal: cannot read token file '$BATS_TEST_TMPDIR/none'"* ]] || fail "$stderr"
}

@test "fs ui: -h and fs help ui name its options" {
    run -0 fs ui -h
    assert_line --partial "usage: fs ui [--host <addr>] [--port <port>] [--token-file <file>]"
    assert_line --partial "--token-file <file>"
    run -0 fs --list-cmds
    assert_line ui
    run -0 fs ui --fs-completion-helper
    assert_output --partial "--token-file="
}
