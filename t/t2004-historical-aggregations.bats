#!/usr/bin/env bats
# get-historical of windowed aggregations (feature views with
# `aggregations:`): seeded random data compared with the brute-force
# reference t/agg_reference.py (every function, int/float/string/bool/
# timestamp columns, default and explicit hops down to 1s, a view keyed by
# two entities, rows exactly at events and on window and tile edges,
# created-timestamp ties, nulls, mixed with a plain view), hand-made
# boundary cases with literal values, bad data, and the checks of apply.

load test_helper
load lib-agg

# check SEED: a fresh repository of random data; fs vs the reference.
check() {
    local seed=$1
    agg_random_repo "$seed" "$BATS_TEST_TMPDIR/s$seed"
    agg_ref expect spec.json rows.csv > expected.csv
    mapfile -t args < args
    run -0 --separate-stderr fs get-historical --entities rows.csv "${args[@]}" -o actual.csv
    assert_equal "$stderr" ""
    run agg_ref compare spec.json actual.csv expected.csv
    [ "$status" -eq 0 ] || fail "seed $seed: fs differs from the reference:
$output"
    cd "$BATS_TEST_TMPDIR"
}

@test "get-historical aggregations: random data equal the reference, every function and window (seeds 1, 3, 5, 7)" {
    local seed
    for seed in 1 3 5 7; do check "$seed"; done
}

@test "get-historical aggregations: random data through a feature service mixing plain and aggregation views (seeds 2, 4)" {
    local seed
    for seed in 2 4; do check "$seed"; done
}

@test "get-historical aggregations: the random data hit values, empty windows and nulls in every column" {
    agg_random_repo 1 "$BATS_TEST_TMPDIR/facts"
    agg_ref expect spec.json rows.csv > expected.csv
    run -0 "$FS_TEST_PYTHON" - <<'EOF'
import csv
rows = list(csv.reader(open("expected.csv", newline="")))
header, body = rows[0], rows[1:]
for i, name in enumerate(header[4:], 4):
    vals = [r[i] for r in body]
    assert sum(v not in ("", "0") for v in vals) >= 5, name + ": hardly ever a value"
    assert any(v in ("", "0") for v in vals), name + ": never empty"
print("ok")
EOF
    assert_output ok
}

# The view of the hand-made cases: window 10m, hop 1m.
hand_view() {
    agg_view_repo <<'EOF'
  - {name: n, function: count, window: 10m, hop: 1m}
  - {name: n_amt, function: count, column: amount, window: 10m, hop: 1m, type: int64}
  - {name: total, function: sum, column: amount, window: 10m, hop: 1m, type: int64}
  - {name: lo, function: min, column: price, window: 10m, hop: 1m}
  - {name: mean, function: avg, column: price, window: 10m, hop: 1m}
  - {name: v, function: var, column: price, window: 10m, hop: 1m}
  - {name: sd, function: stddev, column: price, window: 10m, hop: 1m, type: float64}
  - {name: fb, function: first, column: buyer, window: 10m, hop: 1m, type: string}
  - {name: lb, function: last, column: buyer, window: 10m, hop: 1m, type: string}
  - {name: nb, function: approx_count_distinct, column: buyer, window: 10m, hop: 1m, type: string}
EOF
    cat >> data/ev.csv <<'EOF'
A,2024-04-30T23:59:59.999999Z,,100,0.5,w,
A,2024-05-01T00:00:00Z,,1,1.5,x,
A,2024-05-01T00:05:00Z,,2,,y,
A,2024-05-01T00:10:30Z,,4,2.5,z,
B,2024-05-01T01:00:00Z,2024-05-01T02:00:00Z,1,,m,
B,2024-05-01T01:00:00Z,,1,,a,
B,2024-05-01T01:00:00Z,2024-05-01T02:00:00Z,1,,q,
B,2024-05-01T01:00:00Z,2024-05-01T01:30:00Z,1,,,
C,2024-05-01T01:00:00Z,,,,k,
C,2024-05-01T01:00:00Z,,,,c,
V,2024-05-01T02:00:00Z,,,1000000001,,
V,2024-05-01T02:00:01Z,,,1000000002,,
V,2024-05-01T02:00:02Z,,,1000000003,,
EOF
    fs apply -q
    # the reference's description of the same view
    "$FS_TEST_PYTHON" - <<'EOF'
import json
aggs = [("n", "count", None, "float64"), ("n_amt", "count", "amount", "int64"),
        ("total", "sum", "amount", "int64"), ("lo", "min", "price", "float64"),
        ("mean", "avg", "price", "float64"), ("v", "var", "price", "float64"),
        ("sd", "stddev", "price", "float64"), ("fb", "first", "buyer", "string"),
        ("lb", "last", "buyer", "string"), ("nb", "approx_count_distinct", "buyer", "string")]
view = {"join_keys": [{"name": "token", "type": "string"}], "source": "data/ev.csv",
        "timestamp_field": "ts", "created_timestamp_field": "created", "field_mapping": {"amt": "amount"},
        "aggregations": [{"name": n, "function": f, "column": c, "type": t, "window": 600, "hop": 60}
                         for n, f, c, t in aggs]}
json.dump({"views": {"h": view}, "columns": [["h", a[0]] for a in aggs]}, open("spec.json", "w"))
EOF
}

