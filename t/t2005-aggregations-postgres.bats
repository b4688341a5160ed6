#!/usr/bin/env bats
# Aggregation views on postgres sources: get-historical computes the
# partial aggregates in PostgreSQL (per key and tile, and per entity row
# for the events of its current tile) and merges them with the kernel the
# embedded engine uses. On seeded random data with every function, the
# result equals the embedded engine's on the same rows as CSV (floats
# within 1e-9 relative); t2004 checks the embedded engine against a
# brute-force reference. Materializing from PostgreSQL gives the online
# store the same values.

load test_helper
load lib-postgres

setup_file() { start_postgres; }
teardown_file() { stop_postgres; }
setup() { pg_setup; }

# gen SEED: data/ev.csv (events), rows.csv (entity rows), and the table
# ev_SEED in PostgreSQL holding the same events.
gen() {
    python3 - "$1" <<'PY'
import random, sys
seed = int(sys.argv[1])
random.seed(seed)
base = 1714550400
with open("data/ev.csv", "w") as f:
    f.write("tok,ts,amount,price,buyer,created\n")
    # base is 2024-05-01T08:00Z: events until 2024-05-03T08:00Z
    for i in range(2500):
        t = base + random.randint(0, 2 * 86400)
        r = random.random()
        if r < 0.1:
            t -= t % 300          # on a 5m tile boundary
        elif r < 0.15:
            t -= t % 3600         # on an hour
        amount = "" if random.random() < 0.1 else str(random.randint(-50, 100))
        price = "" if random.random() < 0.1 else "%.3f" % random.uniform(0, 10)
        buyer = "" if random.random() < 0.05 else random.choice(["a", "b", "B", "c", "ä", "d e", "f"])
        f.write("%d,%d,%s,%s,%s,%d\n" % (random.randint(1, 15), t, amount, price, buyer,
                                         t + random.choice([0, 0, 5])))
with open("rows.csv", "w") as f:
    f.write("tok,event_timestamp,label\n")
    for i in range(1500):
        t = base + random.randint(-3600, 2 * 86400 + 3600)
        if random.random() < 0.2:
            t -= t % 60
        f.write("%d,%d,%d\n" % (random.randint(1, 17), t, i % 2))
PY
    psql_fs -c "CREATE TABLE ev_$1 (tok bigint, ts bigint, amount bigint, price float8, buyer text, created bigint)"
    psql_fs -c "\\copy ev_$1 FROM 'data/ev.csv' CSV HEADER"
}

# defs KIND SEED: the view over a csv or a postgres source.
defs() {
    local src
    if [ "$1" = csv ]; then
        src=$'type: csv\npath: data/ev.csv'
    else
        src=$'type: postgres\ntable: ev_'$2
    fi
    cat > features/d.yaml <<Y
kind: entity
name: tok
join_key: tok
type: int64
---
kind: source
name: src
$src
timestamp_field: ts
created_timestamp_field: created
---
kind: feature_view
name: w
entities: [tok]
source: src
aggregations:
  - {name: n30, function: count, window: 30m}
  - {name: na, function: count, column: amount, type: int64, window: 2h}
  - {name: s1, function: sum, column: amount, type: int64, window: 1h}
  - {name: sp, function: sum, column: price, window: 1h, hop: 5m}
  - {name: av, function: avg, column: price, window: 1d}
  - {name: mn, function: min, column: price, window: 6h}
  - {name: mx, function: max, column: buyer, type: string, window: 6h}
  - {name: fi, function: first, column: buyer, type: string, window: 1h}
  - {name: la, function: last, column: amount, type: int64, window: 1h}
  - {name: va, function: var, column: price, window: 1d}
  - {name: sd, function: stddev, column: amount, type: int64, window: 2h}
  - {name: cd, function: approx_count_distinct, column: buyer, type: string, window: 1d}
Y
}

# same A B: equal CSV files, floats within 1e-9 relative
same() {
    python3 - "$1" "$2" <<'PY'
import csv, math, sys
a = list(csv.reader(open(sys.argv[1]))); b = list(csv.reader(open(sys.argv[2])))
assert a[0] == b[0], (a[0], b[0])
assert len(a) == len(b), (len(a), len(b))
bad = 0
for n, (ra, rb) in enumerate(zip(a[1:], b[1:]), 2):
    for h, x, y in zip(a[0], ra, rb):
        if x == y:
            continue
        try:
            if math.isclose(float(x), float(y), rel_tol=1e-9, abs_tol=1e-9):
                continue
        except ValueError:
            pass
        bad += 1
        if bad < 10:
            print("line %d column %s: %r vs %r" % (n, h, x, y))
sys.exit(1 if bad else 0)
PY
}

