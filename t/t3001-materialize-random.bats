#!/usr/bin/env bats
# materialize and materialize-incremental on seeded random data, checked
# against the reference model (online_reference.py) for every key and
# feature type: ties on ts broken by created and then by the later row,
# null features and null created timestamps, rows before START and after
# END, keys whose only rows are outside the window, several timestamp
# spellings. Each case runs on the SQLite and on the Redis online store.

load test_helper
load lib-online

S=2024-03-01T00:00:00Z
E=2024-03-03T00:00:00Z
E_EPOCH=1709424000

# One round: random rows for seed $1 with keys of type $2, materialized
# over [S, E] into an empty online store, read back as the reference says.
random_round() {
    local seed=$1 kind=$2 extra=999999 summary facts
    [ "$kind" = string ] && extra=no-such-key
    online_wipe
    ref gen --seed "$seed" --key-type "$kind" --rows 500 --keys 80 --start "$S" --end "$E" \
        > data/events.csv
    run -0 --separate-stderr fs materialize "$S" "$E" --json
    summary=$(jq -c '.views[] | select(.view == "ev") | {rows_read, keys}' <<< "$output")
    check_online "seed $seed ($kind keys)" --extra "$extra" --step data/events.csv "$S" "$E"
    [ "$summary" = "$(jq -c '{rows_read, keys}' stats.json)" ] ||
        fail "seed $seed: summary $summary, the reference: $(cat stats.json)"
    # the data holds what the case is about: keys not found (outside-only
    # keys and $extra), nulls; and nothing after END was written
    facts=$(jq -r '[([.results[1].statuses[] | select(. == "NOT_FOUND")] | length),
                    ([.results[1:][].statuses[] | select(. == "NULL_VALUE")] | length),
                    ([.results[1:][].event_timestamps[] | select(. != "1970-01-01T00:00:00Z")
                      | sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601] | max)] | @tsv' actual.json)
    read -r nf nulls newest <<< "$facts"
    [ "$nf" -ge 4 ] || fail "seed $seed: only $nf keys NOT_FOUND: the data does not test outside-only keys"
    [ "$nulls" -ge 10 ] || fail "seed $seed: only $nulls NULL_VALUEs"
    [ "$newest" -le "$E_EPOCH" ] || fail "seed $seed: a value of $newest is after END $E_EPOCH"
    run -0 fs status --json
    assert_equal "$(jq -c '.views[0] | [.last_end, .keys]' <<< "$output")" "[\"$E\",$(ref_stat stored_keys)]"
}

int_keys() {
    ev_repo int64
    local seed
    for seed in 11 12 13; do random_round "$seed" int; done
}

string_keys() {
    ev_repo string
    local seed
    for seed in 21 22 23; do random_round "$seed" string; done
}

@test "materialize: random data with int64 keys equals the reference (sqlite)" { use_backend sqlite; int_keys; }
@test "materialize: random data with int64 keys equals the reference (redis)" { use_backend redis; int_keys; }
@test "materialize: random data with string keys equals the reference (sqlite)" { use_backend sqlite; string_keys; }
@test "materialize: random data with string keys equals the reference (redis)" { use_backend redis; string_keys; }

