#!/usr/bin/env bats
# fs models' heading row on a terminal, fs describe's YAML read back as its
# JSON, and fs log -n / --oneline.

load test_helper
load lib-models

# Run "$@" (words joined, so simple arguments only) with stdout on a
# terminal, through script(1); the terminal's CR LF made LF.
on_terminal() {
    command -v script >/dev/null || skip "no script(1) to give fs a terminal"
    # no pager: what the command itself prints on a terminal
    FS_PAGER=cat script -qec "$*" /dev/null | tr -d '\r'
}

# Where heading $1 starts in ${lines[0]}, counting from 0.
column_of() {
    local before=${lines[0]%%"$1"*}
    echo "${#before}"
}

# Add model $1 over driver_activity_v1 and apply it.
add_model() {
    printf 'kind: model\nname: %s\nfeature_service: driver_activity_v1\n' "$1" > "features/$1.yaml"
    "$FS" apply -q
}

@test "models: a heading row on a terminal, the columns aligned with a long name" {
    models_repo
    add_model a_rather_long_model_name_for_eta
    register_eta --metric auc=0.85 >/dev/null
    echo w > w.bin
    fs register-model a_rather_long_model_name_for_eta --artifact w.bin >/dev/null
    run -0 on_terminal "$FS" models
    assert_equal "${#lines[@]}" 3
    assert_line -n 0 --regexp "^MODEL +VER +STAGE +CREATED +ARTIFACT +METRICS @ALIASES\$"
    assert_line -n 1 --regexp "^a_rather_long_model_name_for_eta v1    none +[0-9TZ:-]{20} sha256:[0-9a-f]{12}\$"
    assert_line -n 2 --regexp "^eta +v1    none +[0-9TZ:-]{20} sha256:[0-9a-f]{12} auc=0.85\$"
    # every column starts where its heading does
    local r
    for r in "${lines[1]}" "${lines[2]}"; do
        assert_equal "${r:$(column_of VER):1}" "v"
        assert_equal "${r:$(column_of STAGE):4}" "none"
        assert_equal "${r:$(column_of CREATED):4}" "$(date -u +%Y)"
        assert_equal "${r:$(column_of ARTIFACT):7}" "sha256:"
    done
}

@test "models: no heading row when piped, nor with no versions on a terminal" {
    models_repo
    register_eta >/dev/null
    run -0 --separate-stderr fs models
    assert_equal "${#lines[@]}" 1
    assert_line -n 0 --regexp "^eta {18}v1    none {8}[0-9TZ:-]{20} sha256:[0-9a-f]{12}\$"
    add_model other
    run -0 on_terminal "$FS" models other
    assert_output ""
}

@test "describe: the YAML reads back as the --json form, awkward strings quoted" {
    python3 -c 'import yaml' 2>/dev/null || skip "no python3 yaml (python3-yaml)"
    models_repo
    cat > features/odd.yaml <<'YAML'
kind: model
name: odd
feature_service: driver_activity_v1
description: "value: with colon # and hash"
owner: ""
promotion:
  staging:
    metrics: {auc: ">= 0.80", rmse: "< 5"}
  production:
    from: [staging]
    metrics: {auc: ">= 0.90"}
tags:
  "yes": "no"
  "on": "off"
  "1": "0.80"
  a: "true"
  b: "null"
  c: "~"
  d: ""
  e: "2026-01-01"
  f: "- dash"
  g: "@at"
  h: "*star"
  i: "&anchor"
  j: "!bang"
  k: "%pct"
  l: "'single"
  m: "\"double"
  n: "[x]"
  o: "{y}"
  p: "|pipe"
  q: ">gt"
  r: "? q"
  s: ", comma"
  t: "`tick"
  u: " lead"
  v: "trail "
  w: "two\nlines"
  x: "0x1F"
  y: "1e3"
  z: "ünïcödé"
  "a: b": "#hash"
  Y: "Y"
  N: "NO"
  dot: ".inf"
  merge: "<<"
  eq: "="
  tab: "a\tb"
YAML
    fs apply -q
    run -0 --separate-stderr fs describe model odd
    assert_equal "$stderr" ""
    assert_line "        auc: '>= 0.80'"
    assert_line "    'yes': 'no'"
    fs describe model odd > odd.yaml
    fs describe model odd --json > odd.json
    python3 - odd.yaml odd.json <<'PY'
import json, sys, yaml
y = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
j = json.load(open(sys.argv[2], encoding="utf-8"))
assert j["spec"]["tags"]["yes"] == "no" and j["spec"]["promotion"]["staging"]["metrics"]["auc"] == ">= 0.80", j
assert y == j, (y, j)
PY
    # and for the objects of fs init's example, bar a ttl shown as a duration
    local kind name
    for kind in entity source feature_view feature_service model; do
        for name in $(fs ls "$kind" --json | jq -r '.objects[].name'); do
            fs describe "$kind" "$name" > o.yaml
            fs describe "$kind" "$name" --json > o.json
            python3 - o.yaml o.json <<'PY'
import json, sys, yaml
from datetime import timedelta
y = yaml.safe_load(open(sys.argv[1]))
j = json.load(open(sys.argv[2]))
if "ttl" in j["spec"]:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    t = str(y["spec"]["ttl"])
    y["spec"]["ttl"] = 0 if t == "0" else int(t[:-1]) * units[t[-1]]
assert y == j, (y, j)
PY
        done
    done
}

three_applies() {
    init_repo
    fs apply -q -m "first apply"
    printf 'kind: entity\nname: customer\njoin_key: customer_id\n' > features/customer.yaml
    fs apply -q -m "add customer"
    rm features/customer.yaml
    fs apply -q -m "drop customer"
}

@test "log: -n N and --max-count N show the newest N applies" {
    three_applies
    run -0 fs log -n 2
    assert_equal "$(grep -c '^registry version' <<<"$output")" 2
    assert_line -n 0 "registry version 3"
    assert_line "registry version 2"
    refute_line "registry version 1"
    run -0 fs log --max-count 1 --json
    assert_equal "$(jq -c '[.applies[].registry_version]' <<<"$output")" "[3]"
    run -0 fs log -n5 customer --oneline
    assert_equal "${#lines[@]}" 2
    run -0 fs log --max-count=1 --oneline
    assert_equal "${#lines[@]}" 1
}

@test "log: --oneline is version, short commit and summary" {
    three_applies
    local c1 c2 c3
    c1=$(git rev-parse --short=12 HEAD~2)
    c2=$(git rev-parse --short=12 HEAD~1)
    c3=$(git rev-parse --short=12 HEAD)
    run -0 --separate-stderr fs log --oneline
    assert_equal "$stderr" ""
    assert_output "v3 $c3 drop customer
v2 $c2 add customer
v1 $c1 first apply"
}

@test "log: -n 0 shows nothing" {
    three_applies
    run -0 fs log -n 0
    assert_output ""
    run -0 fs log -n 0 --json
    assert_equal "$(jq -c .applies <<<"$output")" "[]"
}

@test "log: a bad -n, or --oneline with --json, is a usage error" {
    three_applies
    local bad
    for bad in x -1 2x "" 1.5 99999999999999999999; do
        run -129 --separate-stderr fs log -n "$bad"
        assert_output ""
        assert_equal "${stderr_lines[0]}" "error: -n: '$bad' is not a count (expected 0 or more)"
        [[ "$stderr" == *"usage: fs log"* ]]
    done
    run -129 --separate-stderr fs log --oneline --json
    [[ "$stderr" == *"usage: fs log"* ]]
}
