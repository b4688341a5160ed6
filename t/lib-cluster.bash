# A Redis Cluster of real redis-servers on free loopback ports, for the
# cluster tests (t3012, t3013), made by tools/redis-cluster: 3 masters with
# a replica each, a 2 s node timeout (a killed master's replica takes over
# within a few seconds).
#
#   load test_helper
#   load lib-cluster
#   setup_file() { start_cluster; }      # sets CLUSTER_SEED, CLUSTER_PORTS, writes $BATS_FILE_TMPDIR/cluster.env
#   teardown_file() { stop_cluster; }
#   @test ... { use_cluster; rc set p 100; }

start_cluster() {
    command -v redis-server > /dev/null || skip "redis-server is not installed"
    CLUSTER_SEED=$("$FS_SOURCE_ROOT/tools/redis-cluster" start "$BATS_FILE_TMPDIR/cluster") ||
        fail "the cluster did not start"
    mapfile -t CLUSTER_PORTS < "$BATS_FILE_TMPDIR/cluster/ports"
    printf 'CLUSTER_SEED=%q CLUSTER_PORTS=(%s)\n' "$CLUSTER_SEED" "${CLUSTER_PORTS[*]}" > "$BATS_FILE_TMPDIR/cluster.env"
}

use_cluster() {
    [ -f "$BATS_FILE_TMPDIR/cluster.env" ] || fail "no cluster: call start_cluster in setup_file"
    # shellcheck disable=SC1091
    . "$BATS_FILE_TMPDIR/cluster.env"
}

stop_cluster() {
    "$FS_SOURCE_ROOT/tools/redis-cluster" stop "$BATS_FILE_TMPDIR/cluster"
}

# rc ARGS...: t/rc-tool against the cluster; its JSON line in $output
rc() {
    run --separate-stderr "${FS_RC_TOOL:-$(dirname "$FS")/t/rc-tool}" "$CLUSTER_SEED" "$@"
    [ "$status" -eq 0 ] || fail "rc-tool $*: exit $status: $stderr"
}

# The masters' ports (one a line), and the port of the master serving slot $1
cluster_masters() {
    redis-cli -p "${CLUSTER_PORTS[0]}" cluster nodes | awk '$3 ~ /master/ && $3 !~ /fail/ && NF >= 9 { split($2, a, "[:@]"); print a[2] }'
}
master_of_slot() {
    redis-cli -p "${CLUSTER_PORTS[0]}" --json cluster slots 2> /dev/null |
        jq --argjson s "$1" '.[] | select(.[0] <= $s and .[1] >= $s) | .[2][1]'
}
node_id() { redis-cli -p "$1" cluster myid; }

# Wait (up to 20 s) until every slot is served by a master that answers:
# after a master is killed, its replica has taken over.
cluster_settled() {
    local i p ok
    for i in $(seq 200); do
        ok=1
        redis-cli -p "${CLUSTER_PORTS[0]}" cluster info 2> /dev/null | grep -q '^cluster_state:ok' || ok=
        for p in $(redis-cli -p "${CLUSTER_PORTS[0]}" cluster nodes 2> /dev/null |
            awk 'NF >= 9 { split($2, a, "[:@]"); print a[2] }'); do
            [ "$(redis-cli -p "$p" ping 2> /dev/null)" = PONG ] || ok=
        done
        [ -n "$ok" ] && return 0
        sleep 0.1
    done
    return 1
}

# Every slot served (a cluster that lost a master, in a failover test,
# serves every slot again first) and every master emptied: a test's start.
cluster_empty() {
    local p
    cluster_settled || fail "the cluster does not serve every slot"
    for p in $(cluster_masters); do redis-cli -p "$p" flushall > /dev/null || true; done
}
