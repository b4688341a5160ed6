#!/usr/bin/env bats
# The online store on a Redis Cluster (online_store: {type: redis,
# cluster: [...]}, or FS_REDIS_CLUSTER), against a real cluster of 3
# masters and 3 replicas (t/lib-cluster.bash): materialize, get-online,
# serve-lite and push give what the same repo gives on SQLite (the
# reference), for thousands of drivers spread over every master; status
# counts them; a schema change drops the view on every node; a reshard
# during materialization and reads loses nothing; a master killed mid-run:
# /health says degraded, then the replica serves and a rerun of the
# materialization gives the reference; views with aggregations (tiles
# materialized and pushed, concurrent pushes) answer as on SQLite. (fs
# stream into a cluster: t6002.)

load test_helper
load lib-cluster
load lib-serve

setup_file() { start_cluster; }
teardown_file() { stop_cluster; }

setup() {
    common_setup
    use_cluster
    cluster_empty
}

# A repo whose driver_stats.csv holds N drivers (1..N), two rows each (the newer wins)
cluster_repo() {
    local n=$1
    init_repo
    python3 - "$n" "$(date -u -d '-3 hours' +%s)" > data/driver_stats.csv <<'PY'
import sys, datetime
n, t0 = int(sys.argv[1]), int(sys.argv[2])
fmt = lambda t: datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
print("driver_id,event_timestamp,conv_rate,acc_rate,avg_daily_trips,created")
for d in range(1, n + 1):
    for age, k in ((7200, 1), (3600 - d % 600, 2)):
        t = t0 + 10800 - age
        print("%d,%s,%.3f,%.2f,%d,%s" % (d, fmt(t), (d * k % 997) / 1000, (d % 89) / 100, d * k % 500, fmt(t)))
PY
    fs apply -q
}

# The online answer for drivers 1..N (plus 0, never written), as JSON
answer() {
    local n=$1 args=() d
    for d in $(seq 0 "$n"); do args+=(-e "driver_id=$d"); done
    fs get-online -f driver_hourly_stats --json "${args[@]}"
}

materialize_plain() { fs materialize -q 2020-01-01T00:00:00Z now -v driver_hourly_stats; }

# The reference: the same repo's answer on SQLite
reference() {
    (unset FS_REDIS_CLUSTER && materialize_plain && answer "$1") > reference.json
}

@test "online cluster: materialize and get-online answer as SQLite does, for 3,000 drivers on every master" {
    cluster_repo 3000
    reference 3000
    export FS_REDIS_CLUSTER=$CLUSTER_SEED
    materialize_plain
    answer 3000 > cluster.json
    assert_equal "$(jq -c . cluster.json)" "$(jq -c . reference.json)"
    # the answer is not empty: 3,000 drivers found, one not
    assert_equal "$(jq '[.results[1].statuses[] | select(. == "PRESENT")] | length' cluster.json)" 3000
    # every master holds records
    local p n
    for p in $(cluster_masters); do
        n=$(redis-cli -p "$p" --scan --pattern 'fs:repo:driver_hourly_stats:{*}:r:*' | wc -l)
        [ "$n" -gt 500 ] || fail "master $p holds $n records"
    done
    # status counts them (the buckets' counters)
    run -0 --separate-stderr fs status --json
    assert_equal "$(jq '.views[] | select(.name == "driver_hourly_stats") | .keys' <<< "$output")" 3000
}

@test "online cluster: fs.yaml's cluster list is the store; the seeds' passwords never show" {
    cluster_repo 50
    reference 50
    local seeds
    seeds=$(sed 's|redis://|redis://:not-needed@|g; s|,|, |g' <<< "$CLUSTER_SEED")
    sed -i "s|^  type: sqlite|  type: redis\n  cluster: [$seeds]|; /^  path: .fs.online.db/d" fs.yaml
    # no password is set on these nodes: AUTH fails, and says so without the password
    run -128 --separate-stderr fs get-online -f driver_hourly_stats -e driver_id=1
    [[ "$stderr" == *"authentication failed"* ]] || fail "$stderr"
    [[ "$stderr" != *not-needed* ]] || fail "the password shows: $stderr"
    sed -i 's|redis://:not-needed@|redis://|g' fs.yaml
    materialize_plain
    answer 50 > cluster.json
    assert_equal "$(jq -c . cluster.json)" "$(jq -c . reference.json)"
}

