#!/usr/bin/env bats
# Windowed aggregations online: materialize, push and `get-online --at`
# on seeded random data (t/agg_reference.py) must answer what the
# brute-force reference and get-historical answer for the same events at
# the same time t: values, PRESENT/NOT_FOUND and the newest event in the
# window. Reads are at times t at or after the batch end and after every
# event applied (where online answers are exact): tile edges and random
# offsets up to two windows. Each case runs on the SQLite and on the
# Redis online store.

load test_helper
load lib-online
load lib-agg

VIEWS="token_activity pair_activity"

# reads_after SEED T0 FILE: read times (one a line) at and after T0: T0
# itself, T0 + 1us, tile edges after it, random offsets up to two days.
reads_after() {
    "$FS_TEST_PYTHON" -S - "$BATS_TEST_DIRNAME" "$@" <<'EOF'
import random, sys
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv.pop(1))
import pit_reference as pit
S = 10**6
seed, t0, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rnd = random.Random(seed)
t = pit.parse_time(t0)
ts = [t, t + 1]
for hop in (60, 300, 1800, 3600):
    edge = (t // (hop * S) + 1) * hop * S
    ts += [edge, edge - 1]
ts += [t + 45 * S, t + 30 * 60 * S, t + 2 * 3600 * S, t + 86400 * S, t + 86400 * S + 3600 * S]
ts += [t + rnd.randrange(0, 2 * 86400 * S) for _ in range(4)]
ts += [t + rnd.randrange(0, 3 * 3600) * S for _ in range(3)]
with open(path, "w") as f:
    f.write("".join(pit.format_time(x) + "\n" for x in sorted(set(y for y in ts if y >= t))))
EOF
}

# check_reads LABEL READS [REFERENCE OPTIONS...]: for both views, `fs
# get-online --at T --json` for every key (and unknown ones) at every
# read time of READS; the answers must equal the reference given the
# options (--batch-end, --pushed, --historical is added when
# WITH_HISTORICAL=1: get-historical of the same rows must agree too).
check_reads() {
    local label=$1 reads=$2 view t e args n=0 hist
    shift 2
    for view in $VIEWS; do
        agg_ref keys spec.json "$view" > "keys.$view"
        # pushed-only keys and keys with no event at all
        if [ "$view" = token_activity ]; then
            printf '%s\n' token=new0 token=new1 token=nope >> "keys.$view"
        else
            printf '%s\n' token=new0,account_id=900 token=new1,account_id=901 token=nope,account_id=5 >> "keys.$view"
        fi
        args=()
        while IFS= read -r e; do args+=(-e "$e"); done < "keys.$view"
        : > "reads.$view"
        while IFS= read -r t; do
            n=$((n + 1))
            "$FS" get-online -f "$view" "${args[@]}" --at "$t" --json > "online.$n.json" ||
                fail "$label: fs get-online -f $view --at $t failed"
            printf '%s\t%s\n' "$t" "online.$n.json" >> "reads.$view"
        done < "$reads"
        hist=()
        if [ "${WITH_HISTORICAL:-0}" = 1 ]; then
            agg_ref hist-rows spec.json "$view" "keys.$view" "reads.$view" > "hrows.$view.csv"
            "$FS" get-historical --entities "hrows.$view.csv" -f "$view" -o "hist.$view.csv" ||
                fail "$label: get-historical failed"
            hist=(--historical "hist.$view.csv")
        fi
        run agg_ref online spec.json "$view" --keys "keys.$view" --reads "reads.$view" \
            --stats "stats.$view.json" "${hist[@]}" "$@"
        [ "$status" -eq 0 ] || fail "$label ($view): online differs:
$output"
        # not vacuous: values found and not found
        jq -e '.present > 20 and .not_found > 20' "stats.$view.json" > /dev/null ||
            fail "$label ($view): the reads found too little: $(cat "stats.$view.json")"
    done
}

# One microsecond after the newest event of the CSV files $@ (their ts or
# event_ts column): online reads are exact strictly after the newest event.
after_newest() {
    "$FS_TEST_PYTHON" -S - "$BATS_TEST_DIRNAME" "$@" <<'EOF'
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv.pop(1))
import pit_reference as pit
best = None
for path in sys.argv[1:]:
    header, rows = pit.read_csv(path)
    col = header.index("ts") if "ts" in header else header.index("event_ts")
    for r in rows:
        t = pit.parse_time(r[col])
        best = t if best is None or t > best else best
