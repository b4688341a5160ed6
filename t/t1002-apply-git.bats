#!/usr/bin/env bats
# fs apply, git side: committing dirty definitions, --no-commit, --rev,
# authors, a feature repo inside a larger git repository.

load test_helper

DEFS=features/driver.yaml

set_ttl() { sed -i "s/^ttl: .*/ttl: $1/" "$DEFS"; }

add_customer() {
    printf 'kind: entity\nname: customer\njoin_key: customer_id\ntype: string\n' \
        > features/customer.yaml
}

# The files a commit changed, with their status letter.
commit_files() { git show --name-status --format= "${1:-HEAD}"; }

recorded_commit() {
    sqlite3 .fs/registry.db "SELECT git_commit FROM applies ORDER BY version DESC LIMIT 1"
}

@test "apply: commits dirty definitions through libgit2" {
    init_repo
    fs apply -q
    local before
    before=$(git rev-parse HEAD)
    set_ttl 2d
    run -0 fs apply
    local head
    head=$(git rev-parse HEAD)
    assert_output "~ feature_view driver_hourly_stats: ttl
[main ${head:0:12}] fs apply: ~feature_view driver_hourly_stats
Applied registry version 2 (commit ${head:0:12})."
    assert_equal "$(git rev-parse HEAD~1)" "$before"
    run -0 commit_files
    assert_output "M	features/driver.yaml"
    run -0 git show HEAD:features/driver.yaml
    assert_line "ttl: 2d"
    # index and work tree agree with the new commit
    run -0 git status --porcelain
    assert_output ""
    assert_equal "$(recorded_commit)" "$head"
}

@test "apply: the generated commit message summarizes the changes" {
    init_repo
    fs apply -q
    set_ttl 2d
    add_customer
    fs apply -q
    run -0 git log -1 --format=%B
    assert_output "fs apply: +entity customer, ~feature_view driver_hourly_stats"
    run -0 sqlite3 .fs/registry.db "SELECT summary FROM applies WHERE version = 2"
    assert_output "fs apply: +entity customer, ~feature_view driver_hourly_stats"
}

@test "apply: -m is the commit message and the log summary" {
    init_repo
    fs apply -q
    set_ttl 2d
    run -0 fs apply -m "longer history for trips"
    assert_line --regexp '^\[main [0-9a-f]{12}\] longer history for trips$'
    run -0 git log -1 --format=%s
    assert_output "longer history for trips"
    run -0 fs log
    assert_line --index 4 "    longer history for trips"
    run -0 fs log --json
    run -0 python3 -c 'import json,sys; print(json.load(sys.stdin)["applies"][0]["summary"])' <<<"$output"
    assert_output "longer history for trips"
}

@test "apply: commits only definition files" {
    init_repo
    fs apply -q
    echo "1001,2024-05-01T00:00:00Z" > data/extra.csv        # untracked data
    echo "# local" >> .gitignore                             # unrelated change
    echo "notes" > NOTES.txt
    git add NOTES.txt                                         # staged, not a definition
    set_ttl 2d
    add_customer
    fs apply -q
    run -0 commit_files
    assert_output "A	features/customer.yaml
M	features/driver.yaml"
    run -0 git status --porcelain
    assert_output " M .gitignore
A  NOTES.txt
?? data/extra.csv"
    run -0 git show HEAD:.gitignore
    assert_output ".fs/"
}

@test "apply: commits a changed fs.yaml even when the registry does not change" {
    init_repo
    fs apply -q
    local before
    before=$(registry_dump)
    echo "# a comment" >> fs.yaml
    run -0 fs apply
    assert_line --index 0 --regexp '^\[main [0-9a-f]{12}\] fs apply: update definitions$'
    assert_line --index 1 "No changes."
    run -0 commit_files
    assert_output "M	fs.yaml"
    run -0 git status --porcelain
    assert_output ""
    assert_equal "$(registry_dump)" "$before"
}

