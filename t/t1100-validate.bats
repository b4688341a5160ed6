#!/usr/bin/env bats
# Definition validation: YAML syntax, the schema of each kind, names,
# references between objects, fs.yaml, which files are read, and hostile
# YAML. Every failure names file:line:col, exits 128 and changes neither the
# registry nor git. Checks of the data files sources point at are in t1101.
#
# features/driver.yaml is share/init/driver.yaml; its line numbers matter:
#   4 kind: entity       12 type: csv          19 entities: [driver]
#   7 type: int64        13 path: ...csv       20 source: driver_stats
#                                              21 ttl: 1d   22 online: true
#  23 features:  24-26 conv_rate, acc_rate, avg_daily_trips
#  33   - driver_hourly_stats: [conv_rate, acc_rate]
#  37 feature_service: driver_activity_v1   41 from: [staging]
#  42 metrics: {auc: ">= 0.80"}

load test_helper
load lib-validate

D=features/driver.yaml

# ---- YAML and document shape ----

@test "validate: invalid YAML is reported at the syntax error" {
    printf 'kind: entity\nname: rider\n  join_key: rider_id\n' > features/rider.yaml
    apply_fatal "features/rider.yaml:3:11: invalid YAML: mapping values are not allowed in this context"

    # in a later document of a file: the whole file, and the apply, fail
    printf 'kind: entity\nname: rider\n---\nkind: entity\nname: [x\njoin_key: y\n' > features/rider.yaml
    apply_fatal "features/rider.yaml:6:9: invalid YAML: did not find expected ',' or ']' while parsing a flow sequence"

    printf 'kind: entity\nname: rider\ndescription: "no end\n' > features/rider.yaml
    apply_fatal "features/rider.yaml:4:1: invalid YAML: found unexpected end of stream while scanning a quoted scalar"
}

@test "validate: bad UTF-8 and control characters are reported where they are" {
    printf 'kind: entity\nname: rider\ndescription: "ab\xffc"\n' > features/rider.yaml
    apply_fatal "features/rider.yaml:3:17: invalid YAML: invalid leading UTF-8 octet"
    printf 'kind: entity\nname: rider\n\ndescription: "a\001"\n' > features/rider.yaml
    apply_fatal "features/rider.yaml:4:16: invalid YAML: control characters are not allowed"
}

@test "validate: a document missing kind is reported" {
    printf 'name: rider\njoin_key: rider_id\n' > features/rider.yaml
    apply_fatal "features/rider.yaml:1:1: missing 'kind'"
}

@test "validate: a document missing name is reported" {
    printf 'kind: entity\njoin_key: rider_id\n' > features/rider.yaml
    apply_fatal "features/rider.yaml:1:1: missing 'name'"
}

@test "validate: a document that is not a mapping is reported" {
    printf -- '- kind\n- entity\n' > features/rider.yaml
    apply_fatal "features/rider.yaml:1:1: a definition must be a mapping with 'kind' and 'name', not a list"
}

@test "validate: unknown kind is reported with did-you-mean" {
    printf 'kind: entty\nname: rider\n' > features/rider.yaml
    apply_fatal "features/rider.yaml:1:7: unknown kind 'entty' (did you mean 'entity'?)"

    printf 'kind: entities\nname: rider\n' > features/rider.yaml
    apply_fatal "features/rider.yaml:1:7: unknown kind 'entities' (did you mean 'entity'?)"

    # nothing close: the list of kinds
    printf 'kind: widget\nname: rider\n' > features/rider.yaml
    apply_fatal "features/rider.yaml:1:7: unknown kind 'widget' (expected one of: entity source feature_view feature_service model)"
}

@test "validate: unknown key is reported with did-you-mean" {
    printf 'kind: entity\nname: rider\njion_key: rider_id\n' > features/rider.yaml
    apply_fatal "features/rider.yaml:3:1: entity 'rider': unknown key 'jion_key' (did you mean 'join_key'?)"

    printf 'kind: entity\nname: rider\ncolour: red\n' > features/rider.yaml
    apply_fatal "features/rider.yaml:3:1: entity 'rider': unknown key 'colour'"

    # a key of a feature inside a view
    replace $D "{name: acc_rate, type: float32}" "{name: acc_rate, type: float32, descripton: x}"
    rm features/rider.yaml
    apply_fatal "features/driver.yaml:25:37: feature_view 'driver_hourly_stats': unknown key 'descripton' (did you mean 'description'?)"
}

