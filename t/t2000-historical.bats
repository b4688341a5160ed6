#!/usr/bin/env bats
# get-historical: small hand-written cases with the expected training set
# written out literally, so that a misunderstanding shared by fs and the
# reference (t/pit_reference.py) cannot pass.

load test_helper

teardown() {
    if [ -n "${HTTP_PID:-}" ]; then
        kill "$HTTP_PID" 2>/dev/null || true
        wait "$HTTP_PID" 2>/dev/null || true
    fi
}

# A repository with a driver (int64) and a customer (string) entity, a view
# over each and a feature service; driver_src maps its column 'conv' to the
# feature conv_rate. DRIVER_TTL (default 1h) is driver_stats' ttl. The tests
# write data/driver.csv and data/customer.csv, then run `fs apply -q`.
setup_repo() {
    init_repo
    rm features/driver.yaml
    cat > features/defs.yaml <<EOF
kind: entity
name: driver
join_key: driver_id
type: int64
---
kind: entity
name: customer
join_key: customer_id
type: string
---
kind: source
name: driver_src
type: csv
path: data/driver.csv
timestamp_field: event_timestamp
created_timestamp_field: created
field_mapping: {conv: conv_rate}
---
kind: source
name: customer_src
type: csv
path: data/customer.csv
timestamp_field: ts
---
kind: feature_view
name: driver_stats
entities: [driver]
source: driver_src
ttl: ${DRIVER_TTL:-1h}
features:
  - {name: conv_rate, type: float64}
  - {name: trips, type: int64}
  - {name: active, type: bool}
---
kind: feature_view
name: customer_profile
entities: [customer]
source: customer_src
ttl: 0
features:
  - {name: segment, type: string}
  - {name: visits, type: int32}
  - {name: since, type: timestamp}
---
kind: feature_service
name: svc
features:
  - customer_profile
  - driver_stats: [active, conv_rate]
EOF
    cat > data/customer.csv <<'EOF'
customer_id,ts,segment,visits,since
c1,2024-04-01T00:00:00Z,"gold, old",3,2023-01-01T12:00:00+02:00
c1,2024-04-20T00:00:00Z,gold,+4,2023-01-01T10:00:00.500Z
c2,2024-04-10T00:00:00Z,,007,
EOF
}

driver_csv() {
    { echo "driver_id,event_timestamp,created,conv,trips,active"; cat; } > data/driver.csv
}

@test "get-historical: the window is inclusive at both ends" {
    setup_repo
    driver_csv <<'EOF'
1,2024-05-01T10:00:00Z,,0.50,10,true
1,2024-05-01T12:00:00Z,,0.60,11,false
EOF
    fs apply -q
    cat > rows.csv <<'EOF'
driver_id,event_timestamp
1,2024-05-01T09:59:59Z
1,2024-05-01T10:00:00Z
1,2024-05-01T10:30:00Z
1,2024-05-01T11:00:00Z
1,2024-05-01T11:00:01Z
1,2024-05-01T11:59:59Z
1,2024-05-01T12:00:00Z
1,2024-05-01T13:00:00Z
1,2024-05-01T13:00:01Z
EOF
    run -0 --separate-stderr fs get-historical --entities rows.csv -f driver_stats
    assert_equal "$stderr" ""
    assert_output - <<'EOF'
driver_id,event_timestamp,conv_rate,trips,active
1,2024-05-01T09:59:59Z,,,
1,2024-05-01T10:00:00Z,0.50,10,true
1,2024-05-01T10:30:00Z,0.50,10,true
1,2024-05-01T11:00:00Z,0.50,10,true
1,2024-05-01T11:00:01Z,,,
1,2024-05-01T11:59:59Z,,,
1,2024-05-01T12:00:00Z,0.60,11,false
1,2024-05-01T13:00:00Z,0.60,11,false
1,2024-05-01T13:00:01Z,,,
EOF
}