@test "apply: commits the deletion of a definition file" {
    init_repo
    add_customer
    fs apply -q
    run -0 git ls-tree --name-only HEAD features/
    assert_line features/customer.yaml
    rm features/customer.yaml
    run -0 fs apply
    assert_line --index 0 "- entity customer"
    run -0 commit_files
    assert_output "D	features/customer.yaml"
    run -0 git ls-tree --name-only HEAD features/
    assert_output "features/driver.yaml"
    run -0 git status --porcelain
    assert_output ""
    run -0 git log -1 --format=%s
    assert_output "fs apply: -entity customer"
}

@test "apply: a clean tree makes no commit" {
    init_repo
    local head
    head=$(git rev-parse HEAD)
    fs apply -q
    assert_equal "$(git rev-parse HEAD)" "$head"
    assert_equal "$(recorded_commit)" "$head"
    fs apply -q
    run -0 git rev-list --count HEAD
    assert_output 1
}

@test "apply: refuses a dirty tree with --no-commit" {
    init_repo
    add_customer
    fs apply -q
    set_ttl 2d
    rm features/customer.yaml
    local before head
    before=$(registry_dump)
    head=$(git rev-parse HEAD)
    run -128 --separate-stderr fs apply --no-commit
    assert_output ""
    assert_equal "$stderr" "fatal: definitions differ from HEAD (features/driver.yaml, features/customer.yaml (deleted)): commit them, or run without --no-commit"
    assert_equal "$(registry_dump)" "$before"
    assert_equal "$(git rev-parse HEAD)" "$head"
    run -0 git status --porcelain
    assert_output " D features/customer.yaml
 M features/driver.yaml"
}

@test "apply: refuses an untracked definition file with --no-commit" {
    init_repo
    fs apply -q
    add_customer
    run -128 --separate-stderr fs apply --no-commit
    assert_equal "$stderr" "fatal: definitions differ from HEAD (features/customer.yaml): commit them, or run without --no-commit"
    run -0 fs ls entity
    refute_output --partial customer
}

@test "apply: --no-commit applies a clean tree" {
    init_repo
    fs apply -q
    set_ttl 2d
    git commit -q -am "ttl 2d by hand"
    local head
    head=$(git rev-parse HEAD)
    run -0 fs apply --no-commit
    assert_output "~ feature_view driver_hourly_stats: ttl
Applied registry version 2 (commit ${head:0:12})."
    assert_equal "$(git rev-parse HEAD)" "$head"
    assert_equal "$(recorded_commit)" "$head"
}

@test "apply: --no-commit ignores changes to other files" {
    init_repo
    echo "# local" >> .gitignore
    echo "x" > data/more.csv
    run -0 fs apply --no-commit -q
    run -0 sqlite3 .fs/registry.db "SELECT count(*) FROM objects"
    assert_output 7
}

@test "apply: --rev applies an older commit without touching the working tree" {
    init_repo
    fs apply -q
    local c1
    c1=$(git rev-parse HEAD)
    set_ttl 2d
    add_customer
    fs apply -q
    local c2
    c2=$(git rev-parse HEAD)
    # a dirty working tree besides
    set_ttl 3d
    local files
    files=$(find . -path ./.git -prune -o -path ./.fs -prune -o -type f -print0 | sort -z | xargs -0 md5sum)
    run -0 fs apply --rev HEAD~1
    assert_output "- entity customer
~ feature_view driver_hourly_stats: ttl
Applied registry version 3 (commit ${c1:0:12})."
    assert_equal "$(find . -path ./.git -prune -o -path ./.fs -prune -o -type f -print0 | sort -z | xargs -0 md5sum)" "$files"
    assert_equal "$(git rev-parse HEAD)" "$c2"
    run -0 git status --porcelain
    assert_output " M features/driver.yaml"
    assert_equal "$(recorded_commit)" "$(git rev-parse HEAD~1)"
    run -0 sqlite3 .fs/registry.db "SELECT json_extract(spec, '\$.ttl') FROM objects WHERE name = 'driver_hourly_stats'"
    assert_output 86400
    run -0 fs ls entity
    assert_output --regexp '^entity +driver +v1$'
}

