#!/usr/bin/env bats
# fs init: the files it writes, the first commit, and where it refuses.

load test_helper

# Unix seconds of an RFC 3339 UTC timestamp.
epoch() { date -u -d "$1" +%s; }

# Every file of DIR with its checksum, and its HEAD.
snapshot() {
    (cd "$1" && find . -path ./.git -prune -o -type f -print0 | sort -z | xargs -0 md5sum &&
        git rev-parse HEAD)
}

@test "init: prints where it created the repository" {
    run -0 --separate-stderr fs init drivers
    assert_equal "$stderr" ""
    assert_output "Initialized fs repository in $(cd drivers && pwd -P)/
Next: cd into it, then 'fs plan' and 'fs apply'."
}

@test "init: -q prints nothing" {
    run -0 --separate-stderr fs init -q drivers
    assert_output ""
    assert_equal "$stderr" ""
    [ -f drivers/fs.yaml ]
}

@test "init: creates fs.yaml with the project named after the directory" {
    fs init -q driver-ranking_2
    run -0 grep -x 'project: driver-ranking_2' driver-ranking_2/fs.yaml
    run -0 grep -x 'registry: .fs/registry.db' driver-ranking_2/fs.yaml
    run -0 grep -xE ' +path: .fs/online.db' driver-ranking_2/fs.yaml
}

@test "init: replaces characters a project name cannot hold" {
    fs init -q 'my.proj v2'
    run -0 grep '^project:' 'my.proj v2/fs.yaml'
    assert_output 'project: my_proj_v2'
}

@test "init: creates the parent directories" {
    fs init -q a/b/c
    [ -f a/b/c/fs.yaml ]
    [ -d a/b/c/.git ]
    run -0 grep -x 'project: c' a/b/c/fs.yaml
}

@test "init: writes the example definitions in features/driver.yaml" {
    init_repo
    run -0 grep -E '^(kind|name):' features/driver.yaml
    assert_output "kind: entity
name: driver
kind: source
name: driver_stats
kind: feature_view
name: driver_hourly_stats
kind: feature_service
name: driver_activity_v1
kind: model
name: eta
kind: source
name: driver_trips
kind: feature_view
name: driver_trip_stats"
    run -0 grep -x 'ttl: 1d' features/driver.yaml
    run -0 grep -x 'path: data/driver_stats.csv' features/driver.yaml
    run -0 grep -x 'path: data/driver_trips.csv' features/driver.yaml
    run -0 grep -A3 -x 'aggregations:' features/driver.yaml
    assert_output "aggregations:
  - {name: trips_1h, function: count, window: 1h}
  - {name: fare_sum_1h, function: sum, column: fare, window: 1h}
  - {name: fare_max_1d, function: max, column: fare, window: 1d}"
}

@test "init: writes 24 hours of sample data for 5 drivers ending at the current hour" {
    local before after last first
    before=$(date +%s)
    init_repo
    after=$(date +%s)
    run -0 head -1 data/driver_stats.csv
    assert_output "driver_id,event_timestamp,conv_rate,acc_rate,avg_daily_trips,created"
    run -0 wc -l < data/driver_stats.csv
    assert_output 121
    # 5 drivers, each with 24 rows
    run -0 sh -c "tail -n +2 data/driver_stats.csv | cut -d, -f1 | sort | uniq -c | awk '{print \$2, \$1}'"
    assert_output "1001 24
1002 24
1003 24
1004 24
1005 24"
    # 24 distinct hours
    run -0 sh -c "tail -n +2 data/driver_stats.csv | cut -d, -f2 | sort -u | wc -l"
    assert_output 24
    last=$(epoch "$(tail -1 data/driver_stats.csv | cut -d, -f2)")
    first=$(epoch "$(sed -n 2p data/driver_stats.csv | cut -d, -f2)")
    # the last hour is the current one (the clock may tick over during init)
    if [ "$last" -ne $((before - before % 3600)) ] && [ "$last" -ne $((after - after % 3600)) ]; then
        echo "last timestamp $last is not the hour of $before or $after" >&2
        return 1
    fi
    [ $((after - last)) -ge 0 ] && [ $((after - last)) -lt 3600 ]
    assert_equal "$first" $((last - 23 * 3600))
    # every row's created equals its event timestamp, all in RFC 3339 UTC
    run -0 sh -c "tail -n +2 data/driver_stats.csv | awk -F, '\$2 != \$6 || \$2 !~ /^[0-9-]+T[0-9:]+Z\$/' | wc -l"
    assert_output 0
}