# Two incremental runs over random data, ttl 2 days, keys of type $2 (int64
# or string): the first starts at END - ttl; then rows are appended (of the
# next window, for old and new keys, and late ones before the last end) and
# the second run reads [last end, END2] only.
incremental() {
    local seed=$1 kind=$2 S1=2024-03-01T00:00:00Z E1=2024-03-03T00:00:00Z E2=2024-03-03T12:00:00Z
    mkdir "$BATS_TEST_TMPDIR/$seed" && cd "$BATS_TEST_TMPDIR/$seed"
    ev_repo "$kind" 172800
    online_wipe
    ref gen --seed "$seed" --key-type "${kind%64}" --rows 400 --keys 60 --start "$S1" --end "$E1" \
        > data/events.csv
    cp data/events.csv v1.csv
    run -0 --separate-stderr fs materialize-incremental "$E1" --json
    assert_equal "$(summary_field ev start)" "$S1"
    local read1
    read1=$(summary_field ev rows_read)
    check_online "seed $seed, first run" --step v1.csv "$S1" "$E1"
    assert_equal "$read1" "$(ref_stat rows_read)"

    ref gen --seed $((seed + 100)) --key-type "${kind%64}" --rows 150 --keys 60 --first-key 40 \
        --start "$E1" --end "$E2" --spread 0 --outside-only 0 --no-header >> data/events.csv
    ref gen --seed $((seed + 200)) --key-type "${kind%64}" --rows 50 --keys 100 \
        --start 2024-03-02T00:00:00Z --end 2024-03-02T23:00:00Z --spread 0 --outside-only 0 \
        --no-header >> data/events.csv
    run -0 --separate-stderr fs materialize-incremental "$E2" --json
    assert_equal "$(summary_field ev start)" "$E1"
    local read2
    read2=$(summary_field ev rows_read)
    check_online "seed $seed, second run" --step v1.csv "$S1" "$E1" --step data/events.csv "$E1" "$E2"
    # rows_read of the last step: the rows of [E1, E2] in the appended file
    [ "$read2" = "$(ref_stat rows_read)" ] ||
        fail "seed $seed: the second run read $read2 rows, the window [E1, E2] holds $(ref_stat rows_read)"
    assert_equal "$(last_end ev)" "$E2"
}

@test "materialize-incremental: starts at END - ttl, then at the last end, picking up appended rows (sqlite)" {
    use_backend sqlite
    incremental 31 int64
    incremental 32 string
}

@test "materialize-incremental: starts at END - ttl, then at the last end, picking up appended rows (redis)" {
    use_backend redis
    incremental 31 int64
    incremental 32 string
}

# ttl 0: the first incremental run reads all history.
incremental_all_history() {
    local seed=$1
    mkdir "$BATS_TEST_TMPDIR/$seed" && cd "$BATS_TEST_TMPDIR/$seed"
    ev_repo int64 0
    online_wipe
    ref gen --seed "$seed" --rows 400 --keys 60 --start "$S" --end "$E" > data/events.csv
    run -0 --separate-stderr fs materialize-incremental "$E" -v ev --json
    assert_equal "$(summary_field ev start)" null
    local read1
    read1=$(summary_field ev rows_read)
    check_online "seed $seed" --step data/events.csv - "$E"
    assert_equal "$read1" "$(ref_stat rows_read)"
    # and is incremental from then on
    run -0 --separate-stderr fs materialize-incremental "$E" --json
    assert_equal "$(summary_field ev start)" "$E"
}

@test "materialize-incremental: with ttl 0 the first run reads all history (sqlite)" {
    use_backend sqlite
    incremental_all_history 41
}

@test "materialize-incremental: with ttl 0 the first run reads all history (redis)" {
    use_backend redis
    incremental_all_history 42
}

# Newest wins across runs: a newer window, then an older overlapping one
# that must not replace newer values.
newest_wins() {
    ev_repo int64
    local seed
    for seed in 51 52; do
        online_wipe
        ref gen --seed "$seed" --rows 500 --keys 60 --start "$S" --end "$E" > data/events.csv
        run -0 fs materialize 2024-03-02T00:00:00Z "$E"
        run -0 fs materialize 2024-02-28T00:00:00Z 2024-03-02T12:00:00Z
        check_online "seed $seed" --step data/events.csv 2024-03-02T00:00:00Z "$E" \
            --step data/events.csv 2024-02-28T00:00:00Z 2024-03-02T12:00:00Z
        # the case is not vacuous: overwriting would have changed values
        ref_ev expect "${ENT[@]}" --step data/events.csv 2024-02-28T00:00:00Z 2024-03-02T12:00:00Z \
            > overwritten.json
        run ref compare actual.json overwritten.json
        [ "$status" -eq 1 ] || fail "seed $seed: the older window alone gives the same values"
        # the state is the newest end recorded
        assert_equal "$(last_end ev)" "$E"
    done
}

@test "materialize: an older window after a newer one does not overwrite newer values (sqlite)" { use_backend sqlite; newest_wins; }
@test "materialize: an older window after a newer one does not overwrite newer values (redis)" { use_backend redis; newest_wins; }
