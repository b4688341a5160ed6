#!/usr/bin/env bats
# materialize and materialize-incremental on a postgres source: the latest
# row per key in the window is computed by PostgreSQL (a private cluster,
# t/lib-postgres.bash) and only those rows are transferred. The seeded
# random data of t3001, loaded into PostgreSQL, must give what the
# reference gives on the same rows as CSV; rows transferred (rows_read)
# must equal the number of keys written.

load test_helper
load lib-online
load lib-postgres

setup_file() { start_postgres; }
teardown_file() { stop_postgres; }
setup() { pg_setup; }

S=2024-03-01T00:00:00Z
E=2024-03-03T00:00:00Z

# ev_repo, with its source moved to the PostgreSQL table $1.
pg_ev_repo() {
    local table=$1
    ev_repo "$2" "${3:-0}"
    pg_load_events "$table"
    sed -i "s|^type: csv\$|type: postgres|; s|^path: data/events.csv\$|table: $table|" features/ev.yaml
    "$FS" apply -q
    run -0 grep -c '^type: postgres$' features/ev.yaml
    PG_TABLE=$table
}

# (Re)load data/events.csv into table $1, rows in file order.
pg_load_events() {
    local ktype=bigint
    [ "$EV_KEY_TYPE" = string ] && ktype=text
    python3 "$FS_SOURCE_ROOT/t/pg_load.py" "$1" data/events.csv k_id:$ktype \
        event_ts:timestamptz created_ts:timestamptz f_i32:integer f_i64:bigint f_f32:float8 \
        f64_raw:float8 f_str:text f_bool:boolean f_ts:timestamptz note:text | psql_fs
}

random_rounds() {
    local kind=$1 seed extra=999999 rows keys
    [ "$kind" = string ] && extra=no-such-key
    pg_ev_repo "ev_$kind" "${kind/int/int64}"
    for seed in "${@:2}"; do
        online_wipe
        ref gen --seed "$seed" --key-type "$kind" --rows 500 --keys 80 --start "$S" --end "$E" \
            > data/events.csv
        pg_load_events "$PG_TABLE"
        run -0 --separate-stderr fs materialize "$S" "$E" --json
        rows=$(summary_field ev rows_read)
        keys=$(summary_field ev keys)
        check_online "seed $seed ($kind keys)" --extra "$extra" --step data/events.csv "$S" "$E"
        # only the latest row of each key crossed the connection
        assert_equal "$keys" "$(ref_stat keys)"
        assert_equal "$rows" "$keys"
        [ "$(ref_stat rows_read)" -gt "$keys" ]
    done
}

@test "materialize postgres: random data with int64 keys equal the reference, one row per key transferred" {
    use_backend sqlite
    random_rounds int 11 12 13
}

@test "materialize postgres: random data with string keys equal the reference (redis)" {
    use_backend redis
    random_rounds string 21 22
}

@test "materialize-incremental postgres: starts at END - ttl, then picks up appended rows only" {
    use_backend sqlite
    local S1=2024-03-01T00:00:00Z E1=2024-03-03T00:00:00Z E2=2024-03-03T12:00:00Z
    pg_ev_repo ev_inc int64 172800
    ref gen --seed 31 --key-type int --rows 400 --keys 60 --start "$S1" --end "$E1" > data/events.csv
    cp data/events.csv v1.csv
    pg_load_events ev_inc
    run -0 --separate-stderr fs materialize-incremental "$E1" --json
    assert_equal "$(summary_field ev start)" "$S1"
    check_online "first run" --step v1.csv "$S1" "$E1"
    ref gen --seed 131 --key-type int --rows 150 --keys 60 --first-key 40 \
        --start "$E1" --end "$E2" --spread 0 --outside-only 0 --no-header >> data/events.csv
    pg_load_events ev_inc
    run -0 --separate-stderr fs materialize-incremental "$E2" --json
    assert_equal "$(summary_field ev start)" "$E1"
    assert_equal "$(summary_field ev rows_read)" "$(summary_field ev keys)"
    check_online "second run" --step v1.csv "$S1" "$E1" --step data/events.csv "$E1" "$E2"
    assert_equal "$(last_end ev)" "$E2"
}

@test "materialize postgres: a broken connection fails naming the source and records nothing" {
    use_backend sqlite
    pg_ev_repo ev_err int64
    ref gen --seed 5 --key-type int --rows 50 --keys 10 --start "$S" --end "$E" > data/events.csv
    pg_load_events ev_err
    export FS_POSTGRES_DSN="postgresql://fs:wrong@127.0.0.1:$PG_PORT/postgres"
    run -128 --separate-stderr fs materialize "$S" "$E"
    [[ $stderr == "fatal: source 'events' (postgres table 'ev_err'): cannot connect to PostgreSQL: "*"password authentication failed"* ]]
    assert_equal "$(last_end ev)" null
    assert_equal "$(status_keys ev)" 0
    export FS_POSTGRES_DSN=$PG_DSN
    psql_fs -c 'DROP TABLE ev_err'
    run -128 --separate-stderr fs materialize "$S" "$E"
    assert_equal "$stderr" "fatal: source 'events' (postgres table 'ev_err'): table 'ev_err' does not exist"
    assert_equal "$(last_end ev)" null
}