@test "validate: bad names are reported" {
    printf 'kind: entity\nname: Driver\n' > features/rider.yaml
    apply_fatal "features/rider.yaml:2:7: entity 'Driver': bad name (lowercase letters, digits and '_', not starting with a digit)"

    printf 'kind: entity\nname: 1x\n' > features/rider.yaml
    apply_fatal "features/rider.yaml:2:7: entity '1x': bad name (lowercase letters, digits and '_', not starting with a digit)"

    printf 'kind: entity\nname: rider-id\n' > features/rider.yaml
    apply_fatal "features/rider.yaml:2:7: entity 'rider-id': bad name (lowercase letters, digits and '_', not starting with a digit)"
}

@test "validate: duplicate names of one kind name the first definition's place" {
    printf 'kind: entity\nname: rider\n---\nkind: entity\nname: rider\njoin_key: rider_id\n' > features/rider.yaml
    apply_fatal "features/rider.yaml:4:1: duplicate entity 'rider' (first defined at features/rider.yaml:1:1)"

    # across files
    printf 'kind: entity\nname: rider\n' > features/a.yaml
    printf '# riders\nkind: entity\nname: rider\n' > features/rider.yaml
    apply_fatal "features/rider.yaml:2:1: duplicate entity 'rider' (first defined at features/a.yaml:1:1)"
}

@test "validate: one name in two kinds is not a duplicate" {
    printf 'kind: source\nname: driver\ntype: push\nbatch_source: driver_stats\n' > features/push.yaml
    run -0 fs apply -q
    run -0 fs describe source driver --json
    assert_equal "$(json_at spec batch_source <<<"$output")" '"driver_stats"'
    run -0 fs describe entity driver --json
    assert_equal "$(json_at kind <<<"$output")" '"entity"'
}

# ---- references between objects ----

@test "validate: unknown entity is reported with did-you-mean" {
    replace $D "entities: [driver]" "entities: [drivr]"
    apply_fatal "features/driver.yaml:19:12: feature_view 'driver_hourly_stats': unknown entity 'drivr' (did you mean 'driver'?)"

    replace $D "entities: [drivr]" "entities: [driver, customer]"
    apply_fatal "features/driver.yaml:19:20: feature_view 'driver_hourly_stats': unknown entity 'customer'"
}

@test "validate: unknown source of a view is reported with did-you-mean" {
    replace $D "source: driver_stats" "source: driver_stat"
    apply_fatal "features/driver.yaml:20:9: feature_view 'driver_hourly_stats': unknown source 'driver_stat' (did you mean 'driver_stats'?)"
}

@test "validate: unknown view in a feature service is reported with did-you-mean" {
    replace $D "  - driver_hourly_stats: [conv_rate, acc_rate]" "  - driver_hourly_stat: [conv_rate, acc_rate]"
    apply_fatal "features/driver.yaml:33:5: feature_service 'driver_activity_v1': unknown feature_view 'driver_hourly_stat' (did you mean 'driver_hourly_stats'?)"

    # a bare view name
    replace $D "  - driver_hourly_stat: [conv_rate, acc_rate]" "  - driver_hourly_sats"
    apply_fatal "features/driver.yaml:33:5: feature_service 'driver_activity_v1': unknown feature_view 'driver_hourly_sats' (did you mean 'driver_hourly_stats'?)"
}

@test "validate: unknown feature of a view in a feature service is reported with did-you-mean" {
    replace $D "[conv_rate, acc_rate]" "[conv_rat, acc_rate]"
    apply_fatal "features/driver.yaml:33:27: feature_service 'driver_activity_v1': feature_view 'driver_hourly_stats' has no feature 'conv_rat' (did you mean 'conv_rate'?)"

    replace $D "[conv_rat, acc_rate]" "[conv_rate, speed]"
    apply_fatal "features/driver.yaml:33:38: feature_service 'driver_activity_v1': feature_view 'driver_hourly_stats' has no feature 'speed'"
}

