#!/usr/bin/env bats
# fs plan and fs apply: what changes, registry versions, output formats.

load test_helper

DEFS=features/driver.yaml

set_ttl() { sed -i "s/^ttl: .*/ttl: $1/" "$DEFS"; }

# Drop the fifth document of the example definitions: the model eta.
drop_model() {
    awk '/^---$/ { n++ } n != 4' "$DEFS" > "$DEFS.new" && mv "$DEFS.new" "$DEFS"
}

add_customer() {
    cat > features/customer.yaml <<'EOF'
kind: entity
name: customer
join_key: customer_id
type: string
EOF
}

applies() { sqlite3 .fs/registry.db "SELECT version FROM applies ORDER BY version"; }

@test "plan: a fresh repository shows every object to add" {
    init_repo
    run -0 --separate-stderr fs plan
    assert_equal "$stderr" ""
    assert_output "+ entity driver
+ source driver_stats
+ source driver_trips
+ feature_view driver_hourly_stats
+ feature_view driver_trip_stats
+ feature_service driver_activity_v1
+ model eta

7 to add, 0 to change, 0 to delete."
}

@test "plan: shows No changes. after apply" {
    init_repo
    fs apply -q
    run -0 --separate-stderr fs plan
    assert_output "No changes."
    assert_equal "$stderr" ""
}

@test "plan: a changed ttl shows the changed field" {
    init_repo
    fs apply -q
    set_ttl 2d
    run -0 fs plan
    assert_output "~ feature_view driver_hourly_stats: ttl

0 to add, 1 to change, 0 to delete."
}

@test "plan: a changed feature list shows features" {
    init_repo
    fs apply -q
    sed -i '/avg_daily_trips/d' "$DEFS"
    run -0 fs plan
    assert_line --index 0 "~ feature_view driver_hourly_stats: features"
    assert_line "0 to add, 1 to change, 0 to delete."
    refute_line --partial "ttl"
}

@test "plan: lists several changed fields in order" {
    init_repo
    fs apply -q
    set_ttl 2h
    sed -i 's/^online: true/online: false/' "$DEFS"
    run -0 fs plan
    assert_line --index 0 "~ feature_view driver_hourly_stats: online, ttl"
}

@test "plan: a deleted object shows a - line" {
    init_repo
    fs apply -q
    drop_model
    run -0 fs plan
    assert_output "- model eta

0 to add, 0 to change, 1 to delete."
}

@test "plan: a new file adds its objects" {
    init_repo
    fs apply -q
    add_customer
    run -0 fs plan
    assert_output "+ entity customer

1 to add, 0 to change, 0 to delete."
}

@test "plan: --exit-code exits 1 with changes and 0 without" {
    init_repo
    run -1 fs plan --exit-code
    assert_line "7 to add, 0 to change, 0 to delete."
    fs apply -q
    run -0 fs plan --exit-code
    assert_output "No changes."
    set_ttl 3d
    run -1 fs plan --exit-code
    assert_line --index 0 "~ feature_view driver_hourly_stats: ttl"
    run -1 --separate-stderr fs plan --exit-code -q
    assert_output ""
    assert_equal "$stderr" ""
}

@test "plan: --json gives changes, resets and a summary" {
    init_repo
    fs apply -q
    set_ttl 2d
    drop_model
    add_customer
    run -0 fs plan --json
    python3 -c '
import json, sys
p = json.load(sys.stdin)
assert sorted(p) == ["changes", "resets", "summary"], p
assert p["summary"] == {"add": 1, "change": 1, "delete": 1}, p["summary"]
assert p["resets"] == [], p["resets"]
got = [(c["op"], c["kind"], c["name"], c.get("fields")) for c in p["changes"]]
assert got == [("+", "entity", "customer", None),
               ("~", "feature_view", "driver_hourly_stats", ["ttl"]),
               ("-", "model", "eta", None)], got
assert all(c["models"] == [] for c in p["changes"])
' <<<"$output"
}

@test "plan: --json with no changes" {
    init_repo
    fs apply -q
    run -0 fs plan --json
    python3 -c '
import json, sys
p = json.load(sys.stdin)
assert p == {"changes": [], "resets": [], "summary": {"add": 0, "change": 0, "delete": 0}}, p
' <<<"$output"
}

