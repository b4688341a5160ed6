#!/usr/bin/env bats
# Overlapping and killed materializations (cron's case): --no-wait names the
# pid of the run holding the view, a second run waits for the first, and a
# run killed with SIGKILL at any moment leaves each key old or new (with
# SQLite: the whole view old or new) and the next run completes the work.
# The source is large (a million rows) so that a run takes a while. Each
# behaviour runs on the SQLite and on the Redis online store.

load test_helper
load lib-online

T0=1704067200 # 2024-01-01T00:00:00Z
NKEYS=50000

# The hour $1 after T0 as RFC 3339.
hour() {
    date -u -d "@$((T0 + $1 * 3600))" +%Y-%m-%dT%H:%M:%SZ
}

# big.csv: for each hour h in 0..20 one row per key k < NKEYS (keys with
# k % 10 == 0 only from hour 10 on), at T0 + h h - (k % 60) s, with a =
# h * 100000 + k. sample.csv: the rows of the keys the tests read back.
setup_file() {
    awk -v T0=$T0 -v N=$NKEYS 'BEGIN {
        print "k_id,event_ts,created_ts,a,b"
        for (h = 0; h <= 20; h++)
            for (k = 0; k < N; k++) {
                if (k % 10 == 0 && h < 10) continue
                ts = T0 + h * 3600 - k % 60
                printf "%d,%d,%d,%d,%d.%03d\n", k, ts, ts + h % 3, h * 100000 + k, h, k % 1000
            }
    }' > "$BATS_FILE_TMPDIR/big.csv"
    awk -F, 'NR == 1 || $1 % 100 == 7 || $1 % 1000 == 0' "$BATS_FILE_TMPDIR/big.csv" \
        > "$BATS_FILE_TMPDIR/sample.csv"
}

# A repo with the view big over the large source (ttl 0) and the view small
# over a one-row source; cwd inside.
big_repo() {
    init_repo
    git rm -q features/driver.yaml data/driver_stats.csv
    mkdir -p features data
    ln -s "$BATS_FILE_TMPDIR/big.csv" data/big.csv
    printf '%s\n' k_id,event_ts,created_ts,a,b 1,$T0,,1,1.5 > data/small.csv
    cat > features/big.yaml <<'EOF'
kind: entity
name: k
join_key: k_id
type: int64
---
kind: source
name: big
type: csv
path: data/big.csv
timestamp_field: event_ts
created_timestamp_field: created_ts
---
kind: feature_view
name: big
entities: [k]
source: big
ttl: 0
features:
  - {name: a, type: int64}
  - {name: b, type: float64}
---
kind: source
name: small
type: csv
path: data/small.csv
timestamp_field: event_ts
---
kind: feature_view
name: small
entities: [k]
source: small
ttl: 0
features:
  - {name: a, type: int64}
EOF
    fs apply -q
    LOCK=.fs/registry.db.materialize-big.lock
}

# The reference answer for the sample keys once every row up to hour $1 is
# materialized, in $BATS_FILE_TMPDIR/expect-$1.json (computed once a file).
expect_hour() {
    local f="$BATS_FILE_TMPDIR/expect-$1.json"
    [ -s "$f" ] || ref expect --view big --key k_id:int64 --features a:int64,b:float64 --all-keys \
        --entities-out "$BATS_FILE_TMPDIR/sample-keys.txt" \
        --step "$BATS_FILE_TMPDIR/sample.csv" - "$(hour "$1")" > "$f"
    echo "$f"
}

# get-online of view big for the sample keys, into actual.json.
read_sample() {
    local line args=()
    expect_hour 20 > /dev/null # writes sample-keys.txt
    while IFS= read -r line; do args+=(-e "$line"); done < "$BATS_FILE_TMPDIR/sample-keys.txt"
    "$FS" get-online -f big --json "${args[@]}" > actual.json || fail "get-online failed"
}

