#!/usr/bin/env bats
# The registry's SQLite file: WAL journal, schema version (PRAGMA
# user_version) kept by the migrations in core/registry.c, refusal of a
# registry newer than this fs, and migration of an older one.

load test_helper

DEFS=features/driver.yaml

set_ttl() { sed -i "s/^ttl: .*/ttl: $1/" "$DEFS"; }

# The newest schema version: the number of migrations in core/registry.c,
# each introduced by a comment "/* N -> N+1: ... */".
newest_schema() {
    sed -n 's|^[[:space:]]*/\* [0-9][0-9]* -> \([0-9][0-9]*\):.*|\1|p' \
        "$FS_SOURCE_ROOT/core/registry.c" | tail -n 1
}

pragma() { sqlite3 "${2:-.fs/registry.db}" "PRAGMA $1"; }

# The structure of a registry: tables and their columns, indexes and their
# columns, foreign keys (independent of how the CREATE statements were spelled).
schema_of() {
    sqlite3 "$1" "
SELECT m.type, m.name, m.tbl_name FROM sqlite_master m
  WHERE m.name NOT LIKE 'sqlite_%' ORDER BY m.type, m.name;
SELECT m.name, p.cid, p.name, p.type, p.\"notnull\", p.dflt_value, p.pk
  FROM sqlite_master m, pragma_table_info(m.name) p
  WHERE m.type = 'table' ORDER BY m.name, p.cid;
SELECT m.name, p.seqno, p.name
  FROM sqlite_master m, pragma_index_info(m.name) p
  WHERE m.type = 'index' ORDER BY m.name, p.seqno;
SELECT m.name, f.id, f.seq, f.\"table\", f.\"from\", f.\"to\"
  FROM sqlite_master m, pragma_foreign_key_list(m.name) f
  WHERE m.type = 'table' ORDER BY m.name, f.id, f.seq;"
}

# The schema of user_version 1, as fs wrote it before the model registry
# (migration 0 -> 1 of core/registry.c, copied: this fixture must not follow
# later edits of the code).
V1_SCHEMA="
CREATE TABLE applies (
  version INTEGER PRIMARY KEY,
  git_commit TEXT NOT NULL,
  applied_at INTEGER NOT NULL,
  author TEXT NOT NULL,
  summary TEXT NOT NULL);
CREATE TABLE objects (
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  applied_in INTEGER NOT NULL REFERENCES applies(version),
  spec TEXT NOT NULL,
  PRIMARY KEY (kind, name));
CREATE TABLE object_versions (
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  applied_in INTEGER NOT NULL REFERENCES applies(version),
  op TEXT NOT NULL CHECK (op IN ('+', '~', '-')),
  spec TEXT,
  PRIMARY KEY (kind, name, version, op));
CREATE INDEX object_versions_by_apply ON object_versions(applied_in);
CREATE INDEX object_versions_by_name ON object_versions(name);
PRAGMA user_version = 1;"

@test "registry schema: the registry uses WAL and the newest schema version" {
    local newest
    newest=$(newest_schema)
    # sanity: migrations to 1 (objects), 2 (models), 3 (materializations) at least
    [ "$newest" -ge 3 ] || fail "cannot read the migrations of core/registry.c: '$newest'"
    init_repo
    run -0 fs apply -q
    run -0 pragma journal_mode
    assert_output "wal"
    run -0 pragma user_version
    assert_output "$newest"

    # a registry first created by a read-only command is the same
    rm -rf .fs
    run -0 fs ls
    assert_output ""
    run -0 pragma journal_mode
    assert_output "wal"
    run -0 pragma user_version
    assert_output "$newest"

    # and one moved by FS_REGISTRY
    FS_REGISTRY=elsewhere/reg.db run -0 fs apply -q
    run -0 pragma journal_mode elsewhere/reg.db
    assert_output "wal"
    run -0 pragma user_version elsewhere/reg.db
    assert_output "$newest"
}

