#!/usr/bin/env bats
# Which YAML files are definitions: fs.yaml's `definitions:` (directories,
# files, globs; what fs init writes), and, without it, every YAML file
# outside hidden directories that has a kind, the others skipped with a
# warning. The same selection holds for the working tree, HEAD and --rev.

load test_helper

HINT="hint: name the paths that hold definitions in fs.yaml, such as 'definitions: [features]' (see fs.yaml(5))"

# set_definitions VALUE: fs.yaml's `definitions:` line (line 15) becomes VALUE.
set_definitions() { sed -i "s|^definitions: .*|definitions: $1|" fs.yaml; }

# A repository from before `definitions:`: fs.yaml without the key, committed.
legacy_repo() {
    init_repo
    sed -i '/^definitions:/d' fs.yaml
    git commit -q -am "fs.yaml without definitions"
}

# What an ML repository holds besides definitions: none has a kind.
add_tooling_yaml() {
    mkdir -p .github/workflows
    printf 'name: ci\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n' \
        > .github/workflows/ci.yml
    printf 'name: ml\nchannels: [conda-forge]\ndependencies:\n  - python=3.11\n' \
        > environment.yml
    printf 'services:\n  db:\n    image: postgres:16\n' > docker-compose.yml
}

entities() { fs ls entity | awk '{print $2}' | paste -sd' '; }

# ---- without definitions: ----

@test "definitions paths: without the key, YAML files without kind are skipped with one warning" {
    legacy_repo
    add_tooling_yaml
    local warning="warning: skipped YAML files without 'kind' (not definitions): docker-compose.yml, environment.yml"
    run -0 --separate-stderr fs plan
    assert_line "+ entity driver"
    assert_line "7 to add, 0 to change, 0 to delete."
    assert_equal "$stderr" "$warning
$HINT"
    run -0 --separate-stderr fs apply
    assert_line "Applied registry version 1 (commit $(git rev-parse --short=12 HEAD))."
    assert_equal "$stderr" "$warning
$HINT"
    # they are not definitions: apply leaves them out of its commit
    run -0 git status --porcelain
    assert_output "?? .github/
?? docker-compose.yml
?? environment.yml"
    # the plan cache answers too, and still warns
    run -0 --separate-stderr fs plan
    assert_output "No changes."
    assert_equal "$stderr" "$warning
$HINT"
    # commands that do not read definitions say nothing
    run -0 --separate-stderr fs ls entity
    assert_equal "$stderr" ""
}

@test "definitions paths: without the key, hidden files and directories are not read" {
    legacy_repo
    mkdir -p .venv/lib .scratch
    printf 'kind: entity\nname: Bad\n' > .venv/lib/defs.yaml
    printf 'kind: entity\nname: hidden\n' > .scratch/rider.yaml
    printf 'kind: entity\nname: Bad\n' > features/.draft.yaml
    run -0 --separate-stderr fs apply -q
    assert_equal "$stderr" ""
    assert_equal "$(entities)" "driver"
}

@test "definitions paths: without the key, a file with one document of a kind is read whole" {
    legacy_repo
    printf 'kind: entity\nname: rider\n---\nname: store\njoin_key: store_id\n' > features/more.yaml
    run -128 --separate-stderr fs plan
    assert_equal "$stderr" "fatal: features/more.yaml:4:1: missing 'kind'"
    # definitions anywhere but in hidden directories are still found
    printf 'kind: entity\nname: rider\n' > features/more.yaml
    mkdir -p elsewhere/deep
    printf '{"kind": "entity", "name": "store"}\n' > elsewhere/deep/store.yml
    run -0 --separate-stderr fs apply -q
    assert_equal "$stderr" ""
    assert_equal "$(entities)" "driver rider store"
}

@test "definitions paths: without the key, --no-commit ignores changes to skipped files" {
    legacy_repo
    add_tooling_yaml
    git add environment.yml
    git commit -q -m "environment"
    run -0 --separate-stderr fs apply -q
    echo '  - numpy' >> environment.yml
    run -0 --separate-stderr fs apply -q --no-commit
    assert_equal "$stderr" "warning: skipped YAML files without 'kind' (not definitions): docker-compose.yml, environment.yml
$HINT"
    # a committed file that is no definition is never deleted from git
    run -0 git ls-files environment.yml
    assert_output environment.yml
}

# ---- definitions: ----

