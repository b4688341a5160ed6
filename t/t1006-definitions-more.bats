#!/usr/bin/env bats
# More of the definitions contract: required fields, duplicate YAML keys,
# the shape of each node, defaults as stored in the registry, .fsignore and
# git identities on apply, a bad global option, and the sections of every
# manual page. Every failure names file:line:col, exits 128 and changes
# neither the registry nor git (apply_fails in lib-validate).
#
# features/driver.yaml is share/init/driver.yaml; its line numbers matter:
#   4 kind: entity (6 join_key, 7 type, 8 description)
#  10 kind: source (12 type, 13 path, 14 timestamp_field)
#  17 kind: feature_view (19 entities, 20 source, 21 ttl, 22 online,
#     23 features, 24-26 conv_rate, acc_rate, avg_daily_trips, 27 tags)
#  30 kind: feature_service (31 features, 32 - driver_hourly_stats: [...])
#  35 kind: model (36 feature_service, 38 promotion, 40 from)

load test_helper
load lib-validate

D=features/driver.yaml

# ---- required fields ----

@test "definitions: a feature_view without source is reported" {
    replace $D "source: driver_stats
" ""
    apply_fatal "features/driver.yaml:17:1: feature_view 'driver_hourly_stats': missing 'source'"

    # an empty value is missing too, reported at the value
    cp "$FS_SOURCE_ROOT/share/init/driver.yaml" $D
    replace $D "source: driver_stats" "source:"
    apply_fatal "features/driver.yaml:20:8: feature_view 'driver_hourly_stats': missing 'source'"
}

@test "definitions: a feature_view without entities is reported" {
    replace $D "entities: [driver]
" ""
    apply_fatal "features/driver.yaml:17:1: feature_view 'driver_hourly_stats': missing 'entities'"
}

@test "definitions: a feature without type is reported" {
    # one error: the feature service's reference to acc_rate still resolves
    replace $D "{name: acc_rate, type: float32}" "{name: acc_rate}"
    apply_fatal "features/driver.yaml:25:5: feature_view 'driver_hourly_stats': missing 'type'"
}

@test "definitions: a feature without name is reported" {
    replace $D "{name: avg_daily_trips, type: int64}" "{type: int64}"
    apply_fatal "features/driver.yaml:26:5: feature_view 'driver_hourly_stats': missing 'name'"
}

@test "definitions: a csv source without path is reported" {
    replace $D "path: data/driver_stats.csv
" ""
    apply_fatal "features/driver.yaml:10:1: source 'driver_stats': missing 'path' (a csv source needs a file path or URL)"
}

@test "definitions: a source without timestamp_field is reported" {
    replace $D "timestamp_field: event_timestamp
" ""
    apply_fatal "features/driver.yaml:10:1: source 'driver_stats': missing 'timestamp_field'"
}

@test "definitions: a source without type is reported" {
    replace $D "type: csv
" ""
    apply_fatal "features/driver.yaml:10:1: source 'driver_stats': missing 'type'"
}

@test "definitions: a feature_service without features is reported" {
    replace $D "features:
  - driver_hourly_stats: [conv_rate, acc_rate]
" ""
    apply_fatal "features/driver.yaml:30:1: feature_service 'driver_activity_v1': missing 'features'"
}

@test "definitions: a model without feature_service is reported" {
    replace $D "feature_service: driver_activity_v1
" ""
    apply_fatal "features/driver.yaml:35:1: model 'eta': missing 'feature_service'"
}

# ---- duplicate keys ----

@test "definitions: a duplicate key in an object is reported at the second one" {
    replace $D "name: driver
join_key: driver_id" "name: driver
name: driver
join_key: driver_id"
    apply_fatal "features/driver.yaml:6:1: entity 'driver': duplicate key 'name'"

    cp "$FS_SOURCE_ROOT/share/init/driver.yaml" $D
    replace $D "online: true" "online: true
ttl: 2d"
    apply_fatal "features/driver.yaml:23:1: feature_view 'driver_hourly_stats': duplicate key 'ttl'"
}

