#!/usr/bin/env bats
# fs apply runs that overlap, and runs killed half-way.

load test_helper

DEFS=features/driver.yaml

set_ttl() { sed -i "s/^ttl: .*/ttl: $1/" "$DEFS"; }

q() { sqlite3 .fs/registry.db "$1"; }

integrity_ok() {
    run -0 q 'PRAGMA integrity_check'
    assert_output ok
    run -0 q 'PRAGMA foreign_key_check'
    assert_output ""
}

# Outside the repository: results of the runs in the background.
R=$BATS_TEST_TMPDIR/runs

# Start N `fs apply` at once; their exit codes go to $R/rc.1 .. rc.N, their
# output to $R/out.1 .. out.N.
apply_at_once() {
    local n=$1 i pids=() t
    shift
    rm -rf "$R"
    mkdir -p "$R"
    for i in $(seq "$n"); do
        (while [ ! -e "$R/go" ]; do sleep 0.001; done
         "$FS" apply "$@" > "$R/out.$i" 2>&1; echo $? > "$R/rc.$i.tmp"
         mv "$R/rc.$i.tmp" "$R/rc.$i") &
        pids+=($!)
    done
    touch "$R/go"
    for i in "${pids[@]}"; do wait "$i" || true; done
    # a wait cut short by a signal must not pass for the end of the runs
    for t in $(seq 6000); do
        [ "$(find "$R" -name 'rc.[0-9]*' ! -name '*.tmp' | wc -l)" -ge "$n" ] && break
        sleep 0.01
    done
}

# FILES files of PER entities each, described as round ROUND.
gen_entities() {
    local files=$1 per=$2 round=$3
    python3 - "$files" "$per" "$round" <<'EOF'
import sys
files, per, rnd = (int(a) for a in sys.argv[1:])
for f in range(files):
    docs = [f"kind: entity\nname: e{f}_{j}\njoin_key: k{f}_{j}\ntype: int64\n"
            f"description: round {rnd}" for j in range(per)]
    with open(f"features/gen{f}.yaml", "w") as out:
        out.write("\n---\n".join(docs) + "\n")
EOF
}

@test "apply: two concurrent applies of one change create one registry version" {
    init_repo
    fs apply -q
    local head
    head=$(git rev-parse HEAD)
    set_ttl 2d
    apply_at_once 2
    run -0 cat "$R/rc.1" "$R/rc.2"
    assert_output "0
0"
    # one of them applied and committed, the other found nothing left to do
    run -0 cat "$R/out.1" "$R/out.2"
    assert_line "No changes."
    assert_line --regexp '^Applied registry version 2 \(commit [0-9a-f]{12}\)\.$'
    run -0 q 'SELECT version FROM applies ORDER BY version'
    assert_output "1
2"
    run -0 git rev-list --count "$head"..HEAD
    assert_output 1
    assert_equal "$(q 'SELECT git_commit FROM applies WHERE version = 2')" "$(git rev-parse HEAD)"
    run -0 git status --porcelain
    assert_output ""
    integrity_ok
}

@test "apply: five concurrent applies end in one consistent state" {
    init_repo
    apply_at_once 5
    run -0 cat "$R"/rc.{1..5}
    assert_output "$(printf '0\n%.0s' 1 2 3 4 5)"
    run -0 q 'SELECT version FROM applies'
    assert_output 1
    run -0 q 'SELECT count(*) FROM objects'
    assert_output 7
    set_ttl 2d
    printf 'kind: entity\nname: customer\njoin_key: customer_id\ntype: string\n' \
        > features/customer.yaml
    apply_at_once 5 -q
    run -0 cat "$R"/rc.{1..5}
    assert_output "$(printf '0\n%.0s' 1 2 3 4 5)"
    run -0 q 'SELECT version FROM applies ORDER BY version'
    assert_output "1
2"
    run -0 q 'SELECT kind, name, version FROM objects ORDER BY kind, name'
    assert_output "entity|customer|1
entity|driver|1
feature_service|driver_activity_v1|1
feature_view|driver_hourly_stats|2
feature_view|driver_trip_stats|1
model|eta|1
source|driver_stats|1
source|driver_trips|1"
    run -0 git rev-list --count HEAD
    assert_output 2
    run -0 git status --porcelain
    assert_output ""
    run -0 fs plan --exit-code
    integrity_ok
}

@test "apply: killed at each step of its commit, the registry is as before or as after, and the next apply completes" {
    init_repo
    fs apply -q
    local point days=1 n
    for point in apply-after-git-index apply-after-git-commit \
                 apply-before-registry-commit apply-after-registry-commit; do
        days=$((days + 1))
        set_ttl ${days}d
        n=$(q 'SELECT count(*) FROM applies')
        run env FS_TEST_CRASH_AT=$point "$FS" apply -q
        assert_equal "$status" 137   # SIGKILL
        integrity_ok
        if [ $point = apply-after-registry-commit ]; then
            assert_equal "$(q 'SELECT count(*) FROM applies')" $((n + 1))
            assert_equal "$(q 'SELECT git_commit FROM applies ORDER BY version DESC LIMIT 1')" \
                "$(git rev-parse HEAD)"
        else
            assert_equal "$(q 'SELECT count(*) FROM applies')" "$n"
        fi
        assert_equal "$(q "SELECT json_extract(spec, '\$.ttl') FROM objects WHERE name = 'driver_hourly_stats'")" \
            "$([ $point = apply-after-registry-commit ] && echo $((days * 86400)) || echo $(((days - 1) * 86400)))"
        # the next apply finishes the job, whatever was left
        run -0 fs apply -q
        run -0 git status --porcelain
        assert_output ""
        assert_equal "$(q 'SELECT count(*) FROM applies')" $((n + 1))
        assert_equal "$(q 'SELECT git_commit FROM applies ORDER BY version DESC LIMIT 1')" \
            "$(git rev-parse HEAD)"
        assert_equal "$(q "SELECT json_extract(spec, '\$.ttl') FROM objects WHERE name = 'driver_hourly_stats'")" \
            $((days * 86400))
        run -0 fs plan --exit-code
        assert_output "No changes."
    done
    # one commit per apply: init, then each of the four ttl changes
    run -0 git rev-list --count HEAD
    assert_output 5
}