@test "apply: --rev takes a full commit id and applies the newer one again" {
    init_repo
    fs apply -q
    set_ttl 2d
    fs apply -q
    local c2
    c2=$(git rev-parse HEAD)
    fs apply -q --rev HEAD~1
    run -0 fs apply --rev "$c2"
    assert_line --index 0 "~ feature_view driver_hourly_stats: ttl"
    assert_line --index 1 "Applied registry version 4 (commit ${c2:0:12})."
    assert_equal "$(recorded_commit)" "$c2"
    run -0 fs apply --rev "$c2"
    assert_output "No changes."
}

@test "apply: --rev with an unknown revision exits 128" {
    init_repo
    fs apply -q
    local before
    before=$(registry_dump)
    run -128 --separate-stderr fs apply --rev no-such-branch
    assert_output ""
    assert_equal "$stderr" "fatal: unknown revision 'no-such-branch'"
    assert_equal "$(registry_dump)" "$before"
}

@test "apply: an empty -m is a usage error, as git refuses an empty message" {
    init_repo
    fs apply -q
    set_ttl 2d
    local head
    head=$(git rev-parse HEAD)
    run -129 --separate-stderr fs apply -m ""
    [[ "$stderr" == "error: empty commit message (-m)"* ]]
    run -129 fs apply -m "  "
    assert_equal "$(git rev-parse HEAD)" "$head"
    run -0 fs log --json
    run -0 python3 -c 'import json,sys; print(len(json.load(sys.stdin)["applies"]))' <<<"$output"
    assert_output 1
}

@test "apply: --rev with -m is a usage error" {
    init_repo
    run -129 --separate-stderr fs apply --rev HEAD -m "message"
    [[ "$stderr" == *"--rev applies an existing commit: -m does not apply"* ]]
    run -0 registry_dump
    refute_output --partial "apply"
}

@test "apply: the author comes from git config" {
    init_repo
    set_ttl 2d
    fs apply -q
    run -0 git log -1 --format='%an <%ae>|%cn <%ce>'
    assert_output "Test User <test@example.com>|Test User <test@example.com>"
    run -0 fs log --json
    run -0 python3 -c 'import json,sys; print(json.load(sys.stdin)["applies"][0]["author"])' <<<"$output"
    assert_output "Test User <test@example.com>"
}

@test "apply: the repository's git config overrides the global one" {
    init_repo
    git config user.name "Repo Person"
    git config user.email "repo@example.com"
    set_ttl 2d
    fs apply -q
    run -0 git log -1 --format='%an <%ae>'
    assert_output "Repo Person <repo@example.com>"
    run -0 sqlite3 .fs/registry.db "SELECT author FROM applies"
    assert_output "Repo Person <repo@example.com>"
}

@test "apply: GIT_AUTHOR_NAME and GIT_AUTHOR_EMAIL override the author" {
    init_repo
    fs apply -q
    set_ttl 2d
    GIT_AUTHOR_NAME="Ada Lovelace" GIT_AUTHOR_EMAIL="ada@example.org" run -0 fs apply -q
    run -0 git log -1 --format='%an <%ae>|%cn <%ce>'
    assert_output "Ada Lovelace <ada@example.org>|Test User <test@example.com>"
    run -0 fs log --json
    run -0 python3 -c '
import json, sys
print("\n".join(a["author"] for a in json.load(sys.stdin)["applies"]))' <<<"$output"
    assert_output "Ada Lovelace <ada@example.org>
Test User <test@example.com>"
}

@test "apply: GIT_AUTHOR_NAME applies when nothing is committed" {
    init_repo
    GIT_AUTHOR_NAME="CI Bot" GIT_AUTHOR_EMAIL="ci@example.org" run -0 fs apply -q
    run -0 sqlite3 .fs/registry.db "SELECT author FROM applies"
    assert_output "CI Bot <ci@example.org>"
}