@test "validate: a view or a feature listed twice in a feature service is reported" {
    replace $D "  - driver_hourly_stats: [conv_rate, acc_rate]" "  - driver_hourly_stats: [conv_rate, acc_rate, conv_rate]"
    apply_fatal "features/driver.yaml:33:48: feature_service 'driver_activity_v1': feature 'conv_rate' of 'driver_hourly_stats' listed twice"

    replace $D "  - driver_hourly_stats: [conv_rate, acc_rate, conv_rate]" "  - driver_hourly_stats: [conv_rate]
  - driver_hourly_stats"
    apply_fatal "features/driver.yaml:34:5: feature_service 'driver_activity_v1': feature_view 'driver_hourly_stats' listed twice in 'features'"
}

@test "validate: an entity listed twice is reported once, and its missing join key once" {
    printf 'kind: entity\nname: rider\n' > features/rider.yaml
    replace $D "entities: [driver]" "entities: [rider, rider]"
    apply_fails \
        "error: features/driver.yaml:19:19: feature_view 'driver_hourly_stats': entity 'rider' listed twice" \
        "error: features/driver.yaml:20:9: feature_view 'driver_hourly_stats': source 'driver_stats' (data/driver_stats.csv) has no column 'rider' (join key of entity 'rider')" \
        "fatal: 2 errors in definitions"
}

@test "validate: unknown feature service of a model is reported with did-you-mean" {
    replace $D "feature_service: driver_activity_v1" "feature_service: driver_activity_v2"
    apply_fatal "features/driver.yaml:37:18: model 'eta': unknown feature_service 'driver_activity_v2' (did you mean 'driver_activity_v1'?)"
}

@test "validate: unknown batch_source of a push source is reported with did-you-mean" {
    printf 'kind: source\nname: driver_push\ntype: push\nbatch_source: driver_stat\n' > features/push.yaml
    apply_fatal "features/push.yaml:4:15: source 'driver_push': unknown source 'driver_stat' (did you mean 'driver_stats'?)"

    # the batch source holds history: it cannot be a push source itself
    printf 'kind: source\nname: driver_push\ntype: push\nbatch_source: driver_stats\n---\nkind: source\nname: push2\ntype: push\nbatch_source: driver_push\n' > features/push.yaml
    apply_fatal "features/push.yaml:9:15: source 'push2': batch_source 'driver_push' is a push source (it must be csv, sqlite or postgres)"
}

# ---- values ----

@test "validate: bad feature type is reported" {
    replace $D "{name: acc_rate, type: float32}" "{name: acc_rate, type: float33}"
    # one error: the feature service's reference to acc_rate still resolves
    apply_fatal "features/driver.yaml:25:28: feature_view 'driver_hourly_stats': unknown feature type 'float33' (did you mean 'float32'?)"

    replace $D "type: float33}" "type: decimal}"
    apply_fatal "features/driver.yaml:25:28: feature_view 'driver_hourly_stats': unknown feature type 'decimal' (expected one of: int32 int64 float32 float64 string bool timestamp)"
}

@test "validate: bad entity type is reported" {
    replace $D "type: int64
description: A driver" "type: int32
description: A driver"
    apply_fatal "features/driver.yaml:7:7: entity 'driver': unknown entity type 'int32' (did you mean 'int64'?)"

    replace $D "type: int32" "type: uuid"
    apply_fatal "features/driver.yaml:7:7: entity 'driver': unknown entity type 'uuid' (expected one of: int64 string)"
}

@test "validate: bad source type is reported" {
    replace $D "type: csv" "type: cvs"
    apply_fatal "features/driver.yaml:12:7: source 'driver_stats': unknown source type 'cvs' (did you mean 'csv'?)"

    replace $D "type: cvs" "type: parquet"
    apply_fatal "features/driver.yaml:12:7: source 'driver_stats': unknown source type 'parquet' (expected one of: csv sqlite postgres push kafka redis_stream)"
}