@test "get-historical aggregations: window edges, sawtooth, empty windows, nulls, var of one value, first/last ties" {
    hand_view
    # A: w just before 00:00 (floor(t) - window for t in [00:10, 00:11)),
    # x exactly at it, z at 00:10:30. B: four events at one ts (created
    # null, 01:30, 02:00 twice; one buyer null). C: two at one ts, no
    # created. V: var of 1e9+1..3 (1, not cancelled away). Z: no events.
    cat > rows.csv <<'EOF'
token,event_timestamp
A,2024-05-01T00:10:00Z
A,2024-05-01T00:09:59.999999Z
A,2024-05-01T00:10:30Z
A,2024-05-01T00:10:30.000001Z
A,2024-05-01T00:10:59.999999Z
A,2024-05-01T00:11:00Z
A,2024-04-30T23:00:00Z
A,2024-05-01T00:20:30Z
A,2024-05-01T00:21:00Z
B,2024-05-01T01:05:00Z
C,2024-05-01T01:05:00Z
V,2024-05-01T02:05:00Z
Z,2024-05-01T00:05:00Z
B,2024-05-01T01:00:00Z
EOF
    cat > expected.csv <<'EOF'
token,event_timestamp,n,n_amt,total,lo,mean,v,sd,fb,lb,nb
A,2024-05-01T00:10:00Z,2,2,3,1.5,1.5,,,x,y,2
A,2024-05-01T00:09:59.999999Z,3,3,103,0.5,1,0.5,0.7071067811865476,w,y,3
A,2024-05-01T00:10:30Z,2,2,3,1.5,1.5,,,x,y,2
A,2024-05-01T00:10:30.000001Z,3,3,7,1.5,2,0.5,0.7071067811865476,x,z,3
A,2024-05-01T00:10:59.999999Z,3,3,7,1.5,2,0.5,0.7071067811865476,x,z,3
A,2024-05-01T00:11:00Z,2,2,6,2.5,2.5,,,y,z,2
A,2024-04-30T23:00:00Z,0,0,0,,,,,,,0
A,2024-05-01T00:20:30Z,1,1,4,2.5,2.5,,,z,z,1
A,2024-05-01T00:21:00Z,0,0,0,,,,,,,0
B,2024-05-01T01:05:00Z,4,4,4,,,,,a,q,3
C,2024-05-01T01:05:00Z,2,0,0,,,,,c,k,2
V,2024-05-01T02:05:00Z,3,0,0,1000000001,1000000002,1,1,,,0
Z,2024-05-01T00:05:00Z,0,0,0,,,,,,,0
B,2024-05-01T01:00:00Z,0,0,0,,,,,,,0
EOF
    # the reference agrees with the literal values
    run -0 agg_ref expect spec.json rows.csv
    assert_output "$(cat expected.csv)"
    run -0 --separate-stderr fs get-historical --entities rows.csv -f h -o actual.csv
    assert_equal "$stderr" ""
    run agg_ref compare spec.json actual.csv expected.csv
    [ "$status" -eq 0 ] || fail "fs differs from the literal values:
$output"
}

@test "get-historical aggregations: single features, --format json types (ints, floats, null)" {
    hand_view
    printf 'token,event_timestamp\nA,2024-05-01T00:10:30.000001Z\nZ,2024-05-01T00:05:00Z\n' > rows.csv
    run -0 --separate-stderr fs get-historical --entities rows.csv -f h:lb -f h:n --format json
    assert_equal "$stderr" ""
    run -0 jq -c . <<< "$output"
    assert_output '{"token":"A","event_timestamp":"2024-05-01T00:10:30.000001Z","lb":"z","n":3}
{"token":"Z","event_timestamp":"2024-05-01T00:05:00Z","lb":null,"n":0}'
    run -0 --separate-stderr fs get-historical --entities rows.csv -f h:mean -f h:total --format json
    run -0 jq -c '[.mean, .total]' <<< "$output"
    assert_output '[2,7]
[null,0]'
}