@test "online cluster: serve-lite reads 100 drivers as SQLite's server does; push writes newest-wins; /health is ok" {
    cluster_repo 500
    # a push source and its view, for the push below
    cat >> features/driver.yaml <<'Y'
---
kind: source
name: driver_push
type: push
batch_source: driver_stats
---
kind: feature_view
name: driver_pushed
entities: [driver]
source: driver_push
ttl: 1d
features:
  - {name: conv_rate, type: float64}
Y
    fs apply -q
    unset FS_REDIS_CLUSTER
    materialize_plain
    start_server
    local body100 d
    body100=$(jq -cn '{features: ["driver_hourly_stats:conv_rate", "driver_hourly_stats:avg_daily_trips"],
        entities: {driver_id: [range(1; 101)]}}')
    post /get-online-features "$body100"
    assert_code 200
    echo "$body" > sqlite.json
    stop_server TERM
    export FS_REDIS_CLUSTER=$CLUSTER_SEED
    materialize_plain
    start_server
    post /get-online-features "$body100"
    assert_code 200
    assert_equal "$(jq -c . <<< "$body")" "$(jq -c . sqlite.json)"
    http GET /health
    assert_code 200
    # a push source's rows, newest-wins: the older row of driver 7 loses
    post /push '{"push_source_name": "driver_push", "df": {"driver_id": [7, 7, 8],
        "event_timestamp": ["'"$(ago '10 minutes')"'", "'"$(ago '20 minutes')"'", "'"$(ago '5 minutes')"'"],
        "conv_rate": [0.5, 0.25, 0.75]}}'
    assert_code 200
    post /get-online-features '{"features": ["driver_pushed:conv_rate"], "entities": {"driver_id": [7, 8, 9]}}'
    assert_code 200
    assert_equal "$(jq -c '.results[1].values' <<< "$body")" '[0.5,0.75,null]'
    assert_equal "$(jq -c '.results[1].statuses' <<< "$body")" '["PRESENT","PRESENT","NOT_FOUND"]'
}

@test "online cluster: a changed schema drops the view's records on every master" {
    cluster_repo 300
    export FS_REDIS_CLUSTER=$CLUSTER_SEED
    materialize_plain
    local p before=0 after=0
    for p in $(cluster_masters); do
        before=$((before + $(redis-cli -p "$p" --scan --pattern 'fs:repo:driver_hourly_stats:*' | wc -l)))
    done
    [ "$before" -gt 300 ] || fail "only $before keys"
    sed -i 's/  - {name: avg_daily_trips, type: int64}/  - {name: avg_daily_trips, type: float64}/' features/driver.yaml
    fs apply -q
    # the next write finds another schema: every record of the old one goes first
    materialize_plain
    for p in $(cluster_masters); do
        after=$((after + $(redis-cli -p "$p" --scan --pattern 'fs:repo:driver_hourly_stats:*' | wc -l)))
    done
    run -0 --separate-stderr fs get-online -f driver_hourly_stats:avg_daily_trips -e driver_id=2 --json
    assert_equal "$(jq -c '.results[1].values' <<< "$output")" '[4]'
    run -0 --separate-stderr fs status --json
    assert_equal "$(jq '.views[] | select(.name == "driver_hourly_stats") | .keys' <<< "$output")" 300
    # as many keys as before: the old ones gone, the new ones written
    assert_equal "$after" "$before"
}

@test "online cluster: a reshard during materialization and reads loses nothing" {
    cluster_repo 4000
    reference 4000
    export FS_REDIS_CLUSTER=$CLUSTER_SEED
    local src dst
    src=$(cluster_masters | head -n 1)
    dst=$(cluster_masters | tail -n 1)
    redis-cli --cluster reshard "127.0.0.1:$src" --cluster-from "$(node_id "$src")" \
        --cluster-to "$(node_id "$dst")" --cluster-slots 2000 --cluster-yes > reshard.log 2>&1 &
    local pid=$! i
    for i in 1 2 3; do
        materialize_plain
        answer 4000 > cluster.json
        assert_equal "$(jq -c . cluster.json)" "$(jq -c . reference.json)"
    done
    wait "$pid" || fail "reshard: $(tail -n 5 reshard.log)"
    answer 4000 > cluster.json
    assert_equal "$(jq -c . cluster.json)" "$(jq -c . reference.json)"
}

