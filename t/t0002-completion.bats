#!/usr/bin/env bats
# Shell completion: completions/fs.bash asks the binary (--list-cmds,
# --fs-completion-helper, fs ls) rather than keeping lists of its own;
# completions/_fs is the zsh version.

load test_helper

setup() {
    common_setup
    # the completion runs `fs` from PATH, as a user's shell would
    mkdir -p "$BATS_TEST_TMPDIR/bin"
    ln -s "$FS" "$BATS_TEST_TMPDIR/bin/fs"
    export PATH="$BATS_TEST_TMPDIR/bin:$PATH"
}

# complete_fs WORD... : the candidates, one a line, that the bash completion
# offers for the last word of the command line "WORD...", in a fresh bash.
complete_fs() {
    bash -c '
        source "$1" || exit 99
        shift
        COMP_WORDS=("$@")
        COMP_CWORD=$(($# - 1))
        COMP_LINE="$*"
        COMP_POINT=${#COMP_LINE}
        _fs || exit 98
        [ ${#COMPREPLY[@]} -eq 0 ] || printf "%s\n" "${COMPREPLY[@]}"
    ' complete_fs "$FS_SOURCE_ROOT/completions/fs.bash" "$@"
}

applied_repo() {
    "$FS" init -q repo
    (cd repo && "$FS" apply -q)
}

@test "completion: sourcing fs.bash registers the completion of fs" {
    run -0 bash -c 'source "$1" && complete -p fs' bash "$FS_SOURCE_ROOT/completions/fs.bash"
    assert_output "complete -o bashdefault -o default -F _fs fs"
}

@test "completion: commands come from fs --list-cmds" {
    run -0 --separate-stderr complete_fs fs ap
    assert_equal "$stderr" ""
    assert_output "apply"
    run -0 complete_fs fs materialize
    assert_output "materialize
materialize-incremental"
    run -0 complete_fs fs ""
    assert_output "$("$FS" --list-cmds)"
    run -0 complete_fs fs nosuch
    assert_output ""
}

@test "completion: a command's long options, with = on those taking a value" {
    run -0 --separate-stderr complete_fs fs apply --r
    assert_equal "$stderr" ""
    assert_output "--rev="
    run -0 complete_fs fs apply --js
    assert_output "--json"
    run -0 complete_fs fs plan --e
    assert_output "--exit-code"
    # all of them: exactly what the binary lists
    run -0 complete_fs fs apply --
    assert_output "$(printf '%s\n' $("$FS" apply --fs-completion-helper))"
}

@test "completion: global options and the directory after -C" {
    mkdir dir1 dir2
    touch dfile
    run -0 complete_fs fs -C d
    assert_output "dir1
dir2"
    run -0 complete_fs fs --ver
    assert_output "--version"
    run -0 complete_fs fs --list
    assert_output "--list-cmds"
    run -0 complete_fs fs --no
    assert_output "--no-pager"
    # after it, still the commands
    run -0 complete_fs fs --no-pager l
    assert_output "log
ls"
}

@test "completion: kinds as the first argument of ls and describe" {
    run -0 complete_fs fs ls ""
    assert_output "entity
source
feature_view
feature_service
model"
    run -0 complete_fs fs describe feature_
    assert_output "feature_view
feature_service"
    run -0 complete_fs fs describe --json e
    assert_output "entity"
}

@test "completion: registered names as the second argument of describe" {
    applied_repo
    cd repo
    run -0 --separate-stderr complete_fs fs describe entity ""
    assert_equal "$stderr" ""
    assert_output "driver"
    run -0 complete_fs fs describe feature_view ""
    assert_output "driver_hourly_stats
driver_trip_stats"
    run -0 complete_fs fs describe source d
    assert_output "driver_stats
driver_trips"
    run -0 complete_fs fs describe model x
    assert_output ""
    # nothing after the name
    run -0 complete_fs fs describe entity driver ""
    assert_output ""
}

@test "completion: names come from the repository named by -C" {
    applied_repo
    run -0 complete_fs fs -C repo describe entity ""
    assert_output "driver"
    mkdir elsewhere
    cd elsewhere
    run -0 complete_fs fs -C ../repo describe feature_service ""
    assert_output "driver_activity_v1"
}

@test "completion: no names and no errors outside a repository" {
    run -0 --separate-stderr complete_fs fs describe entity ""
    assert_equal "$stderr" ""
    assert_output ""
}

@test "completion: names are those registered, not those of the working tree" {
    applied_repo
    cd repo
    sed -i 's/^name: driver$/name: chauffeur/; s/entities: \[driver\]/entities: [chauffeur]/' \
        features/driver.yaml
    run -0 complete_fs fs describe entity ""
    assert_output "driver"
    "$FS" apply -q
    run -0 complete_fs fs describe entity ""
    assert_output "chauffeur"
}

@test "completion: fs help completes commands, fs log registered names" {
    applied_repo
    cd repo
    run -0 complete_fs fs help pl
    assert_output "plan"
    run -0 complete_fs fs log driver_
    assert_output "driver_stats
driver_trips
driver_hourly_stats
driver_trip_stats
driver_activity_v1"
}

@test "completion: the value of an option is left to file completion" {
    applied_repo
    cd repo
    # "--entities=ro": bash splits the word at '='
    run -0 complete_fs fs get-historical --entities = ro
    assert_output ""
    run -0 complete_fs fs get-historical --output HE
    assert_output ""
    # --rev is the exception: fs knows its values are revisions
    run -0 complete_fs fs apply --rev = HE
    assert_output "HEAD"
    # an option's value is not taken for the kind
    run -0 complete_fs fs describe --json entity ""
    assert_output "driver"
}

@test "completion: the zsh completion parses" {
    command -v zsh >/dev/null || skip "zsh is not installed"
    run -0 zsh -n "$FS_SOURCE_ROOT/completions/_fs"
    assert_output ""
    run -0 head -1 "$FS_SOURCE_ROOT/completions/_fs"
    assert_output "#compdef fs"
}

@test "completion: -f of get-online and get-historical offers views and feature services" {
    applied_repo
    cd repo
    run -0 complete_fs fs get-online -f d
    assert_output "driver_hourly_stats
driver_trip_stats
driver_activity_v1"
    run -0 complete_fs fs get-historical --entities rows.csv -f driver_a
    assert_output "driver_activity_v1"
}

@test "completion: -v of materialize offers views, its times now-style values" {
    applied_repo
    cd repo
    run -0 complete_fs fs materialize -v ""
    assert_output "driver_hourly_stats
driver_trip_stats"
    run -0 complete_fs fs materialize-incremental n
    assert_output "now"
    run -0 complete_fs fs materialize now-1
    assert_output --partial "now-1h"
}

@test "completion: --at of get-online offers now-style times" {
    applied_repo
    cd repo
    run -0 complete_fs fs get-online --a
    assert_output "--at="
    run -0 complete_fs fs get-online -f driver_trip_stats --at now-1
    assert_output "now-1h
now-1d"
    # "--at=n": bash splits the word at '='
    run -0 complete_fs fs get-online --at = n
    assert_output "now
now-1h
now-1d"
}

@test "completion: --rev of plan offers git revisions" {
    applied_repo
    cd repo
    run -0 complete_fs fs plan --rev ma
    assert_output "main"
}

@test "completion: models get completes its own options, alias and models get complete model names" {
    applied_repo
    cd repo
    run -0 complete_fs fs models get eta@production --
    assert_output "$(printf '%s\n' $("$FS" models get --fs-completion-helper))"
    run -0 complete_fs fs models get --fo
    assert_output "--force"
    run -0 complete_fs fs models get --out
    assert_output "--output="
    # fs models itself keeps its own options
    run -0 complete_fs fs models --a
    assert_output "--at="
    run -0 complete_fs fs models g
    assert_output "get"
    run -0 complete_fs fs models get e
    assert_output "eta"
    run -0 complete_fs fs alias e
    assert_output "eta"
    run -0 complete_fs fs alias --
    assert_output "$(printf '%s\n' $("$FS" alias --fs-completion-helper))"
}