@test "registry schema: a registry newer than this fs is refused by every command and left alone" {
    local newest newer before head msg
    newest=$(newest_schema)
    newer=$((newest + 1))
    init_repo
    fs apply -q
    sqlite3 .fs/registry.db "PRAGMA user_version = $newer"
    before=$(registry_dump)
    head=$(git rev-parse HEAD)
    msg="fatal: registry '$PWD/.fs/registry.db' has schema version $newer, newer than this fs knows ($newest): upgrade fs"

    # a dirty tree: apply refuses before committing anything
    set_ttl 2d
    run -128 --separate-stderr fs apply
    assert_output ""
    assert_equal "$stderr" "$msg"
    assert_equal "$(git rev-parse HEAD)" "$head"
    run -0 git status --porcelain
    assert_output " M $DEFS"

    local cmd
    for cmd in "plan" "ls" "describe entity driver" "log" "models" "status"; do
        # shellcheck disable=SC2086
        run -128 --separate-stderr fs $cmd
        assert_output ""
        assert_equal "$stderr" "$msg"
    done

    # no artifact is stored for a version that cannot be registered
    echo weights > model.bin
    run -128 --separate-stderr fs register-model eta --artifact model.bin
    assert_output ""
    assert_equal "$stderr" "$msg"
    assert [ ! -e .fs/artifacts ]

    assert_equal "$(registry_dump)" "$before"
    run -0 pragma user_version
    assert_output "$newer"
}

@test "registry schema: an empty version-1 registry is migrated to the newest by apply" {
    local newest
    newest=$(newest_schema)
    init_repo
    mkdir .fs
    sqlite3 .fs/registry.db "$V1_SCHEMA"
    run -0 pragma user_version
    assert_output 1

    run -0 --separate-stderr fs apply
    assert_line --index 0 "+ entity driver"
    assert_line --regexp '^Applied registry version 1 \(commit [0-9a-f]{12}\)\.$'
    run -0 pragma user_version
    assert_output "$newest"
    run -0 pragma journal_mode
    assert_output "wal"

    echo weights > model.bin
    run -0 --separate-stderr fs register-model eta --artifact model.bin --metric auc=0.9
    assert_output "1"
    assert_equal "$stderr" ""
    run -0 fs models eta --json
    assert_equal "$(jq -c '[.versions[] | {version, stage, metrics}]' <<<"$output")" \
        '[{"version":1,"stage":"none","metrics":{"auc":0.9}}]'

    # the migrated registry has the structure of a new one
    mkdir "$BATS_TEST_TMPDIR/fresh"
    FS_REGISTRY="$BATS_TEST_TMPDIR/fresh/reg.db" fs ls
    assert_equal "$(schema_of .fs/registry.db)" "$(schema_of "$BATS_TEST_TMPDIR/fresh/reg.db")"
}

@test "registry schema: a version-1 registry keeps its applies and objects through the migration" {
    local newest log
    newest=$(newest_schema)
    init_repo
    fs apply -q
    set_ttl 2d
    fs apply -q
    log=$(fs log --json)
    # the same rows in a registry of user_version 1: what an fs from before
    # the model registry left
    mv .fs/registry.db "$BATS_TEST_TMPDIR/new.db"
    rm -f .fs/registry.db-wal .fs/registry.db-shm
    sqlite3 .fs/registry.db "$V1_SCHEMA
ATTACH '$BATS_TEST_TMPDIR/new.db' AS new;
INSERT INTO applies SELECT * FROM new.applies;
INSERT INTO objects SELECT * FROM new.objects;
INSERT INTO object_versions SELECT * FROM new.object_versions;"
    rm -rf .fs/plan-cache

    # a read-only command migrates and shows the same history
    run -0 fs log --json
    assert_equal "$output" "$log"
    run -0 pragma user_version
    assert_output "$newest"
    run -0 fs plan
    assert_output "No changes."

    set_ttl 3d
    run -0 fs apply
    assert_line --index 0 "~ feature_view driver_hourly_stats: ttl"
    assert_line --regexp '^Applied registry version 3 \(commit [0-9a-f]{12}\)\.$'
    run -0 fs describe feature_view driver_hourly_stats --json
    assert_equal "$(jq -c '[.version, .registry_version, .spec.ttl]' <<<"$output")" "[3,3,259200]"

    echo weights > model.bin
    run -0 fs register-model eta --artifact model.bin --json
    assert_equal "$(jq -c '[.version, .lineage.registry_version]' <<<"$output")" "[1,3]"
}