@test "plan: equivalent spellings of a value are no change" {
    init_repo
    fs apply -q
    local ttl
    for ttl in 24h 1440m 86400s 1d; do
        set_ttl "$ttl"
        run -0 fs plan --exit-code
        assert_output "No changes."
    done
    # flow and block style of one list
    sed -i 's/^entities: \[driver\]$/entities:\n  - driver/' "$DEFS"
    run -0 grep -x '  - driver' "$DEFS"
    run -0 fs plan --exit-code
    assert_output "No changes."
}

@test "plan: changes neither the registry nor git" {
    init_repo
    fs apply -q
    set_ttl 2d
    local before head
    before=$(registry_dump)
    head=$(git rev-parse HEAD)
    run -1 fs plan --exit-code
    assert_equal "$(registry_dump)" "$before"
    assert_equal "$(git rev-parse HEAD)" "$head"
    run -0 git status --porcelain
    assert_output " M features/driver.yaml"
}

@test "plan: --rev plans the definitions of a commit" {
    init_repo
    fs apply -q
    set_ttl 2d
    fs apply -q
    run -0 fs plan --rev HEAD~1
    assert_output "~ feature_view driver_hourly_stats: ttl

0 to add, 1 to change, 0 to delete."
    run -0 fs plan --rev HEAD
    assert_output "No changes."
}

@test "plan: invalid definitions are a fatal error" {
    init_repo
    sed -i 's/^entities: \[driver\]$/entities: [drivr]/' "$DEFS"
    run -128 --separate-stderr fs plan
    assert_output ""
    [[ "$stderr" == *"features/driver.yaml:"*"feature_view 'driver_hourly_stats': unknown entity 'drivr' (did you mean 'driver'?)"* ]]
}

@test "apply: the first apply prints the changes and the registry version" {
    init_repo
    local head
    head=$(git rev-parse HEAD)
    run -0 --separate-stderr fs apply
    assert_equal "$stderr" ""
    assert_output "+ entity driver
+ source driver_stats
+ source driver_trips
+ feature_view driver_hourly_stats
+ feature_view driver_trip_stats
+ feature_service driver_activity_v1
+ model eta
Applied registry version 1 (commit ${head:0:12})."
    run -0 fs ls
    assert_equal "${#lines[@]}" 7
}

@test "apply: numbers registry versions 1, 2, 3 only when something changed" {
    init_repo
    run -0 fs apply
    assert_line --partial "Applied registry version 1 "
    run -0 fs apply
    assert_output "No changes."
    set_ttl 2d
    run -0 fs apply
    assert_line --partial "Applied registry version 2 "
    run -0 fs apply
    assert_output "No changes."
    add_customer
    run -0 fs apply
    assert_line --partial "Applied registry version 3 "
    run -0 applies
    assert_output "1
2
3"
}

@test "apply: a re-apply prints No changes. and records nothing" {
    init_repo
    fs apply -q
    local before head
    before=$(registry_dump)
    head=$(git rev-parse HEAD)
    run -0 --separate-stderr fs apply
    assert_output "No changes."
    assert_equal "$stderr" ""
    assert_equal "$(registry_dump)" "$before"
    assert_equal "$(git rev-parse HEAD)" "$head"
}

@test "apply: bumps the version of the changed object only" {
    init_repo
    fs apply -q
    set_ttl 2d
    fs apply -q
    run -0 sqlite3 .fs/registry.db "SELECT kind, name, version, applied_in FROM objects ORDER BY kind, name"
    assert_output "entity|driver|1|1
feature_service|driver_activity_v1|1|1
feature_view|driver_hourly_stats|2|2
feature_view|driver_trip_stats|1|1
model|eta|1|1
source|driver_stats|1|1
source|driver_trips|1|1"
    # every version's full spec is kept
    run -0 sqlite3 .fs/registry.db "SELECT version, op, json_extract(spec, '\$.ttl') FROM object_versions WHERE name = 'driver_hourly_stats' ORDER BY version"
    assert_output "1|+|86400
2|~|172800"
}

