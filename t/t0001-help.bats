#!/usr/bin/env bats
# Help, usage errors and documentation: every command answers -h, its
# synopsis matches its page in Documentation/, and the completion helper
# lists the options that -h shows (git's t0012-help and t0450).

load test_helper

# The usage lines of `fs CMD -h`: up to the first blank line, without the
# "usage: " and "   or: " prefixes (continuation lines are kept as they are).
usage_of() {
    "$FS" "$1" -h | awk '/^$/ { exit } { sub(/^usage: /, ""); sub(/^   or: /, ""); print }'
}

# The [verse] block of the SYNOPSIS section of an .adoc page.
synopsis_of() {
    awk '/^== / { in_syn = ($0 == "== SYNOPSIS"); next }
         in_syn && /^\[verse\]$/ { verse = 1; next }
         verse && /^$/ { exit }
         verse { print }' "$1"
}

# The long options that `fs CMD -h` shows, one a line, sorted, with "="
# after those taking an argument: what --fs-completion-helper must print.
long_options_of() {
    "$FS" "$1" -h | sed -n 's/^ *\(-., \)\{0,1\}\(--[a-z-]*\)\( <[^>]*>\)\{0,1\}.*/\2\3/p' |
        sed 's/ <.*/=/' | sort
}

commands() { "$FS" --list-cmds; }

@test "help: --list-cmds names the commands, one a line" {
    run -0 --separate-stderr fs --list-cmds
    assert_equal "$stderr" ""
    for c in apply describe help init log ls plan version; do
        assert_line "$c"
    done
    # sorted and without duplicates, as the command table is
    assert_equal "$output" "$(printf '%s\n' "${lines[@]}" | LC_ALL=C sort -u)"
}

@test "help: every command answers -h on stdout with exit 0, outside a repository" {
    mkdir outside
    cd outside
    for c in $(commands); do
        run -0 --separate-stderr fs "$c" -h
        assert_equal "$stderr" ""
        [[ "${lines[0]}" == "usage: fs $c"* ]] || fail "fs $c -h: first line is '${lines[0]}'"
        run -0 --separate-stderr fs "$c" --help
        assert_equal "$stderr" ""
        [[ "${lines[0]}" == "usage: fs $c"* ]] || fail "fs $c --help: first line is '${lines[0]}'"
    done
    # -h needs no repository and creates nothing
    assert_equal "$(ls -A)" ""
}

@test "help: help and version written to a full disk fail with exit 128, saying so" {
    [ -w /dev/full ] || skip "no /dev/full"
    local c
    for c in "-h" "--version" "--list-cmds" "help" "version"; do
        run -128 --separate-stderr sh -c '"$0" "$1" > /dev/full' "$FS" "$c"
        assert_equal "$stderr" "fatal: unable to write to stdout: No space left on device"
    done
    for c in $(commands); do
        run -128 --separate-stderr sh -c '"$0" "$1" -h > /dev/full' "$FS" "$c"
        assert_equal "$stderr" "fatal: unable to write to stdout: No space left on device"
    done
}

@test "help: fs help CMD prints the usage of fs CMD -h" {
    for c in $(commands); do
        expected=$("$FS" "$c" -h)
        run -0 --separate-stderr fs help "$c"
        assert_equal "$stderr" ""
        assert_equal "$output" "$expected"
    done
}

@test "help: fs help definitions and fs help fs.yaml print the file-format pages, built in" {
    cd "$BATS_TEST_TMPDIR"
    run -0 --separate-stderr fs help definitions
    assert_equal "$stderr" ""
    assert_equal "$output" "$(cat "$FS_SOURCE_ROOT/Documentation/fs-definitions.adoc")"
    run -0 --separate-stderr fs help fs.yaml
    assert_equal "$output" "$(cat "$FS_SOURCE_ROOT/Documentation/fs.yaml.adoc")"
    run -1 --separate-stderr fs help definition
    [[ "$stderr" == *"'definition' is not an fs command"* ]] || fail "$stderr"
}

@test "help: fs help, fs -h and fs --help list every command" {
    run -0 --separate-stderr fs help
    assert_equal "$stderr" ""
    help_output=$output
    assert_equal "${lines[0]}" "usage: fs [-C <path>] [-P | --no-pager] [--version] [--help] <command> [<args>]"
    for c in $(commands); do
        assert_line --regexp "^   $c +[A-Z][a-z]"
    done
    run -0 fs -h
    assert_equal "$output" "$help_output"
    run -0 fs --help
    assert_equal "$output" "$help_output"
}

