#!/usr/bin/env bats
# Basics: the binary runs, reports its version, finds repositories.

load test_helper

@test "basic: fs version prints the version" {
    run -0 fs version
    assert_output --regexp '^fs version [0-9]+\.[0-9]+\.[0-9]+$'
    run -0 fs --version
    assert_output --regexp '^fs version [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "basic: no command prints usage and exits 1" {
    run -1 fs
    assert_output --partial 'usage: fs'
}

@test "basic: a command needing a repository fails outside one" {
    run -128 --separate-stderr fs ls
    assert_equal "$stderr" "fatal: not an fs repository (or any of the parent directories): no fs.yaml; create one with 'fs init'"
}

@test "basic: repository discovery walks up to fs.yaml" {
    init_repo
    fs apply -q
    mkdir -p deep/er
    cd deep/er
    run -0 fs ls entity
    assert_output --regexp '^entity +driver +v1$'
}

@test "basic: -C runs in another directory" {
    init_repo
    cd ..
    run -0 fs -C repo apply -q
    run -0 fs -C repo ls entity
    assert_output --regexp '^entity +driver +v1$'
}

@test "basic: an unknown command suggests the closest one and exits 1" {
    run -1 --separate-stderr fs aply
    [[ "$stderr" == "fs: 'aply' is not an fs command. See 'fs --help'."* ]]
    [[ "$stderr" == *"The most similar command is"*"apply"* ]]
}

@test "basic: an unknown command runs fs-NAME from PATH" {
    mkdir bin
    printf '#!/bin/sh\necho "plugin got: $*"\n' > bin/fs-hello
    chmod +x bin/fs-hello
    PATH="$PWD/bin:$PATH" run -0 fs hello a b
    assert_output "plugin got: a b"
}

@test "basic: an unknown global option is a usage error" {
    run -129 fs --bogus
    assert_output --partial "unknown option '--bogus'"
}
