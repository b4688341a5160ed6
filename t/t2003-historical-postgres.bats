#!/usr/bin/env bats
# get-historical on postgres sources: the point-in-time join pushed down
# into PostgreSQL (a private cluster, t/lib-postgres.bash). The seeded
# random data of t2001 loaded into PostgreSQL give byte for byte what the
# reference and the embedded engine give on the same rows as CSV; small
# hand-made cases spell out the expected output; bad input and broken
# connections fail with messages naming the source.

load test_helper
load lib-pit-gen
load lib-postgres

setup_file() { start_postgres; }
teardown_file() { stop_postgres; }
setup() { pg_setup; }

# Load the generated CSV data into schema $1 and point the sources at it.
load_and_point() {
    local schema=$1
    python3 "$FS_SOURCE_ROOT/t/pg_load.py" "$schema.driver" data/driver.csv \
        driver_id:bigint event_timestamp:timestamptz created:timestamptz conv:float8 \
        acc_rate:float8 trips:bigint active:boolean note:text last_seen:timestamptz \
        rank_small:integer | psql_fs
    python3 "$FS_SOURCE_ROOT/t/pg_load.py" "$schema.customer" data/customer.csv \
        customer_id:text ts:timestamptz value:float8 segment:text | psql_fs
    python3 "$FS_SOURCE_ROOT/t/pg_load.py" "$schema.pair" data/pair.csv \
        driver_id:bigint customer_id:text event_timestamp:timestamptz created:timestamptz \
        n_trips:integer rating:float8 | psql_fs
    python3 - "$schema" <<'PY'
import re, sys
schema = sys.argv[1]
text = open("features/defs.yaml").read()
docs = []
for doc in text.split("\n---\n"):
    if doc.startswith("kind: source"):
        name = re.search(r"^name: (\w+)_src$", doc, re.M).group(1)
        keep = [l for l in doc.split("\n") if not re.match(r"^(type|path|table):", l)]
        keep.insert(2, "type: postgres\ntable: %s.%s" % (schema, name))
        doc = "\n".join(keep)
    docs.append(doc)
open("features/defs.yaml", "w").write("\n---\n".join(docs))
PY
}

# check SEED VARIANT: the same rows from CSV and from PostgreSQL, against
# the reference.
check() {
    local seed=$1 variant=$2 dir="$BATS_TEST_TMPDIR/s$1-$2"
    "$FS" init -q "$dir"
    cd "$dir"
    rm features/driver.yaml
    FS_GEN_CANONICAL=1 gen "$seed" "$variant"
    python3 "$FS_SOURCE_ROOT/t/pit_reference.py" spec.json rows.csv > expected.csv
    mapfile -t args < args
    "$FS" apply -q
    run -0 --separate-stderr fs get-historical --entities rows.csv "${args[@]}" -o from-csv.csv
    load_and_point "s${seed}_$variant"
    run -0 --separate-stderr fs apply -q
    run -0 grep -c 'type: postgres' features/defs.yaml
    assert_output 3
    run -0 --separate-stderr fs get-historical --entities rows.csv "${args[@]}" -o actual.csv
    assert_equal "$stderr" ""
    [ "$(wc -l < expected.csv)" -gt 50 ]
    grep -q ',,' expected.csv
    if ! cmp -s expected.csv actual.csv; then
        diff -u expected.csv actual.csv | head -40
        echo "seed $seed ($variant): PostgreSQL differs from the reference"
        return 1
    fi
    cmp from-csv.csv actual.csv
    cd "$BATS_TEST_TMPDIR"
}

@test "get-historical postgres: random data match the reference and the CSV engine (seeds 1-4)" {
    for seed in 1 2 3 4; do
        check "$seed" plain
    done
}

@test "get-historical postgres: a feature service and --full-feature-names (seeds 6, 7)" {
    for seed in 6 7; do
        check "$seed" full
    done
}

