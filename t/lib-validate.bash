# Helpers for the definition validation tests (t110x): a repo from `fs init`
# applied once, in-place edits that fail loudly, and a check that a failed
# apply printed exactly the expected errors and changed nothing.
#
#   load test_helper
#   load lib-validate

# setup: a fresh applied repo, cwd inside it; remember the registry and HEAD.
setup() {
    common_setup
    init_repo
    "$FS" apply -q
    REGISTRY_BEFORE=$(registry_dump)
    HEAD_BEFORE=$(git rev-parse HEAD)
}

# replace FILE OLD NEW: replace the first OLD (a literal string, may span
# lines) in FILE by NEW; fail when OLD is not there, so that a test never
# passes because its edit silently did nothing.
replace() {
    local text
    text=$(cat "$1"; echo x)
    text=${text%x}
    if [[ "$text" != *"$2"* ]]; then
        echo "replace: '$2' not found in $1" >&2
        return 1
    fi
    printf '%s' "${text/"$2"/"$3"}" > "$1"
}

# The registry and HEAD are what setup saw.
assert_unchanged() {
    assert_equal "$(registry_dump)" "$REGISTRY_BEFORE"
    assert_equal "$(git rev-parse HEAD)" "$HEAD_BEFORE"
}

# apply_fails LINE...: `fs apply` exits 128 printing exactly these lines on
# stderr and nothing on stdout, changes neither the registry nor git, and
# `fs plan` reports the same.
apply_fails() {
    local want
    want=$(printf '%s\n' "$@")
    run -128 --separate-stderr "$FS" apply -q
    assert_output ""
    assert_equal "$stderr" "$want"
    assert_unchanged
    run -128 --separate-stderr "$FS" plan
    assert_output ""
    assert_equal "$stderr" "$want"
}

# apply_fatal MESSAGE: one error, printed as `fatal: MESSAGE`.
apply_fatal() {
    apply_fails "fatal: $1"
}

# json_at KEY...: read JSON on stdin, print the value under these keys (a
# number indexes a list) as compact JSON: `fs describe ... --json | json_at spec ttl`.
json_at() {
    python3 -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1:]:
    v = v[int(k)] if isinstance(v, list) else v[k]
print(json.dumps(v, separators=(",", ":"), sort_keys=True))' "$@"
}