@test "definitions paths: fs init writes definitions: [features] and its sample applies" {
    init_repo
    run -0 grep -c '^definitions: \[features\]' fs.yaml
    assert_output 1
    run -1 grep -F 'DESIGN' fs.yaml
    run -0 grep -F 'fs.yaml(5)' fs.yaml
    add_tooling_yaml
    run -0 --separate-stderr fs apply
    assert_equal "$stderr" ""
    assert_line "Applied registry version 1 (commit $(git rev-parse --short=12 HEAD))."
    assert_equal "$(entities)" "driver"
    run -0 fs ls
    assert_equal "${#lines[@]}" 7
}

@test "definitions paths: files outside the listed paths are ignored silently" {
    init_repo
    add_tooling_yaml
    printf 'kind: entity\nname: rider\n' > models.yaml
    mkdir -p k8s
    printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\n' > k8s/api.yaml
    run -0 --separate-stderr fs apply -q
    assert_equal "$stderr" ""
    assert_equal "$(entities)" "driver"
    run -0 git status --porcelain
    assert_output "?? .github/
?? docker-compose.yml
?? environment.yml
?? k8s/
?? models.yaml"
}

@test "definitions paths: a file without kind under the listed paths is an error" {
    init_repo
    fs apply -q
    printf '# notes\nname: notes\nowner: ada\n' > features/notes.yaml
    run -128 --separate-stderr fs plan
    assert_equal "$stderr" "fatal: features/notes.yaml:2:1: missing 'kind'"
    run -128 --separate-stderr fs apply
    assert_equal "$stderr" "fatal: features/notes.yaml:2:1: missing 'kind'"
    run -0 git status --porcelain
    assert_output "?? features/notes.yaml"
}

@test "definitions paths: files, directories and globs select the definitions" {
    init_repo
    mkdir -p features/a/b features/.scratch services/pay/defs services/ride/defs/x
    printf 'kind: entity\nname: rider\n' > features/a/b/rider.yaml
    printf 'kind: entity\nname: Bad\n' > features/a/skipped.yml
    printf 'kind: entity\nname: Bad\n' > features/.scratch/draft.yaml
    printf 'kind: entity\nname: payer\n' > services/pay/defs/payer.yml
    printf 'kind: entity\nname: car\n' > services/ride/defs/x/car.yaml
    printf 'kind: entity\nname: shop\n' > models.yml
    printf 'kind: entity\nname: Bad\n' > other.yaml
    set_definitions '["features/**/*.yaml", models.yml, "services/*/defs"]'
    run -0 --separate-stderr fs apply -q
    assert_equal "$stderr" ""
    assert_equal "$(entities)" "car driver payer rider shop"
    run -0 git ls-files
    assert_output ".gitignore
data/driver_stats.csv
data/driver_trips.csv
features/a/b/rider.yaml
features/driver.yaml
fs.yaml
models.yml
services/pay/defs/payer.yml
services/ride/defs/x/car.yaml"
    # a hidden name is read when an entry spells it out
    set_definitions '[features/driver.yaml, ./features/.scratch/]'
    run -128 --separate-stderr fs plan
    assert_equal "$stderr" "fatal: features/.scratch/draft.yaml:2:7: entity 'Bad': bad name (lowercase letters, digits and '_', not starting with a digit)"
}

@test "definitions paths: an entry that matches nothing is an error naming it" {
    init_repo
    fs apply -q
    local before
    before=$(registry_dump)
    set_definitions '[features, featurs, "defs/*.yml"]'
    run -128 --separate-stderr fs plan
    assert_output ""
    assert_equal "$stderr" "error: fs.yaml:15:25: definitions: 'featurs' matches no .yaml or .yml file
error: fs.yaml:15:34: definitions: 'defs/*.yml' matches no .yaml or .yml file
fatal: 2 errors in definitions"
    run -128 --separate-stderr fs apply
    assert_equal "$stderr" "error: fs.yaml:15:25: definitions: 'featurs' matches no .yaml or .yml file
error: fs.yaml:15:34: definitions: 'defs/*.yml' matches no .yaml or .yml file
fatal: 2 errors in definitions"
    assert_equal "$(registry_dump)" "$before"
    # a directory without YAML files, a file that is not YAML: nothing either
    mkdir -p empty
    touch empty/README
    set_definitions '[features, empty, data/driver_stats.csv]'
    run -128 --separate-stderr fs plan
    assert_equal "$stderr" "error: fs.yaml:15:25: definitions: 'empty' matches no .yaml or .yml file
error: fs.yaml:15:32: definitions: 'data/driver_stats.csv' matches no .yaml or .yml file
fatal: 2 errors in definitions"
}