@test "get-historical: ttl 0 has no lower bound" {
    DRIVER_TTL=0 setup_repo
    driver_csv <<'EOF'
1,2020-01-01T00:00:00Z,,0.50,10,true
EOF
    fs apply -q
    cat > rows.csv <<'EOF'
driver_id,event_timestamp
1,2019-12-31T23:59:59Z
1,2020-01-01T00:00:00Z
1,2030-06-01T00:00:00Z
EOF
    run -0 fs get-historical --entities rows.csv -f driver_stats:trips
    assert_output - <<'EOF'
driver_id,event_timestamp,trips
1,2019-12-31T23:59:59Z,
1,2020-01-01T00:00:00Z,10
1,2030-06-01T00:00:00Z,10
EOF
}

@test "get-historical: equal timestamps: greatest created wins, null created first, then the later row" {
    setup_repo
    driver_csv <<'EOF'
2,2024-05-01T09:00:00Z,2024-05-01T09:05:00Z,0.1,20,false
2,2024-05-01T09:00:00Z,2024-05-01T09:10:00Z,0.2,21,true
2,2024-05-01T09:00:00Z,,0.3,22,false
2,2024-05-01T09:00:00Z,2024-05-01T09:01:00Z,0.4,23,false
3,2024-05-01T08:00:00Z,2024-05-01T08:00:00Z,1.5,30,TRUE
3,2024-05-01T08:00:00Z,2024-05-01T08:00:00Z,2.5,31,FALSE
4,2024-05-01T08:00:00Z,,7,40,1
4,2024-05-01T08:00:00Z,,8,41,0
5,2024-05-01T08:00:00Z,2024-05-01T08:00:00Z,9,50,true
5,2024-05-01T08:00:00Z,,10,51,true
6,2024-05-01T08:00:00Z,2024-05-01T23:00:00Z,11.0,60,true
6,2024-05-01T08:30:00Z,2024-05-01T08:30:00Z,12.0,61,false
EOF
    fs apply -q
    cat > rows.csv <<'EOF'
driver_id,event_timestamp
2,2024-05-01T09:30:00Z
3,2024-05-01T08:30:00Z
4,2024-05-01T08:30:00Z
5,2024-05-01T08:30:00Z
6,2024-05-01T08:45:00Z
EOF
    run -0 fs get-historical --entities rows.csv -f driver_stats
    assert_output - <<'EOF'
driver_id,event_timestamp,conv_rate,trips,active
2,2024-05-01T09:30:00Z,0.2,21,true
3,2024-05-01T08:30:00Z,2.5,31,false
4,2024-05-01T08:30:00Z,8,41,false
5,2024-05-01T08:30:00Z,9,50,true
6,2024-05-01T08:45:00Z,12.0,61,false
EOF
}

@test "get-historical: input order, duplicates and every input column are kept" {
    setup_repo
    driver_csv <<'EOF'
1,2024-05-01T10:00:00Z,,0.50,10,true
2,2024-05-01T10:00:00Z,,0.25,20,false
EOF
    fs apply -q
    cat > rows.csv <<'EOF'
label,driver_id,note,event_timestamp,score
1,2,"a, b",2024-05-01T10:10:00Z,0.5
0,1,"say ""hi""",2024-05-01T10:05:00Z,
1,9,,2024-05-01T10:05:00Z,x
0,1,"say ""hi""",2024-05-01T10:05:00Z,
1,,no key,2024-05-01T10:05:00Z,y
0,01,café,2024-05-01T09:00:00+00:00,z
1,2,"two
lines",2024-05-01 10:20:00,w
EOF
    run -0 fs get-historical --entities rows.csv -f driver_stats:conv_rate
    assert_output - <<'EOF'
label,driver_id,note,event_timestamp,score,conv_rate
1,2,"a, b",2024-05-01T10:10:00Z,0.5,0.25
0,1,"say ""hi""",2024-05-01T10:05:00Z,,0.50
1,9,,2024-05-01T10:05:00Z,x,
0,1,"say ""hi""",2024-05-01T10:05:00Z,,0.50
1,,no key,2024-05-01T10:05:00Z,y,
0,01,café,2024-05-01T09:00:00+00:00,z,
1,2,"two
lines",2024-05-01 10:20:00,w,0.25
EOF
}

