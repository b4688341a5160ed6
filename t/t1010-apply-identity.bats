#!/usr/bin/env bats
# fs apply and fs init commit, and refuse as git commit does when no
# identity is configured: git's "Please tell me who you are" hint, exit
# 128, nothing changed. GIT_AUTHOR_*/GIT_COMMITTER_*, the repository's
# and the global configuration, and EMAIL are honoured as git honours
# them; an address is never made up from the host name.

load test_helper

# The last line git prints: the address it made up, <login>@<host>, with
# ".(none)" after a host name without a domain.
guessed() {
    local host
    host=$(hostname)
    [[ "$host" == *.* ]] || host="$host.(none)"
    echo "$(id -un)@$host"
}

# git's hint for whose identity ($1: Author or Committer) is unknown.
hint() {
    cat <<EOF2
$1 identity unknown

*** Please tell me who you are.

Run

  git config --global user.email "you@example.com"
  git config --global user.name "Your Name"

to set your account's default identity.
Omit --global to set the identity only in this repository.

fatal: unable to auto-detect email address (got '$(guessed)')
EOF2
}

# A repository made with an identity, then none: a private empty HOME.
repo_without_identity() {
    init_repo
    export HOME="$BATS_TEST_TMPDIR/empty-home"
    mkdir -p "$HOME"
    unset EMAIL
    echo "# edited" >> features/driver.yaml
}

@test "identity: apply without an identity refuses with git's hint and changes nothing" {
    repo_without_identity
    local head
    head=$(git rev-parse HEAD)
    run -128 --separate-stderr fs apply -m "add features"
    assert_output ""
    assert_equal "$stderr" "$(hint Author)"
    assert_equal "$(git rev-parse HEAD)" "$head"
    # nothing staged, no registry version
    assert_equal "$(git status --porcelain)" " M features/driver.yaml"
    assert_equal "$(registry_dump)" ""
    # what git itself says, where it too finds no address (a host without a domain)
    if [[ "$(hostname)" != *.* ]] && [ ! -e /etc/mailname ]; then
        run -128 --separate-stderr git commit -qam x
        assert_equal "$stderr" "$(hint Author)"
    fi
}

@test "identity: with --json the refusal is one line of JSON" {
    repo_without_identity
    run -128 --separate-stderr fs apply --json
    assert_output ""
    assert_equal "$stderr" "{\"error\": \"unable to auto-detect email address (got '$(guessed)')\", \"code\": 128}"
}

@test "identity: GIT_AUTHOR_* and GIT_COMMITTER_* are honoured, each on its own" {
    repo_without_identity
    export GIT_AUTHOR_NAME="Ada Lovelace" GIT_AUTHOR_EMAIL=ada@example.com
    run -128 --separate-stderr fs apply
    assert_equal "$stderr" "$(hint Committer)"
    export GIT_COMMITTER_NAME="Charles Babbage" GIT_COMMITTER_EMAIL=cb@example.com
    run -0 --separate-stderr fs apply -m "add features"
    assert_equal "$(git log -1 --format='%an <%ae>|%cn <%ce>|%s')" \
        "Ada Lovelace <ada@example.com>|Charles Babbage <cb@example.com>|add features"
    run -0 fs log --json
    assert_equal "$(jq -r '.applies[0].author' <<< "$output")" "Ada Lovelace <ada@example.com>"
}

@test "identity: the repository's own configuration is enough" {
    repo_without_identity
    git config user.name "Repo User"
    git config user.email repo@example.com
    run -0 --separate-stderr fs apply -q
    assert_equal "$(git log -1 --format='%an <%ae> %cn <%ce>')" \
        "Repo User <repo@example.com> Repo User <repo@example.com>"
}

@test "identity: EMAIL gives the address, the login's full name the name, as git" {
    repo_without_identity
    local gecos
    gecos=$(getent passwd "$(id -u)" | cut -d: -f5 | cut -d, -f1)
    [ -n "$gecos" ] || skip "the login has no full name"
    EMAIL=me@example.org run -0 --separate-stderr fs apply -q
    assert_equal "$(git log -1 --format='%an <%ae>')" "$gecos <me@example.org>"
    # only user.email configured: the same name
    echo "# again" >> features/driver.yaml
    git config --global user.email cfg@example.org
    run -0 --separate-stderr fs apply -q
    assert_equal "$(git log -1 --format='%an <%ae>')" "$gecos <cfg@example.org>"
}

@test "identity: a name without an address is still refused" {
    repo_without_identity
    git config --global user.name "Only Name"
    run -128 --separate-stderr fs apply
    assert_equal "$stderr" "$(hint Author)"
}

@test "identity: apply --rev commits nothing and needs no identity" {
    init_repo
    git commit -qm "more" --allow-empty
    export HOME="$BATS_TEST_TMPDIR/empty-home"
    mkdir -p "$HOME"
    run -0 --separate-stderr fs apply -q --rev HEAD
    run -0 fs log --oneline
    assert_output "v1 $(git rev-parse --short=12 HEAD) fs apply: +entity driver, +source driver_stats, +source driver_trips, +feature_view driver_hourly_stats, +feature_view driver_trip_stats and 2 more"
}

@test "identity: init without an identity refuses and creates nothing" {
    export HOME="$BATS_TEST_TMPDIR/empty-home"
    mkdir -p "$HOME"
    unset EMAIL
    run -128 --separate-stderr fs init repo
    assert_output ""
    assert_equal "$stderr" "$(hint Author)"
    [ ! -e repo ] || fail "repo was created: $(ls -A repo)"
    # inside a git repository with an identity of its own, init works
    git init -q mono
    git -C mono config user.name "Mono User"
    git -C mono config user.email mono@example.com
    run -0 --separate-stderr fs init -q mono/features
    assert_equal "$(git -C mono log -1 --format='%an <%ae>')" "Mono User <mono@example.com>"
    # a directory to create, named from inside the repository
    cd mono
    run -0 --separate-stderr fs init -q more/features
    assert_equal "$(git log -1 --format='%an <%ae> %s')" "Mono User <mono@example.com> fs init: new feature repository"
    run -0 --separate-stderr fs init -q other
    assert_equal "$(git log -1 --format='%an <%ae> %s')" "Mono User <mono@example.com> fs init: new feature repository"
    assert_equal "$(git log --format=%s | grep -c 'fs init')" 3
}