@test "validate: bad ttl is reported" {
    replace $D "ttl: 1d" "ttl: 5x"
    apply_fatal "features/driver.yaml:21:6: feature_view 'driver_hourly_stats': bad ttl '5x' (expected 0 or a number with a unit s m h d w, e.g. 90m, 2h, 1d)"

    # a bare number is not seconds: the unit is required
    replace $D "ttl: 5x" "ttl: 3600"
    apply_fatal "features/driver.yaml:21:6: feature_view 'driver_hourly_stats': bad ttl '3600' (expected 0 or a number with a unit s m h d w, e.g. 90m, 2h, 1d)"
}

@test "validate: good ttls are accepted and stored in seconds" {
    cp $D "$BATS_TEST_TMPDIR/driver.yaml"
    # ttl=seconds=version of the view after applying it
    for t in 90m=5400=2 1h30m=5400=2 0=0=3 1w=604800=4 2h=7200=5; do
        cp "$BATS_TEST_TMPDIR/driver.yaml" $D
        replace $D "ttl: 1d" "ttl: ${t%%=*}"
        run -0 --separate-stderr fs apply -q
        run -0 fs describe feature_view driver_hourly_stats --json
        assert_equal "$(json_at spec ttl <<<"$output")" "$(cut -d= -f2 <<<"$t")"
        # 1h30m is stored as 90m was: no new version
        assert_equal "$(json_at version <<<"$output")" "${t##*=}"
    done
}

@test "validate: bad online value is reported" {
    replace $D "online: true" "online: yes"
    apply_fatal "features/driver.yaml:22:9: feature_view 'driver_hourly_stats': 'online' must be true or false, not 'yes'"

    replace $D "online: yes" "online: \"true\""
    apply_fatal "features/driver.yaml:22:9: feature_view 'driver_hourly_stats': 'online' must be true or false, not 'true'"
}

@test "validate: bad gate expressions are reported" {
    replace $D 'auc: ">= 0.80"' 'auc: "~ 0.8"'
    apply_fatal "features/driver.yaml:42:20: model 'eta': bad gate for metric 'auc': '~ 0.8' (expected an operator >= > <= < == and a number, e.g. \">= 0.80\")"

    replace $D 'auc: "~ 0.8"' 'auc: ">= abc"'
    apply_fatal "features/driver.yaml:42:20: model 'eta': bad gate for metric 'auc': '>= abc' (expected an operator >= > <= < == and a number, e.g. \">= 0.80\")"
}

@test "validate: a bad stage name in from is reported with did-you-mean" {
    replace $D "from: [staging]" "from: [stagin]"
    apply_fatal "features/driver.yaml:41:12: model 'eta': unknown stage 'stagin' (did you mean 'staging'?)"

    # and as a promotion key; nothing close: the list of stages
    replace $D "  production:" "  prod:"
    replace $D "from: [stagin]" "from: [staging]"
    apply_fatal "features/driver.yaml:40:3: model 'eta': unknown stage 'prod' (expected one of: none staging production archived)"
}

@test "validate: an empty features list is reported" {
    replace $D "features:
  - {name: conv_rate, type: float64}
  - {name: acc_rate, type: float32}
  - {name: avg_daily_trips, type: int64}" "features: []"
    # one error: the feature service's references are not reported too
    apply_fatal "features/driver.yaml:23:11: feature_view 'driver_hourly_stats': 'features' must not be empty"

    replace $D "  - driver_hourly_stats: [conv_rate, acc_rate]" "  - driver_hourly_stats: []"
    replace $D "features: []" "features:
  - {name: conv_rate, type: float64}"
    apply_fatal "features/driver.yaml:31:26: feature_service 'driver_activity_v1': features of 'driver_hourly_stats' must be a non-empty list of feature names"
}

@test "validate: a duplicate feature in a view is reported" {
    replace $D "{name: avg_daily_trips, type: int64}" "{name: conv_rate, type: int64}"
    apply_fatal "features/driver.yaml:26:12: feature_view 'driver_hourly_stats': duplicate feature 'conv_rate'"
}

# ---- several errors ----