@test "definitions: a duplicate key in a feature, in tags, in a gate is reported" {
    replace $D "{name: acc_rate, type: float32}" "{name: acc_rate, type: float32, type: float64}"
    apply_fatal "features/driver.yaml:25:37: feature_view 'driver_hourly_stats': duplicate key 'type'"

    cp "$FS_SOURCE_ROOT/share/init/driver.yaml" $D
    replace $D "  team: driver_performance" "  team: driver_performance
  team: other"
    apply_fatal "features/driver.yaml:29:3: feature_view 'driver_hourly_stats': duplicate key 'team' in 'tags'"

    cp "$FS_SOURCE_ROOT/share/init/driver.yaml" $D
    replace $D "    from: [staging]" "    from: [staging]
    from: [none]"
    apply_fatal "features/driver.yaml:42:5: model 'eta': duplicate key 'from'"
}

@test "definitions: a duplicate key in fs.yaml is reported" {
    printf 'project: other\n' >> fs.yaml
    apply_fatal "fs.yaml:16:1: duplicate key 'project'"
}

# ---- node shapes ----

@test "definitions: entities given a scalar or a mapping is reported" {
    replace $D "entities: [driver]" "entities: driver"
    apply_fatal "features/driver.yaml:19:11: feature_view 'driver_hourly_stats': 'entities' must be a list, not a scalar"

    replace $D "entities: driver" "entities: {driver: 1}"
    apply_fatal "features/driver.yaml:19:11: feature_view 'driver_hourly_stats': 'entities' must be a list, not a mapping"
}

@test "definitions: features given a mapping is reported" {
    replace $D "features:
  - {name: conv_rate, type: float64}
  - {name: acc_rate, type: float32}
  - {name: avg_daily_trips, type: int64}" "features:
  conv_rate: float64"
    apply_fatal "features/driver.yaml:24:3: feature_view 'driver_hourly_stats': 'features' must be a list, not a mapping"

    # of a feature service
    cp "$FS_SOURCE_ROOT/share/init/driver.yaml" $D
    replace $D "  - driver_hourly_stats: [conv_rate, acc_rate]" "  driver_hourly_stats: [conv_rate, acc_rate]"
    apply_fatal "features/driver.yaml:33:3: feature_service 'driver_activity_v1': 'features' must be a list, not a mapping"
}

@test "definitions: a string given a list or a mapping is reported" {
    replace $D "source: driver_stats" "source: [driver_stats]"
    apply_fatal "features/driver.yaml:20:9: feature_view 'driver_hourly_stats': 'source' must be a string, not a list"

    cp "$FS_SOURCE_ROOT/share/init/driver.yaml" $D
    replace $D "ttl: 1d" "ttl: [1d]"
    apply_fatal "features/driver.yaml:21:6: feature_view 'driver_hourly_stats': 'ttl' must be a string, not a list"

    cp "$FS_SOURCE_ROOT/share/init/driver.yaml" $D
    replace $D "description: A driver of the ride-hailing service" "description: {a: b}"
    apply_fatal "features/driver.yaml:8:14: entity 'driver': 'description' must be a string, not a mapping"
}

@test "definitions: tags, promotion and from of the wrong shape are reported" {
    replace $D "tags:
  team: driver_performance" "tags: [driver_performance]"
    apply_fatal "features/driver.yaml:27:7: feature_view 'driver_hourly_stats': 'tags' must be a mapping, not a list"

    cp "$FS_SOURCE_ROOT/share/init/driver.yaml" $D
    replace $D "from: [staging]" "from: staging"
    apply_fatal "features/driver.yaml:41:11: model 'eta': 'from' must be a list, not a scalar"

    cp "$FS_SOURCE_ROOT/share/init/driver.yaml" $D
    replace $D 'promotion:
  production:
    from: [staging]
    metrics: {auc: ">= 0.80"}' 'promotion: [production]'
    apply_fatal "features/driver.yaml:39:12: model 'eta': 'promotion' must be a mapping, not a list"
}