@test "get-historical: -f takes view, view:feature and feature services in -f order" {
    setup_repo
    driver_csv <<'EOF'
1,2024-05-01T10:00:00Z,,0.50,10,true
EOF
    fs apply -q
    cat > rows.csv <<'EOF'
driver_id,customer_id,event_timestamp
1,c1,2024-05-01T10:00:00Z
1,c2,2024-04-15T00:00:00Z
EOF
    run -0 fs get-historical --entities rows.csv -f driver_stats:trips -f svc
    assert_output - <<'EOF'
driver_id,customer_id,event_timestamp,trips,segment,visits,since,active,conv_rate
1,c1,2024-05-01T10:00:00Z,10,gold,4,2023-01-01T10:00:00.5Z,true,0.50
1,c2,2024-04-15T00:00:00Z,,,7,,,
EOF
    run -0 fs get-historical --entities rows.csv -f customer_profile -f driver_stats
    assert_output - <<'EOF'
driver_id,customer_id,event_timestamp,segment,visits,since,conv_rate,trips,active
1,c1,2024-05-01T10:00:00Z,gold,4,2023-01-01T10:00:00.5Z,0.50,10,true
1,c2,2024-04-15T00:00:00Z,,7,,,,
EOF
    # before c1's second row: its first one, quoted because of the comma
    printf 'customer_id,event_timestamp\nc1,2024-04-19T23:59:59Z\n' > early.csv
    run -0 fs get-historical --entities early.csv -f customer_profile:since -f customer_profile:segment
    assert_output - <<'EOF'
customer_id,event_timestamp,since,segment
c1,2024-04-19T23:59:59Z,2023-01-01T10:00:00Z,"gold, old"
EOF
}

@test "get-historical: --full-feature-names names columns view__feature" {
    setup_repo
    driver_csv <<'EOF'
1,2024-05-01T10:00:00Z,,0.50,10,true
EOF
    fs apply -q
    printf 'driver_id,customer_id,event_timestamp\n1,c1,2024-05-01T10:00:00Z\n' > rows.csv
    run -0 fs get-historical --entities rows.csv -f svc -f driver_stats:trips --full-feature-names
    assert_output - <<'EOF'
driver_id,customer_id,event_timestamp,customer_profile__segment,customer_profile__visits,customer_profile__since,driver_stats__active,driver_stats__conv_rate,driver_stats__trips
1,c1,2024-05-01T10:00:00Z,gold,4,2023-01-01T10:00:00.5Z,true,0.50,10
EOF
}

@test "get-historical: --timestamp-column picks the entity rows' timestamp" {
    setup_repo
    driver_csv <<'EOF'
1,2024-05-01T10:00:00Z,,0.50,10,true
1,2024-05-01T12:00:00Z,,0.60,11,true
EOF
    fs apply -q
    cat > rows.csv <<'EOF'
driver_id,asof,event_timestamp
1,2024-05-01T10:30:00Z,2024-05-01T12:30:00Z
1,2024-05-01T12:30:00Z,not a time
EOF
    run -0 fs get-historical --entities rows.csv -f driver_stats:conv_rate --timestamp-column asof
    assert_output - <<'EOF'
driver_id,asof,event_timestamp,conv_rate
1,2024-05-01T10:30:00Z,2024-05-01T12:30:00Z,0.50
1,2024-05-01T12:30:00Z,not a time,0.60
EOF
}

