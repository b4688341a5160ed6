#!/usr/bin/env bats
# get-historical on seeded random data, compared byte for byte with the
# brute-force reference t/pit_reference.py. The generator builds in the
# boundary cases: entity rows exactly at a source timestamp, exactly at
# ts + ttl, one second and one microsecond outside the window, equal
# timestamps with different (and null) created timestamps, keys with no
# rows, null keys, duplicate entity rows, null features, ttl 0, int64 and
# string join keys, a view keyed by two entities, mixed timestamp spellings.

load test_helper
load lib-pit-gen

# check SEED VARIANT: a fresh repository, random data, fs vs the reference.
check() {
    local seed=$1 variant=$2 dir="$BATS_TEST_TMPDIR/s$1-$2"
    "$FS" init -q "$dir"
    cd "$dir"
    rm features/driver.yaml
    gen "$seed" "$variant"
    "$FS" apply -q
    python3 "$FS_SOURCE_ROOT/t/pit_reference.py" spec.json rows.csv > expected.csv
    mapfile -t args < args
    run -0 --separate-stderr fs get-historical --entities rows.csv "${args[@]}" -o actual.csv
    assert_equal "$stderr" ""
    # sanity: the data exercise the join (some rows matched, some did not)
    [ "$(wc -l < expected.csv)" -gt 50 ]
    grep -q ',,' expected.csv
    if ! cmp -s expected.csv actual.csv; then
        diff -u expected.csv actual.csv | head -40
        echo "seed $seed ($variant): fs differs from the reference"
        return 1
    fi
    cd "$BATS_TEST_TMPDIR"
}

@test "get-historical random: matches the reference (seeds 1-5)" {
    for seed in 1 2 3 4 5; do
        check "$seed" plain
    done
}

@test "get-historical random: matches the reference with a feature service and --full-feature-names (seeds 6-8)" {
    for seed in 6 7 8; do
        check "$seed" full
    done
}

@test "get-historical random: the reference sees matches, misses and boundary hits" {
    check 3 plain
    cd "$BATS_TEST_TMPDIR/s3-plain"
    # every feature column has both values and nulls across the rows
    run -0 python3 - <<'EOF'
import csv
rows = list(csv.reader(open("expected.csv", newline="")))
header, body = rows[0], rows[1:]
for i, name in enumerate(header[5:], 5):
    vals = [r[i] for r in body]
    assert any(vals), name + ": never matched"
    assert not all(vals), name + ": never null"
print("ok")
EOF
    assert_output ok
}