# Migrations 1 -> 2 (the model registry) and 2 -> 3 (materializations) of
# core/registry.c, copied as they were: with V1_SCHEMA, a registry of
# user_version 3, what fs wrote before directory artifacts and aliases.
V3_TABLES="
CREATE TABLE model_versions (
  model TEXT NOT NULL,
  version INTEGER NOT NULL,
  stage TEXT NOT NULL DEFAULT 'none',
  artifact_uri TEXT NOT NULL,
  artifact_sha256 TEXT NOT NULL,
  artifact_size INTEGER NOT NULL,
  artifact_path TEXT,
  metrics TEXT NOT NULL,
  params TEXT NOT NULL,
  tags TEXT NOT NULL,
  description TEXT,
  created_at INTEGER NOT NULL,
  author TEXT NOT NULL,
  lineage TEXT NOT NULL,
  PRIMARY KEY (model, version));
CREATE TABLE model_transitions (
  id INTEGER PRIMARY KEY,
  model TEXT NOT NULL,
  version INTEGER NOT NULL,
  from_stage TEXT,
  to_stage TEXT NOT NULL,
  at INTEGER NOT NULL,
  author TEXT NOT NULL,
  reason TEXT,
  forced INTEGER NOT NULL DEFAULT 0,
  FOREIGN KEY (model, version) REFERENCES model_versions(model, version));
CREATE INDEX model_transitions_by_model ON model_transitions(model, id);
CREATE TABLE materializations (
  id INTEGER PRIMARY KEY,
  view TEXT NOT NULL,
  start_us INTEGER,
  end_us INTEGER NOT NULL,
  at INTEGER NOT NULL,
  rows_read INTEGER NOT NULL,
  keys_written INTEGER NOT NULL);
CREATE INDEX materializations_by_view ON materializations(view, end_us);
PRAGMA user_version = 3;"

@test "registry schema: a version-3 registry with model versions is upgraded in place: artifact kinds, aliases" {
    local newest log
    newest=$(newest_schema)
    [ "$newest" -ge 4 ] || fail "no migration 3 -> 4 in core/registry.c"
    init_repo
    fs apply -q
    echo weights > model.bin
    fs register-model eta --artifact model.bin --metric auc=0.9 >/dev/null
    fs promote eta 1 staging >/dev/null
    log=$(fs models log eta --json | jq -c .transitions)
    # the same rows in a registry of user_version 3
    mv .fs/registry.db "$BATS_TEST_TMPDIR/new.db"
    rm -f .fs/registry.db-wal .fs/registry.db-shm
    sqlite3 .fs/registry.db "$V1_SCHEMA
$V3_TABLES
ATTACH '$BATS_TEST_TMPDIR/new.db' AS new;
INSERT INTO applies SELECT * FROM new.applies;
INSERT INTO objects SELECT * FROM new.objects;
INSERT INTO object_versions SELECT * FROM new.object_versions;
INSERT INTO model_versions SELECT model, version, stage, artifact_uri, artifact_sha256,
  artifact_size, artifact_path, metrics, params, tags, description, created_at, author,
  lineage FROM new.model_versions;
INSERT INTO model_transitions SELECT * FROM new.model_transitions;"
    run -0 pragma user_version
    assert_output 3

    # a read-only command upgrades it; the old version is a file artifact
    run -0 --separate-stderr fs models eta --json
    assert_equal "$stderr" ""
    assert_equal "$(jq -c '.versions[0] | [.version, .stage, .artifact.kind, .aliases, .metrics]' <<<"$output")" \
        '[1,"staging","file",[],{"auc":0.9}]'
    run -0 pragma user_version
    assert_output "$newest"
    run -0 fs models log eta --json
    assert_equal "$(jq -c .transitions <<<"$output")" "$log"
    assert_equal "$(jq -c .alias_changes <<<"$output")" "[]"

    # aliases and models get work on the upgraded registry
    run -0 fs alias eta champion 1
    run -0 fs models get eta@champion -o got.bin
    cmp model.bin got.bin
    run -0 fs models log eta --json
    assert_equal "$(jq -c '[.alias_changes[] | [.alias, .version]]' <<<"$output")" '[["champion",1]]'
    mkdir m && echo a > m/MLmodel
    run -0 fs register-model eta --artifact m --json
    assert_equal "$(jq -r '.artifact.kind' <<<"$output")" "directory"

    # the upgraded registry has the structure of a new one
    mkdir "$BATS_TEST_TMPDIR/fresh"
    FS_REGISTRY="$BATS_TEST_TMPDIR/fresh/reg.db" fs ls
    assert_equal "$(schema_of .fs/registry.db)" "$(schema_of "$BATS_TEST_TMPDIR/fresh/reg.db")"
}