@test "validate: several errors in one run are all reported" {
    replace $D "entities: [driver]" "entities: [drivr]"
    replace $D "ttl: 1d" "ttl: 5x"
    replace $D "feature_service: driver_activity_v1" "feature_service: driver_activity_v2"
    printf 'kind: entity\nname: rider\njion_key: rider_id\n' > features/rider.yaml
    apply_fails \
        "error: features/driver.yaml:19:12: feature_view 'driver_hourly_stats': unknown entity 'drivr' (did you mean 'driver'?)" \
        "error: features/driver.yaml:21:6: feature_view 'driver_hourly_stats': bad ttl '5x' (expected 0 or a number with a unit s m h d w, e.g. 90m, 2h, 1d)" \
        "error: features/driver.yaml:37:18: model 'eta': unknown feature_service 'driver_activity_v2' (did you mean 'driver_activity_v1'?)" \
        "error: features/rider.yaml:3:1: entity 'rider': unknown key 'jion_key' (did you mean 'join_key'?)" \
        "fatal: 4 errors in definitions"
    run -128 --separate-stderr fs apply -q
    assert_equal "$(grep -c '^error: ' <<<"$stderr")" 4
    assert_equal "$(grep -c '^fatal: ' <<<"$stderr")" 1
}

# ---- fs.yaml ----

@test "validate: an unknown key in fs.yaml is reported with its position" {
    replace fs.yaml "registry:" "registy:"
    apply_fatal "fs.yaml:3:1: unknown key 'registy' (did you mean 'registry'?)"
}

@test "validate: a bad project name in fs.yaml is reported with its position" {
    replace fs.yaml "project: repo" 'project: "my repo"'
    apply_fatal "fs.yaml:2:10: bad project name 'my repo' (letters, digits, '_' and '-' only)"
}

@test "validate: a bad online_store type in fs.yaml is reported with its position" {
    replace fs.yaml "  type: sqlite" "  type: memcached"
    apply_fatal "fs.yaml:5:9: unknown online store type 'memcached' (expected sqlite or redis)"
}

@test "validate: several errors in fs.yaml are all reported, in order" {
    replace fs.yaml "registry:" "registy:"
    replace fs.yaml "project: repo" 'project: "my repo"'
    apply_fails \
        "error: fs.yaml:2:10: bad project name 'my repo' (letters, digits, '_' and '-' only)" \
        "error: fs.yaml:3:1: unknown key 'registy' (did you mean 'registry'?)" \
        "fatal: 2 errors in definitions"
    # a command that only reads fs.yaml
    run -128 --separate-stderr fs ls
    assert_equal "$stderr" "error: fs.yaml:2:10: bad project name 'my repo' (letters, digits, '_' and '-' only)
error: fs.yaml:3:1: unknown key 'registy' (did you mean 'registry'?)
fatal: 2 errors in fs.yaml"
}

@test "validate: errors in fs.yaml and in the definitions are reported together" {
    replace fs.yaml "registry:" "registy:"
    replace $D "entities: [driver]" "entities: [drivr]"
    apply_fails \
        "error: features/driver.yaml:19:12: feature_view 'driver_hourly_stats': unknown entity 'drivr' (did you mean 'driver'?)" \
        "error: fs.yaml:3:1: unknown key 'registy' (did you mean 'registry'?)" \
        "fatal: 2 errors in definitions"
    # --rev plans a commit's definitions, but the working tree's fs.yaml must still be valid
    run -128 --separate-stderr fs plan --rev HEAD
    assert_equal "$stderr" "fatal: fs.yaml:3:1: unknown key 'registy' (did you mean 'registry'?)"
    # other commands need fs.yaml alone
    run -128 --separate-stderr fs ls
    assert_equal "$stderr" "fatal: fs.yaml:3:1: unknown key 'registy' (did you mean 'registry'?)"
}

@test "validate: invalid YAML in fs.yaml is reported with its position" {
    replace fs.yaml "project: repo" "project: [repo"
    apply_fatal "fs.yaml:3:9: invalid YAML: did not find expected ',' or ']' while parsing a flow sequence"
}

# ---- which files are read ----