# ---- defaults, as stored ----

@test "definitions: an entity's join_key defaults to its name and type to string" {
    printf 'kind: entity\nname: rider\n' > features/rider.yaml
    run -0 fs apply -q
    run -0 fs describe entity rider --json
    assert_equal "$(json_at spec <<<"$output")" '{"join_key":"rider","name":"rider","type":"string"}'
    assert_equal "$(json_at version <<<"$output")" 1

    # the defaults spelled out are no change
    printf 'kind: entity\nname: rider\njoin_key: rider\ntype: string\n' > features/rider.yaml
    run -0 fs plan
    assert_output "No changes."
}

@test "definitions: a feature_view's online defaults to true and ttl to 0" {
    cat > features/rider.yaml <<'EOF'
kind: feature_view
name: rider_stats
entities: [driver]
source: driver_stats
features:
  - {name: conv_rate, type: float64}
EOF
    run -0 fs apply -q
    run -0 fs describe feature_view rider_stats --json
    assert_equal "$(json_at spec <<<"$output")" \
        '{"entities":["driver"],"features":[{"name":"conv_rate","type":"float64"}],"name":"rider_stats","online":true,"source":"driver_stats","ttl":0}'

    # the defaults spelled out are no change
    replace features/rider.yaml "source: driver_stats" "source: driver_stats
online: true
ttl: 0"
    run -0 fs plan
    assert_output "No changes."
}

@test "definitions: owner, description and tags are kept as given" {
    cat > features/rider.yaml <<'EOF'
kind: entity
name: rider
owner: riders@example.com
description: A rider
tags: {team: riders, tier: "1"}
---
kind: feature_view
name: rider_stats
entities: [driver]
source: driver_stats
owner: ml-team@example.com
description: Rider statistics
tags: {team: riders, pii: "no"}
features:
  - {name: conv_rate, type: float64, description: conversion, tags: {unit: ratio}}
EOF
    run -0 fs apply -q
    run -0 fs describe entity rider --json
    assert_equal "$(json_at spec <<<"$output")" \
        '{"description":"A rider","join_key":"rider","name":"rider","owner":"riders@example.com","tags":{"team":"riders","tier":"1"},"type":"string"}'
    run -0 fs describe feature_view rider_stats --json
    assert_equal "$(json_at spec <<<"$output")" \
        '{"description":"Rider statistics","entities":["driver"],"features":[{"description":"conversion","name":"conv_rate","tags":{"unit":"ratio"},"type":"float64"}],"name":"rider_stats","online":true,"owner":"ml-team@example.com","source":"driver_stats","tags":{"pii":"no","team":"riders"},"ttl":0}'
}

# ---- apply and git ----

@test "definitions: a file matched by .fsignore is neither registered nor committed" {
    printf 'kind: entity\nname: rider\n' > features/rider.yaml
    # not read at all: its bad name is no error
    printf 'kind: entity\nname: Scratch\n' > features/scratch.yaml
    printf 'scratch.yaml\n' > .fsignore
    run -0 fs apply -q
    run -0 fs ls entity
    assert_line --index 0 --regexp '^entity +driver +v1$'
    assert_line --index 1 --regexp '^entity +rider +v1$'
    assert_equal "${#lines[@]}" 2
    # .fsignore decides what the definitions are: it is committed with them
    run -0 git show --name-status --format= HEAD
    assert_output "A	.fsignore
A	features/rider.yaml"
    run -0 git ls-files features/scratch.yaml
    assert_output ""
    run -0 git status --porcelain
    assert_output "?? features/scratch.yaml"

    # a change to the ignored file alone: no commit, no registry version
    local head registry
    head=$(git rev-parse HEAD)
    registry=$(registry_dump)
    printf 'kind: entity\nname: scratch2\n' > features/scratch.yaml
    run -0 fs apply
    assert_output "No changes."
    assert_equal "$(git rev-parse HEAD)" "$head"
    assert_equal "$(registry_dump)" "$registry"
}

