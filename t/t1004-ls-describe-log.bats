#!/usr/bin/env bats
# fs ls, fs describe and fs log: what the registry holds and its history.

load test_helper

DEFS=features/driver.yaml

set_ttl() { sed -i "s/^ttl: .*/ttl: $1/" "$DEFS"; }

add_customer() {
    printf 'kind: entity\nname: customer\njoin_key: customer_id\ntype: string\n' \
        > features/customer.yaml
}

# An `fs ls` row.
row() { printf '%-16s %-32s v%d' "$1" "$2" "$3"; }

# Three applies: the example (1), ttl 2d (2), a new entity (3).
three_applies() {
    init_repo
    fs apply -q
    set_ttl 2d
    fs apply -q -m "longer ttl"
    add_customer
    fs apply -q
}

@test "ls: lists every object with kind, name and version" {
    init_repo
    fs apply -q
    run -0 --separate-stderr fs ls
    assert_equal "$stderr" ""
    assert_output "$(row entity driver 1)
$(row source driver_stats 1)
$(row source driver_trips 1)
$(row feature_view driver_hourly_stats 1)
$(row feature_view driver_trip_stats 1)
$(row feature_service driver_activity_v1 1)
$(row model eta 1)"
    assert_line --index 0 --regexp '^entity +driver +v1$'
}

@test "ls: shows the version each object is at" {
    three_applies
    run -0 fs ls
    assert_output "$(row entity customer 1)
$(row entity driver 1)
$(row source driver_stats 1)
$(row source driver_trips 1)
$(row feature_view driver_hourly_stats 2)
$(row feature_view driver_trip_stats 1)
$(row feature_service driver_activity_v1 1)
$(row model eta 1)"
}

@test "ls: a kind filters the list" {
    three_applies
    run -0 fs ls feature_view
    assert_output "$(row feature_view driver_hourly_stats 2)
$(row feature_view driver_trip_stats 1)"
    run -0 fs ls entity
    assert_output "$(row entity customer 1)
$(row entity driver 1)"
}

@test "ls: accepts plural kinds" {
    three_applies
    run -0 fs ls entities
    assert_output "$(row entity customer 1)
$(row entity driver 1)"
    run -0 fs ls feature_views
    assert_output "$(row feature_view driver_hourly_stats 2)
$(row feature_view driver_trip_stats 1)"
}