print(pit.format_time(best + 1))
EOF
}

# Online equals offline: materialize (or materialize-incremental with
# $2 = incremental) with END after every event, then reads at and after
# the batch end agree with get-historical.
materialize_all() {
    local seed=$1
    agg_random_repo "$seed" "$BATS_TEST_TMPDIR/m$seed" --online
    online_wipe
    if [ "${2:-}" = incremental ]; then
        run -0 --separate-stderr fs materialize-incremental 2024-05-03T06:20:00Z
    else
        run -0 --separate-stderr fs materialize 2024-04-01T00:00:00Z 2024-05-03T06:20:00Z
    fi
    reads_after "$seed" 2024-05-03T06:00:00Z reads.txt
    WITH_HISTORICAL=1 check_reads "seed $seed, all events materialized" reads.txt
}

@test "online aggregations: after materialize(-incremental), get-online --at equals get-historical and the reference (sqlite)" {
    use_backend sqlite
    materialize_all 11
    materialize_all 12 incremental
}

@test "online aggregations: after materialize(-incremental), get-online --at equals get-historical and the reference (redis)" {
    use_backend redis
    materialize_all 13 incremental
}

# A batch end in the middle of the data: events at or after it are not
# online; then pushed events at or after it are added, earlier ones
# (late) are not; then a later materialization replaces what the pushes
# built with what the source holds.
batch_then_push() {
    local seed=$1 B=2024-05-02T13:00:00Z view src after
    agg_random_repo "$seed" "$BATS_TEST_TMPDIR/p$seed" --online
    online_wipe
    # END 13:17 is floored to the largest hop (1h) of both views
    run -0 --separate-stderr fs materialize 2024-04-01T00:00:00Z 2024-05-02T13:17:00Z
    reads_after "$seed" "$B" reads1.txt
    check_reads "seed $seed, batch end $B" reads1.txt --batch-end "$B"

    # push: new events from B on (some exactly at B), late ones before it
    for view in $VIEWS; do
        src=trades_push
        [ "$view" = pair_activity ] && src=pairs_push
        agg_ref gen-push spec.json $((seed + 1)) "$view" "$B" 2024-05-02T17:00:00Z 60 15 > "push.$view.csv"
        run -0 --separate-stderr fs push "$src" "push.$view.csv"
    done
    after=$(after_newest push.token_activity.csv push.pair_activity.csv)
    reads_after $((seed + 2)) "$after" reads2.txt
    # each view reads its own push source: it sees that file only
    VIEWS=token_activity check_reads "seed $seed, after push" reads2.txt --batch-end "$B" \
        --pushed push.token_activity.csv
    VIEWS=pair_activity check_reads "seed $seed, after push" reads2.txt --batch-end "$B" \
        --pushed push.pair_activity.csv
    # not vacuous: had the late events been applied, the answers would differ
    run agg_ref online spec.json token_activity --keys keys.token_activity --reads reads.token_activity \
        --batch-end "$B" --pushed-all push.token_activity.csv
    [ "$status" -eq 1 ] || fail "seed $seed: the late events change nothing"

    # the batch source is the truth: other events land in the csv (not
    # those pushed), and a materialization after them replaces the tiles
    agg_ref gen-push spec.json $((seed + 3)) token_activity "$B" 2024-05-02T17:00:00Z 40 0 |
        tail -n +2 >> data/trades.csv
    agg_ref gen-push spec.json $((seed + 3)) pair_activity "$B" 2024-05-02T17:00:00Z 40 0 |
        tail -n +2 >> data/pairs.csv
    run -0 --separate-stderr fs materialize 2024-04-01T00:00:00Z 2024-05-03T06:00:00Z
    reads_after $((seed + 4)) 2024-05-03T06:00:00Z reads3.txt
    WITH_HISTORICAL=1 check_reads "seed $seed, rematerialized" reads3.txt
    run agg_ref online spec.json token_activity --keys keys.token_activity --reads reads.token_activity \
        --pushed-all push.token_activity.csv
    [ "$status" -eq 1 ] || fail "seed $seed: the pushed events would not have changed the answers"
}

@test "online aggregations: batch end, pushes after it added, late ones not, a later materialize replaces them (sqlite)" {
    use_backend sqlite
    batch_then_push 21
}