@test "definitions: GIT_COMMITTER_NAME and GIT_COMMITTER_EMAIL set the committer of the apply commit" {
    replace $D "ttl: 1d" "ttl: 2d"
    GIT_COMMITTER_NAME="CI Runner" GIT_COMMITTER_EMAIL="ci@example.net" run -0 fs apply -q
    run -0 git log -1 --format='%an <%ae>|%cn <%ce>'
    assert_output "Test User <test@example.com>|CI Runner <ci@example.net>"
    run -0 fs log --json
    assert_equal "$(json_at applies 0 author <<<"$output")" '"Test User <test@example.com>"'

    # with GIT_AUTHOR_* too: each from its own variables
    replace $D "ttl: 2d" "ttl: 3d"
    GIT_AUTHOR_NAME="Ada Lovelace" GIT_AUTHOR_EMAIL="ada@example.org" \
        GIT_COMMITTER_NAME="CI Runner" GIT_COMMITTER_EMAIL="ci@example.net" run -0 fs apply -q
    run -0 git log -1 --format='%an <%ae>|%cn <%ce>'
    assert_output "Ada Lovelace <ada@example.org>|CI Runner <ci@example.net>"
    run -0 fs log --json
    assert_equal "$(json_at applies 0 author <<<"$output")" '"Ada Lovelace <ada@example.org>"'
    assert_equal "$(json_at applies 0 registry_version <<<"$output")" 3
}

# ---- usage ----

@test "definitions: an unknown global option prints usage on stderr only and exits 129" {
    local usage
    usage=$("$FS" -h | sed -n 1p)
    [[ "$usage" == "usage: fs "* ]]
    run -129 --separate-stderr fs --bogus
    assert_output ""
    assert_equal "$stderr" "error: unknown option '--bogus'
$usage"
    run -129 --separate-stderr fs -x apply
    assert_output ""
    assert_equal "$stderr" "error: unknown option '-x'
$usage"
    # the command after it is not run
    assert_unchanged
}

# ---- manual pages ----

@test "definitions: every manual page has NAME, SYNOPSIS, DESCRIPTION, OPTIONS, EXAMPLES in order" {
    local page want got n=0
    want=$(printf '%s\n' NAME SYNOPSIS DESCRIPTION OPTIONS EXAMPLES)
    for page in "$FS_SOURCE_ROOT"/Documentation/fs*.adoc; do
        grep -qx '= .*(1)' "$page" || continue # fs-definitions(5), fs.yaml(5): no OPTIONS
        got=$(sed -n 's/^== \(NAME\|SYNOPSIS\|DESCRIPTION\|OPTIONS\|EXAMPLES\)$/\1/p' "$page")
        [ "$got" = "$want" ] || fail "${page##*/}: sections '$(echo $got)', want '$(echo $want)'"
        n=$((n + 1))
    done
    # fs.adoc and one page per command
    assert_equal "$n" "$(( $("$FS" --list-cmds | wc -l) + 1 ))"
}

@test "definitions: a name longer than 128 characters is refused, 128 is accepted" {
    init_repo
    local long128 long129
    long128=v$(printf 'x%.0s' $(seq 127))
    long129=${long128}x
    sed -i "s/name: driver_hourly_stats/name: $long129/; s/- driver_hourly_stats: /- $long129: /" features/driver.yaml
    run -128 --separate-stderr fs apply
    [[ "$stderr" == *"features/driver.yaml:18:7: feature_view '$long129': name of 129 characters: at most 128"* ]]
    run -0 registry_dump
    assert_output ""
    sed -i "s/$long129/$long128/g" features/driver.yaml
    run -0 fs apply -q
    run -0 fs materialize-incremental now -v "$long128"
}
