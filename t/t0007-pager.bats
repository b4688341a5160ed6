#!/usr/bin/env bats
# The pager, as git's: on a terminal the long output of log, ls, describe,
# models, plan and help goes through $FS_PAGER, else $PAGER, else less
# (LESS=FRX when unset); "cat" or empty means none; fs --no-pager and -P
# turn it off; never when stdout is not a terminal. The terminal is
# util-linux script(1)'s.

load test_helper

setup() {
    common_setup
    command -v script >/dev/null || skip "no script(1) for a terminal"
    unset PAGER FS_PAGER LESS
    init_repo
    fs apply -q -m "first apply"
}

# Run the shell command $1 on a terminal, in the repository; its output
# without the terminal's carriage returns in $output, its status in $status.
on_tty() {
    run script -qec "$1" /dev/null
    output=${output//$'\r'/}
    lines=()
    [ -z "$output" ] || mapfile -t lines <<< "$output"
}

PAGER_SED="FS_PAGER='sed s/^/PAGED:/'"

@test "pager: log on a terminal goes through FS_PAGER, line by line" {
    on_tty "$PAGER_SED '$FS' log --oneline"
    assert_success
    assert_output "PAGED:v1 $(git rev-parse --short=12 HEAD) first apply"
    on_tty "$PAGER_SED '$FS' log"
    assert_success
    assert_line --index 0 "PAGED:registry version 1"
    # every line
    refute_line --regexp '^[^P]'
}

@test "pager: --no-pager and -P, before the command, turn it off" {
    on_tty "$PAGER_SED '$FS' --no-pager log --oneline"
    assert_success
    assert_output "v1 $(git rev-parse --short=12 HEAD) first apply"
    on_tty "$PAGER_SED '$FS' -P log --oneline"
    assert_output "v1 $(git rev-parse --short=12 HEAD) first apply"
    on_tty "$PAGER_SED '$FS' -C . -P ls"
    refute_output --partial "PAGED:"
    assert_line --index 0 --regexp '^entity +driver +v1$'
    # after the command it is not a global option
    on_tty "$PAGER_SED '$FS' log --no-pager"
    assert_failure 129
}

@test "pager: never when stdout is not a terminal" {
    FS_PAGER='sed s/^/PAGED:/' run -0 fs log --oneline
    assert_output "v1 $(git rev-parse --short=12 HEAD) first apply"
    on_tty "$PAGER_SED '$FS' log --oneline | cat"
    assert_output "v1 $(git rev-parse --short=12 HEAD) first apply"
    on_tty "$PAGER_SED '$FS' ls > ls.out"
    assert_output ""
    run -0 grep -c '^entity  *driver  *v1$' ls.out
    assert_output 1
    run -1 grep PAGED ls.out
}

@test "pager: PAGER when FS_PAGER is unset; cat or an empty value is none" {
    on_tty "PAGER='sed s/^/P:/' '$FS' log --oneline"
    assert_output "P:v1 $(git rev-parse --short=12 HEAD) first apply"
    on_tty "PAGER='sed s/^/P:/' $PAGER_SED '$FS' log --oneline"
    assert_output "PAGED:v1 $(git rev-parse --short=12 HEAD) first apply"
    on_tty "PAGER='sed s/^/P:/' FS_PAGER=cat '$FS' log --oneline"
    assert_output "v1 $(git rev-parse --short=12 HEAD) first apply"
    on_tty "PAGER='sed s/^/P:/' FS_PAGER= '$FS' log --oneline"
    assert_output "v1 $(git rev-parse --short=12 HEAD) first apply"
    on_tty "PAGER=cat '$FS' log --oneline"
    assert_output "v1 $(git rev-parse --short=12 HEAD) first apply"
}

@test "pager: LESS=FRX for the pager when LESS is unset, as git" {
    on_tty "FS_PAGER='cat > /dev/null; echo \"LESS=\$LESS\"' '$FS' ls"
    assert_output "LESS=FRX"
    on_tty "LESS=-S FS_PAGER='cat > /dev/null; echo \"LESS=\$LESS\"' '$FS' ls"
    assert_output "LESS=-S"
}

@test "pager: ls, describe, models, models log, plan and help page; status, apply and -h do not" {
    fs register-model eta --artifact fs.yaml -q
    local c
    for c in "ls" "describe entity driver" "models" "models log eta" "plan" "help" "help log"; do
        on_tty "$PAGER_SED '$FS' $c"
        assert_success
        assert_line --index 0 --regexp '^PAGED:' || fail "fs $c: not paged"
    done
    for c in "status" "apply" "log -h" "version"; do
        on_tty "$PAGER_SED '$FS' $c"
        assert_success
        refute_output --partial "PAGED:"
    done
}

@test "pager: an error on the terminal goes through the pager too, the exit status kept" {
    on_tty "$PAGER_SED '$FS' describe entity nope"
    assert_failure 128
    assert_output "PAGED:fatal: no entity 'nope' is registered"
    # stderr that is not the terminal is left alone
    on_tty "$PAGER_SED '$FS' describe entity nope 2> err.out"
    assert_failure 128
    assert_output ""
    assert_equal "$(cat err.out)" "fatal: no entity 'nope' is registered"
}

@test "pager: fs waits for the pager to finish before it exits" {
    on_tty "FS_PAGER='cat > /dev/null; sleep 1; echo done > pager.done' '$FS' log"
    assert_success
    [ -f pager.done ] || fail "fs exited before its pager"
}