@test "online cluster: a master killed mid-run: /health degraded, then the replica serves; a rerun gives the reference" {
    cluster_repo 3000
    reference 3000
    export FS_REDIS_CLUSTER=$CLUSTER_SEED
    start_server
    local victim
    victim=$(cluster_masters | grep -vx "${CLUSTER_PORTS[0]}" | head -n 1)
    materialize_plain &
    local mpid=$!
    kill -9 "$(redis-cli -p "$victim" info server | tr -d '\r' | sed -n 's/^process_id://p')"
    http GET /health
    assert_code 503
    assert_equal "$body" '{"error":"online store unavailable"}'
    wait "$mpid" || true # it may fail, or ride through the failover
    # the replica takes over within seconds: /health is ok again
    local i code_ok=
    for i in $(seq 100); do
        http GET /health
        [ "$code" = 200 ] && { code_ok=1; break; }
        sleep 0.1
    done
    [ -n "$code_ok" ] || fail "/health did not recover: $code $body"
    materialize_plain
    answer 3000 > cluster.json
    assert_equal "$(jq -c . cluster.json)" "$(jq -c . reference.json)"
}

# The windows of driver_trip_stats and live_trips for drivers 1000..1010 as JSON
# (live_trips is not materialized: every pushed event is after its batch end)
agg_answer() {
    local args=() d
    for d in $(seq 1000 1010); do args+=(-e "driver_id=$d"); done
    fs get-online -f driver_trip_stats -f live_trips --json "${args[@]}"
}

@test "online cluster: views with aggregations: materialized tiles and pushed events answer as on SQLite" {
    cluster_repo 10
    live_trips_view
    local t
    t=$(ago '10 minutes')
    printf 'driver_id,event_timestamp,fare\n1001,%s,5.5\n1001,%s,4.5\n1004,%s,10\n' "$t" "$t" "$t" > pushed.csv
    (unset FS_REDIS_CLUSTER
        fs materialize -q 2020-01-01T00:00:00Z now -v driver_trip_stats
        fs push -q trips_push pushed.csv
        agg_answer) > reference.json
    export FS_REDIS_CLUSTER=$CLUSTER_SEED
    fs materialize -q 2020-01-01T00:00:00Z now -v driver_trip_stats
    fs push -q trips_push pushed.csv
    agg_answer > cluster.json
    assert_equal "$(jq -c . cluster.json)" "$(jq -c . reference.json)"
    # the answer has numbers in it: driver 1001's pushed events are counted
    jq -e '.metadata.feature_names | index("n_1h")' cluster.json > /dev/null
    run -0 --separate-stderr fs get-online -f live_trips:n_1h -f live_trips:fare_1h -e driver_id=1001 --json
    assert_equal "$(jq -c '[.results[1].values[0], .results[2].values[0]]' <<< "$output")" '[2,10]'
    run -0 --separate-stderr fs status --json
    assert_equal "$(jq '.views[] | select(.name == "live_trips") | .events_applied' <<< "$output")" 3
}

@test "online cluster: concurrent pushes into one view's tiles lose no event (compare-and-set retried)" {
    cluster_repo 10
    live_trips_view
    export FS_REDIS_CLUSTER=$CLUSTER_SEED
    local i d t pids=()
    t=$(ago '5 minutes')
    for i in 1 2 3 4; do
        { echo "driver_id,event_timestamp,fare"
          for d in $(seq 2001 2030); do echo "$d,$t,1"; done; } > "push$i.csv"
    done
    for i in 1 2 3 4; do
        fs push -q trips_push "push$i.csv" &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || fail "a push failed"; done
    # every driver got 4 events, one from each push
    local args=()
    for d in $(seq 2001 2030); do args+=(-e "driver_id=$d"); done
    run -0 --separate-stderr fs get-online -f live_trips:n_1h --json "${args[@]}"
    assert_equal "$(jq -c '[.results[1].values[]] | unique' <<< "$output")" '[4]'
    run -0 --separate-stderr fs status --json
    assert_equal "$(jq '.views[] | select(.name == "live_trips") | .events_applied' <<< "$output")" 120
}

@test "online cluster: bad cluster lists are named" {
    cluster_repo 10
    sed -i "s|^  type: sqlite|  type: redis\n  url: redis://127.0.0.1:1\n  cluster: [redis://127.0.0.1:2]|" fs.yaml
    run -128 --separate-stderr fs ls
    [[ "$stderr" == *"fs.yaml:"*"'cluster' and 'url' go not together"* ]] || fail "$stderr"
    sed -i '/^  url: redis:..127.0.0.1:1$/d; s|^  cluster: .*|  cluster: redis://127.0.0.1:2|' fs.yaml
    run -128 --separate-stderr fs ls
    [[ "$stderr" == *"'cluster' must be a list of seed nodes"* ]] || fail "$stderr"
    sed -i 's|^  cluster: .*|  cluster: [http://127.0.0.1:2]|' fs.yaml
    run -128 --separate-stderr fs ls
    [[ "$stderr" == *"a cluster seed must be a redis:// URL"* ]] || fail "$stderr"
}