@test "apply: concurrent applies of different commits both get recorded" {
    init_repo
    fs apply -q
    set_ttl 2d
    git commit -q -am "ttl 2d"
    local c1 c2
    c1=$(git rev-parse HEAD)
    set_ttl 3d
    git commit -q -am "ttl 3d"
    c2=$(git rev-parse HEAD)
    mkdir -p "$R"
    local p1 p2
    ("$FS" apply -q --rev "$c1"; echo $? > "$R/rc.1") &
    p1=$!
    ("$FS" apply -q --rev "$c2"; echo $? > "$R/rc.2") &
    p2=$!
    wait "$p1" || true
    wait "$p2" || true
    run -0 cat "$R/rc.1" "$R/rc.2"
    assert_output "0
0"
    # serialized: each saw the other's result and changed the ttl again
    run -0 q "SELECT git_commit FROM applies WHERE version > 1 ORDER BY git_commit"
    assert_output "$(printf '%s\n' "$c1" "$c2" | sort)"
    local last ttl
    last=$(q 'SELECT git_commit FROM applies ORDER BY version DESC LIMIT 1')
    ttl=$(q "SELECT json_extract(spec, '\$.ttl') FROM objects WHERE name = 'driver_hourly_stats'")
    if [ "$last" = "$c1" ]; then assert_equal "$ttl" 172800; else assert_equal "$ttl" 259200; fi
    run -0 q "SELECT version, applied_in FROM object_versions WHERE name = 'driver_hourly_stats' ORDER BY version"
    assert_output "1|1
2|2
3|3"
    integrity_ok
}

@test "apply: waits for a run holding the registry lock" {
    init_repo
    fs apply -q
    set_ttl 2d
    # hold the apply lock for a second
    flock .fs/registry.db.lock sh -c 'touch ../held; sleep 1' &
    local holder=$! start end
    while [ ! -e ../held ]; do sleep 0.01; done
    start=$(date +%s%N)
    run -0 fs apply -q
    end=$(date +%s%N)
    wait "$holder" # by pid: a bare wait waits for bats' BATS_TEST_TIMEOUT watchdog too
    [ $(((end - start) / 1000000)) -ge 500 ]
    run -0 q 'SELECT max(version) FROM applies'
    assert_output 2
}

@test "apply: a run killed at any point leaves the registry old or new, and the next run completes it" {
    init_repo
    gen_entities 8 125 0
    fs apply -q
    local old=1007 round files=8 v expect
    run -0 q 'SELECT count(*) FROM objects'
    assert_output $old
    for round in $(seq 1 20); do
        # the change: every generated entity gets a new description, and a new file of 125 more
        files=$((files + 1))
        gen_entities "$files" 125 "$round"
        v=$(q 'SELECT max(version) FROM applies')
        "$FS" apply -q > /dev/null 2>&1 &
        sleep "$(printf '0.%03d' $((RANDOM % 600)))"
        kill -KILL $! 2> /dev/null || true
        wait $! || true

        integrity_ok
        local n descs last
        n=$(q 'SELECT count(*) FROM objects')
        descs=$(q "SELECT DISTINCT json_extract(spec, '\$.description') FROM objects WHERE kind = 'entity' AND name LIKE 'e%'")
        last=$(q 'SELECT max(version) FROM applies')
        if [ "$n" -eq "$old" ]; then
            # untouched
            assert_equal "$last" "$v"
            assert_equal "$descs" "round $((round - 1))"
        elif [ "$n" -eq $((old + 125)) ]; then
            # fully applied
            assert_equal "$last" $((v + 1))
            assert_equal "$descs" "round $round"
        else
            echo "round $round: $n objects, neither $old nor $((old + 125))" >&2
            return 1
        fi
        run -0 q "SELECT count(*) FROM object_versions WHERE applied_in = $last"
        [ "$output" -gt 0 ]

        # the next run finishes the work
        run -0 --separate-stderr fs apply -q
        old=$((old + 125))
        run -0 q 'SELECT count(*) FROM objects'
        assert_output $old
        run -0 q "SELECT DISTINCT json_extract(spec, '\$.description') FROM objects WHERE kind = 'entity' AND name LIKE 'e%'"
        assert_output "round $round"
        assert_equal "$(q 'SELECT max(version) FROM applies')" $((v + 1))
        assert_equal "$(q 'SELECT git_commit FROM applies ORDER BY version DESC LIMIT 1')" "$(git rev-parse HEAD)"
        run -0 fs plan --exit-code
        run -0 git status --porcelain
        assert_output ""
    done
    integrity_ok
}
