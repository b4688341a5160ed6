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