@test "apply: works in a subdirectory of a larger git repository" {
    git init -q top
    echo "app code" > top/app.py
    git -C top add app.py
    git -C top commit -q -m "app"
    fs init -q top/features
    cd top/features
    run -0 fs apply -q
    run -0 fs ls entity
    assert_output --regexp '^entity +driver +v1$'
    set_ttl 2d
    add_customer
    echo "more" >> ../app.py
    fs apply -q
    run -0 git -C .. show --name-status --format=%s HEAD
    assert_output "fs apply: +entity customer, ~feature_view driver_hourly_stats

A	features/features/customer.yaml
M	features/features/driver.yaml"
    run -0 git -C .. status --porcelain
    assert_output " M app.py"
    run -0 git -C .. log --format=%s
    assert_output "fs apply: +entity customer, ~feature_view driver_hourly_stats
fs init: new feature repository
app"
    assert_equal "$(recorded_commit)" "$(git rev-parse HEAD)"
}

@test "apply: --rev in a subdirectory of a larger git repository" {
    git init -q top
    fs init -q top/features
    cd top/features
    fs apply -q
    set_ttl 2d
    fs apply -q
    run -0 fs apply --rev HEAD~1
    assert_line --index 0 "~ feature_view driver_hourly_stats: ttl"
    assert_equal "$(recorded_commit)" "$(git rev-parse HEAD~1)"
    run -0 grep -x 'ttl: 2d' "$DEFS"
}

# A pid that no process has any more.
dead_pid() {
    sh -c 'exit 0' &
    local pid=$!
    wait "$pid"
    echo "$pid"
}

@test "apply: git lock files left by a killed apply are removed, and the commit completes" {
    init_repo
    fs apply -q
    local branch
    branch=$(git symbolic-ref HEAD)
    # what `kill -9` between the marker and the renames leaves behind
    dead_pid > .git/fs-commit.pid
    sleep 0.01
    : > .git/index.lock
    : > ".git/$branch.lock"
    set_ttl 2d
    run -0 fs apply -q
    assert_output ""
    run -0 git status --porcelain
    assert_output ""
    run -0 commit_files
    assert_output "M	$DEFS"
    assert_equal "$(recorded_commit)" "$(git rev-parse HEAD)"
    assert [ ! -e .git/index.lock ]
    assert [ ! -e ".git/$branch.lock" ]
    assert [ ! -e .git/fs-commit.pid ]
}

@test "apply: another git process's index.lock fails the apply and changes nothing" {
    init_repo
    fs apply -q
    local head commit
    head=$(git rev-parse HEAD)
    commit=$(recorded_commit)
    : > .git/index.lock
    set_ttl 2d
    run -128 --separate-stderr fs apply -q
    assert_output ""
    [[ $stderr == *"cannot update the git index"*"index.lock"* ]]
    assert_equal "$(git rev-parse HEAD)" "$head"
    assert_equal "$(recorded_commit)" "$commit"
    run -0 sqlite3 .fs/registry.db 'SELECT count(*) FROM applies'
    assert_output 1
    assert [ -e .git/index.lock ]
    assert [ ! -e .git/fs-commit.pid ]

    # a marker from a live process does not make its lock files stale
    echo $$ > .git/fs-commit.pid
    : > .git/index.lock
    run -128 --separate-stderr fs apply -q
    assert [ -e .git/index.lock ]

    # an old lock file is not the dead run's, even with its marker
    rm -f .git/fs-commit.pid
    touch -d '2 hours ago' .git/index.lock
    dead_pid > .git/fs-commit.pid
    run -128 --separate-stderr fs apply -q
    assert [ -e .git/index.lock ]

    # once git's own process is done, apply goes through
    rm .git/index.lock
    run -0 fs apply -q
    run -0 git status --porcelain
    assert_output ""
    assert_equal "$(recorded_commit)" "$(git rev-parse HEAD)"
}