@test "init: writes trips for 5 drivers in the 24 hours before the current hour" {
    local before after hour
    before=$(date +%s)
    init_repo
    after=$(date +%s)
    run -0 head -1 data/driver_trips.csv
    assert_output "driver_id,event_timestamp,fare"
    # every driver has one to three trips in each of the 24 hours
    run -0 sh -c "tail -n +2 data/driver_trips.csv | cut -c1-18 | sort | uniq -c |
        awk '\$1 < 1 || \$1 > 3' | wc -l"
    assert_output 0
    run -0 sh -c "tail -n +2 data/driver_trips.csv | cut -c1-18 | sort -u | wc -l"
    assert_output 120
    # all of them before the hour of init, none older than 24 hours before it
    hour=$((after - after % 3600))
    [ $((before - before % 3600)) -eq "$hour" ] || hour=0 # the clock ticked over: skip
    if [ "$hour" -ne 0 ]; then
        run -0 sh -c "tail -n +2 data/driver_trips.csv | cut -d, -f2 | sort | sed -n '1p;\$p'"
        assert_equal "$(epoch "${lines[0]}")" $((hour - 24 * 3600 + $(epoch "${lines[0]}") % 3600))
        [ "$(epoch "${lines[1]}")" -lt "$hour" ]
        [ "$(epoch "${lines[1]}")" -ge $((hour - 3600)) ]
    fi
    # fares are numbers with two decimals, timestamps RFC 3339 UTC
    run -0 sh -c "tail -n +2 data/driver_trips.csv |
        awk -F, '\$1 !~ /^100[1-5]\$/ || \$2 !~ /^[0-9-]+T[0-9:]+Z\$/ || \$3 !~ /^[0-9]+\\.[0-9][0-9]\$/' | wc -l"
    assert_output 0
    # fixed values: two inits in the same hour write the same trips
    fs init -q ../again
    after=$(date +%s)
    [ $((after - after % 3600)) -ne "$hour" ] || cmp data/driver_trips.csv ../again/data/driver_trips.csv
}

