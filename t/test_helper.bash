# Common setup for the bats tests: load bats-support/bats-assert, give each
# test a private HOME and working directory, and a known git identity.
#
#   load test_helper
#
# $FS is the fs binary under test (set by meson, or by t/run).

bats_require_minimum_version 1.5.0

bats_load_library bats-support 2>/dev/null || load /usr/lib/bats/bats-support/load
bats_load_library bats-assert 2>/dev/null || load /usr/lib/bats/bats-assert/load

: "${FS:?FS must point at the fs binary (run the tests through meson test or t/run)}"
FS_SOURCE_ROOT=${FS_SOURCE_ROOT:-$(cd "$BATS_TEST_DIRNAME/.." && pwd)}

fs() { "$FS" "$@"; }

common_setup() {
    export HOME="$BATS_TEST_TMPDIR/home"
    mkdir -p "$HOME"
    export GIT_CONFIG_NOSYSTEM=1
    git config --global user.name "Test User"
    git config --global user.email "test@example.com"
    git config --global init.defaultBranch main
    unset FS_REGISTRY FS_ONLINE_PATH FS_REDIS_URL FS_REDIS_CLUSTER FS_POSTGRES_DSN
    unset GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL
    export FS_HELP_NO_MAN=1
    cd "$BATS_TEST_TMPDIR"
}

setup() { common_setup; }

# A fresh repo from `fs init` in $BATS_TEST_TMPDIR/repo, cwd inside it.
init_repo() {
    "$FS" init -q repo
    cd repo
}

# Registry contents as text, to prove a failed command changed nothing.
registry_dump() {
    local db=${1:-.fs/registry.db}
    [ -f "$db" ] || { echo "no registry"; return; }
    sqlite3 "$db" "SELECT 'apply', version, git_commit, summary FROM applies ORDER BY version;
                   SELECT 'obj', kind, name, version, spec FROM objects ORDER BY kind, name;"
}

# assert_aligned OFFSET...: on every line of $output a column starts at
# each OFFSET (a space before it, a non-space at it): the columns of a
# table line up whatever the length of its cells.
assert_aligned() {
    local line off
    for line in "${lines[@]}"; do
        for off in "$@"; do
            [ "${line:off-1:1}" = ' ' ] && [ -n "${line:off:1}" ] && [ "${line:off:1}" != ' ' ] ||
                fail "no column starts at offset $off on '$line':
$output"
        done
    done
}

# The offset of the first $2 in $1 (-1 if none).
offset_of() {
    local rest=${1%%"$2"*}
    [ "$rest" = "$1" ] && echo -1 || echo "${#rest}"
}