@test "ls: columns line up whatever the length of the names" {
    init_repo
    local long=driver_hourly_statistics_under_a_rather_long_name # 49 characters
    cat >> features/driver.yaml <<EOF
---
kind: feature_view
name: $long
entities: [driver]
source: driver_stats
features:
  - {name: conv_rate, type: float64}
EOF
    fs apply -q
    run -0 fs ls
    assert_line "feature_view     $long v1"
    assert_line --regexp "^entity           driver {$((${#long} - 5))}v1\$"
    assert_aligned 17 $((17 + ${#long} + 1))
    # short names only: the usual 32 characters
    run -0 fs ls entity
    assert_output "entity           driver                           v1"
}

@test "ls: an unknown kind is a usage error" {
    init_repo
    fs apply -q
    run -129 --separate-stderr fs ls featureview
    assert_output ""
    [[ "$stderr" == *"unknown kind 'featureview' (expected entity, source, feature_view, feature_service or model)"* ]]
    [[ "$stderr" == *"usage: fs ls"* ]]
}

@test "ls: an empty registry lists nothing" {
    init_repo
    run -0 --separate-stderr fs ls
    assert_output ""
    assert_equal "$stderr" ""
    run -0 fs ls --json
    assert_output --partial '"objects": []'
}

@test "ls: --json lists objects with their versions" {
    three_applies
    run -0 fs ls --json
    python3 -c '
import json, sys
d = json.load(sys.stdin)
assert list(d) == ["objects"], d
got = [(o["kind"], o["name"], o["version"], o["registry_version"]) for o in d["objects"]]
assert got == [("entity", "customer", 1, 3), ("entity", "driver", 1, 1),
               ("source", "driver_stats", 1, 1),
               ("source", "driver_trips", 1, 1),
               ("feature_view", "driver_hourly_stats", 2, 2),
               ("feature_view", "driver_trip_stats", 1, 1),
               ("feature_service", "driver_activity_v1", 1, 1),
               ("model", "eta", 1, 1)], got
assert all(sorted(o) == ["kind", "name", "registry_version", "version"] for o in d["objects"])
' <<<"$output"
    run -0 fs ls model --json
    python3 -c '
import json, sys
assert json.load(sys.stdin) == {"objects": [{"kind": "model", "name": "eta", "version": 1, "registry_version": 1}]}
' <<<"$output"
}

@test "describe: shows a feature view's spec" {
    init_repo
    fs apply -q
    run -0 --separate-stderr fs describe feature_view driver_hourly_stats
    assert_equal "$stderr" ""
    assert_output "kind: feature_view
name: driver_hourly_stats
version: 1
registry_version: 1
spec:
  entities:
  - driver
  features:
  - name: conv_rate
    type: float64
  - name: acc_rate
    type: float32
  - name: avg_daily_trips
    type: int64
  name: driver_hourly_stats
  online: true
  source: driver_stats
  tags:
    team: driver_performance
  ttl: 1d"
}

@test "describe: shows the current version after a change" {
    three_applies
    run -0 fs describe feature_view driver_hourly_stats
    assert_line --index 2 "version: 2"
    assert_line --index 3 "registry_version: 2"
    assert_line "  ttl: 2d"
    refute_line "  ttl: 1d"
}

@test "describe: shows an entity" {
    init_repo
    fs apply -q
    run -0 fs describe entity driver
    assert_output "kind: entity
name: driver
version: 1
registry_version: 1
spec:
  description: A driver of the ride-hailing service
  join_key: driver_id
  name: driver
  type: int64"
}

@test "describe: --json gives the stored spec" {
    three_applies
    run -0 fs describe feature_view driver_hourly_stats --json
    python3 -c '
import json, sys
d = json.load(sys.stdin)
assert sorted(d) == ["kind", "name", "registry_version", "spec", "version"], d
assert (d["kind"], d["name"], d["version"], d["registry_version"]) == ("feature_view", "driver_hourly_stats", 2, 2), d
s = d["spec"]
assert s["ttl"] == 172800, s
assert s["entities"] == ["driver"], s
assert s["source"] == "driver_stats" and s["online"] is True, s
assert s["features"] == [{"name": "conv_rate", "type": "float64"},
                         {"name": "acc_rate", "type": "float32"},
                         {"name": "avg_daily_trips", "type": "int64"}], s
assert s["tags"] == {"team": "driver_performance"}, s
' <<<"$output"
}

@test "describe: an unknown name exits 128 with a suggestion" {
    init_repo
    fs apply -q
    run -128 --separate-stderr fs describe feature_view driver_hourly_stat
    assert_output ""
    assert_equal "$stderr" "fatal: no feature view 'driver_hourly_stat' is registered (did you mean 'driver_hourly_stats'?)"
}

@test "describe: an unknown name with nothing close exits 128" {
    init_repo
    fs apply -q
    run -128 --separate-stderr fs describe entity zzzzzz
    assert_equal "$stderr" "fatal: no entity 'zzzzzz' is registered"
}

@test "describe: a deleted object is no longer registered" {
    init_repo
    fs apply -q
    add_customer
    fs apply -q
    rm features/customer.yaml
    fs apply -q
    run -128 --separate-stderr fs describe entity customer
    assert_equal "$stderr" "fatal: no entity 'customer' is registered"
}

@test "describe: an unknown kind or a missing name is a usage error" {
    init_repo
    fs apply -q
    run -129 --separate-stderr fs describe view driver_hourly_stats
    [[ "$stderr" == *"unknown kind 'view'"* ]]
    run -129 --separate-stderr fs describe feature_view
    assert_equal "${stderr_lines[0]}" "error: expected a kind and a name"
    assert_equal "${stderr_lines[1]}" "usage: fs describe <kind> <name> [--json]"
}

@test "log: lists applies newest first" {
    three_applies
    local c1 c2 c3 today
    c1=$(git rev-parse HEAD~2)
    c2=$(git rev-parse HEAD~1)
    c3=$(git rev-parse HEAD)
    today=$(date -u +%Y-%m-%d)
    run -0 --separate-stderr fs log
    assert_equal "$stderr" ""
    # the dates are when each apply ran: check their form, then the rest exactly
    local dates
    dates=$(grep '^date:' <<<"$output")
    run -0 grep -c -E "^date:   ${today}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$" <<<"$dates"
    assert_output 3
    run -0 fs log
    assert_equal "$(sed '/^date:/d' <<<"$output")" "registry version 3
commit: $c3
author: Test User <test@example.com>

    fs apply: +entity customer

    + entity customer (version 1)

registry version 2
commit: $c2
author: Test User <test@example.com>

    longer ttl

    ~ feature_view driver_hourly_stats (version 2)

registry version 1
commit: $c1
author: Test User <test@example.com>

    fs apply: +entity driver, +source driver_stats, +source driver_trips, +feature_view driver_hourly_stats, +feature_view driver_trip_stats and 2 more

    + entity driver (version 1)
    + source driver_stats (version 1)
    + source driver_trips (version 1)
    + feature_view driver_hourly_stats (version 1)
    + feature_view driver_trip_stats (version 1)
    + feature_service driver_activity_v1 (version 1)
    + model eta (version 1)"
}

@test "log: NAME shows only the applies that changed it" {
    three_applies
    run -0 fs log driver_hourly_stats
    assert_equal "$(grep -c '^registry version' <<<"$output")" 2
    assert_line --index 0 "registry version 2"
    assert_line "registry version 1"
    refute_line "registry version 3"
    assert_line "    ~ feature_view driver_hourly_stats (version 2)"
    assert_line "    + feature_view driver_hourly_stats (version 1)"
    # changes of other objects in the same apply are left out
    refute_line "    + entity driver (version 1)"
    refute_line "    + model eta (version 1)"
    run -0 fs log customer
    assert_equal "$(grep -c '^registry version' <<<"$output")" 1
    assert_line --index 0 "registry version 3"
}

@test "log: NAME shows a deletion" {
    init_repo
    fs apply -q
    add_customer
    fs apply -q
    rm features/customer.yaml
    fs apply -q
    run -0 fs log customer --json
    python3 -c '
import json, sys
a = json.load(sys.stdin)["applies"]
assert [(x["registry_version"], x["changes"]) for x in a] == [
    (3, [{"op": "-", "kind": "entity", "name": "customer", "version": 1}]),
    (2, [{"op": "+", "kind": "entity", "name": "customer", "version": 1}])], a
' <<<"$output"
}

@test "log: an unknown name or an empty registry shows nothing" {
    init_repo
    run -0 fs log
    assert_output ""
    fs apply -q
    run -0 fs log nothing_here
    assert_output ""
}

@test "log: --json gives every apply with its changes" {
    three_applies
    run -0 fs log --json
    python3 -c '
import json, re, subprocess, sys
d = json.load(sys.stdin)
assert list(d) == ["applies"], d
a = d["applies"]
assert [x["registry_version"] for x in a] == [3, 2, 1], a
commits = subprocess.check_output(["git", "rev-list", "HEAD"], text=True).split()
assert [x["commit"] for x in a] == commits, (a, commits)
for x in a:
    assert sorted(x) == ["author", "changes", "commit", "registry_version", "summary", "time"], x
    assert x["author"] == "Test User <test@example.com>", x
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", x["time"]), x
assert a[1]["summary"] == "longer ttl", a[1]
assert a[1]["changes"] == [{"op": "~", "kind": "feature_view", "name": "driver_hourly_stats", "version": 2}], a[1]
assert a[0]["changes"] == [{"op": "+", "kind": "entity", "name": "customer", "version": 1}], a[0]
assert [(c["op"], c["name"]) for c in a[2]["changes"]] == [
    ("+", "driver"), ("+", "driver_stats"), ("+", "driver_trips"), ("+", "driver_hourly_stats"),
    ("+", "driver_trip_stats"), ("+", "driver_activity_v1"), ("+", "eta")], a[2]
' <<<"$output"
}

@test "log: the time is when the apply ran" {
    init_repo
    local before after t
    before=$(date -u +%s)
    fs apply -q
    after=$(date -u +%s)
    t=$(fs log --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["applies"][0]["time"])')
    t=$(date -u -d "$t" +%s)
    [ "$t" -ge "$before" ] && [ "$t" -le "$after" ]
}