check_seed() {
    init_repo
    rm features/driver.yaml
    gen "$1"
    defs csv "$1"
    fs apply -q -m csv
    run -0 --separate-stderr fs get-historical --entities rows.csv -f w -o embedded.csv
    defs pg "$1"
    fs apply -q -m pg
    run -0 --separate-stderr fs get-historical --entities rows.csv -f w -o pushed.csv
    [ "$(wc -l < pushed.csv)" -eq 1501 ]
    run same embedded.csv pushed.csv
    assert_success
    # not all empty: the data exercise the windows
    run -0 python3 -c 'import csv; r = list(csv.DictReader(open("pushed.csv"))); print(sum(1 for x in r if x["n30"] not in ("", "0")) > 50 and sum(1 for x in r if x["fi"]) > 100)'
    assert_output True
}

@test "aggregations postgres: every function equals the embedded engine (seed 1)" { check_seed 1; }
@test "aggregations postgres: every function equals the embedded engine (seed 2)" { check_seed 2; }

@test "aggregations postgres: a hand-made case" {
    init_repo
    rm features/driver.yaml
    psql_fs -c "CREATE TABLE hand (tok bigint, ts timestamptz, amount bigint, buyer text)"
    psql_fs -c "INSERT INTO hand VALUES (1, '2024-05-01T10:00:00Z', 10, 'a'), (1, '2024-05-01T10:05:00Z', 20, 'b'), (1, '2024-05-01T10:29:59Z', 5, 'a'), (2, '2024-05-01T10:10:00Z', 7, NULL), (1, '2024-05-01T10:30:00Z', 1, 'd')"
    cat > features/d.yaml <<'Y'
kind: entity
name: tok
join_key: tok
type: int64
---
kind: source
name: hand
type: postgres
table: hand
timestamp_field: ts
---
kind: feature_view
name: h
entities: [tok]
source: hand
aggregations:
  - {name: n, function: count, window: 30m}
  - {name: s, function: sum, column: amount, type: int64, window: 30m}
  - {name: b, function: last, column: buyer, type: string, window: 30m}
  - {name: d, function: approx_count_distinct, column: buyer, type: string, window: 30m}
Y
    fs apply -q
    printf 'tok,event_timestamp\n1,2024-05-01T10:00:00Z\n1,2024-05-01T10:29:59Z\n1,2024-05-01T10:30:00Z\n1,2024-05-01T10:30:01Z\n2,2024-05-01T10:20:00Z\n3,2024-05-01T10:20:00Z\n' > rows.csv
    run -0 --separate-stderr fs get-historical --entities rows.csv -f h
    assert_output "tok,event_timestamp,n,s,b,d
1,2024-05-01T10:00:00Z,0,0,,0
1,2024-05-01T10:29:59Z,2,30,b,2
1,2024-05-01T10:30:00Z,3,35,a,2
1,2024-05-01T10:30:01Z,4,36,d,3
2,2024-05-01T10:20:00Z,1,7,,0
3,2024-05-01T10:20:00Z,0,0,,0"
}

@test "aggregations postgres: materialized from PostgreSQL, online equals offline" {
    init_repo
    rm features/driver.yaml
    gen 3
    defs pg 3
    fs apply -q
    # every event is before 2024-05-03T09:00Z: reads from then on are exact
    run -0 fs materialize 2024-05-01 2024-05-03T09:00:00Z
    for t in 2024-05-03T09:00:00Z 2024-05-03T09:17:30Z 2024-05-03T10:00:00Z 2024-05-04T08:59:59Z; do
        printf 'tok,event_timestamp\n' > at.csv
        for k in 1 5 9 15 16; do echo "$k,$t" >> at.csv; done
        run -0 --separate-stderr fs get-historical --entities at.csv -f w --format json
        echo "$output" > offline.json
        run -0 --separate-stderr fs get-online -f w -e tok=1 -e tok=5 -e tok=9 -e tok=15 -e tok=16 --at "$t" --json
        echo "$output" > online.json
        run python3 - <<'PY'
import json, math, sys
off = [json.loads(l) for l in open("offline.json")]
on = json.load(open("online.json"))
names = on["metadata"]["feature_names"]
bad = 0
for c, name in enumerate(names[1:], 1):
    for r, row in enumerate(off):
        x, y = row[name], on["results"][c]["values"][r]
        if x == y or (isinstance(x, float) and isinstance(y, (int, float)) and math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9)):
            continue
        print(name, r, x, y); bad += 1
sys.exit(1 if bad else 0)
PY
        assert_success
    done
}
