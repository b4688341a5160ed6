#!/usr/bin/env bats
# The Redis Cluster router (core/redis-cluster.c) against a real cluster of
# 3 masters and 3 replicas started here (t/lib-cluster.bash), driven by
# t/rc-tool: keys hashed to slots exactly as Redis hashes them, spread over
# the masters and read back, MULTI/EXEC on hash-tagged keys, the ASK
# redirection of a slot half-migrated and the MOVED one once it has moved
# (both made by hand, so that each path is taken for certain), a reshard
# with redis-cli while keys are written and read (nothing lost), and a
# master killed: the router sees a master down, then the promoted replica
# serves its slots within seconds. The online store on it is t3013's.

load test_helper
load lib-cluster

setup_file() { start_cluster; }
teardown_file() { stop_cluster; }

@test "cluster router: a key's slot is Redis's own (CRC16, hash tags)" {
    use_cluster
    local k
    for k in foo bar "user:1000" "{user1000}.following" "{user1000}.followers" "foo{}{bar}" "foo{{bar}}zap" \
        "foo{bar}{zap}" "{}" "a{b" "}{x}" "fs:proj:view:r:1001" ""; do
        rc slot "$k"
        assert_equal "$(jq .slot <<< "$output")" "$(redis-cli -p "${CLUSTER_PORTS[0]}" cluster keyslot "$k")"
    done
}

@test "cluster router: 3,000 keys spread over the three masters and read back, no redirection" {
    use_cluster
    rc set spread 3000
    assert_equal "$(jq -c '[.failed, .moved, .ask]' <<< "$output")" '[0,0,0]'
    rc get spread 3000
    assert_equal "$(jq -c '[.failed, .ok, .bad, .missing, .moved, .ask]' <<< "$output")" '[0,3000,0,0,0,0]'
    # each master holds a share, and the shares add up
    local port n total=0 masters=0
    for port in $(cluster_masters); do
        n=$(redis-cli -p "$port" --scan --pattern 'spread:*' | wc -l)
        [ "$n" -gt 500 ] || fail "master $port holds $n of the keys"
        total=$((total + n))
        masters=$((masters + 1))
    done
    assert_equal "$masters" 3
    assert_equal "$total" 3000
}

@test "cluster router: MULTI/EXEC of two hash-tagged keys runs on their node" {
    use_cluster
    rc tx pair 400
    # 400 transactions written, both keys of each read back
    assert_equal "$(jq -c '[.failed, .ok, .bad]' <<< "$output")" '[0,800,0]'
    assert_equal "$(redis-cli -c -p "${CLUSTER_PORTS[0]}" get '{pair:7}:b')" "0:7"
}

@test "cluster router: a slot half-migrated is read through ASK; once moved, through MOVED" {
    use_cluster
    local slot src dst src_id dst_id port
    rc set ask 1
    slot=$(redis-cli -p "${CLUSTER_PORTS[0]}" cluster keyslot ask:0)
    src=$(master_of_slot "$slot")
    dst=$(cluster_masters | grep -vx "$src" | head -n 1)
    src_id=$(node_id "$src")
    dst_id=$(node_id "$dst")
    # the slot migrating from src to dst, and the key already moved
    redis-cli -p "$dst" cluster setslot "$slot" importing "$src_id" > /dev/null
    redis-cli -p "$src" cluster setslot "$slot" migrating "$dst_id" > /dev/null
    assert_equal "$(redis-cli -p "$src" migrate 127.0.0.1 "$dst" ask:0 0 5000)" OK
    rc get ask 1
    assert_equal "$(jq -c '[.ok, .failed]' <<< "$output")" '[1,0]'
    [ "$(jq .ask <<< "$output")" -ge 1 ] || fail "no ASK followed: $output"
    assert_equal "$(jq .moved <<< "$output")" 0
    # a router that read the map before the slot moved: MOVED, then the new map
    "$FS_RC_TOOL" --pause "$BATS_TEST_TMPDIR/go" "$CLUSTER_SEED" get ask 1 > rc.out 2> rc.err &
    local pid=$! i
    for i in $(seq 100); do grep -q ready rc.out && break; sleep 0.05; done
    for port in $(cluster_masters); do
        redis-cli -p "$port" cluster setslot "$slot" node "$dst_id" > /dev/null
    done
    touch "$BATS_TEST_TMPDIR/go"
    wait "$pid" || fail "rc-tool: $(cat rc.err)"
    output=$(tail -n 1 rc.out)
    assert_equal "$(jq -c '[.ok, .failed]' <<< "$output")" '[1,0]'
    [ "$(jq .moved <<< "$output")" -ge 1 ] || fail "no MOVED followed: $output"
    [ "$(jq .refreshes <<< "$output")" -ge 2 ] || fail "the map was not read again: $output"
}

@test "cluster router: a reshard by redis-cli while keys are written and read loses nothing" {
    use_cluster
    local src dst
    src=$(cluster_masters | head -n 1)
    dst=$(cluster_masters | tail -n 1)
    rc set moving 2000
    "$FS_RC_TOOL" "$CLUSTER_SEED" loop moving 2000 8 > loop.out 2> loop.err &
    local pid=$!
    sleep 1
    redis-cli --cluster reshard "127.0.0.1:$src" --cluster-from "$(node_id "$src")" \
        --cluster-to "$(node_id "$dst")" --cluster-slots 1500 --cluster-yes > reshard.log 2>&1 ||
        fail "reshard: $(tail -n 5 reshard.log)"
    wait "$pid" || fail "rc-tool: $(cat loop.err)"
    output=$(tail -n 1 loop.out)
    # every round wrote and read back all 2,000 keys; the move was seen
    assert_equal "$(jq .failed_rounds <<< "$output")" 0
    [ "$(jq .rounds <<< "$output")" -ge 3 ] || fail "too few rounds: $output"
    [ "$(jq '.moved + .ask' <<< "$output")" -ge 1 ] || fail "no redirection seen: $output"
    redis-cli --cluster check "127.0.0.1:$src" > /dev/null || fail "the cluster is not consistent after the reshard"
}

@test "cluster router: a master killed: reported down, then its replica serves within seconds" {
    use_cluster
    local victim pid
    rc set failover 1000
    # not the first seed: the router must find the map elsewhere
    victim=$(cluster_masters | grep -vx "${CLUSTER_PORTS[0]}" | head -n 1)
    "$FS_RC_TOOL" "$CLUSTER_SEED" loop failover 1000 12 > loop.out 2> loop.err &
    pid=$!
    sleep 2
    kill -9 "$(redis-cli -p "$victim" info server | tr -d '\r' | sed -n 's/^process_id://p')"
    # before the replica takes over (node timeout 2 s): a master is down
    rc check
    assert_equal "$(jq .down <<< "$output")" 1
    wait "$pid" || fail "rc-tool: $(cat loop.err)"
    output=$(tail -n 1 loop.out)
    # the rounds during the failover may fail; the last ones all pass
    [ "$(jq .ok_since_last_failure <<< "$output")" -ge 2 ] || fail "no recovery: $output"
    jq -e '.last_failure_s < 10' <<< "$output" > /dev/null || fail "recovered too late: $output"
    [ "$(jq .refreshes <<< "$output")" -ge 2 ] || fail "the map was not read again: $output"
    # and the cluster, seen from the router, is whole again
    rc check
    assert_equal "$(jq -c '[.uncovered, .down]' <<< "$output")" '[0,0]'
}