@test "get-historical: -o writes the file and nothing to stdout" {
    setup_repo
    driver_csv <<'EOF'
1,2024-05-01T10:00:00Z,,0.50,10,true
EOF
    fs apply -q
    printf 'driver_id,event_timestamp\n1,2024-05-01T10:00:00Z\n' > rows.csv
    run -0 --separate-stderr fs get-historical --entities rows.csv -f driver_stats -o out.csv
    assert_equal "$output" ""
    assert_equal "$stderr" ""
    assert_equal "$(cat out.csv)" "driver_id,event_timestamp,conv_rate,trips,active
1,2024-05-01T10:00:00Z,0.50,10,true"
    # nothing else left behind (no temporary file)
    run -0 ls
    refute_output --partial 'out.csv.'
}

@test "get-historical: --format json writes one typed object a line" {
    setup_repo
    driver_csv <<'EOF'
1,2024-05-01T10:00:00Z,,0.50,10,true
2,2024-05-01T10:00:00Z,,1e3,,FALSE
EOF
    fs apply -q
    cat > rows.csv <<'EOF'
driver_id,customer_id,event_timestamp,label,note
1,c1,2024-05-01T10:00:00Z,1,"a ""q"", b"
2,c2,2024-05-01T10:30:00Z,0,
3,c9,2024-05-01T10:00:00Z,,x
EOF
    fs get-historical --entities rows.csv -f driver_stats -f svc --full-feature-names --format json > out.json
    run -0 python3 - <<'EOF'
import json
lines = open("out.json").read().split("\n")
assert lines[-1] == "", "ends with a newline"
rows = [json.loads(l) for l in lines[:-1]]
assert len(rows) == 3, rows
assert list(rows[0]) == ["driver_id", "customer_id", "event_timestamp", "label", "note",
                         "driver_stats__conv_rate", "driver_stats__trips", "driver_stats__active",
                         "customer_profile__segment", "customer_profile__visits",
                         "customer_profile__since"], list(rows[0])
want = [
    {"driver_id": 1, "customer_id": "c1", "event_timestamp": "2024-05-01T10:00:00Z", "label": "1",
     "note": 'a "q", b', "driver_stats__conv_rate": 0.5, "driver_stats__trips": 10,
     "driver_stats__active": True, "customer_profile__segment": "gold",
     "customer_profile__visits": 4, "customer_profile__since": "2023-01-01T10:00:00.5Z"},
    {"driver_id": 2, "customer_id": "c2", "event_timestamp": "2024-05-01T10:30:00Z", "label": "0",
     "note": None, "driver_stats__conv_rate": 1000.0, "driver_stats__trips": None,
     "driver_stats__active": False, "customer_profile__segment": None,
     "customer_profile__visits": 7, "customer_profile__since": None},
    {"driver_id": 3, "customer_id": "c9", "event_timestamp": "2024-05-01T10:00:00Z", "label": None,
     "note": "x", "driver_stats__conv_rate": None, "driver_stats__trips": None,
     "driver_stats__active": None, "customer_profile__segment": None,
     "customer_profile__visits": None, "customer_profile__since": None},
]
for got, exp in zip(rows, want):
    assert got == exp, (got, exp)
    for k in exp:   # True == 1 in Python: compare the types too
        assert type(got[k]) is type(exp[k]), (k, got[k], exp[k])
print("ok")
EOF
    assert_output ok
}

@test "get-historical: --entities - reads standard input" {
    setup_repo
    driver_csv <<'EOF'
1,2024-05-01T10:00:00Z,,0.50,10,true
EOF
    fs apply -q
    run -0 --separate-stderr fs get-historical --entities - -f driver_stats:trips <<'EOF'
driver_id,event_timestamp
1,2024-05-01T10:00:00Z
1,2024-05-01T09:00:00Z
EOF
    assert_output - <<'EOF'
driver_id,event_timestamp,trips
1,2024-05-01T10:00:00Z,10
1,2024-05-01T09:00:00Z,
EOF
}