# The hand-made repository: view `hand` (ttl 1h) and `hand0` (ttl 0) on one
# table with a quoted name and column names that need quoting.
hand_repo() {
    init_repo
    rm features/driver.yaml
    psql_fs <<'SQL'
DROP TABLE IF EXISTS "Hand Stats";
CREATE TABLE "Hand Stats" (driver_id bigint, "EventTime" timestamptz, created timestamptz,
                           v float8, s text, n integer, ok boolean);
INSERT INTO "Hand Stats" VALUES
 (1, '2024-05-01 10:00:00Z', '2024-05-01 10:00:00Z', 1.5, 'a', 1, true),
 (1, '2024-05-01 11:00:00Z', '2024-05-01 11:30:00Z', 3.5, 'c', 3, false),
 (1, '2024-05-01 11:00:00Z', '2024-05-01 11:00:00Z', 2.5, 'b', 2, true),
 (1, '2024-05-01 12:00:00Z', NULL, 4.5, NULL, NULL, NULL),
 (2, '2024-05-01 10:00:00.25Z', '2024-05-01 10:00:00Z', 7, 'x', 7, true),
 (2, '2024-05-01 10:00:00.25Z', '2024-05-01 10:00:00Z', 8, 'y, "quoted"', 8, false),
 (NULL, '2024-05-01 10:00:00Z', NULL, 9, 'nokey', 9, true);
SQL
    cat > features/hand.yaml <<'EOF2'
kind: entity
name: driver
join_key: driver_id
type: int64
---
kind: source
name: hand_src
type: postgres
table: Hand Stats
timestamp_field: EventTime
created_timestamp_field: created
field_mapping: {v: value}
---
kind: feature_view
name: hand
entities: [driver]
source: hand_src
ttl: 1h
features:
  - {name: value, type: float64}
  - {name: s, type: string}
  - {name: n, type: int32}
  - {name: ok, type: bool}
---
kind: feature_view
name: hand0
entities: [driver]
source: hand_src
ttl: 0
features:
  - {name: value, type: float64}
EOF2
    fs apply -q
    cat > rows.csv <<'EOF2'
driver_id,event_timestamp,label
1,2024-05-01T11:00:00Z,a
1,2024-05-01T12:59:59Z,b
1,2024-05-01T13:00:00Z,c
1,2024-05-01T13:00:01Z,d
1,2024-05-01T09:59:59Z,e
2,2024-05-01T10:00:00.25Z,f
2,2024-05-01T10:00:00.249999Z,g
3,2024-05-01T10:00:00Z,h
,2024-05-01T10:00:00Z,i
1,2024-05-01T11:00:00Z,a
EOF2
}

@test "get-historical postgres: window ends, created and row-order ties, nulls, order and duplicates" {
    hand_repo
    run -0 --separate-stderr fs get-historical --entities rows.csv -f hand -f hand0:value --full-feature-names
    assert_equal "$stderr" ""
    assert_output "$(cat <<'EOF2'
driver_id,event_timestamp,label,hand__value,hand__s,hand__n,hand__ok,hand0__value
1,2024-05-01T11:00:00Z,a,3.5,c,3,false,3.5
1,2024-05-01T12:59:59Z,b,4.5,,,,4.5
1,2024-05-01T13:00:00Z,c,4.5,,,,4.5
1,2024-05-01T13:00:01Z,d,,,,,4.5
1,2024-05-01T09:59:59Z,e,,,,,
2,2024-05-01T10:00:00.25Z,f,8,"y, ""quoted""",8,false,8
2,2024-05-01T10:00:00.249999Z,g,,,,,
3,2024-05-01T10:00:00Z,h,,,,,
,2024-05-01T10:00:00Z,i,,,,,
1,2024-05-01T11:00:00Z,a,3.5,c,3,false,3.5
EOF2
)"
}

@test "get-historical postgres: --format json and a query source" {
    hand_repo
    sed -i 's/^table: Hand Stats$/query: SELECT * FROM "Hand Stats" WHERE driver_id = 2/' features/hand.yaml
    fs apply -q
    run -0 --separate-stderr fs get-historical --entities rows.csv -f hand:value -f hand:ok --format json
    assert_equal "$stderr" ""
    assert_line --index 0 '{"driver_id":1,"event_timestamp":"2024-05-01T11:00:00Z","label":"a","value":null,"ok":null}'
    assert_line --index 5 '{"driver_id":2,"event_timestamp":"2024-05-01T10:00:00.25Z","label":"f","value":8.0,"ok":false}'
    assert_equal "${#lines[@]}" 10
}