# Start `fs ARGS...` in the background; BG is its pid, its output in bg-PID.out.
start_bg() {
    "$FS" "$@" > "$BATS_TEST_TMPDIR/bg.out" 2> "$BATS_TEST_TMPDIR/bg.err" 3>&- &
    BG=$!
    track_pid "$BG"
}

# Wait until the lock file of view big names pid $1 (the run holds it):
# its first line is the holder's pid, its second when it took the lock.
wait_for_lock() {
    local i
    for i in $(seq 500); do
        [ "$(head -n 1 "$LOCK" 2> /dev/null)" = "$1" ] && return 0
        kill -0 "$1" 2> /dev/null || fail "pid $1 ended before it was seen holding $LOCK"
        sleep 0.02
    done
    fail "pid $1 never held $LOCK"
}

no_wait() {
    big_repo
    start_bg materialize-incremental "$(hour 20)" -v big
    local first=$BG
    wait_for_lock "$first"
    run -1 --separate-stderr fs materialize-incremental "$(hour 20)" --no-wait
    kill -0 "$first" || fail "the first run ended early: the case proves nothing"
    assert_output ""
    assert_equal "$stderr" "fatal: feature view 'big' is being materialized by another run: '$(pwd -P)/.fs/registry.db.materialize-big.lock' is locked by another fs process (pid $first)"
    # another view is not held up
    run -0 --separate-stderr fs materialize-incremental "$(hour 20)" -v small --no-wait
    assert_equal "$(last_end small)" "$(hour 20)"
    wait "$first" || fail "the first run failed: $(cat "$BATS_TEST_TMPDIR/bg.err")"
    assert_equal "$(last_end big)" "$(hour 20)"
    read_sample
    run ref compare actual.json "$(expect_hour 20)"
    [ "$status" -eq 0 ] || fail "after the run: $output"
}

@test "materialize: --no-wait exits 1 naming the pid of the run holding the view (sqlite)" { use_backend sqlite; no_wait; }
@test "materialize: --no-wait exits 1 naming the pid of the run holding the view (redis)" { use_backend redis; no_wait; }

waits() {
    big_repo
    start_bg materialize-incremental "$(hour 12)" -v big
    local first=$BG
    wait_for_lock "$first"
    local since
    since=$(sed -n 2p "$LOCK")
    [[ "$since" =~ ^[0-9]+$ ]] || fail "the lock file does not say since when: $(cat "$LOCK")"
    run -0 --separate-stderr fs materialize-incremental "$(hour 20)" -v big --json
    kill -0 "$first" 2> /dev/null && fail "the second run ended before the first"
    wait "$first" || fail "the first run failed: $(cat "$BATS_TEST_TMPDIR/bg.err")"
    # it said once, on stderr, whom it waited for
    assert_equal "$stderr" "waiting for pid $first (materialize since $(date -d "@$since" +%H:%M))"
    # the second run started where the first one ended
    assert_equal "$(jq -c '.views[0] | [.start, .end]' <<< "$output")" "[\"$(hour 12)\",\"$(hour 20)\"]"
    assert_equal "$(last_end big)" "$(hour 20)"
    assert_equal "$(status_keys big)" "$NKEYS"
    read_sample
    run ref compare actual.json "$(expect_hour 20)"
    [ "$status" -eq 0 ] || fail "after both runs: $output"
}

@test "materialize: without --no-wait a second run says whom it waits for, waits, then resumes from its end (sqlite)" { use_backend sqlite; waits; }
@test "materialize: without --no-wait a second run says whom it waits for, waits, then resumes from its end (redis)" { use_backend redis; waits; }

# SIGKILL pid $1 once field $2 of /proc/PID/io (rchar: bytes read, wchar:
# bytes written) reaches $3; or, where /proc does not say, after $4 s.
kill_at_io() {
    local pid=$1 field=$2: min=$3 k v n=0
    if [ ! -r "/proc/$pid/io" ]; then
        sleep "$4"
        kill -9 "$pid" 2> /dev/null || true
        return 0
    fi
    while kill -0 "$pid" 2> /dev/null; do
        while read -r k v; do [ "$k" = "$field" ] && n=$v; done < "/proc/$pid/io" 2> /dev/null || true
        if [ "$n" -ge "$min" ]; then
            kill -9 "$pid" 2> /dev/null || true
            return 0
        fi
    done
}