@test "get-historical: sqlite sources, by table and by query" {
    init_repo
    rm features/driver.yaml
    sqlite3 data/stats.db <<'EOF'
CREATE TABLE stats (driver_id INTEGER, event_timestamp TEXT, conv REAL, trips INTEGER, tier TEXT);
INSERT INTO stats VALUES (1, '2024-05-01T10:00:00Z', 0.5, 10, 'a');
INSERT INTO stats VALUES (1, '2024-05-01T11:00:00Z', 1.0, 11, NULL);
INSERT INTO stats VALUES (2, '2024-05-01 10:00:00', NULL, 20, 'b,c');
EOF
    cat > features/defs.yaml <<'EOF'
kind: entity
name: driver
join_key: driver_id
type: int64
---
kind: source
name: by_table
type: sqlite
path: data/stats.db
table: stats
timestamp_field: event_timestamp
---
kind: source
name: by_query
type: sqlite
path: data/stats.db
query: SELECT driver_id, event_timestamp, trips * 100 AS big FROM stats WHERE trips > 10
timestamp_field: event_timestamp
---
kind: feature_view
name: table_view
entities: [driver]
source: by_table
ttl: 1d
features:
  - {name: conv, type: float64}
  - {name: trips, type: int64}
  - {name: tier, type: string}
---
kind: feature_view
name: query_view
entities: [driver]
source: by_query
ttl: 1d
features:
  - {name: big, type: int64}
EOF
    fs apply -q
    cat > rows.csv <<'EOF'
driver_id,event_timestamp
1,2024-05-01T10:30:00Z
1,2024-05-01T11:30:00Z
2,2024-05-01T10:00:00Z
3,2024-05-01T10:00:00Z
EOF
    run -0 --separate-stderr fs get-historical --entities rows.csv -f table_view -f query_view
    assert_output - <<'EOF'
driver_id,event_timestamp,conv,trips,tier,big
1,2024-05-01T10:30:00Z,0.5,10,a,
1,2024-05-01T11:30:00Z,1.0,11,,1100
2,2024-05-01T10:00:00Z,,20,"b,c",2000
3,2024-05-01T10:00:00Z,,,,
EOF
}

@test "get-historical: a push source reads its batch_source" {
    setup_repo
    driver_csv <<'EOF'
1,2024-05-01T10:00:00Z,,0.50,10,true
EOF
    cat >> features/defs.yaml <<'EOF'
---
kind: source
name: driver_push
type: push
batch_source: driver_src
---
kind: feature_view
name: pushed_stats
entities: [driver]
source: driver_push
ttl: 1h
features:
  - {name: conv_rate, type: float64}
  - {name: trips, type: int64}
EOF
    fs apply -q
    printf 'driver_id,event_timestamp\n1,2024-05-01T10:59:00Z\n1,2024-05-01T11:01:00Z\n' > rows.csv
    run -0 fs get-historical --entities rows.csv -f pushed_stats
    assert_output - <<'EOF'
driver_id,event_timestamp,conv_rate,trips
1,2024-05-01T10:59:00Z,0.50,10
1,2024-05-01T11:01:00Z,,
EOF
}

@test "get-historical: field_mapping reads the feature from the mapped column" {
    setup_repo
    # a column named like the feature is there too: the mapping decides
    cat > data/driver.csv <<'EOF'
driver_id,event_timestamp,created,conv,conv_rate,trips,active
1,2024-05-01T10:00:00Z,,0.75,999,10,true
EOF
    fs apply -q
    printf 'driver_id,event_timestamp\n1,2024-05-01T10:00:00Z\n' > rows.csv
    run -0 fs get-historical --entities rows.csv -f driver_stats:conv_rate
    assert_output - <<'EOF'
driver_id,event_timestamp,conv_rate
1,2024-05-01T10:00:00Z,0.75
EOF
}

