#!/usr/bin/env bats
# Long options by an unambiguous prefix, as git's parse-options takes them
# (--mess for --message); an ambiguous prefix is a usage error naming the
# candidates. The exact name winning over a longer option it starts is
# checked in t/unit/test-parse-options.c (no command has such a pair).

load test_helper

@test "parse-options: an unambiguous prefix stands for the long option" {
    init_repo
    run -0 fs apply --mess "first apply"
    assert_line "Applied registry version 1 (commit $(git rev-parse --short=12 HEAD))."
    run -0 --separate-stderr fs log --onel --max=1
    assert_output "v1 $(git rev-parse --short=12 HEAD) first apply"
}

@test "parse-options: a prefix takes its value after = or as the next argument" {
    init_repo
    fs apply -q
    run -0 --separate-stderr fs register-model eta --art fs.yaml --metr auc=0.9 --mes=trained
    run -0 --separate-stderr fs models eta --js
    assert_equal "$(jq -r '.versions[0].description' <<< "$output")" "trained"
    assert_equal "$(jq -r '.versions[0].metrics.auc' <<< "$output")" "0.9"
}

@test "parse-options: an ambiguous prefix is a usage error naming the candidates" {
    init_repo
    fs apply -q
    run -129 --separate-stderr fs register-model eta --artifact fs.yaml --me x
    assert_output ""
    assert_equal "${stderr_lines[0]}" "error: ambiguous option: me (could be --metric or --message)"
    assert_equal "${stderr_lines[1]}" "usage: fs register-model <name> --artifact <path|url> [--metric <key=value>]..."
    run -129 --separate-stderr fs get-historical --f x
    assert_equal "${stderr_lines[0]}" "error: ambiguous option: f (could be --features, --full-feature-names or --format)"
    # nothing was registered
    run -0 --separate-stderr fs models --json
    assert_output '{
  "versions": []
}'
}

@test "parse-options: the --quiet of every command has prefixes too" {
    init_repo
    run -0 --separate-stderr fs ls --qui
    assert_output ""
    run -129 --separate-stderr fs ls --quiet=yes
    assert_equal "${stderr_lines[0]}" "error: option 'quiet' takes no value"
}

@test "parse-options: a prefix of no option is still unknown, and -- ends the options" {
    init_repo
    run -129 --separate-stderr fs ls --jsonx
    assert_equal "${stderr_lines[0]}" "error: unknown option 'jsonx'"
    run -128 --separate-stderr fs describe entity -- --js
    assert_equal "$stderr" "fatal: no entity '--js' is registered"
}

@test "parse-options: completion lists the full names, not prefixes" {
    run -0 --separate-stderr fs apply --fs-completion-helper
    assert_output "--message= --rev= --no-commit --force --json --quiet "
}