@test "apply: a deleted object disappears from fs ls" {
    init_repo
    fs apply -q
    run -0 fs ls model
    assert_output --regexp '^model +eta +v1$'
    drop_model
    run -0 fs apply
    assert_line "- model eta"
    assert_line --partial "Applied registry version 2 "
    run -0 fs ls model
    assert_output ""
    run -0 fs ls
    refute_output --partial "eta"
    assert_equal "${#lines[@]}" 6
    run -0 sqlite3 .fs/registry.db "SELECT op, version, applied_in FROM object_versions WHERE name = 'eta' ORDER BY applied_in"
    assert_output "+|1|1
-|1|2"
}

@test "apply: an object deleted and added again gets a new version" {
    init_repo
    fs apply -q
    add_customer
    fs apply -q
    mv features/customer.yaml ../customer.yaml
    fs apply -q
    mv ../customer.yaml features/customer.yaml
    fs apply -q
    run -0 fs ls entity
    assert_line --regexp '^entity +customer +v2$'
}

@test "apply: invalid definitions change nothing" {
    init_repo
    fs apply -q
    set_ttl 2d
    add_customer
    sed -i 's/^join_key: customer_id$/join_key: customer_id\nbogus_key: 1/' features/customer.yaml
    local before head
    before=$(registry_dump)
    head=$(git rev-parse HEAD)
    run -128 --separate-stderr fs apply
    assert_output ""
    assert_equal "$stderr" "fatal: features/customer.yaml:4:1: entity 'customer': unknown key 'bogus_key'"
    assert_equal "$(registry_dump)" "$before"
    assert_equal "$(git rev-parse HEAD)" "$head"
    run -0 git status --porcelain
    assert_output " M features/driver.yaml
?? features/customer.yaml"
}

@test "apply: -q prints nothing" {
    init_repo
    run -0 --separate-stderr fs apply -q
    assert_output ""
    assert_equal "$stderr" ""
    run -0 applies
    assert_output 1
}

@test "apply: --json gives the registry version, commit and changes" {
    init_repo
    fs apply -q
    set_ttl 2d
    run -0 fs apply --json
    python3 -c '
import json, sys
a = json.load(sys.stdin)
assert sorted(a) == ["changes", "commit", "committed", "registry_version", "resets"], a
assert a["registry_version"] == 2, a
assert a["committed"] is True, a
assert a["commit"] == sys.argv[1], (a["commit"], sys.argv[1])
assert a["changes"] == [{"op": "~", "kind": "feature_view", "name": "driver_hourly_stats",
                         "fields": ["ttl"], "models": []}], a["changes"]
assert a["resets"] == [], a
' "$(git rev-parse HEAD)" <<<"$output"
}

@test "apply: --json with no changes has a null registry version" {
    init_repo
    fs apply -q
    run -0 fs apply --json
    python3 -c '
import json, sys
a = json.load(sys.stdin)
assert a == {"registry_version": None, "commit": sys.argv[1], "committed": False,
             "changes": [], "resets": []}, a
' "$(git rev-parse HEAD)" <<<"$output"
}

@test "apply: FS_REGISTRY moves the registry file" {
    init_repo
    FS_REGISTRY="$BATS_TEST_TMPDIR/elsewhere/reg.db" run -0 fs apply -q
    [ -f "$BATS_TEST_TMPDIR/elsewhere/reg.db" ]
    [ ! -e .fs/registry.db ]
    run -0 sqlite3 "$BATS_TEST_TMPDIR/elsewhere/reg.db" "SELECT count(*) FROM objects"
    assert_output 7
    FS_REGISTRY="$BATS_TEST_TMPDIR/elsewhere/reg.db" run -0 fs ls entity
    assert_output --regexp '^entity +driver +v1$'
    FS_REGISTRY="$BATS_TEST_TMPDIR/elsewhere/reg.db" run -0 fs apply
    assert_output "No changes."
    # without it, the default registry is a new, empty one
    run -0 fs ls
    assert_output ""
}

@test "apply: a bad option is a usage error" {
    init_repo
    run -129 fs apply --bogus
    assert_output --partial "usage: fs apply"
    run -0 registry_dump
    refute_output --partial "apply"
}