@test "get-historical: offsets and fractional seconds order correctly" {
    setup_repo
    # file order is not time order; trips 1 is 10:00:00Z and 5 is 09:59:59Z,
    # both written with an offset
    driver_csv <<'EOF'
1,2024-05-01 10:00:01,,4,4,true
1,2024-05-01T10:00:00.5Z,,2,2,true
1,2024-05-01T12:00:00+02:00,,1,1,true
1,2024-05-01T10:00:00.250Z,,3,3,true
1,2024-05-01T04:29:59-05:30,,5,5,true
EOF
    fs apply -q
    cat > rows.csv <<'EOF'
driver_id,event_timestamp
1,2024-05-01T09:59:59.999999Z
1,2024-05-01T10:00:00Z
1,2024-05-01T10:00:00.249999Z
1,2024-05-01T10:00:00.3Z
1,2024-05-01T06:00:00.5-04:00
1,1714557600
1,1714557601
1,2024-05-01T10:00:00.75+00:00
EOF
    run -0 fs get-historical --entities rows.csv -f driver_stats:trips
    assert_output - <<'EOF'
driver_id,event_timestamp,trips
1,2024-05-01T09:59:59.999999Z,5
1,2024-05-01T10:00:00Z,1
1,2024-05-01T10:00:00.249999Z,1
1,2024-05-01T10:00:00.3Z,3
1,2024-05-01T06:00:00.5-04:00,2
1,1714557600,1
1,1714557601,4
1,2024-05-01T10:00:00.75+00:00,2
EOF
}

# start `python3 -m http.server` on a free loopback port (the kernel picks
# it: port 0) serving directory $1; sets HTTP_PID and HTTP_PORT
start_http() {
    : > "$BATS_TEST_TMPDIR/http.log" # there before the first read
    python3 -u -m http.server --bind 127.0.0.1 --directory "$1" 0 \
        > "$BATS_TEST_TMPDIR/http.log" 2>&1 3>&- &
    HTTP_PID=$!
    await_http_port
}

# wait for the server just started to print "... port N ..." in http.log;
# sets HTTP_PORT
await_http_port() {
    local i
    for i in $(seq 100); do
        HTTP_PORT=$(sed -n 's/.* port \([0-9][0-9]*\).*/\1/p' "$BATS_TEST_TMPDIR/http.log")
        [ -n "$HTTP_PORT" ] && return 0
        sleep 0.1
    done
    echo "http server did not start: $(cat "$BATS_TEST_TMPDIR/http.log")" >&2
    return 1
}

@test "get-historical: a csv source over http" {
    setup_repo
    mkdir www
    printf 'driver_id,event_timestamp,created,conv,trips,active\n1,2024-05-01T10:00:00Z,,0.50,10,true\n' > www/driver.csv
    start_http www
    export no_proxy=127.0.0.1 NO_PROXY=127.0.0.1
    sed -i "s|path: data/driver.csv|path: http://127.0.0.1:$HTTP_PORT/driver.csv|" features/defs.yaml
    fs apply -q
    printf 'driver_id,event_timestamp\n1,2024-05-01T10:30:00Z\n2,2024-05-01T10:30:00Z\n' > rows.csv
    run -0 --separate-stderr fs get-historical --entities rows.csv -f driver_stats
    assert_equal "$stderr" ""
    assert_output - <<'EOF'
driver_id,event_timestamp,conv_rate,trips,active
1,2024-05-01T10:30:00Z,0.50,10,true
2,2024-05-01T10:30:00Z,,,
EOF
    # a missing file: the HTTP status in the message, exit 128, no output file
    sed -i "s|/driver.csv|/nope.csv|" features/defs.yaml
    fs apply -q
    run -128 --separate-stderr fs get-historical --entities rows.csv -f driver_stats -o out.csv
    assert_equal "$output" ""
    [[ "$stderr" == "fatal: "*"http://127.0.0.1:$HTTP_PORT/nope.csv"*"404"* ]]
    [ ! -e out.csv ]
}

# A server answering /slow after 5 s, /err with 500, /short with a body
# cut short of its Content-Length; sets HTTP_PID and HTTP_PORT.
start_bad_http() {
    python3 -u - > "$BATS_TEST_TMPDIR/http.log" 2>&1 3>&- <<'PY' &
import http.server, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/slow.csv":
            time.sleep(5)
        if self.path == "/err.csv":
            self.send_response(500); self.send_header("Content-Length", "0"); self.end_headers()
            return
        body = b"driver_id,event_timestamp,created,conv,trips,active\n1,2024-05-01T10:00:00Z,,0.5,10,true\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body) + (1000 if self.path == "/short.csv" else 0)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print("serving on port", s.server_address[1], "now", flush=True)
s.serve_forever()
PY
    HTTP_PID=$!
    await_http_port
}

