# Helpers for the windowed aggregation tests (t2004, t3007): the
# reference t/agg_reference.py and repositories of its random data.
#
#   load test_helper
#   load lib-agg

AGG_REFERENCE="$BATS_TEST_DIRNAME/agg_reference.py"

# The python3 interpreter itself (a pyenv shim costs half a second a
# call), resolved once per run of bats as lib-online.bash does.
if [ -z "${FS_TEST_PYTHON:-}" ]; then
    if [ -s "$BATS_RUN_TMPDIR/fs-test-python" ]; then
        FS_TEST_PYTHON=$(cat "$BATS_RUN_TMPDIR/fs-test-python")
    else
        FS_TEST_PYTHON=$(python3 -c 'import sys; print(sys.executable)')
        echo "$FS_TEST_PYTHON" > "$BATS_RUN_TMPDIR/fs-test-python.$$" &&
            mv "$BATS_RUN_TMPDIR/fs-test-python.$$" "$BATS_RUN_TMPDIR/fs-test-python"
    fi
fi

# Run the reference (-S: the standard library is all it needs).
agg_ref() { "$FS_TEST_PYTHON" -S "$AGG_REFERENCE" "$@"; }

# agg_random_repo SEED DIR [--online]: a fresh repository in DIR holding
# only the reference's random data for SEED (features/agg.yaml, data/,
# rows.csv, spec.json, args), applied; cwd inside.
agg_random_repo() {
    local seed=$1 dir=$2
    shift 2
    "$FS" init -q "$dir"
    cd "$dir"
    git rm -q features/driver.yaml data/driver_stats.csv
    agg_ref gen "$seed" . "$@"
    "$FS" apply -q -m "random aggregations, seed $seed"
}

# A repo with one aggregation view `h` over data/ev.csv (token, ts,
# created, amt, price, buyer, flag; amt mapped to amount), the
# aggregations given on stdin (YAML list items), not applied; cwd inside.
agg_view_repo() {
    init_repo
    git rm -q features/driver.yaml data/driver_stats.csv
    mkdir -p features data
    agg_view_write
    echo "token,ts,created,amt,price,buyer,flag" > data/ev.csv
}

# (Re)write features/h.yaml with the aggregations on stdin; the first
# one is on line 19.
agg_view_write() {
    {
        cat <<'EOF'
kind: entity
name: token
join_key: token
type: string
---
kind: source
name: ev
type: csv
path: data/ev.csv
timestamp_field: ts
created_timestamp_field: created
field_mapping: {amt: amount}
---
kind: feature_view
name: h
entities: [token]
source: ev
aggregations:
EOF
        cat
    } > features/h.yaml
}