@test "get-historical postgres: key values travel as data, never as SQL" {
    hand_repo
    sed -i 's/^  - {name: value, type: float64}$/&/' features/hand.yaml
    cat > features/cust.yaml <<'EOF2'
kind: entity
name: customer
join_key: customer_id
type: string
---
kind: source
name: cust_src
type: postgres
table: cust
timestamp_field: ts
---
kind: feature_view
name: cust
entities: [customer]
source: cust_src
ttl: 0
features:
  - {name: tier, type: string}
EOF2
    psql_fs -c "CREATE TABLE cust (customer_id text, ts bigint, tier text)" \
        -c "INSERT INTO cust VALUES (E'o''brien\\\\x', 1714521600, 'gold'), ('tab	in', 1714521600, 'tab')"
    fs apply -q
    printf '%s\n' 'customer_id,event_timestamp' \
        "x'); DROP TABLE cust; --,2024-05-02T00:00:00Z" \
        "o'brien\\x,2024-05-02T00:00:00Z" "\"tab	in\",2024-05-02T00:00:00Z" > c.csv
    run -0 --separate-stderr fs get-historical --entities c.csv -f cust
    assert_output "$(printf '%s\n' 'customer_id,event_timestamp,tier' \
        "x'); DROP TABLE cust; --,2024-05-02T00:00:00Z," \
        "o'brien\\x,2024-05-02T00:00:00Z,gold" "tab	in,2024-05-02T00:00:00Z,tab")"
    run -0 psql_fs -tAc "SELECT count(*) FROM cust"
    assert_output 2
}

@test "get-historical postgres: a wrong password fails naming the source, and writes nothing" {
    hand_repo
    export FS_POSTGRES_DSN="postgresql://fs:wrong@127.0.0.1:$PG_PORT/postgres"
    run -128 --separate-stderr fs get-historical --entities rows.csv -f hand -o out.csv
    assert_output ""
    [[ $stderr == "fatal: source 'hand_src' (postgres table 'Hand Stats'): cannot connect to PostgreSQL: "*"password authentication failed"* ]]
    assert [ ! -e out.csv ]
}

@test "get-historical postgres: a server that does not answer fails naming the source" {
    hand_repo
    export FS_POSTGRES_DSN="postgresql://fs:fs-secret@127.0.0.1:1/postgres"
    run -128 --separate-stderr fs get-historical --entities rows.csv -f hand -o out.csv
    [[ $stderr == "fatal: source 'hand_src' (postgres table 'Hand Stats'): cannot connect to PostgreSQL: "*"refused"* ]]
    assert [ ! -e out.csv ]
}

@test "get-historical postgres: a table dropped after apply fails naming the source and the table" {
    hand_repo
    psql_fs -c 'ALTER TABLE "Hand Stats" RENAME TO gone'
    run -128 --separate-stderr fs get-historical --entities rows.csv -f hand -o out.csv
    assert_equal "$stderr" "fatal: source 'hand_src' (postgres table 'Hand Stats'): table 'Hand Stats' does not exist"
    assert [ ! -e out.csv ]
}

@test "get-historical postgres: a failing query and a value of the wrong type name the source" {
    hand_repo
    sed -i 's/^table: Hand Stats$/query: SELECT * FROM "Hand Stats" WHERE 1 \/ (n - 3) < 100/' features/hand.yaml
    fs apply -q
    run -128 --separate-stderr fs get-historical --entities rows.csv -f hand -o out.csv
    assert_output ""
    [[ $stderr == "fatal: source 'hand_src' (postgres query): query fails: division by zero" ]]
    assert [ ! -e out.csv ]

    sed -i 's/^query: .*$/query: SELECT driver_id, "EventTime", created, v, s, CASE WHEN n = 3 THEN $$three$$ ELSE n::text END AS n, ok FROM "Hand Stats"/' features/hand.yaml
    fs apply -q
    run -128 --separate-stderr fs get-historical --entities rows.csv -f hand -o out.csv
    assert_equal "$stderr" "fatal: source 'hand_src' (postgres query): 'three' is not an int32 (feature 'n' of feature_view 'hand')"
    assert [ ! -e out.csv ]
}