@test "get-historical: http failures (timeout, 500, short body, refused) fail naming the URL, leaving nothing" {
    setup_repo
    start_bad_http
    export no_proxy=127.0.0.1 NO_PROXY=127.0.0.1
    printf 'driver_id,event_timestamp\n1,2024-05-01T10:30:00Z\n' > rows.csv
    sed -i "s|path: data/driver.csv|path: http://127.0.0.1:$HTTP_PORT/short.csv|" features/defs.yaml
    fs apply -q
    local tmpdir=$BATS_TEST_TMPDIR/tmp
    mkdir -p "$tmpdir"
    export TMPDIR=$tmpdir
    run -128 --separate-stderr fs get-historical --entities rows.csv -f driver_stats -o out.csv
    assert_output ""
    [[ "$stderr" == "fatal: "*"http://127.0.0.1:$HTTP_PORT/short.csv"* ]]
    [[ "$stderr" == *"transfer closed"* ]]
    [ ! -e out.csv ]

    sed -i "s|/short.csv|/err.csv|" features/defs.yaml
    fs apply -q
    run -128 --separate-stderr fs get-historical --entities rows.csv -f driver_stats -o out.csv
    [[ "$stderr" == "fatal: "*"http://127.0.0.1:$HTTP_PORT/err.csv"*"500"* ]]
    [ ! -e out.csv ]

    sed -i "s|/err.csv|/slow.csv|" features/defs.yaml
    fs apply -q
    SECONDS=0
    FS_FETCH_TIMEOUT=1 run -128 --separate-stderr fs get-historical --entities rows.csv -f driver_stats -o out.csv
    [ "$SECONDS" -lt 4 ]
    [[ "$stderr" == "fatal: "*"http://127.0.0.1:$HTTP_PORT/slow.csv"*"timed out"* ]]
    [ ! -e out.csv ]
    # with time enough, the same URL works
    run -0 --separate-stderr fs get-historical --entities rows.csv -f driver_stats
    assert_output "driver_id,event_timestamp,conv_rate,trips,active
1,2024-05-01T10:30:00Z,0.5,10,true"

    kill "$HTTP_PID"; wait "$HTTP_PID" 2>/dev/null || true; HTTP_PID=
    run -128 --separate-stderr fs get-historical --entities rows.csv -f driver_stats -o out.csv
    [[ "$stderr" == "fatal: "*"http://127.0.0.1:$HTTP_PORT/slow.csv"* ]]
    [ ! -e out.csv ]
    # no download left behind
    run -0 ls -A "$tmpdir"
    assert_output ""
    run -0 ls -A
    refute_output --partial "out.csv"
}

@test "get-historical: a UTF-8 BOM and CRLF line ends, in the source and in the entity file" {
    setup_repo
    printf '\xef\xbb\xbfdriver_id,event_timestamp,created,conv,trips,active\r\n1,2024-05-01T10:00:00Z,,0.5,10,true\r\n2,2024-05-01T10:00:00Z,,"0.25",3,false\r\n' > data/driver.csv
    fs apply -q
    printf '\xef\xbb\xbfdriver_id,event_timestamp,label\r\n2,2024-05-01T10:30:00Z,"a\r\nb"\r\n1,2024-05-01T10:30:00Z,x\r\n' > rows.csv
    run -0 --separate-stderr fs get-historical --entities rows.csv -f driver_stats
    assert_equal "$stderr" ""
    assert_output "$(printf 'driver_id,event_timestamp,label,conv_rate,trips,active\n2,2024-05-01T10:30:00Z,"a\r\nb",0.25,3,false\n1,2024-05-01T10:30:00Z,x,0.5,10,true')"
}