@test "online aggregations: batch end, pushes after it added, late ones not, a later materialize replaces them (redis)" {
    use_backend redis
    batch_then_push 22
}

# A source of a few thousand events: materialize reads it in two halves on
# two threads; the result must not depend on it.
big_source_repo() {
    init_repo
    rm features/driver.yaml
    python3 - <<'PY'
import random
random.seed(11)
with open("data/ev.csv", "w") as f:
    f.write("tok,ts,amount,buyer\n")
    for i in range(6000):
        f.write("%d,%d,%d,%s\n" % (random.randint(1, 40), 1714550400 + random.randint(0, 86400),
                                   random.randint(-5, 100), random.choice("abcdefgh")))
PY
    cat > features/v.yaml <<'Y'
kind: entity
name: tok
join_key: tok
type: int64
---
kind: source
name: ev
type: csv
path: data/ev.csv
timestamp_field: ts
---
kind: feature_view
name: w
entities: [tok]
source: ev
aggregations:
  - {name: n, function: count, window: 2h}
  - {name: s, function: sum, column: amount, type: int64, window: 1d}
  - {name: f, function: first, column: buyer, type: string, window: 1d}
  - {name: d, function: approx_count_distinct, column: buyer, type: string, window: 1d}
Y
    fs apply -q
}

@test "online aggregations: materialize reads a csv source on two threads or one alike" {
    big_source_repo
    entities=()
    for k in $(seq 1 41); do entities+=(-e "tok=$k"); done
    run -0 fs materialize 2024-05-01 2024-05-02T09:00:00Z
    run -0 --separate-stderr fs get-online -f w "${entities[@]}" --at 2024-05-02T09:00:00Z --json
    two=$output
    rm .fs/online.db*
    FS_MATERIALIZE_THREADS=1 run -0 fs materialize 2024-05-01 2024-05-02T09:00:00Z
    run -0 --separate-stderr fs get-online -f w "${entities[@]}" --at 2024-05-02T09:00:00Z --json
    [ "$output" = "$two" ]
    # and the values are those of get-historical at that time
    { echo tok,event_timestamp; for k in $(seq 1 41); do echo "$k,2024-05-02T09:00:00Z"; done; } > at.csv
    run -0 --separate-stderr fs get-historical --entities at.csv -f w
    run -0 python3 - "$two" "$output" <<'PY'
import csv, io, json, sys
on = json.loads(sys.argv[1])
off = list(csv.DictReader(io.StringIO(sys.argv[2])))
names = on["metadata"]["feature_names"]
for c, name in enumerate(names[1:], 1):
    for r, row in enumerate(off):
        v = on["results"][c]["values"][r]
        assert (row[name] == "" and v is None) or row[name] == str(v), (name, r, row[name], v)
print(sum(1 for x in on["results"][1]["values"] if x))
PY
    [ "$output" -gt 30 ]
}

@test "online aggregations: a bad row late in a split source names its line and writes nothing" {
    big_source_repo
    run -0 fs materialize 2024-05-01 2024-05-02T09:00:00Z
    run -0 --separate-stderr fs get-online -f w -e tok=3 --at 2024-05-02T09:00:00Z --json
    before=$output
    sed -i '5900s/,[-0-9]*,\([a-h]\)$/,many,\1/' data/ev.csv
    run -0 grep -n ',many,' data/ev.csv
    assert_output --partial '5900:'
    run -128 --separate-stderr fs materialize 2024-05-01 2024-05-02T10:00:00Z
    [[ "$stderr" == *"data/ev.csv:5900: column 'amount': 'many' is not an int64"* ]]
    run -0 --separate-stderr fs get-online -f w -e tok=3 --at 2024-05-02T09:00:00Z --json
    [ "$output" = "$before" ]
    run -0 fs status --json
    run -0 jq -r '.views[] | select(.name == "w") | .batch_end' <<< "$output"
    assert_output 2024-05-02T09:00:00Z
    # a row without its join key: an error too, not a row dropped
    sed -i '5900s/,many,/,1,/; 4000s/^[^,]*,/,/' data/ev.csv
    run -128 --separate-stderr fs materialize 2024-05-01 2024-05-02T10:00:00Z
    [[ "$stderr" == *"data/ev.csv:4000: join key column 'tok' is empty (feature_view 'w' needs a value in every row)"* ]] || fail "$stderr"
    run -0 --separate-stderr fs get-online -f w -e tok=3 --at 2024-05-02T09:00:00Z --json
    [ "$output" = "$before" ]
}