@test "apply postgres: a missing table, column or timestamp type is an error at the definition" {
    hand_repo
    local before
    before=$(registry_dump)
    sed -i 's/^table: Hand Stats$/table: Hand Stat/' features/hand.yaml
    run -128 --separate-stderr fs apply
    assert_equal "$stderr" "fatal: features/hand.yaml:9:8: source 'hand_src': table 'Hand Stat' does not exist"
    sed -i 's/^table: Hand Stat$/table: Hand Stats/; s/^field_mapping: {v: value}$/field_mapping: {vv: value}/' features/hand.yaml
    run -128 --separate-stderr fs apply
    [[ $stderr == *"source 'hand_src': postgres table 'Hand Stats' has no column 'vv' (in field_mapping)"* ]]
    sed -i 's/^field_mapping: {vv: value}$/field_mapping: {v: value}/; s/^timestamp_field: EventTime$/timestamp_field: s/' features/hand.yaml
    run -128 --separate-stderr fs apply
    assert_equal "$stderr" "fatal: features/hand.yaml:10:18: source 'hand_src': postgres table 'Hand Stats': column 's' is text; timestamp_field must be a timestamp, timestamptz, date or integer (Unix seconds) column"
    sed -i 's/^timestamp_field: s$/timestamp_field: EventTime/; s/^query: .*$//' features/hand.yaml
    sed -i 's/^table: Hand Stats$/query: SELECT nothing FROM "Hand Stats"/' features/hand.yaml
    run -128 --separate-stderr fs apply
    assert_equal "$stderr" "fatal: features/hand.yaml:9:8: source 'hand_src': query fails: column \"nothing\" does not exist"
    assert_equal "$(registry_dump)" "$before"
}

@test "plan postgres: no cached 'No changes.' for a postgres source: a table renamed since is reported" {
    hand_repo
    run -0 fs plan
    assert_output "No changes."
    assert [ ! -e .fs/plan-cache ]
    psql_fs -c 'ALTER TABLE "Hand Stats" RENAME TO gone_since_plan'
    run -128 --separate-stderr fs plan
    assert_equal "$stderr" "fatal: features/hand.yaml:9:8: source 'hand_src': table 'Hand Stats' does not exist"
}

@test "apply postgres: no DSN anywhere, and a refused connection, are errors" {
    hand_repo
    local before
    before=$(registry_dump)
    sed -i 's/^created_timestamp_field: created$/created_timestamp_field: created\ndescription: changed/' features/hand.yaml
    unset FS_POSTGRES_DSN
    run -128 --separate-stderr fs apply
    assert_equal "$stderr" "fatal: features/hand.yaml:8:7: source 'hand_src': no PostgreSQL connection: set 'dsn' in offline_store of fs.yaml, the source's 'dsn', or FS_POSTGRES_DSN"
    # a dsn of the source's own
    sed -i "s|^description: changed\$|description: changed\ndsn: postgresql://fs:fs-secret@127.0.0.1:1/postgres|" features/hand.yaml
    run -128 --separate-stderr fs apply
    [[ $stderr == "fatal: features/hand.yaml:"*": source 'hand_src': postgres table 'Hand Stats': cannot connect to PostgreSQL: "*"refused"* ]]
    assert_equal "$(registry_dump)" "$before"
    # offline_store in fs.yaml
    sed -i '/^dsn: /d' features/hand.yaml
    sed -i "s|^  type: embedded\$|  type: postgres\n  dsn: $PG_DSN|" fs.yaml
    run -0 grep -c "dsn: $PG_DSN" fs.yaml
    run -0 --separate-stderr fs apply -q
    run -0 --separate-stderr fs get-historical --entities rows.csv -f hand0
    assert_line --index 1 '1,2024-05-01T11:00:00Z,a,3.5'
}