@test "get-historical: a view keyed by two entities joins on both keys" {
    setup_repo
    cat >> features/defs.yaml <<'EOF'
---
kind: source
name: pair_src
type: csv
path: data/pair.csv
timestamp_field: ts
---
kind: feature_view
name: pair
entities: [driver, customer]
source: pair_src
ttl: 1d
features:
  - {name: n_trips, type: int64}
EOF
    cat > data/pair.csv <<'EOF'
driver_id,customer_id,ts,n_trips
1,c1,2024-05-01T00:00:00Z,10
1,c2,2024-05-01T00:00:00Z,20
2,c1,2024-05-01T06:00:00Z,30
1,c1,2024-05-01T12:00:00Z,11
EOF
    driver_csv <<'EOF'
EOF
    fs apply -q
    cat > rows.csv <<'EOF'
customer_id,driver_id,event_timestamp
c1,1,2024-05-01T11:00:00Z
c2,1,2024-05-01T11:00:00Z
c1,2,2024-05-01T11:00:00Z
c2,2,2024-05-01T11:00:00Z
c1,1,2024-05-01T12:00:00Z
c1,1,2024-05-02T01:00:00Z
EOF
    run -0 --separate-stderr fs get-historical --entities rows.csv -f pair
    assert_equal "$stderr" ""
    assert_output - <<'EOF'
customer_id,driver_id,event_timestamp,n_trips
c1,1,2024-05-01T11:00:00Z,10
c2,1,2024-05-01T11:00:00Z,20
c1,2,2024-05-01T11:00:00Z,30
c2,2,2024-05-01T11:00:00Z,
c1,1,2024-05-01T12:00:00Z,11
c1,1,2024-05-02T01:00:00Z,11
EOF
}

@test "get-historical: -o leaves no partial file when a signal ends the run" {
    setup_repo
    driver_csv <<'EOF'
1,2024-05-01T10:00:00Z,,0.5,10,true
EOF
    fs apply -q
    local sig pid writer i
    for sig in TERM INT HUP; do
        rm -f fifo && mkfifo fifo
        # the entity rows never end: the run waits with its output file open
        (printf 'driver_id,event_timestamp\n'; exec sleep 30) > fifo &
        writer=$!
        "$FS" get-historical --entities fifo -f driver_stats -o out.csv &
        pid=$!
        for i in $(seq 100); do
            compgen -G 'out.csv.tmp.*' > /dev/null && break
            sleep 0.05
        done
        compgen -G 'out.csv.tmp.*' > /dev/null
        kill -$sig "$pid"
        run wait "$pid"
        [ "$status" -gt 128 ]
        kill "$writer" 2>/dev/null || true
        wait "$writer" 2>/dev/null || true
        run -0 ls -A
        refute_output --partial "out.csv"
    done
}

@test "get-historical: the README job on the fs init sample returns values at the current time" {
    init_repo
    fs apply -q
    now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    printf 'driver_id,event_timestamp,label\n1001,%s,1\n1005,%s,0\n' "$now" "$now" > rows.csv
    run -0 --separate-stderr fs get-historical --entities rows.csv -f driver_hourly_stats
    assert_equal "$stderr" ""
    assert_line -n 0 "driver_id,event_timestamp,label,conv_rate,acc_rate,avg_daily_trips"
    assert_line -n 1 --regexp "^1001,$now,1,[0-9.]+,[0-9.]+,[0-9]+\$"
    assert_line -n 2 --regexp "^1005,$now,0,[0-9.]+,[0-9.]+,[0-9]+\$"
    [ "${#lines[@]}" -eq 3 ]
    run -0 fs get-historical --entities rows.csv -f driver_activity_v1
    assert_line -n 0 "driver_id,event_timestamp,label,conv_rate,acc_rate"
    assert_line -n 1 --regexp "^1001,$now,1,[0-9.]+,[0-9.]+\$"
}