# A view on a push source over the big csv source, for push, status and
# schema-change tests.
push_repo() {
    big_source_repo
    cat >> features/v.yaml <<'Y'
---
kind: source
name: live
type: push
batch_source: ev
---
kind: feature_view
name: lw
entities: [tok]
source: live
aggregations:
  - {name: n, function: count, window: 1h}
  - {name: s, function: sum, column: amount, type: int64, window: 1h}
Y
    fs apply -q
}

@test "online aggregations: a push with a missing column or a bad value names it and writes nothing" {
    push_repo
    run -0 fs materialize 2024-05-01 2024-05-02T09:00:00Z -v lw
    printf 'tok,ts,amount,buyer\n7,2024-05-02T09:10:00Z,5,a\n' | fs push live -
    run -0 --separate-stderr fs get-online -f lw -e tok=7 --at 2024-05-02T09:30:00Z --json
    before=$output
    [[ "$before" == *'"values":[1]'*'"values":[5]'* ]]
    printf 'tok,ts,buyer\n7,2024-05-02T09:20:00Z,a\n' > missing.csv
    run -128 --separate-stderr fs push live missing.csv
    [[ "$stderr" == *"has no column 'amount'"* ]]
    printf 'tok,ts,amount,buyer\n7,2024-05-02T09:20:00Z,3,a\n7,2024-05-02T09:21:00Z,x,b\n' > bad.csv
    run -128 --separate-stderr fs push live bad.csv
    [[ "$stderr" == *"bad.csv:3: column 'amount': 'x' is not an int64"* ]]
    run -0 --separate-stderr fs get-online -f lw -e tok=7 --at 2024-05-02T09:30:00Z --json
    [ "$output" = "$before" ]
}