@test "init: the sample's windowed features read the same offline and online" {
    init_repo
    fs apply -q
    local hour rows
    # the hour after the last trip: the batch end of a materialization up to it
    hour=$(tail -1 data/driver_trips.csv | cut -d, -f2 | cut -c1-13):00:00Z
    hour=$(date -u -d "$hour + 1 hour" +%Y-%m-%dT%H:%M:%SZ)
    fs materialize "$hour" "$hour" -v driver_trip_stats
    printf 'driver_id,event_timestamp\n' > rows.csv
    for d in 1001 1002 1003 1004 1005 1006; do printf '%s,%s\n' $d "$hour" >> rows.csv; done
    run -0 fs get-historical --entities rows.csv -f driver_trip_stats
    offline=$output
    # the trips of the last hour, counted from the file
    run -0 sh -c "grep -c '^1001,$(date -u -d "$hour - 1 hour" +%Y-%m-%dT%H)' data/driver_trips.csv"
    assert_equal "$(sed -n 2p <<< "$offline" | cut -d, -f3)" "$output"
    assert_equal "$(sed -n 7p <<< "$offline")" "1006,$hour,0,0,"
    run -0 fs get-online -f driver_trip_stats --at "$hour" --json \
        -e driver_id=1001 -e driver_id=1002 -e driver_id=1003 -e driver_id=1004 -e driver_id=1005 -e driver_id=1006
    online=$(jq -r '[.results[0].values, .results[1].values, .results[2].values, .results[3].values] |
        transpose[] | map(. // "") | "\(.[0]),'"$hour"',\(.[1]),\(.[2]),\(.[3])"' <<< "$output")
    assert_equal "$online" "$(tail -n +2 <<< "$offline")"
    assert_equal "$(jq -c '.results[1].statuses' <<< "$output")" \
        '["PRESENT","PRESENT","PRESENT","PRESENT","PRESENT","NOT_FOUND"]'
}

@test "init: writes a .gitignore holding .fs/" {
    init_repo
    run -0 cat .gitignore
    assert_output ".fs/"
    # the local state really is ignored
    fs apply -q
    [ -f .fs/registry.db ]
    run -0 git status --porcelain
    assert_output ""
}

@test "init: makes exactly one commit holding the files, leaving a clean tree" {
    init_repo
    run -0 git rev-list --count HEAD
    assert_output 1
    run -0 git ls-tree -r --name-only HEAD
    assert_output ".gitignore
data/driver_stats.csv
data/driver_trips.csv
features/driver.yaml
fs.yaml"
    run -0 git log -1 --format='%s|%an <%ae>'
    assert_output "fs init: new feature repository|Test User <test@example.com>"
    run -0 git symbolic-ref --short HEAD
    assert_output main
    run -0 git status --porcelain
    assert_output ""
    # the committed files are the ones on disk
    run -0 git diff --quiet HEAD
}

@test "init: fs apply works right after it" {
    init_repo
    local head
    head=$(git rev-parse HEAD)
    run -0 --separate-stderr fs apply
    assert_equal "$stderr" ""
    assert_line "Applied registry version 1 (commit ${head:0:12})."
    # nothing to commit: the init commit already holds the definitions
    refute_line --regexp '^\[main '
    assert_equal "$(git rev-parse HEAD)" "$head"
    run -0 sqlite3 .fs/registry.db "SELECT version, git_commit FROM applies"
    assert_output "1|$head"
}

@test "init: refuses a directory that already holds fs.yaml" {
    init_repo
    cd ..
    local before
    before=$(snapshot repo)
    run -128 --separate-stderr fs init repo
    assert_output ""
    assert_equal "$stderr" "fatal: 'repo' already holds an fs repository (fs.yaml exists)"
    assert_equal "$(snapshot repo)" "$before"
    run -0 git -C repo rev-list --count HEAD
    assert_output 1
}

@test "init: refuses a plain directory with fs.yaml and creates nothing there" {
    mkdir d
    printf 'project: mine\n' > d/fs.yaml
    run -128 --separate-stderr fs init d
    assert_equal "$stderr" "fatal: 'd' already holds an fs repository (fs.yaml exists)"
    run -0 ls -A d
    assert_output "fs.yaml"
    run -0 cat d/fs.yaml
    assert_output "project: mine"
}

@test "init: works in an existing non-empty directory and keeps its .gitignore" {
    mkdir proj
    printf 'node_modules/\n*.log' > proj/.gitignore   # no final newline
    echo "hello" > proj/README
    fs init -q proj
    cd proj
    run -0 cat .gitignore
    assert_output "node_modules/
*.log
.fs/"
    run -0 cat README
    assert_output "hello"
    # the committed .gitignore is the merged one; README is left alone
    run -0 git show HEAD:.gitignore
    assert_output "node_modules/
*.log
.fs/"
    run -0 git ls-tree -r --name-only HEAD
    refute_line README
    run -0 git status --porcelain
    assert_output "?? README"
    run -0 fs apply -q
}

@test "init: does not add .fs/ twice to a .gitignore that has it" {
    mkdir proj
    printf '.fs/\nbuild/\n' > proj/.gitignore
    fs init -q proj
    run -0 cat proj/.gitignore
    assert_output ".fs/
build/"
}

@test "init: a .gitignore line merely containing .fs/ does not count" {
    mkdir proj
    printf 'foo.fs/\n/.fs\n' > proj/.gitignore
    fs init -q proj
    run -0 cat proj/.gitignore
    assert_output "foo.fs/
/.fs"
    mkdir proj2
    printf 'foo.fs/\n' > proj2/.gitignore
    fs init -q proj2
    run -0 cat proj2/.gitignore
    assert_output "foo.fs/
.fs/"
}

@test "init: never overwrites a file of the user's with a template" {
    for f in features/driver.yaml data/driver_stats.csv data/driver_trips.csv; do
        rm -rf proj
        mkdir -p "proj/$(dirname "$f")"
        echo mine > "proj/$f"
        run -128 --separate-stderr fs init proj
        assert_output ""
        assert_equal "$stderr" "fatal: 'proj/$f' already exists; fs init would overwrite it"
        run -0 cat "proj/$f"
        assert_output "mine"
        # nothing else was created: no git repository, no fs.yaml
        run -0 ls -A proj
        assert_output "$(dirname "$f")"
    done
}

@test "init: refuses a path that is a regular file" {
    echo x > afile
    run -128 --separate-stderr fs init afile
    assert_equal "$stderr" "fatal: 'afile' exists and is not a directory"
    run -0 cat afile
    assert_output "x"
}

@test "init: keeps an existing git repository and its history" {
    git init -q proj
    echo "notes" > proj/NOTES
    git -C proj add NOTES
    git -C proj commit -q -m "first"
    local first
    first=$(git -C proj rev-parse HEAD)
    fs init -q proj
    run -0 git -C proj log --format=%s
    assert_output "fs init: new feature repository
first"
    assert_equal "$(git -C proj rev-parse HEAD~1)" "$first"
    # the earlier commit's files are kept in the new one
    run -0 git -C proj ls-tree -r --name-only HEAD
    assert_line NOTES
    assert_line fs.yaml
}

@test "init: with no argument uses the current directory" {
    mkdir myproject
    cd myproject
    run -0 fs init
    assert_line "Initialized fs repository in $(pwd -P)/"
    [ -f fs.yaml ] && [ -f features/driver.yaml ] && [ -f data/driver_stats.csv ]
    [ -d .git ]
    run -0 grep -x 'project: myproject' fs.yaml
    run -0 git rev-list --count HEAD
    assert_output 1
    run -0 fs apply -q
}

@test "init: inside a larger git repository commits into it" {
    git init -q top
    fs init -q top/features
    # no nested repository: the feature repo is a subtree of top
    [ ! -e top/features/.git ]
    run -0 git -C top ls-tree -r --name-only HEAD
    assert_output "features/.gitignore
features/data/driver_stats.csv
features/data/driver_trips.csv
features/features/driver.yaml
features/fs.yaml"
    run -0 git -C top status --porcelain
    assert_output ""
}

@test "init: a bad option is a usage error" {
    run -129 fs init --bogus
    assert_output --partial "usage: fs init"
    [ ! -e fs.yaml ]
}