@test "help: fs help names the closest command for an unknown one" {
    run -1 --separate-stderr fs help aply
    assert_equal "$output" ""
    assert_equal "$stderr" "fs: 'aply' is not an fs command. See 'fs --help'.

The most similar command is
	apply"
}

@test "help: fs help takes one command at most" {
    run -129 --separate-stderr fs help apply plan
    assert_equal "$output" ""
    assert_equal "$stderr" "error: too many arguments
usage: fs help [<command>|definitions|fs.yaml]

    -q, --quiet             print nothing on stdout (errors still go to stderr)"
}

@test "help: an unknown option prints the error and the usage on stderr, exit 129" {
    init_repo
    for c in $(commands); do
        usage=$("$FS" "$c" -h)
        run -129 --separate-stderr fs "$c" --bogus
        assert_equal "$output" ""
        assert_equal "$stderr" "error: unknown option 'bogus'
$usage"
    done
}

@test "help: every command has a page, and every page a command" {
    local doc=$FS_SOURCE_ROOT/Documentation
    [ -f "$doc/fs.adoc" ] || fail "no Documentation/fs.adoc"
    for c in $(commands); do
        [ -f "$doc/fs-$c.adoc" ] || fail "fs $c has no page Documentation/fs-$c.adoc"
    done
    for page in "$doc"/fs-*.adoc; do
        grep -qx '= .*(1)' "$page" || continue # fs-definitions(5): a file format
        c=$(basename "$page" .adoc)
        c=${c#fs-}
        "$FS" --list-cmds | grep -qx -- "$c" || fail "Documentation/fs-$c.adoc: no command '$c'"
    done
}

@test "help: fs.adoc lists every command, and only commands" {
    local listed
    listed=$(sed -n '/^== COMMANDS$/,/^== /s/^fs-\(.*\)(1)::$/\1/p' \
        "$FS_SOURCE_ROOT/Documentation/fs.adoc")
    assert_equal "$listed" "$(commands)"
}

@test "help: every page is built into a man page by meson" {
    # doc_pages in the top meson.build lists every page, and only pages
    local pages listed
    pages=$(cd "$FS_SOURCE_ROOT/Documentation" && ls *.adoc | sed 's/\.adoc$//' | sort)
    listed=$(sed -n '/^doc_pages *=/,/\]/p' "$FS_SOURCE_ROOT/meson.build" |
        grep -o "'[^']*'" | tr -d "'" | sort)
    assert_equal "$listed" "$pages"
}

@test "help: the SYNOPSIS of each page is the usage of fs CMD -h" {
    local doc=$FS_SOURCE_ROOT/Documentation
    for c in $(commands); do
        expected=$(usage_of "$c")
        [ -n "$expected" ] || fail "fs $c -h prints no usage"
        actual=$(synopsis_of "$doc/fs-$c.adoc")
        [ "$actual" = "$expected" ] ||
            fail "Documentation/fs-$c.adoc: SYNOPSIS differs from 'fs $c -h':
--- page
$actual
--- fs $c -h
$expected"
    done
}

@test "help: the SYNOPSIS of fs.adoc is the usage of fs -h" {
    expected=$("$FS" -h | sed -n '1s/^usage: //p')
    assert_equal "$(synopsis_of "$FS_SOURCE_ROOT/Documentation/fs.adoc")" "$expected"
}

@test "help: --fs-completion-helper lists the long options, = for those taking a value" {
    run -0 --separate-stderr fs apply --fs-completion-helper
    assert_equal "$stderr" ""
    assert_equal "${#lines[@]}" 1
    words=" $output "
    [[ "$words" == *" --rev= "* ]] || fail "no --rev= in '$output'"
    [[ "$words" == *" --json "* ]] || fail "no --json in '$output'"
    [[ "$words" != *" --json= "* ]] || fail "--json takes no value: '$output'"
    [[ "$words" == *" --message= "* ]] || fail "no --message= in '$output'"
    for c in $(commands); do
        run -0 fs "$c" --fs-completion-helper
        expected=$(long_options_of "$c")
        # Every command takes -q, but the -h of a command without options
        # (fs help) prints no option list at all, -q included.
        [ -n "$expected" ] || output=${output/--quiet /}
        assert_equal "$(printf '%s\n' $output | sort)" "$expected"
    done
}