@test "validate: several documents in one file and nested directories are found" {
    mkdir -p features/a/b defs
    replace fs.yaml "definitions: [features]" "definitions: [features, defs]"
    printf 'kind: entity\nname: rider\n---\nkind: entity\nname: store\ntype: string\n' > features/a/b/more.yml
    printf -- '---\nkind: entity\nname: customer\n---\nkind: entity\nname: vehicle\n' > defs/top.yaml
    run -0 fs apply -q
    run -0 fs ls entity
    assert_line --index 0 --regexp '^entity +customer +v1$'
    assert_line --index 1 --regexp '^entity +driver +v1$'
    assert_line --index 2 --regexp '^entity +rider +v1$'
    assert_line --index 3 --regexp '^entity +store +v1$'
    assert_line --index 4 --regexp '^entity +vehicle +v1$'
    assert_equal "${#lines[@]}" 5
    git ls-files --error-unmatch features/a/b/more.yml defs/top.yaml
}

@test "validate: .fsignore excludes a file and ! re-includes one" {
    printf 'kind: entity\nname: Broken\n' > features/broken.yaml
    printf 'kind: entity\nname: Bad\n' > features/extra_bad.yaml
    printf 'kind: entity\nname: rider\n' > features/extra_good.yaml
    printf '# not definitions\nbroken.yaml\nextra*.yaml\n!extra_good.yaml\n' > .fsignore
    run -0 fs apply -q
    run -0 fs ls entity
    assert_line --index 0 --regexp '^entity +driver +v1$'
    assert_line --index 1 --regexp '^entity +rider +v1$'
    assert_equal "${#lines[@]}" 2

    # without .fsignore the broken files are read
    rm .fsignore
    run -128 --separate-stderr fs apply -q
    assert_equal "$stderr" "error: features/broken.yaml:2:7: entity 'Broken': bad name (lowercase letters, digits and '_', not starting with a digit)
error: features/extra_bad.yaml:2:7: entity 'Bad': bad name (lowercase letters, digits and '_', not starting with a digit)
fatal: 2 errors in definitions"
}

@test "validate: a git-ignored yaml file is not read" {
    echo 'scratch*.yaml' >> .gitignore
    printf 'kind: entity\nname: Scratch\n' > features/scratch.yaml
    run -0 fs apply -q
    run -0 fs ls entity
    assert_output --regexp '^entity +driver +v1$'
    run -0 git ls-files features/scratch.yaml
    assert_output ""

    # the same file, not ignored, is read
    mv features/scratch.yaml features/notes.yaml
    run -128 --separate-stderr fs apply -q
    assert_equal "$stderr" "fatal: features/notes.yaml:2:7: entity 'Scratch': bad name (lowercase letters, digits and '_', not starting with a digit)"
}

@test "validate: empty documents are fine" {
    printf -- '---\n' > features/empty.yaml
    printf -- '---\n---\n' > features/empty2.yaml
    printf -- '# only a comment\n' > features/comment.yaml
    : > features/zero.yaml
    printf -- '---\n---\nkind: entity\nname: rider\n---\n---\n...\n' > features/rider.yaml
    run -0 fs apply -q
    run -0 fs ls entity
    assert_line --index 0 --regexp '^entity +driver +v1$'
    assert_line --index 1 --regexp '^entity +rider +v1$'
    assert_equal "${#lines[@]}" 2
}

# ---- hostile YAML ----

# "billion laughs": 9 levels of 9 aliases, each level 9 times the one below
# (9^9 leaves if expanded); printed after the lines given as arguments.
alias_bomb() {
    local i j line
    printf '%s\n' "$@"
    printf '  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n'
    for i in 1 2 3 4 5 6 7 8 9; do
        line="  l$i: &l$i ["
        for j in 1 2 3 4 5 6 7 8 9; do
            line+="*l$((i - 1))"
            [ $j -lt 9 ] && line+=", "
        done
        printf '%s]\n' "$line"
    done
}

# run_bounded CMD...: run with a 10 s limit; fail on a signal or timeout
# (exit 124) or when it took more than 5 s.
run_bounded() {
    local start=$SECONDS
    run --separate-stderr timeout 10 "$@"
    if [ "$status" -ne 0 ] && [ "$status" -ne 128 ]; then
        echo "exit $status; stderr: ${stderr:0:500}"
        return 1
    fi
    [ $((SECONDS - start)) -le 5 ]
}