@test "get-historical aggregations: approx_count_distinct of 50000 values is HyperLogLog's estimate" {
    agg_view_repo <<'EOF'
  - {name: nb, function: approx_count_distinct, column: buyer, window: 1h, type: string}
  - {name: na, function: approx_count_distinct, column: amount, window: 1h, type: int64}
  - {name: np, function: approx_count_distinct, column: price, window: 1h}
EOF
    "$FS_TEST_PYTHON" - <<'EOF'
with open("data/ev.csv", "a") as f:
    for i in range(50000):
        f.write("H,2024-05-01T00:%02d:%02dZ,,%d,%s,buyer-%d,\n" % (i // 60 % 60, i % 60, i * 7919 - 10**6, i / 8, i))
EOF
    fs apply -q
    printf 'token,event_timestamp\nH,2024-05-01T01:00:00Z\nH,2024-05-01T00:00:01Z\n' > rows.csv
    cat > spec.json <<'EOF'
{"views": {"h": {"join_keys": [{"name": "token", "type": "string"}], "source": "data/ev.csv",
  "timestamp_field": "ts", "created_timestamp_field": "created", "field_mapping": {"amt": "amount"},
  "aggregations": [
   {"name": "nb", "function": "approx_count_distinct", "column": "buyer", "type": "string", "window": 3600},
   {"name": "na", "function": "approx_count_distinct", "column": "amount", "type": "int64", "window": 3600},
   {"name": "np", "function": "approx_count_distinct", "column": "price", "type": "float64", "window": 3600}]}},
 "columns": [["h", "nb"], ["h", "na"], ["h", "np"]]}
EOF
    agg_ref expect spec.json rows.csv > expected.csv
    run -0 fs get-historical --entities rows.csv -f h -o actual.csv
    run -0 cat actual.csv
    assert_output "$(cat expected.csv)"
    # the estimates are HyperLogLog's (near, not equal to, 50000) and
    # those of the 14 values at 00:00:00 exact
    run -0 "$FS_TEST_PYTHON" -c '
import csv
rows = list(csv.reader(open("actual.csv")))
big = [int(x) for x in rows[1][2:]]
assert all(abs(x - 50000) < 1500 for x in big) and any(x != 50000 for x in big), big
assert rows[2][2:] == ["14", "14", "14"], rows[2]
print("ok")'
    assert_output ok
}

# --- bad data: exit 128, the place named, nothing on stdout

bad_data_view() {
    agg_view_repo <<'EOF'
  - {name: total, function: sum, column: amount, window: 10m, type: int64}
  - {name: px, function: avg, column: price, window: 10m}
EOF
    fs apply -q
    printf 'token,event_timestamp\nA,2024-05-01T01:00:00Z\n' > rows.csv
}

@test "get-historical aggregations: a non-number in a summed column names file:line and the column" {
    bad_data_view
    printf 'A,2024-05-01T00:55:00Z,,1,1.5,x,\nA,2024-05-01T00:56:00Z,,abc,1.5,x,\n' >> data/ev.csv
    run -128 --separate-stderr fs get-historical --entities rows.csv -f h
    assert_equal "$output" ""
    assert_equal "$stderr" "fatal: data/ev.csv:3: column 'amt': 'abc' is not an int64 (aggregated by feature_view 'h')"
    # a float column likewise, with -o: no file left behind
    printf 'token,ts,created,amt,price,buyer,flag\nA,2024-05-01T00:55:00Z,,1,1.5x,x,\n' > data/ev.csv
    run -128 --separate-stderr fs get-historical --entities rows.csv -f h:px -o out.csv
    assert_equal "$output" ""
    [[ $stderr == "fatal: data/ev.csv:2: column 'price': '1.5x' is not a float64"* ]] ||
        fail "unexpected message: $stderr"
    [ ! -e out.csv ]
}

@test "get-historical aggregations: a missing timestamp in the source or the entity rows is an error naming its place" {
    bad_data_view
    printf 'A,2024-05-01T00:55:00Z,,1,1.5,x,\nA,,,3,1.5,x,\n' >> data/ev.csv
    run -128 --separate-stderr fs get-historical --entities rows.csv -f h
    assert_equal "$output" ""
    assert_equal "$stderr" "fatal: data/ev.csv:3: column 'ts': bad timestamp '' (expected RFC 3339 like 2024-05-01T10:00:00Z, 'YYYY-MM-DD HH:MM:SS' in UTC, or Unix seconds)"
    printf 'token,ts,created,amt,price,buyer,flag\nA,2024-05-01T00:55:00Z,,1,1.5,x,\n' > data/ev.csv
    printf 'token,event_timestamp\nA,2024-05-01T01:00:00Z\nA,\n' > rows.csv
    run -128 --separate-stderr fs get-historical --entities rows.csv -f h
    assert_equal "$output" ""
    assert_equal "$stderr" "fatal: rows.csv:3: column 'event_timestamp': bad timestamp '' (expected RFC 3339 like 2024-05-01T10:00:00Z, 'YYYY-MM-DD HH:MM:SS' in UTC, or Unix seconds, or YYYY-MM-DD)"
}

# --- apply: each mistake in an aggregation is reported at file:line:col,
# and nothing is registered

# apply_fails PATTERN: the aggregations on stdin, replacing a good view,
# are refused by apply (exit 128) with a message matching the glob
# PATTERN, the registry left as it was.
apply_fails() {
    local before
    agg_view_repo <<< "  - {name: a, function: count, window: 30m}"
    printf 'A,2024-05-01T00:55:00Z,,1,1.5,x,true\n' >> data/ev.csv
    fs apply -q
    before=$(registry_dump)
    agg_view_write
    run -128 --separate-stderr fs apply -q
    [[ $stderr == $1 ]] || fail "apply said:
$stderr
expected: $1"
    assert_equal "$(registry_dump)" "$before"
}

@test "apply aggregations: an unknown function, with a did-you-mean" {
    apply_fails "*features/h.yaml:19:*'summ'*(did you mean 'sum'?)*" <<'EOF'
  - {name: a, function: summ, column: amount, window: 30m, type: int64}
EOF
}

@test "apply aggregations: sum without a column" {
    apply_fails "*features/h.yaml:19:*aggregation 'a'*sum needs a 'column'*" <<'EOF'
  - {name: a, function: sum, window: 30m}
EOF
}

@test "apply aggregations: a column the source does not have" {
    apply_fails "*features/h.yaml:20:*source 'ev'*no column 'nope'*aggregation 'b'*" <<'EOF'
  - {name: a, function: count, window: 30m}
  - {name: b, function: max, column: nope, window: 30m}
EOF
}

@test "apply aggregations: sum, avg, var, stddev of a non-numeric column" {
    apply_fails "*features/h.yaml:19:*aggregation 'a'*sum needs a numeric column*not string*" <<'EOF'
  - {name: a, function: sum, column: buyer, window: 30m, type: string}
EOF
    cd "$BATS_TEST_TMPDIR" && rm -rf repo
    apply_fails "*features/h.yaml:19:*aggregation 'a'*stddev needs a numeric column*not bool*" <<'EOF'
  - {name: a, function: stddev, column: flag, window: 30m, type: bool}
EOF
}

@test "apply aggregations: a hop that does not divide the window" {
    apply_fails "*features/h.yaml:19:*hop '7m' does not divide the window '30m'*" <<'EOF'
  - {name: a, function: count, window: 30m, hop: 7m}
EOF
}

@test "apply aggregations: more than 10000 hops in a window" {
    apply_fails "*features/h.yaml:19:*window '1d' is 86400 hops of 1s*at most 10000*" <<'EOF'
  - {name: a, function: count, window: 1d, hop: 1s}
EOF
}

@test "apply aggregations: hops of one view that do not divide each other" {
    # 40m and 45s (both dividing their windows); and 40m with the default
    # hop 1m of 30m is fine
    apply_fails "*features/h.yaml:20:*do not divide each other*" <<'EOF'
  - {name: a, function: count, window: 2h, hop: 40m}
  - {name: b, function: count, window: 30m, hop: 45s}
EOF
}

@test "apply aggregations: features and aggregations both in one view" {
    apply_fails "*features/h.yaml:*'features' or 'aggregations', not both*" <<'EOF'
  - {name: a, function: count, window: 30m}
features:
  - {name: price, type: float64}
EOF
}

@test "apply aggregations: a zero window, an unknown key, a bad type, a missing window" {
    apply_fails "*h.yaml:19:*bad window '0s'*h.yaml:20:*unknown key 'windw' (did you mean 'window'?)*h.yaml:21:*unknown column type 'strin' (did you mean 'string'?)*h.yaml:22:*missing 'window'*" <<'EOF'
  - {name: a, function: count, window: 0s}
  - {name: b, function: count, window: 30m, windw: 5}
  - {name: c, function: max, column: buyer, window: 30m, type: strin}
  - {name: d, function: count}
EOF
}

@test "apply aggregations: default hops and every function are accepted" {
    agg_view_repo <<'EOF'
  - {name: a, function: count, window: 10m}
  - {name: b, function: sum, column: price, window: 2h}
  - {name: c, function: avg, column: amount, window: 1d, type: int64}
  - {name: d, function: min, column: buyer, window: 30m, type: string}
  - {name: e, function: max, column: flag, window: 30m, type: bool}
  - {name: f, function: first, column: ts, window: 30m, type: timestamp}
  - {name: g, function: last, column: price, window: 30m, type: float32}
  - {name: h2, function: var, column: amount, window: 45s, type: int32}
  - {name: i, function: stddev, column: price, window: 1h, description: spread, tags: {team: risk}}
  - {name: j, function: approx_count_distinct, column: buyer, window: 1h, type: string}
  - {name: k, function: count, column: buyer, window: 1h, type: string}
EOF
    run -0 --separate-stderr fs apply -q
    assert_equal "$stderr" ""
}