@test "definitions paths: a bad definitions value is reported at its place in fs.yaml" {
    init_repo
    set_definitions 'features'
    run -128 --separate-stderr fs plan
    assert_equal "$stderr" "fatal: fs.yaml:15:14: 'definitions' must be a list, not a scalar"
    # fs.yaml is checked by every command
    run -128 --separate-stderr fs ls
    assert_equal "$stderr" "fatal: fs.yaml:15:14: 'definitions' must be a list, not a scalar"
    set_definitions '[]'
    run -128 --separate-stderr fs plan
    assert_equal "$stderr" "fatal: fs.yaml:15:14: 'definitions' must not be empty: list the directories and files that hold the definitions, or remove the key"
    set_definitions '[features, {dir: x}, /abs, ../up, "a**/*.yaml", [x]]'
    run -128 --separate-stderr fs apply
    assert_output ""
    assert_equal "$stderr" "error: fs.yaml:15:25: items of 'definitions' must be strings, not a mapping
error: fs.yaml:15:35: definitions: '/abs' is not relative to the repository root
error: fs.yaml:15:41: definitions: '../up' is outside the repository
error: fs.yaml:15:48: definitions: 'a**/*.yaml': '**' must be a whole path component
error: fs.yaml:15:62: items of 'definitions' must be strings, not a list
fatal: 5 errors in definitions"
    run -0 git rev-list --count HEAD
    assert_output 1
}

@test "definitions paths: a bad definitions value reads no definitions" {
    init_repo
    printf 'kind: entity\nname: Bad\n' > stray.yaml
    set_definitions 'features'
    run -128 --separate-stderr fs plan
    assert_equal "$stderr" "fatal: fs.yaml:15:14: 'definitions' must be a list, not a scalar"
    # another problem of fs.yaml: the definitions it lists are still checked
    set_definitions '[features]'
    sed -i 's/^registry:/registy:/' fs.yaml
    sed -i '0,/entities: \[driver\]/s//entities: [drivr]/' features/driver.yaml
    run -128 --separate-stderr fs plan
    assert_equal "$stderr" "error: features/driver.yaml:19:12: feature_view 'driver_hourly_stats': unknown entity 'drivr' (did you mean 'driver'?)
error: fs.yaml:3:1: unknown key 'registy' (did you mean 'registry'?)
fatal: 2 errors in definitions"
}

# ---- --rev ----

@test "definitions paths: apply --rev uses the selection of that commit's fs.yaml" {
    init_repo
    printf 'kind: entity\nname: rider\n' > extra.yaml
    add_tooling_yaml
    git add extra.yaml environment.yml
    git commit -q -m "extra.yaml, outside features"
    local first second
    first=$(git rev-parse HEAD)
    set_definitions '[features, extra.yaml]'
    git commit -q -am "definitions: extra.yaml too"
    second=$(git rev-parse HEAD)
    # the working tree says otherwise: --rev does not read it
    set_definitions '[featurs]'
    run -0 --separate-stderr fs apply --rev "$first" -q
    assert_equal "$stderr" ""
    assert_equal "$(entities)" "driver"
    run -0 --separate-stderr fs plan --rev "$second"
    assert_output "+ entity rider

1 to add, 0 to change, 0 to delete."
    run -0 fs apply --rev "$second" -q
    assert_equal "$(entities)" "driver rider"
    # a commit whose fs.yaml has no definitions: skips files without kind, and says so
    sed -i '/^definitions:/d' fs.yaml
    git commit -q -am "no definitions key"
    run -0 --separate-stderr fs plan --rev HEAD
    assert_output "No changes."
    assert_equal "$stderr" "warning: skipped YAML files without 'kind' (not definitions): environment.yml
$HINT"
    # and an entry of that commit matching nothing is reported
    printf 'definitions: [features, nowhere]\n' >> fs.yaml
    git commit -q -am "definitions: nowhere"
    git checkout -q HEAD~1 -- fs.yaml
    run -128 --separate-stderr fs apply --rev HEAD
    assert_equal "$stderr" "fatal: fs.yaml:15:25: definitions: 'nowhere' matches no .yaml or .yml file"
    assert_equal "$(entities)" "driver rider"
}
