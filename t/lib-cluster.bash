# A Redis Cluster of real redis-servers on free loopback ports, for the
# cluster tests (t3012): 3 masters with a replica each, every node with
# its own directory, a 2 s node timeout (a killed master's replica takes
# over within a few seconds).
#
#   load test_helper
#   load lib-cluster
#   setup_file() { start_cluster; }      # sets CLUSTER_SEED, CLUSTER_PORTS, writes $BATS_FILE_TMPDIR/cluster.env
#   teardown_file() { stop_cluster; }
#   @test ... { use_cluster; rc set p 100; }

cluster_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_cluster() {
    local i port bus dir nodes=() ok
    command -v redis-server > /dev/null || skip "redis-server is not installed"
    CLUSTER_PORTS=()
    : > "$BATS_FILE_TMPDIR/cluster.pids"
    for i in 0 1 2 3 4 5; do
        port=$(cluster_free_port)
        bus=$(cluster_free_port)
        dir=$BATS_FILE_TMPDIR/cluster/$port
        mkdir -p "$dir"
        # in a subshell: not a job of the test's shell (no "Killed" lines when stopped)
        (redis-server --port "$port" --cluster-port "$bus" --bind 127.0.0.1 --cluster-enabled yes \
            --cluster-config-file "$dir/nodes.conf" --cluster-node-timeout 2000 --save '' \
            --appendonly no --dir "$dir" > "$dir/log" 2>&1 3>&- &
            echo "$!" >> "$BATS_FILE_TMPDIR/cluster.pids")
        CLUSTER_PORTS+=("$port")
        nodes+=("127.0.0.1:$port")
    done
    for port in "${CLUSTER_PORTS[@]}"; do
        for i in $(seq 100); do
            [ "$(redis-cli -p "$port" ping 2> /dev/null)" = PONG ] && break
            sleep 0.05
        done
    done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes \
        > "$BATS_FILE_TMPDIR/cluster/create.log" 2>&1 || {
        cat "$BATS_FILE_TMPDIR/cluster/create.log" >&2
        return 1
    }
    # every node agrees that every slot is served
    for i in $(seq 200); do
        ok=1
        for port in "${CLUSTER_PORTS[@]}"; do
            redis-cli -p "$port" cluster info 2> /dev/null | grep -q '^cluster_state:ok' || ok=
        done
        [ -n "$ok" ] && redis-cli --cluster check "127.0.0.1:${CLUSTER_PORTS[0]}" > /dev/null 2>&1 && break
        sleep 0.1
    done
    [ -n "$ok" ] || { echo "the cluster did not come up" >&2; return 1; }
    # every node a seed: the router reads the map from the first that answers
    CLUSTER_SEED=$(printf 'redis://127.0.0.1:%s,' "${CLUSTER_PORTS[@]}")
    CLUSTER_SEED=${CLUSTER_SEED%,}
    printf 'CLUSTER_SEED=%q CLUSTER_PORTS=(%s)\n' "$CLUSTER_SEED" "${CLUSTER_PORTS[*]}" > "$BATS_FILE_TMPDIR/cluster.env"
}

use_cluster() {
    [ -f "$BATS_FILE_TMPDIR/cluster.env" ] || fail "no cluster: call start_cluster in setup_file"
    # shellcheck disable=SC1091
    . "$BATS_FILE_TMPDIR/cluster.env"
}

stop_cluster() {
    local pid
    [ -f "$BATS_FILE_TMPDIR/cluster.pids" ] || return 0
    while read -r pid; do
        kill -9 "$pid" 2> /dev/null || true
    done < "$BATS_FILE_TMPDIR/cluster.pids"
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
