#!/usr/bin/env bats
# Inputs that once crashed the definitions loader under the fuzzer
# (t/fuzz/regressions): each must now be reported or accepted, never crash.

load test_helper

@test "fuzz regressions: every saved input is handled without a crash" {
    init_repo
    rm features/driver.yaml
    n=0
    for f in "$FS_SOURCE_ROOT"/t/fuzz/regressions/*; do
        cp "$f" features/input.yaml
        run fs plan
        # 0 (valid) or 128 (reported), never a signal or sanitizer abort
        if [ "$status" -ne 0 ] && [ "$status" -ne 128 ]; then
            echo "input $f: exit $status"
            echo "$output"
            return 1
        fi
        n=$((n + 1))
    done
    [ "$n" -gt 0 ]
}

@test "fuzz regressions: a definitions file of one 300 kB comment line (a parse job that finds nothing)" {
    init_repo
    { printf '# '; head -c 300000 /dev/zero | tr '\0' 'x'; printf '\n'; } > features/comment.yaml
    run -0 --separate-stderr fs plan
    assert_output --partial "+ feature_view driver_hourly_stats"
    run -0 fs apply -q
}