@test "online aggregations: status shows the batch end, the newest pushed event, applied and late" {
    push_repo
    # batch end 08:00 (the hops are 1m); the events of 07:00-08:00 go into tiles
    run -0 fs materialize 2024-05-01 2024-05-02T08:00:00Z -v lw
    printf 'tok,ts,amount,buyer\n7,2024-05-02T08:10:00Z,5,a\n8,2024-05-02T08:20:00Z,1,b\n9,2024-05-02T07:59:59Z,4,c\n41,2024-05-02T08:05:00Z,1,d\n' |
        fs push live -
    # the keys: those with events in [07:00, 08:00) of the source, and the new key 41
    keys=$(python3 -c 'import csv
ks = {r["tok"] for r in csv.DictReader(open("data/ev.csv")) if 1714633200 <= int(r["ts"]) < 1714636800}
print(len(ks | {"41"}))')
    [ "$keys" -gt 10 ]
    run -0 fs status --json
    run -0 jq -c '.views[] | select(.name == "lw") | [.batch_end, .newest_event, .events_applied, .late, .last_end, .keys]' <<< "$output"
    # tok 9's event is before the batch end: late, not applied
    assert_output "[\"2024-05-02T08:00:00Z\",\"2024-05-02T08:20:00Z\",3,1,\"2024-05-02T08:20:00Z\",$keys]"
    run -0 fs status
    assert_output --partial "batch end 2024-05-02T08:00:00Z, newest event 2024-05-02T08:20:00Z, 3 events applied after it, 1 late"
    # and a later materialization keeps the counts
    run -0 fs materialize 2024-05-01 2024-05-02T08:00:00Z -v lw
    run -0 fs status --json
    run -0 jq -c '.views[] | select(.name == "lw") | [.events_applied, .late]' <<< "$output"
    assert_output '[3,1]'
}

# the status of feature n (the first after the join key) for tok=7 at 08:00
n_status() {
    fs get-online -f lw -e tok=7 --at 2024-05-02T08:00:00Z --json | jq -r '.results[1].statuses[0]'
}

@test "online aggregations: changing an aggregation drops the view's tiles" {
    push_repo
    run -0 fs materialize 2024-05-01 2024-05-02T08:00:00Z -v lw
    grep -q '^7,171463[3-6]' data/ev.csv  # tok 7 has an event in [07:00, 08:00)
    run -0 n_status
    assert_output PRESENT
    sed -i 's/{name: s, function: sum, column: amount, type: int64, window: 1h}/{name: s, function: sum, column: amount, type: int64, window: 2h}/' features/v.yaml
    run -0 fs plan
    assert_output --partial "~ feature_view lw: aggregations"
    assert_output --partial "Drops the online data and materialization state of: lw"
    fs apply -q
    run -0 n_status
    assert_output NOT_FOUND
    run -0 fs status --json
    run -0 jq -c '.views[] | select(.name == "lw") | [.batch_end, .keys]' <<< "$output"
    assert_output '[null,0]'
}

@test "online aggregations: a read at exactly the newest event's time leaves out the events at that time" {
    push_repo
    # every event of the source pushed (no batch: all applied), then more at
    # 2024-05-02T09:00:00Z, the newest time, for some keys (twice for tok 3)
    tail -n +2 data/ev.csv > all.csv
    { echo tok,ts,amount,buyer; cat all.csv
      printf '3,1714640400,7,z\n3,1714640400,9,y\n5,1714640400,1,x\n40,1714640400,2,w\n'; } > push.csv
    fs push live push.csv
    cp push.csv data/ev.csv  # the same events offline
    for t in 2024-05-02T09:00:00Z 2024-05-02T09:00:00.000001Z; do
        { echo tok,event_timestamp; for k in 3 5 40 7; do echo "$k,$t"; done; } > at.csv
        run -0 --separate-stderr fs get-historical --entities at.csv -f lw
        offline=$output
        run -0 --separate-stderr fs get-online -f lw -e tok=3 -e tok=5 -e tok=40 -e tok=7 --at "$t" --json
        run -0 python3 - "$output" "$offline" <<'PY'
import csv, io, json, sys
on = json.loads(sys.argv[1])
off = list(csv.DictReader(io.StringIO(sys.argv[2])))
for c, name in enumerate(on["metadata"]["feature_names"][1:], 1):
    for r, row in enumerate(off):
        v = on["results"][c]["values"][r]
        assert row[name] == str(v), (name, row["tok"], row[name], v)
print(off[0]["s"])
PY
        echo "$t: $output" >> sums
    done
    # at 09:00 the events of 09:00 are not counted; a microsecond later they are
    run -0 cat sums
    [ "${lines[0]%%: *}" = 2024-05-02T09:00:00Z ]
    [ "$(( ${lines[1]##*: } - ${lines[0]##*: } ))" -eq 16 ]
}

# Concurrent pushes into one aggregation view, each of many more keys than
# Redis updates in one transaction (500): every event counts once. In Redis the
# transactions watch the view's meta record, not each key; one that writes
# keys but not the meta record writes it again as it read it, or two
# pushes' later transactions would both commit over the same old tiles.
concurrent_pushes() {
    push_repo
    run -0 fs materialize 2024-05-01 2024-05-02T08:00:00Z -v lw
    python3 - <<'PY'
for i in range(6):
    with open("push%d.csv" % i, "w") as f:
        f.write("tok,ts,amount,buyer\n")
        for tok in range(1000, 7000):
            f.write("%d,2024-05-02T08:10:%02dZ,%d,b\n" % (tok, i, i + 1))
PY
    pids=()
    for i in 0 1 2 3 4 5; do
        fs push live push$i.csv > push$i.out 2>&1 &
        pids+=($!)
    done
    for i in 0 1 2 3 4 5; do
        wait "${pids[$i]}" || fail "push $i failed: $(cat push$i.out)"
    done
    args=()
    for tok in $(seq 1000 6999); do args+=(-e tok=$tok); done
    run -0 --separate-stderr fs get-online -f lw "${args[@]}" --at 2024-05-02T08:30:00Z --json
    run -0 jq -c '[.results[1].values, .results[2].values] | transpose | unique' <<< "$output"
    assert_output '[[6,21]]'
    run -0 fs status --json
    run -0 jq -c '.views[] | select(.name == "lw") | .events_applied' <<< "$output"
    assert_output 36000
}

@test "online aggregations: six concurrent pushes of 6000 keys each into one view: every event counted (sqlite)" {
    use_backend sqlite
    concurrent_pushes
}

@test "online aggregations: six concurrent pushes of 6000 keys each into one view: every event counted (redis)" {
    use_backend redis
    concurrent_pushes
}