# Kill runs with SIGKILL at several points: while reading the source, once
# it is read (writing the online store: SQLite reads pages of it, so a bit
# more is read then), and once much is written (committing). Round j takes
# the view from hour 8 + j to hour 9 + j: after the kill every sample key
# holds the old or the new value (with SQLite all the same one), the key
# count is between, the recorded end is the old one unless the data is new;
# the next run completes exactly.
killed() {
    big_repo
    local t0 t1 dur j at old new keys end size
    t0=$(date +%s%N)
    run -0 fs materialize-incremental "$(hour 9)" -v big
    t1=$(date +%s%N)
    dur=$(((t1 - t0) / 1000000)) # ms
    assert_equal "$(status_keys big)" $((NKEYS * 9 / 10))
    size=$(stat -L -c %s data/big.csv)
    [ "$BACKEND" = sqlite ] && size=$((size + 512 * 1024))
    j=0
    for at in read written reading; do
        j=$((j + 1))
        old=$((8 + j)) new=$((9 + j))
        start_bg materialize-incremental "$(hour $new)" -v big
        case $at in
        read) kill_at_io "$BG" rchar "$size" "$(awk -v d="$dur" 'BEGIN { printf "%.3f", d * 0.9 / 1000 }')" ;;
        written) kill_at_io "$BG" wchar 1000000 "$(awk -v d="$dur" 'BEGIN { printf "%.3f", d * 0.97 / 1000 }')" ;;
        reading)
            sleep "$(awk -v d="$dur" 'BEGIN { printf "%.3f", d * 0.4 / 1000 }')"
            kill -9 "$BG" 2> /dev/null || true
            ;;
        esac
        wait "$BG" 2> /dev/null || true

        read_sample
        if [ "$BACKEND" = sqlite ]; then
            run ref compare actual.json "$(expect_hour $old)" "$(expect_hour $new)" --atomic
        else
            run ref compare actual.json "$(expect_hour $old)" "$(expect_hour $new)"
        fi
        [ "$status" -eq 0 ] || fail "round $j, killed ($at): $output"
        local state=$output
        keys=$(status_keys big)
        end=$(last_end big)
        if [ $j -eq 1 ]; then
            # keys k % 10 == 0 first appear in hour 10
            if [ "$BACKEND" = sqlite ]; then
                [ "$keys" -eq $((NKEYS * 9 / 10)) ] || [ "$keys" -eq "$NKEYS" ] ||
                    fail "round 1: $keys keys: a partial write (old $((NKEYS * 9 / 10)), new $NKEYS)"
            else
                [ "$keys" -ge $((NKEYS * 9 / 10)) ] && [ "$keys" -le "$NKEYS" ] || fail "round 1: $keys keys"
            fi
        fi
        [ "$end" = "$(hour $old)" ] || [ "$end" = "$(hour $new)" ] || fail "round $j: last_end $end"
        if [ "$end" = "$(hour $new)" ]; then
            [[ "$state" == *"[0, "* ]] || fail "round $j: the end $end is recorded, yet values are old ($state)"
        fi

        # the next run completes the work (and finds the lock free)
        run -0 --separate-stderr fs materialize-incremental "$(hour $new)" -v big --no-wait
        read_sample
        run ref compare actual.json "$(expect_hour $new)"
        [ "$status" -eq 0 ] || fail "round $j, after the re-run: $output"
        assert_equal "$(last_end big) $(status_keys big)" "$(hour $new) $NKEYS"
    done
}

@test "materialize: a run killed with SIGKILL leaves the view old or new; the next run completes it (sqlite)" { use_backend sqlite; killed; }
@test "materialize: a run killed with SIGKILL leaves each key old or new; the next run completes it (redis)" { use_backend redis; killed; }
