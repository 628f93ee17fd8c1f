#!/bin/bash
# p2v-convert run fails in the inspect phase, before any bulk copy, on a
# disk with no operating system (served by p2v-agent) and on one with an
# OS it cannot convert (aarch64 binaries; served by nbdkit): exit 11, one
# error line, no disk output, the report says inspect failed and the copy
# never ran.
# labels: slow
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/convert-helpers.sh"
source "$(dirname "$0")/guest-helpers.sh"
source "$(dirname "$0")/run-helpers.sh"
requires nbdkit jq guestfish mkfs.ext4

check_fails_in_inspect() {       # DIR PATTERN
    local dir=$1 pattern=$2 status=0
    shift 2
    "$P2V_CONVERT" run "$@" --out "$dir" --target kvm >"$TEST_DIR/out" 2>"$TEST_DIR/err" || status=$?
    [ "$status" -eq 11 ] || { cat "$TEST_DIR/err" >&2; fail "$dir: expected exit 11, got $status"; }
    [ "$(run_errors "$TEST_DIR/err" | wc -l)" -eq 1 ] ||
        { cat "$TEST_DIR/err" >&2; fail "$dir: expected one error line"; }
    run_errors "$TEST_DIR/err" | grep -Eq "$pattern" ||
        { cat "$TEST_DIR/err" >&2; fail "$dir: error does not match /$pattern/"; }
    no_disk_outputs "$dir"
    [ "$(report_phase "$dir" preflight)" = ok ] || fail "$dir: preflight did not pass"
    [ "$(report_phase "$dir" inspect)" = failed ] || fail "$dir: report does not say inspect failed"
    [ "$(report_phase "$dir" copy)" = absent ] || fail "$dir: the copy ran"
    jq -e '.disks == [] and .result.ok == false' "$dir/report.json" >/dev/null ||
        fail "$dir: report lists copied disks or success"
}

no_os=$(guest_no_os) || fail "cannot build the no-OS disk"
port=$(free_port)
start_agent "$port" "$no_os"
check_fails_in_inspect "$TEST_DIR/no-os" "no operating system" --source "nbd://127.0.0.1:$port"
pass "no OS: failed in inspect, nothing copied"

arm=$(guest_arm64) || fail "cannot build the aarch64 disk"
port=$(free_port)
start_nbdkit "$port" file "$arm"
check_fails_in_inspect "$TEST_DIR/arm" "aarch64" --source "nbd://127.0.0.1:$port"
pass "unsupported OS: failed in inspect, nothing copied"