@test "validate: a YAML alias bomb does not hang or crash" {
    # anchors under tags, whose values must be strings
    alias_bomb 'kind: entity' 'name: rider' 'tags:' > features/rider.yaml
    echo 'description: *l9' >> features/rider.yaml
    run_bounded "$FS" apply -q
    assert_equal "$status" 128
    [[ "${stderr##*$'\n'}" =~ ^fatal:\ [0-9]+\ errors\ in\ definitions$ ]]
    assert_unchanged

    # aliases where lists of names are expected
    alias_bomb 'kind: feature_service' 'name: laughs' 'tags:' > features/rider.yaml
    echo 'features: *l9' >> features/rider.yaml
    run_bounded "$FS" plan
    assert_equal "$status" 128
    [[ "${stderr##*$'\n'}" =~ ^fatal:\ [0-9]+\ errors\ in\ definitions$ ]]
    assert_unchanged
}

@test "validate: deeply nested flow sequences do not crash" {
    local open close
    open=$(printf '%10000s' '' | tr ' ' '[')
    close=$(printf '%10000s' '' | tr ' ' ']')
    echo "$open$close" > features/deep.yaml
    run_bounded "$FS" apply -q
    assert_equal "$stderr" "fatal: features/deep.yaml:1:1001: invalid YAML: collections nested more than 1000 deep"
    assert_unchanged

    printf 'kind: entity\nname: rider\ntags: %s%s\n' "$open" "$close" > features/deep.yaml
    run_bounded "$FS" apply -q
    assert_equal "$stderr" "fatal: features/deep.yaml:3:1007: invalid YAML: collections nested more than 1000 deep"
    assert_unchanged

    # up to the limit the document is parsed and checked as usual
    printf 'kind: entity\nname: rider\ntags: %s%s\n' "${open:0:1000}" "${close:0:1000}" > features/deep.yaml
    run_bounded "$FS" apply -q
    assert_equal "$stderr" "fatal: features/deep.yaml:3:7: entity 'rider': 'tags' must be a mapping, not a list"
    assert_unchanged
}

# ---- fs.yaml webhooks ----

@test "validate: a webhook url that is not http(s) is reported with its position" {
    echo 'webhooks: [{url: "ftp://example.com/hook", events: [model.promoted]}]' >> fs.yaml
    apply_fatal "fs.yaml:16:18: webhook url must be http:// or https://"
}

@test "validate: an unknown webhook event is reported with its position" {
    printf 'webhooks:\n  - url: http://127.0.0.1:9/hook\n    events: [model.promoted, model.registerd]\n' >> fs.yaml
    apply_fatal "fs.yaml:18:30: unknown webhook event 'model.registerd' (expected model.registered or model.promoted)"
}

@test "validate: an unknown webhook key is reported with its position" {
    echo 'webhooks: [{url: "http://127.0.0.1:9/hook", events: [model.promoted], secret: WH}]' >> fs.yaml
    apply_fatal "fs.yaml:16:71: unknown key 'secret'"
}

@test "validate: a webhook without events, or with none, is reported" {
    echo 'webhooks: [{url: "http://127.0.0.1:9/hook"}]' >> fs.yaml
    apply_fatal "fs.yaml:16:12: missing 'events'"
    replace fs.yaml '"http://127.0.0.1:9/hook"}' '"http://127.0.0.1:9/hook", events: []}'
    apply_fatal "fs.yaml:16:53: 'events' must not be empty"
}

@test "validate: webhooks must be a list of mappings with a url" {
    echo 'webhooks: {url: "http://127.0.0.1:9/hook", events: [model.promoted]}' >> fs.yaml
    apply_fatal "fs.yaml:16:11: 'webhooks' must be a list, not a mapping"
    replace fs.yaml 'webhooks: {url: "http://127.0.0.1:9/hook", events: [model.promoted]}' 'webhooks: [{events: [model.promoted]}]'
    apply_fatal "fs.yaml:16:12: missing 'url'"
}
